"""What each dashboard screen looks like, at 100 x 30, over hand-made run folders with fixed names and times.

Re-baseline after a deliberate layout change with
`pytest tests/tui/test_snapshots.py --snapshot-update` and look at the SVGs in __snapshots__/ before committing.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from textual.pilot import Pilot
from textual.widgets import DataTable, RichLog

from core.config import TrainConfig, save_config
from core.runs.events import CheckpointEvent, EpochEvent, Event, EventLog, StatusEvent
from core.runs.folders import Run
from tui.app import SeglabApp, make_app
from tui.screens.compare import CompareScreen
from tui.screens.dashboard import LiveRunScreen
from tui.screens.new_run import NewRunScreen
from tui.screens.predictions import PredictionsScreen
from tui.widgets.epoch_table import EpochTable
from tui.widgets.image_preview import ImagePreview
from tui.widgets.virtual_table import VirtualTable

from .helpers import shown, wait_for, wait_for_screen

SIZE = (100, 30)
# every screen at the smallest terminal it must work in, the usual one, and a large one
SIZES = pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 50)], ids=["80x24", "100x30", "160x50"])
STARTED = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC
FINISHED_RUN = "20261118-110640-unet-demo"
RUNNING_RUN = "20261118-132000-resnet34_unet-pets"
DEMO = TrainConfig(epochs=5, batch_size=16, image_size=128, width=16, name="demo", synthetic_count=300)
PETS = TrainConfig(model="resnet34_unet", data="/data/oxford-iiit-pet", epochs=8, name="pets")
DICE = (0.412, 0.623, 0.581, 0.794, 0.871)


@pytest.fixture
def runs(monkeypatch, tmp_path) -> Iterator[Path]:
    """A relative runs folder (so no temporary path shows on screen) with local time set to UTC."""
    monkeypatch.chdir(tmp_path)
    previous_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield Path("runs")
    if previous_tz is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = previous_tz
    time.tzset()


def write_run(root: Path, name: str, config: TrainConfig, status: dict, events: list[Event]) -> Run:
    """A run folder as training leaves it, written by hand so every name and time is fixed."""
    run = Run(root / name)
    run.checkpoints_dir.mkdir(parents=True)
    save_config(config, run.config_path)
    base = {"host": socket.gethostname(), "model": config.model, "data": config.data, "epochs": config.epochs,
            "created": status.get("started"), "pid": None, "finished": None}
    run.status_path.write_text(json.dumps({**base, **status}, indent=2) + "\n")
    with EventLog(run.events_path) as log:
        for event in events:
            log.write(event)
    return run


def finished_history(run_path: Path) -> list[Event]:
    events: list[Event] = [StatusEvent(state="running", message="started epoch 1/5 on cpu, 240 train / 30 val images",
                                       time=STARTED)]
    best = -1.0
    for n, dice in enumerate(DICE, start=1):
        at = STARTED + 60 * n
        is_best = dice > best
        best = max(best, dice)
        for which in ("best", "last") if is_best else ("last",):
            events.append(CheckpointEvent(path=str(run_path / "checkpoints" / f"{which}.pt"), epoch=n, time=at))
        events.append(EpochEvent(epoch=n, epochs=5, train_loss=0.62 / n, val_loss=0.55 / n + 0.05, val_dice=dice,
                                 val_iou=dice - 0.12, lr=5e-4, seconds=58.7 + n, is_best=is_best, time=at))
    events.append(StatusEvent(state="finished", message="finished 5 epochs, best val Dice 0.8710", time=STARTED + 300))
    return events


def finished_run(root: Path) -> Run:
    status = {"state": "finished", "started": STARTED, "finished": STARTED + 300, "epoch": 5, "best_dice": 0.871}
    return write_run(root, FINISHED_RUN, DEMO, status, finished_history(root / FINISHED_RUN))


def running_run(root: Path) -> Run:
    """Three of eight epochs done; 'trained' by this process, so its pid is alive."""
    started = STARTED + 8000
    status = {"state": "running", "pid": os.getpid(), "started": started, "epoch": 3, "best_dice": 0.655}
    events: list[Event] = [StatusEvent(state="running", message="started epoch 1/8 on cuda", time=started)]
    for n, dice in enumerate((0.512, 0.655, 0.641), start=1):
        events.append(EpochEvent(epoch=n, epochs=8, train_loss=0.45 / n, val_loss=0.5 / n, val_dice=dice,
                                 val_iou=dice - 0.15, lr=5e-4, seconds=120.0 + n, is_best=dice == 0.655 or n == 1,
                                 time=started + 120 * n))
    return write_run(root, RUNNING_RUN, PETS, status, events)


def still(app: SeglabApp) -> SeglabApp:
    app.animation_level = "none"  # indeterminate progress bars and the like stop moving
    return app


@SIZES
def test_runs_screen(snap_compare, runs, size):
    finished_run(runs)
    running_run(runs)

    async def two_rows(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#runs-table", VirtualTable).row_count == 2,
                       what="both runs")

    assert snap_compare(still(make_app(runs)), terminal_size=size, run_before=two_rows)


def test_empty_runs_screen(snap_compare, runs):
    async def loaded(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: "0 runs" in shown(pilot.app.screen.query_one("#runs-title")), what="the list")

    assert snap_compare(still(make_app(runs)), terminal_size=SIZE, run_before=loaded)


@SIZES
def test_new_run_form(snap_compare, runs, size):
    async def open_form(pilot: Pilot) -> None:
        await pilot.press("n")
        form = await wait_for_screen(pilot, NewRunScreen)
        await wait_for(pilot, lambda: "synthetic images" in shown(form.query_one("#data-check")), what="the note")
        await wait_for(pilot, lambda: "expected: about" in shown(form.query_one("#estimate")), what="the estimate")

    assert snap_compare(still(make_app(runs)), terminal_size=size, run_before=open_form)


async def open_the_only_run(pilot: Pilot, epochs: int) -> None:
    """Enter on the runs list, then wait for the run's whole history."""
    await wait_for(pilot, lambda: pilot.app.screen.query_one("#runs-table", VirtualTable).row_count == 1,
                   what="the run")
    await pilot.press("enter")
    screen = await wait_for_screen(pilot, LiveRunScreen)
    await wait_for(pilot, lambda: screen.query_one(EpochTable).row_count == epochs and screen.query_one(RichLog).lines
                   and screen.state != "created", what="the history")


@SIZES
def test_live_screen_of_a_finished_run(snap_compare, runs, size):
    finished_run(runs)

    async def history_shown(pilot: Pilot) -> None:
        await open_the_only_run(pilot, epochs=5)

    app = still(make_app(runs, clock=lambda: STARTED + 3 * 3600))
    assert snap_compare(app, terminal_size=size, run_before=history_shown)


def test_live_screen_with_the_masks_pane(snap_compare, runs):
    run = finished_run(runs)
    path = run.path / "progress" / "epoch-0005.png"
    path.parent.mkdir()
    picture = Image.new("RGB", (128, 142), (40, 40, 60))
    ImageDraw.Draw(picture).ellipse((20, 30, 100, 120), fill=(200, 60, 60))
    picture.save(path)

    async def masks_shown(pilot: Pilot) -> None:
        await open_the_only_run(pilot, epochs=5)
        await pilot.press("m")
        preview = pilot.app.screen.query_one("#progress-image", ImagePreview)
        await wait_for(pilot, lambda: preview.image is not None, what="the picture")

    app = still(make_app(runs, clock=lambda: STARTED + 3 * 3600))
    assert snap_compare(app, terminal_size=SIZE, run_before=masks_shown)


def test_live_screen_of_a_running_run(snap_compare, runs):
    running_run(runs)

    async def history_shown(pilot: Pilot) -> None:
        await open_the_only_run(pilot, epochs=3)

    app = still(make_app(runs, clock=lambda: STARTED + 8000 + 400))  # 6 min 40 s into the run
    assert snap_compare(app, terminal_size=SIZE, run_before=history_shown)


def write_predictions(run: Run) -> None:
    """predictions/test/ as `seglab predict` leaves it: results.csv and an overlay per image."""
    out = run.predictions_dir / "test"
    out.mkdir(parents=True)
    rows = [("cat_01", 0.912, 0.838, 0.31), ("cat_02", 0.455, 0.294, 0.12), ("dog_01", 0.771, 0.627, 0.44),
            ("dog_02", 0.634, 0.464, 0.27)]
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "width", "height", "foreground", "dice", "iou"])
        for name, dice, iou, foreground in rows:
            writer.writerow([name, 48, 32, f"{foreground:.6f}", f"{dice:.6f}", f"{iou:.6f}"])
    for i, (name, *_) in enumerate(rows):
        image = Image.new("RGB", (48, 32), (40 + 30 * i, 90, 140))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 24, 47, 31), fill=(70, 120, 60))  # a lawn
        draw.ellipse((10 + 2 * i, 6, 34 + 2 * i, 26), fill=(230, 110, 90))  # a red-tinted pet
        image.save(out / f"{name}_overlay.png")
    run.checkpoint_path("best").write_bytes(b"not a real checkpoint: the screen only checks it exists")


@SIZES
def test_predictions_screen(snap_compare, runs, size):
    run = finished_run(runs)
    write_predictions(run)

    async def results_shown(pilot: Pilot) -> None:
        await pilot.pause()
        pilot.app.open_predictions(run.path)
        screen = await wait_for_screen(pilot, PredictionsScreen)
        preview = screen.query_one(ImagePreview)
        await wait_for(pilot, lambda: screen.query_one("#results", VirtualTable).row_count == 4
                       and preview.image is not None, what="the results and the first preview")

    assert snap_compare(still(make_app(runs)), terminal_size=size, run_before=results_shown)


def test_runs_screen_marked_filtered_and_sorted_at_80x24(snap_compare, runs):
    finished_run(runs)
    running_run(runs)

    async def marked_and_filtered(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#runs-table", VirtualTable).row_count == 2,
                       what="both runs")
        await pilot.press("space", "s", "s", "s", "slash", *"dice>0.8", "enter")
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#runs-table", VirtualTable).row_count == 1,
                       what="the filtered list")

    assert snap_compare(still(make_app(runs)), terminal_size=(80, 24), run_before=marked_and_filtered)


def fixed_comparison(root: Path):
    """The two hand-made runs as compare_runs would see them, with fixed scores, masks and disagreement."""
    import numpy as np

    from core.inference.compare import MASK_SIDE, ComparedRun, Comparison, RunPredictions, differing_settings
    from core.runs.events import read_events

    entries = []
    for run, dice, parameters in ((Run(root / FINISHED_RUN), (0.91, 0.62, 0.77), 1_942_289),
                                  (Run(root / RUNNING_RUN), (0.88, 0.71, 0.69), 24_436_241)):
        masks = {name: np.zeros((MASK_SIDE, MASK_SIDE), dtype=np.uint8) for name in ("cat_01", "dog_02", "cat_07")}
        epochs = [e for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
        evaluation = {"split": "test", "dice": sum(dice) / 3, "iou": sum(dice) / 3 - 0.1, "dice_micro": 0.8,
                      "iou_micro": 0.7}
        entries.append(ComparedRun(run, run.load_config(), run.read_status(), epochs, evaluation, parameters,
                                   RunPredictions(list(masks), list(dice), masks)))
    disagreement = {"dog_02": 0.21, "cat_07": 0.12, "cat_01": 0.04}
    return Comparison(entries, "test", "best", differing_settings([e.config for e in entries]),
                      list(disagreement), disagreement)


@SIZES
def test_compare_screen(snap_compare, runs, monkeypatch, size):
    finished_run(runs)
    running_run(runs)
    comparison = fixed_comparison(runs)
    monkeypatch.setattr("tui.screens.compare.compare_runs", lambda *args, **kwargs: comparison)
    picture = Image.new("RGB", (392, 128), (60, 90, 140))
    ImageDraw.Draw(picture).ellipse((20, 20, 100, 110), fill=(230, 110, 90))
    monkeypatch.setattr("tui.screens.compare.grid_image", lambda comparison, name: picture)

    async def compared(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#runs-table", VirtualTable).row_count == 2,
                       what="both runs")
        await pilot.press("space", "space", "c")
        screen = await wait_for_screen(pilot, CompareScreen)
        await wait_for(pilot, lambda: screen.query_one("#compare-table", DataTable).row_count == 2
                       and screen.query_one("#compare-preview", ImagePreview).image is not None, what="the comparison")

    assert snap_compare(still(make_app(runs)), terminal_size=size, run_before=compared)
