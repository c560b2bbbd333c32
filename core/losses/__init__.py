"""Training losses by name: the registry every loss choice comes from (config, CLI, form) and `build_loss`.
Importing this package does not import torch; a loss's module loads when it is built."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

LOSSES: dict[str, str] = {
    "bce": "binary cross-entropy on logits (the original experiment)",
    "dice": "1 - soft Dice of the probabilities, per image",
    "bce+dice": "their sum: every pixel gets a gradient, Dice counters the background majority",
}
LOSS_NAMES = tuple(LOSSES)


def build_loss(name: str) -> nn.Module:
    """The loss called `name`, one of LOSS_NAMES."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; known losses: {', '.join(LOSS_NAMES)}")
    from core.losses.binary import BCEDiceLoss, BinaryCrossEntropyLoss, SoftDiceLoss

    return {"bce": BinaryCrossEntropyLoss, "dice": SoftDiceLoss, "bce+dice": BCEDiceLoss}[name]()
