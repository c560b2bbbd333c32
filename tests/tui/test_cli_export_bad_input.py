"""Bad labelling-tool exports: each is one line on stderr naming the file (and the annotation id or line), exit 2, and
nothing written (`data import` leaves no folder, not even a temporary one; `train` makes no run). Coordinates
outside the image are clipped instead, with a warning naming the annotation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data.polygons import rasterise
from core.runs.folders import list_runs, runs_root
from tests.core.export_fixtures import (
    HEIGHT,
    SQUARE,
    WIDTH,
    coco_export,
    cvat_export,
    labelme_file,
    photo,
    yolo_export,
)
from tests.tui.test_cli import seglab, the_error_line


def coco_with(tmp_path: Path, **changes) -> Path:
    return coco_export(tmp_path / "export", **changes)


def bad_category(tmp_path):
    path = coco_with(tmp_path, annotations=[{"id": 41, "image_id": 1, "category_id": 99, "segmentation": [SQUARE]}])
    return path, f"{path}: annotation 41: category_id 99 is not in categories"


def two_point_polygon(tmp_path):
    path = coco_with(tmp_path, annotations=[{"id": 5, "image_id": 1, "category_id": 3,
                                             "segmentation": [[1, 1, 5, 1]]}])
    return path, f"{path}: annotation 5: a polygon of 2 point(s); at least 3"


def missing_image(tmp_path):
    path = coco_with(tmp_path)
    (path.parent.parent / "images" / "b.png").unlink()
    return path, f"{path}: image 2 (b.png) is not in {path.parent.parent / 'images'}"


def same_file_name(tmp_path):
    images = [{"id": 1, "file_name": "a.png", "height": HEIGHT, "width": WIDTH},
              {"id": 2, "file_name": "a.png", "height": HEIGHT, "width": WIDTH}]
    path = coco_with(tmp_path, images=images)
    return path, f"{path}: images 1 and 2 share the file name 'a.png'"


def truncated_json(tmp_path):
    path = coco_with(tmp_path)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    return path, f"{path}: not valid JSON"


def colour_not_in_labelmap(tmp_path):
    rgb = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    rgb[2, 3] = (1, 2, 3)
    root = cvat_export(tmp_path / "export", {"x": rgb})
    return root, f"{root / 'SegmentationClass' / 'x.png'}: colour (1, 2, 3) (first at x=3, y=2) is not in labelmap.txt"


def yolo_class_beyond_names(tmp_path):
    root = yolo_export(tmp_path / "export", {"a": "0 0.1 0.1 0.5 0.1 0.5 0.5\n5 0.1 0.1 0.5 0.1 0.5 0.5\n"})
    return root, f"{root / 'labels' / 'train' / 'a.txt'}: line 2: class 5, but the names list 2 classes (0..1)"


def labelme_two_points(tmp_path):
    folder = tmp_path / "export"
    path = labelme_file(folder, "one", [{"label": "cat", "points": [[1, 1], [5, 1], [5, 4]]},
                                        {"label": "cat", "points": [[1, 1], [2, 2]]}])
    return folder, f"{path}: shape 2 (cat): a polygon of 2 point(s); at least 3"


def nan_in_a_polygon(tmp_path):
    path = coco_with(tmp_path, annotations=[{"id": 8, "image_id": 1, "category_id": 3,
                                             "segmentation": [[1, 1, float("nan"), 1, 5, 4]]}])
    return path, f"{path}: annotation 8: a coordinate is not a finite number in a polygon"


def with_rle(tmp_path, ident: int, counts) -> Path:
    """An export whose one annotation is a crowd RLE of the image's size with these counts."""
    rle = {"size": [HEIGHT, WIDTH], "counts": counts}
    return coco_with(tmp_path, annotations=[{"id": ident, "image_id": 1, "category_id": 3, "segmentation": rle,
                                             "iscrowd": 1}])


def rle_short_of_the_image(tmp_path):
    path = with_rle(tmp_path, 9, [5, 3])
    return path, f"{path}: annotation 9: its RLE runs cover 8 pixels, not the 6x8 = 48 of its image"


def rle_string_beyond_the_image(tmp_path):
    path = with_rle(tmp_path, 10, "0d01")  # pycocotools' compressed counts: runs 0, 20, 1
    return path, f"{path}: annotation 10: its RLE runs cover 21 pixels, not the 6x8 = 48 of its image"


def yolo_infinite_coordinate(tmp_path):
    root = yolo_export(tmp_path / "export", {"a": "0 0.1 0.1 inf 0.1 0.5 0.5\n"})
    return root, f"{root / 'labels' / 'train' / 'a.txt'}: line 1: a number that is not finite in '0 0.1 0.1 inf"


def labelme_nan_point(tmp_path):
    folder = tmp_path / "export"
    path = labelme_file(folder, "one", [{"label": "cat", "points": [[1, 1], [float("nan"), 1], [5, 4]]}])
    return folder, f"{path}: shape 1 (cat): a coordinate is not a finite number"


CASES = [nan_in_a_polygon, rle_short_of_the_image, rle_string_beyond_the_image, yolo_infinite_coordinate,
         labelme_nan_point, bad_category, two_point_polygon, missing_image, same_file_name, truncated_json,
         colour_not_in_labelmap, yolo_class_beyond_names, labelme_two_points]


@pytest.mark.parametrize("make", CASES, ids=lambda make: make.__name__)
def test_data_import_of_a_bad_export_is_one_line_naming_it_and_writes_nothing(capsys, tmp_path, make):
    source, expected = make(tmp_path)
    out = tmp_path / "imported"
    code, _, err = seglab(capsys, "data", "import", str(source), "--out", str(out))
    assert code == 2
    line = the_error_line(err)
    assert line.startswith(f"seglab: error: {expected}"), line
    assert not out.exists() and not list(tmp_path.glob(".imported.*"))  # no temporary folder left either


@pytest.mark.parametrize("make", [bad_category, truncated_json, yolo_class_beyond_names], ids=lambda m: m.__name__)
def test_training_on_a_bad_export_is_one_line_and_makes_no_run(capsys, tmp_path, make):
    source, expected = make(tmp_path)
    code, _, err = seglab(capsys, "train", "--data", str(source), "--epochs", "1", "--image-size", "32")
    assert code == 2
    assert the_error_line(err).startswith(f"seglab: error: {expected}")
    assert list_runs(runs_root()) == []


def test_coordinates_outside_the_image_are_clipped_with_a_warning_naming_the_annotation(capsys, tmp_path):
    outside = [-3, -3, 5, 1, 5, 4, 1, 12]
    path = coco_with(tmp_path, annotations=[{"id": 17, "image_id": 1, "category_id": 3, "segmentation": [outside]}])
    code, out, err = seglab(capsys, "data", "import", str(path), "--out", str(tmp_path / "imported"))
    assert code == 0, err
    assert f"warning: {path}: annotation 17 reaches outside its image; clipped to it" in err
    classes = (tmp_path / "imported" / "classes.txt").read_text().split()
    assert classes == ["background", "dog", "cat"]
    assert json.loads(path.read_text())["annotations"][0]["segmentation"] == [outside]  # the export is untouched
    # The pixels inside are the whole polygon's: filled on a canvas 10 pixels wider on every side, then cropped.
    whole = rasterise([np.reshape(outside, (-1, 2)) + 10], HEIGHT + 20, WIDTH + 20)[10:-10, 10:-10]
    mask = np.asarray(Image.open(tmp_path / "imported" / "masks" / "a.png"))
    assert np.array_equal(mask, whole.astype(np.uint8))  # dog: class 1


def test_an_image_without_annotations_is_a_warning_not_an_error(capsys, tmp_path):
    path = coco_with(tmp_path)
    photo(path.parent.parent / "images" / "unused.png")  # on disk but not in the JSON: not part of the export
    code, _, err = seglab(capsys, "data", "check", str(path))
    assert code == 0, err
    assert "1 image without annotations (all background), e.g. b.png" in err


def test_training_says_what_the_export_clipped(capsys, tmp_path):
    outside = [-3, -3, 5, 1, 5, 4, 1, 12]
    path = coco_with(tmp_path, annotations=[{"id": 17, "image_id": 1, "category_id": 3, "segmentation": [outside]}])
    code, _, err = seglab(capsys, "train", "--data", str(path), "--epochs", "1", "--image-size", "32", "--width", "8",
                          "--val-fraction", "0.5")
    assert code == 0, err
    assert f"seglab: warning: {path}: annotation 17 reaches outside its image; clipped to it" in err
