"""Segmentation networks by name: `build_model` makes one, `count_parameters` sizes it."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from core.errors import ConfigError
from core.models.resnet_unet import ResNet34UNet
from core.models.unet import UNet

MODEL_NAMES = ("unet", "resnet34_unet")


def build_model(
    name: str,
    in_channels: int = 3,
    num_classes: int = 1,
    width: int = 64,
    encoder_weights: str | Path | None = None,
) -> nn.Module:
    """The network called `name`, freshly initialised (encoder from `encoder_weights` if given)."""
    if name == "unet":
        if encoder_weights is not None:
            raise ConfigError("encoder weights apply to resnet34_unet only; unet has no pretrained encoder")
        return UNet(in_channels, num_classes, width)
    if name == "resnet34_unet":
        return ResNet34UNet(in_channels, num_classes, width, encoder_weights)
    raise ConfigError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}")


def count_parameters(model: nn.Module) -> int:
    """All parameters of `model`, trainable or frozen (BatchNorm running stats are buffers, not counted)."""
    return sum(parameter.numel() for parameter in model.parameters())


__all__ = ["MODEL_NAMES", "ResNet34UNet", "UNet", "build_model", "count_parameters"]
