"""What every registered network offers, written down once: the constructor the registry calls, logits of the
input's size from any size (padding to a multiple inside forward), a head whose channels are the classes, and,
where ImageNet encoder weights apply, an encoder that names the ImageNet network its weights come from and says its
features' channels, and a method that loads those weights.
`contract_problems` lists where a model falls short; a test runs it on every model in the registry."""

from __future__ import annotations

import inspect
from typing import Protocol

import torch
from torch import nn

from core.models import ModelSpec, model_class, model_spec

# The keyword arguments `build_model` passes, in this order; pretrained-encoder models also take ENCODER_WEIGHTS.
CONSTRUCTOR_ARGUMENTS = ("in_channels", "num_classes", "width")
ENCODER_WEIGHTS = "encoder_weights"


class Encoder(Protocol):
    """The encoder (or backbone) of a model whose ImageNet weights can be loaded (ModelSpec.pretrained_encoder)."""

    name: str  # the ImageNet network whose weights fit: "resnet34", "efficientnet_lite0", "mobilenet_v3_large"
    out_channels: tuple[int, ...]  # channels of the features it returns, shallow to deep

    def __call__(self, images: torch.Tensor) -> list[torch.Tensor] | dict[str, torch.Tensor]:
        """The features, shallow to deep (a dict for torchvision's backbones), never larger than the one before."""


class SegmentationModel(Protocol):
    """A network of the registry. The constructor is `Model(in_channels=3, num_classes=1, width=..., [encoder_weights=
    None])`: `width` scales every stage's channels; `num_classes` is 1 for binary (a foreground logit) or the class
    count; a pretrained-encoder model loads `encoder_weights` (a file) into `.encoder`."""

    size_multiple: int  # forward pads inputs to a multiple of this and crops the logits back (1: any size as is)
    head: nn.Conv2d  # the last layer: its out_channels are num_classes

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Logits N x num_classes x H x W for images N x in_channels x H x W, any H and W."""

    def load_encoder_weights(self, path) -> None:
        """(pretrained-encoder models) ImageNet weights from a local file into the encoder; CheckpointError naming
        the file when they do not fit."""


def constructor_problems(spec: ModelSpec) -> list[str]:
    """Where the model class's constructor differs from the contract's arguments."""
    parameters = list(inspect.signature(model_class(spec.name)).parameters)
    expected = [*CONSTRUCTOR_ARGUMENTS, *([ENCODER_WEIGHTS] if spec.pretrained_encoder else [])]
    if parameters[: len(expected)] != expected:
        return [f"{spec.name}: the constructor takes ({', '.join(parameters)}), not ({', '.join(expected)}, ...)"]
    return []


def contract_problems(name: str, width: int = 8, num_classes: int = 3, in_channels: int = 1,
                      size: tuple[int, int] = (37, 53)) -> list[str]:
    """One line per way the registered model `name` breaks the contract (empty when it keeps it), checked on a
    model of `width` with `num_classes` outputs and `in_channels` inputs, at an input `size` that is a multiple of
    no stride."""
    spec = model_spec(name)
    problems = constructor_problems(spec)
    if problems:
        return problems
    torch.manual_seed(0)
    model = model_class(name)(in_channels=in_channels, num_classes=num_classes, width=width).eval()
    multiple = getattr(model, "size_multiple", None)
    if not isinstance(multiple, int) or multiple < 1:
        problems.append(f"{name}: size_multiple is {multiple!r}, not a positive int")
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Conv2d) or head.out_channels != num_classes:
        found = head.out_channels if isinstance(head, nn.Conv2d) else type(head).__name__
        problems.append(f"{name}: head has {found} output channels, not num_classes={num_classes}")
    images = torch.randn(2, in_channels, *size)
    with torch.no_grad():
        logits = model(images)
    if tuple(logits.shape) != (2, num_classes, *size):
        problems.append(f"{name}: logits are {tuple(logits.shape)} for input {tuple(images.shape)}")
    if spec.pretrained_encoder:
        problems += _encoder_problems(name, getattr(model, "encoder", None), images)
        if not callable(getattr(model, "load_encoder_weights", None)):
            problems.append(f"{name}: takes ImageNet encoder weights but has no load_encoder_weights(path)")
    return problems


def _encoder_problems(name: str, encoder: nn.Module | None, images: torch.Tensor) -> list[str]:
    if encoder is None:
        return [f"{name}: takes ImageNet encoder weights but has no .encoder"]
    network, channels = getattr(encoder, "name", None), getattr(encoder, "out_channels", None)
    if not isinstance(network, str) or not isinstance(channels, tuple) or not all(isinstance(c, int) for c in channels):
        return [f"{name}: .encoder must name its ImageNet network (name) and say its out_channels (tuple of ints)"]
    with torch.no_grad():
        features = encoder(images)
    features = list(features.values()) if isinstance(features, dict) else features
    found = tuple(feature.shape[1] for feature in features)
    if found != channels:
        return [f"{name}: .encoder returns features of {found} channels, its out_channels say {channels}"]
    sizes = [feature.shape[-1] for feature in features]
    if any(deeper > shallower for shallower, deeper in zip(sizes, sizes[1:], strict=False)):
        return [f"{name}: .encoder's features grow from stage to stage ({sizes} wide)"]
    return []
