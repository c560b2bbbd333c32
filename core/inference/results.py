"""A predictions folder's files, named and read in one place: the per-image rows of results.csv (written and
read here), each image's overlay and mask PNG, and summary.json. No torch, so the dashboard reads them cheaply."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.atomic_files import atomic_write_text

RESULTS_CSV = "results.csv"
SUMMARY_JSON = "summary.json"
COLUMNS = ("name", "width", "height", "foreground", "dice", "iou")


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
    foreground: float  # fraction of pixels predicted as foreground
    dice: float | None
    iou: float | None
    folder: Path

    @property
    def overlay(self) -> Path:
        return overlay_path(self.folder, self.name)

    @property
    def mask(self) -> Path:
        return mask_path(self.folder, self.name)


def write_results(folder: Path, rows: list[PredictionRow], info: dict[str, Any]) -> dict[str, Any]:
    """results.csv (one row per image) and summary.json (`info` plus counts and means); returns the summary."""
    with open(folder / RESULTS_CSV, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({"name": row.name, "width": row.width, "height": row.height,
                             "foreground": f"{row.foreground:.6f}", "dice": _number(row.dice), "iou": _number(row.iou)})
    scored = [row for row in rows if row.dice is not None]
    summary = {
        **info,
        "output": str(folder),
        "images": len(rows),
        "mean_dice": sum(r.dice for r in scored) / len(scored) if scored else None,
        "mean_iou": sum(r.iou for r in scored) / len(scored) if scored else None,
        "mean_foreground": sum(r.foreground for r in rows) / len(rows) if rows else None,
    }
    atomic_write_text(folder / SUMMARY_JSON, json.dumps(summary, indent=2) + "\n")
    return summary


def read_results(folder: Path) -> list[PredictionRow]:
    """The rows of a predictions folder's results.csv."""
    with open(folder / RESULTS_CSV, newline="", encoding="utf-8") as f:
        return [PredictionRow(name=record["name"], width=int(record["width"]), height=int(record["height"]),
                              foreground=float(record["foreground"]), dice=_optional(record["dice"]),
                              iou=_optional(record["iou"]), folder=folder)
                for record in csv.DictReader(f)]


def has_results(folder: Path) -> bool:
    return (folder / RESULTS_CSV).is_file()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _optional(text: str) -> float | None:
    return float(text) if text else None
