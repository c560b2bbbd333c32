"""Checks made before training starts, so a run fails in its first second rather than hours in:
a runs folder we can write to, and disk space for the checkpoints."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import SeglabError

if TYPE_CHECKING:  # the CLI and dashboard import this module; they must not pay for torch
    from torch import nn

CHECKPOINT_FILES = 3  # best.pt, last.pt and the temp file a new last.pt is written to


def ensure_writable_folder(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".seglab-write-check-"):
            pass
    except OSError as error:
        raise SeglabError(f"{folder}: cannot write here ({error.strerror or error})") from None


def checkpoint_bytes(model: nn.Module) -> int:
    """About one checkpoint's size: weights and buffers plus AdamW's two moments per weight, fp32."""
    parameters = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    return 4 * (3 * parameters + buffers)


def ensure_disk_space(folder: Path, model: nn.Module) -> None:
    needed = CHECKPOINT_FILES * checkpoint_bytes(model)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise SeglabError(f"{folder}: not enough free disk space for checkpoints: need about "
                          f"{needed / 2**20:.0f} MB, {free / 2**20:.0f} MB free")
