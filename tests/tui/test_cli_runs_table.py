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


def test_a_resumed_run_keeps_its_first_start_in_the_list_and_its_sort(capsys, monkeypatch):
    import time

    monkeypatch.setenv("COLUMNS", "160")
    older = create_run(TrainConfig(name="older"), runs_root())
    newer = create_run(TrainConfig(name="newer"), runs_root())
    first = time.mktime((2026, 11, 1, 9, 30, 0, 0, 0, -1))
    older.update_status(created=first, started=first + 3600 * 24 * 5)  # resumed five days later
    newer.update_status(created=first + 3600, started=first + 3600)
    code, out, _ = seglab(capsys, "runs")
    assert code == 0
    lines = [line for line in out.splitlines() if "older" in line or "newer" in line]
    assert "newer" in lines[0] and "older" in lines[1]  # newest first, by first start
    assert "2026-11-01 09:30" in lines[1]
