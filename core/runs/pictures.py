"""Where a run keeps its progress pictures (progress/epoch-NNNN.png, drawn by core/training/progress_images.py) and
how readers list them, without torch: the dashboard pages through them."""

from __future__ import annotations

import re
from pathlib import Path

PROGRESS_FOLDER = "progress"
EPOCH_FILE = re.compile(r"epoch-(\d+)\.png$")


def progress_path(run_path: Path, epoch: int) -> Path:
    return Path(run_path) / PROGRESS_FOLDER / f"epoch-{epoch:04d}.png"


def progress_pictures(run_path: Path) -> list[tuple[int, Path]]:
    """The run's progress pictures as (epoch, path), in epoch order."""
    found = []
    for path in (Path(run_path) / PROGRESS_FOLDER).glob("epoch-*.png"):
        match = EPOCH_FILE.search(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)
