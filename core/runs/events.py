"""Run events and the JSONL event log: the writer the engine appends to, and readers that follow it.

The log in the run folder is the single source of truth for the dashboard and `seglab watch`:
one JSON object per line, flushed per line. A line torn by a crash is skipped by readers, and
the next writer starts on a fresh line. Progress inside an epoch goes to progress.json (the latest
only, replaced atomically); the log keeps each epoch's last progress line, so it grows by a few lines
an epoch however long the epoch, and no reader ever re-reads progress from the start.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from core.atomic_files import atomic_write_text
from core.pause_points import pause_point


@dataclass(frozen=True)
class Event:
    """Base of every event: a type tag and a wall-clock time (seconds since the epoch)."""

    type: ClassVar[str] = "event"
    time: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True)
class StatusEvent(Event):
    """The run changed state (created/running/finished/failed/stopped)."""

    type: ClassVar[str] = "status"
    state: str
    message: str = ""


@dataclass(frozen=True)
class ProgressEvent(Event):
    """Progress inside an epoch; emitted at most a few times a second."""

    type: ClassVar[str] = "progress"
    epoch: int  # 1-based epoch being trained
    step: int  # optimizer steps done in this epoch
    steps: int  # optimizer steps in this epoch
    loss: float  # running mean training loss over this epoch so far
    images_per_s: float  # over the images trained in this epoch so far (by this process)
    images: int = 0  # images trained in this epoch so far


@dataclass(frozen=True)
class EpochEvent(Event):
    """An epoch finished and was validated. Dice and IoU are per-image means at threshold 0.5; multiclass: their
    mean over the foreground classes, with each class's Dice in `class_dice`."""

    type: ClassVar[str] = "epoch"
    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    val_dice: float
    val_iou: float
    lr: float
    seconds: float
    is_best: bool
    class_dice: dict[str, float] = field(default_factory=dict)  # multiclass: val Dice per class name, in order
    class_iou: dict[str, float] = field(default_factory=dict)  # multiclass: val IoU per class name, in order
    images_per_s: float = 0.0  # training images a second over the epoch's training (0: not recorded)


@dataclass(frozen=True)
class CheckpointEvent(Event):
    """A checkpoint file was written (atomically) after the given number of finished epochs."""

    type: ClassVar[str] = "checkpoint"
    path: str
    epoch: int
    trained: str = ""  # "3", or "3 + 6/15 steps" for weights saved by a mid-epoch stop


@dataclass(frozen=True)
class PictureEvent(Event):
    """A progress picture was saved: the model's masks on the same few validation images after `epoch`."""

    type: ClassVar[str] = "picture"
    epoch: int
    path: str


@dataclass(frozen=True)
class WarningEvent(Event):
    """Something beside training went wrong and training goes on (a logger's server gone, a notification lost)."""

    type: ClassVar[str] = "warning"
    message: str


EVENT_CLASSES: dict[str, type[Event]] = {
    cls.type: cls for cls in (StatusEvent, ProgressEvent, EpochEvent, CheckpointEvent, PictureEvent, WarningEvent)
}


def parse_event(values: dict[str, Any]) -> Event | None:
    """Turn one decoded line into its event; None for unknown types or missing fields."""
    cls = EVENT_CLASSES.get(values.get("type", ""))
    if cls is None:
        return None
    known = {f.name for f in fields(cls)}  # fields a newer seglab added are ignored, not fatal
    try:
        return cls(**{k: v for k, v in values.items() if k in known})
    except TypeError:
        return None


PROGRESS_FILE = "progress.json"  # beside events.jsonl: the run's latest progress event
PROGRESS_PREFIX = b'{"type":"progress"'  # how every progress line starts (to_dict puts the type first)
CHUNK_BYTES = 1 << 23  # history is read in 8 MB chunks: a log of a million lines costs no more memory than that


def progress_path(events_path: Path) -> Path:
    return events_path.with_name(PROGRESS_FILE)


class EventLog:
    """Appends events to `events.jsonl`, one flushed line each; a progress event inside an epoch replaces
    progress.json instead, and an epoch's last one does both."""

    def __init__(self, path: Path):
        self.path = path
        self.progress_path = progress_path(path)
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run's life
        if self._file.tell() > 0 and not _ends_with_newline(path):
            self._file.write("\n")  # a crash tore the last line: start ours on a fresh one
            self._file.flush()

    def write(self, event: Event) -> None:
        line = json.dumps(event.to_dict(), separators=(",", ":")) + "\n"
        if isinstance(event, ProgressEvent):
            self._replace_progress(line)
            if event.step < event.steps:
                return  # the log keeps an epoch's last step only: it grows by lines per epoch, not per second
        with self._lock:
            point = f"event-write-{event.type}"
            if os.environ.get("SEGLAB_PAUSE_AT") == point:  # tests kill here, mid-line
                self._file.write(line[: len(line) // 2])
                self._file.flush()
                pause_point(point)
                line = line[len(line) // 2 :]
            self._file.write(line)
            self._file.flush()

    def _replace_progress(self, line: str) -> None:
        with contextlib.suppress(OSError):  # progress is for watching eyes; the log and checkpoints must be written
            atomic_write_text(self.progress_path, line, sync=False)  # a few times a second: no fsync

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _decode(line: bytes) -> Event | None:
    try:
        values = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return parse_event(values) if isinstance(values, dict) else None


def read_new_events(path: Path, offset: int = 0) -> tuple[list[Event], int]:
    """The complete events after byte `offset`, and the offset just past the last complete line.

    Text after the last newline is an unfinished (or torn) line: it is left for the next read.
    """
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = [event for line in data[:end].split(b"\n") if (event := _decode(line)) is not None]
    return events, offset + end


def read_events(path: Path) -> list[Event]:
    """Every complete, parsable event in the log (a torn or garbled line is skipped)."""
    return read_new_events(path)[0]


def read_history(path: Path) -> tuple[list[Event], int]:
    """The log's events for a reader that shows a run: every event but the progress lines, of which only the last
    is kept (in its place), then progress.json's event if it is newer; and the offset to follow the log from.

    Read in chunks, and progress lines are skipped unparsed: a million-line log written before progress moved
    to progress.json takes a fraction of a second and no more memory than a chunk."""
    events: list[Event] = []
    last_progress, progress_at = b"", 0
    offset = 0
    try:
        with open(path, "rb") as f:
            rest = b""
            while chunk := f.read(CHUNK_BYTES):
                data = rest + chunk
                end = data.rfind(b"\n") + 1
                for line in data[:end].split(b"\n"):
                    if line.startswith(PROGRESS_PREFIX):
                        last_progress, progress_at = line, len(events)
                    elif line and (event := _decode(line)) is not None:
                        events.append(event)
                offset += end
                rest = data[end:]
    except FileNotFoundError:
        pass
    if last_progress and (event := _decode(last_progress)) is not None:
        events.insert(progress_at, event)
    latest = read_progress(path)
    if latest is not None and (not events or latest.time > events[-1].time):
        events.append(latest)
    return events, offset


def read_epochs(path: Path) -> list[EpochEvent]:
    """The log's epoch events, in order (read as read_history reads: progress lines skipped unparsed)."""
    return [event for event in read_history(path)[0] if isinstance(event, EpochEvent)]


def read_progress(path: Path) -> ProgressEvent | None:
    """The run's latest progress event from progress.json beside the log `path`; None if there is none."""
    try:
        event = _decode(progress_path(path).read_bytes())
    except OSError:
        return None
    return event if isinstance(event, ProgressEvent) else None


def follow_events(
    path: Path,
    stop: threading.Event | None = None,
    poll_seconds: float = 0.2,
    until: Callable[[Event], bool] | None = None,
    offset: int = 0,
) -> Iterator[Event]:
    """Yield events from byte `offset` of the log, then new ones as they are appended, with the latest
    progress from progress.json whenever it changes (and is newer than the last event yielded).

    Ends when `stop` is set, or after yielding an event for which `until` is true. A half-written
    last line is held back until its newline arrives. The file may not exist yet.
    """
    stop = stop or threading.Event()
    latest_time, progress_stamp, from_progress_file = 0.0, None, 0.0
    while not stop.is_set():
        events, offset = read_new_events(path, offset)
        for event in events:
            if isinstance(event, ProgressEvent) and event.time <= from_progress_file:
                continue  # an epoch's last progress, yielded from progress.json (replaced before the line is added)
            latest_time = max(latest_time, event.time)
            yield event
            if until is not None and until(event):
                return
        stamp = _stamp(progress_path(path))
        progress = None
        if stamp is not None and stamp != progress_stamp:
            progress_stamp, progress = stamp, read_progress(path)
            if progress is not None and progress.time > latest_time:
                latest_time = from_progress_file = progress.time
                yield progress
        if not events and progress is None:
            stop.wait(poll_seconds)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_ino
