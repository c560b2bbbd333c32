"""Split sample names into train and val the same way on every machine for the same names and seed."""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

from core.errors import ConfigError, DataError


def split_train_val(
    names: Iterable[str], val_fraction: float, seed: int, source: str | Path = "dataset"
) -> tuple[list[str], list[str]]:
    """Disjoint (train, val) name lists, each sorted; `source` is the folder named in errors.

    val holds round(len * val_fraction) names, at least 1 when val_fraction > 0, and never all of them:
    both splits are non-empty whenever there are two names or more. val_fraction 0 gives an empty val.
    """
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"val_fraction: must be at least 0 and below 1, got {val_fraction!r}")
    # Sorting first makes the result independent of directory listing order, which differs between machines.
    shuffled = sorted(set(names))
    if not shuffled:
        raise DataError(source, f"no samples to split into train and val (val fraction {val_fraction})")
    if val_fraction > 0 and len(shuffled) < 2:
        raise DataError(
            source, f"only 1 sample: cannot split it into non-empty train and val (val fraction {val_fraction})"
        )
    random.Random(seed).shuffle(shuffled)
    val_count = round(len(shuffled) * val_fraction)
    if val_fraction > 0:
        val_count = min(max(val_count, 1), len(shuffled) - 1)
    return sorted(shuffled[val_count:]), sorted(shuffled[:val_count])
