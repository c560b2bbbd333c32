"""A sweep against a hand-made recipe on the same time: on oxford-pet-mini, `seglab sweep` with a total budget of
--minutes (trials of --trial-minutes each, from the small-data preset, over lr, width, augmentation and EMA), and
`seglab train --preset small-data` given the same minutes through --time-budget; each scored on the test split
(per-image Dice, best.pt) by `seglab evaluate`. A report, not a threshold.

    python -m bench.sweep_budget --minutes 30 --trial-minutes 5

Rows are appended to bench/sweep_budget_results.jsonl with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.device import cpu_model

MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "oxford-pet-mini"
RESULTS = Path(__file__).with_name("sweep_budget_results.jsonl")
TRIALS_SHOWN = Path(__file__).with_name("sweep_budget_trials.txt")  # the last sweep's `seglab sweep show`
SEARCH = ["--search", "lr=log:3e-4..3e-3", "--search", "width=16,32", "--search", "augment=flip,standard,strong",
          "--search", "ema=0,0.99"]


def seglab(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tui.cli", *args], check=True, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "160"})
    return done.stdout


def test_dice(root: Path, run: str) -> dict:
    seglab("evaluate", run, "--split", "test", "--runs-dir", str(root))
    folder = next(path for path in root.iterdir() if path.name.endswith(run) or path.name == run)
    result = json.loads((folder / "eval-test.json").read_text())
    return {"run": folder.name, "test_dice": round(result["dice"], 4), "test_images": result["images"]}


def sweep_arm(root: Path, args: argparse.Namespace) -> dict:
    """The sweep: trials until the total budget would be passed (pruned trials end early and free their time, so
    more trials are allowed than fit at full length)."""
    started = time.perf_counter()
    trials = 4 * int(args.minutes // args.trial_minutes)
    printed = seglab("sweep", "budget", "--data", str(args.data), "--preset", "small-data", *SEARCH, "--trials",
                     str(trials), "--trial-budget", str(args.trial_minutes), "--total-budget", str(args.minutes),
                     "--runs-dir", str(root))
    sweep_s = time.perf_counter() - started
    shown = seglab("sweep", "show", "budget", "--runs-dir", str(root))
    TRIALS_SHOWN.write_text(shown)
    best = next(line for line in shown.splitlines() if line.startswith("best: trial"))
    ended = next((line for line in printed.splitlines() if line.startswith("sweep budget:")), "")
    return {"what": "sweep", "minutes": args.minutes, "trial_minutes": args.trial_minutes, "trials_allowed": trials,
            "trials": ended, "wall_s": round(sweep_s, 1), "best": best,
            "importance": next((line for line in shown.splitlines() if line.startswith("importance")), ""),
            **test_dice(root, best.split("(")[1].split(")")[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--trial-minutes", type=float, default=5.0)
    parser.add_argument("--data", type=Path, default=MINI)
    parser.add_argument("--arms", nargs="+", choices=("sweep", "preset"), default=["sweep", "preset"])
    args = parser.parse_args()
    machine = {"cpu": cpu_model(), "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        if "sweep" in args.arms:
            rows.append(sweep_arm(root, args))
        if "preset" in args.arms:
            started = time.perf_counter()
            seglab("train", "--data", str(args.data), "--preset", "small-data", "--time-budget", str(args.minutes),
                   "--name", "preset", "--runs-dir", str(root))
            rows.append({"what": "small-data preset", "minutes": args.minutes,
                         "wall_s": round(time.perf_counter() - started, 1), **test_dice(root, "preset")})
    with open(RESULTS, "a", encoding="utf-8") as f:
        for row in rows:
            print(json.dumps(row), flush=True)
            f.write(json.dumps({**row, **machine}) + "\n")


if __name__ == "__main__":
    main()
