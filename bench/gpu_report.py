"""bench/gpu_check.sh's Python half: the train-step sweep, reading each step's log into numbers, and the report.

    python -m bench.gpu_report train-steps --device cuda --json steps/train_steps.data.json
    python -m bench.gpu_report record --step demo --rc 0 --seconds 21.3 --work WORK
    python -m bench.gpu_report report --work WORK --out OUT

`record` writes WORK/steps/STEP.json: status (ok, skipped or failed), seconds, exit code, the step's key
numbers and, when it failed, the end of its log. `report` gathers them into OUT/gpu_results.json and
OUT/gpu_results.md and exits 1 when a step failed. Only the standard library here: each call starts fast.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from bench.gpu_logs import STEPS, read_json, record, run_folder
from bench.gpu_steps import train_steps


def gpu_name() -> str | None:
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip().replace("\n", "; ") if done.returncode == 0 and done.stdout.strip() else None


def version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def machine() -> dict:
    from core.device import cpu_model  # here, not at the top: the report's other commands need no torch

    return {"gpu": gpu_name(), "cpu": cpu_model(), "cpu_count": os.cpu_count(), "torch": version("torch"),
            "python": platform.python_version(), "platform": platform.platform(), "commit": git_commit(),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


VARIANT_NAMES = {"fp32": "fp32", "cl": "fp32 channels_last", "bf16": "bf16", "bf16cl": "bf16 + channels_last",
                 "auto": "auto"}


def cell(value, key: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if key.endswith("_s") or value >= 10 else f"{value:.4f}"
    return str(value).replace("|", "\\|")


def summary(step: dict) -> str:
    """A step's few key numbers, for the report's first table."""
    n, name = step["numbers"], step["step"]
    if not n:
        return step["note"] or "-"
    if name == "pytest":
        return f"{n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped, {n['errors']} errors"
    if name == "train_steps":
        rows = n.get("rows", [])
        eager = sum(row.get("eager", {}).get("status") == "ok" for row in rows)
        compiled = sum(row.get("compile", {}).get("status") == "ok" for row in rows)
        best = [(rate, row["model"], variant) for row in rows
                for variant, rate in row.get("eager", {}).get("images_per_s", {}).items()]
        fastest = f"; fastest eager {max(best)[1]} {max(best)[2]} {max(best)[0]:.1f} images/s" if best else ""
        return f"{eager}/{len(rows)} models eager, {compiled}/{len(rows)} compiled{fastest}"
    if name == "demo":
        return f"test Dice {cell(n.get('test_dice'))}, best val Dice {cell(n.get('best_val_dice'))}"
    if name == "small_data":
        return (f"test Dice {cell(n.get('test_dice'))} on {cell(n.get('test_images'))} images; {cell(n.get('epochs'))} "
                f"epochs, best val Dice {cell(n.get('best_val_dice'))}")
    if name == "torchrun":
        return (f"run {n.get('run_state', '-')}; all-reduce {'ok' if n.get('collective_ok') else 'FAILED'} over "
                f"{n.get('backend', '-')}")
    return "-"


def train_steps_table(numbers: dict) -> list[str]:
    variants = numbers["variants"].split(",")
    compiled = numbers["compile_variants"].split(",")
    header = ["model", *(VARIANT_NAMES.get(v, v) for v in variants),
              *(f"{VARIANT_NAMES.get(v, v)}, compiled" for v in compiled), "compile"]
    lines = [f"images/s, {numbers['size']} px, batch {numbers['batch']}, median of {numbers['reps']} on "
             f"{numbers['device']}:", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in numbers["rows"]:
        eager, compile_ = row.get("eager", {}), row.get("compile", {})
        values = [eager.get("images_per_s", {}).get(v) for v in variants]
        values += [compile_.get("images_per_s", {}).get(v) for v in compiled]
        note = compile_.get("status", "-") if compile_ else "-"
        if compile_.get("reason"):
            note += f": {compile_['reason']}"
        if eager and eager.get("status") != "ok":
            note = f"eager {eager['status']}: {eager.get('reason', '')}; compile {note}"
        lines.append("| " + " | ".join([row["model"], *(cell(v) for v in values), cell(note)]) + " |")
    return lines


def markdown(results: dict) -> str:
    info = results["machine"]
    lines = [f"# GPU check{' (dry run, on the CPU)' if results['dry_run'] else ''}", "",
             f"Machine: {info['gpu'] or 'no GPU'}; CPU {info['cpu']} ({info['cpu_count']} cores); torch "
             f"{info['torch']}, Python {info['python']}; commit {info['commit'] or '-'}; {info['date']}.", "",
             f"Total {results['seconds']:.0f} s; {results['failed']} step(s) failed.", "",
             "| step | status | seconds | key numbers |", "|---|---|---|---|"]
    for step in results["steps"]:
        lines.append(f"| {step['step']} | {step['status']} | {step['seconds']:.1f} | {cell(summary(step))} |")
    for step in results["steps"]:
        note = f": {step['note']}" if step["note"] else ""
        lines += ["", f"## {step['step']}: {step['title']}", "",
                  f"Status **{step['status']}** in {step['seconds']:.1f} s (limit {step['limit_s']} s){note}.", ""]
        lines += [f"    $ {command}" for command in step["commands"]] + [""]
        if step["step"] == "train_steps" and step["numbers"].get("rows"):
            lines += train_steps_table(step["numbers"])
        else:
            lines += ["| what | value |", "|---|---|"]
            lines += [f"| {k} | {cell(v, k)} |" for k, v in step["numbers"].items()]
        if step.get("log_tail"):
            lines += ["", "End of its log:", "", "```", *step["log_tail"], "```"]
    return "\n".join(lines) + "\n"


def report(args: argparse.Namespace) -> int:
    work, out = Path(args.work), Path(args.out)
    steps = []
    for name, title in STEPS.items():
        entry = read_json(work / "steps" / f"{name}.json")
        steps.append(entry or {"step": name, "title": title, "status": "failed", "seconds": 0.0, "exit_code": None,
                               "limit_s": None, "commands": [], "numbers": {}, "note": "never ran (no record)"})
    failed = sum(step["status"] == "failed" for step in steps)
    results = {"dry_run": args.dry_run, "machine": machine(), "seconds": round(args.seconds, 1), "failed": failed,
               "steps": steps}
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_results.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    (out / "gpu_results.md").write_text(text)
    print(text.split("\n## ", 1)[0], flush=True)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    sweep = commands.add_parser("train-steps", help="bench.train_step for each model, eager then compiled")
    sweep.add_argument("--device", default="cuda")
    sweep.add_argument("--size", type=int, default=256)
    sweep.add_argument("--batch", type=int, default=16)
    sweep.add_argument("--reps", type=int, default=5)
    sweep.add_argument("--warmup", type=int, default=2)
    sweep.add_argument("--models", required=True, help="comma-separated, or all: timed eager")
    sweep.add_argument("--compile-models", default="", help="comma-separated, or all: timed compiled, in order")
    sweep.add_argument("--variants", default="fp32,bf16cl")
    sweep.add_argument("--compile-variants", default="bf16cl")
    sweep.add_argument("--compile-backend", default="inductor",
                       help="the dry run traces with aot_eager: the same path through torch.compile, no C++ build")
    sweep.add_argument("--budget", type=float, default=150, help="seconds for the whole sweep")
    sweep.add_argument("--eager-timeout", type=float, default=90, help="seconds for one model's eager process")
    sweep.add_argument("--min-compile-s", type=float, default=30,
                       help="start a compiled process only with this much of the budget left")
    sweep.add_argument("--json", required=True)

    rec = commands.add_parser("record", help="read a step's log into WORK/steps/STEP.json")
    rec.add_argument("--step", required=True, choices=STEPS)
    rec.add_argument("--rc", type=int, required=True)
    rec.add_argument("--seconds", type=float, required=True)
    rec.add_argument("--limit", type=int)
    rec.add_argument("--work", required=True)
    rec.add_argument("--dry-run", action="store_true")

    folder = commands.add_parser("run-folder", help="print the run folder a seglab train log names")
    folder.add_argument("log")

    rep = commands.add_parser("report", help="write OUT/gpu_results.json and OUT/gpu_results.md")
    rep.add_argument("--work", required=True)
    rep.add_argument("--out", required=True)
    rep.add_argument("--seconds", type=float, default=0.0)
    rep.add_argument("--dry-run", action="store_true")

    args = parser.parse_args()
    if args.command == "train-steps":
        return train_steps(args)
    if args.command == "record":
        return record(args)
    if args.command == "run-folder":
        run = run_folder(Path(args.log).read_text(errors="replace"))
        if run is None:
            print(f"{args.log}: no 'run folder:' line", file=sys.stderr)
            return 1
        print(run)
        return 0
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
