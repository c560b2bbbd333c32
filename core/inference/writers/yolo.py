"""A YOLO segmentation folder of predictions: images/train/ (linked), labels/train/NAME.txt with one normalised
polygon a line per connected region (holes kept by bridging), data.yaml naming the classes (YOLO's class k is the
run's class k+1) and the folders relative to data.yaml's own."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from core.atomic_files import atomic_write_text
from core.data.polygons import bridged, trace
from core.data.yolo import IMAGE_SUFFIXES
from core.inference.writers import LabelledImage, image_file_name, link_image, present_classes

SPLIT = "train"


def write_yolo(images: Iterable[LabelledImage], class_names: tuple[str, ...], out: Path) -> int:
    count = 0
    for item in images:
        link_image(item.image, out / "images" / SPLIT / image_file_name(item), IMAGE_SUFFIXES)  # a .gif: a PNG
        lines = []
        for class_id in present_classes(item.mask, len(class_names)):
            for rings in trace(item.mask == class_id):
                ring = bridged(rings) / (item.width, item.height)
                lines.append(" ".join([str(class_id - 1), *(f"{value:.6f}" for value in ring.ravel())]))
        label = out / "labels" / SPLIT / f"{item.name}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(label, "".join(f"{line}\n" for line in lines))
        count += 1
    # No `path`: Ultralytics then takes data.yaml's own folder as the root (as for Roboflow's exports); a relative
    # `path` such as "." it would join to its datasets folder, not to this one.
    document = {"train": f"images/{SPLIT}", "val": f"images/{SPLIT}",
                "names": {index: name for index, name in enumerate(class_names[1:])}}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "data.yaml", yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return count
