"""The one bridge from core's event log to Textual: follow a run's events.jsonl, post messages.

Runs in a thread worker; the UI thread never reads the log. The whole history arrives as one
RunHistory message, then each new event as a RunEvent (progress events coalesce in the queue).
"""

from __future__ import annotations

import threading

from textual.message_pump import MessagePump

from core.runs.events import follow_events, read_history
from core.runs.folders import Run
from tui.messages import RunEvent, RunHistory


def follow_run(target: MessagePump, run: Run, stop: threading.Event, poll_seconds: float = 0.25) -> None:
    """Post the run's history, then its new events, to `target` until `stop` is set."""
    history, offset = read_history(run.events_path)  # its progress lines skipped but the last
    target.post_message(RunHistory(run.path, history))
    for event in follow_events(run.events_path, stop=stop, poll_seconds=poll_seconds, offset=offset):
        target.post_message(RunEvent(run.path, event))
