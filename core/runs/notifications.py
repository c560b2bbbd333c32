"""Telling people a run ended or stalled: a small JSON POSTed to a URL (a chat webhook, ntfy, a lab's server) and/or
a command run with the same fields in its environment (notify-send, mail, a chat CLI). Each target is served by a
background thread with bounded timeouts and retries, so a slow or dead endpoint never delays training; at the
end of a run the process waits at most CLOSE_WAIT_S for what is still going out."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass

TIMEOUT_S = 20.0  # one POST or command: a slow endpoint (10 s to answer) still gets through on the first try
ATTEMPTS = 3  # tries of each notification
BACKOFF_S = 2.0  # before the second try; doubled before each next
CLOSE_WAIT_S = 25.0  # at the end of a run, how long unsent notifications may hold the process
USER_AGENT = "seglab-notify"


@dataclass(frozen=True)
class Notice:
    """What a notification says: the fields of the JSON body, and SEGLAB_<FIELD> for a command."""

    run: str
    state: str  # finished | failed | stopped | pruned | stalled | running (a stalled run moving again)
    epoch: int
    epochs: int
    best_dice: float | None
    elapsed_s: float
    host: str
    message: str = ""
    folder: str = ""

    def as_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    def as_environment(self) -> dict[str, str]:
        return {f"SEGLAB_{key.upper()}": "" if value is None else str(value) for key, value in asdict(self).items()}


def this_host() -> str:
    return socket.gethostname()


class Notifier:
    """Sends notices to `url` and/or `command`, each target from a thread of its own (a slow webhook does not hold
    the command back); `send` never blocks."""

    def __init__(self, url: str = "", command: str = "", warn=None, timeout_s: float = TIMEOUT_S,
                 attempts: int = ATTEMPTS, backoff_s: float = BACKOFF_S):
        self.url, self.command = url, command
        self.timeout_s, self.attempts, self.backoff_s = timeout_s, attempts, backoff_s
        self.warn = warn or _to_stderr
        self._channels = [channel for channel in (
            _Channel(f"POST to {_shown(url)}", self._post, self) if url else None,
            _Channel(f"command {command!r}", self._run, self) if command else None) if channel is not None]

    @property
    def enabled(self) -> bool:
        return bool(self._channels)

    def send(self, notice: Notice) -> None:
        for channel in self._channels:
            channel.put(notice)

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Let what is queued go out, waiting at most `wait_s` seconds in all (the run has ended: nothing is
        delayed but the process's exit)."""
        deadline = time.monotonic() + wait_s
        for channel in self._channels:
            channel.close(max(deadline - time.monotonic(), 0.0))

    def _post(self, notice: Notice) -> None:
        request = urllib.request.Request(self.url, data=notice.as_json(), method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - the user's URL
            response.read(1024)

    def _run(self, notice: Notice) -> None:
        done = subprocess.run(self.command, shell=True, env={**os.environ, **notice.as_environment()},  # noqa: S602
                              timeout=self.timeout_s, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[:200]}")


class _Channel:
    """One target's queue and thread: notices go out in order, each tried `attempts` times."""

    def __init__(self, what: str, deliver, owner: Notifier):
        self.what, self.deliver, self.owner = what, deliver, owner
        self._queue: queue.Queue[Notice | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def put(self, notice: Notice) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._deliver_all, name="seglab-notify", daemon=True)
            self._thread.start()
        self._queue.put(notice)

    def close(self, wait_s: float) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(wait_s)
            if self._thread.is_alive():  # the endpoint still has not answered: say so rather than go quietly
                self.owner.warn(f"notification {self.what} not confirmed: no answer within {wait_s:.3g} s of the "
                                "run's end; not waiting longer")

    def _deliver_all(self) -> None:
        while (notice := self._queue.get()) is not None:
            self._try(notice)

    def _try(self, notice: Notice) -> None:
        owner, wait = self.owner, self.owner.backoff_s
        for attempt in range(1, owner.attempts + 1):
            try:
                self.deliver(notice)
                return
            except Exception as error:  # noqa: BLE001 - any failure of the endpoint: retry, then one warning
                if attempt == owner.attempts:
                    owner.warn(f"notification {self.what} failed after {attempt} tries: {_reason(error)}")
                    return
                time.sleep(wait)
                wait *= 2


def _reason(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    if isinstance(error, subprocess.TimeoutExpired):
        return f"no answer in {error.timeout:g} s"
    return str(error) or type(error).__name__


def _shown(url: str) -> str:
    """A webhook's URL without its path, which often holds the secret token."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/..." if "/" in rest else url


def _to_stderr(message: str) -> None:
    print(f"seglab: warning: {message}", file=sys.stderr, flush=True)
