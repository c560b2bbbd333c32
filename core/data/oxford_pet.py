"""List the samples of Oxford-IIIT Pet in its official layout, and download it through torchvision."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from core.data.samples import Sample
from core.data.splits import split_train_val
from core.errors import ConfigError, DataError

OXFORD_PET_SPLITS = ("train", "val", "test", "trainval", "all")  # all: trainval.txt, then test.txt
TORCHVISION_FOLDER = "oxford-iiit-pet"  # where torchvision.datasets.OxfordIIITPet unpacks under its root


def is_oxford_pet(root: str | Path) -> bool:
    """Whether `root` has the official layout: images/ and annotations/trimaps/."""
    root = Path(root)
    return (root / "images").is_dir() and (root / "annotations" / "trimaps").is_dir()


def oxford_pet_samples(
    root: str | Path,
    split: str,
    val_fraction: float = 0.1,
    seed: int = 0,
    problems: list[str] | None = None,
) -> list[Sample]:
    """The samples of `split`: train and val split trainval.txt by `seed`, test is test.txt, all is both lists.

    A listed name without its image or trimap raises DataError, unless `problems` is given: then the
    message is appended there and the name skipped, so a check can report every missing file at once.
    """
    if split not in OXFORD_PET_SPLITS:
        raise ConfigError(f"split: {split!r} is not one of {', '.join(OXFORD_PET_SPLITS)}")
    root = Path(root)
    _require_folder(root)
    for folder in (root / "images", root / "annotations" / "trimaps"):
        _require_folder(folder, "the Oxford-IIIT Pet layout needs images/ and annotations/trimaps/")
    if split == "all":
        return _listed_samples(root, "trainval.txt", problems) + _listed_samples(root, "test.txt", problems)
    list_name = "test.txt" if split == "test" else "trainval.txt"
    samples = _listed_samples(root, list_name, problems)
    if split in ("train", "val"):
        train, val = split_train_val([sample.name for sample in samples], val_fraction, seed, source=root)
        chosen = set(train if split == "train" else val)
        samples = [sample for sample in samples if sample.name in chosen]
    return samples


def download_oxford_pet(to: str | Path) -> Path:
    """Download and unpack Oxford-IIIT Pet (about 800 MB) under `to`; the folder holding its official layout."""
    to = Path(to)
    made = not (to / TORCHVISION_FOLDER).exists()
    try:
        from torchvision.datasets import OxfordIIITPet

        OxfordIIITPet(root=str(to), split="trainval", target_types="segmentation", download=True)
    # URLError and socket errors are OSErrors; torchvision raises RuntimeError on a failed checksum and
    # tarfile/EOFError on a cut-off archive.
    except (OSError, RuntimeError, tarfile.TarError, EOFError) as error:
        if made:  # the empty folder torchvision made before failing would read as a broken dataset
            _remove_if_empty(to / TORCHVISION_FOLDER)
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DataError(to, f"cannot download Oxford-IIIT Pet: {reason}") from error
    root = to / TORCHVISION_FOLDER
    if not is_oxford_pet(root):
        raise DataError(root, "download finished but images/ and annotations/trimaps/ are not there")
    return root


def _remove_if_empty(folder: Path) -> None:
    """Remove `folder` when it holds folders at most (no file: nothing was downloaded into it)."""
    if folder.is_dir() and not any(path.is_file() for path in folder.rglob("*")):
        shutil.rmtree(folder, ignore_errors=True)


def _listed_samples(root: Path, list_name: str, problems: list[str] | None) -> list[Sample]:
    """The samples named in annotations/<list_name>, in file order, each checked to have image and trimap."""
    list_path = root / "annotations" / list_name
    samples = []
    for name in _read_list_names(list_path):
        image = root / "images" / f"{name}.jpg"
        trimap = root / "annotations" / "trimaps" / f"{name}.png"
        missing = [path for path in (image, trimap) if not path.is_file()]
        for path in missing:
            error = DataError(path, f"listed in {list_name} but missing")
            if problems is None:
                raise error
            problems.append(str(error))
        if not missing:
            samples.append(Sample(name=name, image=image, mask=trimap, mask_kind="trimap"))
    return samples


def _read_list_names(list_path: Path) -> list[str]:
    """First word of each "NAME CLASS SPECIES BREED" line, skipping blanks, # comments and repeats."""
    if not list_path.is_file():
        raise DataError(list_path, "no such file (the Oxford-IIIT Pet split list)")
    try:
        text = list_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(list_path, f"cannot read split list ({error})") from error
    names = [line.split()[0] for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return list(dict.fromkeys(names))


def _require_folder(folder: Path, hint: str = "") -> None:
    if not folder.is_dir():
        raise DataError(folder, "no such folder" + (f" ({hint})" if hint else ""))
