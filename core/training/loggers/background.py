"""A tracker fed from a thread of its own: calls are queued and return at once; a call that fails (server gone, disk
full) is retried every RETRY_S seconds until it goes through or the run ends, and the first failure of a run is one
warning (later ones would only repeat it)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

RETRY_S = 30.0
CLOSE_WAIT_S = 60.0  # at the end of a run, how long a tracker may take to send what is queued


class RunLogger(Protocol):
    """What a tracker implements; every method is called from its background thread, in order."""

    def start(self) -> None: ...
    def epoch(self, event: Any) -> None: ...
    def progress(self, event: Any, step: int) -> None: ...
    def picture(self, event: Any) -> None: ...
    def finish(self, state: str) -> None: ...


class BackgroundLogger:
    def __init__(self, name: str, logger: RunLogger, warn: Callable[[str], None], retry_s: float = RETRY_S):
        self.name, self.logger, self.warn, self.retry_s = name, logger, warn, retry_s
        self._queue: queue.Queue[tuple[str, tuple] | None] = queue.Queue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"seglab-log-{name}", daemon=True)
        self.failing = False
        self.warnings = 0

    def start(self) -> BackgroundLogger:
        self._thread.start()
        self.call("start")
        return self

    def call(self, method: str, *args: Any) -> None:
        self._queue.put((method, args))

    def close(self, state: str, wait_s: float = CLOSE_WAIT_S) -> None:
        """Send `finish`, then wait at most `wait_s` for the queue to drain; what is left is said in one warning."""
        self.call("finish", state)
        self._queue.put(None)
        self._closing.set()
        self._thread.join(wait_s)
        if self._thread.is_alive():
            left = self._queue.qsize()
            self.warn(f"{self.name}: gave up after {wait_s:g} s with {left} record(s) not logged")

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            method, args = item
            while True:
                try:
                    getattr(self.logger, method)(*args)
                    self.failing = False
                    break
                except Exception as error:  # noqa: BLE001 - any tracker failure: warn once, retry, never raise
                    if not self.warnings:  # one warning a run: a server that is gone fails every call after
                        self.warnings += 1
                        self.warn(f"{self.name}: {_reason(error)}; training goes on, retrying every "
                                  f"{self.retry_s:g} s")
                    self.failing = True
                    if self._closing.wait(self.retry_s) and method != "finish":
                        break  # the run has ended: one last try of what is left, without waiting
                    if self._closing.is_set() and method == "finish":
                        return


def _reason(error: Exception) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__
