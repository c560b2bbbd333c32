"""Starting weights (core/training/initial_weights.py): init_from a run's best weights, and a clear error on a
shape mismatch."""

from __future__ import annotations

import pytest
import torch

from core.errors import ConfigError
from core.models import build_model
from core.runs.events import StatusEvent, read_events
from core.training.checkpoints import load_checkpoint
from core.training.engine import train

from .helpers import new_run


def test_init_from_a_run_starts_from_its_best_weights_with_a_fresh_optimizer(tiny_config):
    first = new_run(tiny_config)
    train(tiny_config, first)
    config = tiny_config.replace(epochs=1, lr=1e-12, init_from=first.name, name="finetune")
    second = new_run(config)
    train(config, second)
    messages = [e.message for e in read_events(second.events_path) if isinstance(e, StatusEvent)]
    assert any(m.startswith(f"starting from weights from {first.checkpoint_path('best')}") for m in messages)
    start, after = load_checkpoint(first.checkpoint_path("best")), load_checkpoint(second.checkpoint_path("last"))
    for name, _ in build_model("unet", width=8).named_parameters():
        assert torch.allclose(after["model"][name], start["model"][name], atol=1e-8), name
    assert after["optimizer"]["state"][0]["step"].item() == 5  # one epoch of steps: its own optimizer


def test_init_from_weights_of_another_shape_is_one_clear_line(tiny_config):
    wide = tiny_config.replace(width=16, epochs=1)
    source = new_run(wide)
    train(wide, source)
    config = tiny_config.replace(init_from=str(source.checkpoint_path("best")))
    with pytest.raises(ConfigError, match=r"init_from: .*best.pt holds a unet of width 16; this run trains a unet "
                                          r"of width 8"):
        train(config, new_run(config))
