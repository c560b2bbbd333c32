"""Compare: the runs marked on the runs screen side by side. Overlaid val loss and Dice curves (one colour per
run, with a legend), the comparison table, and the prediction grid (image, truth, each run's overlay) browsed
image by image, the images the runs disagree on most first. The work happens in core/inference/compare.py."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from core.errors import SeglabError
from core.inference.compare import Comparison, compare_runs, open_runs, table_rows
from core.inference.compare_report import grid_row, run_colour
from tui.widgets.compare_curves import CompareCurves
from tui.widgets.image_preview import ImagePreview
from tui.worker_failures import ReportsWorkerFailures


def grid_image(comparison: Comparison, name: str) -> Image.Image:
    """The grid row of one image as a picture for the half-block preview."""
    return Image.fromarray(grid_row(comparison, name))


class CompareScreen(ReportsWorkerFailures, Screen):
    """Runs side by side on a split (evaluated first where they have no eval for it)."""

    BINDINGS = [
        Binding("right,j", "image(1)", "next image"),
        Binding("left,k", "image(-1)", "previous image"),
        Binding("escape", "app.pop_screen", "back"),
    ]

    def __init__(self, paths: list[Path], split: str = "test", checkpoint: str = "best") -> None:
        super().__init__()
        self.paths, self.split, self.checkpoint = paths, split, checkpoint
        self.comparison: Comparison | None = None
        self.index = 0
        self.warning = ""  # why these runs would need --force on the command line

    def compose(self) -> ComposeResult:
        yield Static(f"compare ─ {len(self.paths)} runs on the {self.split} split", id="compare-title",
                     classes="screen-title")
        table = DataTable(id="compare-table", cursor_type="none", zebra_stripes=True)
        table.can_focus = False  # the arrows browse the images; the table is a few rows to read
        yield table
        with Horizontal(id="compare-body"):
            yield CompareCurves(id="compare-curves")
            with Vertical(id="compare-grid"):
                yield Static("", id="compare-caption")
                yield ImagePreview(id="compare-preview")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#compare-preview", ImagePreview).show(None, "evaluating and predicting...")
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare")
    def load(self) -> None:
        refs, root = [str(path) for path in self.paths], self.paths[0].parent
        try:
            try:
                runs = open_runs(refs, root)
            except SeglabError as error:  # different data: shown side by side all the same, with why
                runs = open_runs(refs, root, force=True)
                why = str(error).split(";")[0].removeprefix("compare: ")
                if len({run.load_config().task for run in runs}) > 1:  # a binary mask against class ids: no answer
                    self.app.call_from_thread(self.show_progress, f"✗ {why}: nothing to compare")
                    self.app.call_from_thread(self.notify, f"{why}: a binary and a multiclass run's masks do not "
                                              "compare", severity="error", timeout=10)
                    return
                self.warning = f" ─ ⚠ {why}"
                self.app.call_from_thread(self.notify, f"{why}: compared all the same", severity="warning",
                                          timeout=10)  # whole, where the title cuts it

            def progress(what: str, done: int, total: int) -> None:
                self.app.call_from_thread(self.show_progress, f"{what} ({done}/{total})")

            comparison = compare_runs(runs, self.split, self.checkpoint, progress=progress)
        except SeglabError as error:
            self.app.call_from_thread(self.show_progress, f"✗ {error}")
            return
        self.app.call_from_thread(self.show_comparison, comparison)

    def show_progress(self, text: str) -> None:
        self.query_one("#compare-title", Static).update(
            f"compare ─ {len(self.paths)} runs on the {self.split} split ─ {text}")

    def show_comparison(self, comparison: Comparison) -> None:
        self.comparison = comparison
        self.query_one("#compare-title", Static).update(
            f"compare ─ {len(comparison.runs)} runs on the {self.split} split ({self.checkpoint}.pt) ─ "
            f"{len(comparison.order)} images, most disputed first{self.warning}")
        table = self.query_one("#compare-table", DataTable)
        rows = table_rows(comparison)
        table.clear(columns=True)
        for column in rows[0]:
            table.add_column(column, key=column)
        for row in rows:
            table.add_row(*row.values())
        self.query_one(CompareCurves).set_runs(
            [(entry.display_name, run_colour(index), entry.history) for index, entry in enumerate(comparison.runs)])
        self.show_image(0)

    def action_image(self, step: int) -> None:
        if self.comparison is not None and self.comparison.order:
            self.show_image((self.index + step) % len(self.comparison.order))

    def show_image(self, index: int) -> None:
        assert self.comparison is not None
        self.index = index
        if not self.comparison.order:
            self.query_one("#compare-preview", ImagePreview).show(None, "no image the runs share")
            return
        name = self.comparison.order[index]
        scores = "  ".join(f"[{run_colour(i)}]■[/] {entry.predictions.dice[entry.predictions.names.index(name)]:.3f}"
                           for i, entry in enumerate(self.comparison.runs) if entry.predictions)
        self.query_one("#compare-caption", Static).update(
            f"{index + 1}/{len(self.comparison.order)} {name} · differ on "
            f"{self.comparison.disagreement[name]:.0%} of pixels · Dice {scores}\nimage · truth · "
            + " · ".join(entry.display_name for entry in self.comparison.runs))
        self.load_image(name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare-image")
    def load_image(self, name: str) -> None:
        assert self.comparison is not None
        picture = grid_image(self.comparison, name)
        self.app.call_from_thread(self.query_one("#compare-preview", ImagePreview).show, picture)
