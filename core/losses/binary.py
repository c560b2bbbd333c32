"""Losses for binary masks: BCE, soft Dice and their sum, all computed in fp32 (names: core/losses)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BinaryCrossEntropyLoss(nn.Module):
    """Mean BCE on logits; (logits N x 1 x H x W, target 0/1 of the same shape) -> scalar."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # fp32 because under autocast logits arrive as bf16/fp16, too coarse for log-probabilities.
        return F.binary_cross_entropy_with_logits(logits.float(), target.float())


class SoftDiceLoss(nn.Module):
    """1 - soft Dice of sigmoid probabilities, per image, averaged over the batch.

    `smooth` keeps an image with an empty target and an empty prediction at loss 0 instead of 0/0.
    """

    def __init__(self, smooth: float = 1.0):
        super().__init__()
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        probabilities = torch.sigmoid(logits.float()).flatten(1)
        target = target.float().flatten(1)
        overlap = (probabilities * target).sum(dim=1)
        total = probabilities.sum(dim=1) + target.sum(dim=1)
        dice_per_image = (2 * overlap + self.smooth) / (total + self.smooth)
        return 1 - dice_per_image.mean()


class BCEDiceLoss(nn.Module):
    """BCE plus soft Dice: BCE gives every pixel a gradient, Dice counters the background majority."""

    def __init__(self, smooth: float = 1.0):
        super().__init__()
        self.bce = BinaryCrossEntropyLoss()
        self.dice = SoftDiceLoss(smooth)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.bce(logits, target) + self.dice(logits, target)
