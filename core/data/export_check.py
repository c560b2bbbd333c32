"""`seglab data check` of a labelling tool's export: read it (naming what cannot be used), open every image and paint
its mask, count each class's pixels, and warn about what reads but may not be what the user meant."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.data.export_splits import export_samples
from core.data.exports import read_export
from core.data.images import load_pair
from core.data.labels import Labels
from core.data.report import DatasetReport
from core.data.samples import Sample
from core.errors import DataError

CHECKED_SPLITS = ("train", "val", "test")
VOC_FORMATS = ("voc", "cvat")


def check_export(report: DatasetReport, val_fraction: float, seed: int,
                 on_progress: Callable[[int, int], None] | None = None) -> DatasetReport:
    try:
        export = read_export(report.root, report.layout)
    except DataError as error:
        report.problems.append(str(error))
        return report
    report.summary, report.warnings = export.describe(), list(export.warnings)
    report.class_names = export.class_names
    labels = Labels("multiclass", export.class_names, export.ignore_index)
    to_open: dict[tuple, Sample] = {}
    for split in CHECKED_SPLITS:
        try:
            samples = export_samples(export, split, val_fraction, seed)
        except DataError as error:
            report.problems.append(str(error))
            samples = []
        report.counts[split] = len(samples)
        for sample in samples:
            to_open.setdefault((sample.image, sample.mask, sample.mask_key), sample)
    report.pairs = len(to_open)
    pixels = [0] * labels.classes
    only_ignore: list[str] = []  # VOC masks of 0 and 255 alone: a 0/255 binary mask read as "ignore"
    only_first: list[str] = []  # VOC masks of 0 and 1 alone without a labelmap: class 1 is VOC's aeroplane
    for done, sample in enumerate(to_open.values(), start=1):
        try:
            _, mask = load_pair(sample, labels)
        except DataError as error:
            report.problems.append(str(error))
        else:
            values, counts = np.unique(mask, return_counts=True)
            for value, count in zip(values, counts, strict=True):
                if value < len(pixels):
                    pixels[value] += int(count)
            found = set(values.tolist())
            if export.format in VOC_FORMATS and found == {0, export.ignore_index}:
                only_ignore.append(sample.name)
            if export.format == "voc" and export.title == "Pascal VOC export" and found == {0, 1}:
                only_first.append(sample.name)
        if on_progress is not None:
            on_progress(done, len(to_open))
    report.class_pixels = pixels
    if only_ignore:
        report.warnings.append(f"{len(only_ignore)} mask(s) hold only 0 and 255, e.g. {only_ignore[0]}: in VOC, 255 "
                               "marks pixels to ignore, so nothing there is learnt; if they are 0/255 binary masks, "
                               "put them in seglab's images/ + masks/ layout, which reads any non-zero as foreground")
    if only_first:
        report.warnings.append(f"{len(only_first)} mask(s) hold only ids 0 and 1, e.g. {only_first[0]}: without "
                               "labelmap.txt, id 1 is VOC's 'aeroplane'; name your classes in labelmap.txt, or use "
                               "images/ + masks/ for 0/1 binary masks")
    report.problems = list(dict.fromkeys(report.problems))
    return report
