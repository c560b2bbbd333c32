"""A training process paused outright (SIGSTOP: its watchdog is paused too) reads as stalled from the age of its last
event, in `seglab runs` and the dashboard's state, and as running again once it moves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from core.runs.folders import list_runs, runs_root
from tests.tui.test_cli import seglab
from tui.run_rows import read_run_rows

ARGS = ["--data", "synthetic", "--epochs", "500", "--image-size", "32", "--synthetic-count", "24",
        "--synthetic-size", "32", "--batch-size", "4", "--device", "cpu", "--workers", "0", "--width", "8",
        "--stall-minutes", "0.03", "--progress-images", "0", "--name", "paused"]


def wait_until(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_paused_process_reads_as_stalled_then_running_again(capsys):
    child = subprocess.Popen([sys.executable, "-m", "tui.cli", "train", *ARGS], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        wait_until(lambda: list_runs(runs_root()) and list_runs(runs_root())[0].read_status().epoch >= 1)
        (run,) = list_runs(runs_root())
        assert run.read_status().stall_after_s >= 1.8 and run.state() == "running"
        os.kill(child.pid, signal.SIGSTOP)
        wait_until(lambda: run.state() == "stalled", 30)
        code, out, _ = seglab(capsys, "runs")
        assert code == 0 and "stalled" in out and "paused" in out
        assert [row.state for row in read_run_rows(runs_root())] == ["stalled"]  # the dashboard's runs list
        os.kill(child.pid, signal.SIGCONT)
        wait_until(lambda: run.state() == "running", 30)
    finally:
        os.kill(child.pid, signal.SIGCONT)
        child.send_signal(signal.SIGINT)
        child.wait(60)
    assert run.read_status().state == "stopped"
