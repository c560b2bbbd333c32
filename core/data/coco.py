"""COCO exports (instances or stuff JSON, as CVAT, Label Studio and Roboflow write them): their categories as classes
1..N in the order of their ids (0 = background), their images as samples, and each image's mask painted from its
polygons and RLE (compressed or not; `iscrowd` regions count as their category).

Where annotations overlap, the larger is painted first and the smaller over it, so a small object on a large one
stays visible. Splits: one JSON is split 9:1 by seed; JSONs named or foldered train/val/test keep their split."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.data.export_types import ALL, LabelledExport, head_of_json, json_keys, read_json, some, unique_names
from core.data.polygons import checked_ring, rasterise, rle_problem, rle_to_mask
from core.data.samples import Sample
from core.errors import DataError

SPLIT_WORDS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
IMAGE_FOLDERS = (".", "images", "../images", "..")  # where an export's images lie, from its JSON's folder


@dataclass
class CocoIndex:
    """One COCO JSON, checked: its classes, images (id -> (file name, height, width)) and annotations by image."""

    path: Path
    class_names: tuple[str, ...]
    class_of: dict[int, int]  # category id -> class id
    images: dict[int, tuple[str, int, int]]
    annotations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def coco_files(root: Path) -> dict[str, Path]:
    """The COCO JSONs of an export by split: the file given, or those in the folder, its annotations/ folder or
    train/ val/ (valid/) test/ subfolders (Roboflow). One file: ALL."""
    root = Path(root)
    if root.is_file():
        return {ALL: root} if _is_coco(root) else {}
    candidates = [*sorted(root.glob("*.json")), *sorted((root / "annotations").glob("*.json")),
                  *(path for word in SPLIT_WORDS for path in sorted((root / word).glob("*.json")))]
    found = [path for path in candidates if _is_coco(path)]
    if len(found) == 1:
        return {ALL: found[0]}
    by_split: dict[str, Path] = {}
    for path in found:
        split = _split_of(path, root)
        if split is None or split in by_split:
            names = ", ".join(str(path.relative_to(root)) for path in found)
            raise DataError(root, f"holds several COCO files ({names}); keep one, or name them (or their folders) "
                                  "train, val and test")
        by_split[split] = path
    return by_split


def is_coco_export(root: Path) -> bool:
    try:
        return bool(coco_files(root))
    except DataError:
        return True  # it is one, with a problem that reading it will name


def read_coco(root: Path) -> LabelledExport:
    """The export at `root` (a folder or a .json); DataError naming the file and annotation for what cannot be
    used; warnings for what was clipped or left out."""
    files = coco_files(Path(root))
    if not files:
        raise DataError(root, "no COCO JSON (with images, annotations and categories) here")
    indexes = {split: coco_index(path) for split, path in files.items()}
    names = {index.class_names for index in indexes.values()}
    if len(names) > 1:
        raise DataError(root, "its COCO files name different categories: " + "; ".join(
            f"{index.path.name}: {', '.join(index.class_names[1:])}" for index in indexes.values()))
    splits = {split: _samples(index) for split, index in indexes.items()}
    unique_names([sample for samples in splits.values() for sample in samples], Path(root))
    annotated = sum(1 for index in indexes.values() for image_id in index.images if index.annotations.get(image_id))
    warnings = [warning for index in indexes.values() for warning in index.warnings]
    title = "COCO export" if len(files) == 1 else f"COCO export ({', '.join(files)})"
    return LabelledExport(Path(root), "coco", title, next(iter(names)), splits, annotated, warnings=warnings)


def render_coco(sample: Sample) -> np.ndarray:
    """The class-id mask of one image: its annotations painted largest first."""
    index = coco_index(sample.mask)
    _, height, width = index.images[int(sample.mask_key)]
    mask = np.zeros((height, width), dtype=np.uint8)
    painted = [(int(region.sum()), class_id, region) for class_id, region in
               ((index.class_of[a["category_id"]], _region(a, height, width)) for a in
                index.annotations.get(int(sample.mask_key), []))]
    for _, class_id, region in sorted(painted, key=lambda item: -item[0]):
        mask[region] = class_id
    return mask


def coco_index(path: Path) -> CocoIndex:
    path = Path(path)
    stat = path.stat() if path.is_file() else None
    return _cached_index(path, stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)


@functools.lru_cache(maxsize=8)
def _cached_index(path: Path, _mtime_ns: int, _size: int) -> CocoIndex:
    """Parsed once per process and file version: every image's mask is painted from it."""
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(data.get(key), list) for key in ("images", "categories")):
        raise DataError(path, "not a COCO file: expected lists of images, annotations and categories")
    categories = _categories(path, data["categories"])
    class_of = {category_id: class_id for class_id, category_id in enumerate(sorted(categories), start=1)}
    names = ("background", *(categories[category_id] for category_id in sorted(categories)))
    index = CocoIndex(path, names, class_of, _images(path, data["images"]))
    outside: list[str] = []
    boxes: list[str] = []
    for annotation in data.get("annotations") or []:
        checked = _annotation(path, annotation, index, outside, boxes)
        if checked is not None:
            index.annotations.setdefault(checked["image_id"], []).append(checked)
    if outside:
        several = len(outside) > 1
        index.warnings.append(f"{path}: annotation{'s' if several else ''} {some(outside)} reach"
                              f"{'' if several else 'es'} outside {'their' if several else 'its'} image; clipped to it")
    if boxes:
        several = len(boxes) > 1
        index.warnings.append(f"{path}: annotation{'s' if several else ''} {some(boxes)} ha{'ve' if several else 's'}"
                              " no segmentation (a box only); left out")
    blank = [index.images[image_id][0] for image_id in index.images if not index.annotations.get(image_id)]
    if blank:
        index.warnings.append(f"{path}: {len(blank)} image{'s' if len(blank) > 1 else ''} without annotations "
                              f"(all background), e.g. {', '.join(blank[:3])}")
    return index


def _categories(path: Path, categories: list) -> dict[int, str]:
    found: dict[int, str] = {}
    ids_by_name: dict[str, int] = {}
    for category in categories:
        if not isinstance(category, dict) or not isinstance(category.get("id"), int) or not category.get("name"):
            raise DataError(path, f"category {category!r} needs an integer id and a name")
        if category["id"] in found:
            raise DataError(path, f"category id {category['id']} appears twice")
        name = str(category["name"])
        if name in ids_by_name:  # two classes a user could not tell apart in any table, picture or export
            raise DataError(path, f"categories {ids_by_name[name]} and {category['id']} are both named {name!r}; "
                                  "name them apart, or give their annotations one category")
        found[category["id"]], ids_by_name[name] = name, category["id"]
    if not found:
        raise DataError(path, "has no categories")
    return found


def _images(path: Path, images: list) -> dict[int, tuple[str, int, int]]:
    found: dict[int, tuple[str, int, int]] = {}
    names: dict[str, int] = {}
    for image in images:
        if not isinstance(image, dict) or not isinstance(image.get("id"), int) or not image.get("file_name"):
            raise DataError(path, f"image {image!r} needs an integer id and a file_name")
        if not all(isinstance(image.get(key), int) and image[key] > 0 for key in ("height", "width")):
            raise DataError(path, f"image {image['id']} ({image['file_name']}) needs its height and width")
        if image["id"] in found:
            raise DataError(path, f"image id {image['id']} appears twice")
        name = str(image["file_name"])
        if name in names:
            raise DataError(path, f"images {names[name]} and {image['id']} share the file name {name!r}")
        names[name] = image["id"]
        found[image["id"]] = (name, image["height"], image["width"])
    return found


def _annotation(path: Path, annotation: Any, index: CocoIndex, outside: list[str],
                boxes: list[str]) -> dict[str, Any] | None:
    """The annotation checked (its polygons as rings), None when it has no area to paint."""
    if not isinstance(annotation, dict):
        raise DataError(path, f"annotation {annotation!r} is not an object")
    ident = annotation.get("id", "?")
    if annotation.get("category_id") not in index.class_of:
        raise DataError(path, f"annotation {ident}: category_id {annotation.get('category_id')!r} is not in "
                              "categories")
    if annotation.get("image_id") not in index.images:
        raise DataError(path, f"annotation {ident}: image_id {annotation.get('image_id')!r} is not in images")
    _, height, width = index.images[annotation["image_id"]]
    segmentation = annotation.get("segmentation")
    if not segmentation:
        boxes.append(str(ident))
        return None
    if isinstance(segmentation, dict):
        size = segmentation.get("size")
        if list(size or ()) != [height, width] or "counts" not in segmentation:
            raise DataError(path, f"annotation {ident}: RLE of size {size} for a {height}x{width} image")
        problem = rle_problem(segmentation, height, width)
        if problem:
            raise DataError(path, f"annotation {ident}: {problem}")
        return {**annotation, "segmentation": segmentation}
    if not isinstance(segmentation, list):
        raise DataError(path, f"annotation {ident}: segmentation is neither polygons nor RLE")
    rings = []
    for polygon in segmentation:
        if not isinstance(polygon, list) or len(polygon) % 2 or not all(isinstance(v, (int, float)) for v in polygon):
            raise DataError(path, f"annotation {ident}: a polygon must be a flat list of x, y numbers")
        if len(polygon) < 6:
            raise DataError(path, f"annotation {ident}: a polygon of {len(polygon) // 2} point(s); at least 3")
        try:
            ring, moved = checked_ring(polygon, height, width)
        except ValueError as error:
            raise DataError(path, f"annotation {ident}: {error} in a polygon") from None
        if moved and str(ident) not in outside:
            outside.append(str(ident))
        rings.append(ring)
    return {**annotation, "segmentation": rings}


def _region(annotation: dict[str, Any], height: int, width: int) -> np.ndarray:
    segmentation = annotation["segmentation"]
    if isinstance(segmentation, dict):
        return rle_to_mask(segmentation, height, width)
    return rasterise(segmentation, height, width)


def _samples(index: CocoIndex) -> list[Sample]:
    folder = _image_folder(index)
    samples = []
    for image_id, (file_name, _, _) in index.images.items():
        image = folder / file_name
        if not image.is_file():
            raise DataError(index.path, f"image {image_id} ({file_name}) is not in {folder}")
        samples.append(Sample(Path(file_name).stem, image, index.path, "coco", mask_key=str(image_id),
                              context=index.path))
    return sorted(samples, key=lambda sample: sample.name)


def _image_folder(index: CocoIndex) -> Path:
    """The folder the JSON's file names are relative to: beside it, its images/ folder, or one level up."""
    if not index.images:
        return index.path.parent
    first = next(iter(index.images.values()))[0]
    for relative in IMAGE_FOLDERS:
        folder = (index.path.parent / relative).resolve()
        if (folder / first).is_file():
            return folder
    tried = ", ".join(str((index.path.parent / relative).resolve()) for relative in IMAGE_FOLDERS)
    raise DataError(index.path, f"image {first!r} is in none of {tried}")


def _is_coco(path: Path) -> bool:
    """Whether a .json file is COCO: an object with an "images" key (reading it checks the rest). A file too large
    to parse here, or one that does not parse (reading it says where it breaks), is judged by its first megabyte."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    keys = json_keys(path)
    if keys is not None:
        return "images" in keys
    head = head_of_json(path)
    return head.lstrip().startswith("{") and '"images"' in head


def _split_of(path: Path, root: Path) -> str | None:
    words = [path.parent.name.lower(), *path.stem.lower().replace("-", "_").split("_")]
    for word in words:
        for key, split in SPLIT_WORDS.items():
            if word == key or (word.startswith(key) and word[len(key):].isdigit()):
                return split
    return None

