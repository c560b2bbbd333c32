"""Loss and Dice per epoch as braille line charts, redrawn when an epoch arrives or the widget resizes."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from core.runs.events import EpochEvent
from tui.widgets.braille import braille_chart

LABEL_WIDTH = 6  # "loss  " / "dice  " before each chart


class Curves(Widget):
    """Three charts: train loss, val loss, val Dice (per-image mean), each with its last value."""

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
        value_width = 7
        chart_width = max(self.size.width - LABEL_WIDTH - value_width, 4)
        rows = max((self.size.height - 1) // 3, 1)
        series = [
            ("train", [e.train_loss for e in self.epochs], "cyan", None),
            ("val", [e.val_loss for e in self.epochs], "magenta", None),
            ("dice", [e.val_dice for e in self.epochs], "green", (0.0, 1.0)),
        ]
        text = Text()
        for name, values, colour, bounds in series:
            low, high = bounds if bounds else (None, None)
            lines = braille_chart(values, chart_width, rows, low, high)
            for i, line in enumerate(lines):
                label = f"{name:<{LABEL_WIDTH}}" if i == 0 else " " * LABEL_WIDTH
                value = f" {values[-1]:.3f}" if i == 0 else ""
                text.append(label, style="bold")
                text.append(line, style=colour)
                text.append(value + "\n")
        best = next((e for e in reversed(self.epochs) if e.is_best), None)  # the engine decides which is best
        if best is not None:
            text.append(f"best Dice {best.val_dice:.3f} at epoch {best.epoch}", style="bold green")
        return text
