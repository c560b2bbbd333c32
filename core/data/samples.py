"""One image/mask pair on disk, as every dataset layout lists it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Masks seglab reads as files: an Oxford trimap (1 pet, 2 background, 3 border) or any mask where non-zero is
# foreground (multiclass: class ids).
FILE_MASK_KINDS = ("trimap", "binary")
# Masks rendered from a labelling tool's export (core/data/exports.py): the kind names its reader.
EXPORT_MASK_KINDS = ("coco", "voc", "labelme", "yolo")
MASK_KINDS = FILE_MASK_KINDS + EXPORT_MASK_KINDS


@dataclass(frozen=True)
class Sample:
    name: str  # file stem, unique within a dataset split
    image: Path  # an image file (a LabelMe JSON whose imageData holds the image, for an embedded one)
    mask: Path | None  # None for images to predict on that have no ground truth; an export's annotation file
    mask_kind: str  # one of MASK_KINDS
    mask_key: str = ""  # which annotations of `mask` are this image's (a COCO image id); empty otherwise
    context: Path | None = None  # an export's root or annotation file, whose class list the mask is read with
