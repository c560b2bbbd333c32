"""Scoring a run's checkpoint on a split of its data: loss, Dice and IoU, written to eval-<split>.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.atomic_files import atomic_write_text
from core.device import resolve_runtime
from core.errors import ConfigError
from core.inference.predict_resume import checkpoint_file_key
from core.losses import build_loss
from core.models.tta import check_tta
from core.run_data import run_labels, split_dataset
from core.runs.folders import Run
from core.training.checkpoints import model_from_checkpoint
from core.training.loops import evaluate, make_loader
from core.training.state import checkpoint_epoch_label

CLASS_KEYS = ("dice", "iou", "dice_micro", "iou_micro")  # per-class scores in an eval file


def eval_path(run: Run, split: str, tta: str = "none", checkpoint: str = "best") -> Path:
    """Where `evaluate_run` writes its result: eval-<split>.json for best.pt, eval-<split>-last.json for last.pt,
    eval-<split>-file-<hash>.json for another checkpoint file (so evaluating one never replaces the best's
    scores), each with -tta-<tta> before .json under test-time augmentation."""
    which = ""
    if checkpoint != "best":
        which = "-last" if checkpoint == "last" else f"-file-{checkpoint_file_key(run.checkpoint_path(checkpoint))}"
    return run.path / f"eval-{split}{which}{'' if tta == 'none' else f'-tta-{tta}'}.json"




def check_task(config, path: Path, task: str | None) -> None:
    """A checkpoint is used for the task it was trained for: asking for the other one is one line."""
    if task is not None and task != config.task:
        raise ConfigError(f"task: {path} holds a {config.task} model ({config.out_channels} output "
                          f"channel{'s' if config.out_channels > 1 else ''}); it cannot be used as {task}: "
                          f"drop --task {task}")


def evaluate_run(run: Run, split: str = "test", checkpoint: str = "best", device: str = "auto",
                 tta: str = "none", task: str | None = None) -> dict[str, Any]:
    """Evaluate a run's checkpoint on a split of its data, with the run's precision; writes eval-<split>.json
    (eval-<split>-tta-flip.json with test-time augmentation). `task`, when given, must be the checkpoint's."""
    check_tta(tta)
    path = run.checkpoint_path(checkpoint)
    model, config, payload = model_from_checkpoint(path)
    check_task(config, path, task)
    labels = run_labels(config)
    runtime = resolve_runtime(device, config.precision, config.memory_format)
    runtime.prepare_host_memory()
    model = runtime.prepare_model(model)
    loader = make_loader(split_dataset(config, split), config, runtime, shuffle=False)
    loss_fn = build_loss(config.loss, config.task, ignore_index=config.ignore_index)
    metrics = evaluate(model, loader, loss_fn, runtime, tta=tta, labels=labels)
    if labels.multiclass:
        per_class = {name: {key: metrics[f"class_{key}"][index] for key in CLASS_KEYS}
                     for index, name in enumerate(labels.names)}
        metrics = {key: value for key, value in metrics.items() if not key.startswith("class_")}
        metrics = {**metrics, "class_names": list(labels.names), "per_class": per_class}
    result = {"split": split, "checkpoint": str(path), "epoch": payload["epoch"],
              "trained": checkpoint_epoch_label(payload), "precision": runtime.precision,
              "tta": tta, "task": config.task, **metrics}
    atomic_write_text(eval_path(run, split, tta, checkpoint), json.dumps(result, indent=2) + "\n")
    return result
