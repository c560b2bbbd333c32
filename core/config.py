"""Training settings: a frozen dataclass, its validation, presets and JSON round trip.

Every field maps one to one onto a `seglab train` option and a dashboard form field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import unicodedata
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from core import __version__
from core.atomic_files import atomic_write_text
from core.errors import ConfigError

MODEL_CHOICES = ("unet", "resnet34_unet")
LOSS_CHOICES = ("bce", "dice", "bce+dice")
AUGMENT_CHOICES = ("none", "flip", "standard", "strong", "elastic")
SCHEDULER_CHOICES = ("none", "cosine")
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
MEMORY_FORMAT_CHOICES = ("auto", "channels_last", "contiguous")
CACHE_CHOICES = ("auto", "memory", "disk", "none")
SYNTHETIC = "synthetic"
MAX_NAME_LENGTH = 64


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults are the original experiment's (AdamW 5e-4, batch 16, BCE, 9:1 split)."""

    model: str = "unet"  # unet | resnet34_unet
    data: str = SYNTHETIC  # a dataset folder (Oxford-IIIT Pet or images/ + masks/) or "synthetic"
    epochs: int = 20  # passes over the training split
    batch_size: int = 16  # images per optimizer step: the global batch, split evenly over torchrun's processes
    lr: float = 5e-4  # AdamW learning rate
    image_size: int = 256  # images and masks are resized to a square of this side
    width: int = 64  # channels of the first stage; UNet doubles it four times
    loss: str = "bce"  # bce | dice | bce+dice
    augment: str = "flip"  # none | flip | standard | strong | elastic (see core/data/augment.py)
    scheduler: str = "none"  # none | cosine (cosine decay of lr over all steps, after the warmup)
    warmup_epochs: int = 0  # epochs of linear lr warmup from lr/100 (with either scheduler)
    weight_decay: float = 1e-2  # AdamW weight decay (torch's default)
    ema: float = 0.0  # decay of an exponential moving average of the weights, used for validation and
    #                   checkpoints (0 = off; 0.99-0.999 typical)
    patience: int = 0  # stop early after this many epochs without a better val Dice (0 = never)
    init_from: str = ""  # start from the weights of a run (its best.pt) or a checkpoint file; fresh optimizer
    encoder_weights: str = ""  # torchvision resnet34 ImageNet weights file for the ResNet34-UNet encoder
    val_fraction: float = 0.1  # share of trainval held out for validation (9:1)
    seed: int = 0  # seeds weights, split, shuffling and augmentation
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (autocast; auto = bf16 where the hardware is fast at it)
    memory_format: str = "auto"  # auto | channels_last | contiguous (auto = channels_last on CPU and CUDA)
    workers: int = -1  # DataLoader worker processes; -1 = auto from the CPU count, 0 = the training process
    cache: str = "auto"  # decoded-image cache: auto | memory | disk | none
    compile: bool = False  # torch.compile the model (for GPUs; falls back with a message if it fails)
    sync_bn: bool = False  # SyncBatchNorm across torchrun's processes (GPUs only)
    skip_bad: bool = False  # leave out unreadable samples (counted and reported) instead of failing
    name: str = ""  # run name, part of the run folder's name
    preset: str = ""  # the preset these settings started from (a record; the fields hold the settings)
    synthetic_count: int = 300  # images generated when data is "synthetic"
    synthetic_size: int = 128  # side of generated synthetic images

    def __post_init__(self) -> None:
        validate_train_config(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        return _from_dict(cls, values, source)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def with_absolute_paths(self) -> TrainConfig:
        """The same settings with the data folder and weight files as absolute paths, so a run made here
        evaluates, predicts and resumes from any directory. Run names in init_from stay names."""
        changes: dict[str, str] = {}
        if self.data != SYNTHETIC:
            changes["data"] = str(Path(self.data).expanduser().resolve())
        if self.encoder_weights:
            changes["encoder_weights"] = str(Path(self.encoder_weights).expanduser().resolve())
        if self.init_from and Path(self.init_from).expanduser().exists():
            changes["init_from"] = str(Path(self.init_from).expanduser().resolve())
        return self.replace(**changes) if changes else self


def validate_name(name: str, what: str = "run name") -> str:
    """Refuse names that could leave their folder or garble a terminal: '/', '..', control characters."""
    if not name or name in (".", ".."):
        raise ConfigError(f"{what}: must not be empty, '.' or '..'")
    if "/" in name or "\\" in name or ".." in name:
        raise ConfigError(f"{what}: {name!r} must not contain '/', '\\' or '..'")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ConfigError(f"{what}: {name!r} must not contain control characters")
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError(f"{what}: longer than {MAX_NAME_LENGTH} characters")
    return name


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(choices)}")


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name}: must be a positive number, got {value!r}")


def validate_train_config(config: TrainConfig) -> None:
    """Raise ConfigError naming the first field whose value cannot be used."""
    for f in fields(config):
        value = getattr(config, f.name)
        expected = {"int": int, "float": (int, float), "str": str, "bool": bool}[f.type]
        if (isinstance(value, bool) and f.type != "bool") or not isinstance(value, expected):
            raise ConfigError(f"{f.name}: expected {f.type}, got {value!r}")
    _check_choice("model", config.model, MODEL_CHOICES)
    _check_choice("loss", config.loss, LOSS_CHOICES)
    _check_choice("augment", config.augment, AUGMENT_CHOICES)
    _check_choice("scheduler", config.scheduler, SCHEDULER_CHOICES)
    _check_choice("device", config.device, DEVICE_CHOICES)
    _check_choice("precision", config.precision, PRECISION_CHOICES)
    _check_choice("memory_format", config.memory_format, MEMORY_FORMAT_CHOICES)
    _check_choice("cache", config.cache, CACHE_CHOICES)
    for name in ("epochs", "batch_size", "lr", "image_size", "width", "synthetic_count", "synthetic_size"):
        _check_positive(name, getattr(config, name))
    if config.image_size < 16:
        raise ConfigError(f"image_size: must be at least 16, got {config.image_size}")
    if config.weight_decay < 0 or not math.isfinite(config.weight_decay):
        raise ConfigError(f"weight_decay: must be >= 0, got {config.weight_decay!r}")
    if not 0 < config.val_fraction < 1:
        raise ConfigError(f"val_fraction: must be between 0 and 1 (exclusive), got {config.val_fraction!r}")
    if config.seed < 0:
        raise ConfigError(f"seed: must be >= 0, got {config.seed}")
    if config.workers < -1:
        raise ConfigError(f"workers: must be >= 0, or -1 for auto, got {config.workers}")
    if not config.data:
        raise ConfigError("data: give a dataset folder or 'synthetic'")
    if config.name:
        validate_name(config.name)
    if config.warmup_epochs < 0 or config.patience < 0:
        name = "warmup_epochs" if config.warmup_epochs < 0 else "patience"
        raise ConfigError(f"{name}: must be >= 0, got {getattr(config, name)}")
    if not (config.ema == 0 or 0 < config.ema < 1) or not math.isfinite(config.ema):
        raise ConfigError(f"ema: a decay between 0 and 1 (exclusive), or 0 for off; got {config.ema!r}")
    if config.encoder_weights and config.model != "resnet34_unet":
        raise ConfigError(f"encoder_weights: apply to resnet34_unet only, not {config.model}")
    if config.preset and config.preset not in PRESET_NAMES:
        raise ConfigError(f"preset: {config.preset!r} is not one of {', '.join(PRESET_NAMES)}")


def per_process_batch(global_batch: int, processes: int) -> int:
    """The batch each of `processes` training processes takes: batch_size is the global batch, split evenly."""
    if global_batch % processes:
        raise ConfigError(f"batch_size: the global batch {global_batch} does not split evenly over "
                          f"{processes} processes; use a multiple of {processes}")
    return global_batch // processes


def _from_dict(cls: type, values: dict[str, Any], source: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a JSON object, got {type(values).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}")
    try:
        return cls(**values)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


RECORD_KEYS = ("seglab_version", "runtime")  # written next to the fields, not part of the config


def save_config(config: TrainConfig, path: Path, runtime: dict[str, Any] | None = None) -> None:
    """Write every hyperparameter, the seglab version, and what 'auto' choices resolved to."""
    record = {**config.to_dict(), "seglab_version": __version__}
    if runtime is not None:
        record["runtime"] = runtime
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def load_config(path: Path) -> TrainConfig:
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid JSON ({error})") from None
    if isinstance(values, dict):
        for key in RECORD_KEYS:
            values.pop(key, None)
    return TrainConfig.from_dict(values, source=str(path))


PRESET_NAMES = ("paper", "small-data", "demo")

# `seglab demo`: a small UNet on generated data; trains to val Dice >= 0.9 in minutes on a laptop CPU.
DEMO_CONFIG = TrainConfig(model="unet", data=SYNTHETIC, epochs=8, batch_size=16, image_size=128, width=16,
                          name="demo", synthetic_count=300, synthetic_size=128, preset="demo")

# The original experiment: UNet, 256 px, AdamW 5e-4 (weight decay 0.01), batch 16, BCE-with-logits,
# horizontal flips, constant lr, no EMA, no early stop, training from scratch. (Precision stays a
# speed choice: auto; bench/README.md shows fp32 and bf16 reach the same Dice.)
PAPER_CONFIG = TrainConfig(model="unet", epochs=20, batch_size=16, lr=5e-4, image_size=256, width=64, loss="bce",
                           augment="flip", scheduler="none", warmup_epochs=0, weight_decay=1e-2, ema=0.0,
                           patience=0, preset="paper")

# The best recipe found for a few hundred real photos on a small CPU (bench/README.md, bench/recipe.py):
# about 19 minutes of training for oxford-pet-mini's 216 images on the project's 2-core CPU.
SMALL_DATA_CONFIG = TrainConfig(model="unet", epochs=170, batch_size=16, lr=1e-3, image_size=128, width=32,
                                loss="bce+dice", augment="standard", scheduler="cosine", warmup_epochs=3,
                                weight_decay=1e-2, ema=0.99, patience=0, preset="small-data")

PRESET_LABELS = {"paper": "paper: the original experiment", "small-data": "small-data: few real images",
                 "demo": "demo: synthetic data, a minute"}
# Starting points for `seglab train --preset` and the dashboard's form (name -> full config).
PRESETS: dict[str, TrainConfig] = {"paper": PAPER_CONFIG, "small-data": SMALL_DATA_CONFIG, "demo": DEMO_CONFIG}
