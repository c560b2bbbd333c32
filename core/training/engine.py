"""Fitting a run: `train` sets the run up (model, data, optimizer, resumed state), then runs its epochs,
writing checkpoints, status and events into the run folder. Under torchrun every process runs it; rank 0
alone writes. One epoch and one evaluation are core/training/loops.py."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from core.config import TrainConfig, save_config
from core.data.dataset import SegmentationDataset
from core.data.labels import Labels
from core.device import Runtime, resolve_runtime
from core.errors import SeglabError
from core.losses import build_loss
from core.losses.weights import inverse_sqrt_frequency, parse_class_weights
from core.run_data import run_labels, split_dataset
from core.run_model import model_for
from core.runs.curves import plot_curves
from core.runs.events import CheckpointEvent, EpochEvent, Event, EventLog, StatusEvent, read_events
from core.runs.folders import Run
from core.runs.status import State
from core.training.checkpoints import load_checkpoint, save_checkpoint_atomically
from core.training.distributed import NOT_DISTRIBUTED, Distributed, as_peer_failure, wrap_model
from core.training.estimate import record_run_throughput
from core.training.initial_weights import load_initial_weights
from core.training.loops import (
    EventSink,
    build_optimizer,
    current_lr,
    epoch_seed,
    evaluate,
    make_loader,
    train_one_epoch,
)
from core.training.preflight import ensure_disk_space
from core.training.schedules import build_scheduler
from core.training.state import PartialEpoch, TrainingProgress, TrainingState, build_ema, checkpoint_epoch_label
from core.training.time_budget import EpochPlan, plan_epochs

clock = time.monotonic  # what --time-budget measures epochs with (tests replace it with a fake clock)


@dataclass(frozen=True)
class TrainingSummary:
    """How a call to `train` ended: the same fields whether it finished or stopped."""

    state: str  # State.FINISHED or State.STOPPED (a failure raises)
    epochs: int  # finished epochs
    best_dice: float  # best val Dice, -1 when no epoch finished
    run: Path
    message: str
    skipped_samples: int = 0  # unreadable samples left out (skip_bad)
    planned_epochs: int = 0  # the run's epoch count: config.epochs, or what its --time-budget decided


class _RecordingSink:
    """The event sink of rank 0: every event goes to the run's log, then to the caller's `on_event`."""

    def __init__(self, log: EventLog, on_event: EventSink | None):
        self.log, self.on_event = log, on_event

    def __call__(self, event: Event) -> None:
        self.log.write(event)
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
        return _run_epochs(_set_up(config, run, resume, _ignore, distributed), stop, _ignore)
    status = run.read_status()
    if run.state() == State.RUNNING and status.pid != os.getpid():
        raise SeglabError(f"{run.path}: still running (process {status.pid} on this host); "
                          "stop it first (Ctrl-C there, or the dashboard's stop)")
    with EventLog(run.events_path) as log:
        emit = _RecordingSink(log, on_event)
        try:
            return _run_epochs(_set_up(config, run, resume, emit, distributed), stop, emit)
        except BaseException as error:
            peer_failure = as_peer_failure(error) if distributed.enabled else None
            message = str(peer_failure or error) or type(error).__name__
            if isinstance(error, KeyboardInterrupt):
                state, message = State.STOPPED, "stopped at once by a second interrupt"
            else:
                state = State.FAILED
            run.update_status(state=state, finished=time.time(), message=message)
            emit(StatusEvent(state=state, message=message))
            raise
        finally:
            _write_curves(run)


def _write_curves(run: Run) -> None:
    epochs = [e for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
    with contextlib.suppress(OSError, ValueError):  # curves are a convenience; never hide the run's outcome
        plot_curves(epochs, run.curves_path)


def maybe_compile(model: nn.Module, config: TrainConfig, runtime: Runtime, emit: EventSink) -> nn.Module:
    """torch.compile the model when asked; any failure falls back to eager mode with a message."""
    if not config.compile:
        return model
    try:
        compiled = torch.compile(model)
        probe = runtime.prepare_batch(torch.zeros(2, 3, config.image_size, config.image_size))
        with torch.no_grad(), runtime.autocast():
            compiled(probe)  # compilation happens on the first call: fail here, not mid-epoch
    except Exception as error:  # noqa: BLE001 - any backend failure means "run eager"
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        emit(StatusEvent(state=State.RUNNING, message=f"torch.compile failed ({reason}); training without it"))
        return model
    return compiled


@dataclass
class _EpochCount:
    """The planned number of epochs: config.epochs, or (--time-budget) decided again after every epoch."""

    total: int
    plan: EpochPlan | None = None


@dataclass
class _Setup:
    """Everything the epoch loop works with, made once per call of `train`."""

    config: TrainConfig
    run: Run
    distributed: Distributed
    runtime: Runtime
    state: TrainingState  # the plain model, optimizer, schedule, scaler and EMA
    train_model: nn.Module  # what trains: DDP's wrapper and/or torch.compile around the model
    eval_model: nn.Module  # what validation scores and checkpoints hold
    loss_fn: nn.Module
    labels: Labels
    train_set: SegmentationDataset
    val_set: SegmentationDataset
    train_loader: DataLoader
    val_loader: DataLoader
    progress: TrainingProgress  # where a resumed run stands, partial epoch included
    planned: _EpochCount  # the lr schedule decays over planned.total epochs
    runtime_record: dict = dataclasses.field(default_factory=dict)  # config.json's "runtime"
    train_seconds: list[float] = dataclasses.field(default_factory=list)  # each whole epoch's training phase
    eval_seconds: list[float] = dataclasses.field(default_factory=list)  # and its validation

    @property
    def budgeted(self) -> bool:
        """Whether the epoch count is still to be decided by the time budget (a run resumed after its first
        epoch keeps the count recorded then)."""
        return self.config.time_budget > 0 and self.progress.epoch == 0

    @property
    def writes(self) -> bool:
        return self.distributed.is_main

    @property
    def skipped(self) -> list[str]:
        return self.train_set.skipped + self.val_set.skipped


def _set_up(config: TrainConfig, run: Run, resume: bool, emit: EventSink, distributed: Distributed) -> _Setup:
    """Model, data, optimizer and (resuming) the saved state; marks the run running."""
    runtime = distributed.place(resolve_runtime(config.device, config.precision, config.memory_format))
    malloc = runtime.prepare_host_memory()
    torch.manual_seed(config.seed)  # the same initial weights in every process
    labels = run_labels(config)
    model = runtime.prepare_model(model_for(config))
    if distributed.is_main:
        run.sweep_temp_files()  # a write killed by SIGKILL leaves its temp file; nothing else writes here now
        ensure_disk_space(run.path, model, ema=bool(config.ema))
        # rank 0 loads starting weights; DDP hands them to the other processes
        loaded = None if resume and run.checkpoint_path("last").is_file() else load_initial_weights(
            model, config, run.path.parent)
        if loaded:
            emit(StatusEvent(state=State.CREATED, message=f"starting from {loaded}"))
    wrapped = wrap_model(model, distributed, runtime, config.sync_bn)  # `model` stays the plain module
    train_set = split_dataset(config, "train", augment=config.augment)
    val_set = split_dataset(config, "val")
    train_loader = make_loader(train_set, config, runtime, shuffle=True, distributed=distributed)
    val_loader = make_loader(val_set, config, runtime, shuffle=False, distributed=distributed)
    optimizer = build_optimizer(model, config, runtime)
    planned = _EpochCount(config.epochs)
    scheduler = build_scheduler(config, optimizer, len(train_loader), epochs=lambda: planned.total)
    state = TrainingState(config, model, optimizer, scheduler, runtime.grad_scaler(), build_ema(model, config.ema),
                          labels.names)
    if train_loader.num_workers == 0:  # with workers, they fill the cache in parallel during epoch 1
        train_set.fill_cache()
        val_set.fill_cache()
    loss_fn = build_loss(config.loss, config.task, _class_weights(config, labels, train_set, emit), config.ignore_index)
    progress = _restore(run, state, runtime, distributed) if resume else TrainingProgress()
    if progress.partial is not None and not distributed.is_main:  # the saved sums are global: count them once
        progress.partial = PartialEpoch(steps=progress.partial.steps, lr=progress.partial.lr)
    train_model = maybe_compile(wrapped, config, runtime, emit)
    # DDP's forward syncs buffers, a collective; evaluation shards may differ in length, so evaluate the
    # plain module (after copying rank 0's buffers to all ranks). With an EMA, it is the averaged weights.
    eval_model = state.weights if distributed.enabled or state.ema is not None else train_model
    setup = _Setup(config, run, distributed, runtime, state, train_model, eval_model, loss_fn, labels,
                   train_set, val_set, train_loader, val_loader, progress, planned)
    _mark_running(setup, resume, malloc, emit)
    return setup


def _class_weights(config: TrainConfig, labels: Labels, train_set: SegmentationDataset,
                   emit: EventSink) -> list[float] | None:
    """The cross-entropy's class weights: given, or (auto) from the train split's pixel counts, said in the log."""
    if not config.class_weights:
        return None
    if config.class_weights != "auto":
        return parse_class_weights(config.class_weights, labels.classes)
    weights = inverse_sqrt_frequency(train_set.class_pixel_counts())
    shown = ", ".join(f"{name} {weight:.3g}" for name, weight in zip(labels.names, weights, strict=True))
    emit(StatusEvent(state=State.CREATED, message=f"class weights (auto, from train pixel shares): {shown}"))
    return weights


def _mark_running(setup: _Setup, resume: bool, malloc: str, emit: EventSink) -> None:
    config, runtime, distributed, skipped = setup.config, setup.runtime, setup.distributed, setup.skipped
    if skipped:
        emit(StatusEvent(state=State.CREATED, message=f"skipped {len(skipped)} unreadable samples, e.g. {skipped[0]}"))
    described = {**runtime.describe(), "malloc": malloc, "workers": setup.train_loader.num_workers,
                 "cache": setup.train_set.cache.mode if setup.train_set.cache else "none",
                 "processes": distributed.world_size, "batch_per_process": setup.train_loader.batch_size}
    progress, setup.runtime_record = setup.progress, described
    if setup.writes:
        save_config(config, setup.run.config_path, runtime=described)
        setup.run.update_status(
            state=State.RUNNING, pid=os.getpid(), host=socket.gethostname(), started=time.time(), finished=None,
            message="", epoch=progress.epoch, epochs=config.epochs,
            best_dice=progress.best_dice if progress.best_dice >= 0 else None, train_images=len(setup.train_set),
            val_images=len(setup.val_set), runtime=described, skipped_samples=len(skipped))
    processes = f", {distributed.world_size} processes" if distributed.enabled else ""
    planned = (f" of a {config.time_budget:g}-minute time budget" if setup.budgeted
               else f"/{config.epochs}")
    emit(StatusEvent(state=State.RUNNING, message=f"{'resumed at' if resume else 'started'} epoch "
                     f"{progress.epoch + 1}{planned} on {runtime.device} ({runtime.precision}"
                     f"{', channels_last' if runtime.channels_last else ''}{processes}), "
                     f"{len(setup.train_set)} train / {len(setup.val_set)} val images"))


def _run_epochs(setup: _Setup, stop: threading.Event, emit: EventSink) -> TrainingSummary:
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
    epoch = progress.epoch
    while epoch < planned.total:
        epoch += 1
        started = time.perf_counter()
        torch.manual_seed(epoch_seed(config.seed, epoch, distributed.rank))  # augmentation draws (in this process)
        setup.train_loader.sampler.set_epoch(epoch)  # the shuffle order
        resumed, progress.partial = progress.partial, None
        lr = resumed.lr if resumed is not None and resumed.lr is not None else current_lr(state.optimizer)
        trained = train_one_epoch(setup.train_model, setup.train_loader, setup.loss_fn, state.optimizer,
                                  state.scaler, runtime, epoch, emit, stop, resumed, distributed, state.after_step)
        trained_s = time.perf_counter() - started
        trained = _global_sums(trained, distributed, runtime)
        if stop.is_set() and trained.steps < steps:
            trained.lr, trained.steps_per_epoch = lr, steps
            progress.partial = trained
            save("last", state.payload(progress))
            return _stopped(setup, emit, f"stopped at epoch {epoch}, step {trained.steps}/{steps}", progress)
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
                        seconds=time.perf_counter() - started, is_best=is_best, class_dice=_class_dice(setup, metrics)))
        if setup.writes:
            run.update_status(epoch=epoch, best_dice=progress.best_dice)
        if config.patience and progress.epochs_since_best >= config.patience and epoch < planned.total:
            return _finished(setup, emit, progress, f"stopped early after epoch {epoch}: no better val Dice in "
                                                    f"{config.patience} epochs")
        if distributed.any(stop.is_set(), runtime) and epoch < planned.total:  # a signal during validation
            return _stopped(setup, emit, f"stopped after epoch {epoch}", progress)
    return _finished(setup, emit, progress, f"finished {planned.total} epochs, best val Dice {progress.best_dice:.4f}")


def _replan(setup: _Setup, epoch_seconds: list[float], elapsed_s: float, finished: int, cache_filled_in_first: bool,
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


def _class_dice(setup: _Setup, metrics: dict) -> dict[str, float]:
    """Val Dice of each class by name, for a multiclass run's epoch event (empty for binary)."""
    if not setup.labels.multiclass:
        return {}
    return dict(zip(setup.labels.names, metrics["class_dice"], strict=True))


def _global_sums(partial: PartialEpoch, distributed: Distributed, runtime: Runtime) -> PartialEpoch:
    """An epoch's loss sums over all processes (each holds its own)."""
    loss_sum, samples = distributed.sum([partial.loss_sum, partial.samples], runtime)
    return PartialEpoch(steps=partial.steps, loss_sum=loss_sum, samples=int(samples))


def _finished(setup: _Setup, emit: EventSink, progress: TrainingProgress, message: str) -> TrainingSummary:
    if setup.writes:
        setup.run.update_status(state=State.FINISHED, finished=time.time(), message=message)
        if not setup.distributed.enabled:  # what the epochs took, for the next estimate of these settings
            loader = setup.train_loader
            record_run_throughput(setup.config, setup.runtime, setup.train_seconds, setup.eval_seconds,
                                  len(loader) * (loader.batch_size or 1), len(setup.val_set))
    emit(StatusEvent(state=State.FINISHED, message=message))
    return TrainingSummary(State.FINISHED, progress.epoch, progress.best_dice, setup.run.path, message,
                           len(setup.skipped), setup.planned.total)


def _stopped(setup: _Setup, emit: EventSink, message: str, progress: TrainingProgress) -> TrainingSummary:
    if setup.writes:
        setup.run.update_status(state=State.STOPPED, finished=time.time(), message=message)
    emit(StatusEvent(state=State.STOPPED, message=message))
    return TrainingSummary(State.STOPPED, progress.epoch, progress.best_dice, setup.run.path, message,
                           planned_epochs=setup.planned.total)


def _restore(run: Run, state: TrainingState, runtime: Runtime, distributed: Distributed) -> TrainingProgress:
    """Load last.pt on rank 0 and hand it to every process (other machines need not see the run folder).

    The checkpoint does not depend on the number of processes, so a run resumes under any count.
    """
    payload = None
    if distributed.is_main:
        path = run.checkpoint_path("last")
        if path.is_file():
            payload = load_checkpoint(path, map_location="cpu" if distributed.enabled else runtime.device)
    payload = distributed.broadcast(payload)
    if payload is None:  # stopped or killed before its first epoch ended: start from the beginning
        return TrainingProgress()
    return state.restore(payload)
