"""`--time-budget MINUTES`: how many epochs fit in the budget, decided from the epochs' measured times.

The first epoch always runs (it is the measurement) and sets the total. After each later epoch the total is
kept while its projected end stays within one epoch of the budget, else set again from the mean epoch time so
far; so the lr schedule, whose cosine decays over the planned epochs, ends when the budget does, and a run with
steady epoch times ends within about one epoch of its budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.config import field_spec


@dataclass(frozen=True)
class EpochPlan:
    """One decision: the total epochs and what it was based on (recorded in config.json)."""

    epochs: int  # the total, finished ones included
    finished: int  # epochs finished when it was decided
    budget_s: float
    elapsed_s: float  # from the first epoch's start to the end of the last finished one
    epoch_s: float  # the mean epoch time used

    @property
    def expected_end_s(self) -> float:
        """When the last planned epoch should end, counted from the first epoch's start."""
        return self.elapsed_s + (self.epochs - self.finished) * self.epoch_s

    def as_record(self) -> dict[str, float | int]:
        return {"budget_min": round(self.budget_s / 60, 3), "epochs": self.epochs,
                "epoch_s": round(self.epoch_s, 2), "decided_after_s": round(self.elapsed_s, 2),
                "expected_end_s": round(self.expected_end_s, 1)}


MAX_EPOCHS = int(field_spec("epochs").below) - 1  # the most a config holds: weeks of tiny epochs stop there


def plan_epochs(budget_minutes: float, epoch_seconds: Sequence[float], elapsed_s: float,
                first_filled_cache: bool = False, current: int | None = None,
                finished: int | None = None) -> EpochPlan:
    """The total epoch count after the timed epochs `epoch_seconds`, `elapsed_s` after the first epoch began.

    `finished` counts every epoch done, when more than the timed ones (a run resumed mid-epoch times only the
    whole epochs after that one; its budget counts from the resume).

    The mean leaves out the first epoch when it also filled the image cache (loader workers decode while it
    trains) and a later epoch exists. The remaining time is divided by it and rounded to the nearest whole
    epoch, never fewer than those finished nor more than MAX_EPOCHS. A `current` plan whose projected end is
    still within one epoch of the budget is kept, so the total (and the cosine) does not wobble with the noise
    of short epochs.
    """
    if budget_minutes <= 0:
        raise ValueError(f"time budget must be positive, got {budget_minutes}")
    timed = len(epoch_seconds)
    if timed == 0:
        raise ValueError("plan_epochs needs at least one timed epoch")
    finished = timed if finished is None else max(finished, timed)
    samples = list(epoch_seconds[1:]) if first_filled_cache and timed > 1 else list(epoch_seconds)
    per_epoch = max(sum(samples) / len(samples), 1e-6)
    budget_s = budget_minutes * 60
    if current is not None and current >= finished:
        kept = EpochPlan(current, finished, budget_s, elapsed_s, per_epoch)
        if abs(kept.expected_end_s - budget_s) <= per_epoch:
            return kept
    more = max(0, round((budget_s - elapsed_s) / per_epoch))
    return EpochPlan(min(finished + more, max(MAX_EPOCHS, finished)), finished, budget_s, elapsed_s, per_epoch)
