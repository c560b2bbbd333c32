"""End-to-end training speed on a real dataset: seglab's default path against pure compute and
against the seed-style baseline (Pillow decode + resize every item every epoch, fp32 NCHW, no
workers, no cache, glibc's default malloc); then prediction speed including writing overlays and
masks. With --baseline-with-reuse the baseline also runs a second time with seglab's malloc
setting (core/host_memory.py), to show what the rest of the default path gives on its own.

    python -m bench.end_to_end --data ../shared/data/oxford-pet-mini --model resnet34_unet \
        --epochs 3 --baseline-epochs 2

Each training is a real `seglab train` child process. Train time per epoch comes from the
epoch's last progress event (images trained / images-per-second: the training steps, data
loading included, validation excluded). Pure compute times the same number of steps with the same batch
sizes on a batch already in memory, in this process, with the same runtime choices, just before and
just after the default run (this machine's speed drifts by several percent over minutes; the mean
of the two is the yardstick).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.train_step import seglab_step
from core.config import TrainConfig
from core.data import list_samples
from core.device import resolve_runtime
from core.host_memory import MALLOC_ENV
from core.runs.events import EpochEvent, ProgressEvent, read_events
from core.runs.folders import list_runs

BASELINE = ["--precision", "fp32", "--memory-format", "contiguous", "--cache", "none", "--workers", "0"]


def train(data: str, model: str, epochs: int, size: int, root: Path, name: str, extra: list[str],
          malloc: str = "reuse") -> dict:
    command = [sys.executable, "-m", "tui.cli", "train", "--data", data, "--model", model, "--epochs", str(epochs),
               "--image-size", str(size), "--name", name, "--runs-dir", str(root), *extra]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, MALLOC_ENV: malloc})
    wall = time.perf_counter() - started
    run = next(r for r in list_runs(root) if r.name.endswith(f"-{name}"))
    events = read_events(run.events_path)
    train_seconds: dict[int, float] = {}
    for event in events:
        if isinstance(event, ProgressEvent) and event.step == event.steps:  # the epoch's last step
            train_seconds[event.epoch] = event.images / event.images_per_s
    dice = [e.val_dice for e in events if isinstance(e, EpochEvent)]
    return {"run": run, "wall_s": round(wall, 1), "train_s": train_seconds, "val_dice": dice,
            "runtime": json.loads(run.config_path.read_text()).get("runtime")}


def per_epoch(result: dict) -> dict[int, float]:
    return {epoch: round(seconds, 2) for epoch, seconds in result["train_s"].items()}


def later_mean(result: dict) -> float:
    """Mean train seconds of epochs 2 and later: the first epoch also fills the cache."""
    return statistics.mean(seconds for epoch, seconds in result["train_s"].items() if epoch >= 2)


def pure_compute_seconds(model: str, size: int, batch_sizes: list[int], repeats: int = 3) -> float:
    runtime = resolve_runtime("auto", "auto", "auto")
    runtime.prepare_host_memory()  # as `seglab train` does
    steps = {b: seglab_step(model, runtime, b, size, compile_model=False) for b in set(batch_sizes)}
    for step in steps.values():
        step()  # warm-up
    totals = []
    for _ in range(repeats):
        start = time.perf_counter()
        for b in batch_sizes:
            steps[b]()
        totals.append(time.perf_counter() - start)
    return statistics.median(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default="resnet34_unet")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--baseline-epochs", type=int, default=2)
    parser.add_argument("--baseline-with-reuse", action="store_true",
                        help="also run the baseline with seglab's malloc setting")
    args = parser.parse_args()

    train_count = len(list_samples(args.data, "train"))
    batch = TrainConfig().batch_size
    batch_sizes = [batch] * (train_count // batch)  # training drops the last partial batch
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEGLAB_CACHE_DIR"] = str(Path(tmp) / "cache")
        root = Path(tmp) / "runs"
        compute_before = pure_compute_seconds(args.model, args.size, batch_sizes)
        default = train(args.data, args.model, args.epochs, args.size, root, "default", [])
        compute_after = pure_compute_seconds(args.model, args.size, batch_sizes)
        baseline = train(args.data, args.model, args.baseline_epochs, args.size, root, "baseline", BASELINE,
                         malloc="system")
        reuse = None
        if args.baseline_with_reuse:
            reuse = train(args.data, args.model, args.baseline_epochs, args.size, root, "baselinereuse", BASELINE)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tui.cli", "predict", default["run"].name, "--split", "test",
                        "--runs-dir", str(root)], check=True, stdout=subprocess.DEVNULL)
        predict_wall = time.perf_counter() - started
        summary = json.loads((default["run"].predictions_dir / "test" / "summary.json").read_text())
    compute = (compute_before + compute_after) / 2
    default_later = later_mean(default)
    report = {
        "model": args.model, "size": args.size, "train_images": train_count, "steps_per_epoch": len(batch_sizes),
        "runtime": default["runtime"], "baseline_runtime": baseline["runtime"],
        "default_train_s_per_epoch": per_epoch(default),
        "pure_compute_s_per_epoch": round(compute, 2),
        "pure_compute_before_after": [round(compute_before, 2), round(compute_after, 2)],
        "epoch2plus_over_compute": round(default_later / compute, 3),
        "baseline_train_s_per_epoch": per_epoch(baseline),
        "default_speedup_over_baseline_epoch2plus": round(later_mean(baseline) / default_later, 2),
    }
    if reuse is not None:
        report["baseline_with_reuse_train_s_per_epoch"] = per_epoch(reuse)
        report["default_speedup_over_baseline_with_reuse_epoch2plus"] = round(later_mean(reuse) / default_later, 2)
    report |= {
        "default_val_dice": [round(d, 4) for d in default["val_dice"]],
        "baseline_val_dice": [round(d, 4) for d in baseline["val_dice"]],
        "predict_images": summary["images"], "predict_seconds_in_loop": summary["seconds"],
        "predict_images_per_s": round(summary["images"] / summary["seconds"], 2),
        "predict_command_wall_s": round(predict_wall, 1), "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
