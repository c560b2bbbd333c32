"""Trackers a run also logs to (`--log tensorboard,mlflow`): each behind its extra, each fed from a thread of its
own (core/training/loggers/background.py) so a slow or failing tracker never stops or slows training."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.config import TrainConfig, loggers_of
from core.errors import ConfigError
from core.training.loggers.background import BackgroundLogger


@dataclass(frozen=True)
class LoggerSpec:
    """A tracker: the module that logs to it, the package it needs and the extra that brings that package."""

    module: str
    needs: str
    extra: str


LOGGERS = {
    "tensorboard": LoggerSpec("core.training.loggers.tensorboard", "tensorboard", "tensorboard"),
    "mlflow": LoggerSpec("core.training.loggers.mlflow_tracking", "mlflow", "mlflow"),
}


def check_loggers(config: TrainConfig) -> None:
    """Before a run exists: every tracker asked for is installed, or one line saying which extra brings it."""
    for name in loggers_of(config):
        spec = LOGGERS[name]
        if importlib.util.find_spec(spec.needs) is None:
            raise ConfigError(f"log: {name} needs the {spec.needs} package: pip install 'seglab[{spec.extra}]'")


def start_loggers(config: TrainConfig, run_path: Path, runs_root: Path,
                  warn: Callable[[str], None]) -> list[BackgroundLogger]:
    """One background logger per tracker in --log, each started (its first call made from its own thread)."""
    import importlib

    started = []
    for name in loggers_of(config):
        module = importlib.import_module(LOGGERS[name].module)
        logger = module.make_logger(config, Path(run_path), Path(runs_root))
        started.append(BackgroundLogger(name, logger, warn).start())
    return started
