"""Graceful stop on Ctrl-C, SIGTERM and SIGHUP: the first signal sets a threading.Event the engine
checks after every step; a second one raises KeyboardInterrupt at once."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopAs(threading.Event):
    """A stop that says how the run ends: `stop_as(state, message)` ends it in that state (a sweep's pruned
    trial) where a plain set() ends it stopped, resumable."""

    def __init__(self) -> None:
        super().__init__()
        self.outcome: tuple[str, str] | None = None

    def stop_as(self, state: str, message: str) -> None:
        self.outcome = (state, message)
        self.set()


@contextmanager
def stop_on_signals(on_signal: Callable[[int], None] | None = None) -> Iterator[threading.Event]:
    """Install the handlers for the block (main thread only) and restore the old ones after."""
    stop = threading.Event()
    owner = os.getpid()

    def handle(signum: int, _frame: object) -> None:
        if os.getpid() != owner:
            # A forked DataLoader worker inherits this handler and gets the terminal's Ctrl-C too; the training
            # process stops the run and its workers, and it alone says so.
            return
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        if on_signal is not None:
            on_signal(signum)

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
