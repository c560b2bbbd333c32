"""Inference on a dataset split, a folder or image files: masks, overlays, results.csv, summary.json.

Each image is resized to the training size, predicted in batches under inference_mode, and its logits are resized
back to the original size; overlays are drawn by torchvision's draw_segmentation_masks. Binary masks are 0/255 grey
PNGs; multiclass masks are palette PNGs whose pixel values are class ids, coloured as in the overlays. Any number of
images streams through in bounded memory (core/inference/predict_stream.py); a rerun with the same settings picks
up where a stopped one ended (core/inference/predict_resume.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core.config import validate_name
from core.data.labels import Labels
from core.data.samples import Sample
from core.errors import ConfigError, DataError
from core.inference.engine_choice import load_engine
from core.inference.evaluation import check_task
from core.inference.model_lanes import lane_plan
from core.inference.predict_outputs import OVERLAY_COLOR  # noqa: F401 - where tests and callers find it
from core.inference.predict_resume import (
    checkpoint_identity,
    described,
    free_folder_name,
    prepare_folder,
    rows_in_order,
    sort_rows,
    source_of,
)
from core.inference.predict_stream import StreamCounts, predict_stream
from core.inference.results import ResultTotals, totals_of, write_summary
from core.inference.writers import check_class_names
from core.models.tta import check_tta
from core.run_data import split_samples
from core.runs.folders import Run, resolve_inside
from core.training.checkpoints import checkpoint_class_names, model_from_checkpoint
from core.training.state import checkpoint_epoch_label

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
ProgressCallback = Callable[[int, int], None]
NoticeCallback = Callable[[str], None]
ENGINES = ("torch", "onnx")  # onnx: ONNX Runtime on the CPU, through the export extra
ENGINE_CHOICES = ("auto", *ENGINES)  # auto: the faster on this machine, measured once (core/inference/engine_choice.py)


def collect_inputs(inputs: list[str | Path], recursive: bool = False) -> list[Sample]:
    """Image files as given, and the images inside given folders (sorted; `recursive`: in their subfolders too,
    hidden ones left out), as mask-less samples."""
    samples: list[Sample] = []
    for item in inputs:
        path = absolute_input(item)  # results.csv names each image so, from any folder
        if path.is_dir():
            found = _walk(path) if recursive else path.iterdir()
            files = sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not files:
                hint = "" if recursive or not unsearched_subfolders([path]) else " (its subfolders: --recursive)"
                raise DataError(path, f"no images ({', '.join(IMAGE_SUFFIXES)}) in this folder"
                                      f"{' or its subfolders' if recursive else ''}{hint}")
        elif path.is_file():
            files = [path]
        else:
            raise DataError(path, "no such file or folder")
        samples.extend(Sample(name=p.stem, image=p, mask=None, mask_kind="binary") for p in files)
    return samples


def absolute_input(item: str | Path) -> Path:
    """An input as the folder records it: absolute, with '..' and '~' resolved but links kept (the path the user
    knows), so `photos` and `../here/photos` are one input."""
    return Path(os.path.abspath(Path(item).expanduser()))


def unsearched_subfolders(inputs: list[str | Path]) -> list[Path]:
    """The subfolders (not hidden) of the given folders, which collect_inputs reads only when `recursive`. A
    directory listing's own file types, so a folder of 10,000 photos costs no stat a photo."""
    found: list[Path] = []
    for item in inputs:
        if Path(item).is_dir():
            with os.scandir(item) as entries:
                found += [Path(entry.path) for entry in entries if not entry.name.startswith(".") and entry.is_dir()]
    return sorted(found)


def _walk(folder: Path) -> Iterator[Path]:
    """Every file under `folder`, hidden folders left out; linked folders are followed, each folder once (a link
    back up the tree is not a loop)."""
    seen: set[tuple[int, int]] = set()
    for root, folders, files in os.walk(folder, followlinks=True):
        status = os.stat(root)
        if (status.st_dev, status.st_ino) in seen:
            folders[:] = []
            continue
        seen.add((status.st_dev, status.st_ino))
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        yield from (Path(root) / name for name in files)


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
    notice: NoticeCallback | None = None,
    recursive: bool = False,
    export: str | None = None,
) -> dict[str, Any]:
    """Predict every input image (or the run's `split` when no inputs) and write the results; `recursive`: the
    images in the subfolders of input folders too (without it, `notice` hears of subfolders left out); `export`:
    the labelling tool's format the caller will write the predictions in, whose rules for class names are checked
    before any image is read.

    tta='flip' averages the probabilities of each image and its mirror (core/inference/tta.py).
    engine='onnx' runs the checkpoint's dynamic ONNX export on ONNX Runtime's CPU provider, in fp32
    (core/inference/export.py makes it on first use); engine='auto' picks torch or onnx by a measurement cached
    per machine and checkpoint (core/inference/engine_choice.py).

    Output goes to run/predictions/<output_name>/ (default: the split name, or 'files'). Rows are appended to
    results.csv as images finish, in input order; a rerun with the same settings skips the images already there,
    one with other settings (checkpoint, engine, TTA...) starts the folder over. `stop` ends the run after the
    batches in hand (one a model lane), with results.csv and summary.json ("complete": false) of what was done.
    `notice` hears one-line news for the user (the engine chosen, resuming, starting over). The task and classes
    come from the checkpoint; `task`, when given, must be its task. Returns the summary that is also written to
    summary.json.
    """
    check_tta(tta)
    if engine not in ENGINE_CHOICES:
        raise ConfigError(f"engine: {engine!r} is not one of {', '.join(ENGINE_CHOICES)}")
    weights = run.checkpoint_path(checkpoint)
    model, config, payload = model_from_checkpoint(weights)
    check_task(config, weights, task)
    labels = Labels(config.task, checkpoint_class_names(payload, config), config.ignore_index)
    if export is not None:
        check_class_names(export, labels.names)
    samples = collect_inputs(inputs, recursive) if inputs else split_samples(config, split)
    skipped_folders = unsearched_subfolders(inputs) if inputs and not recursive else []
    if notice is not None and skipped_folders:
        several = len(skipped_folders) > 1
        notice(f"{len(skipped_folders)} subfolder{'s' if several else ''} of the input not searched (e.g. "
               f"{skipped_folders[0]}); --recursive reads {'them' if several else 'it'} too")
    source = [str(absolute_input(item)) for item in inputs] if inputs else f"split:{split}"
    base = "files" if inputs else split
    name = validate_name(output_name or free_folder_name(run.predictions_dir, base, source), "prediction output name")
    if notice is not None and name != (output_name or base):
        notice(f"predictions/{base} holds the predictions of {described(source_of(run.predictions_dir / base))}; "
               f"writing predictions/{name}")
    out_dir = run.predictions_dir / name
    resolve_inside(out_dir, run.path, "prediction output")  # a symlinked output folder must not lead out

    loaded = load_engine(engine, run, checkpoint, model, config, device, batch_size)
    choice = loaded.choice
    if notice is not None and engine == "auto":
        notice(f"engine: {choice.engine} ({choice.reason})")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {**checkpoint_identity(weights), "task": labels.task, "image_size": config.image_size,
                "engine": choice.engine, **loaded.runtime.describe(), "tta": tta, "alpha": alpha,
                "batch_size": batch_size}
    stems = _unique_names(samples)
    keys = [(stem, str(sample.image)) for sample, stem in zip(samples, stems, strict=True)]
    resumed = prepare_folder(out_dir, settings, keys, labels, source)
    if notice is not None and resumed.notice:
        notice(resumed.notice)

    started = time.perf_counter()
    counts = StreamCounts(ResultTotals(labels))
    plan = lane_plan(loaded.model, loaded.runtime.device)
    predict_stream(samples, keys, resumed.done, loaded.model, loaded.runtime, config.image_size, labels, out_dir,
                   batch_size=batch_size, alpha=alpha, tta=tta, skip_bad=skip_bad, counts=counts, stop=stop,
                   progress=progress, plan=plan)
    totals = counts.totals  # the unrounded scores, summed in input order: the same means as before streaming
    in_order = rows_in_order(out_dir, keys)
    if not in_order:
        sort_rows(out_dir, keys, labels)
    if resumed.done or not in_order:
        totals = totals_of(out_dir, labels)  # resumed rows are known to results.csv's six decimals only
    complete = len(resumed.done) + counts.predicted + counts.skipped == len(samples)
    return write_summary(out_dir, totals, {
        "run": str(run.path), "checkpoint": str(weights.resolve()), "epoch": payload["epoch"],
        "trained": checkpoint_epoch_label(payload), "precision": loaded.runtime.precision, "tta": tta,
        "engine": choice.engine, "engine_choice": choice.summary(), "model_lanes": plan.lanes,
        "class_names": list(labels.names),
        "input": source,
        "complete": complete, "resumed": len(resumed.done), "predicted": counts.predicted,
        "seconds": round(time.perf_counter() - started, 3), "skipped": counts.skipped,
        "skipped_examples": counts.skipped_examples,
    })

