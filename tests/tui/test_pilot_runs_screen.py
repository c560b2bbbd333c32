"""The runs screen through Pilot: the empty-folder hint, each run's state as it changes, and opening a run's history."""

from __future__ import annotations

import os
import subprocess

import pytest
from textual.widgets import RichLog

import tui.screens.runs
from core.runs.folders import create_run, runs_root
from tui.app import make_app
from tui.screens.dashboard import LiveRunScreen
from tui.screens.runs import RunsScreen
from tui.widgets.epoch_table import EpochTable

from .helpers import SIZE, mark_running, plain, runs_table, shown, table_rows, trained_run, wait_for, wait_for_screen


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


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
        rows = {row[1]: row[1:] for row in table_rows(table)}  # after the mark column
        best = finished.read_status().best_dice
        assert rows[finished.name][3:6] == ["finished", "2/2", f"{best:.3f}"]
        assert rows[crashed.name][3] == "interrupted"
        assert "0 live" in shown(app.screen.query_one("#runs-title"))

        mark_running(crashed, os.getpid())  # e.g. resumed from another terminal
        await wait_for(pilot, lambda: plain(table.get_row(str(crashed.path))[4]) == "running",
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


@pytest.mark.parametrize("data", ["/home/someone/datasets/oxford-iiit-pet-2026", "/d/ab"])  # DATA: cut; narrower
async def test_the_runs_list_fits_the_screen_at_the_width_of_the_wide_layout(tiny_config, data):  # than its header
    long_names = [create_run(tiny_config.replace(name=f"a-long-descriptive-run-name-{n}", epochs=60, data=data),
                             runs_root()) for n in range(3)]
    mark_running(long_names[0], dead_pid())  # interrupted: the longest state
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:  # 100 columns: the wide layout, DATA shown
        table = await runs_table(pilot, rows=3)
        await pilot.pause()
        assert table.max_scroll_x == 0, (table.virtual_size, table.size)  # no column past the right edge
        assert all("…" in row[1] for row in table_rows(table))  # the long names cut short to fit


@pytest.mark.parametrize("damage", ["missing", "garbage{"])
async def test_a_run_whose_config_json_is_missing_or_damaged_is_a_notification_not_a_crash(tiny_config, damage):
    """Enter on such a run ended the whole dashboard with a traceback."""
    broken = trained_run(tiny_config)
    if damage == "missing":
        broken.config_path.unlink()
    else:
        broken.config_path.write_text(damage)
    good = trained_run(tiny_config.replace(name="good"))
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        table = await runs_table(pilot, rows=2)
        table.move_cursor(row=next(i for i, row in enumerate(app.screen.rows) if row.path == broken.path))
        for key in ("enter", "p"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, RunsScreen), key
        await pilot.press("space")
        table.move_cursor(row=next(i for i, row in enumerate(app.screen.rows) if row.path == good.path))
        await pilot.press("space", "c")
        await wait_for(pilot, lambda: "✗" in shown(app.screen.query_one("#compare-title")), what="compare's answer")
        assert str(broken.config_path) in shown(app.screen.query_one("#compare-title"))
        shown_notes = [str(n.message) for n in app._notifications]
        assert len(shown_notes) == 2 and all(note.startswith(str(broken.config_path)) for note in shown_notes)
        assert app.is_running
