"""Waiting and reading helpers for the dashboard's Pilot and snapshot tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from rich.text import Text
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable

S = TypeVar("S", bound=Screen)


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = 10.0, what: str = "it") -> None:
    """Let the app run until `condition()` is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        await pilot.pause(0.05)


async def wait_for_screen(pilot: Pilot, screen_type: type[S], timeout: float = 10.0) -> S:
    """The app's screen once it is a mounted `screen_type` (pushing returns before the screen composes)."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, screen_type) and app.screen.is_mounted, timeout,
                   what=f"the {screen_type.__name__}")
    return app.screen


def shown(widget: Widget) -> str:
    """The plain text a Static (or any widget rendering text) shows."""
    return str(widget.render())


def plain(cell: object) -> str:
    """A table cell as the user reads it (string cells are Rich markup)."""
    return Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)


def table_rows(table: DataTable) -> list[list[str]]:
    """The table's cells as the user reads them, top to bottom."""
    return [[plain(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
