"""One image/mask pair on disk, as every dataset layout lists it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# How a mask file encodes the pet: Oxford trimap (1 pet, 2 background, 3 border) or any non-zero = foreground.
MASK_KINDS = ("trimap", "binary")


@dataclass(frozen=True)
class Sample:
    name: str  # file stem, unique within a dataset split
    image: Path
    mask: Path | None  # None for images to predict on that have no ground truth
    mask_kind: str  # one of MASK_KINDS
