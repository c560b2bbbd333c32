"""Tiny labelling-tool exports written by hand from each format's published description (COCO's data format page,
Pascal VOC's devkit, CVAT's "Segmentation mask 1.1" page, LabelMe's JSON, Ultralytics' segmentation labels), not by
seglab's writers, so readers are checked against the formats rather than against seglab itself.

Every image is 8 wide and 6 high. The same shape recurs: the polygon (1,1) (5,1) (5,4) (1,4), which in COCO's
convention (pixel x covers [x, x+1)) covers the pixels whose centres lie inside it: rows 1-3, columns 1-4."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 8, 6
SQUARE = [1, 1, 5, 1, 5, 4, 1, 4]  # x, y pairs
SQUARE_PIXELS = (slice(1, 4), slice(1, 5))  # rows, columns it covers


def photo(path: Path, shade: int = 120, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), shade, dtype=np.uint8)).save(path)
    return path


def coco_export(root: Path, annotations: list[dict] | None = None, images: list[dict] | None = None,
                categories: list[dict] | None = None, photos: bool = True) -> Path:
    """CVAT's COCO 1.0 layout: annotations/instances_default.json and images/. Categories 7 (cat) and 3 (dog), so
    dog is class 1 and cat class 2 (ids in order)."""
    images = images if images is not None else [{"id": 1, "file_name": "a.png", "height": HEIGHT, "width": WIDTH},
                                                 {"id": 2, "file_name": "b.png", "height": HEIGHT, "width": WIDTH}]
    categories = categories if categories is not None else [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}]
    document = {"images": images, "categories": categories, "annotations": annotations if annotations is not None
                else [{"id": 1, "image_id": 1, "category_id": 3, "segmentation": [SQUARE], "iscrowd": 0}]}
    path = root / "annotations" / "instances_default.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    if photos:
        for image in images:
            photo(root / "images" / image["file_name"])
    return path


def voc_palette() -> list[int]:
    """Pascal VOC's colormap, written out from its devkit's bit-interleaving rule."""
    colours = []
    for index in range(256):
        red = green = blue = 0
        value = index
        for shift in range(7, -1, -1):
            red |= (value & 1) << shift
            green |= ((value >> 1) & 1) << shift
            blue |= ((value >> 2) & 1) << shift
            value >>= 3
        colours += [red, green, blue]
    return colours


def voc_export(root: Path, masks: dict[str, np.ndarray], lists: dict[str, list[str]] | None = None) -> Path:
    """VOC2012's layout: JPEGImages/, SegmentationClass/ palette PNGs of class ids (255 = boundary),
    ImageSets/Segmentation/<split>.txt."""
    for name, ids in masks.items():
        photo(root / "JPEGImages" / f"{name}.jpg")
        image = Image.fromarray(ids.astype(np.uint8), mode="P")
        image.putpalette(voc_palette())
        (root / "SegmentationClass").mkdir(parents=True, exist_ok=True)
        image.save(root / "SegmentationClass" / f"{name}.png")
    for split, names in (lists or {}).items():
        (root / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    return root


CVAT_LABELMAP = ("# label:color_rgb:parts:actions\nbackground:0,0,0::\nroad:128,64,128::\ncar:0,0,142::\n")


def cvat_export(root: Path, colours: dict[str, np.ndarray]) -> Path:
    """CVAT's Segmentation mask 1.1: labelmap.txt, RGB masks in SegmentationClass/, default.txt, JPEGImages/."""
    for name, rgb in colours.items():  # a name may hold the task's subfolders: batch0/x
        photo(root / "JPEGImages" / f"{name}.jpg")
        (root / "SegmentationClass" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb.astype(np.uint8), mode="RGB").save(root / "SegmentationClass" / f"{name}.png")
    (root / "labelmap.txt").write_text(CVAT_LABELMAP)
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "default.txt").write_text("".join(f"{n}\n" for n in colours))
    return root


def labelme_file(folder: Path, name: str, shapes: list[dict], embed: bool = False) -> Path:
    """One LabelMe JSON (version 5 fields) beside its image, or holding it as base64 imageData."""
    folder.mkdir(parents=True, exist_ok=True)
    image_path = f"{name}.png"
    data = None
    if embed:
        buffer = io.BytesIO()
        Image.fromarray(np.full((HEIGHT, WIDTH, 3), 90, dtype=np.uint8)).save(buffer, format="PNG")
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
    else:
        photo(folder / image_path)
    document = {"version": "5.4.1", "flags": {}, "shapes": [{"label": s["label"], "points": s["points"],
                                                            "group_id": None, "shape_type": s.get("type", "polygon"),
                                                            "flags": {}} for s in shapes],
                "imagePath": image_path, "imageData": data, "imageHeight": HEIGHT, "imageWidth": WIDTH}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(document))
    return path


def yolo_export(root: Path, labels: dict[str, str], names: tuple[str, ...] = ("cat", "dog"),
                split: str = "train") -> Path:
    """Ultralytics' layout: data.yaml, images/<split>/, labels/<split>/NAME.txt (class x1 y1 ... normalised)."""
    for name, text in labels.items():
        photo(root / "images" / split / f"{name}.jpg")
        (root / "labels" / split / name).parent.mkdir(parents=True, exist_ok=True)  # a name may hold subfolders
        if text is not None:
            (root / "labels" / split / f"{name}.txt").write_text(text)
    (root / "data.yaml").write_text(f"path: .\ntrain: images/{split}\nval: images/{split}\nnames:\n"
                                    + "".join(f"  {i}: {n}\n" for i, n in enumerate(names)))
    return root
