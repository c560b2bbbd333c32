"""Images through the model as a stream: decoded in threads (Pillow releases the GIL) a batch ahead, predicted in
batches of the model's input size, resized back and scored on the model's thread (the torch ops), their PNGs
written in threads, and each image's row appended to results.csv in input order once its files are whole. At most
three batches are in flight, so memory does not grow with the number of images."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.data.labels import Labels
from core.data.samples import Sample
from core.data.transforms import normalize
from core.device import Runtime
from core.errors import DataError
from core.inference.predict_outputs import OpenedImage, open_image, outcome_of, write_prediction
from core.inference.predict_resume import Key, ResultsAppender
from core.inference.results import PredictionRow, ResultTotals
from core.models.tta import predict_logits

SKIPPED_EXAMPLES = 5
THREADS = max(1, min(8, os.cpu_count() or 1))  # decoding and writing


@dataclass
class StreamCounts:
    """What a stream did: rows appended (and their unrounded totals, in input order) and images skipped."""

    totals: ResultTotals
    predicted: int = 0
    skipped: int = 0
    skipped_examples: list[str] = field(default_factory=list)

    def add(self, row: PredictionRow) -> None:
        self.predicted += 1
        self.totals.add(row)

    def skip(self, error: DataError) -> None:
        self.skipped += 1
        if len(self.skipped_examples) < SKIPPED_EXAMPLES:
            self.skipped_examples.append(str(error))


def batches_to_run(keys: list[Key], done: set[Key], batch_size: int) -> list[range]:
    """The input's batches (always cut at multiples of `batch_size`, so a resumed run feeds the model exactly the
    batches an uninterrupted one does: the same logits to the bit) that hold an image not yet done."""
    starts = range(0, len(keys), batch_size)
    batches = [range(start, min(start + batch_size, len(keys))) for start in starts]
    return [batch for batch in batches if any(keys[index] not in done for index in batch)]


def predict_stream(samples: list[Sample], keys: list[Key], done: set[Key], model, runtime: Runtime, size: int,
                   labels: Labels, out_dir: Path, *, batch_size: int, alpha: float, tta: str, skip_bad: bool,
                   counts: StreamCounts, stop: threading.Event | None = None,
                   progress: Callable[[int, int], None] | None = None) -> None:
    """Predict the samples not in `done` and append their rows to out_dir's results.csv, in input order.

    Returns when all are done or after the batch in hand once `stop` is set; an error (an unreadable image
    without `skip_bad`, a full disk) is raised after the rows of the images before it are appended."""
    total = len(samples)
    batches = batches_to_run(keys, done, batch_size)
    finished = len(done)
    # On the CPU the model's threads take every core: the threads' work (this batch's files, the next batch's
    # decoding) runs between forward passes, not beside them, where it would stall the model's threads at each
    # of their barriers. A GPU's forward pass leaves the cores free: there both run at once.
    between_batches = runtime.device.type == "cpu"
    if progress is not None:
        progress(finished, total)

    def open_one(index: int) -> OpenedImage:
        return open_image(samples[index], keys[index][0], labels, size)

    def decode(position: int) -> list[tuple[int, Future]]:
        return [(index, pool.submit(open_one, index)) for index in batches[position]] if position < len(batches) else []

    appender = ResultsAppender(out_dir, labels)
    pool = ThreadPoolExecutor(THREADS, thread_name_prefix="seglab-predict")
    writes: deque[Future] = deque()
    upcoming = decode(0)

    def append_finished(limit: int) -> None:
        nonlocal finished
        while writes and (writes[0].done() or len(writes) > limit):
            row = writes.popleft().result()
            appender.append(row)
            counts.add(row)
            finished += 1

    try:
        for position in range(len(batches)):
            if stop is not None and stop.is_set():
                break
            opened = []
            for index, future in upcoming:
                try:
                    opened.append((index, future.result()))
                except DataError as error:
                    if not skip_bad:
                        raise
                    counts.skip(error)
            upcoming = [] if between_batches else decode(position + 1)
            if opened:
                x = runtime.prepare_batch(normalize(torch.stack([image.resized for _, image in opened])))
                with torch.inference_mode():
                    with runtime.autocast():
                        logits = predict_logits(model, x, tta, labels.multiclass).float().cpu()
                    outcomes = [(image, outcome_of(image, logit, labels))
                                for (index, image), logit in zip(opened, logits, strict=True)
                                if keys[index] not in done]
                writes.extend(pool.submit(write_prediction, out_dir, image, outcome, alpha, labels)
                              for image, outcome in outcomes)
            if between_batches:
                upcoming = decode(position + 1)
                wait([future for _, future in upcoming])
            append_finished(limit=0 if between_batches else 2 * batch_size)
            if progress is not None:
                progress(finished + counts.skipped, total)
        append_finished(limit=0)
    finally:
        for _, future in upcoming:
            future.cancel()
        try:
            append_finished(limit=0)  # the images already in hand, whatever ended the loop
        finally:
            for future in writes:
                future.cancel()
            appender.close()
            pool.shutdown(wait=False, cancel_futures=True)
    if progress is not None:
        progress(finished + counts.skipped, total)
