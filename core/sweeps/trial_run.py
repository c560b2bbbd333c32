"""One trial of a sweep as an ordinary run: the sweep's base options with the trial's parameters, a run folder named
<sweep>-t007 that sweep.json tags with its sweep, trained in this process (started through core/training/launch.py
like `seglab train`) with every epoch's val Dice reported to Optuna. A trial the pruner stops ends like a user's
Ctrl-C (last.pt saved), but in the state pruned, which notifies no one."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.atomic_files import atomic_write_text
from core.config import TrainConfig
from core.runs.events import EpochEvent, Event
from core.runs.folders import Run
from core.runs.run_index import SWEEP_TAG
from core.runs.status import State
from core.sweeps.space import Dimension
from core.sweeps.storage import this_host
from core.training.stopping import StopAs

TrialEvent = Callable[[int, Event], None]  # (trial number, event) for the sweep's own output


class TrialStopped(Exception):
    """The user stopped the sweep during this trial (its run is stopped and resumable, the trial failed)."""


def trial_name(sweep: str, number: int) -> str:
    return f"{sweep}-t{number:03d}"


def trial_config(base: dict[str, Any], params: dict[str, Any], sweep: str, number: int,
                 trial_budget: float) -> TrainConfig:
    """The trial's settings: the base options (over their preset), its parameters, its name and time budget."""
    from core.training.launch import config_from_options

    given = {**base, **params, "name": trial_name(sweep, number)}
    if trial_budget:
        given["time_budget"] = trial_budget
    return config_from_options(given)


def sweep_tag(run: Run) -> dict[str, Any] | None:
    """The sweep a run is a trial of ({"sweep", "trial", "params"}), or None."""
    try:
        tag = json.loads((run.path / SWEEP_TAG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return tag if isinstance(tag, dict) and "sweep" in tag else None


def run_trial(trial: Any, dimensions: list[Dimension], base: dict[str, Any], root: Path, sweep: str,
              trial_budget: float, stop: threading.Event, on_event: TrialEvent | None = None) -> float:
    """The objective: train the trial's run, report its epochs, return its best val Dice; raise optuna.TrialPruned
    when the pruner stopped it, TrialStopped when the user did."""
    import optuna

    from core.training.engine import train
    from core.training.launch import prepare_run

    params = {dimension.name: dimension.suggest(trial) for dimension in dimensions}
    plan = prepare_run(trial_config(base, params, sweep, trial.number, trial_budget), root)
    atomic_write_text(plan.run.path / SWEEP_TAG, json.dumps({"sweep": sweep, "trial": trial.number,
                                                             "params": params}) + "\n")
    for key, value in (("run", plan.run.name), ("host", this_host()), ("pid", os.getpid()),
                       ("started", time.time())):
        trial.set_user_attr(key, value)
    trial_stop = StopAs()

    def sink(event: Event) -> None:
        if on_event is not None:
            on_event(trial.number, event)
        if isinstance(event, EpochEvent):
            trial.report(event.val_dice, event.epoch)
            if trial_stop.outcome is None and trial.should_prune():  # at its last epoch it finishes all the same
                trial_stop.stop_as(State.PRUNED, f"pruned after epoch {event.epoch} ({_why_pruned(trial)})")
        if stop.is_set():
            trial_stop.set()

    watcher = threading.Thread(target=_forward, args=(stop, trial_stop), daemon=True)
    watcher.start()
    try:
        summary = train(plan.config, plan.run, stop=trial_stop, on_event=sink)
    finally:
        trial_stop.set()  # ends the watcher
    if summary.state == State.PRUNED:  # the run says so itself; a pruned trial notifies no one
        raise optuna.TrialPruned(summary.message)
    if summary.state != State.FINISHED:
        raise TrialStopped(f"{plan.run.name}: stopped at epoch {summary.epochs}")
    return summary.best_dice


def _why_pruned(trial: Any) -> str:
    """The pruner's rule, in words."""
    if type(getattr(trial.study, "pruner", None)).__name__ == "HyperbandPruner":
        return "val Dice in the lower part of its Hyperband bracket"
    return "val Dice below the median of earlier trials"


def _forward(stop: threading.Event, trial_stop: threading.Event) -> None:
    """Pass the sweep's stop (Ctrl-C) to the running trial, between its steps."""
    while not trial_stop.wait(0.2):
        if stop.is_set():
            trial_stop.set()
