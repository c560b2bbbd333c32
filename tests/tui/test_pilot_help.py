"""`?` on every screen shows that screen's keys and the app's, one line each, and the command palette offers the
same actions."""

from __future__ import annotations

import pytest
from rich.console import Console
from textual.pilot import Pilot

from core.runs.folders import runs_root
from tui.app import make_app
from tui.screens.compare import CompareScreen
from tui.screens.dashboard import LiveRunScreen
from tui.screens.new_run import NewRunScreen
from tui.screens.predictions import PredictionsScreen
from tui.widgets.key_panel import KeysPanel, KeyTable
from tui.widgets.virtual_table import VirtualTable

from .helpers import SIZE, shown, wait_for, wait_for_screen
from .test_snapshots import finished_run, fixed_comparison, running_run, write_predictions


def key_lines(pilot: Pilot) -> str:
    """The key panel's table as the user reads it."""
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115 - closed with console
    console.print(pilot.app.screen.query_one(KeysPanel).query_one(KeyTable).render())
    return console.export_text()


async def open_runs_screen(pilot: Pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.screen.query_one("#runs-table", VirtualTable).row_count == 2, what="runs")


async def open_form(pilot: Pilot) -> None:
    await pilot.press("n")
    await wait_for_screen(pilot, NewRunScreen)


async def open_live(pilot: Pilot) -> None:
    await open_runs_screen(pilot)
    await pilot.press("down", "enter")
    await wait_for_screen(pilot, LiveRunScreen)


async def open_predictions(pilot: Pilot) -> None:
    await open_runs_screen(pilot)
    await pilot.press("down", "p")
    await wait_for_screen(pilot, PredictionsScreen)


async def open_compare(pilot: Pilot) -> None:
    await open_runs_screen(pilot)
    await pilot.press("space", "space", "c")
    await wait_for_screen(pilot, CompareScreen)


@pytest.mark.parametrize(("go", "keys"), [
    (open_runs_screen, ["new run", "mark", "compare", "filter", "sort"]),
    (open_form, ["start"]),
    (open_live, ["evaluate", "predict", "masks"]),  # a finished run: no stop, no resume
    (open_predictions, ["sort by Dice", "sort by name"]),
    (open_compare, ["next image", "previous image"]),
], ids=["runs", "form", "live", "predictions", "compare"])
async def test_question_mark_shows_the_screens_keys_and_the_apps(monkeypatch, go, keys):
    finished = finished_run(runs_root())
    running_run(runs_root())
    write_predictions(finished)
    comparison = fixed_comparison(runs_root())
    monkeypatch.setattr("tui.screens.compare.compare_runs", lambda *args, **kwargs: comparison)
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await go(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: app.screen.query(KeysPanel), what="the keys panel")
        shown = key_lines(pilot)
        for key in [*keys, "quit", "keys"]:
            assert key in shown, (key, shown)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: not app.screen.query(KeysPanel), what="the panel to close")


async def test_the_runs_screens_own_keys_come_first_and_fit_without_scrolling():
    """At 100x30, `?` on the runs screen shows its keys as the footer names them (enter: open, not the table's
    "Select") before the app's and before the table's cursor keys, all above the fold."""
    finished_run(runs_root())
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#runs-table", VirtualTable).row_count == 1, what="runs")
        assert "─ 1 run · 0 live" in shown(app.screen.query_one("#runs-title"))  # not "1 runs"
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: app.screen.query(KeysPanel), what="the keys panel")
        await pilot.pause()
        rows = [" ".join(line.split()) for line in key_lines(pilot).splitlines()]
        panel = app.screen.query_one(KeysPanel)
        visible = panel.scrollable_content_region.height
        assert panel.scroll_y == 0
        for wanted in ("⏎ open", "n new run", "c compare", "q quit", "? keys"):
            assert wanted in rows and rows.index(wanted) < visible, (wanted, rows[:visible])
        assert "Select" not in " ".join(rows)
        sections = [row for row in rows if row in ("runs", "app", "navigation")]
        assert sections == ["runs", "app", "navigation"]
        assert rows.index("navigation") > rows.index("? keys")  # the table's cursor keys after seglab's


async def test_the_command_palette_offers_the_screens_actions():
    finished_run(runs_root())
    running_run(runs_root())
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await open_runs_screen(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("Mark", "Compare", "Filter", "Sort", "New run", "Keys", "Quit"):
            assert title in titles, titles
        (compare,) = [c for c in app.get_system_commands(app.screen) if c.title == "Compare"]
        await pilot.press("space", "space")
        await compare.callback()
        await wait_for_screen(pilot, CompareScreen)


async def test_the_theme_chosen_is_remembered_at_the_next_start():
    from core.user_settings import load_settings

    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "textual-dark"
        app.theme = "nord"
        await wait_for(pilot, lambda: load_settings().get("theme") == "nord", what="the settings file")
    again = make_app(runs_root())
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "nord"
