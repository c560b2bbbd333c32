"""Test-time augmentation of a model: predict on the image and its mirror, average the probabilities (used by
validation, evaluation and prediction alike, so it sits with the models). The choices import without torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

TTA_CHOICES = ("none", "flip")
# Averaged probabilities are turned back into logits (for the loss and the > 0 threshold) with this clamp.
LOGIT_EPS = 1e-6


def check_tta(tta: str) -> str:
    if tta not in TTA_CHOICES:
        raise ConfigError(f"tta: {tta!r} is not one of {', '.join(TTA_CHOICES)}")
    return tta


def predict_logits(model: nn.Module, images: torch.Tensor, tta: str = "none", multiclass: bool = False) -> torch.Tensor:
    """Logits of `images`; with tta='flip' the logits of the mean of the probabilities predicted for the
    images and for their left-right mirrors (mirrored back), in fp32. Multiclass averages the softmax
    probabilities and returns their logarithm, whose softmax (and argmax) they are."""
    import torch

    logits = model(images)
    if check_tta(tta) == "none":
        return logits
    mirrored = model(images.flip(-1)).flip(-1)
    if multiclass:
        probabilities = (torch.softmax(logits.float(), dim=1) + torch.softmax(mirrored.float(), dim=1)) / 2
        return torch.log(probabilities.clamp(min=LOGIT_EPS))
    probabilities = (torch.sigmoid(logits.float()) + torch.sigmoid(mirrored.float())) / 2
    return torch.logit(probabilities, eps=LOGIT_EPS)
