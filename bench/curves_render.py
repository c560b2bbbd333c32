"""What drawing the live screen's curves costs a frame: seglab's braille charts with their axes (tui/widgets/curves.py)
against plotext, the library behind textual-plotext, drawing the same three series (train loss, val loss, val Dice)
into the same cells, for histories of 10 to 1,000 epochs. The live screen redraws its curves once an epoch arrives;
at 20 events a second the progress bar and table redraw, not the curves.

    pip install textual-plotext && python -m bench.curves_render

Rows are appended to bench/curves_render_results.jsonl with the machine.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import time
from pathlib import Path

from core.device import cpu_model
from tui.widgets.braille import braille_chart
from tui.widgets.chart_axes import AXIS_WIDTH, epoch_axis, value_range, y_labels

RESULTS = Path(__file__).with_name("curves_render_results.jsonl")
WIDTH, HEIGHT = 40, 10  # the curves pane of the live screen at 100 x 30


def series(epochs: int) -> list[list[float]]:
    train = [0.6 * math.exp(-e / 30) + 0.05 for e in range(epochs)]
    val = [0.65 * math.exp(-e / 35) + 0.08 for e in range(epochs)]
    dice = [1 - 0.7 * math.exp(-e / 25) for e in range(epochs)]
    return [train, val, dice]


def braille_frame(data: list[list[float]]) -> str:
    chart_width, rows = WIDTH - AXIS_WIDTH - 13, (HEIGHT - 2) // 3
    lines = []
    for values, bounds in zip(data, (None, None, (0.0, 1.0)), strict=True):
        low, high = value_range(values, bounds)
        lines += [label + line for label, line in zip(y_labels(low, high, rows),
                                                       braille_chart(values, chart_width, rows, low, high),
                                                       strict=True)]
    lines.append(epoch_axis(1, len(data[0]), chart_width))
    return "\n".join(lines)


def plotext_frame(data: list[list[float]]) -> str:
    import plotext as plt

    plt.clear_figure()
    plt.subplots(3, 1)
    for index, values in enumerate(data, start=1):
        plt.subplot(index, 1)
        plt.plot(values, marker="braille")
    plt.plotsize(WIDTH, HEIGHT)
    return plt.build()


def timed(draw, data, repeats: int) -> float:
    draw(data)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        draw(data)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    machine = {"cpu": cpu_model(), "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
    with open(RESULTS, "a", encoding="utf-8") as f:
        for epochs in (10, 100, 1000):
            data = series(epochs)
            row = {"epochs": epochs, "braille_ms": round(timed(braille_frame, data, 50), 3),
                   "plotext_ms": round(timed(plotext_frame, data, 20), 3), **machine}
            print(json.dumps(row), flush=True)
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
