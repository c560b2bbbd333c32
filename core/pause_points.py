"""Named places where a test can freeze the training process to kill it there (kill -9 tests).

Set SEGLAB_PAUSE_AT to a point's name and SEGLAB_PAUSE_MARKER to a file path: on reaching the
point (after passing it SEGLAB_PAUSE_SKIP times, default 0) the process creates the marker and
sleeps, so the test knows where it is when it kills. Points: train-step, checkpoint-write, and
event-write-<type> (status, progress, epoch, checkpoint), which leaves half the line written.
Under torchrun, SEGLAB_PAUSE_RANK limits the pause to the process of that rank. With SEGLAB_PAUSE_RELEASE set to
a path, the process waits there only until that file exists, then goes on (a hung loader that recovers).
Unset (always, outside tests), a pause point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_passed: dict[str, int] = {}


def pause_point(name: str) -> None:
    if os.environ.get("SEGLAB_PAUSE_AT") != name:
        return
    if os.environ.get("SEGLAB_PAUSE_RANK", os.environ.get("RANK", "0")) != os.environ.get("RANK", "0"):
        return
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] <= int(os.environ.get("SEGLAB_PAUSE_SKIP", "0")):
        return
    marker = os.environ.get("SEGLAB_PAUSE_MARKER")
    if marker:
        partial = Path(f"{marker}.partial")  # renamed whole: a test that sees the marker reads all of it
        partial.write_text(f"{os.getpid()} {name}\n")
        os.replace(partial, marker)
    release = os.environ.get("SEGLAB_PAUSE_RELEASE")
    while not (release and Path(release).exists()):  # wait here to be killed, or released
        time.sleep(0.1 if release else 60)
