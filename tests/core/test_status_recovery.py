"""A run folder whose status.json is missing or damaged shows what its events.jsonl says it did (listing, state,
epochs, best Dice) instead of a run that never started, and offers no stop for a process nothing names."""

from __future__ import annotations

import os
import time

import pytest

from core.runs.events import EpochEvent, EventLog, StatusEvent
from core.runs.folders import create_run, runs_root
from core.runs.run_index import run_entries
from core.runs.status_recovery import DAMAGED_NOTE


def logged_run(tiny_config, last_state: str, quiet_s: float = 0.0):
    run = create_run(tiny_config.replace(epochs=4), runs_root())
    with EventLog(run.events_path) as log:
        log.write(StatusEvent(state="running", message="started epoch 1/4 on cpu"))
        for epoch, dice in ((1, 0.41), (2, 0.72), (3, 0.65)):
            log.write(EpochEvent(epoch=epoch, epochs=4, train_loss=0.5, val_loss=0.4, val_dice=dice, val_iou=0.3,
                                 lr=5e-4, seconds=1.0, is_best=dice == 0.72))
        if last_state != "running":
            log.write(StatusEvent(state=last_state, message=f"{last_state} after epoch 3"))
    if quiet_s:
        then = time.time() - quiet_s
        os.utime(run.events_path, (then, then))
    return run


@pytest.mark.parametrize("damage", ["missing", "cut short", "not a mapping"])
def test_a_finished_runs_damaged_status_reads_from_its_log(tiny_config, damage):
    run = logged_run(tiny_config, "finished")
    if damage == "missing":
        run.status_path.unlink()
    else:
        run.status_path.write_text('{"state": "finis' if damage == "cut short" else "[1, 2]")
    status = run.read_status()
    assert (status.state, status.epoch, status.epochs, status.best_dice) == ("finished", 3, 4, 0.72)
    assert status.message == f"{DAMAGED_NOTE}: finished after epoch 3" and status.model == "unet"
    assert run.state() == "finished"
    (entry,) = run_entries(runs_root())
    assert (entry.state(), entry.status.epoch, entry.status.best_dice) == ("finished", 3, 0.72)


def test_a_quiet_log_whose_last_word_is_running_reads_as_stopped_not_live(tiny_config):
    """Nothing names its process: 'created' offered a stop for it; 'stopped' offers --resume."""
    run = logged_run(tiny_config, "running", quiet_s=3600)
    run.status_path.unlink()
    assert run.state() == "stopped" and run.read_status().epoch == 3


def test_a_listing_reads_a_damaged_runs_log_again_not_a_cached_answer(tiny_config):
    """The cache is keyed by status.json's and the folder's times, which a growing log moves neither of."""
    import core.runs.run_index as run_index

    run = logged_run(tiny_config, "running")
    run.status_path.unlink()
    long_ago = time.time() - 7200
    os.utime(run.path, (long_ago, long_ago))  # an old folder: its entry is cached, not re-read as racy
    (entry,) = run_entries(runs_root())
    assert entry.status.state == "running"
    then = time.time() - 3600
    os.utime(run.events_path, (then, then))  # the log goes quiet: its process is gone
    os.utime(run.path, (long_ago, long_ago))
    run_index._memory.clear()  # a new process: only the index file is left
    (entry,) = run_entries(runs_root())
    assert entry.state() == "stopped"


def test_a_run_that_never_logged_reads_as_created_as_before(tiny_config):
    run = create_run(tiny_config, runs_root())
    run.status_path.unlink()
    assert run.read_status().state == "created"
