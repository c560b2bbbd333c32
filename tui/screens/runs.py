"""Home screen: every run in the runs folder with its live state; open, start, predict, demo."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from core.runs.status import State
from tui.run_rows import RunRow, format_started, read_run_rows
from tui.widgets.run_header import STATE_STYLES
from tui.worker_failures import ReportsWorkerFailures

REFRESH_SECONDS = 2.0
EMPTY_HELP = (
    "No runs here yet.\n\n"
    "  n  new run: pick a model, data and hyperparameters\n"
    "  d  demo: synthetic data, a small UNet, trained in a few minutes on a CPU\n\n"
    "Runs started with `seglab train` in another terminal appear here too."
)


class RunsScreen(ReportsWorkerFailures, Screen):
    """The run list, refreshed every two seconds from status.json files (read in a worker)."""

    BINDINGS = [
        Binding("enter", "open_run", "open", show=True),
        Binding("n", "new_run", "new run"),
        Binding("p", "predict", "predict"),
        Binding("d", "demo", "demo"),
        Binding("r", "refresh", "refresh", show=False),
        Binding("q", "app.quit", "quit"),
    ]

    def __init__(self, runs_root: Path) -> None:
        super().__init__()
        self.runs_root = runs_root
        self.rows: list[RunRow] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="runs-body"):
            yield Static(id="runs-title", classes="screen-title")
            yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
            yield Static(EMPTY_HELP, id="runs-empty")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in ("NAME", "MODEL", "DATA", "STATE", "EP", "DICE", "STARTED"):
            table.add_column(label, key=label)
        self.action_refresh()
        self.set_interval(REFRESH_SECONDS, self.action_refresh)

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self.load_rows()

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-refresh")
    def load_rows(self) -> None:
        rows = read_run_rows(self.runs_root)
        self.app.call_from_thread(self.show_rows, rows)

    def show_rows(self, rows: list[RunRow]) -> None:
        table = self.query_one(DataTable)
        selected = self.selected_row()
        self.rows = rows
        live = sum(row.state == State.RUNNING for row in rows)
        self.query_one("#runs-title", Static).update(
            f"seglab ─ runs in {self.runs_root} ─ {len(rows)} runs · {live} live")
        self.query_one("#runs-empty").display = not rows
        table.display = bool(rows)
        table.clear()
        for row in rows:
            dice = f"{row.best_dice:.3f}" if row.best_dice is not None else "-"
            state = f"[{STATE_STYLES.get(row.state, '')}]{row.state}[/]" if row.state in STATE_STYLES else row.state
            table.add_row(row.name, row.model, row.data, state, f"{row.epoch}/{row.epochs}", dice,
                          format_started(row.started, with_year=False), key=str(row.path))
        if selected is not None and str(selected.path) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected.path)), animate=False)

    def selected_row(self) -> RunRow | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    @on(DataTable.RowSelected)
    def action_open_run(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.app.open_run(row.path)

    def action_new_run(self) -> None:
        self.app.open_new_run_form()

    def action_predict(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.app.open_predictions(row.path)

    def action_demo(self) -> None:
        self.app.start_demo()
