"""Per-class Dice and IoU for multi-class masks (prediction = argmax over the classes), per image and over a whole
set, plus the confusion matrix and pixel accuracy, accumulated over an epoch by `ClassSegmentationMeter`."""

from __future__ import annotations

import torch


def _confusion_per_image(logits: torch.Tensor, target: torch.Tensor, num_classes: int,
                         ignore_index: int) -> torch.Tensor:
    """int64 [N, C, C] pixel counts per image, rows = true class, columns = predicted class.

    Target pixels equal to `ignore_index` are left out whatever is predicted there.
    """
    if logits.dim() != 4 or logits.shape[1] != num_classes:
        raise ValueError(f"logits must be N x {num_classes} x H x W, got {tuple(logits.shape)}")
    if target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"target must be N x H x W = {(logits.shape[0], *logits.shape[2:])}, "
                         f"got {tuple(target.shape)}")
    # fp32 before argmax: one code path whatever the autocast dtype (bf16 converts exactly).
    predicted = logits.detach().float().argmax(dim=1)
    target = target.detach().to(torch.int64)
    counted = target != ignore_index
    true_class = target[counted]
    if true_class.numel() and (int(true_class.min()) < 0 or int(true_class.max()) >= num_classes):
        # An id out of range would land silently in another image's or class's counts.
        raise ValueError(f"target holds values outside 0..{num_classes - 1} (ignore value {ignore_index})")
    images = logits.shape[0]
    image = torch.arange(images, device=target.device).view(-1, 1, 1).expand_as(target)[counted]
    cell = (image * num_classes + true_class) * num_classes + predicted[counted]
    per_image = torch.bincount(cell, minlength=images * num_classes * num_classes)
    return per_image.view(images, num_classes, num_classes)


def _counts_from_confusion(per_image: torch.Tensor) -> torch.Tensor:
    """[N, C, C] confusion matrices -> [N, C, 3] (tp, fp, fn)."""
    true_positives = per_image.diagonal(dim1=1, dim2=2)
    false_positives = per_image.sum(dim=1) - true_positives  # predicted c (column), true class another
    false_negatives = per_image.sum(dim=2) - true_positives  # true c (row), predicted another
    return torch.stack((true_positives, false_positives, false_negatives), dim=-1)


def class_counts(logits: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = -1) -> torch.Tensor:
    """(tp, fp, fn) pixel counts per image and class, int64 [N, C, 3].

    logits: float N x C x H x W (any dtype, bf16 included), predicted class = argmax over C;
    target: class ids N x H x W; pixels equal to `ignore_index` count nowhere (-1: none ignored).
    """
    return _counts_from_confusion(_confusion_per_image(logits, target, num_classes, ignore_index))


def confusion_matrix(logits: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int = -1) -> torch.Tensor:
    """int64 [C, C] pixel counts over the batch, rows = true class, columns = predicted class (ignored pixels out)."""
    return _confusion_per_image(logits, target, num_classes, ignore_index).sum(dim=0)


def scores_from_counts(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Dice = 2tp/(2tp+fp+fn) and IoU = tp/(tp+fp+fn) as float64, elementwise.

    Where the class is in neither truth nor prediction (denominator 0) both are NaN, meaning "skipped": unlike the
    binary metrics' 1.0, a class an image does not contain must not raise the mean over classes.
    """
    tp, fp, fn = (torch.as_tensor(count).to(torch.float64) for count in (tp, fp, fn))
    union = tp + fp + fn
    nan = torch.full_like(tp, float("nan"))
    dice = torch.where(union > 0, 2 * tp / (2 * tp + fp + fn).clamp(min=1), nan)
    iou = torch.where(union > 0, tp / union.clamp(min=1), nan)
    return dice, iou


def image_class_scores(counts: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-class (dice, iou) of one image from its [C, 3] counts, NaN where the class is absent from both."""
    dice, iou = scores_from_counts(counts[:, 0], counts[:, 1], counts[:, 2])
    return dice.tolist(), iou.tolist()


class ClassSegmentationMeter:
    """Collects per-image, per-class confusion counts and the set's confusion matrix batch by batch; `compute`
    turns them into metrics once. Memory per image: 3 integers per class."""

    def __init__(self, num_classes: int, ignore_index: int = -1) -> None:
        if num_classes < 2:
            raise ValueError(f"a multiclass meter needs at least 2 classes, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        self._counts: list[torch.Tensor] = []
        self._matrix = torch.zeros((self.num_classes, self.num_classes), dtype=torch.int64)

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: logits N x C x H x W and class ids N x H x W (any device, any float dtype)."""
        per_image = _confusion_per_image(logits, target, self.num_classes, self.ignore_index).cpu()
        self._counts.append(_counts_from_confusion(per_image))
        self._matrix += per_image.sum(dim=0)

    def counts(self) -> torch.Tensor:
        """The (tp, fp, fn) counts of every image seen, int64 [images, C, 3] on the CPU."""
        if not self._counts:
            return torch.zeros((0, self.num_classes, 3), dtype=torch.int64)
        return torch.cat(self._counts)

    def state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """What another process needs to merge this meter's images into its own: (counts, confusion matrix)."""
        return self.counts(), self._matrix.clone()

    def merge(self, state: tuple[torch.Tensor, torch.Tensor]) -> None:
        """Add the images of another meter's `state()`."""
        counts, matrix = state
        self._counts.append(counts.to(torch.int64).cpu())
        self._matrix += matrix.to(torch.int64).cpu()

    def compute(self) -> dict[str, float | int | list]:
        """Metrics over every image seen since the last reset, as Python floats (NaN where undefined).

        - `class_dice`, `class_iou`: per class, the per-image mean, skipping images where the class is in neither
          truth nor prediction (NaN when that is every image).
        - `class_dice_micro`, `class_iou_micro`: per class, over the whole set from pixel counts summed over images.
        - `dice`, `iou` (`dice_micro`, `iou_micro`): mean of the per-class lists over the foreground classes 1..C-1,
          skipping NaN classes. The headline numbers.
        - `dice_all`, `iou_all`: mean of `class_dice` / `class_iou` over all classes, background included (what
          published 3-class results quote), skipping NaN classes.
        - `pixel_accuracy`: correctly classified counted pixels / counted pixels.
        - `confusion_matrix`: C x C ints, rows true class, columns predicted class.
        - `images`: how many images were seen.
        """
        counts = self.counts()
        dice, iou = scores_from_counts(counts[..., 0], counts[..., 1], counts[..., 2])  # [images, C]
        # nanmean skips NaN and gives NaN when nothing is left (an absent class, or no images at all).
        class_dice, class_iou = dice.nanmean(dim=0), iou.nanmean(dim=0)
        totals = counts.sum(dim=0)
        class_dice_micro, class_iou_micro = scores_from_counts(totals[:, 0], totals[:, 1], totals[:, 2])
        total_pixels = int(self._matrix.sum())
        correct = int(self._matrix.trace())
        return {
            "dice": class_dice[1:].nanmean().item(),
            "iou": class_iou[1:].nanmean().item(),
            "dice_micro": class_dice_micro[1:].nanmean().item(),
            "iou_micro": class_iou_micro[1:].nanmean().item(),
            "dice_all": class_dice.nanmean().item(),
            "iou_all": class_iou.nanmean().item(),
            "pixel_accuracy": correct / total_pixels if total_pixels else float("nan"),
            "class_dice": class_dice.tolist(),
            "class_iou": class_iou.tolist(),
            "class_dice_micro": class_dice_micro.tolist(),
            "class_iou_micro": class_iou_micro.tolist(),
            "confusion_matrix": self._matrix.tolist(),
            "images": counts.shape[0],
        }
