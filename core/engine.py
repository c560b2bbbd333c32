"""Training and evaluation loops: train_one_epoch, evaluate, train (fit a run), evaluate_run.

No printing: progress leaves as events written to the run's events.jsonl and, optionally, passed
to an in-process callback. Stopping is a plain threading.Event checked after every step.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from core.atomic_files import atomic_write_text
from core.checkpoints import load_checkpoint, model_from_checkpoint, save_checkpoint_atomically
from core.config import TrainConfig, save_config
from core.curves import plot_curves
from core.data_sources import split_dataset
from core.device import Runtime, auto_workers, resolve_runtime
from core.distributed import SINGLE, Distributed, ShardSampler, as_peer_failure, wrap_model
from core.errors import SeglabError
from core.events import (
    CheckpointEvent,
    EpochEvent,
    Event,
    EventLog,
    ProgressEvent,
    StatusEvent,
    read_events,
)
from core.initial_weights import load_initial_weights
from core.losses import build_loss
from core.metrics import SegmentationMeter
from core.models import build_model
from core.pause_points import pause_point
from core.preflight import ensure_disk_space
from core.run_status import State
from core.runs import Run
from core.schedules import build_scheduler
from core.training_state import Progress, TrainingState, build_ema, checkpoint_epoch_label
from core.tta import check_tta, predict_logits

PROGRESS_INTERVAL_S = 0.25  # at most four progress events a second
EventCallback = Callable[[Event], None]


@dataclass(frozen=True)
class TrainingSummary:
    """How a call to `train` ended: the same fields whether it finished or stopped."""

    state: str  # State.FINISHED or State.STOPPED (a failure raises)
    epochs: int  # finished epochs
    best_dice: float  # best val Dice, -1 when no epoch finished
    run: Path
    message: str
    skipped_samples: int = 0  # unreadable samples left out (skip_bad)


class TrainingDiverged(SeglabError):
    """The loss became NaN or infinite."""


@dataclass
class EpochState:
    """What an epoch has accumulated so far; saved in last.pt when a run stops mid-epoch."""

    loss_sum: float = 0.0  # sum of per-sample losses
    samples: int = 0
    steps: int = 0

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.samples, 1)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """Each epoch reseeds from (seed, epoch), so a resumed run replays the same augmentations; each
    process of a distributed run draws its own."""
    return seed * 1_000_003 + epoch + 7_919 * rank


def make_loader(dataset: Dataset, config: TrainConfig, runtime: Runtime, shuffle: bool,
                parallel: Distributed = SINGLE) -> DataLoader:
    """A loader sized for the machine: workers from the CPU count (config -1), kept alive across
    epochs, prefetching, and pinned memory when batches go to a GPU.

    Training (shuffle) uses torch's DistributedSampler (one process is a world of one): call
    `loader.sampler.set_epoch(epoch)` for each epoch's order, which is the same order for any number
    of processes, so global batch i holds the same images. It drops the last partial batch when there
    is at least one full one, as torchvision's segmentation reference does: a tiny last batch costs
    nearly a full step and makes BatchNorm statistics noisy; shuffling shows every image across epochs.
    Evaluation shards the set without padding, so no image counts twice.
    """
    workers = auto_workers(runtime.device) if config.workers < 0 else config.workers
    batch = parallel.per_process_batch(config.batch_size)
    if shuffle:
        # drop_last: the sampler's default pads the set to a multiple of the process count by repeating
        # images, which changes the steps per epoch (and so the schedule) with the count; dropping the tail
        # instead gives every count len(dataset) // batch_size steps, as one process has.
        sampler = DistributedSampler(dataset, num_replicas=parallel.world_size, rank=parallel.rank, shuffle=True,
                                     seed=config.seed, drop_last=True)
    else:
        sampler = ShardSampler(len(dataset), parallel)
    return DataLoader(
        dataset,
        batch_size=batch,
        sampler=sampler,
        drop_last=shuffle and len(sampler) > batch,
        num_workers=workers,
        pin_memory=runtime.device.type == "cuda",
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )


def build_optimizer(model: nn.Module, config: TrainConfig, runtime: Runtime) -> torch.optim.Optimizer:
    """AdamW; its fused kernel where this torch has one for the device (one pass over memory, not many)."""
    try:
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                 fused=runtime.device.type in ("cpu", "cuda"))
    except (RuntimeError, TypeError):  # older torch without a fused CPU AdamW
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    runtime: Runtime,
    epoch: int,
    emit: EventCallback,
    stop: threading.Event,
    state: EpochState | None = None,
    parallel: Distributed = SINGLE,
    after_step: Callable[[], None] | None = None,
) -> EpochState:
    """Train over the loader; `state` carries an epoch resumed mid-way (its steps are skipped).

    Returns after the last batch, or after the current step once `stop` is set (on any process:
    all processes stop after the same step). The state's sums are this process's own.
    `after_step` runs after every optimizer step.
    """
    state = state or EpochState()
    skip = state.steps
    steps = len(loader)
    model.train()
    started, last_emit, images = time.perf_counter(), 0.0, 0
    for index, (images_batch, masks) in enumerate(loader):
        if index < skip:
            continue  # replaying the loader keeps shuffles and augmentation RNG exactly as uninterrupted
        images_batch, masks = runtime.prepare_batch(images_batch), runtime.prepare_batch(masks)
        optimizer.zero_grad(set_to_none=True)
        with runtime.autocast():
            logits = model(images_batch)
        loss = loss_fn(logits, masks)  # losses reduce in fp32 whatever the autocast dtype
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingDiverged(f"loss became {value} at epoch {epoch}, step {index + 1}/{steps}")
        scaler.scale(loss).backward()
        pause_point("train-step")  # tests kill here: mid-step, weights not yet updated
        scaler.step(optimizer)
        scaler.update()
        if after_step is not None:
            after_step()  # the lr schedule and the weights' moving average
        batch = images_batch.shape[0]
        state.loss_sum += value * batch
        state.samples += batch
        state.steps = index + 1
        images += batch
        now = time.perf_counter()
        if now - last_emit >= PROGRESS_INTERVAL_S or state.steps == steps:
            last_emit = now
            world = parallel.world_size  # rank 0 reports for all: the processes train in lockstep
            emit(ProgressEvent(epoch=epoch, step=state.steps, steps=steps, loss=state.mean_loss,
                               images_per_s=world * images / max(now - started, 1e-9), images=world * state.samples))
        if parallel.any(stop.is_set(), runtime):
            stop.set()
            break
    return state


@torch.inference_mode()
def evaluate(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, runtime: Runtime,
             parallel: Distributed = SINGLE, tta: str = "none") -> dict[str, float]:
    """Mean loss over samples, Dice and IoU per-image means (and micro, over all pixels) at threshold 0.5.

    With several processes each evaluates its shard and the counts are combined, so the numbers are
    those of one process evaluating the whole set. `model` must be the plain module, not DDP's wrapper.
    tta='flip' scores the mean probabilities of each image and its mirror.
    """
    model.eval()
    meter = SegmentationMeter()
    loss_sum, samples = 0.0, 0
    for images, masks in loader:
        images, masks = runtime.prepare_batch(images), runtime.prepare_batch(masks)
        with runtime.autocast():
            logits = predict_logits(model, images, tta)
        loss_sum += loss_fn(logits, masks).item() * images.shape[0]
        samples += images.shape[0]
        meter.update(logits.float(), masks)
    if parallel.enabled:
        loss_sum, samples = parallel.sum([loss_sum, samples], runtime)
        everyone = SegmentationMeter()
        for counts in parallel.gather(meter.counts()):
            everyone.add_counts(counts)
        meter = everyone
    return {"loss": loss_sum / max(samples, 1), **meter.compute()}


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


class _Reporter:
    """Writes every event to the run's log and hands it to the optional callback."""

    def __init__(self, log: EventLog, callback: EventCallback | None):
        self.log, self.callback = log, callback

    def __call__(self, event: Event) -> None:
        self.log.write(event)
        if self.callback is not None:
            self.callback(event)


def train(
    config: TrainConfig,
    run: Run,
    *,
    resume: bool = False,
    stop: threading.Event | None = None,
    callback: EventCallback | None = None,
    parallel: Distributed = SINGLE,
) -> TrainingSummary:
    """Fit the run's model for config.epochs epochs; returns how it ended.

    Writes last.pt every epoch, best.pt when validation Dice improves, events throughout and
    curves.png at the end. With resume=True it continues from last.pt, appending to the same log.
    Under torchrun every process calls this; only rank 0 writes anything into the run folder, and
    every process returns once all have finished.
    """
    stop = stop or threading.Event()
    try:
        summary = _train(config, run, resume, stop, callback, parallel)
        # Rank 0 writes the last checkpoint, status and curves after the last collective. No process
        # leaves (and tears down its gloo connections) before it is done: CI saw a rank that left early
        # abort once ("terminate called without an active exception"), which fails the whole torchrun.
        parallel.wait_for_all()
        return summary
    except RuntimeError as error:
        failure = as_peer_failure(error) if parallel.enabled else None
        if failure is None:
            raise
        raise failure from error


def _train(config: TrainConfig, run: Run, resume: bool, stop: threading.Event, callback: EventCallback | None,
           parallel: Distributed) -> TrainingSummary:
    if not parallel.is_main:
        return _fit(config, run, resume, stop, _ignore, parallel)
    status = run.read_status()
    if run.state() == State.RUNNING and status.pid != os.getpid():
        raise SeglabError(f"{run.path}: still running (process {status.pid} on this host); "
                          "stop it first (Ctrl-C there, or the dashboard's stop)")
    with EventLog(run.events_path) as log:
        emit = _Reporter(log, callback)
        try:
            return _fit(config, run, resume, stop, emit, parallel)
        except BaseException as error:
            peer_failure = as_peer_failure(error) if parallel.enabled else None
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


def _ignore(_event: Event) -> None:
    """The event sink of processes other than rank 0."""


def _write_curves(run: Run) -> None:
    epochs = [e for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
    with contextlib.suppress(OSError, ValueError):  # curves are a convenience; never hide the run's outcome
        plot_curves(epochs, run.curves_path)


def maybe_compile(model: nn.Module, config: TrainConfig, runtime: Runtime, emit: EventCallback) -> nn.Module:
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
        emit(StatusEvent(state="running", message=f"torch.compile failed ({reason}); training without it"))
        return model
    return compiled


def _global_state(state: EpochState, parallel: Distributed, runtime: Runtime) -> EpochState:
    """An epoch's loss sums over all processes (each holds its own)."""
    loss_sum, samples = parallel.sum([state.loss_sum, state.samples], runtime)
    return EpochState(loss_sum=loss_sum, samples=int(samples), steps=state.steps)


def _fit(config: TrainConfig, run: Run, resume: bool, stop: threading.Event, emit: EventCallback,
         parallel: Distributed) -> TrainingSummary:
    writes = parallel.is_main
    runtime = parallel.place(resolve_runtime(config.device, config.precision, config.memory_format))
    malloc = runtime.prepare_host_memory()
    torch.manual_seed(config.seed)  # the same initial weights in every process
    model = runtime.prepare_model(build_model(config.model, width=config.width))
    if writes:
        run.sweep_temp_files()  # a write killed by SIGKILL leaves its temp file; nothing else writes here now
        ensure_disk_space(run.path, model, ema=bool(config.ema))
        # rank 0 loads starting weights; DDP hands them to the other processes
        loaded = None if resume and run.checkpoint_path("last").is_file() else load_initial_weights(
            model, config, run.path.parent)
        if loaded:
            emit(StatusEvent(state="created", message=f"starting from {loaded}"))
    wrapped = wrap_model(model, parallel, runtime, config.sync_bn)  # `model` stays the plain module
    loss_fn = build_loss(config.loss)
    train_set = split_dataset(config, "train", augment=config.augment)
    val_set = split_dataset(config, "val")
    train_loader = make_loader(train_set, config, runtime, shuffle=True, parallel=parallel)
    val_loader = make_loader(val_set, config, runtime, shuffle=False, parallel=parallel)
    optimizer = build_optimizer(model, config, runtime)
    state = TrainingState(config, model, optimizer, build_scheduler(config, optimizer, len(train_loader)),
                          runtime.grad_scaler(), build_ema(model, config.ema))
    if train_loader.num_workers == 0:  # with workers, they fill the cache in parallel during epoch 1
        train_set.fill_cache()
        val_set.fill_cache()

    progress = Progress()
    if resume:
        progress = _restore(run, state, runtime, parallel)
    saved = progress.partial or {}
    partial = EpochState(**{key: saved[key] for key in ("steps", "loss_sum", "samples") if key in saved})
    partial_lr = saved.get("lr") if partial.steps else None  # the lr the interrupted epoch started with
    if not parallel.is_main:  # the saved sums are global: count them once, on rank 0
        partial = EpochState(steps=partial.steps)
    train_model = maybe_compile(wrapped, config, runtime, emit)
    # DDP's forward syncs buffers, a collective; evaluation shards may differ in length, so evaluate the
    # plain module (after copying rank 0's buffers to all ranks). With an EMA, it is the averaged weights.
    eval_model = state.weights if parallel.enabled or state.ema is not None else train_model
    skipped = train_set.skipped + val_set.skipped
    if skipped:
        emit(StatusEvent(state="created", message=f"skipped {len(skipped)} unreadable samples, e.g. {skipped[0]}"))
    described = {**runtime.describe(), "malloc": malloc, "workers": train_loader.num_workers,
                 "cache": train_set.cache.mode if train_set.cache else "none",
                 "processes": parallel.world_size, "batch_per_process": train_loader.batch_size}
    if writes:
        save_config(config, run.config_path, runtime=described)
        run.update_status(state=State.RUNNING, pid=os.getpid(), host=socket.gethostname(), started=time.time(),
                          finished=None, message="", epoch=progress.epoch, epochs=config.epochs,
                          best_dice=progress.best_dice if progress.best_dice >= 0 else None,
                          train_images=len(train_set), val_images=len(val_set), runtime=described,
                          skipped_samples=len(skipped))
    processes = f", {parallel.world_size} processes" if parallel.enabled else ""
    emit(StatusEvent(state="running", message=f"{'resumed at' if resume else 'started'} epoch "
                     f"{progress.epoch + 1}/{config.epochs} on {runtime.device} ({runtime.precision}"
                     f"{', channels_last' if runtime.channels_last else ''}{processes}), {len(train_set)} train / "
                     f"{len(val_set)} val images"))

    def save(which: str, payload: dict) -> None:
        if writes:
            path = run.checkpoint_path(which)
            save_checkpoint_atomically(path, payload)
            emit(CheckpointEvent(path=str(path), epoch=payload["epoch"], trained=checkpoint_epoch_label(payload)))

    for epoch in range(progress.epoch + 1, config.epochs + 1):
        started = time.perf_counter()
        torch.manual_seed(epoch_seed(config.seed, epoch, parallel.rank))  # augmentation draws (in this process)
        train_loader.sampler.set_epoch(epoch)  # the shuffle order
        lr, partial_lr = partial_lr or current_lr(optimizer), None
        trained = train_one_epoch(train_model, train_loader, loss_fn, optimizer, state.scaler, runtime, epoch, emit,
                                  stop, partial, parallel, state.after_step)
        partial = EpochState()
        trained = _global_state(trained, parallel, runtime)
        if stop.is_set() and trained.steps < len(train_loader):
            progress.partial = {"steps": trained.steps, "loss_sum": trained.loss_sum, "samples": trained.samples,
                                "lr": lr, "steps_per_epoch": len(train_loader)}
            save("last", state.payload(progress))
            return _stopped(run, emit, f"stopped at epoch {epoch}, step {trained.steps}/{len(train_loader)}",
                            progress, writes)
        parallel.sync_buffers(eval_model)
        metrics = evaluate(eval_model, val_loader, loss_fn, runtime, parallel)
        is_best = metrics["dice"] > progress.best_dice
        progress = Progress(epoch=epoch, best_dice=max(progress.best_dice, metrics["dice"]),
                            epochs_since_best=0 if is_best else progress.epochs_since_best + 1)
        if is_best:
            save("best", state.weights_payload(progress, metrics))
        save("last", state.payload(progress, metrics))
        seconds = time.perf_counter() - started
        emit(EpochEvent(epoch=epoch, epochs=config.epochs, train_loss=trained.mean_loss, val_loss=metrics["loss"],
                        val_dice=metrics["dice"], val_iou=metrics["iou"], lr=lr, seconds=seconds,
                        is_best=is_best))
        if writes:
            run.update_status(epoch=epoch, best_dice=progress.best_dice)
        if config.patience and progress.epochs_since_best >= config.patience and epoch < config.epochs:
            return _finished(run, emit, progress, writes, skipped,
                             f"stopped early after epoch {epoch}: no better val Dice in {config.patience} epochs")
        if parallel.any(stop.is_set(), runtime) and epoch < config.epochs:  # a signal during validation
            return _stopped(run, emit, f"stopped after epoch {epoch}", progress, writes)
    return _finished(run, emit, progress, writes, skipped,
                     f"finished {config.epochs} epochs, best val Dice {progress.best_dice:.4f}")


def _finished(run: Run, emit: EventCallback, progress: Progress, writes: bool, skipped: list,
              message: str) -> TrainingSummary:
    if writes:
        run.update_status(state=State.FINISHED, finished=time.time(), message=message)
    emit(StatusEvent(state=State.FINISHED, message=message))
    return TrainingSummary(State.FINISHED, progress.epoch, progress.best_dice, run.path, message, len(skipped))


def _stopped(run: Run, emit: EventCallback, message: str, progress: Progress, writes: bool) -> TrainingSummary:
    if writes:
        run.update_status(state=State.STOPPED, finished=time.time(), message=message)
    emit(StatusEvent(state=State.STOPPED, message=message))
    return TrainingSummary(State.STOPPED, progress.epoch, progress.best_dice, run.path, message)


def _restore(run: Run, state: TrainingState, runtime: Runtime, parallel: Distributed) -> Progress:
    """Load last.pt on rank 0 and hand it to every process (other machines need not see the run folder).

    The checkpoint does not depend on the number of processes, so a run resumes under any count.
    """
    payload = None
    if parallel.is_main:
        path = run.checkpoint_path("last")
        if path.is_file():
            payload = load_checkpoint(path, map_location="cpu" if parallel.enabled else runtime.device)
    payload = parallel.broadcast(payload)
    if payload is None:  # stopped or killed before its first epoch ended: start from the beginning
        return Progress()
    return state.restore(payload)


def evaluate_run(run: Run, split: str = "test", checkpoint: str = "best", device: str = "auto",
                 tta: str = "none") -> dict[str, Any]:
    """Evaluate a run's checkpoint on a split of its data, with the run's precision; writes eval-<split>.json
    (eval-<split>-tta-flip.json with test-time augmentation)."""
    check_tta(tta)
    path = run.checkpoint_path(checkpoint)
    model, config, payload = model_from_checkpoint(path)
    runtime = resolve_runtime(device, config.precision, config.memory_format)
    runtime.prepare_host_memory()
    model = runtime.prepare_model(model)
    loader = make_loader(split_dataset(config, split), config, runtime, shuffle=False)
    metrics = evaluate(model, loader, build_loss(config.loss), runtime, tta=tta)
    result = {"split": split, "checkpoint": str(path), "epoch": payload["epoch"],
              "trained": checkpoint_epoch_label(payload), "precision": runtime.precision,
              "tta": tta, **metrics}
    suffix = "" if tta == "none" else f"-tta-{tta}"
    atomic_write_text(run.path / f"eval-{split}{suffix}.json", json.dumps(result, indent=2) + "\n")
    return result
