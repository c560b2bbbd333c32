"""The duration estimate shown before a run (core/training/estimate.py) against the run's real duration:
estimate, then train in the same process and time `train()` (setup, cache fill and every epoch).

    python -m bench.estimate_accuracy --data ../shared/data/oxford-pet-mini

Cases: the demo preset, and 3 epochs of the paper preset on DATA. Appends one JSON line per case to
bench/estimate_accuracy_results.jsonl and prints them; `error` is estimate / real - 1.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from core.config import PRESETS
from core.device import cpu_model
from core.training.engine import train
from core.training.estimate import estimate_duration
from core.training.launch import prepare_run

RESULTS = Path("bench/estimate_accuracy_results.jsonl")


def measure(name: str, config) -> dict:
    with tempfile.TemporaryDirectory() as runs:
        plan = prepare_run(config, Path(runs))  # generates the synthetic set first, as the CLI does
        started = time.perf_counter()
        estimate = estimate_duration(plan.config, use_recorded=False)
        probe_s = time.perf_counter() - started
        started = time.perf_counter()
        summary = train(plan.config, plan.run)
        real = time.perf_counter() - started
    return {"case": name, "estimate_s": round(estimate.seconds, 1), "real_s": round(real, 1),
            "error": round(estimate.seconds / real - 1, 3), "probe_s": round(probe_s, 1),
            "shown": estimate.describe(), "epochs": summary.epochs, "cpu": cpu_model()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a dataset folder for the paper preset's case")
    parser.add_argument("--cases", nargs="+", default=["demo", "paper-3-epochs"])
    args = parser.parse_args()
    cases = {"demo": PRESETS["demo"],
             "paper-3-epochs": PRESETS["paper"].replace(data=str(Path(args.data).resolve()), epochs=3),
             "small-data-3-epochs": PRESETS["small-data"].replace(data=str(Path(args.data).resolve()), epochs=3)}
    for name in args.cases:
        result = measure(name, cases[name])
        print(json.dumps(result), flush=True)
        with RESULTS.open("a") as out:
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
