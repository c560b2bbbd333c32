"""Losses for multi-class masks: softmax cross-entropy (optionally class-weighted), soft Dice over the foreground
classes and their sum, all computed in fp32 and all leaving out pixels marked `ignore_index` (names: core/losses)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CEDiceLoss", "CrossEntropyLoss", "MulticlassSoftDiceLoss"]  # class weights: core/losses/weights.py


class CrossEntropyLoss(nn.Module):
    """Mean softmax cross-entropy; (logits N x C x H x W, class ids N x H x W) -> scalar.

    With `weight` (one per class) the mean is weighted as torch does: sum(w[y] * nll) / sum(w[y]) over the pixels
    not equal to `ignore_index` (-1: none ignored).
    """

    def __init__(self, weight: torch.Tensor | None = None, ignore_index: int = -1):
        super().__init__()
        self.weight = None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # fp32 because under autocast logits arrive as bf16/fp16, too coarse for log-probabilities.
        weight = None if self.weight is None else self.weight.to(logits.device)
        return F.cross_entropy(logits.float(), target.long(), weight=weight, ignore_index=self.ignore_index)


class MulticlassSoftDiceLoss(nn.Module):
    """1 - soft Dice of the softmax probabilities, per image and foreground class (1..C-1), averaged over both.

    Background is left out: it fills most pixels and would keep the loss low whatever the objects do. Ignored
    pixels are zero in both probabilities and one-hot target. `smooth` keeps a class absent from an image and
    predicted nowhere at Dice 1 instead of 0/0.
    """

    def __init__(self, ignore_index: int = -1, smooth: float = 1.0):
        super().__init__()
        self.ignore_index = ignore_index
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        classes = logits.shape[1]
        if classes < 2:
            raise ValueError(f"multiclass soft Dice needs at least 2 classes (background and one more), got {classes}")
        ignored = target == self.ignore_index  # N x H x W
        # Whatever the logits hold at ignored pixels, they add exactly 0 to every sum below.
        probabilities = torch.softmax(logits.float(), dim=1).masked_fill(ignored.unsqueeze(1), 0)
        class_ids = target.long().masked_fill(ignored, 0)  # any valid id: its one-hot is blanked just below
        one_hot = F.one_hot(class_ids, classes).permute(0, 3, 1, 2).float().masked_fill(ignored.unsqueeze(1), 0)
        probabilities, one_hot = probabilities[:, 1:].flatten(2), one_hot[:, 1:].flatten(2)
        overlap = (probabilities * one_hot).sum(dim=2)  # N x (C-1)
        total = probabilities.sum(dim=2) + one_hot.sum(dim=2)
        dice = (2 * overlap + self.smooth) / (total + self.smooth)
        return 1 - dice.mean()


class CEDiceLoss(nn.Module):
    """Cross-entropy plus multi-class soft Dice: CE gives every pixel a gradient, Dice counters the background."""

    def __init__(self, weight: torch.Tensor | None = None, ignore_index: int = -1, smooth: float = 1.0):
        super().__init__()
        self.ce = CrossEntropyLoss(weight, ignore_index)
        self.dice = MulticlassSoftDiceLoss(ignore_index, smooth)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.ce(logits, target) + self.dice(logits, target)
