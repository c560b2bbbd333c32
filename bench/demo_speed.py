"""`seglab demo --headless` timed as a new user runs it: a fresh process, a fresh cache (so the synthetic set
is generated), training + evaluation + overlays; with `--precision fp32` the CPU's bf16 is hidden, which is
the path a CPU without AVX512-BF16/AMX takes.

    python -m bench.demo_speed                        # this machine's own path (auto precision)
    python -m bench.demo_speed --precision fp32 --reps 3
    python -m bench.demo_speed --precision fp32 --isa avx2   # ATen, oneDNN and MKL kernels limited to AVX2
    git worktree add /tmp/before 26ef6d7 && python -m bench.demo_speed --checkout /tmp/before   # the old demo

Prints one JSON line per repetition (wall seconds, best val Dice, test Dice, precision) and appends them to
bench/demo_speed_results.jsonl. On the project's machines the fp32 time on a Zen 4 EPYC, times the measured
ratio of the AVX2-only EPYC (bench/README.md), is the estimate for that class.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.device import cpu_model

RESULTS = Path("bench/demo_speed_results.jsonl")
# Runs the CLI with bf16 hidden: auto precision then resolves as on a CPU without fast bf16.
# console_main where it exists (older checkouts, timed with --checkout, have main only)
PLAIN_ENTRY = "import tui.cli as c; getattr(c, 'console_main', c.main)()"
FP32_ENTRY = "import core.device as d; d.cpu_has_fast_bf16 = lambda: False; " + PLAIN_ENTRY
# The kernels an AVX2-only CPU runs, on a CPU with more: what the instruction set alone costs (not that class's
# clock, cores or memory).
AVX2_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def run_demo(precision: str, checkout: Path | None = None, isa: str = "native") -> dict:
    """One `seglab demo --headless` in a child with an empty runs folder and cache; its wall time and scores.
    `checkout`: time the seglab of another worktree (e.g. the commit before a change) the same way;
    `isa="avx2"`: with the kernels limited to AVX2."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "SEGLAB_CACHE_DIR": f"{scratch}/cache", "SEGLAB_RUNS_DIR": f"{scratch}/runs",
               **(AVX2_KERNELS if isa == "avx2" else {})}
        if checkout is not None:
            env["PYTHONPATH"] = str(checkout.resolve())
        entry = FP32_ENTRY if precision == "fp32" else PLAIN_ENTRY
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", entry, "demo", "--headless", "--runs-dir", f"{scratch}/runs"],
                              env=env, capture_output=True, text=True, check=False, cwd=checkout)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"demo failed ({done.returncode}):\n{done.stderr[-2000:]}")
        (run,) = Path(scratch, "runs").iterdir()
        status = json.loads((run / "status.json").read_text())
        config = json.loads((run / "config.json").read_text())
        test = re.search(r"test Dice ([0-9.]+)", done.stdout)
        return {"wall_s": round(wall, 1), "best_val_dice": round(status["best_dice"], 4),
                "test_dice": float(test.group(1)) if test else None, "precision": config["runtime"]["precision"],
                "overlays": len(list((run / "predictions" / "test").glob("*_overlay.png"))),
                "checkout": str(checkout) if checkout else "this", "isa": isa, "config": {
                    key: config[key] for key in ("width", "image_size", "batch_size", "epochs", "lr")},
                "cpu": platform.machine(), "cpu_model": cpu_model()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precision", choices=("auto", "fp32"), default="auto")
    parser.add_argument("--isa", choices=("native", "avx2"), default="native",
                        help="avx2: limit ATen, oneDNN and MKL to AVX2 kernels")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--checkout", type=Path, help="time the seglab of this worktree instead")
    args = parser.parse_args()
    for _ in range(args.reps):
        result = run_demo(args.precision, args.checkout, args.isa)
        print(json.dumps(result))
        with RESULTS.open("a") as out:
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
