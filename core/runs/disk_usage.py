"""How much disk a run folder takes, by kind (checkpoints, predictions, exports, logs, other), from file sizes
alone: os.scandir and stat, never a file's contents, so thousands of runs are measured quickly."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("checkpoints", "predictions", "exports", "logs", "other")

# A run folder's top-level entries by kind; anything else (config.json, status.json, results.csv, curves.png,
# progress/ pictures, eval-*.json) is "other".
KIND_OF_ENTRY = {"checkpoints": "checkpoints", "predictions": "predictions", "export": "exports",
                 "events.jsonl": "logs", "progress.json": "logs", "train.log": "logs", "tensorboard": "logs"}
LOG_PREFIXES = ("events.",)  # events.jsonl and whatever is kept beside it (a rotated log, an index)

UNITS = ("kB", "MB", "GB", "TB", "PB")


@dataclass(frozen=True)
class TreeSize:
    """The files under a path: bytes, count, and the newest modification time (of a file or folder)."""

    bytes: int = 0
    files: int = 0
    newest: float = 0.0


@dataclass(frozen=True)
class RunDiskUsage:
    """A run folder's bytes by kind (KINDS) and its file count."""

    path: Path
    sizes: dict[str, int] = field(default_factory=dict)
    files: int = 0

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def total(self) -> int:
        return sum(self.sizes.values())


def tree_size(path: Path) -> TreeSize:
    """Bytes (apparent sizes), files and newest mtime under `path`, a file or a folder; symlinks are counted as
    links, never followed, and a path that vanishes while it is walked counts as empty."""
    total = files = 0
    newest = 0.0
    try:
        stat = os.lstat(path)
    except OSError:
        return TreeSize()
    if not os.path.isdir(path) or os.path.islink(path):
        return TreeSize(stat.st_size, 1, stat.st_mtime)
    newest = stat.st_mtime
    folders = [os.fspath(path)]
    while folders:
        try:
            with os.scandir(folders.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            folders.append(entry.path)
                            newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
                            continue
                        stat = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += stat.st_size
                    files += 1
                    newest = max(newest, stat.st_mtime)
        except OSError:
            continue
    return TreeSize(total, files, newest)


def kind_of(entry_name: str) -> str:
    """The kind (one of KINDS) of a top-level entry of a run folder."""
    if entry_name in KIND_OF_ENTRY:
        return KIND_OF_ENTRY[entry_name]
    return "logs" if entry_name.startswith(LOG_PREFIXES) else "other"


def run_disk_usage(path: Path) -> RunDiskUsage:
    """A run folder's sizes by kind; a folder that is gone measures as empty."""
    sizes = dict.fromkeys(KINDS, 0)
    files = 0
    try:
        names = [entry.name for entry in os.scandir(path)]
    except OSError:
        names = []
    for name in names:
        measured = tree_size(Path(path) / name)
        sizes[kind_of(name)] += measured.bytes
        files += measured.files
    return RunDiskUsage(Path(path), sizes, files)


def human_size(nbytes: float) -> str:
    """Bytes as people read them, in powers of 1000 as disks are sold: 950 B, 12.3 kB, 1.5 GB."""
    if nbytes < 1000:
        return f"{int(nbytes)} B"
    size = float(nbytes)
    for unit in UNITS:
        size /= 1000
        if size < 999.95 or unit == UNITS[-1]:
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")
