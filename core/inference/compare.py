"""Comparing runs side by side: each run's history, its scores on a split (an existing eval-<split>.json when it
matches the checkpoint, else a fresh evaluation), its per-image Dice and masks, the settings that differ, and the
images on which the runs disagree most, and a short name for each. The report's files are written by
core/inference/compare_report.py."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.config import SYNTHETIC, TrainConfig
from core.errors import ConfigError
from core.runs.events import EpochEvent, read_epochs
from core.runs.folders import Run, open_run
from core.runs.status import RunStatus

# Fields that name or place a run rather than describe its recipe: never listed as "settings that differ".
NOT_SETTINGS = {"name", "preset"}
MASK_SIDE = 128  # masks are compared (and drawn in the grid) at this common size, whatever each run's image size
Progress = Callable[[str, int, int], None]  # (what is being done, steps done, steps in all)


@dataclass
class RunPredictions:
    """One run's pass over the split: per-image Dice (binary; multiclass: mean over the foreground classes
    present) and its masks at MASK_SIDE px (class ids; binary 0/1), by sample name."""

    names: list[str]
    dice: list[float]
    masks: dict[str, np.ndarray]


@dataclass
class ComparedRun:
    run: Run
    config: TrainConfig
    status: RunStatus
    epochs: list[EpochEvent]
    evaluation: dict[str, Any]
    parameters: int
    predictions: RunPredictions | None = None
    label: str = ""  # what tables and figures call the run (display_names); empty: its folder name without the time

    @property
    def display_name(self) -> str:
        return self.label or short_name(self.run.name)

    @property
    def best_epoch(self) -> EpochEvent | None:
        best = [e for e in self.epochs if e.is_best]
        return best[-1] if best else None

    @property
    def history(self) -> list[EpochEvent]:
        """One event per epoch, in order: a resumed run logs an epoch it had not finished again; the last counts."""
        latest = {e.epoch: e for e in self.epochs}
        return [latest[n] for n in sorted(latest)]

    @property
    def train_seconds(self) -> float:
        return sum(e.seconds for e in self.history)

    @property
    def images_per_second(self) -> float | None:
        seconds = self.train_seconds
        if not seconds or not self.status.train_images:
            return None
        return self.status.train_images * len(self.history) / seconds


@dataclass
class Comparison:
    runs: list[ComparedRun]
    split: str
    checkpoint: str
    differing: list[str] = field(default_factory=list)  # config fields whose values differ between the runs
    order: list[str] = field(default_factory=list)  # image names, the runs' worst disagreement first
    disagreement: dict[str, float] = field(default_factory=dict)  # share of pixels where the runs' masks differ

    @property
    def multiclass(self) -> bool:
        return self.runs[0].config.task == "multiclass"

    def chosen_images(self, count: int, seed: int = 0) -> list[str]:
        """`count` images for a side-by-side grid: the most disputed half first, then random others."""
        worst = self.order[: (count + 1) // 2]
        rest = [name for name in self.order if name not in worst]
        return worst + random.Random(seed).sample(rest, min(count - len(worst), len(rest)))


def short_name(name: str) -> str:
    """A run's name without its leading time (20261128-142501-unet-pets -> unet-pets), for narrow titles."""
    return re.sub(r"^\d{8}-\d{6}-", "", name)


def display_names(entries: list[ComparedRun]) -> list[str]:
    """What tables, legends and figures call each run: its --name, else its folder name without the leading time
    (20261206-064657-unet-study -> unet-study); a name two runs share falls back to the folder name, which is unique
    (the folder itself stays in compare.csv)."""
    candidates = [entry.config.name or short_name(entry.run.name) for entry in entries]
    chosen = [name if candidates.count(name) == 1 else entry.run.name for name, entry in zip(candidates, entries,
                                                                                             strict=True)]
    return [name if chosen.count(name) == 1 else str(entry.run.path) for name, entry in zip(chosen, entries,
                                                                                             strict=True)]


def open_runs(refs: list[str], root: Path, force: bool = False) -> list[Run]:
    """The runs named (folder, name or unique prefix), at least two, distinct, of one task and one dataset
    unless `force`. Every refusal is one line."""
    if len(refs) < 2:
        raise ConfigError(f"compare needs two or more runs, got {len(refs)}")
    runs = [open_run(ref, root) for ref in refs]
    if len({run.path.resolve() for run in runs}) < len(runs):
        raise ConfigError("compare: the same run is named twice")
    configs = [run.load_config() for run in runs]
    if not force:
        for what, value_of in (("task", lambda config: config.task), ("data", data_of)):
            values = [value_of(config) for config in configs]
            if len(set(values)) > 1:
                pairs = ", ".join(f"{run.name}: {value}" for run, value in zip(runs, values, strict=True))
                raise ConfigError(f"compare: the runs differ in {what} ({pairs}); give --force to compare anyway")
    return runs


def data_of(config: TrainConfig) -> str:
    """The dataset a run trained on: its folder, or for the synthetic set what generates it (a set of other size,
    count or seed holds other images under the same names)."""
    if config.data != SYNTHETIC:
        return config.data
    return f"synthetic ({config.synthetic_count} images of {config.synthetic_size} px, seed {config.seed})"


def differing_settings(configs: list[TrainConfig]) -> list[str]:
    """The config fields whose values are not the same in every config (names and presets left out)."""
    names = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in NOT_SETTINGS]
    return [name for name in names if len({json.dumps(getattr(c, name)) for c in configs}) > 1]


def matching_evaluation(run: Run, split: str, checkpoint: str) -> dict[str, Any] | None:
    """An eval-<split>.json made from this checkpoint as it is now (written after it), or None."""
    from core.inference.evaluation import eval_path

    path, weights = eval_path(run, split, checkpoint=checkpoint), run.checkpoint_path(checkpoint)
    if not path.is_file() or not weights.is_file():
        return None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if result.get("checkpoint") != str(weights) or path.stat().st_mtime < weights.stat().st_mtime:
        return None
    return result


def compare_runs(runs: list[Run], split: str = "test", checkpoint: str = "best", device: str = "auto",
                 predictions: bool = True, progress: Progress | None = None) -> Comparison:
    """Everything a comparison shows. Evaluates the runs whose eval-<split>.json does not match the checkpoint
    (writing it, as `seglab evaluate` does); with `predictions`, runs each model over the split for per-image
    Dice and masks and orders the images by how much the runs disagree."""
    from core.inference.evaluation import evaluate_run
    from core.models import count_parameters
    from core.run_model import model_for

    report = progress or (lambda what, done, total: None)
    steps = len(runs) * (2 if predictions else 1)  # an evaluation per run, then a prediction pass per run
    compared = []
    for index, run in enumerate(runs):
        if not run.checkpoint_path(checkpoint).is_file():
            raise ConfigError(f"compare: {run.name} has no checkpoints/{checkpoint}.pt")
        config = run.load_config()
        report(f"evaluating {run.name}", index, steps)
        evaluation = matching_evaluation(run, split, checkpoint) or evaluate_run(run, split, checkpoint, device)
        with torch.device("meta"):
            parameters = count_parameters(model_for(config))
        epochs = read_epochs(run.events_path)
        compared.append(ComparedRun(run, config, run.read_status(), epochs, evaluation, parameters))
    for entry, label in zip(compared, display_names(compared), strict=True):
        entry.label = label
    comparison = Comparison(compared, split, checkpoint, differing_settings([c.config for c in compared]))
    if predictions:
        for index, entry in enumerate(compared):
            report(f"predicting {entry.run.name}", len(runs) + index, steps)
            entry.predictions = predict_split(entry.run, split, checkpoint, device)
        comparison.disagreement = disagreement([c.predictions for c in compared if c.predictions])
        comparison.order = disputed_first(comparison.disagreement)
    report("done", steps, steps)
    return comparison


@torch.inference_mode()
def predict_split(run: Run, split: str, checkpoint: str, device: str = "auto") -> RunPredictions:
    """Each image of the split through the run's checkpoint: its Dice and its mask at MASK_SIDE px."""
    from core.device import resolve_runtime
    from core.run_data import run_labels, split_dataset
    from core.training.checkpoints import model_from_checkpoint
    from core.training.loops import make_loader, make_meter

    model, config, _ = model_from_checkpoint(run.checkpoint_path(checkpoint))
    labels = run_labels(config)
    runtime = resolve_runtime(device, config.precision, config.memory_format)
    model = runtime.prepare_model(model).eval()
    dataset = split_dataset(config, split)
    names = [sample.name for sample in dataset.samples]
    dice, masks = [], {}
    position = 0
    for images, truth in make_loader(dataset, config, runtime, shuffle=False):
        with runtime.autocast():
            logits = model(runtime.prepare_batch(images)).float().cpu()
        classes = logits.argmax(dim=1) if labels.multiclass else (logits[:, 0] > 0).long()
        small = torch.nn.functional.interpolate(classes[:, None].float(), size=(MASK_SIDE, MASK_SIDE),
                                                mode="nearest")[:, 0].to(torch.uint8)
        for index in range(logits.shape[0]):
            meter = make_meter(labels)
            meter.update(logits[index:index + 1], truth[index:index + 1])
            dice.append(float(meter.compute()["dice"]))
            masks[names[position]] = small[index].numpy()
            position += 1
    return RunPredictions(names, dice, masks)


def disagreement(predictions: list[RunPredictions]) -> dict[str, float]:
    """For each image every run predicted: the share of pixels where not all runs predict the same class."""
    common = [name for name in predictions[0].names if all(name in p.masks for p in predictions[1:])]
    shares = {}
    for name in common:
        stack = np.stack([p.masks[name] for p in predictions])
        shares[name] = float((stack != stack[0]).any(axis=0).mean())
    return shares


def disputed_first(shares: dict[str, float]) -> list[str]:
    """Image names, the largest share of disputed pixels first (names in their order where shares tie)."""
    return sorted(shares, key=lambda name: -shares[name])


def table_rows(comparison: Comparison, folders: bool = False) -> list[dict[str, str]]:
    """The comparison table, one dict per run, columns in display order; only the settings that differ. Runs go by
    their display name; `folders` adds each run's folder name beside it (compare.csv)."""
    rows = []
    for entry in comparison.runs:
        result, best = entry.evaluation, entry.best_epoch
        row = {"run": entry.display_name, **({"folder": entry.run.name} if folders else {})}
        row |= {
            "model": entry.config.model, "task": entry.config.task,
            "parameters": f"{entry.parameters:,}", "epochs": f"{entry.status.epoch}/{entry.config.epochs}",
            "best val Dice": f"{best.val_dice:.4f} (ep {best.epoch})" if best else "-",
            f"{comparison.split} Dice": _score(result.get("dice")),
            f"{comparison.split} IoU": _score(result.get("iou")),
            "Dice micro": _score(result.get("dice_micro")), "IoU micro": _score(result.get("iou_micro")),
        }
        for name, scores in (result.get("per_class") or {}).items():
            row[f"Dice {name}"] = _score(scores.get("dice"))
        seconds, speed = entry.train_seconds, entry.images_per_second
        row["train time"] = f"{seconds / 60:.1f} min" if seconds else "-"
        row["images/s"] = f"{speed:.1f}" if speed else "-"
        for name in comparison.differing:
            row[name] = str(getattr(entry.config, name))
        rows.append(row)
    return rows


def _score(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{float(value):.4f}"
