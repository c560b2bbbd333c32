"""How long a run will take, before it starts: the throughput a finished run recorded on this machine for the
same settings, else a short measured probe of the model's training step and evaluation pass on this device
plus the data's decode and augmentation costs; times the run's steps.

Runs record what their epochs really took (record_run_throughput, called by the engine) in the cache folder's
throughput.json, under everything that sets the speed; a probe's answer is kept for the process only (a probe
taken while the machine was busy must not outlive the moment).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from core.atomic_files import atomic_write_text
from core.config import SYNTHETIC, TrainConfig
from core.data.augment import augment_pair
from core.data.dataset import SegmentationDataset
from core.data.samples import Sample
from core.data.synthetic import split_counts
from core.device import Runtime, cpu_model, resolve_runtime
from core.losses import build_loss
from core.models import count_parameters
from core.run_data import cache_root, run_labels, split_samples, synthetic_folder, with_resolved_classes
from core.run_model import model_for
from core.training.loops import build_optimizer, optimizer_step

RUN_OVERHEAD_S = 0.6  # per run: setup, the first epoch's kernel warm-up, curves.png (profiled on the demo)
EPOCH_OVERHEAD_S = 0.05  # per epoch: status, events and the checkpoints' fixed costs
CHECKPOINT_BYTES_PER_S = 500e6  # writing last.pt (weights, AdamW's two moments, EMA) and best.pt
PROBE_SECONDS = 2.0  # a timed training step should take about this long: the probe batch is sized to it
PROBE_STEPS = 2  # timed steps after the warm-up one
DATA_PROBE_SAMPLES = 4
THROUGHPUT_FILE = "throughput.json"


@dataclass(frozen=True)
class Throughput:
    """Measured costs per image on one device for one model setting."""

    train_s: float  # one image's share of a training step (forward, loss, backward, AdamW)
    eval_s: float  # one image's share of an evaluation forward pass


@dataclass(frozen=True)
class DurationEstimate:
    """The expected wall time of a run, and what it is made of."""

    seconds: float  # data preparation + every epoch
    epochs: int
    epoch_s: float
    prepare_s: float  # decoding and resizing every image once (the cache fill)
    train_images: int
    val_images: int
    device: str  # "this CPU", "this GPU (name)"
    source: str  # "probe" (measured now) or "recorded" (measured before, same settings and machine)
    time_budget_min: float = 0.0

    def describe(self) -> str:
        """One line: "about 4 h 10 min on this CPU (170 epochs of about 88 s)"."""
        length = format_duration(self.epoch_s) if self.epoch_s >= 0.5 else None  # "1 s" for 0.4 s overstates it
        epochs = f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}"
        if self.time_budget_min:
            return (f"about {format_duration(self.time_budget_min * 60)} on {self.device} (the time budget: "
                    f"about {epochs} of {length or 'under a second'})")
        return (f"about {format_duration(self.seconds)} on {self.device} ({epochs} of "
                f"{f'about {length}' if length else 'under a second'})")


def format_duration(seconds: float) -> str:
    """Rounded the way people say it: 40 s, 3 min, 1 h 20 min, 14 h."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours >= 10:
        return f"{round(seconds / 3600)} h"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class ProbeCancelled(Exception):
    """The caller no longer wants the estimate (the form closed, or asked again with other settings)."""


def estimate_duration(config: TrainConfig, use_recorded: bool = True, probe: bool = True,
                      cancelled: Callable[[], bool] | None = None) -> DurationEstimate | None:
    """The run's expected duration on the device it would use (one process); None when nothing is recorded for
    these settings and `probe` is off. `cancelled` is asked between the probe's steps (each up to PROBE_SECONDS):
    once it says yes the probe stops with ProbeCancelled, so a closed form leaves no CPU work behind."""
    config = with_resolved_classes(config)
    runtime = resolve_runtime(config.device, config.precision, config.memory_format)
    key = throughput_key(config, runtime)
    throughput = _recorded(key) if use_recorded else None
    source = "recorded" if throughput is not None else "probe"
    if throughput is None:
        if key not in _PROBED:
            if not probe:
                return None
            _PROBED[key] = probe_throughput(config, runtime, cancelled)
        throughput = _PROBED[key]
    train_samples = None if config.data == SYNTHETIC else split_samples(config, "train")
    train_images, val_images = split_sizes(config, train_samples)
    decode_s, augment_s = _data_costs(config, train_samples)
    if source == "recorded":
        augment_s = 0.0  # a real epoch's training time already holds its data loading
    steps = train_images // config.batch_size if train_images > config.batch_size else 1
    trained = steps * config.batch_size
    epoch_s = (trained * (throughput.train_s + augment_s) + val_images * throughput.eval_s + EPOCH_OVERHEAD_S
               + _checkpoint_bytes(config) / CHECKPOINT_BYTES_PER_S)
    if config.cache == "none":
        epoch_s += (trained + val_images) * decode_s
    prepare_s = RUN_OVERHEAD_S + (0.0 if config.cache == "none" else (train_images + val_images) * decode_s)
    epochs = config.epochs
    if config.time_budget:
        epochs = max(1, round(config.time_budget * 60 / max(epoch_s, 1e-9)))
    return DurationEstimate(prepare_s + epochs * epoch_s, epochs, epoch_s, prepare_s, train_images, val_images,
                            _device_words(runtime), source, config.time_budget)


_PROBED: dict[str, Throughput] = {}  # this process's probes, by throughput_key


def _checkpoint_bytes(config: TrainConfig) -> int:
    """About what an epoch writes: last.pt (fp32 weights, AdamW's two moments, the EMA's copy) and best.pt."""
    with torch.device("meta"):  # the shapes only: no memory, no compute
        parameters = count_parameters(model_for(config))
    copies = 3 + (1 if config.ema else 0) + 1
    return 4 * copies * parameters


def record_run_throughput(config: TrainConfig, runtime: Runtime, train_seconds: list[float],
                          eval_seconds: list[float], train_images: int, val_images: int) -> None:
    """Keep what a finished run's epochs took per image (their median, the first epoch left out when there are
    others: it warms kernels up and, with workers, fills the cache) for the next estimate of these settings."""
    if not train_seconds or train_images <= 0:
        return
    steady = slice(1, None) if len(train_seconds) > 1 else slice(None)
    throughput = Throughput(train_s=statistics.median(train_seconds[steady]) / train_images,
                            eval_s=statistics.median(eval_seconds[steady]) / max(val_images, 1))
    _record(throughput_key(config, runtime), throughput)


def split_sizes(config: TrainConfig, train_samples: list[Sample] | None = None) -> tuple[int, int]:
    """Train and val images of the run's data (the synthetic set counted without generating it); a folder's
    train split already listed can be handed in."""
    if config.data == SYNTHETIC:
        counts = split_counts(config.synthetic_count)
        return counts["train"], counts["val"]
    train = train_samples if train_samples is not None else split_samples(config, "train")
    return len(train), len(split_samples(config, "val"))


def probe_throughput(config: TrainConfig, runtime: Runtime, cancelled: Callable[[], bool] | None = None
                     ) -> Throughput:
    """Time training steps and an evaluation pass of the run's model on random data of its size.

    A two-image step (after a warm-up one) sizes the probe batch: the run's batch, or fewer images when a step
    of the run's batch would take longer than PROBE_SECONDS (big models on a CPU scale per image); then one
    warm-up step and PROBE_STEPS timed ones at that batch, and an evaluation pass. Between any two of them,
    `cancelled()` saying yes raises ProbeCancelled.
    """

    def check() -> None:
        if cancelled is not None and cancelled():
            raise ProbeCancelled

    check()
    torch.manual_seed(0)
    model = runtime.prepare_model(model_for(config))
    optimizer = build_optimizer(model, config, runtime)
    loss_fn = build_loss(config.loss, config.task, None, config.ignore_index)
    # Two images, not one: BatchNorm after a global pooling (DeepLab's ASPP) cannot train on a batch of one.
    smallest = min(2, config.batch_size)
    first = random_training_step(model, runtime, loss_fn, optimizer, smallest, config.image_size, config.out_channels)
    warm = first()  # the first call warms kernels up
    check()
    one = min(warm, first()) / smallest
    batch = max(smallest, min(config.batch_size, int(PROBE_SECONDS / max(one, 1e-6))))
    step = random_training_step(model, runtime, loss_fn, optimizer, batch, config.image_size, config.out_channels)
    check()
    step()  # warm-up at this shape
    timed = []
    for _ in range(PROBE_STEPS):
        check()
        timed.append(step())
    train_s = statistics.median(timed) / batch
    model.eval()
    images = runtime.prepare_batch(torch.randn(batch, 3, config.image_size, config.image_size))
    eval_times = []
    for _ in range(2):  # warm-up, then timed
        check()
        started = time.perf_counter()
        with torch.inference_mode(), runtime.autocast():
            model(images).float().sum().item()
        eval_times.append(time.perf_counter() - started)
    return Throughput(train_s=train_s, eval_s=eval_times[-1] / batch)


def random_training_step(model: nn.Module, runtime: Runtime, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                         batch: int, size: int, out_channels: int = 1) -> Callable[[], float]:
    """One optimizer step of `model` on a fixed random batch as the engine trains (autocast forward, the loss in
    fp32, the runtime's GradScaler): a callable that runs one and returns its seconds (a GPU synchronised)."""
    scaler = runtime.grad_scaler()
    images = runtime.prepare_batch(torch.randn(batch, 3, size, size))
    if out_channels > 1:
        masks = runtime.prepare_batch(torch.randint(0, out_channels, (batch, size, size)))
    else:
        masks = runtime.prepare_batch((torch.rand(batch, 1, size, size) > 0.5).float())

    def step() -> float:
        model.train()
        started = time.perf_counter()
        optimizer_step(model, images, masks, loss_fn, optimizer, scaler, runtime)
        if runtime.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    return step


def _data_costs(config: TrainConfig, train_samples: list[Sample] | None) -> tuple[float, float]:
    """Seconds per image to decode and resize one sample (the cache fill), and to augment it (every epoch),
    from a few of the train split's samples; the synthetic set before it exists: none."""
    if train_samples is None:
        if not _synthetic_exists(config):
            return 0.0, 0.0
        train_samples = split_samples(config, "train")
    samples = train_samples[:DATA_PROBE_SAMPLES]
    dataset = SegmentationDataset(samples, config.image_size, augment=config.augment, labels=run_labels(config))
    started = time.perf_counter()
    decoded = [dataset.decode(index) for index in range(len(samples))]
    decode_s = (time.perf_counter() - started) / len(samples)
    started = time.perf_counter()
    for image, mask in decoded:
        augment_pair(image, mask, config.augment)
    augment_s = (time.perf_counter() - started) / len(samples)
    return decode_s, augment_s


def _synthetic_exists(config: TrainConfig) -> bool:
    return (synthetic_folder(config) / "synthetic.json").is_file()


def _device_words(runtime: Runtime) -> str:
    if runtime.device.type == "cuda":
        return f"this GPU ({torch.cuda.get_device_name(runtime.device)})"
    return f"this {runtime.device.type.upper()}"


def throughput_key(config: TrainConfig, runtime: Runtime) -> str:
    """Everything that sets an epoch's speed per image: machine, torch, threads, the model's shape and numerics,
    and what a real epoch adds to the model's step (augmentation, the weights' moving average, compilation)."""
    machine = torch.cuda.get_device_name(runtime.device) if runtime.device.type == "cuda" else cpu_model()
    parts = (machine, torch.__version__, torch.get_num_threads(), config.model, config.width, config.image_size,
             config.batch_size, config.out_channels, config.loss, runtime.precision, runtime.channels_last,
             config.augment, bool(config.ema), config.compile)
    return "|".join(map(str, parts))




@dataclass(frozen=True)
class RecordedSpeed:
    """What finished runs of one model measured on this machine, at one width and image size."""

    model: str
    width: int
    image_size: int
    train_images_s: float
    eval_images_s: float


def recorded_speeds() -> dict[str, list[RecordedSpeed]]:
    """The training and evaluation images/s that finished runs recorded on this machine (this CPU, or GPU by
    name), by model, fastest first; empty when none did."""
    try:
        records = json.loads(_throughput_path().read_text())
    except (OSError, ValueError):
        return {}
    machines = {cpu_model(), *(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))}
    found: dict[str, list[RecordedSpeed]] = {}
    for key, record in (records.items() if isinstance(records, dict) else ()):
        parts = str(key).split("|")
        try:
            machine, model, width, size = parts[0], parts[3], int(parts[4]), int(parts[5])
            speed = RecordedSpeed(model, width, size, 1 / float(record["train_s"]), 1 / float(record["eval_s"]))
        except (IndexError, ValueError, KeyError, TypeError, ZeroDivisionError):
            continue
        if machine in machines:
            found.setdefault(model, []).append(speed)
    return {model: sorted(speeds, key=lambda s: -s.train_images_s) for model, speeds in found.items()}


def _throughput_path() -> Path:
    return cache_root() / THROUGHPUT_FILE


def _recorded(key: str) -> Throughput | None:
    try:
        record = json.loads(_throughput_path().read_text()).get(key)
        return Throughput(**record) if record else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None  # missing or unreadable: probe again


def _record(key: str, throughput: Throughput) -> None:
    path = _throughput_path()
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        records = {}
    if not isinstance(records, dict):
        records = {}
    records[key] = asdict(throughput)
    try:
        os.makedirs(path.parent, exist_ok=True)
        atomic_write_text(path, json.dumps(records, indent=1) + "\n")
    except OSError:
        pass  # a read-only cache folder only costs a probe next time

