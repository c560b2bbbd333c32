"""A run's data: turn a TrainConfig's `data` (a folder or 'synthetic') into its labels, samples and cached dataset
splits. It reads the config, so it sits above core/data (which knows nothing of TrainConfig)."""

from __future__ import annotations

import os
from pathlib import Path

from core.config import SYNTHETIC, TrainConfig
from core.data import detect_layout, list_samples
from core.data.cache import build_cache
from core.data.dataset import SegmentationDataset
from core.data.export_splits import comes_split, test_is_val
from core.data.exports import EXPORT_FORMATS, read_export
from core.data.folder import has_split_folders, has_test_folder
from core.data.images import load_pair
from core.data.labels import (
    BINARY,
    CLASSES_FILE,
    OXFORD_CLASSES,
    SYNTHETIC_CLASSES,
    Labels,
    folder_class_names,
    read_class_names,
)
from core.data.samples import Sample
from core.data.synthetic import ensure_synthetic, synthetic_dir
from core.errors import ConfigError, DataError
from core.losses.weights import parse_class_weights

DEFAULT_SYNTHETIC_CLASSES = 3  # --data synthetic --task multiclass: background and two kinds of shape

CACHE_DIR_ENV = "SEGLAB_CACHE_DIR"


def cache_root() -> Path:
    """Where generated data and caches go: $SEGLAB_CACHE_DIR, else ~/.cache/seglab."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "seglab")


def resolve_data_root(config: TrainConfig) -> Path:
    """The dataset folder of a run, generating the synthetic set on first use."""
    if config.data == SYNTHETIC:
        return ensure_synthetic(cache_root() / "data", config.synthetic_count, config.synthetic_size, config.seed,
                                classes=_synthetic_classes(config))
    root = Path(config.data).expanduser()
    if root.is_file():  # a COCO .json given as the dataset: its layout check says whether it is one
        return root
    if not root.is_dir():
        if not root.is_absolute():  # runs made before paths were stored absolute
            raise DataError(root, f"no such dataset folder (the run stores a relative path; tried {root.resolve()}: "
                                  "run from the folder it was made in)")
        raise DataError(root, "no such dataset folder")
    return root


def synthetic_folder(config: TrainConfig) -> Path:
    """Where the run's synthetic set is (or will be generated), without generating it."""
    return synthetic_dir(cache_root() / "data", config.synthetic_count, config.synthetic_size, config.seed,
                         classes=_synthetic_classes(config))


def _synthetic_classes(config: TrainConfig) -> int:
    """Classes of the synthetic set a config trains on: 0 for the binary set, else background + shape kinds."""
    if config.task == "binary":
        return 0
    classes = config.classes or DEFAULT_SYNTHETIC_CLASSES
    if classes > len(SYNTHETIC_CLASSES):
        raise ConfigError(f"classes: the synthetic set draws at most {len(SYNTHETIC_CLASSES) - 1} kinds of shape, "
                          f"so --classes {len(SYNTHETIC_CLASSES)} at most, got {classes}")
    return classes


def class_names(config: TrainConfig) -> tuple[str, ...]:
    """The class names of a multiclass config's data, background first: Oxford-IIIT Pet's three, the synthetic
    shapes, or a folder's classes.txt (else "class 1".. for --classes N). A count the data contradicts is one line."""
    if config.data == SYNTHETIC:
        return SYNTHETIC_CLASSES[: _synthetic_classes(config)]
    root = resolve_data_root(config)
    layout = detect_layout(root)
    if layout in EXPORT_FORMATS:
        names = read_export(root, layout).class_names
        if config.classes not in (0, len(names)):
            raise ConfigError(f"classes: {root} names {len(names)} classes ({', '.join(names)}), not "
                              f"{config.classes}")
        return names
    if layout == "oxford-pet":
        if config.classes not in (0, len(OXFORD_CLASSES)):
            raise ConfigError(f"classes: Oxford-IIIT Pet's trimaps hold {len(OXFORD_CLASSES)} classes "
                              f"({', '.join(OXFORD_CLASSES)}), not {config.classes}")
        return OXFORD_CLASSES
    names = folder_class_names(root, config.classes)
    if names is None:
        raise ConfigError(f"classes: {root} has no classes.txt saying how many classes its masks hold; give "
                          "--classes N (background included) or write classes.txt (one name a line, background first)")
    return names


def run_labels(config: TrainConfig) -> Labels:
    """How the config's masks are read and named: binary, or its data's classes."""
    if config.task == "binary":
        return Labels("binary", _one_class_export_names(config) or BINARY.names)
    return Labels("multiclass", class_names(config), config.ignore_index)


def _one_class_export_names(config: TrainConfig) -> tuple[str, ...] | None:
    """A one-class export's names (background, its class), so a binary run on it names what it predicts."""
    if config.data == SYNTHETIC:
        return None
    root = resolve_data_root(config)
    layout = detect_layout(root)
    if layout not in EXPORT_FORMATS:
        return None
    names = read_export(root, layout).class_names
    return names if len(names) == 2 else None


def with_resolved_classes(config: TrainConfig) -> TrainConfig:
    """A multiclass config with its class count taken from the data (as the run stores it), its class weights
    checked against that count; a binary config as it is."""
    if config.task == "binary":
        return config
    classes = len(class_names(config))
    parse_class_weights(config.class_weights, classes)
    return config.replace(classes=classes)


def val_fraction_applies(config: TrainConfig) -> bool:
    """Whether the data is split by val_fraction: Oxford's trainval and a flat images/ + masks/ folder are;
    the synthetic set and train/ val/ test/ subfolders come split already."""
    if config.data == SYNTHETIC:
        return False
    root = resolve_data_root(config)
    layout = detect_layout(root)
    if layout in EXPORT_FORMATS:
        return not comes_split(read_export(root, layout))
    return not has_split_folders(root)


def val_doubles_as_test(config: TrainConfig) -> bool:
    """Whether the data's test split is its val split (a flat images/ + masks/ folder has no held-out set), so
    test scores come from the images that also chose best.pt."""
    if config.data == SYNTHETIC:
        return False
    root = resolve_data_root(config)
    layout = detect_layout(root)
    if layout in EXPORT_FORMATS:
        return test_is_val(read_export(root, layout))
    return layout == "folder" and not (has_split_folders(root) and has_test_folder(root))


def check_something_to_learn(config: TrainConfig) -> None:
    """Refuse a labelling tool's export in which no image has an annotation seglab paints (boxes only, or none): a
    run on it would learn that everything is background."""
    if config.data == SYNTHETIC:
        return
    root = resolve_data_root(config)
    layout = detect_layout(root)
    if layout in EXPORT_FORMATS and read_export(root, layout).annotated == 0:
        raise DataError(root, "no image has an annotation seglab reads as an area (a polygon, RLE, mask or shape; "
                              "boxes alone are not): nothing to learn")


def data_warnings(config: TrainConfig) -> list[str]:
    """What reading the run's labelling-tool export clipped or left out, and a binary run on a folder whose
    classes.txt names several classes (they train as one foreground): empty for other data."""
    if config.data == SYNTHETIC:
        return []
    root = resolve_data_root(config)
    layout = detect_layout(root)
    if layout in EXPORT_FORMATS:
        return list(read_export(root, layout).warnings)
    names_file = root / CLASSES_FILE
    if config.task == "binary" and layout == "folder" and names_file.is_file():
        try:
            names = read_class_names(names_file)
        except DataError:
            return []
        if len(names) > 2:
            return [f"{names_file}: names {len(names) - 1} classes besides background; a binary run trains them as "
                    "one foreground (--task multiclass trains them apart)"]
    return []


def export_defaults(data: str) -> dict[str, object]:
    """Settings a labelling tool's export implies unless given: multiclass with its classes when it names more than
    one (binary for one), and its ignore value (VOC's 255). Nothing for other data, or data that cannot be read
    yet (the run's checks say why)."""
    if data == SYNTHETIC:
        return {}
    root = Path(data).expanduser()
    try:
        layout = detect_layout(root)
        export = read_export(root, layout) if layout in EXPORT_FORMATS else None
    except (DataError, OSError):
        return {}
    if export is None or export.classes < 2:
        return {}
    return {"task": "multiclass", **({"ignore_index": export.ignore_index} if export.ignore_index >= 0 else {})}


def split_samples(config: TrainConfig, split: str) -> list[Sample]:
    """The samples of one split (train/val/test) of the run's data; an empty split is an error."""
    root = resolve_data_root(config)
    samples = list_samples(root, split, val_fraction=config.val_fraction, seed=config.seed)
    if not samples:
        raise DataError(root, f"the {split} split is empty")
    return samples


def readable_samples(samples: list[Sample], labels: Labels = BINARY) -> tuple[list[Sample], list[str]]:
    """The samples whose image and mask open and match, and one message per sample left out."""
    good, problems = [], []
    for sample in samples:
        try:
            load_pair(sample, labels)
        except DataError as error:
            problems.append(str(error))
        else:
            good.append(sample)
    return good, problems


def split_dataset(config: TrainConfig, split: str, augment: str = "none") -> SegmentationDataset:
    """A split as a Dataset with its decoded-image cache (config.cache): the first epoch fills it.

    With config.skip_bad, unreadable samples are left out first; their messages are in `.skipped`.
    """
    samples, skipped, labels = split_samples(config, split), [], run_labels(config)
    if config.skip_bad:
        samples, skipped = readable_samples(samples, labels)
        if not samples:
            raise DataError(resolve_data_root(config), f"no readable samples in the {split} split ({skipped[0]})")
    cache = build_cache(samples, config.image_size, config.cache, cache_root() / "decoded", labels.cache_key())
    dataset = SegmentationDataset(samples, config.image_size, augment=augment, cache=cache, labels=labels)
    dataset.skipped = skipped
    return dataset
