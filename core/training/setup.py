"""Setting a run up for its epochs: the model (compiled when asked), data, loss, optimizer and schedule, starting
weights or the resumed state of last.pt, and the run marked running. core/training/engine.py runs the epochs."""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from core.config import TrainConfig, save_config
from core.data.dataset import SegmentationDataset
from core.data.labels import Labels
from core.device import Runtime, resolve_runtime
from core.losses import build_loss
from core.losses.weights import inverse_sqrt_frequency, parse_class_weights
from core.run_data import run_labels, split_dataset
from core.run_model import model_for
from core.runs.events import StatusEvent
from core.runs.folders import Run
from core.runs.status import State
from core.training.checkpoints import load_checkpoint
from core.training.distributed import Distributed, wrap_model
from core.training.initial_weights import load_initial_weights
from core.training.loops import EventSink, build_optimizer, make_loader
from core.training.preflight import ensure_disk_space
from core.training.schedules import build_scheduler
from core.training.state import PartialEpoch, TrainingProgress, TrainingState, build_ema
from core.training.time_budget import EpochPlan


def maybe_compile(model: nn.Module, config: TrainConfig, runtime: Runtime, emit: EventSink) -> nn.Module:
    """torch.compile the model when asked; any failure falls back to eager mode with a message.

    Compilation happens on a graph's first call, so a probe batch goes through both graphs training uses here:
    forward and backward in train mode (the probe alone used to run without grad, and a failure compiling the
    backward ended the run at its first step), then forward in eval mode. The probe leaves no trace: the
    buffers (batch norm's running statistics) are put back and the gradients dropped."""
    if not config.compile:
        return model
    buffers = [buffer.detach().clone() for buffer in model.buffers()]
    training = model.training
    try:
        compiled = torch.compile(model)
        probe = runtime.prepare_batch(torch.zeros(2, 3, config.image_size, config.image_size))
        model.train()
        with runtime.autocast():
            compiled(probe).float().sum().backward()
        model.eval()
        with torch.no_grad(), runtime.autocast():
            compiled(probe)
    except Exception as error:  # noqa: BLE001 - any backend failure means "run eager"
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        emit(StatusEvent(state=State.RUNNING, message=f"torch.compile failed ({reason}); training without it"))
        return model
    finally:
        model.train(training)
        model.zero_grad(set_to_none=True)
        with torch.no_grad():
            for buffer, saved in zip(model.buffers(), buffers, strict=True):
                buffer.copy_(saved)
    return compiled


@dataclass
class EpochCount:
    """The planned number of epochs: config.epochs, or (--time-budget) decided again after every epoch."""

    total: int
    plan: EpochPlan | None = None


@dataclass
class RunSetup:
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
    planned: EpochCount  # the lr schedule decays over planned.total epochs
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


def set_up(config: TrainConfig, run: Run, resume: bool, emit: EventSink, distributed: Distributed,
           earlier_s: float = 0.0) -> RunSetup:
    """Model, data, optimizer and (resuming) the saved state; marks the run running. `earlier_s`: the training
    time of a resumed run's sessions before this one (RunStatus.sessions_s, read before anything was written)."""
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
    planned = EpochCount(config.epochs)
    scheduler = build_scheduler(config, optimizer, len(train_loader), epochs=lambda: planned.total)
    state = TrainingState(config, model, optimizer, scheduler, runtime.grad_scaler(), build_ema(model, config.ema),
                          labels.names)
    if train_loader.num_workers == 0:  # with workers, they fill the cache in parallel during epoch 1
        train_set.fill_cache()
        val_set.fill_cache()
    weights = class_weights_for(config, labels, train_set, emit)
    loss_fn = build_loss(config.loss, config.task, weights, config.ignore_index)
    progress = restore_progress(run, state, runtime, distributed) if resume else TrainingProgress()
    if progress.partial is not None and not distributed.is_main:  # the saved sums are global: count them once
        progress.partial = PartialEpoch(steps=progress.partial.steps, lr=progress.partial.lr)
    train_model = maybe_compile(wrapped, config, runtime, emit)
    # DDP's forward syncs buffers, a collective; evaluation shards may differ in length, so evaluate the
    # plain module (after copying rank 0's buffers to all ranks). With an EMA, it is the averaged weights.
    eval_model = state.weights if distributed.enabled or state.ema is not None else train_model
    setup = RunSetup(config, run, distributed, runtime, state, train_model, eval_model, loss_fn, labels,
                   train_set, val_set, train_loader, val_loader, progress, planned)
    mark_running(setup, resume, malloc, emit, earlier_s)
    return setup


def class_weights_for(config: TrainConfig, labels: Labels, train_set: SegmentationDataset,
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


def mark_running(setup: RunSetup, resume: bool, malloc: str, emit: EventSink, earlier_s: float = 0.0) -> None:
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
            earlier_s=earlier_s if resume else 0.0,
            model=config.model, data=config.data,  # a folder prepared by hand has no status.json to hold them
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


def restore_progress(run: Run, state: TrainingState, runtime: Runtime, distributed: Distributed) -> TrainingProgress:
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
