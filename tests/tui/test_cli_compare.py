"""`seglab compare` and `seglab runs --filter/--sort` over two small real runs of different models on the Oxford
fixture: the table, the five report files, the figures' content, reuse of an eval that matches the checkpoint,
and the one-line refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from core.config import TrainConfig
from core.inference import compare as compare_module
from core.inference.compare import compare_runs, open_runs
from core.inference.compare_report import REPORT_FILES, curves_figure, predictions_figure, run_colour
from core.runs.folders import create_run, list_runs
from tests.tui.helpers import OXFORD_TINY, train_with_the_cli
from tests.tui.test_cli import seglab, the_error_line


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    """A UNet and a ResNet18-UNet, 2 epochs each at 32 px on the fixture's 8 trainval images (test: 4)."""
    quick = ["--epochs", "2", "--image-size", "32", "--lr", "0.01"]
    return train_with_the_cli(tmp_path_factory.mktemp("compare") / "runs", [
        [*quick, "--model", "unet", "--name", "unet"], [*quick, "--model", "resnet18_unet", "--name", "resnet18-unet"]])


def test_compare_prints_the_table_and_writes_the_five_report_files(capsys, two_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    by_model = {run.load_config().model: run.name for run in list_runs(two_runs)}
    unet, resnet = by_model["unet"], by_model["resnet18_unet"]
    code, out, err = seglab(capsys, "compare", unet, resnet, "--split", "test", "--runs-dir", str(two_runs),
                            "--out", str(tmp_path / "report"), "--images", "2")
    assert code == 0, err
    flat = " ".join(out.replace("│", " ").replace("┃", " ").split())
    # the runs go by their --name (unet, resnet18-unet), not by their 40-character folder names
    assert " unet resnet18-unet " in flat and "model unet resnet18_unet" in flat and "task binary binary" in flat
    assert unet not in flat and resnet not in flat
    assert sorted(path.name for path in (tmp_path / "report").iterdir()) == sorted(REPORT_FILES)
    with open(tmp_path / "report" / "compare.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(row["run"], row["folder"]) for row in rows] == [("unet", unet), ("resnet18-unet", resnet)]
    for row in rows:  # the table's scores are the evaluation's, which compare wrote as `seglab evaluate` does
        evaluation = json.loads((two_runs / row["folder"] / "eval-test.json").read_text())
        assert row["test Dice"] == f"{evaluation['dice']:.4f}" and row["test IoU"] == f"{evaluation['iou']:.4f}"
        assert row["model"] in ("unet", "resnet18_unet") and row["task"] == "binary"
    assert "model" in rows[0] and "lr" not in rows[0]  # only the settings that differ get a column
    markdown = (tmp_path / "report" / "compare.md").read_text()
    assert "| unet | unet |" in markdown and "Settings that differ: model." in markdown
    code, _, err = seglab(capsys, "compare", unet, resnet, "--split", "test", "--runs-dir", str(two_runs),
                          "--out", str(tmp_path / "report"), "--images", "2")
    assert code == 0, err  # an earlier report's folder is written again


def test_curves_have_a_line_per_run_per_panel_and_the_grid_the_same_images_for_each_run(two_runs):
    runs = open_runs([run.name for run in list_runs(two_runs)], two_runs)
    comparison = compare_runs(runs, "test", "best", "cpu")
    figure = curves_figure(comparison)
    for ax in figure.axes:
        lines = ax.get_lines()
        assert [line.get_color() for line in lines] == [run_colour(0), run_colour(1)]
        assert [len(line.get_xdata()) for line in lines] == [2, 2]  # two epochs each
    assert [text.get_text() for text in figure.axes[2].get_legend().get_texts()] == [r.load_config().name
                                                                                      for r in runs]

    names = comparison.chosen_images(4)
    assert sorted(names) == sorted(comparison.runs[0].predictions.names)  # the fixture's 4 test images
    worst = max(comparison.disagreement.values())
    assert comparison.disagreement[names[0]] == worst  # the most disputed image comes first
    grid = predictions_figure(comparison, names)
    assert len(grid.axes) == len(names) * 4  # image, truth, one overlay per run
    labels = [ax.get_ylabel() for ax in grid.axes[::4]]
    assert labels == names
    for row, name in enumerate(names):
        titles = [ax.get_title() for ax in grid.axes[row * 4 + 2: row * 4 + 4]]
        for entry, title in zip(comparison.runs, titles, strict=True):
            dice = entry.predictions.dice[entry.predictions.names.index(name)]
            assert title.endswith(f"Dice {dice:.3f}")


def test_an_eval_that_matches_the_checkpoint_is_reused_not_redone(two_runs, monkeypatch):
    runs = open_runs([run.name for run in list_runs(two_runs)], two_runs)
    compare_runs(runs, "test", "best", "cpu", predictions=False)  # makes sure both evals exist
    monkeypatch.setattr("core.inference.evaluation.evaluate_run",
                        lambda *args, **kwargs: pytest.fail("evaluated again"))
    again = compare_runs(runs, "test", "best", "cpu", predictions=False)
    assert [entry.evaluation["split"] for entry in again.runs] == ["test", "test"]
    (runs[0].path / "eval-test.json").write_text(json.dumps({"checkpoint": "elsewhere.pt"}))
    assert compare_module.matching_evaluation(runs[0], "test", "best") is None  # another checkpoint's


def test_one_run_a_missing_run_and_runs_of_different_tasks_are_one_line_each(capsys, two_runs):
    name = list_runs(two_runs)[0].name
    code, _, err = seglab(capsys, "compare", name, "--runs-dir", str(two_runs))
    assert code == 2 and the_error_line(err) == "seglab: error: compare needs two or more runs, got 1"
    code, _, err = seglab(capsys, "compare", name, "no-such-run", "--runs-dir", str(two_runs))
    assert code == 2 and "no-such-run" in the_error_line(err)
    other = create_run(TrainConfig(data=str(OXFORD_TINY), task="multiclass", loss="ce", name="three"), two_runs)
    try:
        code, _, err = seglab(capsys, "compare", name, other.name, "--runs-dir", str(two_runs))
        assert code == 2
        assert the_error_line(err) == (f"seglab: error: compare: the runs differ in task ({name}: binary, "
                                       f"{other.name}: multiclass); give --force to compare anyway")
    finally:
        import shutil

        shutil.rmtree(other.path)


def test_out_that_would_overwrite_a_run_or_other_files_is_refused_before_any_work(capsys, two_runs, tmp_path,
                                                                                monkeypatch):
    """--out of a run's folder replaced its curves.png; a folder of the user's lost its compare.md; a file failed
    with an internal error after every run had been evaluated and predicted."""
    monkeypatch.setattr(compare_module, "compare_runs", lambda *_, **__: pytest.fail("compared before the check"))
    unet, resnet = (run.name for run in list_runs(two_runs))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "compare.md").write_text("my own notes\n")
    (tmp_path / "notes.txt").write_text("mine")
    cases = {two_runs / unet: "is a run's folder (the report would replace its curves.png); give a new folder",
             mine: "holds files a report did not write (e.g. compare.md); give a new or empty folder, or an "
                   "earlier report's",
             tmp_path / "notes.txt": "is a file; give a folder for the report"}
    for out, message in cases.items():
        code, _, err = seglab(capsys, "compare", unet, resnet, "--out", str(out), "--runs-dir", str(two_runs))
        assert code == 2 and the_error_line(err) == f"seglab: error: --out {out}: {message}"
    assert (mine / "compare.md").read_text() == "my own notes\n"


def test_runs_filters_by_terms_and_sorts_by_dice(capsys, two_runs, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = seglab(capsys, "runs", "--filter", "model=unet", "--runs-dir", str(two_runs))
    assert code == 0 and "1 of 2 runs" in out and "resnet18_unet" not in out
    code, out, _ = seglab(capsys, "runs", "--sort", "dice", "--runs-dir", str(two_runs))
    ordered = [line.split()[1] for line in out.splitlines() if line.startswith("│")]
    by_dice = sorted(list_runs(two_runs), key=lambda run: -(run.read_status().best_dice or 0))
    assert code == 0 and [n for n in ordered if n.startswith("2")] == [run.name for run in by_dice]
    code, _, err = seglab(capsys, "runs", "--filter", "colour=red", "--runs-dir", str(two_runs))
    assert code == 2 and "unknown field 'colour'" in the_error_line(err)


def test_the_reports_overlays_blend_each_class_as_predict_does():
    """compare's picture cells are draw_segmentation_masks's blend of each class in its colour (as predict's)."""
    import numpy as np
    import torch
    from torchvision.utils import draw_segmentation_masks

    from core.data.labels import class_colour
    from core.inference.compare_report import overlay

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (21, 17, 3), dtype=np.uint8)
    classes = rng.integers(0, 4, (21, 17)).astype(np.uint8)
    masks = torch.from_numpy(np.stack([classes == class_id for class_id in (1, 2, 3)]))
    expected = draw_segmentation_masks(torch.from_numpy(image).permute(2, 0, 1), masks, alpha=0.5,
                                       colors=[class_colour(class_id) for class_id in (1, 2, 3)])
    assert np.array_equal(overlay(image, classes), expected.permute(1, 2, 0).numpy())
