"""Choose the torch device for a run from 'auto', 'cpu', 'cuda' or 'mps'."""

from __future__ import annotations

import torch

from core.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then CPU; an explicit device that is absent is an error."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise ConfigError("device: cuda was asked for but torch sees no CUDA GPU")
    if name == "mps" and not mps:
        raise ConfigError("device: mps was asked for but this torch build or machine has no MPS")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device: {name!r} is not one of auto, cpu, cuda, mps")
    return torch.device(name)
