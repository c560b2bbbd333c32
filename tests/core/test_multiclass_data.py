"""Multiclass data: masks read as class ids (Oxford trimaps as background/pet/border, a folder's ids with its
classes.txt), the one-line refusals, the ignore value, the synthetic shapes and `check_dataset`'s class shares."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.config import TrainConfig
from core.data import check_dataset
from core.data.images import open_mask
from core.data.labels import BINARY, OXFORD_CLASSES, Labels, palette
from core.data.synthetic import generate_synthetic
from core.errors import ConfigError, DataError
from core.run_data import class_names, run_labels, split_dataset, with_resolved_classes

FIXTURES = Path(__file__).parent.parent / "fixtures"
THREE = Labels("multiclass", ("background", "cat", "dog"))


def save_mask(path: Path, values: np.ndarray, mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(values.astype(np.uint8), mode="L")
    if mode == "P":
        image = image.convert("P")
        image.putpalette(palette(4))
        image = Image.fromarray(values.astype(np.uint8), mode="P")
        image.putpalette(palette(4))
    image.save(path)
    return path


def make_folder(root: Path, masks: dict[str, np.ndarray], names: list[str] | None = None) -> Path:
    """A flat images/ + masks/ folder: one grey 8x8 image per mask; classes.txt when `names` is given."""
    for name, values in masks.items():
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", values.shape[::-1], (90, 90, 90)).save(root / "images" / f"{name}.png")
        save_mask(root / "masks" / f"{name}.png", values)
    if names is not None:
        (root / "classes.txt").write_text("\n".join(names) + "\n")
    return root


def test_an_oxford_trimap_becomes_background_pet_border_for_multiclass_and_stays_binary_otherwise(tmp_path):
    trimap = np.array([[2, 1, 3], [3, 2, 1]])  # Oxford: 1 pet, 2 background, 3 border
    path = save_mask(tmp_path / "t.png", trimap)
    oxford = Labels("multiclass", OXFORD_CLASSES)
    assert open_mask(path, "trimap", oxford).tolist() == [[0, 1, 2], [2, 0, 1]]
    assert open_mask(path, "trimap", BINARY).tolist() == [[0, 1, 1], [1, 0, 1]]  # pet and border are the pet


def test_folder_masks_are_class_ids_in_grey_or_palette_pngs(tmp_path):
    values = np.array([[0, 1, 2], [2, 2, 0]])
    assert open_mask(save_mask(tmp_path / "grey.png", values), "binary", THREE).tolist() == values.tolist()
    assert open_mask(save_mask(tmp_path / "p.png", values, "P"), "binary", THREE).tolist() == values.tolist()
    assert open_mask(save_mask(tmp_path / "grey.png", values), "binary", BINARY).tolist() == [[0, 1, 1], [1, 1, 0]]


def test_a_mask_value_at_or_above_the_class_count_is_one_line_naming_the_file_and_the_value(tmp_path):
    path = save_mask(tmp_path / "bad.png", np.array([[0, 1, 7]]))
    with pytest.raises(DataError) as error:
        open_mask(path, "binary", THREE)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and "{7}" in message and "0..2" in message


def test_255_is_refused_with_a_hint_unless_it_is_the_ignore_index(tmp_path):
    path = save_mask(tmp_path / "voc.png", np.array([[0, 255, 1]]))
    with pytest.raises(DataError, match="--ignore-index 255"):
        open_mask(path, "binary", THREE)
    ignoring = Labels("multiclass", THREE.names, ignore_index=255)
    assert open_mask(path, "binary", ignoring).tolist() == [[0, 255, 1]]


def test_a_binary_0_255_mask_read_as_classes_says_it_is_binary(tmp_path):
    path = save_mask(tmp_path / "flat.png", np.array([[0, 255, 255]]))
    with pytest.raises(DataError) as error:
        open_mask(path, "binary", THREE)
    assert str(error.value).endswith("mask value {255} not a class id 0..2 (3 classes); a mask of only 0 and 255 is a "
                                     "binary one: leave out --task multiclass (or, if 255 marks pixels to ignore, "
                                     "add --ignore-index 255)")


def test_class_names_come_from_classes_txt_and_a_short_one_is_one_line_naming_it(tmp_path):
    root = make_folder(tmp_path / "d", {f"s{i}": np.array([[0, 1], [2, 0]]) for i in range(4)}, ["bg", "cat", "dog"])
    config = TrainConfig(data=str(root), task="multiclass", loss="ce")
    assert class_names(config) == ("bg", "cat", "dog")
    assert with_resolved_classes(config).classes == 3
    with pytest.raises(DataError) as error:
        class_names(config.replace(classes=4))
    assert str(root / "classes.txt") in str(error.value) and "names 3 classes but --classes is 4" in str(error.value)


def test_a_folder_without_classes_txt_needs_classes_and_gets_generic_names(tmp_path):
    root = make_folder(tmp_path / "d", {f"s{i}": np.array([[0, 1], [2, 0]]) for i in range(4)})
    config = TrainConfig(data=str(root), task="multiclass", loss="ce")
    with pytest.raises(ConfigError, match="give --classes N"):
        class_names(config)
    assert class_names(config.replace(classes=3)) == ("background", "class 1", "class 2")


def test_a_multiclass_dataset_yields_int64_class_id_masks_and_binary_stays_float(tmp_path):
    root = make_folder(tmp_path / "d", {f"s{i}": np.full((16, 16), i % 3) for i in range(10)}, ["bg", "a", "b"])
    config = TrainConfig(data=str(root), task="multiclass", loss="ce", image_size=16, cache="none", val_fraction=0.3)
    dataset = split_dataset(with_resolved_classes(config), "train")
    masks = [dataset[index][1] for index in range(len(dataset))]
    assert masks[0].dtype == torch.int64 and masks[0].shape == (16, 16)
    expected = [sum(int((mask == c).sum()) for mask in masks) for c in range(3)]
    assert dataset.class_pixel_counts() == expected and sum(expected) == 256 * len(dataset) and min(expected) > 0
    _, binary_mask = split_dataset(config.replace(task="binary", loss="bce", classes=0), "train")[0]
    assert binary_mask.dtype == torch.float32 and binary_mask.shape == (1, 16, 16)


def test_check_dataset_reports_oxfords_three_classes_with_their_pixel_shares():
    report = check_dataset(FIXTURES / "oxford-pet-tiny", task="multiclass")
    assert report.ok and report.class_names == OXFORD_CLASSES
    shares = report.class_shares()
    assert len(shares) == 3 and all(share > 0.02 for share in shares) and sum(shares) == pytest.approx(1.0)
    binary = check_dataset(FIXTURES / "oxford-pet-tiny")
    assert binary.class_names == () and binary.class_pixels == []


def test_check_dataset_names_every_mask_with_a_value_beyond_classes_txt(tmp_path):
    masks = {"good": np.array([[0, 1], [2, 0]]), "bad": np.array([[0, 5], [0, 0]]), "ok": np.array([[1, 1], [0, 0]])}
    root = make_folder(tmp_path / "d", masks, ["bg", "a", "b"])
    report = check_dataset(root, task="multiclass")
    assert len(report.problems) == 1 and "bad.png" in report.problems[0] and "{5}" in report.problems[0]
    assert report.class_pixels == [2 + 2, 1 + 2, 1]  # good + ok; the bad mask's pixels are not counted


def test_check_dataset_without_classes_txt_counts_up_to_the_largest_id_found(tmp_path):
    root = make_folder(tmp_path / "d", {"a": np.array([[0, 3], [0, 0]]), "b": np.array([[0, 1], [1, 1]])})
    report = check_dataset(root, task="multiclass")
    assert report.class_names == ("background", "class 1", "class 2", "class 3")
    assert report.class_pixels == [4, 3, 0, 1]


def test_the_synthetic_multiclass_set_draws_two_kinds_of_shape_and_names_them(tmp_path):
    out = generate_synthetic(tmp_path / "s", count=10, size=32, seed=0, classes=3)
    assert (out / "classes.txt").read_text().split("\n")[:3] == ["background", "blob", "rectangle"]
    values = set()
    for path in sorted((out / "train" / "masks").iterdir()):
        values |= set(np.unique(np.asarray(Image.open(path))).tolist())
    assert values == {0, 1, 2}
    binary = generate_synthetic(tmp_path / "b", count=10, size=32, seed=0)
    assert not (binary / "classes.txt").exists()
    assert set(np.unique(np.asarray(Image.open(next((binary / "train" / "masks").iterdir()))))) <= {0, 255}


def test_multiclass_settings_are_refused_for_a_binary_task_and_a_binary_loss_for_multiclass():
    with pytest.raises(ConfigError, match="classes: applies to --task multiclass only"):
        TrainConfig(classes=3)
    with pytest.raises(ConfigError, match="ignore_index: applies to --task multiclass only"):
        TrainConfig(ignore_index=255)
    with pytest.raises(ConfigError, match="loss: 'bce' is not a multiclass loss; use one of ce, dice, ce"):
        TrainConfig(task="multiclass")
    with pytest.raises(ConfigError, match="ignore_index: 1 is a class id"):
        TrainConfig(task="multiclass", loss="ce", classes=3, ignore_index=1)
    with pytest.raises(ConfigError, match="class_weights: 2 weights given for 3 classes"):
        TrainConfig(task="multiclass", loss="ce", classes=3, class_weights="1,2")


def test_a_binary_config_reads_its_data_exactly_as_before(tmp_path):
    shutil.copytree(FIXTURES / "oxford-pet-tiny", tmp_path / "pets")
    config = TrainConfig(data=str(tmp_path / "pets"))
    assert run_labels(config) == BINARY and with_resolved_classes(config) == config
    assert TrainConfig().to_dict() | {} == {**TrainConfig().to_dict(), "task": "binary", "classes": 0,
                                           "class_weights": "", "ignore_index": -1}


def test_a_binary_run_on_a_folder_whose_classes_txt_names_several_classes_is_warned(tmp_path):
    from core.config import TrainConfig
    from core.run_data import data_warnings

    values = np.array([[0, 1, 2], [3, 3, 0]])
    several = make_folder(tmp_path / "several", {"a": values, "b": values}, ["background", "cat", "toy", "dog"])
    assert data_warnings(TrainConfig(data=str(several))) == [
        f"{several / 'classes.txt'}: names 3 classes besides background; a binary run trains them as one foreground "
        "(--task multiclass trains them apart)"]
    assert data_warnings(TrainConfig(data=str(several), task="multiclass", loss="ce")) == []
    one = make_folder(tmp_path / "one", {"a": values.clip(0, 1)}, ["background", "pet"])
    assert data_warnings(TrainConfig(data=str(one))) == []
