"""Reading a local torch weights file for an encoder or backbone: a state dict, or one CheckpointError line naming
the file (missing, unreadable, or not a mapping of weights)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from core.errors import CheckpointError


def load_weights_file(path: str | Path, expected: str) -> Mapping[str, torch.Tensor]:
    """The state dict in `path`; `expected` names what it should hold, for the message when it holds something else."""
    path = Path(path)
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: encoder weights file not found") from None
    except Exception as error:
        raise CheckpointError(f"{path}: not a readable torch weights file ({type(error).__name__})") from error
    if not isinstance(weights, Mapping):
        raise CheckpointError(f"{path}: not a state dict (expected {expected})")
    return weights
