"""Checkpoint files: self-describing dicts written atomically and read with weights_only=True."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from core import __version__
from core.atomic_files import atomic_output
from core.errors import CheckpointError
from core.pause_points import pause_point

REQUIRED_KEYS = ("model", "epoch", "config")


def save_checkpoint_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write to a temp file in the same folder, fsync, then os.replace: a crash leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**payload, "seglab_version": __version__}
    with atomic_output(path, "wb") as f:
        torch.save(payload, f)
        pause_point("checkpoint-write")  # tests kill here: the temp file is written, not yet renamed


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a seglab checkpoint safely; every failure is one CheckpointError line naming the file."""
    if not path.is_file():
        hint = ""
        if path.name == "best.pt" and path.with_name("last.pt").is_file():  # stopped before its first validation
            hint = " (the run has last.pt: --checkpoint last uses it)"
        raise CheckpointError(f"{path}: no such checkpoint file{hint}")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles; the error below says it all
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        if not _looks_pickled(path):  # text or other bytes that happen to start with a pickle opcode
            raise CheckpointError(f"{path}: not a checkpoint (not written by torch.save)") from None
        raise CheckpointError(f"{path}: refused: it holds objects other than tensors and plain data, which "
                              "could run code when loaded (seglab loads with weights_only=True)") from None
    except Exception:  # torch's safe loader raises KeyError/IndexError/RuntimeError/... on foreign bytes
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated, or not written by torch.save)") from None
    if not isinstance(payload, dict) or any(key not in payload for key in REQUIRED_KEYS):
        raise CheckpointError(f"{path}: not a seglab checkpoint (expected keys {', '.join(REQUIRED_KEYS)})")
    return payload


def _looks_pickled(path: Path) -> bool:
    """Whether the file starts as torch.save writes (a zip archive, or the legacy format's pickle) or as any pickle
    of protocol 2 and later does."""
    with open(path, "rb") as f:
        start = f.read(4)
    return start.startswith((b"PK\x03\x04", b"\x80"))


def model_from_checkpoint(path: Path, map_location: str | torch.device = "cpu"):
    """Rebuild the model a checkpoint was trained as (from its saved config) and load its weights.

    Returns (model in eval mode, TrainConfig, payload).
    """
    from core.config import TrainConfig
    from core.errors import ConfigError
    from core.run_model import model_for

    payload = load_checkpoint(path, map_location)
    try:
        config = TrainConfig.from_dict(payload["config"], source=f"{path} config")
    except ConfigError as error:
        raise CheckpointError(str(error)) from None
    model = model_for(config)
    try:
        model.load_state_dict(payload["model"])
    except (RuntimeError, TypeError, AttributeError) as error:
        # torch's message opens with a generic line; the first specific one names a tensor
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = next((line for line in lines if "size mismatch" in line or "key" in line), lines[0] if lines else "")
        reason = reason[:200]
        raise CheckpointError(
            f"{path}: weights do not fit a {config.model} of width {config.width}{_classes_text(config)} ({reason})"
        ) from None
    return model.eval(), config, payload


def _classes_text(config) -> str:
    return f" with {config.classes} classes" if config.task == "multiclass" else ""


def checkpoint_class_names(payload: dict[str, Any], config) -> tuple[str, ...]:
    """The class names a checkpoint was trained with (older and binary ones: background, foreground)."""
    from core.data.labels import BINARY_NAMES, generic_names

    names = payload.get("class_names")
    if names:
        return tuple(str(name) for name in names)
    return generic_names(config.classes) if config.task == "multiclass" else BINARY_NAMES
