"""Labelling-tool exports as datasets: the formats by name (the registry `--format` and detection read), which one
a path is, reading it once per process, and painting a sample's mask from its annotations. A format's reader loads
when it is first used."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import numpy as np

from core.data.export_types import LabelledExport
from core.data.samples import Sample
from core.errors import ConfigError, DataError


@dataclass(frozen=True)
class ExportFormat:
    """One labelling tool's format: its module and the names of its detect, read and render functions there."""

    name: str
    module: str
    description: str
    detect: str
    read: str
    render: str

    def function(self, which: str):
        return getattr(import_module(self.module), getattr(self, which))


EXPORT_FORMATS: dict[str, ExportFormat] = {spec.name: spec for spec in (
    ExportFormat("coco", "core.data.coco", "COCO JSON: polygons, RLE (CVAT, Label Studio, Roboflow)",
                 "is_coco_export", "read_coco", "render_coco"),
    ExportFormat("voc", "core.data.voc", "Pascal VOC / CVAT Segmentation mask 1.1: SegmentationClass PNGs",
                 "is_voc_export", "read_voc", "render_voc"),
    ExportFormat("labelme", "core.data.labelme", "LabelMe: a JSON of shapes per image", "is_labelme_export",
                 "read_labelme", "render_labelme"),
    ExportFormat("yolo", "core.data.yolo", "Ultralytics YOLO segmentation: data.yaml, labels/*.txt polygons",
                 "is_yolo_export", "read_yolo", "render_yolo"),
)}
ALIASES = {"cvat": "voc"}  # CVAT's "Segmentation mask 1.1" is VOC's layout
FORMAT_CHOICES = ("auto", *EXPORT_FORMATS, *ALIASES)
DETECTION_ORDER = ("voc", "yolo", "labelme", "coco")  # folders with a stronger mark first; COCO's is any JSON


def detect_export(path: str | Path) -> str | None:
    """The export format of `path` (a folder, or a COCO .json), or None when it is none of them."""
    path = Path(path)
    if not path.exists():
        return None
    return next((name for name in DETECTION_ORDER if EXPORT_FORMATS[name].function("detect")(path)), None)


def read_export(path: str | Path, fmt: str = "auto") -> LabelledExport:
    """The export at `path`, read as `fmt` (auto: detected), once per process while its files stay as they are."""
    if fmt not in FORMAT_CHOICES:
        raise ConfigError(f"format: {fmt!r} is not one of {', '.join(FORMAT_CHOICES)}")
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise DataError(path, "no such file or folder")
    name = ALIASES.get(fmt, fmt)
    if name == "auto":
        name = detect_export(path)
        if name is None:
            raise DataError(path, "not a labelling-tool export seglab reads (" + "; ".join(
                spec.description for spec in EXPORT_FORMATS.values()) + ")")
    elif not EXPORT_FORMATS[name].function("detect")(path):
        title = EXPORT_FORMATS[name].description.split(":")[0]
        raise DataError(path, f"not {'an' if title[0] in 'AEIOU' else 'a'} {title} export")
    return _read(path, name, _signature(path))


@functools.lru_cache(maxsize=8)
def _read(path: Path, name: str, _signature: tuple) -> LabelledExport:
    return EXPORT_FORMATS[name].function("read")(path)


def render_mask(sample: Sample, size: tuple[int, int]) -> np.ndarray:
    """A sample's class-id mask (uint8; 255 where its export marks pixels to ignore), painted from its annotations;
    `size` is its image's (width, height), which YOLO's normalised polygons need."""
    render = EXPORT_FORMATS[sample.mask_kind].function("render")
    return render(sample, size) if sample.mask_kind == "yolo" else render(sample)


def _signature(path: Path) -> tuple:
    """What changes when an export's files are added, removed or rewritten at its top level."""
    stat = path.stat()
    if path.is_file():
        return (stat.st_mtime_ns, stat.st_size)
    children = tuple(sorted((child.name, child.stat().st_mtime_ns) for child in path.iterdir()))
    return (stat.st_mtime_ns, children)
