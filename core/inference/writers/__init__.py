"""Predicted masks back into labelling tools' import formats (COCO, Pascal VOC, CVAT masks, LabelMe, YOLO), so a
user can load them as pre-annotations, correct them and train again. Each writer takes the images with their
class-id masks and the run's class names, and fills a new folder, images linked in where the format wants them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import numpy as np
from PIL import Image

from core.atomic_files import staging_folder
from core.errors import ConfigError, DataError

WRITERS: dict[str, str] = {  # format -> "module:function"
    "coco": "core.inference.writers.coco:write_coco",
    "coco-polygons": "core.inference.writers.coco:write_coco_polygons",
    "voc": "core.inference.writers.voc:write_voc",
    "cvat": "core.inference.writers.voc:write_cvat",
    "labelme": "core.inference.writers.labelme:write_labelme",
    "yolo": "core.inference.writers.yolo:write_yolo",
}
WRITER_NAMES = tuple(WRITERS)


@dataclass(frozen=True)
class LabelledImage:
    """One image and its mask of class ids (0 background; 255 ignore, which writers leave out)."""

    name: str  # the image's stem, unique among the images written
    image: Path
    mask: np.ndarray  # H x W uint8

    @property
    def height(self) -> int:
        return int(self.mask.shape[0])

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])


Writer = Callable[[Iterable[LabelledImage], tuple[str, ...], Path], int]


def writer(fmt: str) -> Writer:
    if fmt not in WRITERS:
        raise ConfigError(f"export format: {fmt!r} is not one of {', '.join(WRITER_NAMES)}")
    module, _, function = WRITERS[fmt].partition(":")
    return getattr(import_module(module), function)


def write_labels(fmt: str, images: Iterable[LabelledImage], class_names: tuple[str, ...], out: Path) -> int:
    """Write `images` as `fmt` into the new folder `out`, built under a temporary name and renamed at the end: a
    failure or an interrupt leaves no half-made folder. Returns how many images were written."""
    write = writer(fmt)
    out = Path(out)
    check_class_names(fmt, class_names)
    check_new_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    building = staging_folder(out.parent, f".{out.name}.", ".tmp")
    try:
        count = write(images, class_names, building)
        os.replace(building, out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return count


def check_class_names(fmt: str, class_names: Iterable[str]) -> None:
    """Raise ConfigError for a class name `fmt` cannot write so that it reads back. VOC's and CVAT's labelmap.txt
    has a `name:r,g,b:parts:actions` line a class (':' separates fields, '#' starts a comment); LabelMe's labels.txt
    a name a line, its first two `__ignore__` and `_background_`. Both read a line without its surrounding spaces."""
    if fmt not in ("voc", "cvat", "labelme"):
        return
    from core.data.labelme import BACKGROUND_LABELS, IGNORE_LABEL, LABELS_FILE
    from core.data.voc import LABELMAP

    names = list(class_names)
    for name in names[1:] if fmt == "labelme" else names:  # LabelMe's background is written as _background_
        if not name.strip() or name != name.strip() or len(name.splitlines()) != 1:
            rule = "a name of one line, without spaces around it"
        elif fmt != "labelme" and (":" in name or name.startswith("#")):
            rule = "a name without ':' that does not start with '#'"
        elif fmt == "labelme" and name in (IGNORE_LABEL, *BACKGROUND_LABELS):
            rule = f"a class name other than {IGNORE_LABEL}, {', '.join(BACKGROUND_LABELS)}"
        else:
            continue
        file = LABELS_FILE if fmt == "labelme" else LABELMAP
        raise ConfigError(f"class name {name!r} cannot be written to {fmt}'s {file} (it takes {rule}); use another "
                          "--export format, or rename the class in the data and train again")


def check_new_folder(out: Path) -> None:
    """Raise DataError unless `out` can be made as a new folder: it must not exist, and the nearest folder above it
    that exists must be a folder, not a file."""
    if out.exists() or out.is_symlink():
        raise DataError(out, "already exists; give a new folder to write into")
    above = out.parent
    while not above.exists() and not above.is_symlink() and above != above.parent:
        above = above.parent
    if above.is_symlink() and not above.exists():
        raise DataError(out, f"cannot be made: {above} is a link to nothing")
    if not above.is_dir():
        raise DataError(out, f"cannot be made: {above} is a file, not a folder")


def predicted_labels(folder: Path) -> tuple[tuple[str, ...], Iterator[LabelledImage]]:
    """A predictions folder (results.csv, *_mask.png, summary.json) as the run's class names and its images with
    their predicted class ids, read one at a time."""
    from core.inference.results import has_results, mask_path, read_results, read_summary

    if not has_results(folder):
        raise DataError(folder, "no results.csv: not a predictions folder")
    summary = read_summary(folder)
    names = tuple(summary.get("class_names") or ())
    if len(names) < 2:
        raise DataError(folder, "its summary.json names no classes (predicted before seglab recorded them); "
                                "predict again to export")
    rows = read_results(folder)
    missing = [row.name for row in rows if not row.image]
    if missing:
        raise DataError(folder, f"results.csv does not say which image {missing[0]} was; predict again to export")

    def images() -> Iterator[LabelledImage]:
        for row in rows:
            with Image.open(mask_path(folder, row.name)) as opened:
                values = np.asarray(opened)
            ids = (values > 0).astype(np.uint8) if summary.get("task") != "multiclass" else values.astype(np.uint8)
            yield LabelledImage(row.name, Path(row.image), ids)

    return names, images()


def link_image(source: Path, target: Path, suffixes: tuple[str, ...] | None = None) -> Path:
    """Put the image at `target`: a symbolic link to `source` (no copy of a photo archive), a copy where links
    cannot be made. A LabelMe JSON holding its image, or a file whose suffix the format does not take (`suffixes`:
    VOC's JPEGImages holds .jpg, .jpeg and .png only), is written as a PNG of the pixels predicted on."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix.lower() == ".json" or (suffixes is not None and source.suffix.lower() not in suffixes):
        from core.data.images import open_rgb

        target = target.with_suffix(".png")
        open_rgb(source).save(target)
        return target
    try:
        os.symlink(Path(source).resolve(), target)
    except OSError:
        shutil.copy2(source, target)
    return target


def image_file_name(item: LabelledImage) -> str:
    """The file name an image gets in a written folder: its name and its own suffix (.png for an embedded one)."""
    suffix = ".png" if item.image.suffix.lower() == ".json" else item.image.suffix.lower()
    return f"{item.name}{suffix}"


def present_classes(mask: np.ndarray, classes: int) -> list[int]:
    """The object classes (1..classes-1) a mask holds, in order."""
    return [int(value) for value in np.unique(mask) if 0 < value < classes]
