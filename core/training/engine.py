"""Fitting a run: `train` sets the run up (core/training/setup.py: model, data, optimizer, resumed state), then
runs its epochs, writing checkpoints, status and events into the run folder. Under torchrun every process runs it;
rank 0 alone writes. One epoch and one evaluation are core/training/loops.py."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from core.config import TrainConfig, save_config
from core.device import Runtime
from core.errors import SeglabError
from core.runs.curves import plot_curves
from core.runs.events import (
    CheckpointEvent,
    EpochEvent,
    Event,
    EventLog,
    PictureEvent,
    StatusEvent,
    WarningEvent,
    read_epochs,
)
from core.runs.folders import Run
from core.runs.results_table import write_results_table
from core.runs.status import State
from core.training.checkpoints import save_checkpoint_atomically
from core.training.distributed import NOT_DISTRIBUTED, Distributed, as_peer_failure
from core.training.estimate import record_run_throughput
from core.training.loops import (
    EventSink,
    current_lr,
    epoch_seed,
    evaluate,
    train_one_epoch,
)
from core.training.progress_images import ProgressPictures
from core.training.run_watchers import RunWatchers
from core.training.setup import RunSetup, set_up
from core.training.state import PartialEpoch, TrainingProgress, checkpoint_epoch_label
from core.training.time_budget import plan_epochs

MESSAGE_LIMIT = 1000  # characters of a failure's message kept in status.json and events.jsonl
clock = time.monotonic  # what --time-budget measures epochs with (tests replace it with a fake clock)


@dataclass(frozen=True)
class TrainingSummary:
    """How a call to `train` ended: the same fields whether it finished or stopped."""

    state: str  # State.FINISHED, State.STOPPED or a StopAs stop's state (a failure raises)
    epochs: int  # finished epochs
    best_dice: float  # best val Dice, -1 when no epoch finished
    run: Path
    message: str
    skipped_samples: int = 0  # unreadable samples left out (skip_bad)
    planned_epochs: int = 0  # the run's epoch count: config.epochs, or what its --time-budget decided


class _RecordingSink:
    """The event sink of rank 0: every event goes to the run's log, each finished epoch into results.csv, then
    every event to the caller's `on_event`."""

    def __init__(self, log: EventLog, run: Run, on_event: EventSink | None):
        self.log, self.run, self.on_event = log, run, on_event
        self.epochs = read_epochs(run.events_path)  # resumed
        self.watchers: RunWatchers | None = None

    def __call__(self, event: Event) -> None:
        self.log.write(event)
        if isinstance(event, EpochEvent):
            self.epochs.append(event)
            with contextlib.suppress(OSError):  # a table for people: the log and checkpoints are what count
                write_results_table(self.epochs, self.run.results_path)
        if self.watchers is not None:
            self.watchers.observe(event)
        if self.on_event is not None:
            self.on_event(event)


def _ignore(_event: Event) -> None:
    """The event sink of processes other than rank 0."""


def train(
    config: TrainConfig,
    run: Run,
    *,
    resume: bool = False,
    stop: threading.Event | None = None,
    on_event: EventSink | None = None,
    distributed: Distributed = NOT_DISTRIBUTED,
) -> TrainingSummary:
    """Fit the run's model for config.epochs epochs; returns how it ended.

    Writes last.pt every epoch, best.pt when validation Dice improves, events throughout (also handed to
    `on_event`) and curves.png at the end. With resume=True it continues from last.pt, appending to the same
    log. Under torchrun every process calls this; only rank 0 writes anything into the run folder, and every
    process returns once all have finished.
    """
    stop = stop or threading.Event()
    try:
        summary = _train(config, run, resume, stop, on_event, distributed)
        # Rank 0 writes the last checkpoint, status and curves after the last collective. No process
        # leaves (and tears down its gloo connections) before it is done: CI saw a rank that left early
        # abort once ("terminate called without an active exception"), which fails the whole torchrun.
        distributed.wait_for_all()
        return summary
    except RuntimeError as error:
        failure = as_peer_failure(error) if distributed.enabled else None
        if failure is None:
            raise
        raise failure from error


def _train(config: TrainConfig, run: Run, resume: bool, stop: threading.Event, on_event: EventSink | None,
           distributed: Distributed) -> TrainingSummary:
    if not distributed.is_main:
        return _run_epochs(set_up(config, run, resume, _ignore, distributed), stop, _ignore)
    status = run.read_status()
    if run.state(status) in (State.RUNNING, State.STALLED) and status.pid != os.getpid():
        where = "this host" if status.host in (None, "", socket.gethostname()) else status.host
        raise SeglabError(f"{run.path}: still running (process {status.pid} on {where}); "
                          "stop it first (Ctrl-C there, or the dashboard's stop)")
    earlier_s = status.sessions_s(run.last_written(status)) if resume else 0.0  # before any write of this session
    with EventLog(run.events_path) as log:
        emit = _RecordingSink(log, run, on_event)
        emit.watchers = RunWatchers(config, run, run.path.parent, emit)
        try:
            return _run_epochs(set_up(config, run, resume, emit, distributed, earlier_s), stop, emit)
        except BaseException as error:
            peer_failure = as_peer_failure(error) if distributed.enabled else None
            message = str(peer_failure or error) or type(error).__name__
            if len(message) > MESSAGE_LIMIT:  # a compiler's whole log: status.json and the event keep its start
                message = f"{message[:MESSAGE_LIMIT]}... ({len(message) - MESSAGE_LIMIT:,} more characters)"
            if isinstance(error, KeyboardInterrupt):
                state, message = State.STOPPED, "stopped at once by a second interrupt"
            else:
                state = State.FAILED
            run.update_status(state=state, finished=time.time(), message=message)
            emit(StatusEvent(state=state, message=message))
            raise
        finally:
            _write_curves(run)
            emit.watchers.close()


def _write_curves(run: Run) -> None:
    epochs = read_epochs(run.events_path)
    with contextlib.suppress(OSError, ValueError):  # curves are a convenience; never hide the run's outcome
        plot_curves(epochs, run.curves_path)


def _run_epochs(setup: RunSetup, stop: threading.Event, emit: EventSink) -> TrainingSummary:
    """The epoch loop from where the run stands; returns when it finishes, stops or stops early."""
    config, run, distributed, runtime, state = setup.config, setup.run, setup.distributed, setup.runtime, setup.state
    progress, steps = setup.progress, len(setup.train_loader)

    def save(which: str, payload: dict) -> None:
        if setup.writes:
            path = run.checkpoint_path(which)
            save_checkpoint_atomically(path, payload)
            emit(CheckpointEvent(path=str(path), epoch=payload["epoch"], trained=checkpoint_epoch_label(payload)))

    budgeted, planned = setup.budgeted, setup.planned
    budget_started = last_end = clock()
    # with loader workers, this process's first epoch also fills the cache: not a fair measure once others exist
    cache_filled_in_first = setup.train_loader.num_workers > 0 and progress.partial is None
    epoch_seconds: list[float] = []
    pictures = ProgressPictures(setup.val_set, config.progress_images, setup.labels, runtime, run.path) \
        if setup.writes and config.progress_images else None
    epoch = progress.epoch
    while epoch < planned.total:
        epoch += 1
        started = time.perf_counter()
        torch.manual_seed(epoch_seed(config.seed, epoch, distributed.rank))  # augmentation draws (in this process)
        setup.train_loader.sampler.set_epoch(epoch)  # the shuffle order
        resumed, progress.partial = progress.partial, None
        lr = resumed.lr if resumed is not None and resumed.lr is not None else current_lr(state.optimizer)
        samples_before = resumed.samples if resumed is not None else 0  # train_one_epoch adds to `resumed` itself
        trained = train_one_epoch(setup.train_model, setup.train_loader, setup.loss_fn, state.optimizer,
                                  state.scaler, runtime, epoch, emit, stop, resumed, distributed, state.after_step)
        trained_s = time.perf_counter() - started
        trained = _global_sums(trained, distributed, runtime)
        if stop.is_set() and trained.steps < steps:
            trained.lr, trained.steps_per_epoch = lr, steps
            progress.partial = trained
            save("last", state.payload(progress))
            return _stopped(setup, emit, f"stopped at epoch {epoch}, step {trained.steps}/{steps}", progress, stop)
        distributed.sync_buffers(setup.eval_model)
        metrics = evaluate(setup.eval_model, setup.val_loader, setup.loss_fn, runtime, distributed,
                           labels=setup.labels)
        if resumed is None:  # an epoch resumed mid-way trained part of it: not a measure
            setup.train_seconds.append(trained_s)
            setup.eval_seconds.append(time.perf_counter() - started - trained_s)
        if budgeted:
            now = clock()
            if resumed is None:  # a first epoch resumed mid-way is no measure of an epoch
                epoch_seconds.append(now - last_end)
                _replan(setup, epoch_seconds, now - budget_started, epoch, cache_filled_in_first, emit)
            last_end = now
        is_best = metrics["dice"] > progress.best_dice
        progress = TrainingProgress(epoch=epoch, best_dice=max(progress.best_dice, metrics["dice"]),
                                    epochs_since_best=0 if is_best else progress.epochs_since_best + 1)
        if is_best:
            save("best", state.weights_payload(progress, metrics))
        save("last", state.payload(progress, metrics))
        emit(EpochEvent(epoch=epoch, epochs=planned.total, train_loss=trained.mean_loss, val_loss=metrics["loss"],
                        val_dice=metrics["dice"], val_iou=metrics["iou"], lr=lr,
                        seconds=time.perf_counter() - started, is_best=is_best,
                        class_dice=_per_class(setup, metrics, "class_dice"),
                        class_iou=_per_class(setup, metrics, "class_iou"),
                        images_per_s=(trained.samples - samples_before) / trained_s if trained_s > 0 else 0.0))
        if setup.writes:
            run.update_status(epoch=epoch, best_dice=progress.best_dice)
        if pictures is not None and (epoch % config.progress_every == 0 or epoch == planned.total):
            _draw_progress(pictures, setup, epoch, emit)
        if config.patience and progress.epochs_since_best >= config.patience and epoch < planned.total:
            return _finished(setup, emit, progress, f"stopped early after epoch {epoch}: no better val Dice in "
                                                    f"{config.patience} epochs")
        if distributed.any(stop.is_set(), runtime) and epoch < planned.total:  # a signal during validation
            return _stopped(setup, emit, f"stopped after epoch {epoch}", progress, stop)
    epochs = f"{planned.total} epoch{'s' * (planned.total != 1)}"
    return _finished(setup, emit, progress, f"finished {epochs}, best val Dice {progress.best_dice:.4f}")


def _draw_progress(pictures: ProgressPictures, setup: RunSetup, epoch: int, emit: EventSink) -> None:
    """The epoch's progress picture; a failure to write it is a warning, never the run's end."""
    try:
        path = pictures.draw(setup.eval_model, epoch)
    except OSError as error:
        emit(WarningEvent(message=f"progress picture of epoch {epoch} not saved: {error.strerror or error}"))
        return
    if path is not None:
        emit(PictureEvent(epoch=epoch, path=str(path)))


def _replan(setup: RunSetup, epoch_seconds: list[float], elapsed_s: float, finished: int, cache_filled_in_first: bool,
            emit: EventSink) -> None:
    """--time-budget: the epoch total from the epochs so far (rank 0 decides for all), recorded in config.json
    and status.json, and said in the log when it changes."""
    config, planned = setup.config, setup.planned
    plan = None
    if setup.distributed.is_main:
        plan = plan_epochs(config.time_budget, epoch_seconds, elapsed_s, first_filled_cache=cache_filled_in_first,
                           current=planned.total if planned.plan is not None else None, finished=finished)
    plan = setup.distributed.broadcast(plan)
    changed = plan.epochs != planned.total or planned.plan is None
    planned.total, planned.plan = plan.epochs, plan
    if not changed:
        return
    setup.config = setup.state.config = config.replace(epochs=plan.epochs)  # a resumed run keeps this count
    if setup.writes:
        save_config(setup.config, setup.run.config_path, runtime=setup.runtime_record,
                    time_budget_plan=plan.as_record())
        setup.run.update_status(epochs=plan.epochs)
    emit(StatusEvent(state=State.RUNNING, message=(
        f"time budget {config.time_budget:g} min: epochs take {plan.epoch_s:.1f} s, so {plan.epochs} epochs "
        f"(ending about {plan.expected_end_s / 60:.1f} min after the first began)")))


def _per_class(setup: RunSetup, metrics: dict, key: str) -> dict[str, float]:
    """A val score (class_dice, class_iou) of each class by name, for a multiclass run's epoch event (empty for
    binary)."""
    if not setup.labels.multiclass:
        return {}
    return dict(zip(setup.labels.names, metrics[key], strict=True))


def _global_sums(partial: PartialEpoch, distributed: Distributed, runtime: Runtime) -> PartialEpoch:
    """An epoch's loss sums over all processes (each holds its own)."""
    loss_sum, samples = distributed.sum([partial.loss_sum, partial.samples], runtime)
    return PartialEpoch(steps=partial.steps, loss_sum=loss_sum, samples=int(samples))


def _finished(setup: RunSetup, emit: EventSink, progress: TrainingProgress, message: str) -> TrainingSummary:
    if setup.writes:
        setup.run.update_status(state=State.FINISHED, finished=time.time(), message=message)
        if not setup.distributed.enabled:  # what the epochs took, for the next estimate of these settings
            loader = setup.train_loader
            record_run_throughput(setup.config, setup.runtime, setup.train_seconds, setup.eval_seconds,
                                  len(loader) * (loader.batch_size or 1), len(setup.val_set))
    emit(StatusEvent(state=State.FINISHED, message=message))
    return TrainingSummary(State.FINISHED, progress.epoch, progress.best_dice, setup.run.path, message,
                           len(setup.skipped), setup.planned.total)


def _stopped(setup: RunSetup, emit: EventSink, message: str, progress: TrainingProgress,
             stop: threading.Event) -> TrainingSummary:
    """The run stopped before its last epoch: 'stopped' (resumable), or the state a StopAs stop names."""
    state, message = getattr(stop, "outcome", None) or (State.STOPPED, message)
    if setup.writes:
        setup.run.update_status(state=state, finished=time.time(), message=message)
    emit(StatusEvent(state=state, message=message))
    return TrainingSummary(state, progress.epoch, progress.best_dice, setup.run.path, message,
                           planned_epochs=setup.planned.total)
