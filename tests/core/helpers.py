"""Small helpers shared by the core tests that train runs."""

from __future__ import annotations

from core.config import TrainConfig
from core.runs.folders import Run, create_run, runs_root


def new_run(config: TrainConfig) -> Run:
    return create_run(config, runs_root())
