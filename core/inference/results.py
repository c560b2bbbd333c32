"""A predictions folder's files, named and read in one place: the per-image rows of results.csv (written and
read here), each image's overlay and mask PNG, and summary.json. No torch, so the dashboard reads them cheaply.
A multiclass folder's results.csv has a `dice_<class>` column per class and its summary.json a legend of the
class colours."""

from __future__ import annotations

import csv
import json
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


def write_results(folder: Path, rows: list[PredictionRow], labels: Labels, info: dict[str, Any]) -> dict[str, Any]:
    """results.csv (one row per image) and summary.json (`info` plus counts and means; multiclass: the class
    legend and each class's mean Dice); returns the summary."""
    class_columns = [CLASS_COLUMN + name for name in labels.names] if labels.multiclass else []
    with open(folder / RESULTS_CSV, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[*COLUMNS, *class_columns])
        writer.writeheader()
        for row in rows:
            writer.writerow({"name": row.name, "width": row.width, "height": row.height,
                             "foreground": f"{row.foreground:.6f}", "dice": _number(row.dice), "iou": _number(row.iou),
                             "image": row.image,
                             **{CLASS_COLUMN + name: _number(row.class_dice.get(name)) for name in
                                (labels.names if labels.multiclass else ())}})
    scored = [row for row in rows if row.dice is not None]
    summary = {
        **info,
        "output": str(folder),
        "task": labels.task,
        "images": len(rows),
        "mean_dice": sum(r.dice for r in scored) / len(scored) if scored else None,
        "mean_iou": sum(r.iou for r in scored) / len(scored) if scored else None,
        "mean_foreground": sum(r.foreground for r in rows) / len(rows) if rows else None,
    }
    if labels.multiclass:
        summary["classes"] = labels.legend()
        summary["mean_class_dice"] = {name: _mean([row.class_dice.get(name) for row in rows]) for name in labels.names}
    atomic_write_text(folder / SUMMARY_JSON, json.dumps(summary, indent=2) + "\n")
    return summary


def read_results(folder: Path) -> list[PredictionRow]:
    """The rows of a predictions folder's results.csv."""
    with open(folder / RESULTS_CSV, newline="", encoding="utf-8") as f:
        return [PredictionRow(name=record["name"], width=int(record["width"]), height=int(record["height"]),
                              foreground=float(record["foreground"]), dice=_optional(record["dice"]),
                              iou=_optional(record["iou"]), folder=folder,
                              class_dice={key[len(CLASS_COLUMN):]: _optional(value) for key, value in record.items()
                                          if key.startswith(CLASS_COLUMN)},
                              image=record.get("image") or "")
                for record in csv.DictReader(f)]


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


def _mean(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present else None


def _optional(text: str) -> float | None:
    return float(text) if text else None
