"""Datasets on disk: recognise a folder's layout, list its samples per split, and check every file in it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.data.folder import folder_samples, is_folder_dataset
from core.data.images import load_pair
from core.data.oxford_pet import TORCHVISION_FOLDER, is_oxford_pet, oxford_pet_samples
from core.data.samples import Sample
from core.errors import DataError

LAYOUTS = ("oxford-pet", "folder")
CHECKED_SPLITS = ("train", "val", "test")


@dataclass
class DatasetReport:
    """What `check_dataset` found: samples per split and one line per problem (empty when all is well)."""

    root: Path
    layout: str  # one of LAYOUTS
    counts: dict[str, int] = field(default_factory=dict)  # split -> number of samples listed (opened or not)
    problems: list[str] = field(default_factory=list)  # DataError messages, "path: problem"
    pairs: int = 0  # distinct image/mask pairs listed (a folder set's test may be its val part)

    @property
    def ok(self) -> bool:
        return not self.problems


def detect_layout(root: str | Path) -> str:
    """The layout of `root`: "oxford-pet" or "folder" (Oxford wins if it has both)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "no such folder")
    if is_oxford_pet(root):
        return "oxford-pet"
    if is_folder_dataset(root):
        return "folder"
    hint = ""
    if is_oxford_pet(root / TORCHVISION_FOLDER):
        hint = f"; did you mean {root / TORCHVISION_FOLDER}?"
    raise DataError(
        root,
        "not a dataset: expected images/ + annotations/trimaps/ (Oxford-IIIT Pet), or images/ + masks/ "
        f"(optionally inside train/, val/, test/){hint}",
    )


def list_samples(root: str | Path, split: str, val_fraction: float = 0.1, seed: int = 0) -> list[Sample]:
    """The samples of `split` in the dataset at `root`, whichever its layout."""
    if detect_layout(root) == "oxford-pet":
        return oxford_pet_samples(root, split, val_fraction, seed)
    return folder_samples(root, split, val_fraction, seed)


def check_dataset(
    root: str | Path,
    val_fraction: float = 0.1,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> DatasetReport:
    """Open every image and mask of every split, collecting all problems rather than stopping at the first.

    `on_progress(done, total)` is called after each pair is opened, for a progress bar.
    """
    root = Path(root)
    report = DatasetReport(root=root, layout=detect_layout(root))
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
    for done, sample in enumerate(to_open.values(), start=1):
        try:
            load_pair(sample)
        except DataError as error:
            report.problems.append(str(error))
        if on_progress is not None:
            on_progress(done, len(to_open))
    report.problems = list(dict.fromkeys(report.problems))  # a missing file is met once per split it is in
    return report


__all__ = [
    "LAYOUTS",
    "DatasetReport",
    "Sample",
    "check_dataset",
    "detect_layout",
    "list_samples",
]
