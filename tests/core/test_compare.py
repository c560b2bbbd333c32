"""Which images a comparison shows first (core/inference/compare.py): the ones the runs disagree on most."""

from __future__ import annotations


def test_images_are_ordered_by_the_share_of_pixels_the_runs_disagree_on():
    import numpy as np

    from core.inference.compare import Comparison, RunPredictions, disagreement, disputed_first

    blank = np.zeros((4, 4), dtype=np.uint8)
    half, corner = blank.copy(), blank.copy()
    half[:2] = 1
    corner[0, 0] = 1
    first = RunPredictions(["a", "b", "c"], [1, 1, 1], {"a": blank, "b": blank, "c": blank})
    second = RunPredictions(["a", "b", "c"], [1, 1, 1], {"a": corner, "b": half, "c": blank})
    shares = disagreement([first, second])
    assert shares == {"a": 1 / 16, "b": 0.5, "c": 0.0}
    assert disputed_first(shares) == ["b", "a", "c"]
    comparison = Comparison([], "test", "best", order=disputed_first(shares), disagreement=shares)
    assert comparison.chosen_images(1) == ["b"] and comparison.chosen_images(3)[:2] == ["b", "a"]
