"""Predictions: pick a checkpoint and an input, predict in a worker with progress, then browse results
worst-first with a half-block preview of each overlay (multiclass: with the class colours and each class's Dice)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, ProgressBar, Select, Static
from textual.worker import Worker, WorkerState

from core.data.labels import class_colour
from core.inference.results import PredictionRow, has_results, read_results, read_summary
from core.runs.folders import Run
from tui.widgets.image_preview import ImagePreview, load_preview_image
from tui.widgets.virtual_table import Column, VirtualTable
from tui.worker_failures import ReportsWorkerFailures

INPUT_CHOICES = [("test split", "split:test"), ("val split", "split:val"), ("a folder or files", "paths")]


def class_note(legend: list[dict[str, Any]], row: PredictionRow | None) -> Text:
    """A multiclass image's note under its preview: the overlay's colour of each foreground class (background is
    left undrawn), then the image's Dice of each class, foreground first ("-": in neither truth nor prediction)."""
    names = [str(entry["name"]) for entry in legend]
    swatches = []
    for entry in legend[1:]:
        red, green, blue = entry.get("color") or class_colour(int(entry["id"]))
        swatches += [("■", f"rgb({red},{green},{blue})"), f" {entry['name']}  "]
    note = Text.assemble("overlay: ", *swatches)
    note.rstrip()
    if row is not None and row.class_dice:
        scores = [f"{name} {_score(row.class_dice.get(name))}" for name in names[1:] + names[:1]]
        note.append("\nDice: " + " · ".join(scores))
    return note


def _score(dice: float | None) -> str:
    return "-" if dice is None else f"{dice:.3f}"


class PredictionsScreen(ReportsWorkerFailures, Screen):
    """One run's predictions. `autostart` predicts the test split at once (the demo's last step)."""

    BINDINGS = [
        Binding("d", "sort_by_dice", "sort by Dice"),
        Binding("n", "sort_by_name", "sort by name"),
        Binding("escape", "app.pop_screen", "back"),
    ]

    @dataclass
    class PredictionProgress(Message):
        done: int
        total: int

    def __init__(self, run: Run, autostart: bool = False) -> None:
        super().__init__()
        self.run = run
        self.autostart = autostart
        self.rows: list[PredictionRow] = []
        self.by_name: dict[str, PredictionRow] = {}
        self.worst_first = True
        self.output: Path | None = None
        self.legend: list[dict[str, Any]] = []  # multiclass: summary.json's classes (id, name, colour)

    def compose(self) -> ComposeResult:
        yield Static(f"predictions ─ {self.run.name}", id="predictions-title", classes="screen-title")
        with Horizontal(id="predict-controls"):
            yield Label("checkpoint")
            yield Select([("best", "best"), ("last", "last")], value="best", allow_blank=False, compact=True,
                         id="checkpoint")
            yield Label("input")
            yield Select(INPUT_CHOICES, value="split:test", allow_blank=False, compact=True, id="input-kind")
            yield Input(placeholder="folder or files", id="input-paths", disabled=True,
                        compact=True)
            yield Button("Predict", id="predict", variant="success", compact=True)
        yield ProgressBar(total=None, id="predict-progress", show_eta=False)
        with Horizontal(id="predictions-body"):
            yield VirtualTable(id="results", zebra_stripes=True)  # 10,000 images draw as fast as 10
            with Vertical(id="preview-pane"):
                yield ImagePreview(id="preview")
                yield Static("", id="preview-path")
                yield Static("", id="preview-classes")
        yield Footer()

    def on_mount(self) -> None:
        self.set_columns()
        self.query_one("#predict-progress").display = False
        self.query_one("#preview-classes").display = False
        existing = self.run.predictions_dir / "test"
        if self.autostart:
            self.start_prediction()
        elif has_results(existing):
            self.load_results(existing)

    @on(Select.Changed, "#input-kind")
    def input_kind_changed(self, event: Select.Changed) -> None:
        self.query_one("#input-paths", Input).disabled = event.value != "paths"

    @on(Button.Pressed, "#predict")
    def start_prediction(self) -> None:
        kind = self.query_one("#input-kind", Select).value
        checkpoint = str(self.query_one("#checkpoint", Select).value)
        if not self.run.checkpoint_path(checkpoint).is_file():
            self.notify(f"no {checkpoint}.pt in this run yet", severity="error")
            return
        inputs = None
        split = "test"
        if kind == "paths":
            inputs = self.query_one("#input-paths", Input).value.split()
            if not inputs:
                self.notify("enter a folder or image files", severity="error")
                return
        else:
            split = str(kind).removeprefix("split:")
        bar = self.query_one("#predict-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.query_one("#predict", Button).disabled = True
        self.predict(checkpoint, split, inputs)

    @work(thread=True, exclusive=True, exit_on_error=False, group="predict")
    def predict(self, checkpoint: str, split: str, inputs: list[str] | None) -> Path:
        from core.inference.predict import predict

        self.app.limit_torch_threads()
        summary = predict(self.run, inputs=inputs, split=split, checkpoint=checkpoint,
                          progress=lambda done, total: self.post_message(self.PredictionProgress(done, total)))
        return Path(summary["output"])

    @on(PredictionProgress)
    def show_progress(self, message: PredictionProgress) -> None:
        self.query_one("#predict-progress", ProgressBar).update(total=message.total, progress=message.done)

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "predict" and event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            self.query_one("#predict", Button).disabled = False
            self.query_one("#predict-progress").display = False
            if event.state == WorkerState.SUCCESS:
                self.load_results(event.worker.result)
        elif event.worker.group == "preview" and event.state == WorkerState.ERROR:
            self.query_one(ImagePreview).show(None, f"cannot show preview: {event.worker.error}")

    def load_results(self, folder: Path) -> None:
        self.output = folder
        self.rows = read_results(folder)
        summary = read_summary(folder)
        self.legend = (summary.get("classes") or []) if summary.get("task") == "multiclass" else []
        classes = self.query_one("#preview-classes", Static)
        classes.display = bool(self.legend)  # binary: no classes to tell apart
        classes.update(class_note(self.legend, None) if self.legend else "")
        scored = [r.dice for r in self.rows if r.dice is not None]
        mean = f" ─ mean Dice {sum(scored) / len(scored):.3f}" if scored else ""
        self.query_one("#predictions-title", Static).update(
            f"predictions ─ {self.run.name} ─ {folder.name} ─ {len(self.rows)} images{mean}")
        self.by_name = {row.name: row for row in self.rows}
        self.show_rows()
        self.query_one("#results", VirtualTable).focus()

    def set_columns(self) -> None:
        self.query_one("#results", VirtualTable).set_columns(
            [Column("NAME", "NAME"), Column("DICE", "▲DICE" if self.worst_first else "DICE"),
             Column("IOU", "IOU"), Column("FG %", "FG %")])

    def show_rows(self) -> None:
        table = self.query_one("#results", VirtualTable)
        if self.worst_first:
            ordered = sorted(self.rows, key=lambda r: (r.dice is None, r.dice if r.dice is not None else 0.0))
        else:
            ordered = sorted(self.rows, key=lambda r: r.name)
        self.set_columns()
        table.set_rows(ordered, key=lambda row: row.name, cells=result_cells,
                       widths=[max((len(row.name) for row in ordered), default=0), 5, 5, 3])
        if ordered:
            table.move_cursor(row=0)
            self.preview(ordered[0])

    def action_sort_by_dice(self) -> None:
        self.worst_first = True
        self.show_rows()

    def action_sort_by_name(self) -> None:
        self.worst_first = False
        self.show_rows()

    @on(VirtualTable.RowHighlighted, "#results")
    def row_highlighted(self, event: VirtualTable.RowHighlighted) -> None:
        row = self.by_name.get(event.key)
        if row is not None:
            self.preview(row)

    def preview(self, row: PredictionRow) -> None:
        self.query_one("#preview-path", Static).update(str(row.overlay))
        if self.legend:
            self.query_one("#preview-classes", Static).update(class_note(self.legend, row))
        self.load_preview(row.overlay)

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview")
    def load_preview(self, path: Path) -> None:
        image = load_preview_image(path)
        self.app.call_from_thread(self.query_one(ImagePreview).show, image)


def result_cells(row: PredictionRow) -> list[str]:
    return [row.name, "-" if row.dice is None else f"{row.dice:.3f}", "-" if row.iou is None else f"{row.iou:.3f}",
            f"{100 * row.foreground:.0f}"]
