"""results.csv in every run folder: one row per finished epoch (losses, Dice, IoU, each class's when multiclass,
lr, seconds, images/s), rewritten atomically as each epoch ends, so a spreadsheet or pandas reads it mid-run."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from core.atomic_files import atomic_write_text
from core.runs.events import EpochEvent

COLUMNS = ("epoch", "train_loss", "val_loss", "val_dice", "val_iou")
TAIL = ("lr", "seconds", "images_per_s")


def results_csv(epochs: Iterable[EpochEvent]) -> str:
    """The table of `epochs` (the last event of each epoch number wins, as a resumed run's log may repeat one)."""
    by_number = {event.epoch: event for event in epochs}
    rows = [by_number[number] for number in sorted(by_number)]
    classes = list(dict.fromkeys(name for event in rows for name in (*event.class_dice, *event.class_iou)))
    header = [*COLUMNS, *(f"dice_{name}" for name in classes), *(f"iou_{name}" for name in classes), *TAIL]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for event in rows:
        writer.writerow([event.epoch, _number(event.train_loss), _number(event.val_loss), _number(event.val_dice),
                         _number(event.val_iou), *(_number(event.class_dice.get(name)) for name in classes),
                         *(_number(event.class_iou.get(name)) for name in classes), f"{event.lr:.6g}",
                         f"{event.seconds:.2f}", f"{event.images_per_s:.2f}"])
    return out.getvalue()


def write_results_table(epochs: Iterable[EpochEvent], path: Path) -> None:
    atomic_write_text(path, results_csv(epochs))


def _number(value: float | None) -> str:
    return "" if value is None or value != value else f"{value:.6f}"  # NaN (a class never seen): empty
