"""Waiting and reading helpers for the dashboard's Pilot and snapshot tests, and the runs they show."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rich.text import Text
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable

from core.config import TrainConfig
from core.runs.folders import Run, create_run, runs_root
from core.training.engine import train
from tui.screens.runs import RunsScreen
from tui.widgets.virtual_table import VirtualTable

S = TypeVar("S", bound=Screen)

SIZE = (100, 30)  # the terminal of the Pilot tests
# How long a wait may take before it fails: generous, for a slow 2-core machine under a whole suite (a wait
# returns as soon as its condition holds; tests of responsiveness pass their own short limits).
WAIT_S = 30.0


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = WAIT_S, what: str = "it") -> None:
    """Let the app run until `condition()` is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        await pilot.pause(0.05)


async def wait_for_screen(pilot: Pilot, screen_type: type[S], timeout: float = WAIT_S) -> S:
    """The app's screen once it is a mounted `screen_type` (pushing returns before the screen composes)."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, screen_type) and app.screen.is_mounted, timeout,
                   what=f"the {screen_type.__name__}")
    return app.screen


async def click_in_view(pilot: Pilot, selector: str) -> None:
    """Scroll the screen's `selector` into view, wait until it is there after a pause (a layout still to come, such
    as fields just set or an estimate arriving, can move it), and click it; a click that lands elsewhere fails here,
    not as a screen that never came. One pause after scroll_visible was not enough on a loaded machine: the click
    went to the widget's unscrolled place, below the screen."""
    widget = pilot.app.screen.query_one(selector)
    for _ in range(3):
        deadline = time.monotonic() + WAIT_S
        while True:
            widget.scroll_visible(animate=False)
            await pilot.pause()
            if widget.region.area and widget.region.offset in pilot.app.screen.size.region:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {WAIT_S} s for {selector} to be on the screen")
        if await pilot.click(widget):
            return
    raise AssertionError(f"three clicks on {selector} landed on another widget")


def shown(widget: Widget) -> str:
    """The plain text a Static (or any widget rendering text) shows."""
    return str(widget.render())


def plain(cell: object) -> str:
    """A table cell as the user reads it (string cells are Rich markup)."""
    return Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)


def table_rows(table: DataTable) -> list[list[str]]:
    """The table's cells as the user reads them, top to bottom."""
    return [[plain(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def trained_run(config: TrainConfig) -> Run:
    run = create_run(config, runs_root())
    train(config, run)
    return run


def mark_running(run: Run, pid: int) -> None:
    run.update_status(state="running", pid=pid, host=socket.gethostname(), started=time.time())


async def runs_table(pilot: Pilot, rows: int) -> VirtualTable:
    """The runs screen's table once it lists `rows` runs."""
    screen = await wait_for_screen(pilot, RunsScreen)
    table = screen.query_one("#runs-table", VirtualTable)
    await wait_for(pilot, lambda: table.row_count == rows, what=f"{rows} runs in the list")
    return table


# `seglab train` on the Oxford fixture (8 trainval images, 4 test), tiny and on the CPU
OXFORD_TINY = Path(__file__).parent.parent / "fixtures" / "oxford-pet-tiny"
ON_THE_FIXTURE = ["--data", str(OXFORD_TINY), "--width", "8", "--batch-size", "4", "--device", "cpu", "--workers", "0"]


def train_with_the_cli(root: Path, trainings: list[list[str]]) -> Path:
    """Runs trained by `seglab train` in this process into `root` (ON_THE_FIXTURE, then each argument list, then
    --runs-dir), with their own cache folder: for module-scoped fixtures, which the per-test folders miss."""
    import pytest

    from tui.cli import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGLAB_CACHE_DIR", str(root.parent / "cache"))
        for arguments in trainings:
            with pytest.raises(SystemExit) as exited:
                main(["train", *ON_THE_FIXTURE, *arguments, "--runs-dir", str(root)])
            assert exited.value.code == 0, arguments
    return root
