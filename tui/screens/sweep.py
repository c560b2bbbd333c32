"""A sweep: its trials live (parameters, state, best val Dice, epochs, time, pruned at), the best val Dice so far
against time, and the parameters' importances; `enter` opens a trial's run, `space` marks trials and `c` compares
them. It reads the study and the trials' run folders; it starts nothing."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from core.errors import SeglabError
from core.sweeps.summary import TrialRow, best_so_far, importances, trial_rows
from tui.widgets.braille import braille_chart
from tui.worker_failures import ReportsWorkerFailures

REFRESH_SECONDS = 2.0
COLUMNS = ("✓", "#", "PARAMETERS", "STATE", "BEST DICE", "EP", "TIME", "PRUNED AT")
CHART_WIDTH, CHART_HEIGHT = 30, 4


class SweepScreen(ReportsWorkerFailures, Screen):
    """One sweep's trials, refreshed every two seconds from its study (read in a worker)."""

    BINDINGS = [
        Binding("enter", "open_trial", "open"),
        Binding("space", "mark", "mark"),
        Binding("c", "compare", "compare"),
        Binding("escape", "app.pop_screen", "back"),
    ]

    def __init__(self, runs_root: Path, name: str) -> None:
        super().__init__()
        self.runs_root, self.sweep = runs_root, name
        self.rows: list[TrialRow] = []
        self.marked: set[int] = set()
        self.plan = self.study = None

    def compose(self) -> ComposeResult:
        yield Static(f"sweep {self.sweep}", id="sweep-title", classes="screen-title")
        yield DataTable(id="sweep-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="sweep-side"):
            yield Static("", id="sweep-best")
            yield Static("", id="sweep-importance")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in COLUMNS:
            table.add_column(label, key=label)
        self.refresh_trials()
        self.set_interval(REFRESH_SECONDS, self.refresh_trials)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep-refresh")
    def refresh_trials(self) -> None:
        from core.sweeps.plan import read_plan
        from core.sweeps.sweep import open_study

        if self.study is None:  # opened once: its database connection serves every refresh
            self.plan = read_plan(self.runs_root, self.sweep)
            self.study = open_study(self.plan, self.plan.dimensions())
        rows = trial_rows(self.study)
        self.app.call_from_thread(self.show_trials, self.plan.trials, rows, importances(self.study))

    def show_trials(self, planned: int, rows: list[TrialRow], found_importances: dict[str, float]) -> None:
        self.rows = rows
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row("✓" if row.number in self.marked else " ", str(row.number), row.params_text(), row.state,
                          f"{row.best_dice:.4f}" if row.best_dice is not None else "-", str(row.epochs),
                          f"{row.seconds / 60:.1f}m" if row.seconds else "-",
                          f"ep {row.pruned_at}" if row.pruned_at else "-", key=str(row.number))
        if cursor is not None and 0 <= cursor < len(rows):
            table.move_cursor(row=cursor, animate=False)
        done = sum(row.state in ("finished", "pruned") for row in rows)
        running = sum(row.state == "running" for row in rows)
        pruned = sum(row.state == "pruned" for row in rows)
        finished = [row for row in rows if row.state == "finished" and row.best_dice is not None]
        best = max(finished, key=lambda row: row.best_dice, default=None)
        best_text = f" ─ best {best.best_dice:.4f} (trial {best.number})" if best else ""
        self.query_one("#sweep-title", Static).update(
            f"sweep {self.sweep} ─ {done}/{planned} done · {running} running · {pruned} pruned{best_text}")
        curve = best_so_far(rows)
        chart = best_chart([value for _, value in curve])
        minutes = f"{curve[-1][0] / 60:.0f} min of trials" if curve else "no finished trial yet"
        self.query_one("#sweep-best", Static).update("\n".join(["best val Dice so far", *chart, minutes]))
        lines = [f"{name:<14} {'█' * round(value * 20):<20} {value:.2f}" for name, value in found_importances.items()]
        self.query_one("#sweep-importance", Static).update("\n".join(
            ["importance", *(lines or ["after two finished trials"])]))

    def selected(self) -> TrialRow | None:
        table = self.query_one(DataTable)
        if table.cursor_row is None or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    @on(DataTable.RowSelected)
    def action_open_trial(self) -> None:
        row = self.selected()
        if row is None:
            return
        path = self.runs_root / row.run if row.run else None
        if path is None or not (path / "config.json").is_file():
            self.notify(f"trial {row.number} has no run folder on this machine ({row.host or 'not started'})",
                        severity="warning")
            return
        self.app.open_run(path)

    def action_mark(self) -> None:
        row = self.selected()
        if row is not None:
            self.marked ^= {row.number}
            table = self.query_one(DataTable)
            table.update_cell(str(row.number), "✓", "✓" if row.number in self.marked else " ")
            if table.cursor_row < table.row_count - 1:
                table.move_cursor(row=table.cursor_row + 1, animate=False)  # down the list, as in the runs list

    def action_compare(self) -> None:
        paths = [self.runs_root / row.run for row in self.rows
                 if row.number in self.marked and row.run and (self.runs_root / row.run / "config.json").is_file()]
        if len(paths) < 2:
            self.notify("mark two or more trials with space, then press c", severity="warning")
            return
        try:
            self.app.open_compare(paths)
        except SeglabError as error:
            self.notify(str(error), severity="error")


def best_chart(values: list[float]) -> list[str]:
    """The best-so-far line with its scale: the top value left of the first line, the bottom one left of the last
    (a sweep whose first trial stays best is a level line in the middle, not one along the bottom)."""
    if not values:
        return []
    low, high = min(values), max(values)
    if high - low < 1e-3:
        low, high = low - 5e-3, high + 5e-3
    lines = braille_chart(values, CHART_WIDTH, CHART_HEIGHT, low=low, high=high)
    labels = [f"{high:.3f}", *([""] * (len(lines) - 2)), f"{low:.3f}"] if len(lines) > 1 else [f"{high:.3f}"]
    return [f"{label:>5} {line}" for label, line in zip(labels, lines, strict=True)]
