"""The live run screen through Pilot: epochs streaming in from a fake trainer, history, layout, and stopping a run."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import RichLog

from core.config import TrainConfig
from core.runs.events import EpochEvent, EventLog, ProgressEvent, StatusEvent
from core.runs.folders import Run, create_run, runs_root
from tui.app import make_app
from tui.screens.confirm import ConfirmScreen
from tui.screens.dashboard import LiveRunScreen
from tui.widgets.epoch_table import EpochTable

from .helpers import SIZE, mark_running, runs_table, shown, table_rows, wait_for, wait_for_screen

# A dialog round trip while events stream in takes about 0.2 s here; the bound leaves room for a 2-core CI machine
# busy with the rest of the suite (1 s and then 2 s each failed once), while a UI that reads the never-ending stream
# before it handles keys would not come back at all.
ROUND_TRIP_S = 8.0


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
            await wait_for_screen(pilot, ConfirmScreen, timeout=ROUND_TRIP_S)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is screen, timeout=ROUND_TRIP_S, what="the dialog to close")
            assert time.monotonic() - pressed < ROUND_TRIP_S
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


# the log behind the masks, an interrupted run, resuming -----------------------------------------------


async def test_log_lines_that_come_while_the_masks_show_are_in_the_log_when_it_returns(streaming_run):
    app = make_app(runs_root(), open_run=streaming_run.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, LiveRunScreen)
        table, log = screen.query_one(EpochTable), screen.query_one(RichLog)
        await wait_for(pilot, lambda: table.row_count >= 1, what="an epoch")
        await pilot.press("m")
        hidden_from = table.row_count
        await wait_for(pilot, lambda: table.row_count >= hidden_from + 3, what="three epochs behind the masks")
        await pilot.press("m")
        shown_up_to = table.row_count
        await wait_for(pilot, lambda: sum(" epoch " in line.text for line in log.lines) >= shown_up_to,
                       what="every epoch's line")
        logged = [line.text for line in log.lines if " epoch " in line.text]
        for epoch in range(1, shown_up_to + 1):
            assert any(f" epoch {epoch}: val Dice" in line for line in logged), (epoch, logged)


def dead_pid() -> int:
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


async def test_an_interrupted_run_says_so_once_stops_its_clock_and_says_how_to_resume(tiny_config):
    run = create_run(tiny_config.replace(epochs=8), runs_root())
    with EventLog(run.events_path) as log:
        log.write(StatusEvent(state="running", message="started"))
    run.checkpoint_path("last").parent.mkdir(parents=True, exist_ok=True)
    run.checkpoint_path("last").write_bytes(b"stand-in")
    mark_running(run, dead_pid())
    app = make_app(runs_root(), open_run=run.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, LiveRunScreen)
        await wait_for(pilot, lambda: screen.state == "interrupted", what="the state")
        title = shown(screen.query_one("#run-title"))
        await pilot.pause(2.5)  # two ticks of the clock
        text = "".join(line.text for line in screen.query_one(RichLog).lines)  # wrapped lines joined again
        assert text.count("training process is gone: interrupted") == 1, text
        assert text.count(f"r resumes it from last.pt (seglab train --resume {run.name})") == 1, text
        assert shown(screen.query_one("#run-title")) == title  # the elapsed time stands still


async def test_a_resumed_runs_elapsed_time_goes_on_from_its_earlier_sessions(tiny_config):
    """Elapsed counted from the last resume only; then a running session's news (its time budget's plan) set the
    clock back to zero on the live screen."""
    now = time.time()
    finished = hand_written_run(tiny_config, [0.41, 0.62], message="finished")
    finished.update_status(started=now - 300, finished=now, earlier_s=3600.0)
    running = create_run(tiny_config.replace(epochs=8, name="going"), runs_root())
    mark_running(running, os.getpid())
    running.update_status(started=now - 60, earlier_s=120.0)
    for run, title in ((finished, "01:05:00 elapsed"), (running, "00:03:00 elapsed")):
        app = make_app(runs_root(), open_run=run.path, clock=lambda: now)
        async with app.run_test(size=SIZE) as pilot:
            screen = await wait_for_screen(pilot, LiveRunScreen)
            await wait_for(pilot, lambda screen=screen, title=title: title in shown(screen.query_one("#run-title")),
                           what=title)
            if run is running:
                with EventLog(run.events_path) as log:
                    log.write(StatusEvent(state="running", message="time budget: 8 epochs planned"))
                await wait_for(pilot, lambda screen=screen: any("planned" in line.text for line in
                                                                screen.query_one(RichLog).lines), what="the news")
                assert title in shown(screen.query_one("#run-title"))


async def test_r_resumes_a_stopped_run_in_a_child_that_continues_it(tiny_config, monkeypatch):
    import core.training.launch

    launched = []
    monkeypatch.setattr(core.training.launch, "training_command",
                        lambda run, root, processes=1, resume=False: launched.append(resume) or ["sleep", "30"])
    run = hand_written_run(tiny_config, [0.4, 0.5], message="stopped")
    run.update_status(state="stopped", epochs=8)
    app = make_app(runs_root(), open_run=run.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, LiveRunScreen)
        await wait_for(pilot, lambda: screen.state == "stopped", what="the state")
        await pilot.press("r")
        await pilot.pause()
        assert not launched and "last.pt" in " ".join(str(n.message) for n in app._notifications)  # none yet
        run.checkpoint_path("last").parent.mkdir(parents=True, exist_ok=True)
        run.checkpoint_path("last").write_bytes(b"stand-in")
        await pilot.press("r")
        await wait_for(pilot, lambda: launched == [True], what="the resuming child")
        assert any("resuming from last.pt" in line.text for line in screen.query_one(RichLog).lines)
        await pilot.press("r")  # again, before the child has said it runs: no second child
        await pilot.pause()
        assert launched == [True]
        app.children_started[run.path].kill()


async def test_a_multiclass_runs_epoch_table_shows_every_column_at_100_columns(tiny_config):
    names = ("background", "blob", "rectangle", "triangle")
    run = create_run(tiny_config.replace(epochs=2, task="multiclass", loss="ce", classes=4), runs_root())
    with EventLog(run.events_path) as log:
        log.write(StatusEvent(state="running", message="started"))
        for n in (1, 2):
            log.write(EpochEvent(epoch=n, epochs=2, train_loss=0.5, val_loss=0.4, val_dice=0.3, val_iou=0.2, lr=5e-4,
                                 seconds=61.0, is_best=True, class_dice={name: 0.3 for name in names}))
        log.write(StatusEvent(state="finished", message="finished"))
    run.update_status(state="finished", epoch=2)
    app = make_app(runs_root(), open_run=run.path)
    async with app.run_test(size=SIZE) as pilot:  # 100 x 30
        screen = await wait_for_screen(pilot, LiveRunScreen)
        table = screen.query_one(EpochTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="the history")
        await pilot.pause()
        assert table.max_scroll_x == 0, (table.virtual_size, table.size)
        assert visible_lines(table)[0].split() == ["EP", "TRAIN", "LOSS", "VAL", "LOSS", "VAL", "DICE", "BLOB",
                                                   "RECTAN", "TRIANG"]
        assert screen.query_one("#run-side").size.width >= 30  # the curves keep their room
        await pilot.resize_terminal(80, 24)  # stacked: the table takes the whole width
        await pilot.pause()
        await pilot.pause()
        assert table.size.width >= 76 and table.max_scroll_x == 0, (table.virtual_size, table.size)
