"""Loss and Dice per epoch as braille line charts with their values: y ticks beside each chart (top, bottom, middle
on taller ones), an epoch axis, each series' last value, and the best epoch; redrawn when an epoch arrives or the
widget resizes."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from core.runs.events import EpochEvent
from tui.widgets.braille import braille_chart
from tui.widgets.chart_axes import AXIS_WIDTH, epoch_axis, value_range, y_labels

NAME_WIDTH = 13  # " train 0.5824" after each chart's first row


class Curves(Widget):
    """Three charts: train loss, val loss, val Dice (per-image mean), each with its axis and last value."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.epochs: list[EpochEvent] = []

    def set_epochs(self, epochs: list[EpochEvent]) -> None:
        self.epochs = list(epochs)
        self.refresh()

    def add_epoch(self, epoch: EpochEvent) -> None:
        self.epochs.append(epoch)
        self.refresh()

    def render(self) -> Text:
        if not self.epochs:
            return Text("curves appear after the first epoch", style="dim")
        chart_width = max(self.size.width - AXIS_WIDTH - NAME_WIDTH, 4)
        rows = max((self.size.height - 2) // 3, 1)  # an epoch axis and the best line below the three charts
        series = [
            ("train", [e.train_loss for e in self.epochs], "cyan", None),
            ("val", [e.val_loss for e in self.epochs], "magenta", None),
            ("dice", [e.val_dice for e in self.epochs], "green", (0.0, 1.0)),
        ]
        text = Text()
        for name, values, colour, bounds in series:
            low, high = value_range(values, bounds)
            lines = braille_chart(values, chart_width, rows, low, high)
            for i, (label, line) in enumerate(zip(y_labels(low, high, rows), lines, strict=True)):
                text.append(label, style="dim")
                text.append(line, style=colour)
                if i == 0:
                    text.append(f" {name:<5}", style="bold")
                    text.append(f" {values[-1]:.4f}")
                text.append("\n")
        text.append(epoch_axis(self.epochs[0].epoch, self.epochs[-1].epoch, chart_width) + "\n", style="dim")
        best = next((e for e in reversed(self.epochs) if e.is_best), None)  # the engine decides which is best
        if best is not None:
            text.append(f"best Dice {best.val_dice:.4f} at epoch {best.epoch}", style="bold green")
        return text
