"""Reading labelling tools' exports written by hand from their specs (tests/core/export_fixtures.py): class ids, pixel
values checked by hand, overlaps, ignore values, splits, detection and the line `data check` prints."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from core.data import check_dataset, detect_layout, list_samples
from core.data.export_splits import export_samples
from core.data.exports import read_export
from core.data.images import load_pair
from core.data.labels import Labels
from core.errors import DataError

from .export_fixtures import (
    HEIGHT,
    SQUARE,
    SQUARE_PIXELS,
    WIDTH,
    coco_export,
    cvat_export,
    labelme_file,
    photo,
    voc_export,
    yolo_export,
)


def mask_of(export, name: str) -> np.ndarray:
    (sample,) = [s for s in export.samples if s.name == name]
    return load_pair(sample, Labels("multiclass", export.class_names, export.ignore_index))[1]


def test_coco_categories_become_classes_in_id_order_and_each_segmentation_kind_paints(tmp_path):
    single = np.zeros((HEIGHT, WIDTH), dtype=np.uint8, order="F")
    single[0, 7] = 1
    compressed = coco_mask.encode(single)
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 3, "segmentation": [SQUARE], "iscrowd": 0},
        # uncompressed RLE, column-major: 38 background pixels, 2 of the object (column 6, rows 2-3), 8 background
        {"id": 2, "image_id": 1, "category_id": 7, "segmentation": {"size": [HEIGHT, WIDTH], "counts": [38, 2, 8]},
         "iscrowd": 1},
        {"id": 3, "image_id": 2, "category_id": 7, "iscrowd": 1,
         "segmentation": {"size": [HEIGHT, WIDTH], "counts": compressed["counts"].decode("ascii")}},
    ]
    export = read_export(coco_export(tmp_path / "coco", annotations).parent.parent)
    assert export.format == "coco" and export.class_names == ("background", "dog", "cat")  # ids 3 < 7
    a = mask_of(export, "a")
    assert (a[SQUARE_PIXELS] == 1).all() and a[1:4, 1:5].sum() == 12
    assert a[0, 1] == a[4, 1] == a[1, 0] == a[1, 5] == 0  # just outside the square, on every side
    assert a[2, 6] == a[3, 6] == 2 and a[1, 6] == a[4, 6] == 0  # the RLE's two pixels, iscrowd painted as its class
    b = mask_of(export, "b")
    assert b[0, 7] == 2 and b.sum() == 2
    assert export.describe() == "COCO export: 2 classes (dog, cat), 2 images, 100 % annotated"


def test_coco_overlaps_paint_the_smaller_object_over_the_larger(tmp_path):
    whole = [0, 0, 8, 0, 8, 6, 0, 6]
    annotations = [{"id": 1, "image_id": 1, "category_id": 7, "segmentation": [SQUARE], "iscrowd": 0},
                   {"id": 2, "image_id": 1, "category_id": 3, "segmentation": [whole], "iscrowd": 0}]  # listed last
    export = read_export(coco_export(tmp_path / "c", annotations))  # the .json itself, images found beside
    a = mask_of(export, "a")
    assert (a[SQUARE_PIXELS] == 2).all() and a[0, 0] == 1 and a[5, 7] == 1
    assert export.annotated == 1 and "1 image without annotations (all background), e.g. b.png" in \
        " ".join(export.warnings)


def test_voc_palette_masks_are_class_ids_with_255_ignored_and_imagesets_give_the_splits(tmp_path):
    first = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    first[SQUARE_PIXELS] = 8  # cat, in VOC's 20 classes
    first[0, :] = 255  # boundary
    second = np.full((HEIGHT, WIDTH), 12, dtype=np.uint8)  # dog
    root = voc_export(tmp_path / "VOC", {"first": first, "second": second, "third": second},
                      {"train": ["first", "second"], "val": ["third"]})
    export = read_export(root)
    assert (export.format, export.title, export.ignore_index) == ("voc", "Pascal VOC export", 255)
    assert export.class_names[8] == "cat" and export.class_names[12] == "dog" and len(export.class_names) == 21
    assert [s.name for s in export_samples(export, "train")] == ["first", "second"]
    assert [s.name for s in export_samples(export, "val")] == ["third"]
    assert [s.name for s in export_samples(export, "test")] == ["third"]  # no test.txt: val doubles as test
    mask = mask_of(export, "first")
    assert mask[2, 2] == 8 and mask[0, 3] == 255 and mask[5, 0] == 0


def test_cvat_rgb_masks_are_read_through_labelmap_colours(tmp_path):
    rgb = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    rgb[SQUARE_PIXELS] = (0, 0, 142)  # car
    rgb[5, :] = (128, 64, 128)  # road
    export = read_export(cvat_export(tmp_path / "cvat", {"x": rgb, "y": rgb}))
    assert (export.format, export.title) == ("cvat", "CVAT mask export")
    assert export.class_names == ("background", "road", "car")
    mask = mask_of(export, "x")
    assert mask[2, 2] == 2 and mask[5, 3] == 1 and mask[0, 0] == 0


def test_voc_names_may_hold_spaces_and_cvat_names_its_subfolders(tmp_path):
    rgb = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    rgb[SQUARE_PIXELS] = (0, 0, 142)  # car
    export = read_export(cvat_export(tmp_path / "cvat", {"batch0/cat 1": rgb, "batch1/dog 2": rgb * 0,
                                                          "cam1/0001": rgb, "cam2/0001": rgb * 0}))
    assert sorted(s.name for s in export.samples) == ["cam1_0001", "cam2_0001", "cat 1", "dog 2"]
    assert mask_of(export, "cat 1")[2, 2] == 2 and mask_of(export, "dog 2").max() == 0
    assert mask_of(export, "cam1_0001")[2, 2] == 2 and mask_of(export, "cam2_0001").max() == 0
    assert {s.image.parent.name for s in export.samples} == {"batch0", "batch1", "cam1", "cam2"}


def test_voc_lists_may_name_an_image_in_two_splits_and_carry_a_second_word(tmp_path):
    ids = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    root = voc_export(tmp_path / "VOC", {"x": ids, "y": ids}, {"train": ["x", "y"], "val": ["y\t1"]})
    export = read_export(root)
    assert [s.name for s in export.splits["train"]] == ["x", "y"] and [s.name for s in export.splits["val"]] == ["y"]


def test_voc_masks_in_no_list_are_left_out_with_a_warning(tmp_path):
    ids = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    root = voc_export(tmp_path / "VOC", {"a": ids, "b": ids, "c": ids}, {"train": ["a"], "val": ["b 1"]})
    export = read_export(root)  # "b 1": VOC's ImageSets/Main style, a name and a flag
    assert sorted(s.name for s in export.samples) == ["a", "b"]
    assert export.warnings == [f"{root / 'ImageSets' / 'Segmentation'}: 1 mask of SegmentationClass/ in no list "
                               "(left out), e.g. c"]


def test_grey_masks_beside_a_labelmap_are_class_ids(tmp_path):
    root = cvat_export(tmp_path / "cvat", {"x": np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)})
    ids = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    ids[SQUARE_PIXELS] = 2  # car
    ids[5, :] = 255
    Image.fromarray(ids, mode="L").save(root / "SegmentationClass" / "x.png")
    export = read_export(root)
    assert np.array_equal(mask_of(export, "x"), ids)
    ids[0, 0] = 7
    Image.fromarray(ids, mode="L").save(root / "SegmentationClass" / "x.png")
    with pytest.raises(DataError, match="a grey mask .class ids. with value 7, but labelmap.txt names 3 classes"):
        mask_of(read_export(root), "x")


def test_labelme_polygon_rectangle_circle_and_an_embedded_image(tmp_path):
    folder = tmp_path / "labelme"
    labelme_file(folder, "one", [{"label": "cat", "points": [[1, 1], [5, 1], [5, 4], [1, 4]]},
                                 {"label": "dog", "points": [[6, 0], [8, 2]], "type": "rectangle"}])
    labelme_file(folder, "two", [{"label": "dog", "points": [[4, 3], [6, 3]], "type": "circle"}], embed=True)
    export = read_export(folder)
    assert export.format == "labelme" and export.class_names == ("background", "cat", "dog")  # labels, sorted
    one = mask_of(export, "one")
    assert (one[SQUARE_PIXELS] == 1).all() and (one[0:2, 6:8] == 2).all() and one[2, 6] == 0
    two = mask_of(export, "two")
    assert two[3, 4] == 2 and two[0, 0] == 0  # the circle's centre pixel, a far corner
    (embedded,) = [s for s in export.samples if s.name == "two"]
    assert embedded.image.suffix == ".json"  # the image comes out of imageData


def test_yolo_normalised_polygons_with_class_k_as_seglab_class_k_plus_1(tmp_path):
    square = "1 0.125 0.166667 0.625 0.166667 0.625 0.666667 0.125 0.666667\n"
    root = yolo_export(tmp_path / "yolo", {"a": square, "b": None})
    export = read_export(root)
    assert export.format == "yolo" and export.class_names == ("background", "cat", "dog")
    a = mask_of(export, "a")
    assert (a[SQUARE_PIXELS] == 2).all() and a.sum() == 24
    assert mask_of(export, "b").sum() == 0  # no label file: all background
    assert export.annotated == 1 and len(export.splits["all"]) == 2  # val: the train folder again -> one set


def test_yolo_images_in_subfolders_of_a_split_folder_are_read_as_ultralytics_reads_them(tmp_path):
    square = "0 0.125 0.166667 0.625 0.166667 0.625 0.666667 0.125 0.666667\n"
    export = read_export(yolo_export(tmp_path / "yolo", {"a": square, "sub folder/deeper/c": square}))
    assert sorted(s.name for s in export.samples) == ["a", "c"]
    assert (mask_of(export, "c")[SQUARE_PIXELS] == 1).all()


@pytest.mark.parametrize("make", ["coco", "voc", "labelme", "yolo"])
def test_exports_are_detected_as_layouts_and_listed_per_split(tmp_path, make):
    if make == "coco":
        root = coco_export(tmp_path / "x").parent.parent
    elif make == "voc":
        root = voc_export(tmp_path / "x", {f"m{i}": np.zeros((HEIGHT, WIDTH)) for i in range(4)})
    elif make == "labelme":
        root = tmp_path / "x"
        for i in range(4):
            labelme_file(root, f"m{i}", [{"label": "cat", "points": [[1, 1], [5, 1], [5, 4]]}])
    else:
        root = yolo_export(tmp_path / "x", {f"m{i}": "0 0.1 0.1 0.5 0.1 0.5 0.5\n" for i in range(4)})
    assert detect_layout(root) == make
    train, val = list_samples(root, "train", 0.5, seed=0), list_samples(root, "val", 0.5, seed=0)
    assert {s.name for s in train} | {s.name for s in val} == {s.name for s in list_samples(root, "all")}
    assert not {s.name for s in train} & {s.name for s in val}


def test_data_check_names_the_export_and_counts_each_class(tmp_path):
    root = coco_export(tmp_path / "coco").parent.parent
    report = check_dataset(root, val_fraction=0.5)
    assert report.ok, report.problems
    assert report.summary == "COCO export: 2 classes (dog, cat), 2 images, 50 % annotated"
    assert report.class_names == ("background", "dog", "cat") and report.class_pixels[1] == 12
    assert report.class_pixels[2] == 0 and sum(report.class_pixels) == 2 * WIDTH * HEIGHT


def test_a_coco_json_given_directly_is_the_dataset(tmp_path):
    path = coco_export(tmp_path / "given")
    assert detect_layout(path) == "coco"
    assert json.loads(path.read_text())["images"][0]["file_name"] == "a.png"
    assert {s.name for s in list_samples(path, "all")} == {"a", "b"}


def test_data_check_warns_about_voc_masks_that_look_like_binary_masks(tmp_path):
    binary = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    binary[SQUARE_PIXELS] = 255  # a 0/255 mask: VOC reads 255 as "ignore"
    ones = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    ones[SQUARE_PIXELS] = 1  # a 0/1 mask: without a labelmap, 1 is VOC's aeroplane
    report = check_dataset(voc_export(tmp_path / "v", {"a": binary, "b": ones, "c": ones}))
    assert report.ok, report.problems
    warnings = " ".join(report.warnings)
    assert "1 mask(s) hold only 0 and 255, e.g. a: in VOC, 255 marks pixels to ignore" in warnings
    assert "2 mask(s) hold only ids 0 and 1, e.g. b: without labelmap.txt, id 1 is VOC's 'aeroplane'" in warnings


def test_a_coco_category_named_shapes_is_still_coco_and_a_labelme_file_is_told_by_its_keys(tmp_path):
    """Detection looked for the text "shapes" in a JSON's first 4 KB: a COCO file with a category of that name was
    read as LabelMe, and a LabelMe file written with sorted keys (its imageData first) was no export at all."""
    coco = coco_export(tmp_path / "coco", categories=[{"id": 7, "name": "shapes"}, {"id": 3, "name": "dog"}])
    coco.rename(tmp_path / "coco" / "instances.json")  # beside images/, where LabelMe's JSONs would be
    export = read_export(tmp_path / "coco")
    assert export.format == "coco" and export.class_names == ("background", "dog", "shapes")

    from PIL.PngImagePlugin import PngInfo

    folder = tmp_path / "labelme"
    path = labelme_file(folder, "one", [{"label": "cat", "points": [[1, 1], [5, 1], [5, 4], [1, 4]]}], embed=True)
    document = json.loads(path.read_text())
    buffer, padding = io.BytesIO(), PngInfo()
    padding.add_text("Comment", "a photo's metadata " * 400)  # as a camera's: 7.6 KB before any shape
    Image.new("RGB", (WIDTH, HEIGHT), (90, 90, 90)).save(buffer, format="PNG", pnginfo=padding)
    document["imageData"] = base64.b64encode(buffer.getvalue()).decode("ascii")
    path.write_text(json.dumps(document, sort_keys=True))
    assert path.read_text().index('"shapes"') > 8192
    export = read_export(folder)
    assert export.format == "labelme" and (mask_of(export, "one")[SQUARE_PIXELS] == 1).all()


def test_a_truncated_coco_file_says_where_it_breaks_in_words(tmp_path):
    path = coco_export(tmp_path / "coco")
    path.write_text(path.read_text()[:60])  # cut inside a string
    with pytest.raises(DataError) as error:
        read_export(tmp_path / "coco")
    assert str(error.value) == f"{path}: not valid JSON: Unterminated string starting at line 1, column 58 (truncated?)"


def test_roboflows_yolo_layout_with_dotdot_folders_beside_data_yaml_reads(tmp_path):
    """Roboflow writes `train: ../train/images` with train/ beside data.yaml; Ultralytics drops the ../ when that
    folder is not there. seglab refused it: no such image folder."""
    square = "0 0.125 0.166667 0.625 0.166667 0.625 0.666667 0.125 0.666667\n"
    root = tmp_path / "roboflow"
    for split, name in (("train", "a"), ("valid", "b")):
        photo(root / split / "images" / f"{name}.jpg")
        (root / split / "labels").mkdir(parents=True)
        (root / split / "labels" / f"{name}.txt").write_text(square)
    (root / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 2\nnames: ['cat', 'dog']\n")
    export = read_export(root)
    assert export.format == "yolo" and {s.name for s in export.samples} == {"a", "b"}
    assert (mask_of(export, "b")[SQUARE_PIXELS] == 1).all()


def test_a_folder_read_as_another_format_says_so_with_the_right_article(tmp_path):
    root = coco_export(tmp_path / "coco").parent.parent
    with pytest.raises(DataError, match="not an Ultralytics YOLO segmentation export"):
        read_export(root, "yolo")
    with pytest.raises(DataError, match="not a LabelMe export"):
        read_export(root, "labelme")


def test_two_coco_categories_of_one_name_are_refused_in_words(tmp_path):
    """They passed `data check` as two classes named alike, which no table, picture or export could tell apart."""
    coco_export(tmp_path / "coco", categories=[{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"},
                                               {"id": 9, "name": "cat"}])
    with pytest.raises(DataError, match="categories 7 and 9 are both named 'cat'; name them apart"):
        read_export(tmp_path / "coco")


def test_labelme_shapes_seglab_does_not_read_are_named_by_their_type_and_left_out(tmp_path):
    """LabelMe 5.3's mask shapes were called "not an area"."""
    folder = tmp_path / "labelme"
    labelme_file(folder, "one", [{"label": "cat", "points": [[1, 1], [5, 1], [5, 4], [1, 4]]},
                                 {"label": "cat", "points": [[1, 1], [3, 3]], "type": "mask"},
                                 {"label": "dog", "points": [[0, 0], [7, 5]], "type": "line"}])
    export = read_export(folder)
    assert export.warnings == [f"{folder}: one.json shape 2 (mask), one.json shape 3 (line): a shape type seglab "
                               "does not read (it reads polygon, rectangle and circle shapes; lines, points and "
                               "LabelMe's mask shapes are not); left out"]
    assert (mask_of(export, "one")[SQUARE_PIXELS] == 1).all()


def test_a_run_on_an_export_of_boxes_only_is_refused_before_its_folder_exists(tmp_path):
    """It trained to Dice 0: every pixel background, as the export taught it."""
    from core.config import TrainConfig
    from core.runs.folders import runs_root
    from core.training.launch import prepare_run

    root = coco_export(tmp_path / "boxes", annotations=[
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 3, 3], "iscrowd": 0}]).parent.parent
    config = TrainConfig(data=str(root), task="multiclass", loss="ce", image_size=32, width=8, epochs=1)
    with pytest.raises(DataError, match="no image has an annotation seglab reads as an area .*nothing to learn"):
        prepare_run(config, runs_root())
    assert not runs_root().exists() or not any(runs_root().iterdir())
