"""Ultralytics YOLO segmentation datasets: data.yaml (class names; train/val/test image folders), images/<split>/
and labels/<split>/NAME.txt, one object a line: `class x1 y1 x2 y2 ...`, a polygon in coordinates normalised to the
image. YOLO's class k is seglab's class k+1 (0 = background); an image without a label file is all background.
Where objects overlap, the larger is painted first, so a small one on a large one stays visible."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from core.data.export_types import ALL, LabelledExport, some, unique_names
from core.data.image_files import files_under
from core.data.polygons import rasterise
from core.data.samples import Sample
from core.errors import DataError

YAML_NAMES = ("data.yaml", "dataset.yaml")
SPLIT_KEYS = {"train": "train", "val": "val", "test": "test"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def yaml_file(root: Path) -> Path | None:
    root = Path(root)
    if root.is_file() and root.suffix.lower() in (".yaml", ".yml"):
        return root
    return next((root / name for name in YAML_NAMES if (root / name).is_file()), None)


def is_yolo_export(root: Path) -> bool:
    return yaml_file(root) is not None


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read ({error})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise DataError(path, f"not valid YAML{where} ({getattr(error, 'problem', None) or error})") from None
    if not isinstance(data, dict):
        raise DataError(path, "expected a mapping with names and train/val image folders")
    if not {"names", "train", "val", "path"} & set(data):  # e.g. `seglab train --print-config`'s file
        raise DataError(path, "not a YOLO data.yaml (no names, train, val or path); a settings file goes to "
                              "--config, not --data")
    return data


def class_names(path: Path, data: dict[str, Any]) -> tuple[str, ...]:
    names = data.get("names")
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise DataError(path, f"names must be numbered 0..{len(names) - 1}")
        names = [names[index] for index in range(len(names))]
    if not isinstance(names, list) or not names:
        raise DataError(path, "has no names: list the classes (names: [cat, dog]) in YOLO's order")
    return ("background", *(str(name) for name in names))


def read_yolo(root: Path) -> LabelledExport:
    path = yaml_file(Path(root))
    if path is None:
        raise DataError(root, f"no {' or '.join(YAML_NAMES)}")
    data = read_yaml(path)
    names = class_names(path, data)
    base = _base(path, data)
    splits: dict[str, list[Sample]] = {}
    for key, split in SPLIT_KEYS.items():
        if data.get(key):
            splits[split] = [_sample(image, path) for image in _images(path, base, data[key])]
    if not splits:
        raise DataError(path, "names no train or val images")
    same = "val" in splits and [s.image for s in splits["val"]] == [s.image for s in splits.get("train", [])]
    if "train" in splits and ("val" not in splits or same):  # one set of images (val: the train folder again)
        splits = {ALL: splits["train"] + splits.get("test", [])}
    unique_names([sample for samples in splits.values() for sample in samples], Path(root))
    annotated, outside, blank = 0, [], []
    for sample in (sample for samples in splits.values() for sample in samples):
        objects, clipped = read_labels(sample.mask, len(names) - 1) if sample.mask is not None else ([], False)
        annotated += bool(objects)
        if clipped:
            outside.append(sample.mask.name)
        if not objects:
            blank.append(sample.image.name)
    warnings = []
    if outside:
        warnings.append(f"{root}: {some(outside)} ha{'ve' if len(outside) > 1 else 's'} coordinates outside 0..1; "
                        "clipped to the image")
    if blank:
        warnings.append(f"{root}: {len(blank)} image{'s' if len(blank) > 1 else ''} without labels (all background), "
                        f"e.g. {', '.join(blank[:3])}")
    return LabelledExport(Path(root), "yolo", "YOLO export", names, splits, annotated, warnings=warnings)


def read_labels(path: Path, classes: int) -> tuple[list[tuple[int, np.ndarray]], bool]:
    """The objects of a label file as (seglab class id, N x 2 normalised polygon), and whether any point lies
    outside 0..1 (rasterise fills only the part inside). A bad line is one DataError naming the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read ({error})") from None
    objects, outside = [], False
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            values = [float(token) for token in tokens]
        except ValueError:
            raise DataError(path, f"line {number}: expected a class and x y numbers, got {line.strip()!r}") from None
        if not all(math.isfinite(value) for value in values):
            raise DataError(path, f"line {number}: a number that is not finite in {line.strip()!r}")
        if values[0] != int(values[0]) or not 0 <= values[0] < classes:
            raise DataError(path, f"line {number}: class {tokens[0]}, but the names list {classes} classes "
                                  f"(0..{classes - 1})")
        coordinates = values[1:]
        if len(coordinates) % 2:
            raise DataError(path, f"line {number}: an odd count of coordinates ({len(coordinates)})")
        if len(coordinates) < 6:
            shape = "a box (class x y w h)" if len(coordinates) == 4 else f"{len(coordinates) // 2} point(s)"
            raise DataError(path, f"line {number}: {shape}, not a polygon of at least 3 points")
        ring = np.asarray(coordinates, dtype=np.float64).reshape(-1, 2)
        outside |= bool(((ring < 0) | (ring > 1)).any())
        objects.append((int(values[0]) + 1, ring))
    return objects, outside


def render_yolo(sample: Sample, size: tuple[int, int]) -> np.ndarray:
    """The class-id mask of one image of `size` (width, height): its polygons, larger first."""
    width, height = size
    mask = np.zeros((height, width), dtype=np.uint8)
    if sample.mask is None:
        return mask
    names = class_names(sample.context, read_yaml(sample.context))
    objects, _ = read_labels(sample.mask, len(names) - 1)
    regions = [(class_id, rasterise([ring * (width, height)], height, width)) for class_id, ring in objects]
    for class_id, region in sorted(regions, key=lambda item: -int(item[1].sum())):
        mask[region] = class_id
    return mask


def label_path(image: Path) -> Path:
    """Ultralytics' rule: the label of .../images/<split>/NAME.jpg is .../labels/<split>/NAME.txt."""
    parts = list(image.parts)
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "images":
            parts[index] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _sample(image: Path, yaml_path: Path) -> Sample:
    label = label_path(image)
    return Sample(image.stem, image, label if label.is_file() else None, "yolo", context=yaml_path)


def _base(path: Path, data: dict[str, Any]) -> Path:
    given = data.get("path")
    if not given:
        return path.parent
    base = Path(str(given)).expanduser()
    return base if base.is_absolute() else (path.parent / base).resolve()


def _images(path: Path, base: Path, entry: Any) -> list[Path]:
    """The images of a split entry: folders of images (their subfolders too, hidden ones left out, as Ultralytics'
    glob reads them), or .txt files listing image paths, relative to `base`."""
    found: list[Path] = []
    for item in entry if isinstance(entry, list) else [entry]:
        location = Path(str(item))
        location = location if location.is_absolute() else (base / location)
        if not location.exists() and not Path(str(item)).is_absolute():
            location = path.parent / str(item)
        if not location.exists() and str(item).startswith("../"):  # Roboflow's ../train/images beside data.yaml:
            location = base / str(item)[3:]  # Ultralytics drops the ../ when the folder is not there
        location = location.resolve()
        if location.is_dir():
            found += files_under(location, IMAGE_SUFFIXES)
        elif location.is_file() and location.suffix == ".txt":
            found += [(location.parent / line.strip()).resolve() for line in location.read_text().splitlines()
                      if line.strip()]
        else:
            raise DataError(path, f"{item}: no such image folder (looked in {location})")
    missing = [image for image in found if not image.is_file()]
    if missing:
        raise DataError(path, f"{missing[0]}: listed, but no such image")
    return found

