"""A background task that fails is never silent: one notification, naming the task and the error."""

from __future__ import annotations

import tui.screens.runs
from core.runs.folders import runs_root
from tests.tui.helpers import wait_for
from tui.app import make_app


async def test_a_failing_runs_refresh_is_reported_as_a_notification(monkeypatch):
    def unreadable(_root):
        raise PermissionError("runs folder not readable")

    monkeypatch.setattr(tui.screens.runs, "read_run_rows", unreadable)
    app = make_app(runs_root())
    said: list[tuple[str, str]] = []
    real_notify = app.notify

    def recording_notify(message, *args, severity="information", **kwargs):
        said.append((message, severity))
        return real_notify(message, *args, severity=severity, **kwargs)

    app.notify = recording_notify
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: said, what="a notification")
    assert said[0] == ("reading the runs folder failed: runs folder not readable", "error")
