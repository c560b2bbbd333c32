"""Run folders: create, find, list, and read or rewrite their status.json atomically.

runs/<YYYYmmdd-HHMMSS>-<model>-<name>/ holds config.json, events.jsonl, progress.json, status.json,
checkpoints/{last,best}.pt, predictions/<name>/ and curves.png.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core.config import SYNTHETIC, TrainConfig, load_config, save_config
from core.errors import ConfigError, SeglabError
from core.processes import pid_is_alive
from core.runs.status import LIVE_STATES, RunStatus, State, read_status_file, update_status
from core.runs.status_recovery import recovered_status

RUNS_DIR_ENV = "SEGLAB_RUNS_DIR"


def runs_root(explicit: str | Path | None = None) -> Path:
    """The runs folder: an explicit path, else $SEGLAB_RUNS_DIR, else ./runs; refused when that is a file (every
    command would otherwise find "no runs yet" there, or fail to make a run in it)."""
    root = Path(explicit or os.environ.get(RUNS_DIR_ENV) or "runs")
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: is a file, not a runs folder")
    return root


def resolve_inside(path: Path, folder: Path, what: str) -> Path:
    """`path` with symlinks resolved, refused unless it lies inside `folder` (also resolved)."""
    resolved, inside = Path(path).resolve(), Path(folder).resolve()
    if resolved != inside and inside not in resolved.parents:
        raise ConfigError(f"{what}: {path} is outside {folder}")
    return resolved


@dataclass(frozen=True)
class Run:
    """A run folder and the well-known paths inside it."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def progress_path(self) -> Path:
        """The latest progress event inside the current epoch (core/runs/events.py writes it)."""
        return self.path / "progress.json"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def predictions_dir(self) -> Path:
        return self.path / "predictions"

    @property
    def curves_path(self) -> Path:
        return self.path / "curves.png"

    @property
    def results_path(self) -> Path:
        return self.path / "results.csv"

    def checkpoint_path(self, which: str) -> Path:
        """'best' or 'last' name the run's own checkpoints; anything else is a file path."""
        if which in ("best", "last"):
            return self.checkpoints_dir / f"{which}.pt"
        return Path(which)

    def load_config(self) -> TrainConfig:
        return load_config(self.config_path)

    def read_status(self) -> RunStatus:
        """status.json; where it is missing or damaged, the status the run's event log tells (status_recovery)."""
        status = read_status_file(self.status_path)
        if status is not None:
            return status
        recovered = recovered_status(self.path)
        return RunStatus.from_dict(recovered) if recovered is not None else RunStatus()

    def update_status(self, **changes: Any) -> RunStatus:
        """Apply changes (RunStatus fields) to status.json, rewritten atomically."""
        return update_status(self.status_path, **changes)

    def has_started(self) -> bool:
        """Whether training ever started here: events written or a checkpoint saved. A folder the dashboard
        only prepared (config.json and status 'created') has not."""
        return self.events_path.exists() or any(self.checkpoints_dir.glob("*.pt"))

    def temp_files(self) -> list[Path]:
        """The temp files of atomic writes (.NAME.*.tmp) in the run folder and checkpoints/: a killed process
        leaves them (a ResNet34-UNet .last.pt.*.tmp is hundreds of MB)."""
        return sorted([*self.checkpoints_dir.glob(".*.tmp"), *self.path.glob(".*.tmp")])

    def sweep_temp_files(self) -> list[Path]:
        """Delete the temp files of the training process's own writes (checkpoints, status, config, progress);
        another command's (an evaluate writing eval-test.json) stays. Call it only while no other process
        trains this run."""
        own = (".status.json.", ".config.json.", ".progress.json.")
        leftovers = [path for path in self.temp_files()
                     if path.name.startswith(own) or (path.parent == self.checkpoints_dir and ".pt." in path.name)]
        for path in leftovers:
            path.unlink(missing_ok=True)
        return leftovers

    def state(self, status: RunStatus | None = None) -> str:
        """The state to show: a run marked running whose process is gone here is 'interrupted'; one whose process
        has written nothing for longer than its watchdog's limit (a process paused outright, whose watchdog is
        paused too) is 'stalled'. `status`: this run's status.json when the caller has read it already."""
        status = status or self.read_status()
        here = status.host == socket.gethostname()
        if status.state in LIVE_STATES and status.pid and here and not pid_is_alive(int(status.pid)):
            return State.INTERRUPTED
        if status.state == State.RUNNING and status.stall_after_s and self.quiet_s(status) > status.stall_after_s:
            return State.STALLED
        return status.state

    def quiet_s(self, status: RunStatus | None = None) -> float:
        """Seconds since the run last wrote an event or its status."""
        last = self.last_written(status)
        return time.time() - last if last else 0.0

    def last_written(self, status: RunStatus | None = None) -> float:
        """When the run last wrote an event, its progress or its status (0.0: never)."""
        status = status or self.read_status()
        last = status.updated or 0.0
        for path in (self.events_path, self.progress_path):  # progress inside an epoch only touches progress.json
            with contextlib.suppress(OSError):
                last = max(last, path.stat().st_mtime)
        return last


def data_tag(data: str) -> str:
    if data == SYNTHETIC:
        return "synthetic"
    tag = Path(data).name or "data"
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in tag)[:24]


def create_run(config: TrainConfig, root: Path, run_dir: Path | None = None) -> Run:
    """Make a new run folder with config.json and status 'created'.

    The folder name is <timestamp>-<model>-<name>; runs started in the same second get -2, -3...
    Paths in the config are stored absolute (the caller should train with the same: `with_absolute_paths`).
    """
    config = config.with_absolute_paths()
    if run_dir is None:
        root.mkdir(parents=True, exist_ok=True)
        stem = f"{datetime.now():%Y%m%d-%H%M%S}-{config.model}-{config.name or data_tag(config.data)}"
        path, n = root / stem, 1
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:
                n += 1
                path = root / f"{stem}-{n}"
    else:
        path = run_dir
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            hint = "; continue it with `seglab train --resume`" if (path / "checkpoints").is_dir() else ""
            raise SeglabError(f"{path}: run folder already exists{hint}") from None
    run = Run(path)
    run.checkpoints_dir.mkdir()
    save_config(config, run.config_path)
    run.update_status(state=State.CREATED, host=socket.gethostname(), epochs=config.epochs, model=config.model,
                      data=config.data, created=time.time())
    return run


def open_prepared_run(run_dir: Path) -> Run:
    """A run folder prepared with its config.json (as the dashboard does) that has never trained; a folder that
    already holds a run is refused, since training it again would overwrite its checkpoints."""
    run = Run(run_dir)
    if run.has_started():
        raise SeglabError(f"--run-dir: {run_dir} already holds a run; continue it with "
                          f"`seglab train --resume {run_dir}`")
    return run


def open_run(ref: str | Path, root: Path) -> Run:
    """Find a run by folder path, by a unique prefix of its folder name in the runs folder, or by the --name it
    was given (the part after the time and model: `pets` for 20261128-142501-unet-pets). Reads the runs folder's
    names only, so it costs the same with thousands of runs."""
    path = Path(ref)
    if (path / "config.json").is_file():
        return Run(path)
    if _is_damaged_run(path):
        raise SeglabError(_damaged(path))
    matches = [root / name for name in _folder_names(root) if name.startswith(str(ref))]
    exact = [p for p in matches if p.name == str(ref)]
    if exact and _is_run(exact[0]):
        return Run(exact[0])
    matches = [p for p in matches if _is_run(p)]
    if not matches:
        matches = [root / name for name in _folder_names(root) if is_named(name, str(ref)) and _is_run(root / name)]
    if len(matches) == 1:
        return Run(matches[0])
    if not matches:
        damaged = [root / name for name in _folder_names(root) if name.startswith(str(ref))
                   and _is_damaged_run(root / name)]
        if len(damaged) == 1:
            raise SeglabError(_damaged(damaged[0]))
        raise SeglabError(f"{ref}: no run folder, run name starting with it or run named so in {root}")
    matches.sort(key=lambda p: p.name, reverse=True)
    names = ", ".join(p.name for p in matches[:5])
    raise SeglabError(f"{ref}: matches {len(matches)} runs ({names}); give more of the name")


def is_named(folder: str, name: str) -> bool:
    """Whether a run folder is named `name`: by its whole name, or by the name part of <timestamp>-<model>-<name>
    (create_run adds -2, -3 to a repeated one). 'pets' names ...-unet-pets and ...-unet-pets-2, not ...-unet-my-pets."""
    parts = folder.split("-", 3)  # YYYYMMDD, HHMMSS, the model (no '-' in model names), the name
    given = parts[3] if len(parts) == 4 else ""
    return folder == name or given == name or re.fullmatch(rf"{re.escape(name)}-\d+", given) is not None


def _folder_names(root: Path) -> list[str]:
    """The sub-folder names of the runs folder: one directory read, no stat per folder."""
    try:
        with os.scandir(root) as listing:
            return [item.name for item in listing if not item.name.startswith(".") and item.is_dir()]
    except OSError:
        return []


def _is_run(path: Path) -> bool:
    return (path / "config.json").is_file()


def _is_damaged_run(path: Path) -> bool:
    """A run folder (listed, by its status.json) whose config.json is gone: it cannot be evaluated or resumed."""
    return (path / "status.json").is_file() and not (path / "config.json").exists()


def _damaged(path: Path) -> str:
    return f"{path / 'config.json'}: missing; this run folder lost its settings (a damaged copy?)"


def list_runs(root: Path) -> list[Run]:
    """Every run folder in the runs root, newest first."""
    return [Run(root / name) for name in run_names(root)]


def run_names(root: Path, prefix: str = "") -> list[str]:
    """The names of the run folders in `root` that start with `prefix`, newest first: one directory read, then a
    stat for each name that matches (shell completion reads no more than it completes)."""
    names = [name for name in _folder_names(root) if name.startswith(prefix) and _is_run(root / name)]
    return sorted(names, reverse=True)
