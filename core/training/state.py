"""Everything a checkpoint holds to continue training: weights and their moving average, optimizer,
lr schedule, loss scaler, and where the epoch and the early-stopping count stand."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from core.config import TrainConfig


def build_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """torch's AveragedModel as an exponential moving average of weights and BatchNorm statistics."""
    if not decay:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


@dataclass
class PartialEpoch:
    """An epoch in progress: what train_one_epoch accumulates and what last.pt keeps of an epoch stopped
    mid-way. The sums are this process's while training, all processes' once saved."""

    steps: int = 0  # optimizer steps done (a resumed epoch skips them)
    loss_sum: float = 0.0  # sum of per-sample losses
    samples: int = 0
    lr: float | None = None  # the lr the epoch started with, reported in its epoch row
    steps_per_epoch: int | None = None

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.samples, 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> PartialEpoch:
        """From a checkpoint (older ones lack some keys, or hold None when no epoch was partial)."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in (values or {}).items() if key in known})


@dataclass
class TrainingProgress:
    """Where training stands: finished epochs, best val Dice, epochs since it improved, a partial epoch."""

    epoch: int = 0
    best_dice: float = -1.0
    epochs_since_best: int = 0
    partial: PartialEpoch | None = None


@dataclass
class TrainingState:
    """The objects training updates. `weights` is what validation and checkpoints use: the EMA when on."""

    config: TrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    scaler: torch.amp.GradScaler
    ema: AveragedModel | None
    class_names: tuple[str, ...] = ("background", "foreground")

    @property
    def weights(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def after_step(self) -> None:
        """Called after every optimizer step."""
        if self.scheduler is not None:
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def weights_payload(self, progress: TrainingProgress, metrics: dict | None = None) -> dict[str, Any]:
        """What best.pt holds: the weights validation used (the EMA's when on) and what they scored; no
        optimizer state, which only --resume needs, from last.pt (a third of the size)."""
        return {
            "model": self.weights.state_dict(),
            "epoch": progress.epoch,
            "partial_epoch": (progress.partial or PartialEpoch()).to_dict(),
            "best_dice": progress.best_dice,
            "metrics": metrics or {},
            "config": self.config.to_dict(),
            "task": self.config.task,
            "class_names": list(self.class_names),
        }

    def payload(self, progress: TrainingProgress, metrics: dict | None = None) -> dict[str, Any]:
        """What last.pt holds: everything --resume needs to continue exactly."""
        return {
            "model": self.weights.state_dict(),  # what evaluate and predict load
            "train_model": self.model.state_dict() if self.ema is not None else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "epoch": progress.epoch,  # finished epochs; `checkpoint_epoch_label` adds a partial one
            "partial_epoch": (progress.partial or PartialEpoch()).to_dict(),
            "best_dice": progress.best_dice,
            "epochs_since_best": progress.epochs_since_best,
            "metrics": metrics or {},
            "config": self.config.to_dict(),
            "task": self.config.task,
            "class_names": list(self.class_names),
        }

    def restore(self, payload: dict[str, Any]) -> TrainingProgress:
        self.model.load_state_dict(payload.get("train_model") or payload["model"])
        if self.ema is not None:
            if payload.get("ema"):
                self.ema.load_state_dict(payload["ema"])
            else:  # a checkpoint from before the EMA was on: start the average at these weights
                self.ema.module.load_state_dict(self.model.state_dict())
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.scheduler is not None and payload.get("scheduler"):
            self.scheduler.load_state_dict(payload["scheduler"])
        if self.scaler.is_enabled() and payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        partial = PartialEpoch.from_dict(payload.get("partial_epoch"))
        return TrainingProgress(epoch=int(payload["epoch"]), best_dice=float(payload.get("best_dice", -1.0)),
                                epochs_since_best=int(payload.get("epochs_since_best", 0)),
                                partial=partial if partial.steps else None)


def checkpoint_epoch_label(payload: dict[str, Any]) -> str:
    """The training a checkpoint's weights have seen: "3", or "3 + 6/15 steps" after a mid-epoch stop."""
    epoch, partial = int(payload["epoch"]), PartialEpoch.from_dict(payload.get("partial_epoch"))
    if not partial.steps:
        return str(epoch)
    of = f"/{partial.steps_per_epoch}" if partial.steps_per_epoch else ""
    return f"{epoch} + {partial.steps}{of} steps"
