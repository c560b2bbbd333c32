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
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
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


# ---- train steps -------------------------------------------------------------------------------------------

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


# ---- reading the steps' logs -------------------------------------------------------------------------------

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


# ---- the report --------------------------------------------------------------------------------------------

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
