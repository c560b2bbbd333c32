"""Home screen: every run in the runs folder with its live state; open, start, predict, demo; mark runs and
compare them; filter and sort the list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from core.errors import ConfigError
from core.runs.status import State
from tui.breakpoints import NARROW_BELOW
from tui.run_rows import SORT_KEYS, RunRow, fold_sweeps, format_started, middle_ellipsis, read_run_rows, select_rows
from tui.widgets.run_header import STATE_STYLES
from tui.widgets.virtual_table import Column, VirtualTable
from tui.worker_failures import ReportsWorkerFailures

REFRESH_SECONDS = 2.0
COLUMNS = ("NAME", "MODEL", "DATA", "STATE", "EP", "DICE", "STARTED")
DATA_WIDTH = 24  # a longer data path is cut in the middle
EMPTY_HELP = (
    "No runs here yet.\n\n"
    "  n  new run: pick a model, data and hyperparameters\n"
    "  d  demo: synthetic data, a small UNet, trained in a few minutes on a CPU\n\n"
    "Runs started with `seglab train` in another terminal appear here too."
)


class RunsScreen(ReportsWorkerFailures, Screen):
    """The run list, refreshed every two seconds from the runs folder's index (read in a worker; only changed
    status files are read) into a table that draws only the rows on screen."""

    BINDINGS = [
        Binding("enter", "open_run", "open", show=True),
        Binding("n", "new_run", "new run"),
        Binding("p", "predict", "predict"),
        Binding("d", "demo", "demo"),
        Binding("space", "mark", "mark"),
        Binding("c", "compare", "compare"),
        Binding("slash", "filter", "filter"),
        Binding("s", "sort", "sort"),
        Binding("r", "refresh", "refresh", show=False),
        Binding("q", "app.quit", "quit"),
    ]

    def __init__(self, runs_root: Path) -> None:
        super().__init__()
        self.runs_root = runs_root
        self.rows: list[RunRow] = []  # the rows shown: filtered and sorted
        self.every: list[RunRow] = []  # every run in the folder
        self.marked: set[Path] = set()
        self.filter_text = ""
        self.sort = SORT_KEYS[0]
        self.narrow = False
        self.drawn = False  # the list has been drawn once
        self._filter_told = ""  # the bad filter whose error was last notified

    def compose(self) -> ComposeResult:
        with Vertical(id="runs-body"):
            yield Static(id="runs-title", classes="screen-title")
            yield VirtualTable(id="runs-table", zebra_stripes=True)
            yield Static(EMPTY_HELP, id="runs-empty")
            yield Input(placeholder="filter: words, model=unet, state!=failed, dice>0.9 (enter applies, esc clears)",
                        id="runs-filter")
        yield Footer()

    def on_mount(self) -> None:
        self.narrow = self.app.size.width < NARROW_BELOW
        self.add_columns()
        self.query_one("#runs-filter").display = False
        self.action_refresh()
        self.set_interval(REFRESH_SECONDS, self.action_refresh)

    def add_columns(self) -> None:
        """The table's columns: without DATA on a narrow terminal, so the others keep their width."""
        self.query_one(VirtualTable).set_columns(
            [Column("MARK", "✓", width=1)] + [Column(label, label) for label in COLUMNS
                                               if not (self.narrow and label == "DATA")])

    def on_resize(self) -> None:
        narrow = self.size.width < NARROW_BELOW
        if narrow != self.narrow:
            self.narrow = narrow
            self.add_columns()
            self.redraw()

    def name_width(self) -> int:
        """Room for the run names; the other columns keep theirs (a name too long is cut in the middle), so the
        table fits the screen at every width. A column is as wide as its widest value or its header."""
        labels = ["✓", *(label for label in COLUMNS if not (self.narrow and label == "DATA"))]
        widths = self.widths(0)
        others = sum(max(width, len(label)) for index, (width, label) in enumerate(zip(widths, labels, strict=True))
                     if index != 1)  # all but NAME
        return max(self.size.width - others - 2 * len(labels) - 2, 16)

    def on_screen_resume(self) -> None:
        if self.every:  # back from another screen (on mount, on_mount has asked already)
            self.action_refresh()

    def action_refresh(self) -> None:
        self.load_rows()

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-refresh")
    def load_rows(self) -> None:
        rows = fold_sweeps(read_run_rows(self.runs_root), self.runs_root)
        self.app.call_from_thread(self.show_rows, rows)

    def show_rows(self, rows: list[RunRow]) -> None:
        if self.drawn and rows == self.every:
            return  # nothing changed: a 5,000-run list is not rebuilt every two seconds
        self.every = rows
        self.marked &= {row.path for row in rows}  # a deleted run is no longer marked
        self.redraw()

    def redraw(self) -> None:
        """Fill the table from `every` through the filter and the sort, keeping the cursor on its run."""
        self.drawn = True
        table = self.query_one(VirtualTable)
        try:
            self.rows = select_rows(self.every, self.filter_text, self.sort)
            problem, self._filter_told = "", ""  # the same bad filter typed again is told again
        except ConfigError as error:
            self.rows, problem = select_rows(self.every, "", self.sort), f" ─ ✗ {error}"
            if self._filter_told != self.filter_text:  # the title cuts a long reason: said whole, once a filter
                self._filter_told = self.filter_text
                self.notify(str(error), severity="error", timeout=10)
        live = sum(row.state in (State.RUNNING, State.STALLED) for row in self.every)
        total = f"{len(self.every)} run{'' if len(self.every) == 1 else 's'}"
        shown = f"{len(self.rows)} of {total}" if len(self.rows) < len(self.every) else total
        marks = f" · {len(self.marked)} marked" if self.marked else ""
        view = f" ─ sort: {self.sort}" + (f" · filter: {self.filter_text}" if self.filter_text else "")
        self.query_one("#runs-title", Static).update(
            f"seglab ─ runs in {self.runs_root} ─ {shown} · {live} live{marks}{view}{problem}")
        self.query_one("#runs-empty").display = not self.every
        table.display = bool(self.every)
        width = self.name_width()
        table.set_rows(self.rows, key=lambda row: str(row.path), cells=lambda row: self.cells(row, width),
                       widths=self.widths(width))  # cells are made for the rows drawn; the cursor stays on its run

    def cells(self, row: RunRow, name_width: int) -> list[str | Text]:
        dice = f"{row.best_dice:.3f}" if row.best_dice is not None else "-"
        cells: list[str | Text] = [
            "✓" if row.path in self.marked else " ", middle_ellipsis(row.name, name_width), row.model,
            middle_ellipsis(row.data, DATA_WIDTH),
            Text(row.state, style=STATE_STYLES.get(row.state, "")), f"{row.epoch}/{row.epochs}", dice,
            format_started(row.started, with_year=False)]
        if self.narrow:
            del cells[3]  # DATA
        return cells

    def widths(self, name_width: int) -> list[int]:
        """Each column's width from the rows' values, without making every row's cells."""
        def widest(values: Iterator[int]) -> int:
            return max(values, default=0)

        rows = self.rows
        widths = [1, widest(min(len(row.name), name_width) for row in rows), widest(len(row.model) for row in rows),
                  widest(min(len(row.data), DATA_WIDTH) for row in rows), widest(len(row.state) for row in rows),
                  widest(len(f"{row.epoch}/{row.epochs}") for row in rows), 5, 11]
        if self.narrow:
            del widths[3]
        return widths

    def selected_row(self) -> RunRow | None:
        table = self.query_one(VirtualTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    @on(VirtualTable.RowSelected)
    def action_open_run(self) -> None:
        row = self.selected_row()
        if row is not None and row.is_sweep:
            self.app.open_sweep(row.sweep)
        elif row is not None:
            self.app.open_run(row.path)

    def action_new_run(self) -> None:
        self.app.open_new_run_form()

    def action_predict(self) -> None:
        row = self.selected_row()
        if row is not None and row.is_sweep:
            self.notify("a sweep: open it (enter) and predict with one of its trials", severity="warning")
        elif row is not None:
            self.app.open_predictions(row.path)

    def action_demo(self) -> None:
        self.app.start_demo()

    def action_mark(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        if row.is_sweep:
            self.notify("a sweep: open it (enter) to mark and compare its trials", severity="warning")
            return
        self.marked ^= {row.path}
        self.redraw()
        table = self.query_one(VirtualTable)
        if table.cursor_row < len(self.rows) - 1:
            table.move_cursor(row=table.cursor_row + 1, animate=False)  # mark down the list, as file managers do

    def action_compare(self) -> None:
        marked = [row.path for row in self.every if row.path in self.marked]
        if len(marked) < 2:
            self.notify("mark two or more runs with space, then press c", severity="warning")
            return
        self.app.open_compare(marked)

    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.display = True
        box.value = self.filter_text
        box.focus()

    @on(Input.Submitted, "#runs-filter")
    def filter_submitted(self, event: Input.Submitted) -> None:
        self.filter_text = event.value.strip()
        self.query_one("#runs-filter").display = bool(self.filter_text)
        self.query_one(VirtualTable).focus()
        self.redraw()

    def key_escape(self) -> None:
        box = self.query_one("#runs-filter", Input)
        if box.display:
            box.value, self.filter_text, box.display = "", "", False
            self.query_one(VirtualTable).focus()
            self.redraw()

    def action_sort(self) -> None:
        self.sort = SORT_KEYS[(SORT_KEYS.index(self.sort) + 1) % len(SORT_KEYS)]
        self.redraw()
