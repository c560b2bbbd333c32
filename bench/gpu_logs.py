"""Reading each step's log of bench/gpu_check.sh into numbers: `record` writes WORK/steps/STEP.json, and the
`run-folder` subcommand's run_folder. Only the standard library here, as in bench/gpu_report.py."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
from pathlib import Path

# step name -> its title in the report, in the order the script runs them
STEPS = {
    "pytest": "CUDA tests (pytest -m cuda tests/gpu)",
    "train_steps": "Train step images/s (fp32 vs bf16 + channels_last, compile off/on)",
    "demo": "seglab demo --headless",
    "small_data": "seglab train --preset small-data, then seglab evaluate --split test",
    "torchrun": "1-process torchrun: seglab train, and an all-reduce over seglab's backend (NCCL on CUDA)",
}
LOG_TAIL_LINES = 25


def json_lines(text: str) -> list[dict]:
    """The JSON objects bench/train_step.py prints, one a line, among whatever else the process printed."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            with contextlib.suppress(json.JSONDecodeError):
                rows.append(json.loads(line))
    return rows


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def run_folder(log: str) -> Path | None:
    """The run folder `seglab train` printed last in this log (its first line: 'run folder: PATH')."""
    found = re.findall(r"^run folder: (.+)$", log, flags=re.MULTILINE)
    return Path(found[-1].strip()) if found else None


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def parse_pytest(log: str, rc: int, dry_run: bool) -> tuple[str, dict, str]:
    summary = [line for line in log.splitlines() if re.search(r"\d+ (passed|failed|skipped|error)", line)]
    counts = {key: 0 for key in ("passed", "failed", "skipped", "errors")}
    if summary:
        for number, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed)",
                                       summary[-1]):
            counts["errors" if word.startswith("error") else word] = int(number)
    if rc != 0:
        return "failed", counts, f"pytest exit code {rc}"
    if counts["passed"] == 0 and counts["skipped"] > 0:
        # on a CPU (the dry run) every CUDA test skips; on a GPU that would mean torch sees no GPU
        return ("skipped" if dry_run else "failed"), counts, "every test skipped: torch sees no CUDA GPU"
    return ("ok" if counts["passed"] > 0 else "failed"), counts, ""


def parse_train_steps(work: Path, rc: int) -> tuple[str, dict, str]:
    data = read_json(work / "steps" / "train_steps.data.json")
    if data is None:
        return "failed", {}, f"no results (exit code {rc})"
    numbers = {key: data[key] for key in ("device", "size", "batch", "reps", "variants", "compile_variants")}
    numbers["rows"] = data["rows"]
    fallbacks = [row["model"] for row in data["rows"]
                 if row.get("compile", {}).get("status") in ("fallback", "not run")]
    note = f"compile fell back or was not run for: {', '.join(fallbacks)}" if fallbacks else ""
    return ("ok" if data["status"] == "ok" and rc == 0 else "failed"), numbers, note


def parse_demo(log: str, rc: int) -> tuple[str, dict, str]:
    numbers = {}
    if match := re.search(r"test Dice ([0-9.]+) \(per image\), IoU ([0-9.]+) on (\d+) images", log):
        numbers.update(test_dice=float(match[1]), test_iou=float(match[2]), test_images=int(match[3]))
    if match := re.search(r"best val Dice ([0-9.]+)", log):
        numbers["best_val_dice"] = float(match[1])
    if match := re.search(r"demo took (\d+) s", log):
        numbers["demo_reported_s"] = int(match[1])
    if rc != 0 or "test_dice" not in numbers:
        return "failed", numbers, f"exit code {rc}" if rc else "no 'test Dice' line in its output"
    return "ok", numbers, ""


def parse_small_data(log: str, rc: int) -> tuple[str, dict, str]:
    numbers: dict = {}
    run = run_folder(log)
    if match := re.search(r"^(finished|stopped): (\d+)/(\d+) epochs, best val Dice ([0-9.]+)", log, re.MULTILINE):
        numbers.update(state=match[1], epochs=int(match[2]), best_val_dice=float(match[4]))
    if run is not None:
        numbers["run"] = run.name
        config = read_json(run / "config.json") or {}
        numbers.update({key: config[key] for key in ("model", "image_size", "width", "batch_size") if key in config})
        result = read_json(run / "eval-test.json")
        if result is not None:
            numbers.update(test_dice=result["dice"], test_iou=result["iou"], test_images=result["images"],
                           eval_precision=result.get("precision"))
    numbers.update(parse_phase_seconds(log))
    if rc != 0 or "test_dice" not in numbers:
        return "failed", numbers, f"exit code {rc}" if rc else "no eval-test.json in the run"
    return "ok", numbers, ""


def parse_torchrun(log: str, rc: int) -> tuple[str, dict, str]:
    numbers: dict = {}
    run = run_folder(log)
    status = read_json(run / "status.json") if run is not None else None
    if status is not None:
        numbers.update(run_state=status.get("state"), epochs=status.get("epoch"),
                       device=(status.get("runtime") or {}).get("device"),
                       processes=(status.get("runtime") or {}).get("processes"))
    probes = [row for row in json_lines(log) if row.get("probe") == "collective"]
    if probes:
        probe = probes[-1]
        numbers.update(collective_ok=probe.get("ok"), backend=probe.get("backend"),
                       nccl_version=probe.get("nccl_version"), collective_device=probe.get("device"))
    numbers.update(parse_phase_seconds(log))
    problems = []
    if rc != 0:
        problems.append(f"exit code {rc}")
    if numbers.get("run_state") != "finished":
        problems.append(f"run state {numbers.get('run_state')!r}, not 'finished'")
    if not numbers.get("collective_ok"):
        problems.append("the all-reduce probe did not succeed")
    return ("failed" if problems else "ok"), numbers, "; ".join(problems)


def parse_phase_seconds(log: str) -> dict:
    """The seconds of each command of a step, from the '# PART took N s' lines gpu_check.sh writes."""
    return {f"{name}_s": float(seconds) for name, seconds in re.findall(r"^# (\w+) took ([0-9.]+) s$", log, re.M)}


def record(args: argparse.Namespace) -> int:
    work = Path(args.work)
    log_path = work / "logs" / f"{args.step}.log"
    log = log_path.read_text(errors="replace") if log_path.is_file() else ""
    try:
        if args.step == "pytest":
            status, numbers, note = parse_pytest(log, args.rc, args.dry_run)
        elif args.step == "train_steps":
            status, numbers, note = parse_train_steps(work, args.rc)
        elif args.step == "demo":
            status, numbers, note = parse_demo(log, args.rc)
        elif args.step == "small_data":
            status, numbers, note = parse_small_data(log, args.rc)
        elif args.step == "torchrun":
            status, numbers, note = parse_torchrun(log, args.rc)
        else:
            raise ValueError(f"unknown step {args.step!r}")
    except Exception as error:  # noqa: BLE001 - a parsing bug must still leave a failed record
        status, numbers, note = "failed", {}, f"could not read its results: {type(error).__name__}: {error}"
    if args.rc in (124, 137):
        status, note = "failed", f"timed out (over its {args.limit} s limit)" if args.limit else "timed out"
    entry = {"step": args.step, "title": STEPS.get(args.step, args.step), "status": status,
             "seconds": round(args.seconds, 1), "exit_code": args.rc, "limit_s": args.limit,
             "commands": [line[2:] for line in log.splitlines() if line.startswith("$ ")],
             "numbers": numbers, "note": note}
    if status == "failed":
        entry["log_tail"] = log.splitlines()[-LOG_TAIL_LINES:]
    (work / "steps").mkdir(parents=True, exist_ok=True)
    (work / "steps" / f"{args.step}.json").write_text(json.dumps(entry, indent=2) + "\n")
    print(f"{args.step}: {status} in {args.seconds:.0f} s{f' ({note})' if note else ''}", flush=True)
    return 0
