"""Inference on a dataset split, a folder or image files: masks, overlays, results.csv, summary.json.

Each image is resized to the training size, predicted in batches under inference_mode, and its
logits are resized back to the original size; overlays are drawn by torchvision's
draw_segmentation_masks. Binary masks are 0/255 grey PNGs; multiclass masks are palette PNGs whose
pixel values are class ids, coloured as in the overlays.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.utils import draw_segmentation_masks

from core.config import validate_name
from core.data.images import load_pair, open_rgb
from core.data.labels import Labels, class_colour, palette
from core.data.samples import Sample
from core.data.transforms import normalize, resize_image
from core.device import resolve_runtime
from core.errors import ConfigError, DataError
from core.inference.evaluation import check_task
from core.inference.results import PredictionRow, mask_path, overlay_path, write_results
from core.metrics import confusion_per_image, dice_iou_from_counts
from core.models.tta import check_tta, predict_logits
from core.run_data import split_samples
from core.runs.folders import Run, resolve_inside
from core.training.checkpoints import checkpoint_class_names, model_from_checkpoint
from core.training.state import checkpoint_epoch_label

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
OVERLAY_COLOR = (255, 40, 40)
ProgressCallback = Callable[[int, int], None]
ENGINES = ("torch", "onnx")  # onnx: ONNX Runtime on the CPU, through the export extra


def collect_inputs(inputs: list[str | Path]) -> list[Sample]:
    """Image files as given, and the images inside given folders (sorted), as mask-less samples."""
    samples: list[Sample] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not files:
                raise DataError(path, f"no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        elif path.is_file():
            files = [path]
        else:
            raise DataError(path, "no such file or folder")
        samples.extend(Sample(name=p.stem, image=p, mask=None, mask_kind="binary") for p in files)
    return samples


def _unique_names(samples: list[Sample]) -> list[str]:
    """Output stems, one per sample: a repeated stem gets -2, -3... skipping stems other inputs really have."""
    taken = {sample.name for sample in samples}
    used: set[str] = set()
    names = []
    for sample in samples:
        name, n = sample.name, 1
        while name in used or (name != sample.name and name in taken):
            n += 1
            name = f"{sample.name}-{n}"
        used.add(name)
        names.append(name)
    return names


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def predict(
    run: Run,
    *,
    inputs: list[str | Path] | None = None,
    split: str = "test",
    checkpoint: str = "best",
    output_name: str | None = None,
    batch_size: int = 8,
    alpha: float = 0.5,
    device: str = "auto",
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    skip_bad: bool = False,
    tta: str = "none",
    task: str | None = None,
    engine: str = "torch",
) -> dict[str, Any]:
    """Predict every input image (or the run's `split` when no inputs) and write the results.

    tta='flip' averages the probabilities of each image and its mirror (core/inference/tta.py).
    engine='onnx' runs the checkpoint's dynamic ONNX export on ONNX Runtime's CPU provider, in fp32
    (core/inference/export.py makes it on first use).

    Output goes to run/predictions/<output_name>/ (default: the split name, or 'files').
    The task and classes come from the checkpoint; `task`, when given, must be its task.
    Returns the summary that is also written to summary.json.
    """
    check_tta(tta)
    model, config, payload = model_from_checkpoint(run.checkpoint_path(checkpoint))
    check_task(config, run.checkpoint_path(checkpoint), task)
    labels = Labels(config.task, checkpoint_class_names(payload, config), config.ignore_index)
    if engine not in ENGINES:
        raise ConfigError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    if engine == "onnx":
        from core.inference.export import onnx_model_for

        model = onnx_model_for(run, checkpoint)
        runtime = resolve_runtime("cpu", "fp32", "contiguous")
    else:
        runtime = resolve_runtime(device, config.precision, config.memory_format)
        runtime.prepare_host_memory()
        model = runtime.prepare_model(model)
    samples = collect_inputs(inputs) if inputs else split_samples(config, split)
    name = validate_name(output_name or ("files" if inputs else split), "prediction output name")
    out_dir = run.predictions_dir / name
    resolve_inside(out_dir, run.path, "prediction output")  # a symlinked output folder must not lead out
    out_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    rows: list[PredictionRow] = []
    skipped: list[str] = []
    names = _unique_names(samples)
    for batch in _batches(list(zip(samples, names, strict=True)), batch_size):
        if stop is not None and stop.is_set():
            break
        batch = _open_batch(batch, labels, skipped if skip_bad else None)
        if not batch:
            continue
        images = [opened.image for opened in batch]
        x = runtime.prepare_batch(normalize(torch.stack([resize_image(image, config.image_size) for image in images])))
        with torch.inference_mode(), runtime.autocast():
            logits = predict_logits(model, x, tta, labels.multiclass).float().cpu()
        for opened, logit in zip(batch, logits, strict=True):
            rows.append(_write_one(out_dir, opened, logit, alpha, labels))
        if progress is not None:
            progress(len(rows) + len(skipped), len(samples))

    return write_results(out_dir, rows, labels, {
        "run": str(run.path), "checkpoint": str(run.checkpoint_path(checkpoint)), "epoch": payload["epoch"],
        "trained": checkpoint_epoch_label(payload), "precision": runtime.precision, "tta": tta, "engine": engine,
        "class_names": list(labels.names),
        "input": [str(p) for p in inputs] if inputs else f"split:{split}",
        "seconds": round(time.perf_counter() - started, 3), "skipped": len(skipped), "skipped_examples": skipped[:5],
    })


@dataclass
class _Opened:
    """A sample read in full before anything is written for it: its image and, when it has one, its 0/1 mask."""

    sample: Sample
    stem: str
    image: Image.Image
    truth: np.ndarray | None


def _open_one(sample: Sample, stem: str, labels: Labels) -> _Opened:
    if sample.mask is None:
        return _Opened(sample, stem, open_rgb(sample.image), None)
    image, truth = load_pair(sample, labels)  # the mask is read and its size checked here, before any file is written
    return _Opened(sample, stem, image, truth)


def _open_batch(batch: list, labels: Labels, skipped: list[str] | None) -> list[_Opened]:
    """Open each sample of a batch (image and mask); with a `skipped` list, unreadable ones are noted there
    and left out, so a skipped sample writes nothing."""
    opened = []
    for sample, stem in batch:
        try:
            opened.append(_open_one(sample, stem, labels))
        except DataError as error:
            if skipped is None:
                raise
            skipped.append(str(error))
    return opened


def _write_one(out_dir: Path, opened: _Opened, logit: torch.Tensor, alpha: float, labels: Labels) -> PredictionRow:
    image, stem = opened.image, opened.stem
    width, height = image.size
    full = F.interpolate(logit[None], size=(height, width), mode="bilinear", align_corners=False)[0]
    pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
    if labels.multiclass:
        return _write_classes(out_dir, opened, full, pixels, alpha, labels)
    mask = full[0] > 0  # sigmoid(logit) > 0.5
    overlay = draw_segmentation_masks(pixels, mask[None], alpha=alpha, colors=[OVERLAY_COLOR])
    Image.fromarray(overlay.permute(1, 2, 0).numpy()).save(overlay_path(out_dir, stem))
    Image.fromarray(mask.numpy().astype(np.uint8) * 255, mode="L").save(mask_path(out_dir, stem))
    dice = iou = None
    if opened.truth is not None:
        truth = torch.from_numpy(opened.truth)
        tp, fp, fn = confusion_per_image(full[None], truth[None, None].float())
        dice_t, iou_t = dice_iou_from_counts(tp, fp, fn)
        dice, iou = float(dice_t[0]), float(iou_t[0])
    return PredictionRow(stem, width, height, float(mask.float().mean()), dice, iou, out_dir,
                         image=str(opened.sample.image))


def _write_classes(out_dir: Path, opened: _Opened, full: torch.Tensor, pixels: torch.Tensor, alpha: float,
                   labels: Labels) -> PredictionRow:
    """A multiclass image's palette mask (pixel values = class ids), overlay (one colour per foreground class)
    and row with each class's Dice (None where the class is in neither truth nor prediction)."""
    from core.class_metrics import class_counts, image_class_scores

    class_map = full.argmax(dim=0)
    foreground = [class_map == index for index in range(1, labels.classes)]
    overlay = draw_segmentation_masks(pixels, torch.stack(foreground), alpha=alpha,
                                      colors=[class_colour(index) for index in range(1, labels.classes)])
    Image.fromarray(overlay.permute(1, 2, 0).numpy()).save(overlay_path(out_dir, opened.stem))
    mask_image = Image.fromarray(class_map.numpy().astype(np.uint8), mode="P")
    mask_image.putpalette(palette(labels.classes))
    mask_image.save(mask_path(out_dir, opened.stem))
    dice = iou = None
    class_dice: dict[str, float | None] = {}
    if opened.truth is not None:
        truth = torch.from_numpy(opened.truth.astype(np.int64))
        counts = class_counts(full[None], truth[None], labels.classes, labels.ignore_index)[0]
        dices, ious = image_class_scores(counts)
        class_dice = {name: _present(value) for name, value in zip(labels.names, dices, strict=True)}
        dice, iou = _foreground_mean(dices), _foreground_mean(ious)
    width, height = opened.image.size
    return PredictionRow(opened.stem, width, height, float((class_map > 0).float().mean()), dice, iou, out_dir,
                         class_dice, image=str(opened.sample.image))


def _present(value: float) -> float | None:
    return None if value != value else float(value)  # NaN: the class is in neither truth nor prediction


def _foreground_mean(values: list[float]) -> float | None:
    """The mean over foreground classes present in the image (truth or prediction); None when none is."""
    present = [value for value in values[1:] if value == value]
    return sum(present) / len(present) if present else None
