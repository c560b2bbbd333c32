"""The augmentation policies by name: the registry every augment choice comes from (config, CLI, form), without
torch; core/data/augment.py implements them."""

from __future__ import annotations

AUGMENT_POLICIES: dict[str, str] = {
    "none": "the pair as it is",
    "flip": "a horizontal mirror half of the time (the original experiment)",
    "standard": "random resized crop (50-100 % of the area), flip, rotation up to 10 degrees, colour jitter",
    "strong": "crops of 30-100 %, rotation up to 20 degrees, stronger colour jitter, grey images, elastic deformation",
    "elastic": "flip, then the UNet paper's elastic deformation half of the time",
}
AUGMENT_NAMES = tuple(AUGMENT_POLICIES)
