"""A multiclass run end to end on the synthetic shapes: per-class epoch Dice, checkpoints that know their classes,
evaluation with the confusion matrix, palette masks and per-class columns from predict, task mismatches refused."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.config import TrainConfig
from core.data.labels import class_colour
from core.errors import ConfigError
from core.inference.evaluation import eval_path, evaluate_run
from core.inference.predict import predict
from core.run_data import split_samples
from core.runs.events import EpochEvent, read_events
from core.runs.folders import Run, create_run, runs_root
from core.training.checkpoints import load_checkpoint, model_from_checkpoint
from core.training.engine import train
from core.training.launch import check_before_run

NAMES = ["background", "blob", "rectangle"]


@pytest.fixture(scope="module")
def trained_template(tmp_path_factory) -> Run:
    """A 3-class run (background, blob, rectangle) trained for 4 epochs at 32 px: enough for every class to be
    predicted somewhere."""
    base = tmp_path_factory.mktemp("multiclass")
    config = TrainConfig(model="unet", data="synthetic", task="multiclass", loss="ce", epochs=4, batch_size=4,
                         lr=5e-3, image_size=32, width=8, synthetic_count=24, synthetic_size=32, device="cpu",
                         seed=0, name="classes")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGLAB_CACHE_DIR", str(base / "cache"))
        config = check_before_run(config, base / "runs")
        run = create_run(config, base / "runs")
        train(config, run)
    return run


@pytest.fixture
def trained_run(trained_template, monkeypatch) -> Run:
    monkeypatch.setenv("SEGLAB_CACHE_DIR", str(trained_template.path.parent.parent / "cache"))
    return Run(Path(shutil.copytree(trained_template.path, runs_root() / trained_template.name)))


def test_the_run_stores_its_classes_and_each_epoch_logs_every_class_dice(trained_run):
    config = trained_run.load_config()
    assert config.task == "multiclass" and config.classes == 3 and config.loss == "ce"
    epochs = [event for event in read_events(trained_run.events_path) if isinstance(event, EpochEvent)]
    assert len(epochs) == 4
    for event in epochs:
        assert list(event.class_dice) == NAMES
        foreground = [value for name, value in event.class_dice.items() if name != "background" and value == value]
        assert event.val_dice == pytest.approx(sum(foreground) / len(foreground), abs=1e-12)
        assert list(event.class_iou) == NAMES
    table = list(csv.DictReader(trained_run.results_path.open()))
    assert [column for column in table[0] if column.startswith(("dice_", "iou_"))] == \
        [f"dice_{name}" for name in NAMES] + [f"iou_{name}" for name in NAMES]
    for row, event in zip(table, epochs, strict=True):
        for name in NAMES:
            for kind, scores in (("dice", event.class_dice), ("iou", event.class_iou)):
                value = scores[name]
                assert row[f"{kind}_{name}"] == "" if value != value else \
                    float(row[f"{kind}_{name}"]) == pytest.approx(value, abs=1e-6)
    payload = load_checkpoint(trained_run.checkpoint_path("best"))
    assert payload["task"] == "multiclass" and payload["class_names"] == NAMES
    model, _, _ = model_from_checkpoint(trained_run.checkpoint_path("best"))
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)  # one output channel per class


def test_evaluate_writes_per_class_scores_and_a_confusion_matrix_of_every_pixel(trained_run):
    result = evaluate_run(trained_run, split="test", device="cpu")
    written = json.loads(eval_path(trained_run, "test").read_text())
    assert written["class_names"] == NAMES and list(written["per_class"]) == NAMES
    matrix = np.array(written["confusion_matrix"])
    images = len(split_samples(trained_run.load_config(), "test"))
    assert matrix.shape == (3, 3) and matrix.sum() == images * 32 * 32
    assert written["pixel_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    # a class's micro Dice is 2 TP / (row sum + column sum) of the matrix
    for index, name in enumerate(NAMES):
        row, column = matrix[index].sum(), matrix[:, index].sum()
        if row + column:
            assert written["per_class"][name]["dice_micro"] == pytest.approx(2 * matrix[index, index] / (row + column))
    present = [written["per_class"][name]["dice"] for name in NAMES[1:]]
    assert result["dice"] == pytest.approx(np.nanmean(present))


def test_a_checkpoint_used_as_the_other_task_is_one_line(trained_run):
    with pytest.raises(ConfigError) as error:
        evaluate_run(trained_run, split="test", device="cpu", task="binary")
    assert "holds a multiclass model (3 output channels)" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="cannot be used as binary"):
        predict(trained_run, split="test", device="cpu", task="binary")


def hand_class_dice(predicted: np.ndarray, truth: np.ndarray, index: int) -> float | None:
    p, t = predicted == index, truth == index
    tp, denominator = int((p & t).sum()), int(p.sum() + t.sum())
    return None if denominator == 0 else 2 * tp / denominator


def test_predict_writes_palette_masks_of_class_ids_and_a_dice_column_per_class(trained_run):
    summary = predict(trained_run, split="test", device="cpu")
    out = Path(summary["output"])
    assert summary["classes"] == [{"id": i, "name": name, "color": list(class_colour(i))} for i, name in
                                  enumerate(NAMES)]
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames[-3:] == [f"dice_{name}" for name in NAMES]
        rows = {row["name"]: row for row in reader}
    for sample in split_samples(trained_run.load_config(), "test"):
        mask = Image.open(out / f"{sample.name}_mask.png")
        assert mask.mode == "P" and mask.getpalette()[3:6] == list(class_colour(1))
        predicted, truth = np.asarray(mask), np.asarray(Image.open(sample.mask))
        assert set(np.unique(predicted).tolist()) <= {0, 1, 2} and predicted.shape == truth.shape
        for index, name in enumerate(NAMES):
            expected = hand_class_dice(predicted, truth, index)
            written = rows[sample.name][f"dice_{name}"]
            assert (written == "") if expected is None else float(written) == pytest.approx(expected, abs=1e-6)


def test_predict_on_files_keeps_each_images_own_size_and_colours_each_class(trained_run, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (37, 50, 3), dtype=np.uint8)).save(folder / "wide.png")
    Image.fromarray(rng.integers(0, 255, (61, 23, 3), dtype=np.uint8)).save(folder / "tall.jpg")
    summary = predict(trained_run, inputs=[folder], device="cpu", alpha=1.0)
    out = Path(summary["output"])
    for name, size in (("wide", (50, 37)), ("tall", (23, 61))):
        mask = Image.open(out / f"{name}_mask.png")
        assert mask.mode == "P" and mask.size == size
        ids = np.asarray(mask)
        assert ids.max() <= 2
        overlay = np.asarray(Image.open(out / f"{name}_overlay.png"))
        for index in (1, 2):  # alpha 1: a pixel of class i is exactly class i's colour
            if (ids == index).any():
                assert (overlay[ids == index] == class_colour(index)).all()
