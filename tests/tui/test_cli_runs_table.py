"""`seglab runs` on a narrow terminal: the start date and the data folder give way so the run name stays whole;
only then is it cut in the middle; model, state, epoch and Dice are never squeezed."""

from __future__ import annotations

import pytest

from core.config import TrainConfig
from core.runs.folders import create_run, runs_root
from tests.tui.test_cli import seglab


@pytest.mark.parametrize("columns", [80, 100, 160])
def test_runs_keeps_the_informative_columns_whole_at_any_width(capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    run = create_run(TrainConfig(model="resnet152_unet", data="/data/oxford-iiit-pet", name="a-long-run-name"),
                     runs_root())
    run.update_status(epoch=7, epochs=50, best_dice=0.8765)
    code, out, _ = seglab(capsys, "runs")
    assert code == 0
    (line,) = [line for line in out.splitlines() if "resnet152_unet" in line]
    cells = [cell.strip() for cell in line.strip("│ ").split("│")]
    assert all(len(text) <= columns for text in out.splitlines())
    assert {"resnet152_unet", "created", "7/50", "0.8765"} <= set(cells)
    name = cells[0]
    assert name == run.name if columns >= 100 else (name.startswith(run.name[:10]) and name.endswith("run-name")
                                                     and "…" in name)
    assert ("oxford-iiit-pet" in cells) == (columns >= 160)
