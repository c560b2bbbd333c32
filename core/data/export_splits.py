"""A labelling tool's export as seglab's splits: the export's own train/val/test where it has them, else its images
split 9:1 by seed like a flat folder (whose test split is then the val split)."""

from __future__ import annotations

from core.data.export_types import ALL, LabelledExport
from core.data.samples import Sample
from core.data.splits import split_train_val
from core.errors import ConfigError, DataError

EXPORT_SPLITS = ("train", "val", "test", "all")


def export_samples(export: LabelledExport, split: str, val_fraction: float = 0.1, seed: int = 0) -> list[Sample]:
    """The samples of `split`, sorted by name: train and val as the export has them (else 9:1 by `seed`), test as it
    has it (else the val split), all."""
    if split not in EXPORT_SPLITS:
        raise ConfigError(f"split: {split!r} is not one of {', '.join(EXPORT_SPLITS)}")
    if split == "all":
        chosen = export.samples
    elif ALL in export.splits:
        samples = export.splits[ALL]
        train, val = split_train_val([sample.name for sample in samples], val_fraction, seed, source=export.root)
        names = set(train if split == "train" else val)
        chosen = [sample for sample in samples if sample.name in names]
    elif split in export.splits:
        chosen = export.splits[split]
    elif split == "test" and "val" in export.splits:
        chosen = export.splits["val"]
    else:
        raise DataError(export.root, f"has no {split} split (it has {', '.join(export.splits)})")
    return sorted(chosen, key=lambda sample: sample.name)


def comes_split(export: LabelledExport) -> bool:
    """Whether the export brings its own train and val splits (so --val-fraction does not apply)."""
    return ALL not in export.splits


def test_is_val(export: LabelledExport) -> bool:
    """Whether the export's test split is its val split: it holds no test images of its own."""
    return "test" not in export.splits
