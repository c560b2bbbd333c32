"""Training state (core/training/state.py): the weights' EMA in validation and checkpoints, and resuming with it."""

from __future__ import annotations

import threading

import pytest
import torch

import core.training.loops
from core.inference.evaluation import evaluate_run
from core.runs.events import EpochEvent, read_events
from core.training.checkpoints import load_checkpoint
from core.training.engine import train

from .helpers import new_run


def test_with_an_ema_validation_and_checkpoints_use_the_averaged_weights(tiny_config):
    config = tiny_config.replace(epochs=2, ema=0.9)
    run = new_run(config)
    train(config, run)
    payload = load_checkpoint(run.checkpoint_path("last"))
    averaged, trained = payload["model"], payload["train_model"]
    assert any(not torch.equal(averaged[key], trained[key]) for key in trained)
    last_epoch = [e for e in read_events(run.events_path) if isinstance(e, EpochEvent)][-1]
    assert evaluate_run(run, split="val", checkpoint="last")["dice"] == pytest.approx(last_epoch.val_dice, abs=1e-6)


def test_a_run_with_ema_and_schedule_resumes_to_the_uninterrupted_weights(tiny_config, monkeypatch):
    config = tiny_config.replace(epochs=3, ema=0.9, warmup_epochs=1, scheduler="cosine")
    uninterrupted = new_run(config)
    train(config, uninterrupted)
    resumed, stop = new_run(config), threading.Event()

    def stop_in_epoch_2(event):
        if getattr(event, "epoch", 0) == 2 and getattr(event, "step", 0) == 3:
            stop.set()

    monkeypatch.setattr(core.training.loops, "PROGRESS_INTERVAL_S", 0)  # a progress event after every step
    assert train(config, resumed, stop=stop, on_event=stop_in_epoch_2).state == "stopped"
    assert train(config, resumed, resume=True).state == "finished"
    got, want = (load_checkpoint(r.checkpoint_path("last")) for r in (resumed, uninterrupted))
    for part in ("model", "train_model"):
        for key in want[part]:
            assert torch.allclose(got[part][key].float(), want[part][key].float(), atol=1e-6), (part, key)
    lrs = [[e.lr for e in read_events(r.events_path) if isinstance(e, EpochEvent)] for r in (resumed, uninterrupted)]
    assert lrs[0] == pytest.approx(lrs[1])
