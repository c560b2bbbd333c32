"""seglab at scale: the same actions with 10 and with 5,000 run folders, and on a run whose events.jsonl has a
million lines, each timed as a user meets it (a fresh process per action) and the ratio printed.

    python -m bench.scale                 # 10 vs 5,000 runs, and a 1,000,000-line log
    python -m bench.scale --runs 1000 --lines 100000 --repeat 3

The run folders are copies of one real run (trained here: synthetic data, a tiny UNet) under new names, with the
checkpoints hard-linked so 5,000 copies take little disk. The million-line log is what seglab wrote before
progress moved to progress.json: a progress line every step (5,000 steps an epoch, 200 epochs). Times are the
median of --repeat runs of each action after one warm-up (which also writes the runs folder's index, as the
first listing does). Results are appended to bench/scale_results.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
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

from core.runs.events import EpochEvent, EventLog, ProgressEvent, StatusEvent

HERE = Path(__file__).parent
RESULTS = HERE / "scale_results.jsonl"
SEGLAB = [sys.executable, "-m", "tui.cli"]
SMALL = ("status.json", "config.json", "events.jsonl", "results.csv")  # copied; everything else hard-linked


def seglab(*args: str) -> None:
    subprocess.run([*SEGLAB, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "COLUMNS": "120"})


def timed(action, repeat: int) -> float:
    action()  # warm-up: page cache, the runs folder's index
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def seed_run(work: Path) -> Path:
    root = work / "seed"
    seglab("train", "--data", "synthetic", "--epochs", "2", "--width", "8", "--image-size", "64",
           "--synthetic-count", "40", "--batch-size", "8", "--device", "cpu", "--name", "seed", "--runs-dir",
           str(root))
    (run,) = root.iterdir()
    seglab("evaluate", str(run), "--device", "cpu")  # so compare finds its scores instead of evaluating
    return run


def copies(seed: Path, root: Path, count: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    made = []
    for n in range(count):
        folder = root / f"2026{1 + n // 100_000:02d}01-{n // 60 % 10_000:04d}{n % 60:02d}-unet-copy{n:05d}"
        shutil.copytree(seed, folder, copy_function=os.link)
        for name in SMALL:
            if (folder / name).exists():
                (folder / name).unlink()
                shutil.copy2(seed / name, folder / name)
        made.append(folder)
    return made


def dashboard_child(root: str, open_run: str | None) -> None:
    """Run in a fresh process: the dashboard's first paint (runs list, or a run's live screen with its history),
    then the time a page-down takes; prints JSON."""
    from tui.app import make_app
    from tui.screens.dashboard import LiveRunScreen
    from tui.screens.runs import RunsScreen
    from tui.widgets.epoch_table import EpochTable
    from tui.widgets.virtual_table import VirtualTable

    async def measure() -> dict:
        started = time.perf_counter()
        app = make_app(Path(root), open_run=Path(open_run) if open_run else None)
        async with app.run_test(size=(120, 40)) as pilot:
            def painted() -> bool:
                screen = app.screen
                if open_run:
                    return isinstance(screen, LiveRunScreen) and screen.query_one(EpochTable).row_count > 0
                return isinstance(screen, RunsScreen) and screen.query_one(VirtualTable).row_count > 0

            while not painted():
                await asyncio.sleep(0.002)
            await pilot.pause()
            first = time.perf_counter() - started
            keys = []
            if not open_run:
                for _ in range(10):
                    key_started = time.perf_counter()
                    await pilot.press("pagedown")
                    await pilot.pause()
                    keys.append(time.perf_counter() - key_started)
            return {"first_paint_s": first, "page_key_s": statistics.median(keys) if keys else None}

    print(json.dumps(asyncio.run(measure())))


def dashboard(root: Path, open_run: Path | None = None) -> dict:
    args = [sys.executable, "-m", "bench.scale", "--dashboard-child", str(root)]
    if open_run is not None:
        args += ["--open", str(open_run)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def old_log(path: Path, lines: int, steps: int = 5000) -> int:
    """A log as seglab wrote it before progress.json: every progress event a line. Returns the line count."""
    count, epoch, now = 0, 1, time.time() - lines
    with open(path, "w", encoding="utf-8") as f:
        def put(event) -> None:
            nonlocal count
            f.write(json.dumps(event.to_dict(), separators=(",", ":")) + "\n")
            count += 1

        put(StatusEvent(state="running", message="started", time=now))
        while count < lines - 1:
            for step in range(1, steps + 1):
                put(ProgressEvent(epoch=epoch, step=step, steps=steps, loss=0.3, images_per_s=9.5, images=step * 16,
                                  time=now + count))
            put(EpochEvent(epoch=epoch, epochs=epoch, train_loss=0.3, val_loss=0.3, val_dice=0.8, val_iou=0.7,
                           lr=5e-4, seconds=100.0, is_best=True, time=now + count))
            epoch += 1
        put(StatusEvent(state="finished", message="finished", time=now + count))
    return count


def log_growth(work: Path, steps: int = 5000) -> dict:
    """Bytes a training epoch of `steps` progress events adds to events.jsonl now (the writer as the engine uses
    it), against every progress event a line as before."""
    path = work / "growth" / "events.jsonl"
    path.parent.mkdir()
    with EventLog(path) as log:
        for step in range(1, steps + 1):
            log.write(ProgressEvent(epoch=1, step=step, steps=steps, loss=0.3, images_per_s=9.5, images=step * 16))
        log.write(EpochEvent(epoch=1, epochs=1, train_loss=0.3, val_loss=0.3, val_dice=0.8, val_iou=0.7, lr=5e-4,
                             seconds=100.0, is_best=True))
    before = steps * len(json.dumps(ProgressEvent(epoch=1, step=steps, steps=steps, loss=0.3, images_per_s=9.5,
                                                  images=steps * 16).to_dict(), separators=(",", ":")))
    return {"steps": steps, "lines_now": len(path.read_text().splitlines()), "bytes_now": path.stat().st_size,
            "bytes_before": before + path.stat().st_size}


def machine() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return platform.processor()
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Model name")), "?")
    flags = text.split("Flags:", 1)[-1]
    extra = [flag for flag in ("avx512_bf16", "amx_tile", "avx512f", "avx2") if f" {flag}" in flags]
    return f"{name}, {os.cpu_count()} cores, {' '.join(extra)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dashboard-child")
    parser.add_argument("--open")
    args = parser.parse_args()
    if args.dashboard_child:
        dashboard_child(args.dashboard_child, args.open)
        return
    with tempfile.TemporaryDirectory(prefix="seglab-scale-") as tmp:
        work = Path(tmp)
        seed = seed_run(work)
        results: dict = {"machine": machine(), "runs": args.runs, "lines": args.lines}
        rows = []
        roots = {}
        for count in (10, args.runs):
            root = work / f"runs-{count}"
            made = copies(seed, root, count)
            roots[count] = (root, made)
        for label, action in (
            ("seglab runs", lambda root, made: seglab("runs", "--runs-dir", str(root))),
            ("seglab runs --filter --sort", lambda root, made: seglab(
                "runs", "--runs-dir", str(root), "--filter", "unet dice>0.001", "--sort", "dice")),
            ("seglab compare of 2 runs", lambda root, made: seglab(
                "compare", made[0].name, made[-1].name, "--runs-dir", str(root), "--out", str(work / "cmp"))),
            ("shell completion of a run name", lambda root, made: subprocess.run(
                SEGLAB, check=True, stdout=subprocess.DEVNULL, env={
                    **os.environ, "_SEGLAB_COMPLETE": "complete_bash", "COMP_CWORD": "4",
                    "COMP_WORDS": f"seglab watch --runs-dir {root} {made[0].name[:10]}"})),
        ):
            small, large = (timed(lambda r=roots[n], act=action: act(*r), args.repeat) for n in (10, args.runs))
            rows.append((label, small, large))
        paints = {n: [dashboard(roots[n][0]) for _ in range(args.repeat)] for n in (10, args.runs)}
        for key, label in (("first_paint_s", "dashboard runs screen: first paint"),
                           ("page_key_s", "dashboard runs screen: page-down key")):
            small, large = (statistics.median(p[key] for p in paints[n]) for n in (10, args.runs))
            rows.append((label, small, large))

        long_root = work / "long"
        (short, long) = copies(seed, long_root, 2)
        written = old_log(long / "events.jsonl", args.lines)
        results["log_lines"] = written
        results["log_mb"] = round((long / "events.jsonl").stat().st_size / 1e6, 1)
        long_rows = []
        for label, action in (
            ("live screen opens (history shown)", lambda run: dashboard(long_root, run)["first_paint_s"]),
            ("seglab watch (finished run)", lambda run: _wall(lambda: seglab("watch", str(run)))),
            ("seglab runs", lambda run: _wall(lambda: seglab("runs", "--runs-dir", str(long_root)))),
            ("seglab compare", lambda run: _wall(lambda: seglab("compare", str(run), str(short if run == long else
                                                                                         long), "--out",
                                                                str(work / "cmp2")))),
        ):
            action(short)
            normal = statistics.median(action(short) for _ in range(args.repeat))
            big = statistics.median(action(long) for _ in range(args.repeat))
            long_rows.append((label, normal, big))
        results["growth"] = log_growth(work)

    print(f"machine: {results['machine']}")
    print(f"\n{'action':<40} {'10 runs':>9} {f'{args.runs:,} runs':>11} {'ratio':>6}")
    for label, small, large in rows:
        print(f"{label:<40} {small:>8.3f}s {large:>10.3f}s {large / small:>6.2f}")
    print(f"\n{'action':<40} {'its log':>9} {f'{written:,} lines':>16} {'ratio':>6}")
    for label, normal, big in long_rows:
        print(f"{label:<40} {normal:>8.3f}s {big:>15.3f}s {big / normal:>6.2f}")
    growth = results["growth"]
    print(f"\nevents.jsonl per epoch of {growth['steps']:,} steps: {growth['lines_now']} lines, "
          f"{growth['bytes_now']:,} bytes (before: {growth['bytes_before']:,} bytes)")
    results["many_runs"] = [{"action": a, "small_s": round(s, 4), "large_s": round(b, 4), "ratio": round(b / s, 2)}
                            for a, s, b in rows]
    results["long_log"] = [{"action": a, "normal_s": round(s, 4), "long_s": round(b, 4), "ratio": round(b / s, 2)}
                           for a, s, b in long_rows]
    with open(RESULTS, "a", encoding="utf-8") as f:
        f.write(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M"), **results}) + "\n")


def _wall(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
