"""Which model for which machine: every model (or those named) trained by `seglab train` on oxford-pet-mini under the
same time budget, each in a child process of its own, with its training and inference images/s, the child's peak
memory, the epochs the budget allowed and the test Dice (per image, best.pt) from `seglab evaluate`.

    python -m bench.models --budget 10                                     # every model, 10 minutes each
    python -m bench.models --budget 10 --models efficientnet_lite0_unet unet --imagenet efficientnet_lite0_unet

Every model trains the small-data recipe (bce+dice, standard augmentation, warmup 3 + cosine, EMA 0.99, lr 1e-3,
batch 16, width 32) at 256 px, except the plain UNet at its preset's 128 px (at 256 px it fits a dozen epochs in
ten minutes). --imagenet MODEL trains MODEL from its ImageNet weights (only those on this machine). Rows are
appended to bench/models_results.jsonl with the machine; seglab models shows the speeds measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from core.device import cpu_model, resolve_runtime
from core.models import MODEL_NAMES, build_model

MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "oxford-pet-mini"
RESULTS = Path(__file__).with_name("models_results.jsonl")
RECIPE = ["--loss", "bce+dice", "--augment", "standard", "--scheduler", "cosine", "--warmup-epochs", "3",
          "--ema", "0.99", "--lr", "1e-3", "--batch-size", "16", "--width", "32", "--precision", "auto"]
IMAGE_SIZE = {"unet": 128}  # else 256


def inference_images_per_second(name: str, size: int, batch: int = 8, reps: int = 3) -> float:
    runtime = resolve_runtime("cpu", "auto", "auto")
    model = runtime.prepare_model(build_model(name, width=32).eval())
    images = runtime.prepare_batch(torch.randn(batch, 3, size, size))
    times = []
    for _ in range(reps + 1):
        started = time.perf_counter()
        with torch.inference_mode(), runtime.autocast():
            model(images).float().sum().item()
        times.append(time.perf_counter() - started)
    return batch / statistics.median(times[1:])


def train_and_score(name: str, budget: float, imagenet: bool, root: Path, data: Path) -> dict:
    size = IMAGE_SIZE.get(name, 256)
    run_name = f"{name}{'-imagenet' if imagenet else ''}"
    command = [sys.executable, "-m", "tui.cli", "train", "--model", name, "--data", str(data), "--image-size",
               str(size), "--time-budget", str(budget), "--name", run_name, "--runs-dir", str(root), *RECIPE,
               *(["--encoder-weights", "imagenet"] if imagenet else [])]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own peak resident memory
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{name}: seglab train exited {child.returncode}")
    wall = time.perf_counter() - started
    peak_mb = usage.ru_maxrss / 1024
    evaluate = [sys.executable, "-m", "tui.cli", "evaluate", run_name, "--split", "test", "--runs-dir", str(root)]
    subprocess.run(evaluate, check=True, stdout=subprocess.DEVNULL)
    run = next(path for path in root.iterdir() if path.name.endswith(f"-{run_name}"))
    result = json.loads((run / "eval-test.json").read_text())
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    epochs = [event for event in events if event["type"] == "epoch"]
    progress = [event for event in events if event["type"] == "progress" and event["step"] == event["steps"]]
    return {"model": name, "imagenet": imagenet, "image_size": size, "budget_min": budget,
            "epochs": len(epochs), "train_images_s": round(statistics.median(p["images_per_s"] for p in progress), 2)
            if progress else None, "inference_images_s": round(inference_images_per_second(name, size), 2),
            "peak_rss_mb": round(peak_mb), "test_dice": round(result["dice"], 4),
            "test_images": result["images"], "best_val_dice": round(max(e["val_dice"] for e in epochs), 4),
            "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=10.0, help="minutes of training per model")
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES))
    parser.add_argument("--imagenet", nargs="*", default=[], help="models to train from their ImageNet weights")
    parser.add_argument("--data", type=Path, default=MINI)
    args = parser.parse_args()
    machine = {"cpu": cpu_model(), "cores": torch.get_num_threads(), "torch": torch.__version__,
               "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory() as root:
        for name in args.models:
            for imagenet in ([True] if name in args.imagenet else []) + [False]:
                row = {**train_and_score(name, args.budget, imagenet, Path(root), args.data), **machine}
                print(json.dumps(row), flush=True)
                with open(RESULTS, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
