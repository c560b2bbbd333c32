"""A predictions folder's files, named and read in one place: the per-image rows of results.csv (written and
read here), each image's overlay and mask PNG, and summary.json. No torch, so the dashboard reads them cheaply.
A multiclass folder's results.csv has a `dice_<class>` column per class and its summary.json a legend of the
class colours."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.atomic_files import atomic_write_text
from core.data.labels import Labels

RESULTS_CSV = "results.csv"
SUMMARY_JSON = "summary.json"
COLUMNS = ("name", "width", "height", "foreground", "dice", "iou", "image")  # image: the file predicted on
CLASS_COLUMN = "dice_"  # + class name: a multiclass image's Dice of that class (empty: in neither mask)


def overlay_path(folder: Path, stem: str) -> Path:
    return folder / f"{stem}_overlay.png"


def mask_path(folder: Path, stem: str) -> Path:
    return folder / f"{stem}_mask.png"


@dataclass(frozen=True)
class PredictionRow:
    """One image's result; dice/iou are None where no ground-truth mask exists. Scores are per image, at the
    image's own resolution."""

    name: str
    width: int
    height: int
    foreground: float  # fraction of pixels predicted as foreground (multiclass: as any class but background)
    dice: float | None  # multiclass: the mean over foreground classes present in truth or prediction
    iou: float | None
    folder: Path
    class_dice: dict[str, float | None] = field(default_factory=dict)  # multiclass with truth: Dice per class
    image: str = ""  # the image file predicted on (empty in folders written before it was recorded)

    @property
    def overlay(self) -> Path:
        return overlay_path(self.folder, self.name)

    @property
    def mask(self) -> Path:
        return mask_path(self.folder, self.name)


def result_columns(labels: Labels) -> list[str]:
    """results.csv's header: the common columns, then a multiclass run's Dice column per class."""
    return [*COLUMNS, *([CLASS_COLUMN + name for name in labels.names] if labels.multiclass else [])]


def row_record(row: PredictionRow, labels: Labels) -> dict[str, str | int]:
    """A row as results.csv writes it (scores to six decimals, empty where there is no truth)."""
    return {"name": row.name, "width": row.width, "height": row.height, "foreground": f"{row.foreground:.6f}",
            "dice": _number(row.dice), "iou": _number(row.iou), "image": row.image,
            **{CLASS_COLUMN + name: _number(row.class_dice.get(name)) for name in
               (labels.names if labels.multiclass else ())}}


class ResultTotals:
    """Running sums for summary.json, one row at a time (a folder of any size costs the same memory): Dice and IoU
    over the rows that have them, foreground over all rows, each class's Dice where present; added in row order,
    they are the same floats a sum over a list gives."""

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self.rows, self.scored, self.dice, self.iou, self.foreground = 0, 0, 0.0, 0.0, 0.0
        self.class_dice = {name: [0, 0.0] for name in labels.names} if labels.multiclass else {}

    def add(self, row: PredictionRow) -> None:
        self.rows += 1
        self.foreground += row.foreground
        if row.dice is not None:
            self.scored += 1
            self.dice += row.dice
            self.iou += row.iou or 0.0
        for name, total in self.class_dice.items():
            value = row.class_dice.get(name)
            if value is not None:
                total[0] += 1
                total[1] += value

    def summary(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "task": self.labels.task,
            "images": self.rows,
            "mean_dice": self.dice / self.scored if self.scored else None,
            "mean_iou": self.iou / self.scored if self.scored else None,
            "mean_foreground": self.foreground / self.rows if self.rows else None,
        }
        if self.labels.multiclass:
            values["classes"] = self.labels.legend()
            values["mean_class_dice"] = {name: total[1] / total[0] if total[0] else None
                                         for name, total in self.class_dice.items()}
        return values


def totals_of(folder: Path, labels: Labels) -> ResultTotals:
    """The totals of a predictions folder's results.csv as written (scores to six decimals)."""
    totals = ResultTotals(labels)
    for row in iter_results(folder):
        totals.add(row)
    return totals


def write_summary(folder: Path, totals: ResultTotals, info: dict[str, Any]) -> dict[str, Any]:
    """summary.json: `info` plus the folder, the count and the means; returns the summary."""
    values = totals.summary()
    summary = {**info, "output": str(folder), **values}
    atomic_write_text(folder / SUMMARY_JSON, json.dumps(summary, indent=2) + "\n")
    return summary


def read_results(folder: Path) -> list[PredictionRow]:
    """The rows of a predictions folder's results.csv."""
    return list(iter_results(folder))


def iter_results(folder: Path) -> Iterator[PredictionRow]:
    """The rows of a predictions folder's results.csv, one at a time."""
    with open(folder / RESULTS_CSV, newline="", encoding="utf-8") as f:
        for record in csv.DictReader(f):
            yield PredictionRow(name=record["name"], width=int(record["width"]), height=int(record["height"]),
                                foreground=float(record["foreground"]), dice=_optional(record["dice"]),
                                iou=_optional(record["iou"]), folder=folder,
                                class_dice={key[len(CLASS_COLUMN):]: _optional(value)
                                            for key, value in record.items() if key.startswith(CLASS_COLUMN)},
                                image=record.get("image") or "")


def read_summary(folder: Path) -> dict[str, Any]:
    """A predictions folder's summary.json ({} when missing or unreadable)."""
    try:
        values = json.loads((folder / SUMMARY_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return values if isinstance(values, dict) else {}


def has_results(folder: Path) -> bool:
    return (folder / RESULTS_CSV).is_file()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _optional(text: str) -> float | None:
    return float(text) if text else None
