"""One epoch of training and one pass of evaluation, and the loader and optimizer they use.

No printing: progress leaves as events through an EventSink. Stopping is a plain threading.Event checked
after every step; several processes (torchrun) stop after the same step.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from core.config import TrainConfig
from core.data.labels import BINARY, Labels
from core.device import Runtime, auto_workers
from core.errors import SeglabError
from core.metrics import SegmentationMeter
from core.models.tta import predict_logits
from core.pause_points import pause_point
from core.runs.events import Event, ProgressEvent
from core.training.distributed import NOT_DISTRIBUTED, Distributed, ShardSampler
from core.training.state import PartialEpoch

PROGRESS_INTERVAL_S = 0.25  # at most four progress events a second
EventSink = Callable[[Event], None]  # where progress goes: the run's event log and any watcher


class TrainingDiverged(SeglabError):
    """The loss became NaN or infinite."""


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """Each epoch reseeds from (seed, epoch), so a resumed run replays the same augmentations; each
    process of a distributed run draws its own."""
    return seed * 1_000_003 + epoch + 7_919 * rank


def make_loader(dataset: Dataset, config: TrainConfig, runtime: Runtime, shuffle: bool,
                distributed: Distributed = NOT_DISTRIBUTED) -> DataLoader:
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
    batch = distributed.per_process_batch(config.batch_size)
    if shuffle:
        # drop_last: the sampler's default pads the set to a multiple of the process count by repeating
        # images, which changes the steps per epoch (and so the schedule) with the count; dropping the tail
        # instead gives every count len(dataset) // batch_size steps, as one process has.
        sampler = DistributedSampler(dataset, num_replicas=distributed.world_size, rank=distributed.rank, shuffle=True,
                                     seed=config.seed, drop_last=True)
    else:
        sampler = ShardSampler(len(dataset), distributed)
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


def optimizer_step(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, loss_fn: nn.Module,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, runtime: Runtime) -> float:
    """One training step as every seglab run takes it: the forward under the runtime's autocast, the loss in fp32,
    a backward scaled by the runtime's GradScaler (fp16), the optimizer's step. Returns the loss; a loss that is
    not finite raises TrainingDiverged before any weight changes."""
    optimizer.zero_grad(set_to_none=True)
    with runtime.autocast():
        logits = model(images)
    loss = loss_fn(logits, masks)  # losses reduce in fp32 whatever the autocast dtype
    value = loss.item()
    if not math.isfinite(value):
        raise TrainingDiverged(f"loss became {value}")
    scaler.scale(loss).backward()
    pause_point("train-step")  # tests kill here: mid-step, weights not yet updated
    scaler.step(optimizer)
    scaler.update()
    return value


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    runtime: Runtime,
    epoch: int,
    emit: EventSink,
    stop: threading.Event,
    state: PartialEpoch | None = None,
    distributed: Distributed = NOT_DISTRIBUTED,
    after_step: Callable[[], None] | None = None,
) -> PartialEpoch:
    """Train over the loader; `state` carries an epoch resumed mid-way (its steps are skipped).

    Returns after the last batch, or after the current step once `stop` is set (on any process:
    all processes stop after the same step). The state's sums are this process's own.
    `after_step` runs after every optimizer step.
    """
    state = state or PartialEpoch()
    skip = state.steps
    steps = len(loader)
    model.train()
    started, last_emit, images = time.perf_counter(), 0.0, 0
    for index, (images_batch, masks) in enumerate(loader):
        if index < skip:
            continue  # replaying the loader keeps shuffles and augmentation RNG exactly as uninterrupted
        images_batch, masks = runtime.prepare_batch(images_batch), runtime.prepare_batch(masks)
        try:
            value = optimizer_step(model, images_batch, masks, loss_fn, optimizer, scaler, runtime)
        except TrainingDiverged as diverged:
            raise TrainingDiverged(f"{diverged} at epoch {epoch}, step {index + 1}/{steps}") from None
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
            world = distributed.world_size  # rank 0 reports for all: the processes train in lockstep
            emit(ProgressEvent(epoch=epoch, step=state.steps, steps=steps, loss=state.mean_loss,
                               images_per_s=world * images / max(now - started, 1e-9), images=world * state.samples))
        if distributed.any(stop.is_set(), runtime):
            stop.set()
            break
    return state


@torch.inference_mode()
def evaluate(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, runtime: Runtime,
             distributed: Distributed = NOT_DISTRIBUTED, tta: str = "none", labels: Labels = BINARY) -> dict[str, Any]:
    """Mean loss over samples, Dice and IoU per-image means (and micro, over all pixels) at threshold 0.5;
    multiclass: of the argmax, per class and their mean over foreground classes (core/class_metrics.py).

    With several processes each evaluates its shard and the counts are combined, so the numbers are
    those of one process evaluating the whole set. `model` must be the plain module, not DDP's wrapper.
    tta='flip' scores the mean probabilities of each image and its mirror.
    """
    model.eval()
    meter = make_meter(labels)
    loss_sum, samples = 0.0, 0
    for images, masks in loader:
        images, masks = runtime.prepare_batch(images), runtime.prepare_batch(masks)
        with runtime.autocast():
            logits = predict_logits(model, images, tta, labels.multiclass)
        loss_sum += loss_fn(logits, masks).item() * images.shape[0]
        samples += images.shape[0]
        meter.update(logits.float(), masks)
    if distributed.enabled:
        loss_sum, samples = distributed.sum([loss_sum, samples], runtime)
        everyone = make_meter(labels)
        for state in distributed.gather(meter.state()):
            everyone.merge(state)
        meter = everyone
    return {"loss": loss_sum / max(samples, 1), **meter.compute()}


def make_meter(labels: Labels):
    """The metrics accumulator of the task: binary Dice/IoU, or per-class ones."""
    if not labels.multiclass:
        return SegmentationMeter()
    from core.class_metrics import ClassSegmentationMeter

    return ClassSegmentationMeter(labels.classes, labels.ignore_index)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])
