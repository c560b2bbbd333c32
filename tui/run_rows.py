"""Rows for the runs screen, read from each run's status.json (called from a worker thread)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

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


def format_started(seconds: float | None, with_year: bool = True) -> str:
    pattern = "%Y-%m-%d %H:%M" if with_year else "%m-%d %H:%M"
    return time.strftime(pattern, time.localtime(seconds)) if seconds else "-"
