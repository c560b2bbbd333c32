"""Datasets on disk: recognise a folder's layout, list its samples per split, and check every file in it (for a
multiclass task also counting each class's pixels). Knows nothing of TrainConfig: core/run_data.py reads a
config's data through this package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.data.export_check import check_export
from core.data.export_splits import export_samples
from core.data.exports import EXPORT_FORMATS, detect_export, read_export
from core.data.folder import folder_samples, is_folder_dataset, unused_masks
from core.data.images import load_pair
from core.data.labels import MAX_CLASSES, NO_IGNORE, OXFORD_CLASSES, Labels, folder_class_names, generic_names
from core.data.oxford_pet import TORCHVISION_FOLDER, is_oxford_pet, oxford_pet_samples
from core.data.report import DatasetReport
from core.data.samples import Sample
from core.errors import DataError

LAYOUTS = ("oxford-pet", "folder", *EXPORT_FORMATS)  # an export's layout is its format's name (coco, voc, ...)
CHECKED_SPLITS = ("train", "val", "test")
SETTINGS_SUFFIXES = (".yaml", ".yml", ".json")  # what --config reads, and a user may give --data by mistake


def detect_layout(root: str | Path) -> str:
    """The layout of `root`: "oxford-pet", "folder", or a labelling tool's export format ("coco", "voc", "labelme",
    "yolo"; a COCO .json file too). Oxford wins over the rest, seglab's folder over the exports."""
    root = Path(root)
    if root.is_file() and detect_export(root) is not None:
        return detect_export(root)
    if root.is_file():
        what = ("a JSON file that is not a COCO export (no images, annotations and categories)"
                if root.suffix.lower() == ".json" else "a file, not a dataset folder")
        settings = " (a settings file goes to --config)" if root.suffix.lower() in SETTINGS_SUFFIXES else ""
        raise DataError(root, f"{what}; --data takes a dataset folder, a COCO .json or 'synthetic'{settings}")
    if not root.is_dir():
        raise DataError(root, "no such folder")
    if is_oxford_pet(root):
        return "oxford-pet"
    if is_folder_dataset(root):
        return "folder"
    export = detect_export(root)
    if export is not None:
        return export
    hint = ""
    if is_oxford_pet(root / TORCHVISION_FOLDER):
        hint = f"; did you mean {root / TORCHVISION_FOLDER}?"
    raise DataError(
        root,
        "not a dataset: expected images/ + annotations/trimaps/ (Oxford-IIIT Pet), images/ + masks/ "
        "(optionally inside train/, val/, test/), or a COCO, Pascal VOC/CVAT mask, LabelMe or YOLO segmentation "
        f"export{hint}",
    )


def list_samples(root: str | Path, split: str, val_fraction: float = 0.1, seed: int = 0) -> list[Sample]:
    """The samples of `split` in the dataset at `root`, whichever its layout."""
    layout = detect_layout(root)
    if layout == "oxford-pet":
        return oxford_pet_samples(root, split, val_fraction, seed)
    if layout == "folder":
        return folder_samples(root, split, val_fraction, seed)
    return export_samples(read_export(root, layout), split, val_fraction, seed)


def check_dataset(
    root: str | Path,
    val_fraction: float = 0.1,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    task: str = "binary",
    classes: int = 0,
    ignore_index: int = NO_IGNORE,
) -> DatasetReport:
    """Open every image and mask of every split, collecting all problems rather than stopping at the first.

    task "multiclass" reads masks as class ids (Oxford: its 3 trimap classes; a folder: its classes.txt, else
    `classes`, else as many as the largest id found says) and counts each class's pixels.
    `on_progress(done, total)` is called after each pair is opened, for a progress bar.
    """
    root = Path(root)
    report = DatasetReport(root=root, layout=detect_layout(root))
    if report.layout in EXPORT_FORMATS:
        return check_export(report, val_fraction, seed, on_progress)
    labels = _check_labels(report, task, classes, ignore_index)
    pixels = [0] * (labels.classes if labels is not None else 0)
    list_split = oxford_pet_samples if report.layout == "oxford-pet" else folder_samples
    to_open: dict[tuple[Path, Path | None], Sample] = {}
    for split in CHECKED_SPLITS:
        try:
            samples = list_split(root, split, val_fraction, seed, problems=report.problems)
        except DataError as error:
            report.problems.append(str(error))
            samples = []
        report.counts[split] = len(samples)
        for sample in samples:  # a folder dataset's test is its val part: open those files once
            to_open.setdefault((sample.image, sample.mask), sample)
    report.pairs = len(to_open)
    if report.layout == "folder":
        report.warnings += [f"{mask}: no image of that name in {mask.parent.parent / 'images'}; not used"
                            for mask in unused_masks(root)]
    for done, sample in enumerate(to_open.values(), start=1):
        try:
            _, mask = load_pair(sample, labels or Labels())
        except DataError as error:
            report.problems.append(str(error))
        else:
            if labels is not None:
                for value, count in zip(*np.unique(mask, return_counts=True), strict=True):
                    if value < len(pixels):
                        pixels[value] += int(count)
        if on_progress is not None:
            on_progress(done, len(to_open))
    report.problems = list(dict.fromkeys(report.problems))  # a missing file is met once per split it is in
    if labels is not None:
        found = max((index + 1 for index, count in enumerate(pixels) if count), default=2)
        count = labels.classes if report.class_names else max(found, 2)
        report.class_names = report.class_names or generic_names(count)
        report.class_pixels = pixels[:count]
    return report


def _check_labels(report: DatasetReport, task: str, classes: int, ignore_index: int) -> Labels | None:
    """How a check reads masks: None for binary; for multiclass the data's classes, or (folder without
    classes.txt or --classes) up to MAX_CLASSES ids, the count being decided by the largest id found."""
    if task == "binary":
        return None
    if report.layout == "oxford-pet":
        report.class_names = OXFORD_CLASSES
    else:
        try:
            report.class_names = folder_class_names(report.root, classes) or ()
        except DataError as error:
            report.problems.append(str(error))
    names = report.class_names or generic_names(MAX_CLASSES)
    return Labels("multiclass", names, ignore_index)


__all__ = [
    "LAYOUTS",
    "DatasetReport",
    "Sample",
    "check_dataset",
    "detect_layout",
    "list_samples",
]
