"""Learning-rate schedules, stepped once per optimizer step: linear warmup, then constant or cosine decay."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from core.config import TrainConfig

WARMUP_START_FACTOR = 0.01  # warmup climbs from lr/100


def lr_factor(step: int, config: TrainConfig, steps_per_epoch: int, epochs: int | None = None) -> float:
    """The multiple of config.lr used for optimizer step `step` (0-based); the cosine decays over `epochs`
    (default config.epochs; a --time-budget run passes the count planned so far)."""
    warmup = config.warmup_epochs * steps_per_epoch
    if step < warmup:
        return WARMUP_START_FACTOR + (1 - WARMUP_START_FACTOR) * step / warmup
    if config.scheduler != "cosine":
        return 1.0
    decay_steps = max((epochs or config.epochs) * steps_per_epoch - warmup, 1)
    progress = min((step - warmup) / decay_steps, 1.0)
    return 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int,
                    epochs: Callable[[], int] | None = None) -> torch.optim.lr_scheduler.LambdaLR | None:
    """None for a constant lr; else a LambdaLR whose state (the step count) checkpoints and resumes.

    `epochs` gives the planned total at each step when it can change during the run (--time-budget).
    """
    if config.scheduler == "none" and config.warmup_epochs == 0:
        return None
    planned = epochs or (lambda: config.epochs)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config, steps_per_epoch, planned()))
