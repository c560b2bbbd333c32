"""The JSONL event log: what a writer appends, readers get back, torn lines never break a reader or a writer."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from core.runs.events import (
    CheckpointEvent,
    EpochEvent,
    EventLog,
    ProgressEvent,
    StatusEvent,
    follow_events,
    read_events,
)

SAMPLE_EVENTS = [
    StatusEvent(state="running", message="started epoch 1/2 on cpu"),
    ProgressEvent(epoch=1, step=3, steps=5, loss=0.61, images_per_s=42.5),
    CheckpointEvent(path="/runs/x/checkpoints/last.pt", epoch=1),
    EpochEvent(epoch=1, epochs=2, train_loss=0.6, val_loss=0.55, val_dice=0.31, val_iou=0.2, lr=5e-4,
               seconds=1.25, is_best=True),
    StatusEvent(state="finished", message="finished 2 epochs, best val Dice 0.3100 ✓"),
]


def write_all(path: Path, events) -> None:
    with EventLog(path) as log:
        for event in events:
            log.write(event)


def append_bytes(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


class Follower:
    """Runs follow_events in a thread and collects what it yields, so a test can look without blocking."""

    def __init__(self, path: Path, until=None):
        self.stop = threading.Event()
        self.events: list = []
        self.thread = threading.Thread(
            target=lambda: self.events.extend(follow_events(path, stop=self.stop, poll_seconds=0.01, until=until)),
            daemon=True,
        )
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.events)

    def finish(self, timeout: float = 5.0) -> None:
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "follow_events kept running after stop was set"


def test_events_round_trip_with_their_types_and_fields(tmp_path):
    path = tmp_path / "events.jsonl"
    write_all(path, SAMPLE_EVENTS)
    assert read_events(path) == SAMPLE_EVENTS
    assert [type(event) for event in read_events(path)] == [type(event) for event in SAMPLE_EVENTS]
    assert len(path.read_text(encoding="utf-8").splitlines()) == len(SAMPLE_EVENTS)  # one line each


def test_read_events_of_a_missing_log_is_empty(tmp_path):
    assert read_events(tmp_path / "nothing-yet.jsonl") == []


def test_a_torn_last_line_is_skipped_and_the_next_writer_starts_on_a_fresh_line(tmp_path):
    path = tmp_path / "events.jsonl"
    write_all(path, SAMPLE_EVENTS[:2])
    append_bytes(path, b'{"type":"status","time":1.0,"sta')  # the writer crashed mid-line
    assert read_events(path) == SAMPLE_EVENTS[:2]

    write_all(path, SAMPLE_EVENTS[2:])  # a resumed run appends to the same log
    assert read_events(path) == SAMPLE_EVENTS


def test_garbage_and_unknown_lines_are_skipped(tmp_path):
    path = tmp_path / "events.jsonl"
    write_all(path, SAMPLE_EVENTS[:1])
    append_bytes(path, b"not json at all\n[1, 2, 3]\n\xff\xfe\n"
                       b'{"type":"no-such-type","time":1.0}\n'
                       b'{"type":"progress","time":1.0,"epoch":1}\n'  # missing fields
                       b"\n")
    write_all(path, SAMPLE_EVENTS[1:])
    assert read_events(path) == SAMPLE_EVENTS


@pytest.mark.timeout(20)
def test_follow_yields_events_a_writer_thread_appends_and_ends_on_until(tmp_path):
    path = tmp_path / "events.jsonl"

    def writer() -> None:
        with EventLog(path) as log:
            for event in SAMPLE_EVENTS:
                time.sleep(0.02)
                log.write(event)
            log.write(StatusEvent(state="running", message="after the final state"))

    thread = threading.Thread(target=writer)
    thread.start()
    followed = list(follow_events(path, poll_seconds=0.01,
                                  until=lambda e: isinstance(e, StatusEvent) and e.state == "finished"))
    thread.join()
    assert followed == SAMPLE_EVENTS  # the event after the final state is not yielded


@pytest.mark.timeout(20)
def test_follow_holds_back_a_half_written_line_until_its_newline_arrives(tmp_path):
    path = tmp_path / "events.jsonl"
    write_all(path, SAMPLE_EVENTS[:1])
    follower = Follower(path)
    assert follower.wait_for(1) == SAMPLE_EVENTS[:1]

    line = (json.dumps(SAMPLE_EVENTS[-1].to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
    cut = line.index("✓".encode()) + 1  # inside the multi-byte character, too
    append_bytes(path, line[:cut])
    time.sleep(0.2)  # many polls
    assert follower.events == SAMPLE_EVENTS[:1]

    append_bytes(path, line[cut:])
    assert follower.wait_for(2) == [SAMPLE_EVENTS[0], SAMPLE_EVENTS[-1]]
    follower.finish()


@pytest.mark.timeout(20)
def test_follow_ends_when_stop_is_set(tmp_path):
    path = tmp_path / "events.jsonl"
    write_all(path, SAMPLE_EVENTS[:2])
    follower = Follower(path)
    assert follower.wait_for(2) == SAMPLE_EVENTS[:2]
    follower.finish()
    assert follower.events == SAMPLE_EVENTS[:2]


@pytest.mark.timeout(20)
def test_follow_waits_for_a_log_that_does_not_exist_yet(tmp_path):
    path = tmp_path / "events.jsonl"
    follower = Follower(path, until=lambda e: isinstance(e, StatusEvent) and e.state == "finished")
    time.sleep(0.1)
    assert follower.events == []
    write_all(path, SAMPLE_EVENTS)
    follower.thread.join(5)
    assert not follower.thread.is_alive()
    assert follower.events == SAMPLE_EVENTS
