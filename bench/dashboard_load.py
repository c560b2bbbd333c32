"""Dashboard under load: a run logging 20 progress events a second for minutes, and a run with
1,000 epochs of history. Measures how far behind the screen falls and how fast keys are answered.

    python -m bench.dashboard_load --seconds 600 --rate 20 --history 1000

A writer thread appends events to a fake run's log (status.json says running, pid = this
process) while a SeglabApp (Textual's headless driver, full render work) shows its live screen.
Every second the bench presses `s` (opens the stop dialog) and `escape` and times both. Reported:
the age of the newest progress shown on screen, sampled every 0.1 s (events are written every
1/rate s, so that is the floor), key latency, and the process's CPU use (writer thread included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

from core.config import TrainConfig
from core.runs.events import EpochEvent, EventLog, ProgressEvent, StatusEvent
from core.runs.folders import create_run
from tui.app import make_app
from tui.screens.confirm import ConfirmScreen
from tui.screens.dashboard import LiveRunScreen
from tui.widgets.epoch_table import EpochTable
from tui.widgets.run_header import RunHeader


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def fake_epoch(epoch: int, epochs: int) -> EpochEvent:
    return EpochEvent(epoch=epoch, epochs=epochs, train_loss=1 / epoch, val_loss=1.1 / epoch,
                      val_dice=1 - 1 / (epoch + 1), val_iou=0.9 - 1 / (epoch + 2), lr=5e-4, seconds=10.0,
                      is_best=True)


def write_events(run, rate: float, seconds: float, epochs: int, history: int, stop: threading.Event) -> None:
    steps = 200
    with EventLog(run.events_path) as log:
        start, n = time.perf_counter(), 0
        while not stop.is_set() and time.perf_counter() - start < seconds:
            epoch = history + 1 + n // steps
            log.write(ProgressEvent(epoch=epoch, step=n % steps + 1, steps=steps, loss=0.3, images_per_s=9.5))
            if n % steps == steps - 1:
                log.write(fake_epoch(epoch, epochs))
            n += 1
            time.sleep(max(0.0, start + n / rate - time.perf_counter()))


async def key_latency(pilot, app) -> tuple[float, float]:
    started = time.perf_counter()
    await pilot.press("s")
    while not isinstance(app.screen, ConfirmScreen):
        await asyncio.sleep(0.001)
    opened = time.perf_counter() - started
    started = time.perf_counter()
    await pilot.press("escape")
    while not isinstance(app.screen, LiveRunScreen):
        await asyncio.sleep(0.001)
    return opened, time.perf_counter() - started


async def measure(seconds: float, rate: float, history: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        epochs = history + 1000
        run = create_run(TrainConfig(epochs=epochs, name="load"), root)
        with EventLog(run.events_path) as log:
            log.write(StatusEvent(state="running", message="load test"))
            for epoch in range(1, history + 1):
                log.write(fake_epoch(epoch, epochs))
        run.update_status(state="running", pid=os.getpid(), host=socket.gethostname(), started=time.time())

        lags: list[float] = []
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        app = make_app(root, open_run=run.path)
        opened_at = time.perf_counter()
        stop = threading.Event()
        writer = threading.Thread(target=write_events, args=(run, rate, seconds, epochs, history, stop))
        latencies: list[float] = []
        async with app.run_test(size=(100, 30)) as pilot:
            while not (isinstance(app.screen, LiveRunScreen) and app.screen.query(EpochTable)
                       and app.screen.query_one(EpochTable).row_count >= history):
                await asyncio.sleep(0.01)
            history_shown_s = time.perf_counter() - opened_at
            writer.start()
            header = app.screen.query_one(RunHeader)
            while writer.is_alive():
                latencies.extend(await key_latency(pilot, app))
                for _ in range(10):  # sample the age of the newest progress the screen shows
                    await asyncio.sleep(0.1)
                    if header.progress is not None:
                        lags.append(time.time() - header.progress.time)
            await pilot.pause(0.5)
            rows = app.screen.query_one(EpochTable).row_count
        stop.set()
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    wall = time.perf_counter() - opened_at
    return {
        "seconds": seconds, "rate_per_s": rate, "history_epochs": history, "history_shown_s": round(history_shown_s, 2),
        "lag_samples": len(lags), "progress_events_written": int(seconds * rate),
        "lag_s_median": round(statistics.median(lags), 4) if lags else None,
        "lag_s_p99": round(percentile(lags, 0.99), 4), "lag_s_max": round(max(lags), 4) if lags else None,
        "key_latency_s_median": round(statistics.median(latencies), 4),
        "key_latency_s_max": round(max(latencies), 4), "table_rows_at_end": rows,
        "dashboard_cpu_share": round(cpu / wall, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--history", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.seconds, args.rate, args.history)), indent=2))


if __name__ == "__main__":
    main()
