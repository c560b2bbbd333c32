"""What reading a labelling tool's export gives: its class names, its images as samples per split, and what was
found wrong but could be read anyway (warnings). Each format's reader (coco, voc, labelme, yolo) returns one."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.data.samples import Sample
from core.errors import DataError

ALL = "all"  # the one split of an export that comes unsplit (seglab splits it 9:1 by seed)


@dataclass
class LabelledExport:
    root: Path  # what was given: the export's folder, or a COCO .json
    format: str  # "coco", "voc", "cvat", "labelme" or "yolo"
    title: str  # how `data check` names it: "COCO export", "CVAT mask export"
    class_names: tuple[str, ...]  # background first; class id i is class_names[i]
    splits: dict[str, list[Sample]]  # "train", "val", "test" as the export has them, or ALL
    annotated: int = 0  # images with at least one annotation
    ignore_index: int = -1  # the mask value its masks use for "ignore" (VOC's 255 boundary), -1 for none
    warnings: list[str] = field(default_factory=list)  # one line each: clipped coordinates, images left blank

    @property
    def samples(self) -> list[Sample]:
        return [sample for samples in self.splits.values() for sample in samples]

    @property
    def images(self) -> int:
        return len(self.samples)

    @property
    def classes(self) -> int:
        """Object classes, background not counted."""
        return len(self.class_names) - 1

    def describe(self) -> str:
        """One line for `data check` and the form: "COCO export: 3 classes, 412 images, 97 % annotated"."""
        share = self.annotated / self.images if self.images else 0.0
        plural = "" if self.classes == 1 else "es"
        names = ", ".join(self.class_names[1:])
        return f"{self.title}: {self.classes} class{plural} ({names}), {self.images} images, {share:.0%} annotated" \
            .replace("%", " %")


def read_json(path: Path) -> Any:
    """A JSON file's content; a missing, unreadable or truncated file is one DataError naming where it broke."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read ({error})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        ends_inside = error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated string")
        truncated = " (truncated?)" if ends_inside else ""
        where = error.msg.removesuffix(" at")  # "Unterminated string starting at" + " at line ..."
        raise DataError(path, f"not valid JSON: {where} at line {error.lineno}, column {error.colno}"
                              f"{truncated}") from None


KEYS_READ_WHOLE = 64 << 20  # JSON files up to this size are parsed to tell their format; larger ones by their head
HEAD = 1 << 20


def json_keys(path: Path) -> frozenset[str] | None:
    """The top-level keys of the JSON object in `path`, to tell a format by; None for a file over KEYS_READ_WHOLE
    bytes, one that does not parse, or one that is not an object (callers then judge by head_of_json)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _json_keys(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _json_keys(path: Path, size: int, mtime_ns: int) -> frozenset[str] | None:
    if size > KEYS_READ_WHOLE:
        return None
    try:
        content = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):  # ValueError: JSONDecodeError and UnicodeDecodeError
        return None
    return frozenset(content) if isinstance(content, dict) else None


def head_of_json(path: Path) -> str:
    """The first megabyte of a JSON file as text ("" when it cannot be read)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(HEAD)
    except OSError:
        return ""


SHOWN = 3  # examples a warning names before "and N more"


def some(items: list[str]) -> str:
    """A few of `items` for a warning: "a, b, c and 4 more"."""
    return ", ".join(items[:SHOWN]) + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def unique_names(samples: list[Sample], source: Path, what: str = "images") -> None:
    """Refuse two images of one export that share a file name: their outputs and cache entries would collide."""
    seen: dict[str, Sample] = {}
    for sample in samples:
        other = seen.setdefault(sample.name, sample)
        if other is not sample:
            raise DataError(source, f"two {what} share the file name {sample.name!r}: {other.image} and "
                                    f"{sample.image}")
