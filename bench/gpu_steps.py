"""The train-step sweep (`python -m bench.gpu_report train-steps`): bench.train_step for each model, eager then
compiled while a time budget lasts. Only the standard library here, as in bench/gpu_report.py."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.gpu_logs import json_lines, last_line

CHILDREN: set[subprocess.Popen] = set()  # the bench.train_step process running now, if any


def end_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def end_children_and_exit(signum: int, _frame) -> None:
    """gpu_check.sh's `timeout` stops this process: take the train-step process (its own group) along."""
    for process in list(CHILDREN):
        end_group(process)
    sys.exit(128 + signum)


def train_step_process(args: argparse.Namespace, model: str, variants: str, compile_model: bool,
                       timeout: float, log) -> dict:
    """One `python -m bench.train_step` process: its rows (variant -> images/s) or why there are none."""
    command = [sys.executable, "-m", "bench.train_step", "--model", model, "--device", args.device,
               "--size", str(args.size), "--batch", str(args.batch), "--reps", str(args.reps),
               "--warmup", str(args.warmup), "--variants", variants]
    command += ["--compile", "--compile-backend", args.compile_backend] if compile_model else []
    print("$ " + " ".join(command), file=log, flush=True)
    started = time.perf_counter()
    # its own process group, so a timeout also ends the compile workers torch.compile starts
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    CHILDREN.add(process)
    try:
        stdout, stderr = process.communicate(timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        end_group(process)
        stdout, stderr = process.communicate()
        print(stdout + stderr, file=log, flush=True)
        return {"status": "timeout", "reason": f"over {timeout:.0f} s",
                "seconds": round(time.perf_counter() - started, 1)}
    finally:
        CHILDREN.discard(process)
    print(stdout + stderr, file=log, flush=True)
    rows = [row for row in json_lines(stdout) if row.get("impl") == "seglab"]
    result = {"seconds": round(time.perf_counter() - started, 1),
              "images_per_s": {row["variant"]: row["images_per_s"] for row in rows}}
    if rows:
        result["device"] = rows[0].get("device")
    if process.returncode != 0 or not rows:
        result.update(status="failed", reason=last_line(stderr) or f"exit code {process.returncode}")
    else:
        result["status"] = "ok"
    return result


def model_list(names: str) -> list[str]:
    """Comma-separated model names; 'all' is every model seglab trains (core.models.MODEL_NAMES)."""
    if names == "all":
        from core.models import MODEL_NAMES  # imports torch: only the sweep, which runs torch anyway

        return list(MODEL_NAMES)
    return [name for name in names.split(",") if name]


def train_steps(args: argparse.Namespace) -> int:
    """Every model eager (fp32 and bf16 + channels_last) first, then compiled while the time budget lasts. A
    compile that fails or runs out of time is a fallback, as in `seglab train --compile`: noted, not a failure.
    The results file is rewritten after each process, so a sweep stopped from outside keeps what it measured."""
    signal.signal(signal.SIGTERM, end_children_and_exit)
    deadline = time.monotonic() + args.budget
    models, compiled = model_list(args.models), model_list(args.compile_models)
    rows: dict[str, dict] = {model: {"model": model} for model in models + compiled}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)

    def save(finished: bool) -> bool:
        eager_ok = all(row.get("eager", {}).get("status") == "ok" for row in rows.values()
                       if row["model"] in models)
        summary = {"status": ("ok" if eager_ok else "failed") if finished else "unfinished", "device": args.device,
                   "size": args.size, "batch": args.batch, "reps": args.reps, "variants": args.variants,
                   "compile_variants": args.compile_variants, "rows": list(rows.values())}
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
        return eager_ok

    for model in models:
        left = deadline - time.monotonic()
        if left < 5:
            rows[model]["eager"] = {"status": "not run", "reason": "time budget spent"}
        else:
            timeout = min(args.eager_timeout, left)
            rows[model]["eager"] = train_step_process(args, model, args.variants, False, timeout, sys.stdout)
        save(finished=False)
    for model in compiled:
        left = deadline - time.monotonic()
        if left < args.min_compile_s:
            result = {"status": "not run", "reason": f"under {args.min_compile_s:.0f} s of the time budget left"}
        else:
            result = train_step_process(args, model, args.compile_variants, True, left, sys.stdout)
            if result["status"] != "ok":
                result = {**result, "status": "fallback",
                          "reason": f"torch.compile {result['status']}: {result['reason']}"}
        rows[model]["compile"] = result
        save(finished=False)
    eager_ok = save(finished=True)
    print(json.dumps({"train_steps": "ok" if eager_ok else "failed"}), flush=True)
    return 0 if eager_ok else 1
