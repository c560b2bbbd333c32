"""Model sizes for `seglab models` (core/models/summary.py): counted on the meta device, they equal a real forward's
count and the real model's parameters."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from core.models import build_model, count_parameters
from core.models.summary import model_size


@pytest.mark.parametrize("name", ["unet", "resnet50_unet"])
def test_meta_device_counts_equal_a_real_forwards(name):
    size = model_size(name, image_size=64, width=8)
    model = build_model(name, width=8).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    assert size.gflops == pytest.approx(counter.get_total_flops() / 1e9, rel=1e-12) and size.gflops > 0
    assert size.parameters == count_parameters(model)


def test_flops_grow_with_the_pixels_and_the_depth():
    assert model_size("resnet34_unet", 256).gflops == pytest.approx(4 * model_size("resnet34_unet", 128).gflops,
                                                                    rel=1e-6)
    depths = [model_size(f"resnet{d}_unet").gflops for d in (18, 34, 50, 101, 152)]
    assert depths == sorted(depths)
