"""The 3-class trimap task (background, pet, border) against the binary task with the same budget, per model:
each pair trained by `seglab train` with identical settings but --task, then scored on the test split.

    python -m bench.multiclass --data ../shared/data/oxford-pet-mini --models unet resnet34_unet \
        --set epochs=30 --set image_size=128 --set width=32

For the multiclass model it reports per-class test Dice (per image, a class absent from both truth and prediction
skipped), the mean over foreground classes (pet, border), the mean Dice and IoU over all three classes and the pixel
accuracy (what published 3-class trimap results quote), and the binary Dice of pet ∪ border (argmax not background
vs trimap pet or border) to set beside the binary model's test Dice. One JSON object per run is appended to --out
(default bench/multiclass_results.jsonl) and a table printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from core.device import resolve_runtime
from core.inference.evaluation import evaluate_run
from core.metrics import SegmentationMeter
from core.run_data import split_dataset
from core.runs.events import EpochEvent, read_events
from core.runs.folders import Run, list_runs
from core.training.checkpoints import model_from_checkpoint
from core.training.loops import make_loader


def train(data: str, model: str, task: str, overrides: list[str], root: Path) -> tuple[Run, float]:
    """A real `seglab train` child; returns the run and its summed epoch seconds."""
    options = []
    for item in overrides:
        key, _, value = item.partition("=")
        options += [f"--{key.replace('_', '-')}", value]
    name = f"{model}-{task}"
    command = [sys.executable, "-m", "tui.cli", "train", "--model", model, "--task", task, "--data", data,
               "--name", name, "--runs-dir", str(root), *options]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    run = next(r for r in list_runs(root) if r.name.endswith(f"-{name}"))
    return run, sum(e.seconds for e in read_events(run.events_path) if isinstance(e, EpochEvent))


@torch.inference_mode()
def foreground_union_dice(run: Run) -> float:
    """Per-image binary Dice of "any class but background" on the test split, at the training size: the number
    a binary model's `evaluate` reports, for a multiclass model."""
    model, config, _ = model_from_checkpoint(run.checkpoint_path("best"))
    runtime = resolve_runtime("auto", config.precision, config.memory_format)
    model = runtime.prepare_model(model)
    meter = SegmentationMeter()
    for images, masks in make_loader(split_dataset(config, "test"), config, runtime, shuffle=False):
        with runtime.autocast():
            logits = model(runtime.prepare_batch(images)).float()
        foreground = logits.argmax(dim=1, keepdim=True) > 0  # as a logit: > 0 where foreground
        meter.update(foreground.float() * 2 - 1, (masks > 0).float()[:, None])
    return meter.compute()["dice"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--models", nargs="+", default=["unet", "resnet34_unet"])
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--out", type=Path, default=Path("bench/multiclass_results.jsonl"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as root:
        for model in args.models:
            for task in ("binary", "multiclass"):
                started = time.perf_counter()
                run, seconds = train(args.data, model, task, args.set, Path(root))
                scored = evaluate_run(run, split="test")
                result = {"model": model, "task": task, "settings": args.set, "train_seconds": round(seconds, 1),
                          "wall_seconds": round(time.perf_counter() - started, 1), "test_dice": scored["dice"],
                          "test_iou": scored["iou"]}
                if task == "multiclass":
                    result |= {"class_dice": {name: values["dice"] for name, values in scored["per_class"].items()},
                               "dice_all": scored["dice_all"], "iou_all": scored["iou_all"],
                               "pixel_accuracy": scored["pixel_accuracy"],
                               "foreground_union_dice": foreground_union_dice(run)}
                print(json.dumps(result), flush=True)
                with open(args.out, "a", encoding="utf-8") as f:
                    f.write(json.dumps(result) + "\n")
                results.append(result)
    print("\n| model | task | test Dice (binary: pet; multiclass: mean of pet, border) | background | pet | border "
          "| mean Dice, 3 classes | mean IoU, 3 classes | pixel accuracy | pet ∪ border Dice | train s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r["task"] == "binary":
            print(f"| {r['model']} | binary | {r['test_dice']:.3f} | | | | | | | {r['test_dice']:.3f} | "
                  f"{r['train_seconds']:.0f} |")
        else:
            c = r["class_dice"]
            print(f"| {r['model']} | multiclass | {r['test_dice']:.3f} | {c['background']:.3f} | {c['pet']:.3f} | "
                  f"{c['border']:.3f} | {r['dice_all']:.3f} | {r['iou_all']:.3f} | {r['pixel_accuracy']:.3f} | "
                  f"{r['foreground_union_dice']:.3f} | {r['train_seconds']:.0f} |")


if __name__ == "__main__":
    main()
