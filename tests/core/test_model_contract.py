"""Every registered model keeps the written model contract (core/models/contract.py): constructor arguments,
logits of the input's size from any size, a head of num_classes channels, and an encoder that says its depth and
stage channels where ImageNet weights apply."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import core.models
from core.models import MODEL_NAMES, ModelSpec
from core.models.contract import contract_problems


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_registered_model_keeps_the_contract(name):
    assert contract_problems(name) == []


class HeadlessNet(nn.Module):
    """Breaks the contract twice: logits at half the input size, and no `head`."""

    size_multiple = 2

    def __init__(self, in_channels: int = 3, num_classes: int = 1, width: int = 8):
        super().__init__()
        self.body = nn.Conv2d(in_channels, num_classes, 3, stride=2, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)


class MislabelledEncoder(nn.Module):
    name = "resnet18"
    out_channels = (4, 99)  # the second stage really has 8

    def __init__(self, in_channels: int):
        super().__init__()
        self.stages = nn.ModuleList([nn.Conv2d(in_channels, 4, 3, stride=2, padding=1),
                                     nn.Conv2d(4, 8, 3, stride=2, padding=1)])

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            images = stage(images)
            features.append(images)
        return features


class MislabelledEncoderNet(nn.Module):
    size_multiple = 4

    def __init__(self, in_channels: int = 3, num_classes: int = 1, width: int = 8, encoder_weights: str | None = None):
        super().__init__()
        self.encoder = MislabelledEncoder(in_channels)
        self.head = nn.Conv2d(8, num_classes, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = images.shape[-2:]
        return nn.functional.interpolate(self.head(self.encoder(images)[-1]), size=size)

    def load_encoder_weights(self, path) -> None:
        pass


class BadArgumentsNet(nn.Module):
    def __init__(self, channels: int = 3, classes: int = 1):
        super().__init__()


@pytest.fixture
def registered(monkeypatch):
    """Register a class under a name for one test."""
    def register(name: str, cls: type, pretrained: bool = False) -> None:
        monkeypatch.setitem(core.models.MODELS, name, ModelSpec(name, f"{__name__}:{cls.__name__}", "a test model",
                                                               imagenet="torchvision:resnet18" if pretrained else ""))
    return register


def test_a_model_that_breaks_the_contract_is_named_with_each_break(registered):
    registered("headless", HeadlessNet)
    problems = contract_problems("headless", size=(37, 53))
    assert problems == ["headless: head has NoneType output channels, not num_classes=3",
                        "headless: logits are (2, 3, 19, 27) for input (2, 1, 37, 53)"]


def test_a_constructor_with_other_arguments_is_named(registered):
    registered("bad-arguments", BadArgumentsNet)
    assert contract_problems("bad-arguments") == [
        "bad-arguments: the constructor takes (channels, classes), not (in_channels, num_classes, width, ...)"]


def test_a_pretrained_encoder_model_needs_an_encoder(registered):
    registered("no-encoder", HeadlessNet, pretrained=True)
    assert contract_problems("no-encoder")[0].startswith(
        "no-encoder: the constructor takes (in_channels, num_classes, width), not (in_channels, num_classes, width, "
        "encoder_weights, ...)")


def test_an_encoder_whose_stage_channels_are_wrong_is_named(registered):
    registered("mislabelled", MislabelledEncoderNet, pretrained=True)
    assert contract_problems("mislabelled") == [
        "mislabelled: .encoder returns features of (4, 8) channels, its out_channels say (4, 99)"]
