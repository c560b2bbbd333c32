"""A runs folder's listing that stays fast with thousands of runs: each run's status.json (and sweep tag) is read
once and cached by the modification times of the run folder and its status.json, in memory and in the folder's
.seglab-index.json, so a listing costs a directory read and two stat calls a run."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.atomic_files import atomic_write_text
from core.runs.folders import Run
from core.runs.status import RunStatus

INDEX_FILE = ".seglab-index.json"
INDEX_VERSION = 1  # a change of LISTED_FIELDS or of the entries' shape: add one
SWEEP_TAG = "sweep.json"  # in a sweep trial's run folder: {"sweep", "trial", "params"} (core/sweeps writes it)
# A file changed this recently may change again within the file system's clock tick without its mtime moving
# (git's "racy clean" problem): such entries are read again next time rather than trusted.
RACY_S = 2.0
# the status fields a listing shows or needs to tell the state (the index keeps no more: 5,000 runs in 1 MB)
LISTED_FIELDS = ("state", "pid", "host", "created", "started", "updated", "epoch", "epochs", "best_dice", "model",
                 "data", "stall_after_s")

_memory: dict[str, dict[str, tuple[list[Any], RunEntry]]] = {}  # resolved runs folder -> {name: (entry, run)}
_lock = threading.Lock()


@dataclass(frozen=True)
class RunEntry:
    """A run as a listing sees it: its folder, its status.json's LISTED_FIELDS and the sweep it is a trial of ('' if
    none)."""

    run: Run
    status: RunStatus
    sweep: str = ""

    @property
    def name(self) -> str:
        return self.run.name

    def state(self) -> str:
        """The state to show (Run.state: a dead process reads 'interrupted', a quiet one 'stalled')."""
        return self.run.state(self.status)


def run_entries(root: Path) -> list[RunEntry]:
    """Every run folder in `root` (a folder holding status.json or config.json) with its status, newest name
    first. Reads only the status files that changed since the last listing (of this process or, through the
    index file, of another)."""
    root = Path(root)
    if not root.is_dir():
        return []
    key = str(root.resolve())
    with _lock:
        known = _memory.get(key)
        if known is None:
            known = {name: (entry, _entry(root / name, entry)) for name, entry in _read_index(root).items()}
        fresh, changed = _scan(root, known)
        _memory[key] = fresh
    if fresh and (changed or fresh.keys() != known.keys()):  # a folder without runs gets no file from a listing
        _write_index(root, {name: entry for name, (entry, _) in fresh.items()})
    return [fresh[name][1] for name in sorted(fresh, reverse=True)]


def _entry(folder: Path, entry: list[Any]) -> RunEntry:
    return RunEntry(Run(folder), RunStatus.from_dict(entry[2]), entry[3])


def _scan(root: Path, known: dict[str, tuple[list[Any], RunEntry]]) -> tuple[dict[str, tuple[list[Any], RunEntry]],
                                                                              bool]:
    """(stat key, status, sweep, racy) and the RunEntry of every run folder; whether any was read anew."""
    fresh: dict[str, tuple[list[Any], RunEntry]] = {}
    changed = False
    racy_after = time.time_ns() - int(RACY_S * 1e9)
    with os.scandir(root) as listing:
        for item in listing:
            if item.name.startswith(".") or not item.is_dir():
                continue
            try:
                folder_mtime = item.stat().st_mtime_ns
            except OSError:
                continue
            try:
                status_mtime = os.stat(os.path.join(item.path, "status.json")).st_mtime_ns
            except OSError:
                status_mtime = 0
                if not os.path.isfile(os.path.join(item.path, "config.json")):
                    continue  # not a run folder
            cached = known.get(item.name)
            if cached is not None and cached[0][:2] == [folder_mtime, status_mtime] and not cached[0][4]:
                fresh[item.name] = cached
                continue
            racy = max(folder_mtime, status_mtime) > racy_after
            folder = Path(item.path)
            status = _read_json(folder / "status.json")
            if not status:  # missing or damaged: told by the event log, which the stat key does not cover
                status, racy = Run(folder).read_status().to_dict(), True
            listed = {name: status[name] for name in LISTED_FIELDS if name in status}
            entry = [folder_mtime, status_mtime, listed, _sweep_name(folder), racy]
            fresh[item.name] = (entry, _entry(folder, entry))
            changed = True
    return fresh, changed


def _read_json(path: Path) -> dict[str, Any]:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return values if isinstance(values, dict) else {}


def _sweep_name(folder: Path) -> str:
    sweep = _read_json(folder / SWEEP_TAG).get("sweep")
    return str(sweep) if sweep else ""


def _read_index(root: Path) -> dict[str, list[Any]]:
    values = _read_json(root / INDEX_FILE)
    runs = values.get("runs") if values.get("version") == INDEX_VERSION else None
    if not isinstance(runs, dict):
        return {}
    return {name: entry for name, entry in runs.items()
            if isinstance(entry, list) and len(entry) == 5 and isinstance(entry[2], dict)}


def _write_index(root: Path, entries: dict[str, list[Any]]) -> None:
    """The cache for the next process; a runs folder we may not write to is listed all the same."""
    with contextlib.suppress(OSError):
        atomic_write_text(root / INDEX_FILE, json.dumps({"version": INDEX_VERSION, "runs": entries},
                                                        separators=(",", ":")))
