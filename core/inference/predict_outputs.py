"""One predicted image's outcome and files: its logits resized to the image's own size and scored against a truth
mask when it has one (torch, on the model's thread), then the mask and overlay PNGs (each written under a temporary
name and renamed, so a file that exists is whole) and its row (Pillow and numpy, in a writing thread). A 0.19 MP
photo's files cost about 3 ms of one core (core/png_writer.py, core/overlay_drawing.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.data.images import load_pair, open_rgb
from core.data.labels import Labels, class_colour, palette
from core.data.samples import Sample
from core.data.transforms import resize_image
from core.inference.results import PredictionRow, mask_path, overlay_path
from core.metrics import confusion_per_image, dice_iou_from_counts
from core.overlay_drawing import draw_overlay
from core.png_writer import write_png

OVERLAY_COLOR = (255, 40, 40)


@dataclass
class OpenedImage:
    """A sample read in full before anything is written for it: its image, its model input (uint8, resized) and,
    when it has one, its truth mask."""

    sample: Sample
    stem: str
    image: Image.Image
    resized: torch.Tensor  # uint8 3 x size x size
    truth: np.ndarray | None


def open_image(sample: Sample, stem: str, labels: Labels, size: int) -> OpenedImage:
    """Read a sample and resize it for the model; the mask is read and its size checked here, before any file of
    the sample is written. Raises DataError for an unreadable image or mask."""
    if sample.mask is None:
        image, truth = open_rgb(sample.image), None
    else:
        image, truth = load_pair(sample, labels)
    return OpenedImage(sample, stem, image, resize_image(image, size), truth)


@dataclass
class Outcome:
    """An image's prediction at its own size: its mask (bool H x W for a binary task, class ids uint8 H x W for a
    multiclass one) and its scores against the truth mask when it has one."""

    mask: np.ndarray
    dice: float | None = None
    iou: float | None = None
    class_dice: dict[str, float | None] = field(default_factory=dict)


def outcome_of(opened: OpenedImage, logit: torch.Tensor, labels: Labels) -> Outcome:
    """The logits (C x size x size, float32, on the CPU) resized to the image's own size, thresholded (binary) or
    argmaxed (multiclass), and scored. Every torch op of an image is here, so the stream runs them on the model's
    thread: torch in a writing thread would start a second team of compute threads beside the model's."""
    width, height = opened.image.size
    full = F.interpolate(logit[None], size=(height, width), mode="bilinear", align_corners=False)[0]
    if labels.multiclass:
        return _class_outcome(opened, full, labels)
    outcome = Outcome((full[0] > 0).numpy())  # sigmoid(logit) > 0.5
    if opened.truth is not None:
        truth = torch.from_numpy(opened.truth)
        tp, fp, fn = confusion_per_image(full[None], truth[None, None].float())
        dice_t, iou_t = dice_iou_from_counts(tp, fp, fn)
        outcome.dice, outcome.iou = float(dice_t[0]), float(iou_t[0])
    return outcome


def _class_outcome(opened: OpenedImage, full: torch.Tensor, labels: Labels) -> Outcome:
    """A multiclass image's class ids and each class's Dice (None where the class is in neither truth nor
    prediction)."""
    from core.class_metrics import class_counts, image_class_scores

    outcome = Outcome(full.argmax(dim=0).numpy().astype(np.uint8))
    if opened.truth is not None:
        truth = torch.from_numpy(opened.truth.astype(np.int64))
        counts = class_counts(full[None], truth[None], labels.classes, labels.ignore_index)[0]
        dices, ious = image_class_scores(counts)
        outcome.class_dice = {name: _present(value) for name, value in zip(labels.names, dices, strict=True)}
        outcome.dice, outcome.iou = _foreground_mean(dices), _foreground_mean(ious)
    return outcome


def write_prediction(out_dir: Path, opened: OpenedImage, outcome: Outcome, alpha: float, labels: Labels
                     ) -> PredictionRow:
    """The image's overlay and mask PNGs at its own size (a binary mask as 0/255 grey, a multiclass one as a
    palette PNG whose values are class ids) and its row; the row is returned only once both files are complete.
    The overlay is drawn on the opened image itself (its last use). Pillow and numpy only, so it runs in a writing
    thread beside the others."""
    image, stem = opened.image, opened.stem
    if labels.multiclass:
        class_ids = outcome.mask
        foreground = [class_ids == index for index in range(1, labels.classes)]
        colours = [class_colour(index) for index in range(1, labels.classes)]
        write_png(overlay_path(out_dir, stem), draw_overlay(image, foreground, colours, alpha, in_place=True))
        write_png(mask_path(out_dir, stem), class_ids, palette(labels.classes))
        marked = class_ids > 0
    else:
        marked = outcome.mask
        write_png(overlay_path(out_dir, stem), draw_overlay(image, [marked], [OVERLAY_COLOR], alpha, in_place=True))
        write_png(mask_path(out_dir, stem), marked.astype(np.uint8) * np.uint8(255))
    width, height = image.size
    return PredictionRow(stem, width, height, marked_share(marked), outcome.dice, outcome.iou, out_dir,
                         outcome.class_dice, image=str(opened.sample.image))


def marked_share(marked: np.ndarray) -> float:
    """The share of True pixels, to the bit what torch's float32 mask.float().mean() gives (the value results.csv
    always held): below 2**24 pixels, count and size are exact in float32 and the mean is one float32 division."""
    if marked.size >= 2**24:
        return float(torch.from_numpy(marked).float().mean())
    return float(np.float32(np.count_nonzero(marked)) / np.float32(marked.size))


def _present(value: float) -> float | None:
    return None if value != value else float(value)  # NaN: the class is in neither truth nor prediction


def _foreground_mean(values: list[float]) -> float | None:
    """The mean over foreground classes present in the image (truth or prediction); None when none is."""
    present = [value for value in values[1:] if value == value]
    return sum(present) / len(present) if present else None
