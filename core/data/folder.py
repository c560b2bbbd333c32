"""List the samples of a user's own dataset: images/NAME.(jpg|jpeg|png) with masks/NAME.png, non-zero = foreground.

Two layouts: flat `images/` + `masks/`, split 9:1 into train/val by seed, where "test" is that same val part
(there is nothing else held out); or `train/`, `val/`, `test/` subfolders, each with its own images/ + masks/
(without test/, val doubles as test).
"""

from __future__ import annotations

from pathlib import Path

from core.data.samples import Sample
from core.data.splits import split_train_val
from core.errors import ConfigError, DataError

FOLDER_SPLITS = ("train", "val", "test", "all")
SPLIT_FOLDERS = ("train", "val", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def is_folder_dataset(root: str | Path) -> bool:
    """Whether `root` holds images/ + masks/, or train/images/ + train/masks/ (split subfolders)."""
    root = Path(root)
    return _has_pairs_folders(root) or has_split_folders(root)


def has_split_folders(root: str | Path) -> bool:
    """Whether `root` uses the train/, val/, test/ layout: the one test both detection and listing use, so a
    stray empty train/ beside images/ + masks/ leaves the flat layout flat."""
    return _has_pairs_folders(Path(root) / "train")


def has_test_folder(root: str | Path) -> bool:
    """Whether split subfolders include test/ (without one, the val split doubles as test)."""
    return _has_pairs_folders(Path(root) / "test")


def folder_samples(
    root: str | Path,
    split: str,
    val_fraction: float = 0.1,
    seed: int = 0,
    problems: list[str] | None = None,
) -> list[Sample]:
    """The samples of `split` (train, val, test or all), sorted by name.

    An image without a mask, or two images with the same name, raise DataError unless `problems` is given:
    then the message is appended there and the image skipped, so a check can report all of them at once.
    """
    if split not in FOLDER_SPLITS:
        raise ConfigError(f"split: {split!r} is not one of {', '.join(FOLDER_SPLITS)}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "no such folder")
    if has_split_folders(root):
        present = [name for name in SPLIT_FOLDERS if name != "test" or has_test_folder(root)]
        folders = present if split == "all" else ("val",) if split == "test" and not has_test_folder(root) else (split,)
        return [sample for name in folders for sample in _pairs_in(root / name, problems)]
    samples = _pairs_in(root, problems)
    if split == "all":
        return samples
    train, val = split_train_val([sample.name for sample in samples], val_fraction, seed, source=root)
    chosen = set(train if split == "train" else val)  # "test" is the val part: no separate hold-out exists
    return [sample for sample in samples if sample.name in chosen]


def _pairs_in(folder: Path, problems: list[str] | None) -> list[Sample]:
    """Every image of folder/images/ with its mask folder/masks/NAME.png, sorted by name."""
    images_dir, masks_dir = folder / "images", folder / "masks"
    for required in (folder, images_dir, masks_dir):
        if not required.is_dir():
            raise DataError(required, "no such folder (a folder dataset needs images/ and masks/)")
    images = sorted(
        path
        for path in images_dir.iterdir()
        if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()
    )
    if not images:
        raise DataError(images_dir, f"no images ({', '.join(IMAGE_SUFFIXES)}) found")
    by_name: dict[str, list[Path]] = {}
    for image in images:
        by_name.setdefault(image.stem, []).append(image)
    samples = []
    for name, same_name in by_name.items():
        mask = masks_dir / f"{name}.png"
        if len(same_name) > 1:
            others = ", ".join(path.name for path in same_name[1:])
            error = DataError(same_name[0], f"same name as {others}: each image needs a unique name")
        elif not mask.is_file():
            error = DataError(same_name[0], f"has no mask (expected {mask})")
        else:
            samples.append(Sample(name=name, image=same_name[0], mask=mask, mask_kind="binary"))
            continue
        if problems is None:
            raise error
        problems.append(str(error))
    return samples


def unused_masks(root: str | Path) -> list[Path]:
    """Masks of a folder dataset that no image of their folder pairs with (a renamed or deleted image): nothing
    reads them, which a check says."""
    root = Path(root)
    folders = [root / name for name in SPLIT_FOLDERS] if has_split_folders(root) else [root]
    unused = []
    for folder in folders:
        if not _has_pairs_folders(folder):
            continue
        stems = {path.stem for path in (folder / "images").iterdir() if path.suffix.lower() in IMAGE_SUFFIXES}
        unused += sorted(path for path in (folder / "masks").iterdir()
                         if path.suffix.lower() == ".png" and not path.name.startswith(".") and path.stem not in stems)
    return unused


def _has_pairs_folders(folder: Path) -> bool:
    return (folder / "images").is_dir() and (folder / "masks").is_dir()
