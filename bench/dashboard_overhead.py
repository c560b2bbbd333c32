"""Training images/s with the dashboard following the run versus headless, same config, same machine.

    python bench/dashboard_overhead.py --epochs 4 --repeats 2

Each repeat trains the same run twice as a child process (`python -m tui.cli train`): once with
nothing watching, once while a SeglabApp (Textual's headless driver, doing its full render work)
shows the run's live screen. images/s is the mean of each epoch's last progress event, epoch 1
left out (it includes generating data and warm-up). Prints JSON lines and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from core.config import DEMO_CONFIG
from core.runs.events import ProgressEvent, read_events
from core.runs.folders import Run, create_run
from core.training.launch import training_command
from tui.app import make_app


def epoch_speeds(run: Run) -> list[float]:
    last: dict[int, float] = {}
    for event in read_events(run.events_path):
        if isinstance(event, ProgressEvent):
            last[event.epoch] = event.images_per_s
    return [speed for epoch, speed in sorted(last.items()) if epoch > 1]


def train_headless(root: Path, epochs: int) -> list[float]:
    run = create_run(DEMO_CONFIG.replace(epochs=epochs, name="headless"), root)
    subprocess.run(training_command(run, root), check=True, stdout=subprocess.DEVNULL)
    return epoch_speeds(run)


async def train_under_dashboard(root: Path, epochs: int) -> list[float]:
    run = create_run(DEMO_CONFIG.replace(epochs=epochs, name="dashboard"), root)
    child = subprocess.Popen(training_command(run, root), stdout=subprocess.DEVNULL)
    app = make_app(root, open_run=run.path)
    async with app.run_test(size=(100, 30)) as pilot:
        while child.poll() is None:
            await pilot.pause(0.5)
    return epoch_speeds(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SEGLAB_CACHE_DIR", str(Path(tmp) / "cache"))
        root = Path(tmp) / "runs"
        headless, dashboard = [], []
        for repeat in range(args.repeats):  # alternate so drift on the machine hits both alike
            headless += train_headless(root, args.epochs)
            dashboard += asyncio.run(train_under_dashboard(root, args.epochs))
            print(json.dumps({"repeat": repeat, "headless_images_per_s": headless[-(args.epochs - 1):],
                              "dashboard_images_per_s": dashboard[-(args.epochs - 1):]}), flush=True)
    h, d = statistics.mean(headless), statistics.mean(dashboard)
    print(json.dumps({"config": "demo (UNet width 16, 128 px, batch 16)", "headless_images_per_s": round(h, 2),
                      "dashboard_images_per_s": round(d, 2), "ratio": round(d / h, 3),
                      "python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
