"""Training a run: the events, status and checkpoints it leaves, reproducibility, stop and resume, divergence."""

from __future__ import annotations

import csv
import json
import math
import threading
from pathlib import Path

import pytest
import torch

import core.training.loops
import core.training.setup
from core.errors import SeglabError
from core.inference.evaluation import evaluate_run
from core.losses import build_loss
from core.runs.events import CheckpointEvent, EpochEvent, ProgressEvent, StatusEvent, read_events
from core.runs.folders import create_run, runs_root
from core.training.checkpoints import load_checkpoint
from core.training.engine import train
from core.training.loops import TrainingDiverged

CHECKPOINT_KEYS = {"model", "optimizer", "scheduler", "scaler", "epoch", "best_dice", "config", "seglab_version"}
BEST_KEYS = {"model", "epoch", "partial_epoch", "best_dice", "metrics", "config", "task", "class_names",
             "seglab_version"}  # weights only


def new_run(config):
    return create_run(config, runs_root())


def events_of(run, kind):
    return [event for event in read_events(run.events_path) if isinstance(event, kind)]


def states_of(run) -> list[str]:
    return [event.state for event in events_of(run, StatusEvent)]


def test_a_finished_run_leaves_events_status_checkpoints_and_curves(tiny_config):
    run = new_run(tiny_config)
    summary = train(tiny_config, run)
    assert summary.state == "finished" and summary.epochs == 2

    events = read_events(run.events_path)
    assert isinstance(events[0], StatusEvent) and events[0].state == "running"
    assert isinstance(events[-1], StatusEvent) and events[-1].state == "finished"
    assert states_of(run) == ["running", "finished"]
    epochs = events_of(run, EpochEvent)
    assert [e.epoch for e in epochs] == [1, 2] and all(e.epochs == 2 for e in epochs)
    for e in epochs:
        assert math.isfinite(e.train_loss) and e.train_loss > 0
        assert math.isfinite(e.val_loss) and e.val_loss > 0
        assert 0 <= e.val_dice <= 1 and 0 <= e.val_iou <= e.val_dice + 1e-9
        assert e.lr == pytest.approx(5e-4) and e.seconds > 0
    assert [e.is_best for e in epochs][0] is True
    progress = events_of(run, ProgressEvent)
    assert {(p.epoch, p.step) for p in progress} >= {(1, 5), (2, 5)}  # every epoch reports its last step
    saved = {(e.epoch, Path(e.path).name) for e in events_of(run, CheckpointEvent)}
    assert {(1, "last.pt"), (2, "last.pt"), (1, "best.pt")} <= saved

    status = run.read_status()
    assert status.state == "finished" and status.epoch == 2 and status.epochs == 2
    assert status.best_dice == max(e.val_dice for e in epochs)
    assert run.state() == "finished"

    last, best = load_checkpoint(run.checkpoint_path("last")), load_checkpoint(run.checkpoint_path("best"))
    assert last.keys() >= CHECKPOINT_KEYS and best.keys() == BEST_KEYS
    assert last["epoch"] == 2 and last["config"] == tiny_config.to_dict()
    assert best["epoch"] == next(e.epoch for e in epochs if e.val_dice == status.best_dice)
    assert run.curves_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = list(csv.DictReader(run.results_path.open()))
    assert list(table[0]) == ["epoch", "train_loss", "val_loss", "val_dice", "val_iou", "lr", "seconds",
                              "images_per_s"]
    for row, event in zip(table, epochs, strict=True):  # one row an epoch, the event's numbers
        assert int(row["epoch"]) == event.epoch and float(row["val_dice"]) == pytest.approx(event.val_dice, abs=1e-6)
        assert float(row["train_loss"]) == pytest.approx(event.train_loss, abs=1e-6)
        assert float(row["lr"]) == pytest.approx(event.lr) and float(row["seconds"]) > 0
        assert float(row["images_per_s"]) == pytest.approx(event.images_per_s, abs=0.01)
        assert event.images_per_s > 0


def test_best_checkpoint_holds_the_epoch_with_the_highest_val_dice(tiny_config):
    config = tiny_config.replace(epochs=4, lr=5e-3)  # learns enough in 4 epochs for Dice to move
    run = new_run(config)
    train(config, run)
    epochs = events_of(run, EpochEvent)
    best_epoch = max(epochs, key=lambda e: (e.val_dice, -e.epoch))
    assert best_epoch.val_dice > 0
    assert [e.epoch for e in epochs if e.is_best][-1] == best_epoch.epoch
    best = load_checkpoint(run.checkpoint_path("best"))
    assert best["epoch"] == best_epoch.epoch and best["best_dice"] == best_epoch.val_dice
    assert load_checkpoint(run.checkpoint_path("last"))["epoch"] == 4
    assert run.read_status().best_dice == best_epoch.val_dice


def test_same_config_and_seed_give_the_same_losses(tiny_config):
    config = tiny_config.replace(epochs=1)
    first, second = new_run(config), new_run(config)
    train(config, first)
    train(config, second)
    (a,), (b,) = events_of(first, EpochEvent), events_of(second, EpochEvent)
    assert a.train_loss == pytest.approx(b.train_loss, abs=1e-6)
    assert a.val_loss == pytest.approx(b.val_loss, abs=1e-6)


def stop_after(stop: threading.Event, when):
    def callback(event) -> None:
        if when(event):
            stop.set()
    return callback


class ProgressCounter:
    def __init__(self, epoch: int, count: int):
        self.epoch, self.count, self.seen = epoch, count, 0

    def __call__(self, event) -> bool:
        if isinstance(event, ProgressEvent) and event.epoch == self.epoch:
            self.seen += 1
        return self.seen >= self.count


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key


def test_a_resumed_epoch_reports_the_images_per_second_of_its_own_steps(tiny_config, monkeypatch):
    """The samples trained before the stop took none of the resumed session's time; counting them made the
    resumed epoch look several times faster than the others."""
    import types

    import core.training.engine as engine

    monkeypatch.setattr(core.training.loops, "PROGRESS_INTERVAL_S", 0)
    config = tiny_config.replace(epochs=3)
    run, stop = new_run(config), threading.Event()
    train(config, run, stop=stop, on_event=stop_after(stop, ProgressCounter(epoch=2, count=4)))
    assert run.read_status().message == "stopped at epoch 2, step 4/5"
    ticks = iter(range(10**6))  # each epoch's training then takes exactly 1 s: images/s = images trained
    monkeypatch.setattr(engine, "time", types.SimpleNamespace(perf_counter=lambda: float(next(ticks)),
                                                              time=engine.time.time))
    train(config, run, resume=True)
    train_images = run.read_status().train_images
    rates = {event.epoch: event.images_per_s for event in events_of(run, EpochEvent)}
    assert rates[3] == train_images == 20
    assert rates[2] == train_images - 4 * config.batch_size  # step 5 of 5 only


@pytest.mark.parametrize(
    ("stop_when", "message"),
    [
        (lambda: ProgressCounter(epoch=2, count=4), "stopped at epoch 2, step 4/5"),
        (lambda: lambda e: isinstance(e, EpochEvent) and e.epoch == 1, "stopped after epoch 1"),
    ],
    ids=["mid-epoch", "epoch-boundary"],
)
def test_resume_gives_same_weights_as_uninterrupted_run(tiny_config, monkeypatch, stop_when, message):
    monkeypatch.setattr(core.training.loops, "PROGRESS_INTERVAL_S", 0)  # a progress event after every step
    config = tiny_config.replace(epochs=3, scheduler="cosine")
    uninterrupted = new_run(config)
    train(config, uninterrupted)

    resumed, stop = new_run(config), threading.Event()
    summary = train(config, resumed, stop=stop, on_event=stop_after(stop, stop_when()))
    assert summary.state == "stopped"
    assert resumed.state() == "stopped" and resumed.read_status().message == message
    assert resumed.read_status().epoch == 1
    assert load_checkpoint(resumed.checkpoint_path("last"))["epoch"] == 1
    events_before = resumed.events_path.read_bytes()

    assert train(config, resumed, resume=True).state == "finished"
    assert resumed.events_path.read_bytes().startswith(events_before)  # appended, not rewritten
    assert states_of(resumed) == ["running", "stopped", "running", "finished"]
    assert resumed.read_status().state == "finished" and resumed.read_status().epoch == 3

    assert_same_weights(load_checkpoint(resumed.checkpoint_path("last"))["model"],
                        load_checkpoint(uninterrupted.checkpoint_path("last"))["model"])
    history, reference = events_of(resumed, EpochEvent), events_of(uninterrupted, EpochEvent)
    assert [e.epoch for e in history] == [1, 2, 3]
    for got, want in zip(history, reference, strict=True):
        assert got.train_loss == pytest.approx(want.train_loss, abs=1e-6)
        assert got.val_dice == pytest.approx(want.val_dice, abs=1e-6)
        assert got.lr == pytest.approx(want.lr)
    assert [e.lr for e in history][0] > [e.lr for e in history][-1]  # the cosine schedule survived the stop
    table = list(csv.DictReader(resumed.results_path.open()))  # the epochs before the stop kept, none twice
    assert [(int(row["epoch"]), float(row["val_dice"])) for row in table] == \
        [(e.epoch, pytest.approx(e.val_dice, abs=1e-6)) for e in history]


def test_a_stop_during_the_last_step_of_the_last_epoch_still_finishes_the_run(tiny_config, monkeypatch):
    monkeypatch.setattr(core.training.loops, "PROGRESS_INTERVAL_S", 0)
    run, stop = new_run(tiny_config), threading.Event()
    last_step = stop_after(stop, lambda e: isinstance(e, ProgressEvent) and (e.epoch, e.step) == (2, e.steps))
    summary = train(tiny_config, run, stop=stop, on_event=last_step)
    assert [e.epoch for e in events_of(run, EpochEvent)] == [1, 2]
    assert summary.state == "finished" and run.state() == "finished"


def test_resuming_a_run_that_never_finished_an_epoch_trains_it_from_the_start(tiny_config):
    fresh = new_run(tiny_config)
    train(tiny_config, fresh)
    never_started = new_run(tiny_config)
    summary = train(tiny_config, never_started, resume=True)
    assert summary.state == "finished"
    assert_same_weights(load_checkpoint(fresh.checkpoint_path("last"))["model"],
                        load_checkpoint(never_started.checkpoint_path("last"))["model"])


def loss_that_turns_nan_on_call(number: int):
    def build(name: str, *task_options):
        real, calls = build_loss(name, *task_options), [0]

        def loss(logits, masks):
            calls[0] += 1
            value = real(logits, masks)
            return value * float("nan") if calls[0] == number else value

        return loss

    return build


def test_nan_loss_fails_the_run_naming_epoch_and_step_and_keeps_the_last_checkpoint(tiny_config, monkeypatch):
    # Epoch 1 makes 5 training calls and 1 validation call: call 9 is step 3 of epoch 2.
    monkeypatch.setattr(core.training.setup, "build_loss", loss_that_turns_nan_on_call(9))
    run = new_run(tiny_config)
    with pytest.raises(TrainingDiverged, match="epoch 2, step 3/5"):
        train(tiny_config, run)
    status = run.read_status()
    assert status.state == "failed" and run.state() == "failed"
    assert "nan" in status.message and "epoch 2, step 3/5" in status.message
    assert states_of(run)[-1] == "failed"
    assert events_of(run, StatusEvent)[-1].message == status.message
    last = load_checkpoint(run.checkpoint_path("last"))
    assert last["epoch"] == 1
    assert all(torch.isfinite(tensor).all() for tensor in last["model"].values() if tensor.is_floating_point())


def test_evaluate_run_writes_eval_json_with_the_metrics(tiny_config):
    run = new_run(tiny_config)
    train(tiny_config, run)
    result = evaluate_run(run, split="test", device="cpu")
    written = json.loads((run.path / "eval-test.json").read_text())
    assert written == result
    assert written["images"] == 2 and written["split"] == "test"  # 10% of 24 synthetic images
    assert written["loss"] > 0 and 0 <= written["dice"] <= 1 and 0 <= written["iou"] <= 1
    assert written["epoch"] == load_checkpoint(run.checkpoint_path("best"))["epoch"]


def test_too_little_disk_for_checkpoints_fails_before_the_first_step(tiny_config, monkeypatch):
    import shutil

    import core.training.preflight

    full = shutil._ntuple_diskusage(10**9, 10**9, 1000)
    monkeypatch.setattr(core.training.preflight.shutil, "disk_usage", lambda path: full)
    run = new_run(tiny_config)
    with pytest.raises(SeglabError, match="not enough free disk space for checkpoints"):
        train(tiny_config, run)
    assert run.read_status().state == "failed"
    assert not [e for e in read_events(run.events_path) if isinstance(e, ProgressEvent)]
    assert not run.checkpoint_path("last").exists()


def test_weights_saved_by_a_mid_epoch_stop_are_labelled_with_the_steps_they_saw(tiny_config, monkeypatch):
    from tui.screens.dashboard import log_line

    monkeypatch.setattr(core.training.loops, "PROGRESS_INTERVAL_S", 0)
    run, stop = new_run(tiny_config), threading.Event()
    train(tiny_config, run, stop=stop, on_event=stop_after(stop, ProgressCounter(epoch=2, count=3)))
    saved = events_of(run, CheckpointEvent)[-1]
    assert (saved.epoch, saved.trained) == (1, "1 + 3/5 steps")
    assert log_line(saved).endswith("saved last.pt (epoch 1 + 3/5 steps)")
    assert evaluate_run(run, checkpoint="last", device="cpu")["trained"] == "1 + 3/5 steps"
    assert evaluate_run(run, checkpoint="best", device="cpu")["trained"] == "1"


def test_best_pt_holds_the_weights_only_and_the_disk_estimate_covers_the_files_with_an_ema(tiny_config):
    from core.models import build_model
    from core.training.preflight import checkpoint_bytes_needed, last_checkpoint_bytes, weights_bytes

    config = tiny_config.replace(epochs=1, ema=0.9)
    run = new_run(config)
    train(config, run)
    last, best = run.checkpoint_path("last").stat().st_size, run.checkpoint_path("best").stat().st_size
    model = build_model("unet", width=8)
    # the estimates count tensor bytes; the files add a few kB of pickle around them
    assert last_checkpoint_bytes(model, ema=True) == pytest.approx(last, rel=0.05)
    assert weights_bytes(model) == pytest.approx(best, rel=0.05)
    assert best < last / 3
    assert checkpoint_bytes_needed(model, ema=True) >= 2 * last + best
    assert "optimizer" not in load_checkpoint(run.checkpoint_path("best"))


def test_a_best_pt_with_an_optimizer_from_older_versions_still_evaluates(tiny_config):
    run = new_run(tiny_config)
    train(tiny_config, run)
    run.checkpoint_path("last").replace(run.checkpoint_path("best"))  # the old format: a full training state
    assert evaluate_run(run, device="cpu")["images"] == 2


def test_temp_files_of_a_killed_checkpoint_write_are_swept_when_the_run_resumes(tiny_config):
    run = new_run(tiny_config.replace(epochs=1))
    train(tiny_config.replace(epochs=1), run)
    leftovers = [run.checkpoints_dir / ".last.pt.x1y2z3.tmp", run.checkpoints_dir / ".best.pt.abc.tmp",
                 run.path / ".status.json.q.tmp"]
    for path in leftovers:
        path.write_bytes(b"half a checkpoint")
    keep = run.path / ".eval-test.json.w.tmp"  # another command's write in progress is not the run's to sweep
    keep.write_bytes(b"{")
    train(tiny_config, run, resume=True)
    assert not [path for path in leftovers if path.exists()]
    assert keep.exists()


def test_run_files_are_readable_by_others_as_a_plain_open_would_leave_them(tiny_config):
    import os
    import stat

    umask = os.umask(0o022)
    os.umask(umask)
    run = new_run(tiny_config.replace(epochs=1))
    train(tiny_config.replace(epochs=1), run)
    for path in (run.config_path, run.status_path, run.checkpoint_path("last"), run.checkpoint_path("best")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
