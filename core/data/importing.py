"""`seglab data import`: a labelling tool's export copied into seglab's own folder layout (images/, masks/ as palette
PNGs of class ids, classes.txt; train/ val/ test/ where the export has its splits). Built under a temporary name
and renamed at the end, so an interrupted or failed import leaves nothing half-made."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from core.atomic_files import staging_folder
from core.data.export_types import ALL
from core.data.exports import read_export
from core.data.folder import IMAGE_SUFFIXES
from core.data.images import load_pair
from core.data.labels import CLASSES_FILE, Labels, palette
from core.errors import DataError


@dataclass(frozen=True)
class Imported:
    out: Path
    title: str  # what was read: "COCO export"
    class_names: tuple[str, ...]
    counts: dict[str, int]  # images per split folder ("all" for a flat folder)
    warnings: list[str]


def import_export(source: str | Path, out: str | Path, fmt: str = "auto",
                  on_progress: Callable[[int, int], None] | None = None) -> Imported:
    """Read the export at `source` (every image opened and its mask painted: the first bad file stops the import
    with nothing written) and write it under `out`, which must not exist."""
    export = read_export(source, fmt)
    out = Path(out).expanduser()
    if out.exists():
        raise DataError(out, "already exists; give a new folder to import into")
    out.parent.mkdir(parents=True, exist_ok=True)
    labels = Labels("multiclass", export.class_names, export.ignore_index)
    building = staging_folder(out.parent, f".{out.name}.", ".tmp")
    total, done = export.images, 0
    try:
        for split, samples in export.splits.items():
            folder = building if split == ALL else building / split
            for sample in samples:
                image, mask = load_pair(sample, labels)
                _write_image(sample.image, image, folder / "images", sample.name)
                mask_image = Image.fromarray(mask, mode="P")
                mask_image.putpalette(palette(labels.classes))
                (folder / "masks").mkdir(parents=True, exist_ok=True)
                mask_image.save(folder / "masks" / f"{sample.name}.png")
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
        (building / CLASSES_FILE).write_text("".join(f"{name}\n" for name in export.class_names), encoding="utf-8")
        os.replace(building, out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    counts = {split: len(samples) for split, samples in export.splits.items()}
    return Imported(out, export.title, export.class_names, counts, list(export.warnings))


def _write_image(source: Path, decoded: Image.Image, folder: Path, name: str) -> None:
    """The image file as it was (a JPEG stays its bytes), or the decoded image as PNG where seglab's folder layout
    does not take its type (an image embedded in a LabelMe JSON, a BMP, a WebP)."""
    folder.mkdir(parents=True, exist_ok=True)
    if source.suffix.lower() in IMAGE_SUFFIXES:
        shutil.copy2(source, folder / f"{name}{source.suffix.lower()}")
    else:
        decoded.save(folder / f"{name}.png")
