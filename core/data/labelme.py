"""LabelMe folders: one JSON per image (polygon, rectangle and circle shapes with a label each; the image beside it by
imagePath, or inside it as base64 imageData). Classes come from labels.txt (LabelMe's labelme2voc convention:
`__ignore__`, `_background_`, then one class a line) or are the labels found, sorted. Shapes are painted in file
order, as LabelMe draws them; `__ignore__` shapes mark pixels to ignore (255). Splits: flat, split 9:1 by seed, or
train/ val/ test/ subfolders."""

from __future__ import annotations

import base64
import binascii
import functools
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from core.data.export_types import ALL, LabelledExport, head_of_json, json_keys, read_json, some, unique_names
from core.data.image_files import decode
from core.data.polygons import checked_ring, circle, rasterise, rectangle
from core.data.samples import Sample
from core.errors import DataError

LABELS_FILE = "labels.txt"
IGNORE_LABEL = "__ignore__"
BACKGROUND_LABELS = ("_background_", "background")
IGNORE = 255
SPLITS = ("train", "val", "test")
AREA_SHAPES = ("polygon", "rectangle", "circle")


def is_labelme_export(root: Path) -> bool:
    """Whether `root` (or its train/ val/ test/) holds LabelMe JSONs: objects with a "shapes" key (a COCO file's
    keys are images, annotations and categories, whatever its categories are named). The first few JSONs are
    looked at, so a stray project file does not hide the rest; one too large to parse, or that does not parse, is
    judged by its first megabyte."""
    root = Path(root)
    if not root.is_dir():
        return False
    for folder in (root, *(root / split for split in SPLITS)):
        first = sorted(folder.glob("*.json"))[:3] if folder.is_dir() else []
        if first:
            return any(_is_labelme_file(path) for path in first)
    return False


def _is_labelme_file(path: Path) -> bool:
    keys = json_keys(path)
    if keys is not None:
        return "shapes" in keys and "images" not in keys
    head = head_of_json(path)
    return '"shapes"' in head and '"images"' not in head


def read_labelme(root: Path) -> LabelledExport:
    root = Path(root)
    split_folders = [split for split in SPLITS if (root / split).is_dir() and any((root / split).glob("*.json"))]
    folders = {split: root / split for split in split_folders} if split_folders else {ALL: root}
    files = {split: sorted(folder.glob("*.json")) for split, folder in folders.items()}
    if not any(files.values()):
        raise DataError(root, "holds no LabelMe .json files")
    names = class_names(root)
    known = set(names) | {IGNORE_LABEL, *BACKGROUND_LABELS}
    splits: dict[str, list[Sample]] = {}
    annotated, outside, not_areas, unlabelled = 0, [], [], []
    for split, paths in files.items():
        splits[split] = []
        for path in paths:
            document = labelme_document(path)
            shapes = document["shapes"]
            for number, shape in enumerate(shapes, start=1):
                if shape["label"] not in known:
                    raise DataError(path, f"shape {number}: label {shape['label']!r} is not in {root / LABELS_FILE}")
                if shape["shape_type"] not in AREA_SHAPES:
                    not_areas.append(f"{path.name} shape {number} ({shape['shape_type']})")
                elif shape["outside"]:
                    outside.append(f"{path.name} shape {number}")
            annotated += any(shape["shape_type"] in AREA_SHAPES for shape in shapes)
            if not shapes:
                unlabelled.append(path.name)
            splits[split].append(Sample(path.stem, document["image"], path, "labelme", context=root))
    unique_names([sample for samples in splits.values() for sample in samples], root)
    warnings = []
    if outside:
        warnings.append(f"{root}: {some(outside)} reach{'' if len(outside) > 1 else 'es'} outside the image; "
                        "clipped to it")
    if not_areas:
        warnings.append(f"{root}: {some(not_areas)}: a shape type seglab does not read (it reads polygon, "
                        "rectangle and circle shapes; lines, points and LabelMe's mask shapes are not); left out")
    if unlabelled:
        warnings.append(f"{root}: {len(unlabelled)} JSON file{'s' if len(unlabelled) > 1 else ''} without shapes "
                        f"(all background), e.g. {', '.join(unlabelled[:3])}")
    return LabelledExport(root, "labelme", "LabelMe export", names, splits, annotated, ignore_index=IGNORE,
                          warnings=warnings)


def class_names(root: Path) -> tuple[str, ...]:
    """Background first, then labels.txt's classes, or every label found in the folder's JSONs, sorted (read once
    per process while the folders and labels.txt stay as they are)."""
    root = Path(root)
    watched = [root / LABELS_FILE, root, *(root / split for split in SPLITS)]
    return _cached_class_names(root, tuple(path.stat().st_mtime_ns if path.exists() else 0 for path in watched))


@functools.lru_cache(maxsize=8)
def _cached_class_names(root: Path, _signature: tuple[int, ...]) -> tuple[str, ...]:
    labels_file = Path(root) / LABELS_FILE
    if labels_file.is_file():
        lines = [line.strip() for line in labels_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        classes = [line for line in lines if line != IGNORE_LABEL and line not in BACKGROUND_LABELS]
    else:
        found = set()
        for path in [*Path(root).glob("*.json"), *(p for split in SPLITS for p in (Path(root) / split).glob("*.json"))]:
            found |= {shape["label"] for shape in labelme_document(path)["shapes"]}
        classes = sorted(found - {IGNORE_LABEL, *BACKGROUND_LABELS})
    if not classes:
        raise DataError(root, f"names no class: no {LABELS_FILE} and no labelled shape")
    if len(set(classes)) != len(classes):
        raise DataError(labels_file, "names a class twice")
    return ("background", *classes)


def labelme_document(path: Path) -> dict[str, Any]:
    stat = Path(path).stat()
    return _cached_document(Path(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)
def _cached_document(path: Path, _mtime_ns: int, _size: int) -> dict[str, Any]:
    """A LabelMe JSON checked: its image (file or the JSON itself when the image is embedded), size and shapes as
    (label, type, ring, whether it was clipped). Embedded image bytes are not kept."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise DataError(path, "not a LabelMe file: expected a list of shapes")
    image = _image_of(path, data)
    height, width = data.get("imageHeight"), data.get("imageWidth")
    if not (isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0):
        width, height = (embedded_image(path) if image == path else decode(image)).size  # as EXIF turns it
    shapes = []
    for number, shape in enumerate(data["shapes"], start=1):
        if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
            raise DataError(path, f"shape {number}: expected an object with a label and points")
        kind = shape.get("shape_type") or "polygon"
        points = shape.get("points")
        if not isinstance(points, list) or not all(isinstance(p, list) and len(p) == 2
                                                   and all(isinstance(v, (int, float)) for v in p) for p in points):
            raise DataError(path, f"shape {number} ({shape['label']}): points must be [x, y] pairs")
        ring, moved = _ring(path, number, shape["label"], kind, np.asarray(points, dtype=np.float64), height, width)
        shapes.append({"label": shape["label"], "shape_type": kind, "ring": ring, "outside": moved})
    return {"image": image, "height": height, "width": width, "shapes": shapes}


def _ring(path: Path, number: int, label: str, kind: str, points: np.ndarray, height: int,
          width: int) -> tuple[np.ndarray | None, bool]:
    if kind not in AREA_SHAPES:
        return None, False
    needed = 3 if kind == "polygon" else 2
    if len(points) < needed:
        raise DataError(path, f"shape {number} ({label}): a {kind} of {len(points)} point(s); at least {needed}")
    if not np.isfinite(points).all():
        raise DataError(path, f"shape {number} ({label}): a coordinate is not a finite number")
    if kind == "rectangle":
        points = rectangle(points[0], points[1])
    elif kind == "circle":
        points = circle(points[0], points[1])
    return checked_ring(points, height, width)


def render_labelme(sample: Sample) -> np.ndarray:
    document = labelme_document(sample.mask)
    ids = {name: class_id for class_id, name in enumerate(class_names(sample.context))}
    ids |= {IGNORE_LABEL: IGNORE, **{name: 0 for name in BACKGROUND_LABELS}}
    mask = np.zeros((document["height"], document["width"]), dtype=np.uint8)
    for shape in document["shapes"]:
        if shape["ring"] is not None:
            mask[rasterise([shape["ring"]], *mask.shape)] = ids[shape["label"]]
    return mask


def embedded_image(path: Path) -> Image.Image:
    """The image a LabelMe JSON holds as base64 imageData, decoded."""
    data = read_json(path)
    encoded = data.get("imageData") if isinstance(data, dict) else None
    if not encoded:
        raise DataError(path, "has no imageData")
    try:
        with Image.open(io.BytesIO(base64.b64decode(encoded, validate=False))) as opened:
            opened.load()
            return ImageOps.exif_transpose(opened)  # as LabelMe shows it, and as seglab turns image files
    except (binascii.Error, OSError, ValueError, SyntaxError) as error:
        raise DataError(path, f"imageData is not a readable image ({' '.join(str(error).split())})") from None


def _image_of(path: Path, data: dict[str, Any]) -> Path:
    image_path = data.get("imagePath")
    if image_path:
        candidate = (path.parent / str(image_path).replace("\\", "/")).resolve()
        if candidate.is_file():
            return candidate
    if data.get("imageData"):
        return path  # the image is inside the JSON
    raise DataError(path, f"its image {image_path!r} is not beside it, and it has no imageData")

