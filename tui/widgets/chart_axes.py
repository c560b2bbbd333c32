"""The axes of the braille charts, so a chart can be read and not only looked at: y tick labels beside each chart
(its top and bottom values, and the middle on taller charts) and an epoch axis under them, like the figures of the
original experiment."""

from __future__ import annotations

import math
from collections.abc import Sequence

AXIS_WIDTH = 7  # "0.582 " and a space before the chart


def tick(value: float) -> str:
    """A value in at most 6 characters: 0.582, 12.40, 1.2e-05."""
    if not math.isfinite(value):
        return ""
    if value != 0 and (abs(value) < 0.001 or abs(value) >= 1000):
        return f"{value:.0e}"
    text = f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return text[:6]


def value_range(values: Sequence[float], bounds: tuple[float, float] | None = None) -> tuple[float, float]:
    """The y range a chart draws: the fixed bounds (Dice: 0..1), else its finite values' (a flat series gets
    +-1 so its line sits mid-chart, as braille_chart draws it)."""
    if bounds is not None:
        return bounds
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    return min(finite), max(finite)


def y_labels(low: float, high: float, rows: int) -> list[str]:
    """One label per chart row, right-aligned in AXIS_WIDTH: the top row's value, the bottom row's, and on charts
    of 3 rows or more the middle row's."""
    labels = [""] * rows
    labels[0] = tick(high)
    if rows > 1:
        labels[-1] = tick(low)
    if rows >= 3:
        middle = rows // 2
        labels[middle] = tick(high - (high - low) * (middle * 4 + 1.5) / (rows * 4 - 1))
    return [f"{label:>{AXIS_WIDTH - 1}} " for label in labels]


def epoch_axis(first: int, last: int, width: int) -> str:
    """An epoch axis under charts `width` wide: the first epoch at the left, the last at the right, 'epoch' between."""
    left, right = str(first), str(last)
    middle = "epoch"
    gap = width - len(left) - len(right)
    if gap < len(middle) + 2:
        return " " * AXIS_WIDTH + (left + " " * max(gap, 1) + right)[:width]
    before = (gap - len(middle)) // 2
    return " " * AXIS_WIDTH + left + " " * before + middle + " " * (gap - before - len(middle)) + right
