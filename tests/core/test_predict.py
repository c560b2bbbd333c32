"""Prediction: masks and overlays at each image's own size, results.csv and summary.json, refused inputs."""

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
from core.errors import ConfigError, DataError
from core.inference.evaluation import evaluate_run
from core.inference.predict import OVERLAY_COLOR, predict
from core.models import build_model
from core.run_data import split_samples
from core.runs.folders import Run, create_run, runs_root
from core.training.checkpoints import save_checkpoint_atomically
from core.training.engine import train


@pytest.fixture(scope="module")
def trained_template(tmp_path_factory) -> Run:
    """A run trained well enough (lr 5e-3, 8 epochs; test Dice about 0.78) that its masks hold both
    foreground and background."""
    base = tmp_path_factory.mktemp("trained")
    config = TrainConfig(model="unet", data="synthetic", epochs=8, batch_size=4, lr=5e-3, image_size=32, width=8,
                         synthetic_count=24, synthetic_size=32, device="cpu", seed=0, name="predict")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGLAB_CACHE_DIR", str(base / "cache"))
        run = create_run(config, base / "runs")
        train(config, run)
    return run


@pytest.fixture
def trained_run(trained_template) -> Run:
    """A copy of the trained run in this test's own runs folder (training once per module saves seconds)."""
    return Run(Path(shutil.copytree(trained_template.path, runs_root() / trained_template.name)))


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def hand_counted_dice_iou(predicted_png: Path, truth_png: Path) -> tuple[float, float]:
    """Dice = 2TP/(2TP+FP+FN) and IoU = TP/(TP+FP+FN) counted with numpy from a written 0/255 mask and a
    ground-truth mask (any non-zero pixel is foreground); both empty scores 1, as the README says."""
    predicted = np.asarray(Image.open(predicted_png).convert("L")) > 127
    truth = np.asarray(Image.open(truth_png).convert("L")) > 0
    assert predicted.shape == truth.shape
    tp = int((predicted & truth).sum())
    fp = int((predicted & ~truth).sum())
    fn = int((~predicted & truth).sum())
    if tp + fp + fn == 0:
        return 1.0, 1.0
    return 2 * tp / (2 * tp + fp + fn), tp / (tp + fp + fn)


def test_predicting_the_test_split_writes_masks_overlays_and_tables(trained_run):
    summary = predict(trained_run, split="test", device="cpu")
    out = trained_run.predictions_dir / "test"
    assert summary["output"] == str(out)
    samples = split_samples(trained_run.load_config(), "test")
    assert len(samples) == 2

    for sample in samples:
        original = Image.open(sample.image)
        overlay, mask = Image.open(out / f"{sample.name}_overlay.png"), Image.open(out / f"{sample.name}_mask.png")
        assert overlay.mode == "RGB" and overlay.size == original.size
        assert mask.mode == "L" and mask.size == original.size
        assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 255}

    header, rows = read_csv(out / "results.csv")
    assert header == ["name", "width", "height", "foreground", "dice", "iou", "image"]
    assert [row["name"] for row in rows] == [sample.name for sample in samples]
    assert [row["image"] for row in rows] == [str(sample.image) for sample in samples]
    for row in rows:
        assert 0 <= float(row["dice"]) <= 1 and 0 <= float(row["iou"]) <= 1
        assert (int(row["width"]), int(row["height"])) == (32, 32)
    written = json.loads((out / "summary.json").read_text())
    assert written == summary
    assert written["images"] == 2
    assert written["mean_dice"] == pytest.approx(np.mean([float(row["dice"]) for row in rows]), abs=1e-6)


def test_predicted_dice_and_iou_equal_a_hand_count_of_the_written_masks(trained_run):
    summary = predict(trained_run, split="test", device="cpu")
    out = trained_run.predictions_dir / "test"
    _, rows = read_csv(out / "results.csv")
    by_name = {row["name"]: row for row in rows}
    hand = {}
    for sample in split_samples(trained_run.load_config(), "test"):
        hand[sample.name] = hand_counted_dice_iou(out / f"{sample.name}_mask.png", sample.mask)
        row = by_name[sample.name]
        assert float(row["dice"]) == pytest.approx(hand[sample.name][0], abs=1e-6), sample.name
        assert float(row["iou"]) == pytest.approx(hand[sample.name][1], abs=1e-6), sample.name
    assert all(0 < dice < 1 for dice, _ in hand.values())  # partly right masks: a wrong count would show
    assert summary["mean_dice"] == pytest.approx(np.mean([dice for dice, _ in hand.values()]), abs=1e-6)
    assert summary["mean_iou"] == pytest.approx(np.mean([iou for _, iou in hand.values()]), abs=1e-6)


def test_predict_and_evaluate_agree_on_images_already_at_the_training_size(trained_run):
    # predict scores at each image's own size, evaluate at the training size; the synthetic images are
    # 32 x 32, the training size, so neither resizes and both threshold the same logits of the same
    # checkpoint: the per-image means agree to float64 rounding (1e-9), pixel for pixel.
    config = trained_run.load_config()
    assert config.synthetic_size == config.image_size
    summary = predict(trained_run, split="test", device="cpu")
    result = evaluate_run(trained_run, split="test", device="cpu")
    assert result["images"] == summary["images"] == 2
    assert result["dice"] == pytest.approx(summary["mean_dice"], abs=1e-9)
    assert result["iou"] == pytest.approx(summary["mean_iou"], abs=1e-9)


def test_an_image_with_nothing_to_find_and_nothing_predicted_scores_dice_one(tmp_path):
    """README: an image where prediction and truth are both empty scores 1; one whose target is missed, 0."""
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for name in ("empty", "pet"):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / split / "images" / f"{name}.png")
            mask = np.zeros((32, 32), np.uint8)
            if name == "pet":
                mask[8:20, 10:24] = 255
            Image.fromarray(mask, mode="L").save(root / split / "masks" / f"{name}.png")
    config = TrainConfig(model="unet", data=str(root), image_size=32, width=8, device="cpu", precision="fp32",
                         name="empty")
    run = create_run(config, runs_root())
    model = build_model("unet", width=8)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.constant_(model.head.bias, -30.0)  # sigmoid(-30) ~ 1e-13: predicts no foreground anywhere
    save_checkpoint_atomically(run.checkpoint_path("best"),
                               {"model": model.state_dict(), "epoch": 1, "config": run.load_config().to_dict()})

    summary = predict(run, split="test", device="cpu")
    _, rows = read_csv(run.predictions_dir / "test" / "results.csv")
    assert {row["name"]: (float(row["dice"]), float(row["iou"])) for row in rows} == {
        "empty": (1.0, 1.0), "pet": (0.0, 0.0)}
    assert summary["mean_dice"] == 0.5
    for row in rows:
        written = run.predictions_dir / "test" / f"{row['name']}_mask.png"
        assert hand_counted_dice_iou(written, root / "test" / "masks" / f"{row['name']}.png") == (
            float(row["dice"]), float(row["iou"]))
    result = evaluate_run(run, split="test", device="cpu")
    assert (result["dice"], result["iou"]) == (0.5, 0.5)


def test_overlay_changes_exactly_the_pixels_the_mask_marks(trained_run):
    predict(trained_run, split="test", device="cpu")
    out = trained_run.predictions_dir / "test"
    for sample in split_samples(trained_run.load_config(), "test"):
        original = np.asarray(Image.open(sample.image).convert("RGB"), dtype=np.int16)
        overlay = np.asarray(Image.open(out / f"{sample.name}_overlay.png"), dtype=np.int16)
        marked = np.asarray(Image.open(out / f"{sample.name}_mask.png")) == 255
        assert marked.any() and not marked.all()  # else this test would prove nothing
        assert np.array_equal(overlay[~marked], original[~marked])
        blended = (original[marked] + np.array(OVERLAY_COLOR)) / 2  # alpha 0.5
        assert np.abs(overlay[marked] - blended).max() <= 1
        assert (overlay[marked] != original[marked]).any(axis=1).mean() > 0.95


def write_image(path, size, mode="RGB"):
    rng = np.random.default_rng(len(path.name))
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).convert(mode).save(path)


def test_a_folder_of_assorted_images_gets_masks_at_each_original_size(trained_run, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_image(folder / "wide.png", (50, 37))
    write_image(folder / "square.png", (64, 64))
    write_image(folder / "photo.jpg", (45, 60))
    write_image(folder / "gray.png", (33, 20), mode="L")
    (folder / "notes.txt").write_text("not an image")
    summary = predict(trained_run, inputs=[folder], device="cpu")
    out = trained_run.predictions_dir / "files"
    assert summary["images"] == 4 and summary["mean_dice"] is None
    sizes = {"wide": (50, 37), "square": (64, 64), "photo": (45, 60), "gray": (33, 20)}
    for stem, size in sizes.items():
        mask = Image.open(out / f"{stem}_mask.png")
        assert mask.size == size and mask.mode == "L"
        overlay = Image.open(out / f"{stem}_overlay.png")
        assert overlay.size == size and overlay.mode == "RGB"
    _, rows = read_csv(out / "results.csv")
    assert {row["name"]: (int(row["width"]), int(row["height"])) for row in rows} == sizes
    assert all(row["dice"] == "" and row["iou"] == "" for row in rows)


def test_single_files_with_the_same_stem_keep_separate_outputs(trained_run, tmp_path):
    write_image(tmp_path / "cat.png", (40, 30))
    write_image(tmp_path / "cat.jpg", (20, 20))
    predict(trained_run, inputs=[tmp_path / "cat.png", tmp_path / "cat.jpg"], output_name="cats", device="cpu")
    out = trained_run.predictions_dir / "cats"
    assert Image.open(out / "cat_mask.png").size == (40, 30)
    assert Image.open(out / "cat-2_mask.png").size == (20, 20)


def test_a_renamed_duplicate_does_not_overwrite_a_file_with_that_name(trained_run, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_image(folder / "cat.png", (40, 30))
    write_image(folder / "cat.jpg", (20, 20))
    write_image(folder / "cat-2.png", (24, 36))
    summary = predict(trained_run, inputs=[folder], device="cpu")
    out = trained_run.predictions_dir / "files"
    _, rows = read_csv(out / "results.csv")
    assert summary["images"] == 3
    assert len({row["name"] for row in rows}) == 3
    assert len(list(out.glob("*_mask.png"))) == 3


def test_a_missing_input_is_refused_naming_it(trained_run, tmp_path):
    missing = tmp_path / "no-such-photo.jpg"
    with pytest.raises(DataError, match="no such file") as error:
        predict(trained_run, inputs=[missing], device="cpu")
    assert str(missing) in str(error.value)
    assert not (trained_run.predictions_dir / "files").exists()


@pytest.mark.parametrize("name", ["..", "../outside", "a/b"])
def test_an_output_name_that_leaves_the_predictions_folder_is_refused(trained_run, name):
    with pytest.raises(ConfigError, match="prediction output name"):
        predict(trained_run, split="test", output_name=name, device="cpu")
    assert not (trained_run.path / "outside").exists()
    assert not trained_run.predictions_dir.exists() or list(trained_run.predictions_dir.iterdir()) == []


def test_a_phone_photo_turned_by_exif_gets_an_upright_mask_of_its_displayed_size(trained_run, tmp_path):
    from PIL import ImageOps

    from tests.core.test_data_images import phone_photo

    photo = phone_photo(tmp_path / "phone.jpg")
    predict(trained_run, inputs=[photo], device="cpu")
    out = trained_run.predictions_dir / "files"
    assert Image.open(out / "phone_mask.png").size == (24, 40)
    shown = np.asarray(ImageOps.exif_transpose(Image.open(photo)).convert("RGB"), dtype=np.int16)
    overlay = np.asarray(Image.open(out / "phone_overlay.png").convert("RGB"), dtype=np.int16)
    untouched = np.asarray(Image.open(out / "phone_mask.png")) == 0
    assert untouched.any()
    assert np.array_equal(overlay[untouched], shown[untouched])  # the overlay is drawn on the upright photo


def run_on_folder(root: Path, names: tuple[str, ...]) -> Run:
    """A run (with an untrained best.pt) on a train/val/test folder dataset of 32 px images named `names`."""
    rng = np.random.default_rng(1)
    for split in ("train", "val", "test"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for name in names:
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / split / "images" / f"{name}.png")
            mask = np.zeros((32, 32), np.uint8)
            mask[4:20, 6:22] = 255
            Image.fromarray(mask, mode="L").save(root / split / "masks" / f"{name}.png")
    config = TrainConfig(model="unet", data=str(root), image_size=32, width=8, device="cpu", precision="fp32")
    run = create_run(config, runs_root())
    save_checkpoint_atomically(run.checkpoint_path("best"), {"model": build_model("unet", width=8).state_dict(),
                                                            "epoch": 1, "config": run.load_config().to_dict()})
    return run


def test_skip_bad_leaves_out_a_sample_whose_mask_cannot_be_read_and_writes_nothing_for_it(tmp_path):
    run = run_on_folder(tmp_path / "data", ("a", "b", "c"))
    bad_mask = tmp_path / "data" / "test" / "masks" / "b.png"
    bad_mask.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = run.predictions_dir / "test"

    with pytest.raises(DataError, match="b.png"):
        predict(run, split="test", device="cpu")
    assert not list(out.glob("b_*"))  # the mask is read before any file of the sample is written

    summary = predict(run, split="test", device="cpu", skip_bad=True)
    assert summary["images"] == 2 and summary["skipped"] == 1 and str(bad_mask) in summary["skipped_examples"][0]
    assert not list(out.glob("b_*"))
    _, rows = read_csv(out / "results.csv")
    assert [row["name"] for row in rows] == ["a", "c"] and all(row["dice"] for row in rows)
    assert json.loads((out / "summary.json").read_text())["skipped"] == 1
