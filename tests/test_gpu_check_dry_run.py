"""`bash bench/gpu_check.sh --dry-run`: every step of the GPU check, on the CPU at tiny sizes, so the script
still runs on the day a GPU is lent (bench/gpu_check.sh runs the real thing there)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
STEPS = ["pytest", "train_steps", "demo", "small_data", "torchrun"]


@pytest.mark.slow
def test_the_dry_run_runs_every_step_and_writes_the_results(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("OUT", None)
    done = subprocess.run(["bash", "bench/gpu_check.sh", "--dry-run", "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    log = out / "gpu_check.log"
    assert done.returncode == 0, (done.stdout[-4000:] + done.stderr[-2000:]
                                  + (log.read_text()[-4000:] if log.is_file() else ""))
    # only the three result files: a device machine sends back at most 8 files (runs and cache stay out)
    assert sorted(path.name for path in out.iterdir()) == ["gpu_check.log", "gpu_results.json", "gpu_results.md"]

    results = json.loads((out / "gpu_results.json").read_text())
    assert results["dry_run"] is True and results["failed"] == 0
    assert results["machine"]["torch"] and results["machine"]["cpu"]
    steps = {step["step"]: step for step in results["steps"]}
    assert list(steps) == STEPS
    for name in STEPS[1:]:
        assert steps[name]["status"] == "ok", steps[name]
        assert steps[name]["seconds"] > 0 and steps[name]["commands"]

    tests = steps["pytest"]["numbers"]
    if torch.cuda.is_available():
        assert steps["pytest"]["status"] == "ok" and tests["passed"] > 0
    else:  # every CUDA test collected, and skipped
        assert steps["pytest"]["status"] == "skipped" and tests["skipped"] >= 7 and tests["passed"] == 0
    assert tests["failed"] == tests["errors"] == 0

    sweep = steps["train_steps"]["numbers"]
    assert sweep["device"] == "cpu"
    (row,) = sweep["rows"]
    assert row["model"] == "unet" and set(row["eager"]["images_per_s"]) == {"fp32", "bf16cl"}
    assert all(rate > 0 for rate in row["eager"]["images_per_s"].values())
    assert row["compile"]["status"] in ("ok", "fallback")  # a CPU without a compiler falls back, as training does
    if row["compile"]["status"] == "ok":
        assert row["compile"]["images_per_s"]["bf16cl"] > 0

    demo = steps["demo"]["numbers"]
    assert 0 <= demo["test_dice"] <= 1 and demo["test_images"] > 0
    small = steps["small_data"]["numbers"]
    assert small["state"] == "finished" and small["epochs"] == 1 and small["width"] == 8
    assert small["test_images"] == 4 and 0 <= small["test_dice"] <= 1  # the Oxford fixture's 4 test images
    torchrun = steps["torchrun"]["numbers"]
    assert torchrun["run_state"] == "finished" and torchrun["processes"] == 1
    assert torchrun["collective_ok"] is True and torchrun["backend"] == "gloo"

    report = (out / "gpu_results.md").read_text()
    assert report.startswith("# GPU check (dry run, on the CPU)")
    for name in STEPS:
        assert f"| {name} | {steps[name]['status']} |" in report
        assert f"## {name}: {steps[name]['title']}" in report
    assert "| unet |" in report
