"""The dashboard driven as a user would, through Pilot: the runs list, the new-run form, a real training
child, a live run fed by a fake trainer, stopping, predictions and quitting with training still going."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Input, RichLog, Select

import core.launch
import tui.app
import tui.screens.runs
from core.config import TrainConfig
from core.engine import train
from core.events import EpochEvent, EventLog, ProgressEvent, StatusEvent
from core.runs import Run, create_run, runs_root
from tui.app import SeglabApp, make_app
from tui.screens.confirm import ConfirmScreen, QuitScreen
from tui.screens.dashboard import LiveRunScreen
from tui.screens.new_run import NewRunScreen
from tui.screens.predictions import PredictionsScreen
from tui.screens.runs import RunsScreen
from tui.widgets.epoch_table import EpochTable
from tui.widgets.image_preview import ImagePreview
from tui.widgets.run_header import RunHeader

from .helpers import plain, shown, table_rows, wait_for, wait_for_screen

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SIZE = (100, 30)


# helpers ------------------------------------------------------------------------------------------


def trained_run(config: TrainConfig) -> Run:
    run = create_run(config, runs_root())
    train(config, run)
    return run


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture(autouse=True)
def started_children(monkeypatch) -> Iterator[list[subprocess.Popen]]:
    """Every training child the app launches in a test; none outlives the test."""
    children: list[subprocess.Popen] = []
    launch_prepared = SeglabApp.launch_prepared

    def recording_launch(self, *args, **kwargs):
        run = launch_prepared(self, *args, **kwargs)
        children.append(self.children_started[run.path])
        return run

    monkeypatch.setattr(SeglabApp, "launch_prepared", recording_launch)
    yield children
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()


@pytest.fixture
def harmless_training(monkeypatch) -> None:
    """For tests that must not start training: should the app launch a child anyway, it only sleeps."""
    monkeypatch.setattr(core.launch, "training_command", lambda run, root, processes=1: ["sleep", "30"])


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    """A process that stands in for a training child; killed after the test whatever happened."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


async def runs_table(pilot: Pilot, rows: int) -> DataTable:
    """The runs screen's table once it lists `rows` runs."""
    screen = await wait_for_screen(pilot, RunsScreen)
    table = screen.query_one("#runs-table", DataTable)
    await wait_for(pilot, lambda: table.row_count == rows, what=f"{rows} runs in the list")
    return table


def mark_running(run: Run, pid: int) -> None:
    run.update_status(state="running", pid=pid, host=socket.gethostname(), started=time.time())


# runs screen --------------------------------------------------------------------------------------


async def test_an_empty_runs_folder_shows_how_to_start_instead_of_a_table():
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, RunsScreen)
        await wait_for(pilot, lambda: "0 runs" in shown(screen.query_one("#runs-title")), what="the list")
        await pilot.pause()
        empty = screen.query_one("#runs-empty")
        assert empty.display and empty.region.height > 0
        assert not screen.query_one("#runs-table").display
        assert "new run" in shown(empty) and "demo" in shown(empty)


async def test_the_runs_list_shows_each_runs_state_and_follows_status_changes(monkeypatch, tiny_config):
    monkeypatch.setattr(tui.screens.runs, "REFRESH_SECONDS", 0.2)
    finished = trained_run(tiny_config)
    crashed = create_run(tiny_config.replace(name="crashed"), runs_root())
    mark_running(crashed, dead_pid())
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        table = await runs_table(pilot, rows=2)
        assert not app.screen.query_one("#runs-empty").display
        rows = {row[0]: row for row in table_rows(table)}
        best = finished.read_status().best_dice
        assert rows[finished.name][3:6] == ["finished", "2/2", f"{best:.3f}"]
        assert rows[crashed.name][3] == "interrupted"
        assert "0 live" in shown(app.screen.query_one("#runs-title"))

        mark_running(crashed, os.getpid())  # e.g. resumed from another terminal
        await wait_for(pilot, lambda: plain(table.get_row(str(crashed.path))[3]) == "running",
                       what="the periodic refresh to show the new state")
        assert "1 live" in shown(app.screen.query_one("#runs-title"))


async def test_enter_on_a_finished_run_shows_its_whole_history(tiny_config):
    run = trained_run(tiny_config)
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await runs_table(pilot, rows=1)
        await pilot.press("enter")
        await wait_for_screen(pilot, LiveRunScreen)
        await pilot.pause()
        assert [type(s).__name__ for s in app.screen_stack[1:]] == ["RunsScreen", "LiveRunScreen"]  # opened once
        table = app.screen.query_one(EpochTable)
        log = app.screen.query_one("#event-log", RichLog)
        await wait_for(pilot, lambda: table.row_count == 2 and log.lines, what="the history")
        assert [row[0].rstrip("★") for row in table_rows(table)] == ["1", "2"]
        title = shown(app.screen.query_one("#run-title"))
        assert run.name in title and "finished" in title and "epoch 2/2" in title
        log_text = "\n".join(line.text for line in log.lines)
        assert "epoch 1: val Dice" in log_text and "epoch 2: val Dice" in log_text and "finished" in log_text


# new-run form -------------------------------------------------------------------------------------


async def open_form(app, pilot: Pilot) -> NewRunScreen:
    await pilot.press("n")
    return await wait_for_screen(pilot, NewRunScreen)


@pytest.mark.parametrize("typed", ["-1", "abc"])
async def test_an_invalid_learning_rate_is_named_and_starts_nothing(harmless_training, typed):
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        lr = form.query_one("#field-lr", Input)
        lr.focus()
        await pilot.press("end", "ctrl+u", *typed)  # clear the default, type the bad value
        assert lr.value == typed
        assert lr.has_class("-invalid")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form and not app.children_started
        assert "learning rate" in shown(form.query_one("#form-errors"))
        assert not runs_root().exists() or not any(runs_root().iterdir())


async def choose_folder_data(pilot: Pilot, form: NewRunScreen, path: str) -> None:
    form.query_one("#data-source", Select).value = "folder"
    form.query_one("#data-path", Input).value = path  # as if pasted
    await pilot.pause()


async def test_a_data_folder_that_does_not_exist_is_marked_with_a_cross(tmp_path):
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        await choose_folder_data(pilot, form, str(tmp_path / "no-such-folder"))
        note = form.query_one("#data-check")
        await wait_for(pilot, lambda: shown(note).startswith("✗"), what="the data check")
        assert "no-such-folder" in shown(note)


async def test_starting_on_a_missing_data_folder_shows_the_clis_line_and_creates_nothing(
        harmless_training, capsys, tmp_path):
    from tests.tui.test_cli import seglab, the_error_line

    missing = str(tmp_path / "no-such-folder")
    code, _, err = seglab(capsys, "train", "--data", missing)
    cli_line = the_error_line(err).removeprefix("seglab: error: ")
    assert code == 2 and missing in cli_line

    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        await choose_folder_data(pilot, form, missing)
        await pilot.press("ctrl+s")
        errors = form.query_one("#form-errors")
        await wait_for(pilot, lambda: shown(errors).startswith("✗"), what="the refusal")
        assert shown(errors) == f"✗ {cli_line}"
        assert app.screen is form and not app.children_started
        assert not runs_root().exists() or not any(runs_root().iterdir())


async def test_the_oxford_pet_fixture_is_recognised_with_its_split_counts():
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        await choose_folder_data(pilot, form, str(FIXTURES / "oxford-pet-tiny"))
        note = form.query_one("#data-check")
        await wait_for(pilot, lambda: shown(note).startswith("oxford-pet"), what="the data check")
        assert shown(note) == "oxford-pet layout: 7 train · 1 val · 4 test"


async def test_the_data_check_shows_the_folder_now_entered_not_an_earlier_one(monkeypatch, tmp_path):
    import core.data

    real_list_samples = core.data.list_samples
    slow_check_started, slow_check_done = threading.Event(), threading.Event()

    def slow_list_samples(root, split, *args, **kwargs):
        samples = real_list_samples(root, split, *args, **kwargs)
        if Path(root).name == "oxford-pet-tiny" and split == "test":  # the check's last listing
            slow_check_started.set()
            time.sleep(0.5)  # a big dataset on a slow disk
            slow_check_done.set()
        return samples

    monkeypatch.setattr(core.data, "list_samples", slow_list_samples)
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        await choose_folder_data(pilot, form, str(FIXTURES / "oxford-pet-tiny"))
        await wait_for(pilot, slow_check_started.is_set, what="the check of the first folder")
        form.query_one("#data-path", Input).value = str(tmp_path / "typo")  # the user keeps typing
        note = form.query_one("#data-check")
        await wait_for(pilot, slow_check_done.is_set, what="the slow check")
        await wait_for(pilot, lambda: shown(note) != "checking...", what="a check result")
        await pilot.pause(0.3)
        assert shown(note).startswith("✗") and "typo" in shown(note)


async def test_the_demo_preset_fills_in_the_demo_settings():
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        preset = form.query_one("#preset", Select)
        preset.focus()
        await pilot.press("enter")  # open the list
        await pilot.press("down", "down", "down", "enter")  # paper, small-data, demo
        await wait_for(pilot, lambda: preset.value == "demo", what="the preset")
        await pilot.pause()
        values = {name: form.query_one(f"#field-{name}", Input).value
                  for name in ("width", "image_size", "epochs", "name")}
        assert values == {"width": "16", "image_size": "128", "epochs": "8", "name": "demo"}


async def test_a_run_started_from_the_form_trains_in_a_child_and_is_shown_live(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the child trains a width-8 net: one thread is fastest
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        typed = {"epochs": "2", "batch_size": "4", "image_size": "32", "width": "8", "synthetic_count": "24",
                 "synthetic_size": "32", "workers": "0", "name": "fromform"}
        for name, value in typed.items():
            form.query_one(f"#field-{name}", Input).value = value
        form.query_one("#field-device", Select).value = "cpu"
        form.query_one("#start").scroll_visible(animate=False)
        await pilot.pause()
        await pilot.click("#start")
        screen = await wait_for_screen(pilot, LiveRunScreen)
        (run_path,) = app.children_started
        assert run_path.name.endswith("-unet-fromform")
        table, header = screen.query_one(EpochTable), screen.query_one(RunHeader)
        await wait_for(pilot, lambda: table.row_count == 2 and header.state == "finished", timeout=120,
                       what=f"training to finish (see {run_path / 'train.log'})")
        assert "epoch 2/2" in shown(screen.query_one("#run-title"))
        assert (run_path / "checkpoints" / "best.pt").is_file()
        assert Run(run_path).load_config() == TrainConfig(  # each field went one to one into the run's config
            epochs=2, batch_size=4, image_size=32, width=8, synthetic_count=24, synthetic_size=32, device="cpu",
            workers=0, name="fromform")


async def test_the_form_offers_processes_and_sync_batchnorm_only_with_several_gpus(harmless_training):
    for gpus in (0, 1):
        app = make_app(runs_root(), gpus=gpus)
        async with app.run_test(size=SIZE) as pilot:
            form = await open_form(app, pilot)
            assert not form.query("#processes") and not form.query("#field-sync_bn")


async def test_processes_chosen_in_the_form_launch_torchrun_with_that_count(monkeypatch):
    launched = []
    monkeypatch.setattr(core.launch, "training_command",
                        lambda run, root, processes=1: launched.append(processes) or ["sleep", "30"])
    app = make_app(runs_root(), gpus=4)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        form.query_one("#field-sync_bn", Select).value = True
        processes = form.query_one("#processes", Input)
        processes.value = "5"  # more than the GPUs: refused, naming the field
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "processes: 1 to 4, one per GPU" in shown(form.query_one("#form-errors"))
        processes.value = "3"  # the global batch of 16 does not split over 3
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "does not split evenly over 3 processes" in shown(form.query_one("#form-errors")),
                       what="the refusal")
        processes.value = "2"
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, LiveRunScreen)
        assert launched == [2]
        (run_path,) = app.children_started
        assert Run(run_path).load_config().sync_bn is True


async def test_a_negative_seed_is_refused_in_the_form(harmless_training):
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        seed = form.query_one("#field-seed", Input)
        seed.focus()
        await pilot.press("end", "ctrl+u", "-", "1")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form and not app.children_started
        assert "seed" in shown(form.query_one("#form-errors"))


async def test_a_training_child_that_dies_at_start_does_not_leave_the_run_looking_created(monkeypatch):
    monkeypatch.setattr(core.launch, "training_command",
                        lambda run, root, processes=1: [sys.executable, "-c", "raise SystemExit(3)"])
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await open_form(app, pilot)
        await pilot.press("ctrl+s")
        screen = await wait_for_screen(pilot, LiveRunScreen)
        (child,) = app.children_started.values()
        await wait_for(pilot, lambda: child.poll() is not None, what="the child to exit")
        header = screen.query_one(RunHeader)
        await wait_for(pilot, lambda: header.state != "created", timeout=3, what="the screen to notice")
        assert header.state in ("failed", "interrupted")


# live run -----------------------------------------------------------------------------------------


def write_fake_training(run: Run, stop: threading.Event, interval: float = 0.1) -> None:
    """A never-ending training run's events, one every `interval` s: three progress steps, then an epoch."""
    with EventLog(run.events_path) as log:
        log.write(StatusEvent(state="running", message="started epoch 1/1000 on cpu"))
        epoch, best = 0, -1.0
        while not stop.is_set():
            epoch += 1
            for step in (1, 2, 3):
                log.write(ProgressEvent(epoch=epoch, step=step, steps=3, loss=1 / epoch, images_per_s=50.0))
                if stop.wait(interval):
                    return
            dice = 1 - 1 / (epoch + 1)
            log.write(EpochEvent(epoch=epoch, epochs=1000, train_loss=1 / epoch, val_loss=1.1 / epoch, val_dice=dice,
                                 val_iou=dice * 0.8, lr=5e-4, seconds=3 * interval, is_best=dice > best))
            best = max(best, dice)
            run.update_status(epoch=epoch, best_dice=best)


@pytest.fixture
def streaming_run(tiny_config) -> Iterator[Run]:
    """A run 'training' in this process: status running with our pid, events written by a thread."""
    run = create_run(tiny_config.replace(epochs=1000, name="streaming"), runs_root())
    mark_running(run, os.getpid())
    stop = threading.Event()
    writer = threading.Thread(target=write_fake_training, args=(run, stop), daemon=True)
    writer.start()
    yield run
    stop.set()
    writer.join(timeout=5)


async def test_epochs_stream_into_the_live_screen_while_keys_stay_responsive(streaming_run):
    app = make_app(runs_root(), open_run=streaming_run.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, LiveRunScreen)
        table = screen.query_one(EpochTable)
        await wait_for(pilot, lambda: table.row_count >= 2, what="two epochs")
        assert "running" in shown(screen.query_one("#run-title"))
        await wait_for(pilot, lambda: shown(screen.query_one("#epoch-label")).startswith("epoch "),
                       what="step progress")

        for _ in range(3):
            before = table.row_count
            pressed = time.monotonic()
            await pilot.press("s")
            await wait_for_screen(pilot, ConfirmScreen, timeout=2)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is screen, timeout=2, what="the dialog to close")
            # A dialog round trip is about 0.2 s here; 2 s leaves room for a busy CI machine
            # (1 s failed once), while a UI blocked on the event stream takes far longer.
            assert time.monotonic() - pressed < 2.0
            await wait_for(pilot, lambda: table.row_count > before, timeout=5,  # noqa: B023 - used at once
                           what="the next epoch")

        epochs = [int(row[0].rstrip("★")) for row in table_rows(table)]
        assert epochs == list(range(1, len(epochs) + 1))
        starred = [row[0] for row in table_rows(table) if row[0].endswith("★")]
        assert starred == [f"{epochs[-1]}★"]  # every fake epoch improves: only the newest is the best


def hand_written_run(config: TrainConfig, dice: list[float], message: str) -> Run:
    """A finished run whose events are written here, with the given val Dice per epoch."""
    run = create_run(config.replace(epochs=len(dice)), runs_root())
    with EventLog(run.events_path) as log:
        log.write(StatusEvent(state="running", message="started"))
        for n, value in enumerate(dice, start=1):
            log.write(EpochEvent(epoch=n, epochs=len(dice), train_loss=0.5, val_loss=0.4, val_dice=value,
                                 val_iou=value - 0.1234, lr=5e-4, seconds=61.0, is_best=value == max(dice[:n])))
        log.write(StatusEvent(state="finished", message=message))
    run.update_status(state="finished", epoch=len(dice), best_dice=max(dice), started=time.time() - 300,
                      finished=time.time())
    return run


def visible_lines(widget: Widget) -> list[str]:
    """The text of each line the widget draws now (what fits on screen, nothing scrolled out of view)."""
    return [widget.render_line(y).text for y in range(widget.size.height)]


async def test_a_run_opened_at_start_up_shows_its_epoch_table_columns_whole(tiny_config):
    run = hand_written_run(tiny_config, [0.41, 0.62, 0.87], message="finished")
    app = make_app(runs_root(), open_run=run.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, LiveRunScreen)
        table = screen.query_one(EpochTable)
        await wait_for(pilot, lambda: table.row_count == 3, what="the history")
        await pilot.pause()
        first_row = visible_lines(table)[1]
        assert "0.2866" in first_row and "5.0e-04" in first_row, first_row


async def test_long_event_log_lines_wrap_inside_the_pane(tiny_config):
    hand_written_run(tiny_config, [0.41, 0.62], message="finished 2 epochs, best val Dice 0.6200: curves.png")
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await runs_table(pilot, rows=1)
        await pilot.press("enter")
        screen = await wait_for_screen(pilot, LiveRunScreen)
        log = screen.query_one(RichLog)
        await wait_for(pilot, lambda: len(log.lines) >= 4, what="the event log")
        await pilot.pause()
        assert "curves.png" in " ".join(visible_lines(log)), visible_lines(log)


async def test_a_running_run_between_steps_is_not_labelled_created(tiny_config):
    run = create_run(tiny_config.replace(epochs=8), runs_root())
    with EventLog(run.events_path) as log:
        log.write(StatusEvent(state="running", message="started"))
        log.write(EpochEvent(epoch=1, epochs=8, train_loss=0.5, val_loss=0.4, val_dice=0.5, val_iou=0.4, lr=5e-4,
                             seconds=60.0, is_best=True))
    mark_running(run, os.getpid())
    app = make_app(runs_root(), open_run=run.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, LiveRunScreen)
        await wait_for(pilot, lambda: screen.state == "running", what="the state")
        await pilot.pause()
        assert "created" not in shown(screen.query_one("#epoch-label"))


# stopping -----------------------------------------------------------------------------------------


async def open_stop_dialog(app, pilot: Pilot, run: Run) -> LiveRunScreen:
    screen = await wait_for_screen(pilot, LiveRunScreen)
    await wait_for(pilot, lambda: screen.state == "running", what="the run to read as running")
    await pilot.press("s")
    await wait_for_screen(pilot, ConfirmScreen)
    assert run.name in shown(app.screen.query_one(".dialog-question"))
    return screen


async def test_confirming_stop_sends_sigint_to_the_training_process(tiny_config, sleeper):
    run = create_run(tiny_config, runs_root())
    mark_running(run, sleeper.pid)
    app = make_app(runs_root(), open_run=run.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stop_dialog(app, pilot, run)
        await pilot.click("#yes")
        await wait_for(pilot, lambda: sleeper.poll() is not None, what="the process to get SIGINT")
        assert sleeper.returncode == -signal.SIGINT
        assert app.screen is screen
        assert any("stop requested" in line.text for line in screen.query_one(RichLog).lines)


@pytest.mark.parametrize("answer", ["#no", "escape"])
async def test_cancelling_stop_leaves_the_training_process_alone(tiny_config, sleeper, answer):
    run = create_run(tiny_config, runs_root())
    mark_running(run, sleeper.pid)
    app = make_app(runs_root(), open_run=run.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stop_dialog(app, pilot, run)
        if answer == "escape":
            await pilot.press("escape")
        else:
            await pilot.click(answer)
        await wait_for(pilot, lambda: app.screen is screen, what="the dialog to close")
        await pilot.pause(0.3)
        assert sleeper.poll() is None


# predictions --------------------------------------------------------------------------------------


async def test_predicting_the_test_split_lists_results_worst_first_with_a_preview(tiny_config):
    # lr 0.02 and 40 images: after two epochs the four test images get four different Dice scores
    run = trained_run(tiny_config.replace(synthetic_count=40, lr=0.02))
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await runs_table(pilot, rows=1)
        await pilot.press("p")
        screen = await wait_for_screen(pilot, PredictionsScreen)
        table = screen.query_one("#results", DataTable)
        await pilot.click("#predict")
        await wait_for(pilot, lambda: table.row_count > 0, timeout=30, what="the predictions")

        out = run.predictions_dir / "test"
        with open(out / "results.csv", newline="") as f:
            written = {r["name"]: float(r["dice"]) for r in csv.DictReader(f)}
        assert len(written) == table.row_count == 4
        assert len(set(written.values())) > 1, "the ordering below needs distinct scores"
        for name in written:
            assert (out / f"{name}_overlay.png").is_file()

        rows = table_rows(table)
        assert [float(row[1]) for row in rows] == sorted(round(d, 3) for d in written.values())
        assert [row[0] for row in rows] == sorted(written, key=written.get)

        await pilot.press("n")
        assert [row[0] for row in table_rows(table)] == sorted(written)

        preview = screen.query_one(ImagePreview)
        path_note = screen.query_one("#preview-path")
        await pilot.press("down")
        second = table_rows(table)[1][0]
        overlay = out / f"{second}_overlay.png"
        with Image.open(overlay) as image:
            expected = image.convert("RGB").tobytes()
        await wait_for(pilot, lambda: shown(path_note) == str(overlay), what="the row's overlay path")
        await wait_for(pilot, lambda: preview.image is not None and preview.image.tobytes() == expected,
                       what="the row's overlay in the preview")
        assert "▀" in preview.render_line(0).text


async def test_p_on_a_run_without_a_checkpoint_warns_instead_of_opening_predictions(tiny_config, monkeypatch):
    create_run(tiny_config, runs_root())
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await runs_table(pilot, rows=1)
        screen = app.screen
        warnings = []
        monkeypatch.setattr(app, "notify", lambda message, **kwargs: warnings.append(message))
        await pilot.press("p")
        await pilot.pause()
        assert app.screen is screen
        assert any("no checkpoint" in message for message in warnings)


# quitting -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("button", "signalled"), [("#leave", False), ("#stop", True)])
async def test_quitting_with_a_live_child_asks_whether_to_leave_it_running(tiny_config, sleeper, button, signalled):
    run = create_run(tiny_config, runs_root())
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        app.children_started[run.path] = sleeper
        await pilot.press("q")
        await wait_for_screen(pilot, QuitScreen)
        assert run.name in shown(app.screen.query_one(".dialog-question"))
        await pilot.click(button)
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
    if signalled:
        assert sleeper.wait(timeout=5) == -signal.SIGINT
    else:
        time.sleep(0.1)
        assert sleeper.poll() is None


async def test_cancel_in_the_quit_question_keeps_the_dashboard_open(tiny_config, sleeper):
    run = create_run(tiny_config, runs_root())
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        app.children_started[run.path] = sleeper
        await pilot.press("q")
        await wait_for_screen(pilot, QuitScreen)
        await pilot.click("#cancel")
        await wait_for(pilot, lambda: not isinstance(app.screen, QuitScreen), what="the question to close")
        assert app.is_running
    assert sleeper.poll() is None


async def test_quit_without_live_children_exits_at_once():
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
