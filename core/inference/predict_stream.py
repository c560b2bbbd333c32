"""Images through the model as a stream: decoded in threads (Pillow releases the GIL) ahead of the model, predicted
in batches of the model's input size by one or more model lanes (core/inference/model_lanes.py), resized back and
scored on the lane's thread (the torch ops), their PNGs written in threads, and each image's row appended to
results.csv in input order once its files are whole. A few batches per lane are in flight at most, so memory does
not grow with the number of images."""

from __future__ import annotations

import os
import threading
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
from core.inference.model_lanes import BatchDone, BatchHandOver, LanePlan, lane_plan, lanes_running
from core.inference.predict_outputs import open_image, outcome_of, write_prediction
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
                   progress: Callable[[int, int], None] | None = None, plan: LanePlan | None = None) -> None:
    """Predict the samples not in `done` and append their rows to out_dir's results.csv, in input order.

    Returns when all are done or after the batches in hand once `stop` is set; an error (an unreadable image
    without `skip_bad`, a full disk) is raised after the rows of the batches before it are appended. `plan`
    (default: lane_plan's for the model and device) says how many lanes run the model."""
    total = len(samples)
    batches = batches_to_run(keys, done, batch_size)
    plan = plan or lane_plan(model, runtime.device)
    hand_over = BatchHandOver(len(batches), plan.lanes, stop)
    pool = ThreadPoolExecutor(THREADS, thread_name_prefix="seglab-predict")
    decoding: dict[int, list[tuple[int, Future]]] = {}
    taken: set[int] = set()
    decoding_lock = threading.Lock()

    def decode(position: int, take: bool = False) -> list[tuple[int, Future]]:
        """The batch's images being opened in the pool, submitted once by whichever lane asks first; `take`: the
        lane that runs the batch takes them (a late ask for a batch already taken submits nothing)."""
        with decoding_lock:
            if position not in decoding and position not in taken and position < len(batches):
                decoding[position] = [(index, pool.submit(open_image, samples[index], keys[index][0], labels, size))
                                      for index in batches[position]]
            if take:
                taken.add(position)
                return decoding.pop(position)
            return decoding.get(position, [])

    def run_batch(position: int) -> BatchDone:
        upcoming = decode(position, take=True)
        if not plan.exclusive:
            decode(position + plan.lanes)  # this lane's likely next batch, decoded while the model runs
        result, opened = BatchDone(), []
        for index, future in upcoming:
            try:
                opened.append((index, future.result()))
            except DataError as error:
                if not skip_bad:
                    result.error = error
                    return result
                result.skipped.append(error)
        if opened:
            x = runtime.prepare_batch(normalize(torch.stack([image.resized for _, image in opened])))
            with torch.inference_mode():
                with runtime.autocast():
                    logits = predict_logits(model, x, tta, labels.multiclass).float().cpu()
                outcomes = [(image, outcome_of(image, logit, labels))
                            for (index, image), logit in zip(opened, logits, strict=True) if keys[index] not in done]
            result.writes = [pool.submit(write_prediction, out_dir, image, outcome, alpha, labels)
                             for image, outcome in outcomes]
        if plan.exclusive:  # the next batch's decoding and this one's files, before the model runs again
            wait(result.writes + [future for _, future in decode(position + 1)])
        return result

    def lane(_number: int) -> None:
        try:
            while (position := hand_over.take()) is not None:
                try:
                    result = run_batch(position)
                except BaseException as error:  # noqa: BLE001 - handed to the appending thread, which raises it
                    result = BatchDone(error=error)
                hand_over.give_back(position, result)
                if result.error is not None:
                    hand_over.halt()
        finally:
            hand_over.lane_ended()

    appender = ResultsAppender(out_dir, labels)
    finished, failed = len(done), False
    in_hand: list[Future] = []

    def append_rows() -> None:
        nonlocal finished
        while in_hand:
            row = in_hand.pop(0).result()
            appender.append(row)
            counts.add(row)
            finished += 1

    def append_batch(result: BatchDone) -> None:
        nonlocal failed
        for error in result.skipped:
            counts.skip(error)
        if result.error is not None:
            failed = True
            raise result.error
        in_hand.extend(result.writes)
        append_rows()

    if progress is not None:
        progress(finished, total)
    try:
        with lanes_running(plan, lane):
            try:
                while (result := hand_over.next_finished()) is not None:
                    append_batch(result)
                    if progress is not None:
                        progress(finished + counts.skipped, total)
            finally:
                hand_over.halt()  # no new batch; the lanes finish the ones in hand before the block ends
    finally:
        try:
            if not failed:  # Ctrl-C or a failed write: the rows of every whole batch already in hand, in order
                append_rows()
                while (result := hand_over.next_finished(wait=False)) is not None and result.error is None:
                    append_batch(result)
        finally:
            for future in in_hand:
                future.cancel()
            for upcoming in decoding.values():
                for _, future in upcoming:
                    future.cancel()
            appender.close()
            pool.shutdown(wait=False, cancel_futures=True)
    if progress is not None:
        progress(finished + counts.skipped, total)
