"""Early stopping (core/training/engine.py): a run whose val Dice stops improving for `patience` epochs ends early."""

from __future__ import annotations

from core.runs.events import EpochEvent, read_events
from core.training.engine import train

from .helpers import new_run


def test_early_stopping_ends_a_run_that_stopped_improving(tiny_config):
    config = tiny_config.replace(epochs=6, patience=2, lr=1e-12)  # nothing learns: Dice never improves
    run = new_run(config)
    summary = train(config, run)
    epochs = [e.epoch for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
    assert epochs == [1, 2, 3]
    assert summary.state == "finished" and summary.epochs == 3
    assert run.read_status().message == "stopped early after epoch 3: no better val Dice in 2 epochs"
