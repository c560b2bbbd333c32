"""glibc malloc settings for tensor work on the CPU: keep freed tensor memory for the next step
instead of handing it back to the kernel and faulting it in again, page by page.

PyTorch's CPU tensors come from malloc. glibc serves blocks above its mmap threshold (32 MB at
most) with a fresh mmap and unmaps them on free, so every training step maps, zero-fills and
unmaps gigabytes of activations and gradients: measured on the 2-core Xeon, a ResNet34-UNet step
at 256 px / batch 16 spent about a fifth of its time in the kernel doing that (bench/README.md,
"Host memory allocator"). Turning off mmap for malloc and raising the trim threshold makes glibc
reuse freed blocks from its heap. `SEGLAB_MALLOC=system` leaves glibc's defaults alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

from core.errors import ConfigError

MALLOC_ENV = "SEGLAB_MALLOC"
MALLOC_CHOICES = ("reuse", "system")
# mallopt parameters from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
# mallopt takes an int: the largest trim threshold it accepts (2 GiB) keeps the heap's free top.
KEEP_UP_TO_BYTES = 2**31 - 1

_applied: str | None = None


def requested_malloc() -> str:
    """The setting asked for in SEGLAB_MALLOC (default 'reuse'); an unknown value is an error."""
    value = os.environ.get(MALLOC_ENV, "reuse").strip().lower() or "reuse"
    if value not in MALLOC_CHOICES:
        raise ConfigError(f"{MALLOC_ENV}={value!r} is not one of {', '.join(MALLOC_CHOICES)}")
    return value


def reuse_freed_memory() -> str:
    """Apply the 'reuse' malloc settings to this process once, where glibc is the allocator.

    Returns what the process runs with: 'reuse' when applied (now or before), 'system' when
    SEGLAB_MALLOC=system asked for glibc's defaults or the C library is not glibc (macOS, musl).
    """
    global _applied
    if _applied is None:
        _applied = "reuse" if requested_malloc() == "reuse" and _set_glibc_reuse() else "system"
    return _applied


def _set_glibc_reuse() -> bool:
    """mallopt: no mmap for malloc, a 2 GiB trim threshold. False where glibc is not the C library."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # musl has a mallopt that does nothing
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; both must hold or the step still faults its pages in.
    return mallopt(M_TRIM_THRESHOLD, KEEP_UP_TO_BYTES) == 1 and mallopt(M_MMAP_MAX, 0) == 1
