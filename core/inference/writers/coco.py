"""COCO JSON of predictions: one category per class (ids 1..N in the run's order), one annotation per image and class
present, as compressed RLE (exact) or as polygons (traced, holes kept by bridging), images linked in images/."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from core.atomic_files import atomic_write_text
from core.data.polygons import bridged, mask_to_rle, trace
from core.inference.writers import LabelledImage, image_file_name, link_image, present_classes

JSON_PATH = Path("annotations") / "instances_default.json"  # where CVAT's own COCO export puts it


def write_coco(images: Iterable[LabelledImage], class_names: tuple[str, ...], out: Path) -> int:
    return _write(images, class_names, out, polygons=False)


def write_coco_polygons(images: Iterable[LabelledImage], class_names: tuple[str, ...], out: Path) -> int:
    return _write(images, class_names, out, polygons=True)


def _write(images: Iterable[LabelledImage], class_names: tuple[str, ...], out: Path, polygons: bool) -> int:
    document = {"info": {"description": "seglab predictions"}, "licenses": [], "images": [], "annotations": [],
                "categories": [{"id": class_id, "name": name, "supercategory": ""}
                               for class_id, name in enumerate(class_names) if class_id > 0]}
    for image_id, item in enumerate(images, start=1):
        file_name = image_file_name(item)
        link_image(item.image, out / "images" / file_name)
        document["images"].append({"id": image_id, "file_name": file_name, "height": item.height,
                                   "width": item.width})
        for class_id in present_classes(item.mask, len(class_names)):
            region = item.mask == class_id
            if polygons:
                segmentation = [bridged(rings).round(3).ravel().tolist() for rings in trace(region)]
            else:
                segmentation = mask_to_rle(region)
            ys, xs = np.nonzero(region)
            document["annotations"].append({
                "id": len(document["annotations"]) + 1, "image_id": image_id, "category_id": class_id,
                "segmentation": segmentation, "area": int(region.sum()), "iscrowd": 0,
                "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)],
            })
    (out / JSON_PATH).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / JSON_PATH, json.dumps(document) + "\n")
    return len(document["images"])
