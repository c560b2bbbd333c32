"""Pascal VOC and CVAT "Segmentation mask 1.1" folders of predictions: SegmentationClass/NAME.png (VOC: a palette PNG
of class ids, 255 kept as VOC's boundary; CVAT: RGB colours), SegmentationObject/ (CVAT: each connected region an
instance), labelmap.txt with VOC's colours and the run's class names (CVAT's header for CVAT),
ImageSets/Segmentation/default.txt, images linked in JPEGImages/."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from core.atomic_files import atomic_write_text
from core.data.polygons import rasterise, trace
from core.data.voc import CVAT_HEADER, IMAGE_SUFFIXES, IMAGES, LABELMAP, LISTS, MASKS, voc_colour
from core.inference.writers import LabelledImage, image_file_name, link_image

OBJECTS = "SegmentationObject"


def write_voc(images: Iterable[LabelledImage], class_names: tuple[str, ...], out: Path) -> int:
    return _write(images, class_names, out, cvat=False)


def write_cvat(images: Iterable[LabelledImage], class_names: tuple[str, ...], out: Path) -> int:
    return _write(images, class_names, out, cvat=True)


def palette() -> list[int]:
    """VOC's 256-colour palette, flat: class i has voc_colour(i)."""
    return [value for index in range(256) for value in voc_colour(index)]


def _write(images: Iterable[LabelledImage], class_names: tuple[str, ...], out: Path, cvat: bool) -> int:
    (out / MASKS).mkdir(parents=True)
    names = []
    for item in images:
        link_image(item.image, out / IMAGES / image_file_name(item), IMAGE_SUFFIXES)  # a .bmp, .tif...: a PNG
        mask = item.mask
        if cvat:  # CVAT refuses colours its labelmap lacks: the ignore value becomes background
            mask = np.where(mask < len(class_names), mask, 0).astype(np.uint8)
        _save(mask, out / MASKS / f"{item.name}.png", rgb=cvat)
        if cvat:
            _save(_instances(mask), out / OBJECTS / f"{item.name}.png", rgb=True)
        names.append(item.name)
    lines = [CVAT_HEADER] if cvat else ["# class names, VOC palette colours; 255 marks boundaries (ignored)"]
    lines += [f"{name}:{','.join(map(str, voc_colour(index)))}::" for index, name in enumerate(class_names)]
    atomic_write_text(out / LABELMAP, "\n".join(lines) + "\n")
    (out / LISTS).mkdir(parents=True)
    atomic_write_text(out / LISTS / "default.txt", "".join(f"{name}\n" for name in names))
    return len(names)


def _save(ids: np.ndarray, path: Path, rgb: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(ids, mode="P")
    image.putpalette(palette())
    (image.convert("RGB") if rgb else image).save(path)


def _instances(mask: np.ndarray) -> np.ndarray:
    """Each connected region of each class numbered 1, 2, ... (0 background), as CVAT's SegmentationObject holds."""
    objects = np.zeros_like(mask)
    number = 0
    for class_id in (int(value) for value in np.unique(mask) if value > 0):
        for rings in trace(mask == class_id):
            number += 1
            objects[rasterise([rings[0]], *mask.shape) & (mask == class_id) & (objects == 0)] = min(number, 255)
    return objects
