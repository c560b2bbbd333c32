"""`seglab predict` asks torch's OpenMP threads for a short spin before torch loads them; a user's own spin or wait
policy is kept, and once torch is loaded nothing is set (it would have no effect)."""

from __future__ import annotations

import os
import subprocess
import sys

from core.omp_spin import SHORT_SPIN, spin_briefly

ASKED = "import os\nfrom core.omp_spin import spin_briefly\nprint(spin_briefly(), os.environ.get('GOMP_SPINCOUNT'))"


def child(code: str, **env: str) -> list[str]:
    clean = {name: value for name, value in os.environ.items() if name not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    done = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          check=True)
    return done.stdout.split()


def test_a_process_without_torch_is_given_the_short_spin():
    assert child(ASKED) == ["True", SHORT_SPIN]


def test_a_spin_or_wait_policy_the_user_chose_is_kept():
    assert child(ASKED, GOMP_SPINCOUNT="5") == ["False", "5"]
    assert child(ASKED, OMP_WAIT_POLICY="active") == ["False", "None"]


def test_once_torch_is_loaded_nothing_is_set(monkeypatch):
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert "torch" in sys.modules  # the suite's conftest imports it
    assert spin_briefly() is False and "GOMP_SPINCOUNT" not in os.environ


def test_seglab_predict_asks_before_torch_loads():
    code = ("import os, sys\nfrom tui.cli import main\ntry:\n    main(['predict', 'no-such-run'])\n"
            "except SystemExit:\n    pass\nprint('torch' in sys.modules, os.environ.get('GOMP_SPINCOUNT'))")
    assert child(code) == ["True", SHORT_SPIN]  # set, and torch loaded after: spin_briefly refuses once it is
