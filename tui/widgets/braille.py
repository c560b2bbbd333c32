"""Line charts in braille dots: 2 x 4 dots a terminal cell, so a 30 x 4 cell chart has 60 x 16 points."""

from __future__ import annotations

import math
from collections.abc import Sequence

# bit of each dot in a braille cell, indexed [row][column], row 0 at the top
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


def braille_chart(values: Sequence[float], width: int, height: int,
                  low: float | None = None, high: float | None = None) -> list[str]:
    """`height` strings of `width` braille characters drawing `values` as a connected line.

    The series is stretched over the full width; non-finite values are skipped.
    """
    points = [(i, v) for i, v in enumerate(values) if math.isfinite(v)]
    grid = [[0] * width for _ in range(height)]
    if width <= 0 or height <= 0 or not points:
        return ["\u2800" * max(width, 0) for _ in range(max(height, 0))]
    low = min(v for _, v in points) if low is None else low
    high = max(v for _, v in points) if high is None else high
    span = (high - low) or 1.0
    x_dots, y_dots = 2 * width - 1, 4 * height - 1
    last_index = max(len(values) - 1, 1)

    def dot(i: int, v: float) -> tuple[int, int]:
        x = round(i / last_index * x_dots) if len(values) > 1 else 0
        y = y_dots - round((min(max(v, low), high) - low) / span * y_dots)
        return x, y

    def plot(x: int, y: int) -> None:
        grid[y // 4][x // 2] |= _DOTS[y % 4][x % 2]

    previous = None
    for i, v in points:
        x, y = dot(i, v)
        if previous is None:
            plot(x, y)
        else:  # join to the previous point so the curve reads as a line, not scattered dots
            px, py = previous
            steps = max(abs(x - px), abs(y - py), 1)
            for s in range(1, steps + 1):
                plot(round(px + (x - px) * s / steps), round(py + (y - py) * s / steps))
        previous = (x, y)
    return ["".join(chr(0x2800 + bits) for bits in row) for row in grid]
