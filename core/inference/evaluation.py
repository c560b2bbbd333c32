"""Scoring a run's checkpoint on a split of its data: loss, Dice and IoU, written to eval-<split>.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.atomic_files import atomic_write_text
from core.data.sources import split_dataset
from core.device import resolve_runtime
from core.inference.tta import check_tta
from core.losses import build_loss
from core.runs.folders import Run
from core.training.checkpoints import model_from_checkpoint
from core.training.loops import evaluate, make_loader
from core.training.state import checkpoint_epoch_label


def eval_path(run: Run, split: str, tta: str = "none") -> Path:
    """Where `evaluate_run` writes its result: eval-<split>.json, eval-<split>-tta-<tta>.json with TTA."""
    return run.path / f"eval-{split}{'' if tta == 'none' else f'-tta-{tta}'}.json"


def evaluate_run(run: Run, split: str = "test", checkpoint: str = "best", device: str = "auto",
                 tta: str = "none") -> dict[str, Any]:
    """Evaluate a run's checkpoint on a split of its data, with the run's precision; writes eval-<split>.json
    (eval-<split>-tta-flip.json with test-time augmentation)."""
    check_tta(tta)
    path = run.checkpoint_path(checkpoint)
    model, config, payload = model_from_checkpoint(path)
    runtime = resolve_runtime(device, config.precision, config.memory_format)
    runtime.prepare_host_memory()
    model = runtime.prepare_model(model)
    loader = make_loader(split_dataset(config, split), config, runtime, shuffle=False)
    metrics = evaluate(model, loader, build_loss(config.loss), runtime, tta=tta)
    result = {"split": split, "checkpoint": str(path), "epoch": payload["epoch"],
              "trained": checkpoint_epoch_label(payload), "precision": runtime.precision,
              "tta": tta, **metrics}
    atomic_write_text(eval_path(run, split, tta), json.dumps(result, indent=2) + "\n")
    return result
