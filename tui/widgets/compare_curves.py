"""Several runs' val loss and val Dice per epoch overlaid in braille charts, one colour per run, with y ticks, an
epoch axis and a legend.
Where two runs' lines share a cell, the cell takes the colour of the run with more dots in it."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

from core.runs.events import EpochEvent
from tui.widgets.braille import braille_chart
from tui.widgets.chart_axes import AXIS_WIDTH, epoch_axis, value_range, y_labels

NAME_WIDTH = 6  # " loss " / " dice " after each chart's first row


def overlay_charts(series: Sequence[Sequence[float]], width: int, height: int, low: float | None = None,
                   high: float | None = None) -> list[list[tuple[str, int | None]]]:
    """`height` rows of `width` (braille character, index of the series it shows or None) for every series drawn
    on the same axes: x stretched to the longest series, y over all of their values unless bounds are given."""
    finite = [v for values in series for v in values if math.isfinite(v)]
    if not finite:
        return [[("\u2800", None)] * width for _ in range(height)]
    low = min(finite) if low is None else low
    high = max(finite) if high is None else high
    longest = max(len(values) for values in series)
    charts = [braille_chart([*values, *[math.nan] * (longest - len(values))], width, height, low, high)
              for values in series]
    rows = []
    for y in range(height):
        row = []
        for x in range(width):
            bits = [ord(chart[y][x]) - 0x2800 for chart in charts]
            owner = max(range(len(bits)), key=lambda i: bin(bits[i]).count("1"))
            combined = 0
            for value in bits:
                combined |= value
            row.append((chr(0x2800 + combined), owner if combined else None))
        rows.append(row)
    return rows


class CompareCurves(Widget):
    """Val loss and val Dice of several runs, each run in its colour, and a legend line."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.runs: list[tuple[str, str, list[EpochEvent]]] = []  # (name, colour, epochs)

    def set_runs(self, runs: list[tuple[str, str, list[EpochEvent]]]) -> None:
        self.runs = runs
        self.refresh()

    def render(self) -> Text:
        if not self.runs:
            return Text("loading the runs' histories...", style="dim")
        chart_width = max(self.size.width - AXIS_WIDTH - NAME_WIDTH, 4)
        rows = max((self.size.height - 2) // 2, 1)  # an epoch axis and the legend below the two charts
        text = Text()
        for label, pick, bounds in (("loss", lambda e: e.val_loss, None), ("dice", lambda e: e.val_dice, (0.0, 1.0))):
            series = [[pick(e) for e in epochs] for _, _, epochs in self.runs]
            low, high = value_range([v for values in series for v in values], bounds)
            for y, (tick_label, row) in enumerate(zip(y_labels(low, high, rows),
                                                      overlay_charts(series, chart_width, rows, low, high),
                                                      strict=True)):
                text.append(tick_label, style="dim")
                for char, owner in row:
                    text.append(char, style=self.runs[owner][1] if owner is not None else None)
                text.append(f" {label}" if y == 0 else "", style="bold")
                text.append("\n")
        longest = max((len(epochs) for _, _, epochs in self.runs), default=0)
        if longest:
            text.append(epoch_axis(1, longest, chart_width) + "\n", style="dim")
        for name, colour, epochs in self.runs:
            best = max((e.val_dice for e in epochs), default=float("nan"))
            text.append("━━ ", style=colour)
            text.append(f"{name} (best {best:.3f})  ")
        return text
