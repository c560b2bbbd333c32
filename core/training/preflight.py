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

def ensure_writable_folder(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".seglab-write-check-"):
            pass
    except OSError as error:
        raise SeglabError(f"{folder}: cannot write here ({error.strerror or error})") from None


def weights_bytes(model: nn.Module) -> int:
    """fp32 weights and buffers: best.pt, and each copy of the weights inside last.pt."""
    return 4 * (sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers()))


def last_checkpoint_bytes(model: nn.Module, ema: bool = False) -> int:
    """About last.pt's size: the weights, AdamW's two moments per weight and, with an EMA, the averaged weights."""
    moments = 2 * 4 * sum(p.numel() for p in model.parameters())
    return (2 if ema else 1) * weights_bytes(model) + moments


def checkpoint_bytes_needed(model: nn.Module, ema: bool = False) -> int:
    """Disk a run needs for checkpoints: last.pt, the temp file a new last.pt is written to, and best.pt, plus
    5 % for the pickle around the tensors (1-2 % for small models)."""
    return int(1.05 * (2 * last_checkpoint_bytes(model, ema) + weights_bytes(model)))


def ensure_disk_space(folder: Path, model: nn.Module, ema: bool = False) -> None:
    needed = checkpoint_bytes_needed(model, ema)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise SeglabError(f"{folder}: not enough free disk space for checkpoints: need about "
                          f"{needed / 2**20:.0f} MB, {free / 2**20:.0f} MB free")
