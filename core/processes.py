"""Whether a process is alive on this machine: what tells a run killed mid-training, or a generation killed
mid-way, from one still working."""

from __future__ import annotations

import os


def pid_is_alive(pid: int) -> bool:
    """True while process `pid` exists (another user's counts: signalling it is refused, not unknown)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
