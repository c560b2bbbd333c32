"""Shared fixtures: every test gets its own runs and cache folders, and tiny training configs."""

from __future__ import annotations

import shutil

import pytest
import torch

from core.config import TrainConfig

FAILED_KEY = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember whether each phase failed, so fixtures can keep a failed test's files for a look."""
    report = yield
    if report.failed:
        item.stash[FAILED_KEY] = True
    return report


SEGLAB_DIRS = ("RUNS", "CACHE", "CONFIG")


@pytest.fixture(autouse=True, scope="session")
def session_seglab_dirs(tmp_path_factory):
    """The same folders for what runs before any test's own: module-scoped fixtures (a run trained once for a
    module's tests) are set up before isolated_seglab_dirs, and would otherwise use the user's ~/.cache/seglab
    (a synthetic set an older commit generated there) and read their ~/.config/seglab/settings.json."""
    base = tmp_path_factory.mktemp("seglab-session")
    with pytest.MonkeyPatch.context() as patch:
        for kind in SEGLAB_DIRS:
            patch.setenv(f"SEGLAB_{kind}_DIR", str(base / kind.lower()))
        yield base


@pytest.fixture(autouse=True)
def isolated_seglab_dirs(request, tmp_path_factory, monkeypatch):
    """Keep runs and generated data out of the checkout and the user's home; a passing test's
    checkpoints are deleted when it ends, so the suite never holds more than one test's on disk."""
    base = tmp_path_factory.mktemp("seglab")
    for kind in SEGLAB_DIRS:
        monkeypatch.setenv(f"SEGLAB_{kind}_DIR", str(base / kind.lower()))
    yield base
    if not request.node.stash.get(FAILED_KEY, False):
        shutil.rmtree(base, ignore_errors=True)


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
