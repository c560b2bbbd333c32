"""Class weights for the cross-entropy: parsed from `--class-weights w0,w1,...` or, for `auto`, worked out from
the train split's pixel counts (inverse square root of each class's share). No torch: the config checks them."""

from __future__ import annotations

import math
from collections.abc import Sequence

from core.errors import ConfigError


def parse_class_weights(text: str, num_classes: int | None) -> list[float] | None:
    """The weights written as "w0,w1,..." (None for "" or "auto"); `num_classes` None skips the count check
    (the data says the count later). Every problem is one line starting with the field's name."""
    if text in ("", "auto"):
        return None
    weights = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise ConfigError(f"class_weights: {part.strip()!r} is not a number (give auto or w0,w1,...)") from None
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"class_weights: {part.strip()!r} must be a finite number >= 0")
        weights.append(value)
    if num_classes is not None and len(weights) != num_classes:
        raise ConfigError(f"class_weights: {len(weights)} weights given for {num_classes} classes (one per class, "
                          "background first)")
    if not any(weights):
        raise ConfigError("class_weights: at least one weight must be above 0")
    return weights


def inverse_sqrt_frequency(pixel_counts: Sequence[int]) -> list[float]:
    """weight_c = 1 / sqrt(share_c), scaled so the present classes' weights average 1; a class with no pixels
    gets the largest weight of the present ones (it cannot be weighted by a share of 0)."""
    counts = [int(count) for count in pixel_counts]
    total = sum(counts)
    if total <= 0:
        raise ValueError("inverse_sqrt_frequency: every class has 0 pixels")
    raw = [1 / math.sqrt(count / total) if count else None for count in counts]
    present = [weight for weight in raw if weight is not None]
    scale = len(present) / sum(present)
    largest = max(present) * scale
    return [weight * scale if weight is not None else largest for weight in raw]
