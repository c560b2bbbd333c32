"""How prediction's forward passes share the machine: how many model lanes (threads that each take the next batch,
run it through the model and hand its files to the writers), how many compute threads each, and whether a lane
must have the cores to itself while it runs the model. Also the hand-over of batches from the lanes to the thread
that appends rows in input order.

On a CPU of 2 to 4 compute threads torch runs one single-threaded lane per thread: one forward pass on two threads
waits at every operator's barrier for the slower thread, and stalls whenever decoding or writing takes one of its
cores; a lane on its own thread loses only its own time (a 2-core Zen 4: the model alone 1.04-1.07x faster as two
lanes, `seglab predict` 1.09x). Above 4 threads (memory grows with the lanes) and for ONNX Runtime (its own
thread pool), one lane runs the model on every thread, with decoding and writing only between its batches; a GPU's
lane leaves the cores free, so there decoding and writing run beside it (bench/README.md, predict)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from core.errors import DataError

MAX_LANES = 4


@dataclass(frozen=True)
class LanePlan:
    """`lanes` model lanes of `threads` compute threads each (0: leave torch's setting as it is); `exclusive`: the
    one lane's forward pass has every core, so nothing is decoded or written while it runs."""

    lanes: int
    threads: int = 0
    exclusive: bool = False


def lane_plan(model: object, device: torch.device, threads: int | None = None) -> LanePlan:
    """The plan for `model` (a torch module, or ONNX Runtime's wrapper) on `device`, with torch's `threads`
    (default: torch.get_num_threads())."""
    if device.type != "cpu":
        return LanePlan(1)
    threads = torch.get_num_threads() if threads is None else threads
    if not isinstance(model, torch.nn.Module):
        return LanePlan(1, exclusive=True)
    if 2 <= threads <= MAX_LANES:
        return LanePlan(threads, threads=1)
    return LanePlan(1, exclusive=threads > 1)


@contextmanager
def lanes_running(plan: LanePlan, step: Callable[[int], None]) -> Iterator[None]:
    """step(lane number) running on every lane of `plan`, each in its own thread with the plan's compute threads,
    while the block runs; on leaving it waits for the lanes to return, and torch's process-wide thread setting is
    as it was before (a lane's torch.set_num_threads sets it for threads started later too)."""
    threads = torch.get_num_threads()

    def lane(number: int) -> None:
        if plan.threads:
            torch.set_num_threads(plan.threads)
        step(number)

    workers = [threading.Thread(target=lane, args=(number,), name=f"seglab-model-{number}", daemon=True)
               for number in range(plan.lanes)]
    try:
        for worker in workers:
            worker.start()
        yield
    finally:
        for worker in workers:
            if worker.ident is not None:
                worker.join()
        if plan.threads:
            torch.set_num_threads(threads)


def run_in_lanes(plan: LanePlan, step: Callable[[int], None]) -> None:
    """step(lane number) on every lane of `plan` at once, as prediction runs its lanes; returns when all have."""
    with lanes_running(plan, step):
        pass


@dataclass
class BatchDone:
    """A batch a lane has finished: its images' write futures in input order, the images it skipped, or the error
    that ended it (an unreadable image without skip_bad, a failed forward pass)."""

    writes: list[Future] = field(default_factory=list)
    skipped: list[DataError] = field(default_factory=list)
    error: BaseException | None = None


class BatchHandOver:
    """Batch positions handed out to lanes in order, and their results handed back to the appending thread in the
    same order. A lane may take a batch at most `lanes + 1` ahead of the next one to hand back, so memory stays
    bounded; once halted or stopped no batch is taken, and the batches already taken still come back."""

    def __init__(self, count: int, lanes: int, stop: threading.Event | None):
        self.count, self.lanes, self.stop = count, lanes, stop
        self.condition = threading.Condition()
        self.taken = 0
        self.appended = 0
        self.active = lanes
        self.halted = False
        self.finished: dict[int, BatchDone] = {}

    def take(self) -> int | None:
        """The next batch position for a lane, or None when there is none to take (all taken, halted, stopped)."""
        with self.condition:
            while not self._closed() and self.taken - self.appended > self.lanes:
                self.condition.wait()
            if self._closed():
                return None
            self.taken += 1
            return self.taken - 1

    def give_back(self, position: int, done: BatchDone) -> None:
        with self.condition:
            self.finished[position] = done
            self.condition.notify_all()

    def lane_ended(self) -> None:
        with self.condition:
            self.active -= 1
            self.condition.notify_all()

    def next_finished(self, wait: bool = True) -> BatchDone | None:
        """The next batch in input order once its lane has finished it (from then on it counts as appended); None
        when no lane will give one back (or, with wait=False, when it is not finished yet)."""
        with self.condition:
            while self.appended not in self.finished:
                if not wait or (self.active == 0 and self.appended >= self.taken):
                    return None
                self.condition.wait()
            self.appended += 1
            self.condition.notify_all()
            return self.finished.pop(self.appended - 1)

    def halt(self) -> None:
        with self.condition:
            self.halted = True
            self.condition.notify_all()

    def _closed(self) -> bool:
        return self.halted or self.taken >= self.count or (self.stop is not None and self.stop.is_set())
