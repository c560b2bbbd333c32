"""Training recipes on a small real dataset: each preset trained by `seglab train`, then scored on the
test split (per-image and micro Dice, with and without flip TTA), with its training seconds.

    python -m bench.recipe --data ../shared/data/oxford-pet-mini --preset small-data --seeds 0 1 2
    python -m bench.recipe --data ../shared/data/oxford-pet-mini --preset paper --set epochs=30 --set image_size=128

--set FIELD=VALUE overrides a preset's setting (repeatable). Results are appended, one JSON object per
run, to --out (default bench/recipe_results.jsonl), and a table is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.config import PRESETS
from core.inference.evaluation import evaluate_run
from core.runs.events import EpochEvent, read_events
from core.runs.folders import list_runs


def train(data: str, preset: str, seed: int, overrides: list[str], root: Path) -> tuple[Path, float, float]:
    """A real `seglab train` child; returns the run folder, its summed epoch seconds and its wall time."""
    options = []
    for item in overrides:
        key, _, value = item.partition("=")
        options += [f"--{key.replace('_', '-')}", value]
    name = f"{preset}-s{seed}"
    command = [sys.executable, "-m", "tui.cli", "train", "--preset", preset, "--data", data, "--seed", str(seed),
               "--name", name, "--runs-dir", str(root), *options]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    run = next(r for r in list_runs(root) if r.name.endswith(f"-{name}"))
    seconds = sum(e.seconds for e in read_events(run.events_path) if isinstance(e, EpochEvent))
    return run.path, seconds, wall


def score(run_path: Path) -> dict:
    from core.runs.folders import Run

    run, scores = Run(run_path), {}
    for checkpoint in ("best", "last"):
        for tta in ("none", "flip"):
            result = evaluate_run(run, split="test", checkpoint=checkpoint, tta=tta)
            key = f"{checkpoint}{'_tta' if tta != 'none' else ''}"
            scores[key] = {"dice": round(result["dice"], 4), "dice_micro": round(result["dice_micro"], 4),
                           "epoch": result["epoch"], "images": result["images"]}
    epochs = [e for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
    scores["best_val_dice"] = round(max(e.val_dice for e in epochs), 4)
    scores["epochs_trained"] = len(epochs)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--preset", required=True, choices=list(PRESETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--label", default="", help="a name for this variant in the results")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("recipe_results.jsonl"))
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            run_path, seconds, wall = train(args.data, args.preset, seed, args.overrides, Path(folder))
            config = json.loads((run_path / "config.json").read_text())
            row = {"preset": args.preset, "label": args.label, "overrides": args.overrides, "seed": seed,
                   "model": config["model"], "image_size": config["image_size"],
                   "train_seconds": round(seconds, 1), "wall_seconds": round(wall, 1), **score(run_path),
                   "runtime": config.get("runtime")}
            rows.append(row)
            with args.out.open("a") as out:
                out.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    for key in ("best", "best_tta", "last", "last_tta"):
        dice = [row[key]["dice"] for row in rows]
        micro = [row[key]["dice_micro"] for row in rows]
        spread = f" ± {statistics.stdev(dice):.4f}" if len(dice) > 1 else ""
        print(f"{args.preset} {args.label} {key:9} per-image test Dice {statistics.mean(dice):.4f}{spread} "
              f"(seeds {args.seeds}), micro {statistics.mean(micro):.4f}")
    print(f"training seconds: {', '.join(str(row['train_seconds']) for row in rows)}")


if __name__ == "__main__":
    main()
