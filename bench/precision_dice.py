"""Validation Dice after the same short training in fp32 and in bf16 (same seed, same data).

    python -m bench.precision_dice --epochs 8

Trains the demo configuration (UNet width 16, 128 px, synthetic set) twice as `seglab train`
children, differing only in --precision, and prints both runs' per-epoch val Dice and the gaps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from core.config import DEMO_CONFIG
from core.runs.events import EpochEvent, read_events
from core.runs.folders import list_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=DEMO_CONFIG.epochs)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    c = DEMO_CONFIG
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEGLAB_CACHE_DIR"] = str(Path(tmp) / "cache")
        root = Path(tmp) / "runs"
        for precision in ("fp32", "bf16"):
            subprocess.run([sys.executable, "-m", "tui.cli", "train", "--data", "synthetic", "--model", c.model,
                            "--width", str(c.width), "--image-size", str(c.image_size), "--epochs", str(args.epochs),
                            "--seed", str(args.seed), "--precision", precision, "--name", precision,
                            "--runs-dir", str(root)], check=True, stdout=subprocess.DEVNULL)
            run = next(r for r in list_runs(root) if r.name.endswith(f"-{precision}"))
            dice = [e.val_dice for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
            seconds = [e.seconds for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
            results[precision] = {"val_dice": [round(d, 4) for d in dice], "best": round(max(dice), 4),
                                  "final": round(dice[-1], 4), "seconds": round(sum(seconds), 1)}
    results["best_gap"] = round(abs(results["fp32"]["best"] - results["bf16"]["best"]), 4)
    results["final_gap"] = round(abs(results["fp32"]["final"] - results["bf16"]["final"]), 4)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
