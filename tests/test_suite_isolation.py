"""The suite's own isolation (tests/conftest.py): what runs before any test's fixtures, a module-scoped fixture
training a run once for its module, uses temporary seglab folders too, never the user's home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def folders_a_module_fixture_sees() -> dict[str, str | None]:
    return {kind: os.environ.get(f"SEGLAB_{kind}_DIR") for kind in ("RUNS", "CACHE", "CONFIG")}


def test_a_module_fixture_uses_temporary_folders_not_home(folders_a_module_fixture_sees):
    for kind, folder in folders_a_module_fixture_sees.items():
        assert folder is not None, f"SEGLAB_{kind}_DIR unset: a module fixture would use the user's home"
        assert not Path(folder).is_relative_to(Path.home() / ".cache"), folder
