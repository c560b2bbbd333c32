"""LabelMe JSONs of predictions, one beside each image as LabelMe expects (images linked into the folder): a polygon
shape per connected region (holes kept by bridging), labels.txt naming the classes in the run's order."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from core.atomic_files import atomic_write_text
from core.data.labelme import BACKGROUND_LABELS, IGNORE_LABEL, LABELS_FILE
from core.data.polygons import bridged, trace
from core.inference.writers import LabelledImage, image_file_name, link_image, present_classes

LABELME_VERSION = "5.4.1"  # the file format written; LabelMe 4.x and 5.x read it


def write_labelme(images: Iterable[LabelledImage], class_names: tuple[str, ...], out: Path) -> int:
    count = 0
    for item in images:
        image = link_image(item.image, out / image_file_name(item))
        shapes = [{"label": class_names[class_id], "points": bridged(rings).round(3).tolist(), "group_id": None,
                   "description": "", "shape_type": "polygon", "flags": {}, "mask": None}
                  for class_id in present_classes(item.mask, len(class_names))
                  for rings in trace(item.mask == class_id)]
        document = {"version": LABELME_VERSION, "flags": {}, "shapes": shapes, "imagePath": image.name,
                    "imageData": None, "imageHeight": item.height, "imageWidth": item.width}
        atomic_write_text(out / f"{item.name}.json", json.dumps(document, indent=2) + "\n")
        count += 1
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / LABELS_FILE, "\n".join([IGNORE_LABEL, BACKGROUND_LABELS[0], *class_names[1:]]) + "\n")
    return count
