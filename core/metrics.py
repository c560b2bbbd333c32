"""Dice and IoU of thresholded predictions, per image and over a whole set, accumulated over an
epoch by `SegmentationMeter` and computed once at its end."""

from __future__ import annotations

import torch


def confusion_per_image(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(tp, fp, fn) pixel counts per image, int64 tensors of shape [N].

    A pixel is predicted foreground when its logit is > 0 (sigmoid > 0.5), and is foreground
    in the target when the target is > 0.5. Works for any float dtype, bf16 included.
    """
    predicted = (logits.detach() > 0).flatten(1)
    actual = (target.detach() > 0.5).flatten(1)
    true_positives = (predicted & actual).sum(dim=1, dtype=torch.int64)
    false_positives = (predicted & ~actual).sum(dim=1, dtype=torch.int64)
    false_negatives = (~predicted & actual).sum(dim=1, dtype=torch.int64)
    return true_positives, false_positives, false_negatives


def dice_iou_from_counts(
    tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dice = 2tp/(2tp+fp+fn) and IoU = tp/(tp+fp+fn) as float64, elementwise.

    Where prediction and target are both empty (denominator 0) both are 1.0: nothing to find,
    nothing wrongly found.
    """
    tp, fp, fn = (count.to(torch.float64) for count in (tp, fp, fn))
    dice_denominator = 2 * tp + fp + fn
    union = tp + fp + fn
    one = torch.ones_like(tp)
    dice = torch.where(dice_denominator > 0, 2 * tp / dice_denominator.clamp(min=1), one)
    iou = torch.where(union > 0, tp / union.clamp(min=1), one)
    return dice, iou


class SegmentationMeter:
    """Collects per-image confusion counts batch by batch; `compute` turns them into metrics once.

    Only three integers per image are kept, so an epoch of any length costs little memory.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._counts: list[torch.Tensor] = []

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: logits and 0/1 target of the same shape N x 1 x H x W (any device, any dtype)."""
        self._counts.append(torch.stack(confusion_per_image(logits, target), dim=1).cpu())

    def counts(self) -> torch.Tensor:
        """The (tp, fp, fn) counts of every image seen, int64 [images, 3] on the CPU."""
        if not self._counts:
            return torch.zeros((0, 3), dtype=torch.int64)
        return torch.cat(self._counts)

    def state(self) -> torch.Tensor:
        """What another process needs to merge this meter's images into its own (see `merge`)."""
        return self.counts()

    def merge(self, state: torch.Tensor) -> None:
        self.add_counts(state)

    def add_counts(self, counts: torch.Tensor) -> None:
        """Add images already counted elsewhere (another process's `counts()`)."""
        self._counts.append(counts.to(torch.int64).cpu())

    def per_image(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(dice, iou) of every image seen, in order, float64 tensors of shape [images]."""
        counts = self.counts()
        return dice_iou_from_counts(counts[:, 0], counts[:, 1], counts[:, 2])

    def compute(self) -> dict[str, float | int]:
        """Metrics over every image seen since the last reset.

        - `dice`, `iou`: per-image mean (each image weighs the same, small pets count fully).
        - `dice_micro`, `iou_micro`: over the whole set, from pixel counts summed over all images
          (large masks weigh more).
        - `images`: how many images were seen.
        With no images seen, the four metrics are NaN.
        """
        counts = self.counts()
        images = counts.shape[0]
        if images == 0:
            nan = float("nan")
            return {"dice": nan, "iou": nan, "dice_micro": nan, "iou_micro": nan, "images": 0}
        dice, iou = dice_iou_from_counts(counts[:, 0], counts[:, 1], counts[:, 2])
        totals = counts.sum(dim=0)
        dice_micro, iou_micro = dice_iou_from_counts(totals[0], totals[1], totals[2])
        return {
            "dice": dice.mean().item(),
            "iou": iou.mean().item(),
            "dice_micro": dice_micro.item(),
            "iou_micro": iou_micro.item(),
            "images": images,
        }
