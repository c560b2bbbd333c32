"""Small helpers shared by the core tests that train runs."""

from __future__ import annotations

from core.config import TrainConfig
from core.runs.folders import Run, create_run, runs_root


def new_run(config: TrainConfig) -> Run:
    return create_run(config, runs_root())


# Models whose every test at full sizes takes seconds on a 2-core CPU: their size, step and export tests are slow.
HEAVY_MODELS = {"resnet101_unet", "resnet152_unet", "deeplabv3_resnet50", "deeplabv3_resnet101", "fcn_resnet50"}


def every_model() -> list:
    """Every registered model as a pytest parameter, the heavy ones marked slow (`.ci/run` runs them)."""
    import pytest

    from core.models import MODEL_NAMES

    return [pytest.param(name, marks=pytest.mark.slow) if name in HEAVY_MODELS else name for name in MODEL_NAMES]
