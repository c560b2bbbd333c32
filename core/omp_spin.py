"""How long torch's OpenMP compute threads (GNU libgomp) busy-wait for the next parallel region before they
sleep, for a process whose own threads share the cores with them between the model's forward passes.

libgomp spins 300,000 rounds by default after each region (milliseconds), so after every forward pass the model's
idle compute thread keeps a core busy while `seglab predict`'s decoding and writing threads wait for it. It reads
GOMP_SPINCOUNT once, when torch loads it: set before `import torch`, never after."""

from __future__ import annotations

import os
import sys

SHORT_SPIN = "10000"  # rounds: the model's own forward pass runs as fast as with the default (bench/README.md)


def spin_briefly() -> bool:
    """Ask libgomp for a short spin; True when it will take effect. False once torch is loaded (too late) or when
    the user chose a spin or wait policy (GOMP_SPINCOUNT, OMP_WAIT_POLICY), which is kept."""
    if "torch" in sys.modules or "GOMP_SPINCOUNT" in os.environ or "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["GOMP_SPINCOUNT"] = SHORT_SPIN
    return True
