"""Polygons that reach outside their image and COCO RLE counts: the fill inside the image is the whole polygon's
(not that of the polygon with its outside points pulled to the border), and RLE runs that do not cover the image
are named instead of being decoded into memory pycocotools never wrote."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from core.data.polygons import REACH, checked_ring, rasterise, rle_problem

HEIGHT, WIDTH = 37, 53
PAD = 200


def on_a_bigger_canvas(ring: np.ndarray) -> np.ndarray:
    """The reference: the polygon moved onto a canvas that holds it whole, filled, and the image cropped out."""
    canvas = rasterise([ring + PAD], HEIGHT + 2 * PAD, WIDTH + 2 * PAD)
    return canvas[PAD:PAD + HEIGHT, PAD:PAD + WIDTH]


def test_a_triangle_reaching_past_the_right_edge_keeps_its_shape_inside():
    ring = np.array([[WIDTH - 20, -15], [WIDTH + 30, HEIGHT / 2], [WIDTH - 20, HEIGHT / 2 + 10]])
    filled = rasterise([ring], HEIGHT, WIDTH)
    assert np.array_equal(filled, on_a_bigger_canvas(ring))
    clamped = np.stack([np.clip(ring[:, 0], 0, WIDTH), np.clip(ring[:, 1], 0, HEIGHT)], axis=1)
    assert (rasterise([clamped], HEIGHT, WIDTH) != filled).sum() > 100  # what pulling the corners in did


@pytest.mark.parametrize("spread", [REACH - 2, 4 * REACH])
def test_random_polygons_around_the_image_fill_as_on_a_canvas_that_holds_them(spread):
    rng = np.random.default_rng(3)
    differing = []
    for _ in range(200):
        count = rng.integers(3, 9)
        ring = np.stack([rng.uniform(-spread, WIDTH + spread, count), rng.uniform(-spread, HEIGHT + spread, count)], 1)
        differing.append(int((rasterise([ring], HEIGHT, WIDTH) != on_a_bigger_canvas(ring)).sum()))
    if spread < REACH:
        assert max(differing) == 0  # points within REACH: exact
    else:  # points cut at REACH: edge pixels here and there (the rasteriser rounds corners to a fifth of a pixel)
        assert sum(differing) / len(differing) < 3 and max(differing) < 0.02 * HEIGHT * WIDTH


def test_a_huge_coordinate_is_filled_without_a_huge_canvas():
    ring = np.array([[0.0, 0.0], [1e12, 5.0], [3.0, 1e12]])  # covers the whole image but a sliver at (0, 0)
    filled = rasterise([ring], HEIGHT, WIDTH)
    assert filled[1:, 1:].all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_coordinate_that_is_not_a_finite_number_is_refused(bad):
    with pytest.raises(ValueError, match="not a finite number"):
        checked_ring([1, 1, 5, bad, 5, 4], HEIGHT, WIDTH)


def test_checked_ring_says_whether_the_ring_leaves_the_image():
    assert checked_ring([0, 0, WIDTH, 0, WIDTH, HEIGHT], HEIGHT, WIDTH)[1] is False
    assert checked_ring([0, 0, WIDTH + 0.5, 0, WIDTH, HEIGHT], HEIGHT, WIDTH)[1] is True


def test_rle_runs_read_from_pycocotools_strings_cover_the_image():
    rng = np.random.default_rng(0)
    for _ in range(50):
        height, width = (int(v) for v in rng.integers(1, 90, 2))
        mask = np.asfortranarray(rng.random((height, width)) < rng.random(), dtype=np.uint8)
        counts = coco_mask.encode(mask)["counts"].decode("ascii")
        assert rle_problem({"counts": counts}, height, width) is None
        assert rle_problem({"counts": counts}, height, width + 1) is not None


@pytest.mark.parametrize(("counts", "problem"), [
    ([5, 3], "its RLE runs cover 8 pixels, not the 4x5 = 20 of its image"),
    ([5, -3, 18], "its RLE has a negative run"),
    ("0<", "its RLE runs cover 12 pixels, not the 4x5 = 20 of its image"),
    ("0d01", "its RLE runs cover 21 pixels, not the 4x5 = 20 of its image"),
    ("zzzz", "its RLE counts string is not one pycocotools writes"),
    ([1.5, 18.5], "its RLE counts are neither a string nor a list of integers"),
])
def test_rle_counts_that_do_not_cover_the_image_are_named(counts, problem):
    assert rle_problem({"counts": counts}, 4, 5) == problem
