"""A run's status.json, typed: the states a run can be in, and the one reader and writer of the file."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from core.atomic_files import atomic_write_text


class State:
    """The states of a run, as status.json and status events spell them."""

    CREATED = "created"  # the folder exists; no training process has started yet
    RUNNING = "running"
    FINISHED = "finished"  # every epoch, or an early stop
    STOPPED = "stopped"  # a signal or the dashboard's stop; resumable
    FAILED = "failed"
    PRUNED = "pruned"  # a sweep's pruner stopped the trial (like a stop: last.pt saved)
    STALLED = "stalled"  # its process lives but has made no progress for far longer than its usual step
    INTERRUPTED = "interrupted"  # shown, never written: marked running, but its process is gone


ALL_STATES = tuple(value for name, value in vars(State).items() if name.isupper())  # every state a run can show
FINAL_STATES = (State.FINISHED, State.FAILED, State.STOPPED, State.PRUNED)  # written when training ends
LIVE_STATES = (State.CREATED, State.RUNNING, State.STALLED)  # a process may still be training the run
ENDED_STATES = (*FINAL_STATES, State.INTERRUPTED)  # nothing more will happen without a resume


@dataclass(frozen=True)
class RunStatus:
    """status.json: where a run stands, rewritten atomically as it trains. Times are Unix seconds."""

    state: str = State.CREATED
    pid: int | None = None  # the training process (rank 0 under torchrun)
    host: str | None = None  # where that process runs
    created: float | None = None
    started: float | None = None  # the last start or resume
    earlier_s: float = 0.0  # training time of the sessions before the last start (a resumed run's earlier ones)
    finished: float | None = None
    updated: float | None = None
    epoch: int = 0  # finished epochs
    epochs: int = 0  # epochs asked for
    best_dice: float | None = None  # best val Dice so far
    model: str = ""
    data: str = ""
    message: str = ""  # why it stopped, failed or finished
    train_images: int | None = None
    val_images: int | None = None
    skipped_samples: int = 0
    runtime: dict[str, Any] | None = None  # what 'auto' choices resolved to (device, precision, processes...)
    stall_after_s: float | None = None  # quiet this long, a running run is stalled (its watchdog's current limit)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunStatus:
        """Known keys only: a file written by a newer seglab still reads."""
        return cls(**{key: value for key, value in values.items() if key in _STATUS_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def first_started(self) -> float | None:
        """When the run began: its folder's creation (a resume moves `started`, not this), else its start."""
        return self.created or self.started

    def elapsed_s(self, now: float) -> float | None:
        """The run's training time at `now` (or at its end, once finished): every session's, not the time it
        spent stopped between them. None before it first started."""
        if self.started is None:
            return None
        return self.earlier_s + max(0.0, (self.finished or now) - self.started)

    def sessions_s(self, last_written: float | None = None) -> float:
        """The training time of every session up to this status's last word: what a resume's clock goes on from.
        `last_written`: when the run last wrote anything (a process killed mid-epoch wrote its progress after its
        status). Read it before the resuming process writes anything (its first write moves `updated`)."""
        ended = self.finished or max(self.updated or 0.0, last_written or 0.0) or None
        if self.started is None or ended is None:
            return self.earlier_s
        return self.earlier_s + max(0.0, ended - self.started)


_STATUS_FIELDS = frozenset(f.name for f in fields(RunStatus))


def read_status(path: Path) -> RunStatus:
    """The status in `path`; a missing or unreadable file reads as a fresh status."""
    return read_status_file(path) or RunStatus()


def read_status_file(path: Path) -> RunStatus | None:
    """The status in `path`, or None when the file is missing or unreadable."""
    try:
        values = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return RunStatus.from_dict(values) if isinstance(values, dict) else None


def update_status(path: Path, **changes: Any) -> RunStatus:
    """Apply `changes` (RunStatus fields) with a fresh `updated` time and rewrite the file atomically."""
    status = replace(read_status(path), **changes, updated=time.time())
    atomic_write_text(path, json.dumps(status.to_dict(), indent=2) + "\n")
    return status
