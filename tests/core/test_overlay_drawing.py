"""Overlays drawn by lookup tables are pixel for pixel what torchvision's draw_segmentation_masks draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.utils import draw_segmentation_masks

from core.data.labels import class_colour
from core.overlay_drawing import blend_tables, draw_overlay


def photo_and_classes(seed: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    class_ids = rng.integers(0, classes, (37, 53)).astype(np.uint8)
    class_ids[:5] = 0  # a band with no class: those pixels are outside every mask's box
    return pixels, class_ids


def torchvision_overlay(pixels: np.ndarray, masks: list[np.ndarray], colours, alpha: float) -> np.ndarray:
    drawn = draw_segmentation_masks(torch.from_numpy(pixels).permute(2, 0, 1).contiguous(),
                                    torch.from_numpy(np.stack(masks)), alpha=alpha, colors=list(colours))
    return drawn.permute(1, 2, 0).numpy()


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("alpha", [0.5, 0.3, 0.77, 0.0, 1.0])
def test_a_binary_overlay_matches_torchvision(alpha, in_place):
    pixels, class_ids = photo_and_classes(1, 2)
    mask = class_ids == 1
    ours = draw_overlay(Image.fromarray(pixels), [mask], [(255, 40, 40)], alpha, in_place=in_place)
    assert np.array_equal(ours, torchvision_overlay(pixels, [mask], [(255, 40, 40)], alpha))


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("alpha", [0.5, 0.35])
def test_a_many_class_overlay_matches_torchvision(alpha, in_place):
    """The classes' boxes overlap: drawn on the image itself, each class must still blend the photo's own pixels."""
    pixels, class_ids = photo_and_classes(2, 6)
    masks = [class_ids == index for index in range(1, 6)]
    masks[3][:] = False  # a class predicted nowhere
    colours = [class_colour(index) for index in range(1, 6)]
    ours = draw_overlay(Image.fromarray(pixels), masks, colours, alpha, in_place=in_place)
    assert np.array_equal(ours, torchvision_overlay(pixels, masks, colours, alpha))


def test_blend_tables_are_what_torchvision_draws_for_a_thousand_alphas():
    """Each of the 256 values of each channel, outside and inside a mask, for alphas 0, 0.001 ... 1 with a random
    colour each: the tables are seglab's own float32 arithmetic, so torchvision stays out of `seglab predict`."""
    strip = torch.arange(256, dtype=torch.uint8).expand(3, 1, 256).contiguous()
    rng = np.random.default_rng(0)
    for step in range(1001):
        alpha, colour = step / 1000, tuple(int(value) for value in rng.integers(0, 256, 3))
        outside, (inside,) = blend_tables(alpha, (colour,))
        for table, marked in ((outside, False), (inside, True)):
            drawn = draw_segmentation_masks(strip, torch.full((1, 1, 256), marked), alpha=alpha, colors=[colour])
            assert table == drawn[:, 0].flatten().tolist(), (alpha, colour, marked)


def test_an_alpha_that_changes_unmarked_pixels_changes_them_as_torchvision_does():
    """v * (1 - 0.77) + v * 0.77 in float32, truncated, is v - 1 for 54 of the 256 values."""
    pixels = np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3)
    empty = np.zeros((16, 16), dtype=bool)
    ours = draw_overlay(Image.fromarray(pixels), [empty], [(255, 40, 40)], 0.77)
    assert not np.array_equal(ours, pixels)
    assert np.array_equal(ours, torchvision_overlay(pixels, [empty], [(255, 40, 40)], 0.77))


def test_in_place_draws_on_the_image_and_the_default_leaves_it_as_it_was():
    pixels, class_ids = photo_and_classes(3, 2)
    mask = class_ids == 1
    kept = Image.fromarray(pixels)
    draw_overlay(kept, [mask], [(255, 40, 40)], 0.5)
    assert np.array_equal(np.asarray(kept), pixels)
    drawn_on = Image.fromarray(pixels)
    ours = draw_overlay(drawn_on, [mask], [(255, 40, 40)], 0.5, in_place=True)
    assert not np.array_equal(ours, pixels)
    assert np.array_equal(np.asarray(drawn_on), ours)
