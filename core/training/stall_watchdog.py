"""The stall watchdog: a thread beside the training loop that notices when a run whose process lives makes no progress
for much longer than its usual step (a hung data loader, a collective waiting forever), says so once, and says so
again when the loop moves. Its current limit goes into status.json, so readers can tell a paused process too."""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable

from core.runs.events import CheckpointEvent, EpochEvent, Event, ProgressEvent

STALL_FACTOR = 10  # quiet for this many usual steps (and at least the configured minutes) is a stall
EVAL_FACTOR = 2  # or for twice the longest validation seen (no progress events come while it runs)
RECENT_STEPS = 64  # the step times the median is taken over

clock = time.monotonic  # tests replace it


class StallWatchdog:
    """Feed it every event (`observe`); `on_change(stalled, quiet_s, limit_s)` is called from its thread when the
    run stalls and from the training thread when it moves again."""

    def __init__(self, minimum_s: float, on_change: Callable[[bool, float, float], None], poll_s: float = 1.0):
        self.minimum_s, self.on_change, self.poll_s = minimum_s, on_change, poll_s
        self.stalled = False
        self._last = clock()
        self._last_progress: tuple[int, int, float] | None = None  # epoch, step, time
        self._steps: deque[float] = deque(maxlen=RECENT_STEPS)
        self._longest_eval = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="seglab-stall-watchdog", daemon=True)

    def start(self) -> StallWatchdog:
        if self.minimum_s > 0:
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()

    @property
    def limit_s(self) -> float:
        """How long the run may be quiet before it counts as stalled, from what its steps took so far."""
        usual = STALL_FACTOR * statistics.median(self._steps) if self._steps else 0.0
        return max(self.minimum_s, usual, EVAL_FACTOR * self._longest_eval)

    def observe(self, event: Event) -> None:
        if not isinstance(event, (ProgressEvent, EpochEvent, CheckpointEvent)):
            return
        now = clock()
        with self._lock:
            if isinstance(event, ProgressEvent):
                previous = self._last_progress
                # a stall's long step is no measure of the usual pace
                if previous is not None and previous[0] == event.epoch and event.step > previous[1] and \
                        not self.stalled:
                    self._steps.append((now - previous[2]) / (event.step - previous[1]))
                self._last_progress = (event.epoch, event.step, now)
            elif isinstance(event, EpochEvent) and self._last_progress is not None:
                self._longest_eval = max(self._longest_eval, now - self._last_progress[2])
            quiet, self._last = now - self._last, now
            moved_again = self.stalled
            self.stalled = False
            if moved_again:
                self.on_change(False, quiet, self.limit_s)

    def check(self) -> None:
        """One look, as the thread takes every poll_s: quiet past the limit is a stall, said once."""
        with self._lock:
            quiet, limit = clock() - self._last, self.limit_s
            # armed by the first step: setting up (data generation, compiling) has no usual pace to exceed
            if self._last_progress is not None and not self.stalled and quiet > limit:
                self.stalled = True
                self.on_change(True, quiet, limit)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.check()
