"""Images through the model as a stream: decoded ahead in threads (Pillow releases the GIL), predicted in batches
of the model's input size, their PNGs written behind in threads, and each image's row appended to results.csv in
input order once its files are whole. At most a few batches are in flight, so memory does not grow with the
number of images."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.data.labels import Labels
from core.data.samples import Sample
from core.data.transforms import normalize
from core.device import Runtime
from core.errors import DataError
from core.inference.predict_outputs import OpenedImage, open_image, write_prediction
from core.inference.predict_resume import Key, ResultsAppender
from core.inference.results import PredictionRow, ResultTotals
from core.models.tta import predict_logits

SKIPPED_EXAMPLES = 5
THREADS = max(1, min(4, os.cpu_count() or 1))  # per stage: decoding, writing


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


def read_ahead(pool: ThreadPoolExecutor, function: Callable, items: Iterable, ahead: int) -> Iterator[Future]:
    """function(item) for each item, run in `pool` at most `ahead` items beyond the one being consumed; the
    futures come in input order."""
    pending: deque[Future] = deque()
    try:
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) > ahead:
                yield pending.popleft()
        while pending:
            yield pending.popleft()
    finally:
        for future in pending:
            future.cancel()


def predict_stream(samples: list[Sample], keys: list[Key], done: set[Key], model, runtime: Runtime, size: int,
                   labels: Labels, out_dir: Path, *, batch_size: int, alpha: float, tta: str, skip_bad: bool,
                   counts: StreamCounts, stop: threading.Event | None = None,
                   progress: Callable[[int, int], None] | None = None) -> None:
    """Predict the samples not in `done` and append their rows to out_dir's results.csv, in input order.

    Returns when all are done or after the batch in hand once `stop` is set; an error (an unreadable image
    without `skip_bad`, a full disk) is raised after the rows of the images before it are appended."""
    total = len(samples)
    batches = batches_to_run(keys, done, batch_size)
    indices = [index for batch in batches for index in batch]
    finished = len(done)
    if progress is not None:
        progress(finished, total)

    def open_one(index: int) -> OpenedImage:
        return open_image(samples[index], keys[index][0], labels, size)

    def write_one(opened: OpenedImage, logit: torch.Tensor) -> PredictionRow:
        with torch.inference_mode():
            return write_prediction(out_dir, opened, logit, alpha, labels)

    appender = ResultsAppender(out_dir, labels)
    readers = ThreadPoolExecutor(THREADS, thread_name_prefix="seglab-decode")
    writers = ThreadPoolExecutor(THREADS, thread_name_prefix="seglab-write")
    writes: deque[Future] = deque()
    decoded = read_ahead(readers, open_one, indices, ahead=2 * batch_size)

    def append_finished(limit: int) -> None:
        nonlocal finished
        while writes and (writes[0].done() or len(writes) > limit):
            row = writes.popleft().result()
            appender.append(row)
            counts.add(row)
            finished += 1

    try:
        for batch in batches:
            if stop is not None and stop.is_set():
                break
            opened = []
            for index in batch:
                try:
                    opened.append((index, next(decoded).result()))
                except DataError as error:
                    if not skip_bad:
                        raise
                    counts.skip(error)
            if opened:
                x = runtime.prepare_batch(normalize(torch.stack([image.resized for _, image in opened])))
                with torch.inference_mode(), runtime.autocast():
                    logits = predict_logits(model, x, tta, labels.multiclass).float().cpu()
                writes.extend(writers.submit(write_one, image, logit)
                              for (index, image), logit in zip(opened, logits, strict=True) if keys[index] not in done)
            append_finished(limit=2 * batch_size)
            if progress is not None:
                progress(finished + counts.skipped, total)
        append_finished(limit=0)
    finally:
        decoded.close()
        try:
            append_finished(limit=0)  # the images already in hand, whatever ended the loop
        finally:
            for future in writes:
                future.cancel()
            appender.close()
            readers.shutdown(wait=False, cancel_futures=True)
            writers.shutdown(wait=False, cancel_futures=True)
    if progress is not None:
        progress(finished + counts.skipped, total)
