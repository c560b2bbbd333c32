"""App-wide Textual messages. Only tui/run_follower.py creates the run-event ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from core.runs.events import Event, ProgressEvent


@dataclass
class RunHistory(Message):
    """Every event a run's log held when following started (one message, however long the history)."""

    run_path: Path
    events: list[Event]


@dataclass
class RunEvent(Message):
    """One new event of a followed run."""

    run_path: Path
    event: Event

    def can_replace(self, message: Message) -> bool:
        # a newer progress event makes a queued older one of the same run worthless
        return (
            isinstance(message, RunEvent)
            and message.run_path == self.run_path
            and isinstance(message.event, ProgressEvent)
            and isinstance(self.event, ProgressEvent)
        )
