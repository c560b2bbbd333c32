"""The stall watchdog's limit: the configured minimum, 10x the median step, twice the longest validation."""

from __future__ import annotations

import time

import core.training.stall_watchdog as watchdog_module
from core.runs.events import EpochEvent, ProgressEvent
from core.training.stall_watchdog import StallWatchdog


def progress(epoch: int, step: int) -> ProgressEvent:
    return ProgressEvent(epoch=epoch, step=step, steps=100, loss=0.5, images_per_s=10.0)


def epoch_end(epoch: int) -> EpochEvent:
    return EpochEvent(epoch=epoch, epochs=3, train_loss=0.5, val_loss=0.5, val_dice=0.5, val_iou=0.4, lr=1e-3,
                      seconds=1.0, is_best=True)


def test_the_limit_learns_the_runs_pace(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(watchdog_module, "clock", lambda: now[0])
    changes = []
    watchdog = StallWatchdog(60.0, lambda *change: changes.append(change))
    assert watchdog.limit_s == 60.0
    for step in range(1, 11):  # 12 s a step (taken 4 steps at a time: progress events are throttled)
        now[0] += 48.0
        watchdog.observe(progress(1, step * 4))
    assert watchdog.limit_s == 120.0  # 10 x 12 s
    now[0] += 400.0  # a validation of 400 s
    watchdog.observe(epoch_end(1))
    assert watchdog.limit_s == 800.0
    assert changes == []


def test_stalled_once_then_moving_again(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(watchdog_module, "clock", lambda: now[0])
    changes = []
    watchdog = StallWatchdog(1.0, lambda stalled, quiet, limit: changes.append((stalled, round(quiet, 2), limit)))
    now[0] = 150.0
    watchdog.check()
    assert changes == []  # before the first step nothing counts: setting up has no pace
    watchdog.observe(progress(1, 1))
    now[0] = 150.05
    watchdog.observe(progress(1, 2))
    now[0] = 151.0
    watchdog.check()
    assert changes == []  # 0.95 s quiet: within the limit
    now[0] = 153.0
    watchdog.check()
    now[0] = 160.0
    watchdog.check()
    assert changes == [(True, 2.95, 1.0)]  # once
    assert watchdog.stalled
    watchdog.observe(progress(1, 3))
    assert changes[-1] == (False, 9.95, 1.0) and not watchdog.stalled


def test_the_thread_calls_the_check(monkeypatch):
    changes = []
    watchdog = StallWatchdog(0.05, lambda *change: changes.append(change), poll_s=0.01)
    watchdog.observe(progress(1, 1))
    watchdog.start()
    deadline = time.monotonic() + 10
    while not changes and time.monotonic() < deadline:
        time.sleep(0.01)
    watchdog.close()
    assert [change[0] for change in changes] == [True]
