"""Wall time and peak RSS of short inference commands, where start-up is most of the wait: `seglab predict` of one
photo (torch, and the default --engine auto) and `seglab evaluate` of the test split, each a fresh process, this
checkout against another (--before, e.g. a `git worktree` of an earlier commit), rounds alternated, medians.
Needs the run and photos of `python -m bench.predict_scale --phase make`:

    git worktree add /tmp/before HEAD~1
    python -m bench.command_startup --before /tmp/before

Rows are appended to bench/command_startup_results.jsonl with the machine and the modules each command loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.predict_scale import photos_dir, the_run
from core.device import cpu_model

HERE = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("command_startup_results.jsonl")
WATCHED = ("torchvision", "torch._dynamo", "onnxruntime")
# The CLI's main() in a child that reports its peak RSS and which of WATCHED it loaded, then exits as the installed
# `seglab` script does (console_main's quick exit).
CHILD = ("import atexit, json, resource, sys\nfrom tui.cli import console_main\n"
         "report_path = sys.argv[1]\n"
         "def report():\n"
         "    json.dump({'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,\n"
         f"               'loaded': [name for name in {WATCHED!r} if name in sys.modules]}},"
         " open(report_path, 'w'))\n"
         "atexit.register(report)\n"
         "sys.argv = ['seglab', *sys.argv[2:]]\n"
         "console_main()\n")


def commands(run: Path, photo_folder: Path) -> dict[str, list[str]]:
    return {
        "predict 1 photo (torch)": ["predict", str(run), "--input", str(photo_folder), "--name", "startup",
                                    "--engine", "torch"],
        "predict 1 photo (auto)": ["predict", str(run), "--input", str(photo_folder), "--name", "startup"],
        "evaluate test split": ["evaluate", str(run), "--split", "test"],
    }


def timed(tree: Path, args: list[str], env: dict[str, str], report: Path) -> dict:
    os.sync()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(report), *args], cwd=tree, capture_output=True,
                          text=True, env={**env, "PYTHONPATH": str(tree)})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{tree}: seglab {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return {"seconds": seconds, **json.loads(report.read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout (e.g. a git worktree)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/seglab-predict-scale"),
                        help="bench.predict_scale's folder (its run and photos)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of before then now (medians)")
    args = parser.parse_args()
    run = the_run(args.work)
    with tempfile.TemporaryDirectory() as scratch:
        photo_folder = Path(scratch) / "one"
        photo_folder.mkdir()
        shutil.copy(sorted(photos_dir(args.work, 10_000).glob("*.jpg"))[0], photo_folder)
        report = Path(scratch) / "report.json"
        env = {**os.environ, "SEGLAB_CACHE_DIR": str(args.work / "cache"), "SEGLAB_RUNS_DIR": str(run.parent)}
        rows = []
        for name, command in commands(run, photo_folder).items():
            samples: dict[str, list[dict]] = {"before": [], "now": []}
            for _ in range(args.repeat):
                for side, tree in (("before", args.before.resolve()), ("now", HERE)):
                    shutil.rmtree(run / "predictions" / "startup", ignore_errors=True)
                    samples[side].append(timed(tree, command, env, report))
            row = {"command": name}
            for side, values in samples.items():
                row[f"{side}_s"] = round(statistics.median(value["seconds"] for value in values), 2)
                row[f"{side}_peak_rss_mb"] = round(statistics.median(value["peak_rss_mb"] for value in values), 1)
                row[f"{side}_loaded"] = values[-1]["loaded"]
            row["now_vs_before"] = round(row["now_s"] / row["before_s"], 3)
            print(json.dumps(row), flush=True)
            rows.append(row)
        shutil.rmtree(run / "predictions" / "startup", ignore_errors=True)
    machine = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
               "date": time.strftime("%Y-%m-%d"), "before": str(args.before), "rounds": args.repeat}
    with RESULTS.open("a") as out:
        for row in rows:
            out.write(json.dumps(row | machine) + "\n")


if __name__ == "__main__":
    main()
