"""Fixtures for the dashboard's Pilot tests: every training child the app starts is killed after its test."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from core.training.estimate import DurationEstimate
from tui.app import SeglabApp

# What the new-run form shows as expected in tests: the real probe takes seconds of CPU and varies with the machine.
FIXED_ESTIMATE = DurationEstimate(seconds=1500.0, epochs=20, epoch_s=75.0, prepare_s=0.0, train_images=240,
                                  val_images=30, device="this CPU", source="probe")


@pytest.fixture(autouse=True)
def fixed_estimates(monkeypatch) -> None:
    """The form's duration estimate without a probe (tests of the estimate itself put theirs in)."""
    monkeypatch.setattr(SeglabApp, "estimate_duration", lambda self, config, cancelled=None: FIXED_ESTIMATE)


@pytest.fixture(autouse=True)
def started_children(monkeypatch) -> Iterator[list[subprocess.Popen]]:
    """Every training child the app launches in a test; none outlives the test."""
    children: list[subprocess.Popen] = []
    launch_prepared = SeglabApp.launch_prepared

    def recording_launch(self, *args, **kwargs):
        run = launch_prepared(self, *args, **kwargs)
        children.append(self.children_started[run.path])
        return run

    monkeypatch.setattr(SeglabApp, "launch_prepared", recording_launch)
    yield children
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    """A process that stands in for a training child; killed after the test whatever happened."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()
