"""Users' own images/ + masks/ folders, layout detection, and the whole-dataset check behind `seglab data check`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data import check_dataset, detect_layout, list_samples
from core.data.folder import folder_samples, is_folder_dataset
from core.errors import DataError

TINY = Path(__file__).parents[1] / "fixtures" / "oxford-pet-tiny"


def write_pairs(folder: Path, names: list[str], suffix: str = ".png", size: int = 32) -> Path:
    """Images and 0/255 masks with a square of foreground, as a user would export them."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    mask = np.zeros((size, size), np.uint8)
    mask[8:20, 8:20] = 255
    for name in names:
        Image.new("RGB", (size, size), (30, 90, 160)).save(folder / "images" / f"{name}{suffix}")
        Image.fromarray(mask).save(folder / "masks" / f"{name}.png")
    return folder


def names(samples) -> list[str]:
    return [sample.name for sample in samples]


def test_flat_folder_splits_nine_to_one_and_test_is_the_val_part(tmp_path):
    root = write_pairs(tmp_path / "mine", [f"img{i}" for i in range(10)])
    assert is_folder_dataset(root) and detect_layout(root) == "folder"
    train = names(folder_samples(root, "train", seed=1))
    val = names(folder_samples(root, "val", seed=1))
    assert (len(train), len(val)) == (9, 1)
    assert set(train) | set(val) == {f"img{i}" for i in range(10)}
    assert names(folder_samples(root, "test", seed=1)) == val
    assert len(folder_samples(root, "all")) == 10


def test_a_stray_empty_train_folder_leaves_a_flat_folder_flat(tmp_path):
    root = write_pairs(tmp_path / "flat", [f"img{i:02d}" for i in range(20)])
    (root / "train").mkdir()  # empty, or holding anything but images/ + masks/
    assert detect_layout(root) == "folder"
    train, val = list_samples(root, "train"), list_samples(root, "val")
    assert (len(train), len(val)) == (18, 2)
    assert names(list_samples(root, "test")) == names(val)


def test_jpeg_and_png_images_pair_with_png_masks_marked_binary(tmp_path):
    root = write_pairs(tmp_path / "mine", ["a", "b"], suffix=".jpg")
    write_pairs(root, ["c"], suffix=".jpeg")
    samples = list_samples(root, "all")
    assert names(samples) == ["a", "b", "c"]
    assert all(sample.mask_kind == "binary" and sample.mask.suffix == ".png" for sample in samples)


def test_split_subfolders_are_used_as_they_are(tmp_path):
    root = tmp_path / "mine"
    write_pairs(root / "train", ["t1", "t2", "t3"])
    write_pairs(root / "val", ["v1"])
    write_pairs(root / "test", ["x1", "x2"])
    assert detect_layout(root) == "folder"
    assert names(list_samples(root, "train")) == ["t1", "t2", "t3"]
    assert names(list_samples(root, "val")) == ["v1"]
    assert names(list_samples(root, "test")) == ["x1", "x2"]
    assert len(list_samples(root, "all")) == 6


def test_image_without_mask_names_the_image(tmp_path):
    root = write_pairs(tmp_path / "mine", ["a", "b", "c"])
    (root / "masks" / "b.png").unlink()
    with pytest.raises(DataError) as error:
        folder_samples(root, "train")
    assert str(root / "images" / "b.png") in str(error.value) and "has no mask" in str(error.value)


def test_two_images_with_the_same_name_are_refused(tmp_path):
    root = write_pairs(tmp_path / "mine", ["a", "b", "c"])
    write_pairs(root, ["a"], suffix=".jpg")
    with pytest.raises(DataError) as error:
        folder_samples(root, "all")
    message = str(error.value)
    assert str(root / "images" / "a.jpg") in message and "a.png" in message and "same name" in message


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DataError) as error:
        detect_layout(tmp_path / "nowhere")
    assert str(error.value) == f"{tmp_path / 'nowhere'}: no such folder"


@pytest.mark.parametrize(("name", "text", "message"), [
    ("settings.json", '{"epochs": 1}', "a JSON file that is not a COCO export (no images, annotations and "
                                       "categories); --data takes a dataset folder, a COCO .json or 'synthetic' (a "
                                       "settings file goes to --config)"),
    ("pets.yaml", "epochs: 1\nlr: 0.001\n", "not a YOLO data.yaml (no names, train, val or path); a settings file "
                                             "goes to --config, not --data"),
    ("notes.txt", "hello", "a file, not a dataset folder; --data takes a dataset folder, a COCO .json or "
                           "'synthetic'"),
])
def test_a_file_that_is_no_dataset_says_what_it_is_not_no_such_folder(tmp_path, name, text, message):
    """A settings file given to --data by mistake read 'no such folder' (JSON) or 'has no names' (YAML)."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError) as error:
        list_samples(path, "train")
    assert str(error.value) == f"{path}: {message}"


def test_folder_of_neither_layout_says_what_was_expected(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(DataError) as error:
        detect_layout(tmp_path)
    assert "images/ + annotations/trimaps/" in str(error.value) and "images/ + masks/" in str(error.value)


def test_folder_holding_a_torchvision_download_points_to_it(tmp_path):
    shutil.copytree(TINY, tmp_path / "oxford-iiit-pet")
    with pytest.raises(DataError, match="did you mean"):
        detect_layout(tmp_path)


def test_check_of_a_clean_dataset_counts_splits_and_finds_no_problem():
    seen = []
    report = check_dataset(TINY, on_progress=lambda done, total: seen.append((done, total)))
    assert report.layout == "oxford-pet"
    assert report.counts == {"train": 7, "val": 1, "test": 4}
    assert report.ok and report.problems == []
    assert seen[-1] == (12, 12)


def test_check_reports_every_bad_file_instead_of_stopping_at_the_first(tmp_path):
    root = Path(shutil.copytree(TINY, tmp_path / "pets"))
    (root / "images" / "Bengal_135.jpg").unlink()  # listed but missing
    (root / "images" / "Abyssinian_56.jpg").write_bytes(b"")  # unreadable
    trimap = root / "annotations" / "trimaps" / "Bengal_198.png"
    Image.new("L", (10, 10), 7).save(trimap)  # wrong values, wrong size
    report = check_dataset(root)
    assert not report.ok
    assert report.counts["test"] == 4
    assert sum(report.counts.values()) == 11
    problems = "\n".join(report.problems)
    assert len(report.problems) == 3
    assert f"{root / 'images' / 'Bengal_135.jpg'}: listed in trainval.txt but missing" in problems
    assert f"{root / 'images' / 'Abyssinian_56.jpg'}: cannot read image" in problems
    assert f"{trimap}: mask values {{7}}" in problems


def test_check_of_a_folder_dataset_reports_images_without_masks(tmp_path):
    root = write_pairs(tmp_path / "mine", [f"img{i}" for i in range(6)])
    (root / "masks" / "img2.png").unlink()
    report = check_dataset(root)
    assert report.layout == "folder"
    assert report.problems == [f"{root / 'images' / 'img2.png'}: has no mask (expected {root / 'masks' / 'img2.png'})"]
    assert report.counts["train"] + report.counts["val"] == 5
