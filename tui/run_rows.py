"""Rows for the runs list (screen and `seglab runs`), read from each run's status.json (called from a worker
thread), and their filtering and sort order."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError
from core.runs.filtering import RunFilter
from core.runs.folders import list_runs


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


def read_run_rows(root: Path) -> list[RunRow]:
    rows = []
    for run in list_runs(root):
        status = run.read_status()
        rows.append(RunRow(
            path=run.path, name=run.name, model=status.model or "?", data=Path(status.data).name or "?",
            state=run.state(), epoch=status.epoch, epochs=status.epochs, best_dice=status.best_dice,
            started=status.started_or_created,
        ))
    return rows


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
