"""--log tensorboard: scalars per epoch (losses, Dice, IoU, each class's Dice, lr) and per logged step (the running
train loss), the progress pictures, and the hyperparameters with the final metrics, in the run folder's tensorboard/
(`tensorboard --logdir runs/` shows every run). A resumed run carries on in the same folder: its hparams point is
written again at each end, at the step of the last finished epoch, with the best val Dice of every session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.config import TrainConfig
from core.runs.status import read_status

FOLDER = "tensorboard"


def make_logger(config: TrainConfig, run_path: Path, runs_root: Path) -> TensorBoardLogger:
    before = read_status(run_path / "status.json")  # a resumed run: its earlier sessions' best and epochs
    return TensorBoardLogger(config, run_path / FOLDER, before.best_dice, before.epoch)


class TensorBoardLogger:
    def __init__(self, config: TrainConfig, folder: Path, best_dice: float | None = None, epoch: int = 0):
        self.config, self.folder = config, folder
        self.writer: Any = None
        self.best_dice, self.epoch_done = best_dice, epoch
        self.last: dict[str, float] = {}

    def start(self) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(self.folder), flush_secs=10)

    def epoch(self, event: Any) -> None:
        scalars = {"train/loss": event.train_loss, "val/loss": event.val_loss, "val/dice": event.val_dice,
                   "val/iou": event.val_iou, "lr": event.lr, "train/images_per_s": event.images_per_s,
                   **{f"val/dice_{name}": value for name, value in event.class_dice.items()}}
        for tag, value in scalars.items():
            if value == value:  # a class never seen has a NaN Dice: nothing to draw
                self.writer.add_scalar(tag, value, event.epoch)
        if event.val_dice == event.val_dice:  # NaN (no image scored) leaves the best as it was
            self.best_dice = max(self.best_dice or 0.0, event.val_dice)
        self.last = {"val/loss": event.val_loss, "val/iou": event.val_iou}
        self.epoch_done = event.epoch
        self.writer.flush()

    def progress(self, event: Any, step: int) -> None:
        self.writer.add_scalar("train/loss_step", event.loss, step)

    def picture(self, event: Any) -> None:
        from PIL import Image

        with Image.open(event.path) as picture:
            pixels = np.asarray(picture.convert("RGB"))
        self.writer.add_image("progress", pixels, event.epoch, dataformats="HWC")
        self.writer.flush()

    def finish(self, state: str) -> None:
        if self.writer is None:
            return
        hparams = {key: value for key, value in self.config.to_dict().items() if value != ""}
        metrics = {"hparam/best_val_dice": self.best_dice if self.best_dice is not None else float("nan"),
                   **{f"hparam/final_{tag.replace('/', '_')}": value for tag, value in self.last.items()}}
        self.writer.add_hparams(hparams, metrics, run_name=".", global_step=self.epoch_done)
        self.writer.close()
