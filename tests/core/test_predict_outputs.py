"""A predicted image's row: its foreground share is, to the bit, the float32 mean results.csv always held."""

from __future__ import annotations

import numpy as np
import torch

from core.inference.predict_outputs import marked_share


def test_the_marked_share_is_torchs_float32_mean_to_the_bit():
    rng = np.random.default_rng(0)
    for _ in range(300):
        height, width = rng.integers(1, 700, 2)
        marked = rng.random((height, width)) < rng.random()
        assert marked_share(marked) == float(torch.from_numpy(marked).float().mean())


def test_a_mask_of_2_to_the_24_pixels_or_more_is_measured_by_torch():
    marked = np.zeros((4097, 4096), dtype=bool)  # one row past 2**24 pixels, where float32 counts are not exact
    marked[:, :1001] = True
    assert marked_share(marked) == float(torch.from_numpy(marked).float().mean())
