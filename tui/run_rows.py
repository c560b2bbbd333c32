"""Rows for the runs list (screen and `seglab runs`), read from each run's status.json (called from a worker
thread), their filtering and sort order, and (the dashboard) each sweep's trials folded into one row."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError
from core.runs.filtering import RunFilter
from core.runs.run_index import run_entries
from core.runs.status import LIVE_STATES


@dataclass(frozen=True)
class RunRow:
    path: Path
    name: str
    model: str
    data: str
    state: str
    epoch: int
    epochs: int
    best_dice: float | None
    started: float | None
    sweep: str = ""  # the sweep the run is a trial of; a folded sweep row: its name
    is_sweep: bool = False  # a row standing for a whole sweep (epoch/epochs: trials done/planned)


def read_run_rows(root: Path) -> list[RunRow]:
    """A row per run, from the runs folder's index (core/runs/run_index.py: only changed status files are read);
    the row of a run that has ended is made once per listing of it."""
    rows, made = [], {}
    for entry in run_entries(root):
        cached = _made.get(id(entry))
        if cached is not None and cached[0] is entry:
            row = cached[1]
        else:
            status = entry.status
            row = RunRow(path=entry.run.path, name=entry.name, model=status.model or "?", data=_data_name(status.data),
                         state=entry.state(), epoch=status.epoch, epochs=status.epochs, best_dice=status.best_dice,
                         started=status.first_started, sweep=entry.sweep)
        if row.state not in LIVE_STATES:  # a live run's state also depends on its process and its log's age
            made[id(entry)] = (entry, row)
        rows.append(row)
    _made.clear()
    _made.update(made)
    return rows


_made: dict[int, tuple[object, RunRow]] = {}  # id(RunEntry) -> (the entry, its row): the rows of the last listing


@functools.lru_cache(maxsize=1024)
def _data_name(data: str) -> str:
    return Path(data).name or "?"


def fold_sweeps(rows: list[RunRow], root: Path) -> list[RunRow]:
    """The runs with each sweep's trials folded into one row: trials done of planned, its best val Dice, running
    while a trial runs (the dashboard's runs screen; `seglab runs` lists the trials themselves)."""
    from core.errors import SeglabError
    from core.runs.status import State
    from core.sweeps.plan import read_plan
    from core.sweeps.storage import sweep_folder

    trials: dict[str, list[RunRow]] = {}
    folded = []
    for row in rows:
        (trials.setdefault(row.sweep, []) if row.sweep else folded).append(row)
    for name, members in trials.items():
        try:
            planned = read_plan(root, name).trials
        except SeglabError:
            planned = len(members)
        done = sum(row.state in (State.FINISHED, State.PRUNED) for row in members)
        running = any(row.state == State.RUNNING for row in members)
        state = State.RUNNING if running else State.FINISHED if done >= planned else State.STOPPED
        scores = [row.best_dice for row in members if row.best_dice is not None and row.state == State.FINISHED]
        models = {row.model for row in members}
        folded.append(RunRow(
            path=sweep_folder(root, name), name=f"{name} (sweep of {len(members)})",
            model=models.pop() if len(models) == 1 else "several", data=members[0].data, state=state, epoch=done,
            epochs=planned, best_dice=max(scores, default=None),
            started=min((row.started for row in members if row.started), default=None), sweep=name, is_sweep=True))
    return folded


def middle_ellipsis(text: str, width: int) -> str:
    """`text` cut to `width` characters by replacing its middle with "…": a run name keeps its time and its
    --name, the parts a user tells runs apart by."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = width // 2  # the time, then "…", then the end of the --name
    return f"{text[:head]}…{text[len(text) - (width - 1 - head):]}"


def format_started(seconds: float | None, with_year: bool = True) -> str:
    pattern = "%Y-%m-%d %H:%M" if with_year else "%m-%d %H:%M"
    return time.strftime(pattern, time.localtime(seconds)) if seconds else "-"


# Sort columns, in the order `s` cycles through them on the runs screen; the first is the default.
SORT_KEYS = ("started", "name", "model", "dice", "state")


def filter_values(row: RunRow) -> dict[str, str | float | None]:
    """A row's values as core/runs/filtering.py's RunFilter reads them."""
    return {"name": row.name, "model": row.model, "data": row.data, "state": row.state, "dice": row.best_dice,
            "epoch": row.epoch, "epochs": row.epochs}


def sorted_rows(rows: list[RunRow], key: str) -> list[RunRow]:
    """Rows by `key`: newest first for started, best first for dice, A to Z for the texts."""
    if key not in SORT_KEYS:
        raise ConfigError(f"sort: {key!r} is not one of {', '.join(SORT_KEYS)}")
    if key == "started":
        return sorted(rows, key=lambda row: row.started or 0.0, reverse=True)
    if key == "dice":  # best first, runs without a score last
        return sorted(rows, key=lambda row: (row.best_dice is None, -(row.best_dice or 0.0)))
    return sorted(rows, key=lambda row: (str(getattr(row, key)).lower(), -(row.started or 0.0)))


def select_rows(rows: list[RunRow], filter_text: str = "", sort: str = SORT_KEYS[0]) -> list[RunRow]:
    """The rows a filter text keeps, in `sort` order; a bad filter or sort is a one-line ConfigError."""
    keep = RunFilter.parse(filter_text)
    return sorted_rows([row for row in rows if keep.matches(filter_values(row))], sort)
