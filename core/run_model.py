"""A run's network: `model_for(config)` builds the model a TrainConfig describes (its architecture, output channels
and width), freshly initialised: the one place training, estimates, checkpoints and compare make it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.config import TrainConfig
from core.models import build_model

if TYPE_CHECKING:
    from torch import nn


def model_for(config: TrainConfig) -> nn.Module:
    """The network of `config`: config.model at config.width with one output channel per class (1 for binary).
    Starting weights (--init-from, --encoder-weights) are loaded separately (core/training/initial_weights.py)."""
    return build_model(config.model, num_classes=config.out_channels, width=config.width)
