"""Shared fixtures: every test gets its own runs and cache folders, and tiny training configs."""

from __future__ import annotations

import pytest
import torch

from core.config import TrainConfig


@pytest.fixture(autouse=True)
def isolated_seglab_dirs(tmp_path_factory, monkeypatch):
    """Keep runs and generated data out of the checkout and the user's home."""
    base = tmp_path_factory.mktemp("seglab")
    monkeypatch.setenv("SEGLAB_RUNS_DIR", str(base / "runs"))
    monkeypatch.setenv("SEGLAB_CACHE_DIR", str(base / "cache"))
    return base


@pytest.fixture
def tiny_config() -> TrainConfig:
    """A run that trains in about a second on CPU: width-8 UNet, 32 px, 24 synthetic images."""
    return TrainConfig(model="unet", data="synthetic", epochs=2, batch_size=4, image_size=32, width=8,
                       synthetic_count=24, synthetic_size=32, device="cpu", seed=0, name="tiny")


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Width-8 models train fastest on one thread; with two, a busy CPU makes each step 100x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
