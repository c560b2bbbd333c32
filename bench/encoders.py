"""Every model of the registry at 256 px, batch 16, on seglab's default path (`precision auto`,
`memory_format auto`): train and inference images/s and peak memory, each model in its own process; and
(--dice) the test Dice of ResNet-UNets of several depths trained from scratch with one recipe and budget.

    python -m bench.encoders --speed                          # every model, one child process each
    python -m bench.encoders --dice ../shared/data/oxford-pet-mini --models resnet18_unet resnet34_unet \
        resnet50_unet --set epochs=30 --set image_size=128 --set width=32

Speed: one step = forward + BCEWithLogits + backward + AdamW as the engine trains (bench/train_step.py's
step); inference = forward under inference_mode in eval mode. Median of --reps after one warm-up. Peak
memory: the child's peak RSS (torch and Python included; on a GPU, torch.cuda.max_memory_allocated too).
Results are appended to bench/encoders_results.jsonl, one JSON object per model, and printed as a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path("bench/encoders_results.jsonl")

CHILD = r'''
import json, resource, statistics, sys, time
import torch
from bench.train_step import training_step
from core.device import resolve_runtime
from core.models import build_model
name, batch, size, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
runtime = resolve_runtime("auto", "auto", "auto")
torch.manual_seed(0)
model = runtime.prepare_model(build_model(name))
def timed(step):
    step()  # warm-up: allocator, oneDNN primitives
    times = []
    for _ in range(reps):
        started = time.perf_counter(); step(); times.append(time.perf_counter() - started)
    return batch / statistics.median(times)
model.train()
train = timed(training_step(model, runtime, batch, size))
model.eval()
x = runtime.prepare_batch(torch.randn(batch, 3, size, size))
def infer():
    with torch.inference_mode(), runtime.autocast():
        model(x).float().sum().item()
inference = timed(infer)
result = {"model": name, "batch": batch, "size": size, "train_images_s": round(train, 2),
          "inference_images_s": round(inference, 2), "peak_rss_gib": round(
              resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2), **runtime.describe()}
if runtime.device.type == "cuda":
    result["peak_cuda_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
print(json.dumps(result))
'''


def speed(models: list[str], batch: int, size: int, reps: int) -> list[dict]:
    results = []
    for name in models:
        out = subprocess.run([sys.executable, "-c", CHILD, name, str(batch), str(size), str(reps)], check=True,
                             capture_output=True, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1]) | {"machine": platform.processor() or
                                                                     platform.machine()}
        results.append(_record(result))
    print("\n| model | train images/s | inference images/s | peak RSS GiB |\n|---|---|---|---|")
    for r in results:
        print(f"| {r['model']} | {r['train_images_s']:.2f} | {r['inference_images_s']:.2f} | {r['peak_rss_gib']} |")
    return results


def dice(data: str, models: list[str], overrides: list[str]) -> None:
    from bench.multiclass import train
    from core.inference.evaluation import evaluate_run

    rows = []
    with tempfile.TemporaryDirectory() as root:
        for name in models:
            started = time.perf_counter()
            run, seconds = train(data, name, "binary", overrides, Path(root))
            scored = evaluate_run(run, split="test")
            result = {"model": name, "settings": overrides, "train_seconds": round(seconds, 1),
                      "wall_seconds": round(time.perf_counter() - started, 1), "test_dice": scored["dice"],
                      "test_iou": scored["iou"]}
            rows.append(_record(result))
    print("\n| model | test Dice | test IoU | train s |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['test_dice']:.3f} | {r['test_iou']:.3f} | {r['train_seconds']:.0f} |")


def _record(result: dict) -> dict:
    """Print one result as a JSON line and append it to RESULTS."""
    print(json.dumps(result), flush=True)
    with open(RESULTS, "a", encoding="utf-8") as f:
        f.write(json.dumps(result) + "\n")
    return result


def main() -> None:
    from core.models import MODEL_NAMES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--dice", metavar="DATA")
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()
    if not args.speed and not args.dice:
        parser.error("give --speed, --dice DATA or both")
    if args.speed:
        speed(args.models, args.batch, args.size, args.reps)
    if args.dice:
        dice(args.dice, args.models, args.set)


if __name__ == "__main__":
    main()
