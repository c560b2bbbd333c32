"""Real photos' masks out and back: the Oxford fixture's trimaps as 3 classes (background, pet, border) written by each
writer and read back by seglab's reader of that format give the same masks: exactly for RLE and PNG formats, at
IoU >= 0.98 per class for polygon formats (measured: exact there too, bench/README.md). An import of a written
export gives seglab's folder layout with the same masks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from core.data import list_samples
from core.data.export_splits import export_samples
from core.data.exports import read_export
from core.data.images import load_pair
from core.data.importing import import_export
from core.data.labels import OXFORD_CLASSES, Labels
from core.inference.writers import LabelledImage, write_labels

OXFORD_TINY = Path(__file__).resolve().parents[1] / "fixtures" / "oxford-pet-tiny"
THREE_CLASSES = Labels("multiclass", OXFORD_CLASSES)
EXACT = ("coco", "voc", "cvat")  # RLE and PNG
POLYGONS = ("coco-polygons", "labelme", "yolo")


@pytest.fixture(scope="module")
def truth() -> list[LabelledImage]:
    samples = list_samples(OXFORD_TINY, "trainval") + list_samples(OXFORD_TINY, "test")
    assert len(samples) >= 10
    return [LabelledImage(s.name, s.image, load_pair(s, THREE_CLASSES)[1]) for s in samples]


def read_back(folder: Path) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    export = read_export(folder)
    labels = Labels("multiclass", export.class_names, export.ignore_index)
    return export.class_names, {s.name: load_pair(s, labels)[1] for s in export_samples(export, "all")}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize("fmt", EXACT + POLYGONS)
def test_written_then_read_gives_the_same_masks(tmp_path, truth, fmt):
    assert write_labels(fmt, truth, OXFORD_CLASSES, tmp_path / fmt) == len(truth)
    names, masks = read_back(tmp_path / fmt)
    assert names == OXFORD_CLASSES and set(masks) == {item.name for item in truth}
    for item in truth:
        if fmt in EXACT:
            assert np.array_equal(masks[item.name], item.mask), item.name
        else:
            for class_id in (1, 2):
                assert iou(masks[item.name] == class_id, item.mask == class_id) >= 0.98, (item.name, class_id)


@pytest.mark.parametrize("fmt", EXACT + POLYGONS)
def test_photos_of_every_type_predict_reads_come_back_from_every_format(tmp_path, truth, fmt):
    """VOC and CVAT linked a .bmp, .tif or .webp photo into JPEGImages/, which VOC readers (seglab's too) do not
    take: the export read back as 0 pairs."""
    photos = tmp_path / "photos"
    photos.mkdir()
    items = []
    for item, suffix in zip(truth, (".bmp", ".tif", ".webp", ".gif"), strict=False):
        path = photos / f"{item.name}{suffix}"
        with Image.open(item.image) as opened:
            opened.convert("RGB").save(path, **({"lossless": True} if suffix == ".webp" else {}))
        items.append(LabelledImage(item.name, path, item.mask))
    write_labels(fmt, items, OXFORD_CLASSES, tmp_path / fmt)
    export = read_export(tmp_path / fmt)
    labels = Labels("multiclass", export.class_names, export.ignore_index)
    samples = {s.name: s for s in export_samples(export, "all")}
    assert set(samples) == {item.name for item in items}
    for item in items:
        image, mask = load_pair(samples[item.name], labels)
        with Image.open(item.image) as original:
            assert np.array_equal(np.asarray(image), np.asarray(original.convert("RGB"))), item.name
        if fmt in EXACT:
            assert np.array_equal(mask, item.mask), item.name


def test_a_written_mask_has_the_values_drawn_by_hand(tmp_path):
    """Not only self-consistent: a square of class 2 written as YOLO is the text the YOLO spec gives for it."""
    mask = np.zeros((6, 8), dtype=np.uint8)
    mask[1:4, 1:5] = 2
    image = tmp_path / "img.png"
    Image.fromarray(np.zeros((6, 8, 3), dtype=np.uint8)).save(image)
    write_labels("yolo", [LabelledImage("img", image, mask)], ("background", "a", "b"), tmp_path / "yolo")
    (line,) = (tmp_path / "yolo" / "labels" / "train" / "img.txt").read_text().splitlines()
    values = [float(v) for v in line.split()]
    assert values[0] == 1  # YOLO's class 1 is seglab's class 2
    xs, ys = np.array(values[1::2]) * 8, np.array(values[2::2]) * 6
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == pytest.approx((1, 5, 1, 4), abs=0.51)  # corners cut by < 1/2
    # no `path`: Ultralytics joins a relative one ("." included) to its own datasets folder, not to data.yaml's
    assert yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text()) == {
        "train": "images/train", "val": "images/train", "names": {0: "a", 1: "b"}}


def test_importing_a_written_export_gives_the_folder_layout_with_the_same_masks(tmp_path, truth):
    write_labels("cvat", truth, OXFORD_CLASSES, tmp_path / "cvat")
    imported = import_export(tmp_path / "cvat", tmp_path / "folder")
    assert imported.class_names == OXFORD_CLASSES and imported.counts == {"all": len(truth)}
    assert (tmp_path / "folder" / "classes.txt").read_text().split() == list(OXFORD_CLASSES)
    folder = {s.name: load_pair(s, THREE_CLASSES)[1] for s in list_samples(tmp_path / "folder", "all")}
    for item in truth:
        assert np.array_equal(folder[item.name], item.mask)
        written = Image.open(tmp_path / "folder" / "masks" / f"{item.name}.png")
        assert written.mode == "P"  # a palette PNG of class ids


def test_an_exports_splits_become_split_folders(tmp_path, truth):
    root = tmp_path / "voc"
    write_labels("voc", truth, OXFORD_CLASSES, root)
    lists = root / "ImageSets" / "Segmentation"
    (lists / "default.txt").unlink()
    (lists / "train.txt").write_text("".join(f"{item.name}\n" for item in truth[:-2]))
    (lists / "val.txt").write_text("".join(f"{item.name}\n" for item in truth[-2:]))
    imported = import_export(root, tmp_path / "folder")
    assert imported.counts == {"train": len(truth) - 2, "val": 2}
    assert {s.name for s in list_samples(tmp_path / "folder", "val")} == {item.name for item in truth[-2:]}
    assert {s.name for s in list_samples(tmp_path / "folder", "test")} == {item.name for item in truth[-2:]}


def test_written_and_imported_folders_open_for_others_as_a_plain_mkdir_leaves_them(tmp_path, truth):
    """Both were built in tempfile.mkdtemp's folder (mode 0700) and renamed: nobody else, a labelling tool run by
    another user included, could open them."""
    import os
    import stat

    umask = os.umask(0o022)
    os.umask(umask)
    write_labels("voc", truth[:2], OXFORD_CLASSES, tmp_path / "voc")
    import_export(tmp_path / "voc", tmp_path / "imported")
    for folder in (tmp_path / "voc", tmp_path / "imported"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask, folder


def test_labelme_class_names_its_labels_txt_cannot_hold_are_refused_and_nothing_is_written(tmp_path, truth):
    """labels.txt is read a line at a time, stripped: ' cat' was written as 'cat' beside shapes labelled ' cat', and
    the export did not read back."""
    from core.errors import ConfigError

    for name in (" pet", "pet\u2028two", "_background_"):
        refusal = re.escape(f"class name {name!r} cannot be written to labelme's labels.txt")
        with pytest.raises(ConfigError, match=refusal):
            write_labels("labelme", truth[:1], ("background", name, "border"), tmp_path / "labelme")
        assert not (tmp_path / "labelme").exists()
    write_labels("labelme", truth[:1], ("anything", "pet", "border"), tmp_path / "labelme")  # background: its own


def test_a_new_folder_under_a_link_to_nothing_is_refused_in_words(tmp_path):
    from core.errors import DataError
    from core.inference.writers import check_new_folder

    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    with pytest.raises(DataError, match="cannot be made: .*gone is a link to nothing"):
        check_new_folder(tmp_path / "gone" / "sub" / "export")


def test_a_written_folder_in_a_group_shared_folder_keeps_its_setgid_bit(tmp_path, truth):
    """chmod to the umask's mode dropped the setgid bit mkdtemp had inherited: files inside lost the group."""
    import stat

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o2775)
    if not shared.stat().st_mode & stat.S_ISGID:
        pytest.skip("this file system does not keep a folder's setgid bit")
    write_labels("voc", truth[:1], OXFORD_CLASSES, shared / "voc")
    assert (shared / "voc").stat().st_mode & stat.S_ISGID
