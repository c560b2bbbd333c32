"""Learning-rate schedules (core/training/schedules.py): linear warmup then cosine decay, stepped every
optimizer step."""

from __future__ import annotations

import math

import pytest

from core.config import TrainConfig
from core.runs.events import EpochEvent, read_events
from core.training.engine import train
from core.training.schedules import WARMUP_START_FACTOR, lr_factor

from .helpers import new_run


def test_warmup_climbs_linearly_then_cosine_decays_to_zero():
    config = TrainConfig(epochs=10, warmup_epochs=2, scheduler="cosine")
    steps = 5
    factors = [lr_factor(step, config, steps) for step in range(10 * steps + 1)]
    assert factors[0] == pytest.approx(WARMUP_START_FACTOR)
    assert factors[5] == pytest.approx(WARMUP_START_FACTOR + (1 - WARMUP_START_FACTOR) / 2)
    assert factors[10] == pytest.approx(1.0)  # warmup over: the peak
    assert factors[30] == pytest.approx(0.5)  # half-way through the decay
    assert factors[50] == pytest.approx(0.0, abs=1e-12)
    assert all(a <= b for a, b in zip(factors[:10], factors[1:11], strict=True))
    assert all(a >= b for a, b in zip(factors[10:-1], factors[11:], strict=True))
    constant = TrainConfig(epochs=10, warmup_epochs=1)
    assert [lr_factor(step, constant, steps) for step in (5, 20, 49)] == [1.0, 1.0, 1.0]


def test_the_schedule_steps_every_optimizer_step(tiny_config):
    config = tiny_config.replace(epochs=3, warmup_epochs=1, scheduler="cosine")  # 5 steps an epoch
    run = new_run(config)
    train(config, run)
    lrs = [e.lr for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
    peak = config.lr
    assert lrs == pytest.approx([WARMUP_START_FACTOR * peak, peak, peak * 0.5 * (1 + math.cos(math.pi / 2))])
