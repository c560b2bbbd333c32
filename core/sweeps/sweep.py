"""Running a sweep: its plan (core/sweeps/plan.py) recorded before any trial, the Optuna study (TPE or grid, a median or
Hyperband pruner, maximising the objective), trials one after another until N have finished or the total budget
would be passed, and recovery of trials whose process died (failed, their parameters tried again)."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.atomic_files import atomic_write_text
from core.errors import ConfigError, SeglabError
from core.processes import pid_is_alive
from core.sweeps.plan import RECORD, SweepPlan
from core.sweeps.space import Dimension
from core.sweeps.storage import open_storage, sweep_folder, this_host
from core.sweeps.trial_run import TrialEvent, TrialStopped, run_trial

RETRY_OF = "retry_of"
CREATED_BY = "created_by"  # host:pid of the process that created the study (it queues the first trials)
JOINED = "workers_joined"  # how many worker processes have opened the study (each seeds its sampler apart)
PLANNED = "planned"  # on each trial the sweep queued: workers take queued trials only, so N trials run in all
UNRUN = "unrun"  # on a trial failed at once, never run: why (counted apart from failures)
STOPPED = "stopped"  # on a trial the user stopped (Optuna records it failed; the same command tries it again)
MAX_FAILURES_IN_A_ROW = 3  # then the sweep stops: its settings, not one unlucky trial, are at fault


def open_study(plan: SweepPlan, dimensions: list[Dimension], join: bool = False) -> Any:
    """The sweep's study, created on first use, the same one on every later call and every machine; `join`: as a
    worker that will run trials (its sampler seeded apart from the other workers')."""
    import optuna

    storage = open_storage(plan.storage_url)
    if plan.sampler == "grid":
        sampler = optuna.samplers.GridSampler({d.name: list(d.choices) for d in dimensions}, seed=plan.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=plan.seed, n_startup_trials=min(10, max(2, plan.trials // 3)))
    pruner = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
              "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1),
              "none": optuna.pruners.NopPruner}[plan.prune]()
    try:
        try:  # one process creates the study, and it alone queues the first trials
            study = optuna.create_study(storage=storage, study_name=plan.name, direction="maximize", sampler=sampler,
                                        pruner=pruner)
            study.set_user_attr(CREATED_BY, f"{this_host()}:{os.getpid()}")
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(storage=storage, study_name=plan.name, sampler=sampler, pruner=pruner)
    except Exception as error:  # noqa: BLE001 - storage errors come from SQLAlchemy and its drivers
        raise ConfigError(f"--storage: cannot open study {plan.name!r} ({' '.join(str(error).split())[:200]})") \
            from None
    if join and plan.sampler != "grid":  # each worker draws from a seed of its own: the first, plan.seed
        joined = int(study.user_attrs.get(JOINED, 0))
        study.set_user_attr(JOINED, joined + 1)
        study.sampler = optuna.samplers.TPESampler(seed=plan.seed + joined,
                                                   n_startup_trials=min(10, max(2, plan.trials // 3)))
    space = [d.describe() for d in dimensions]
    recorded = study.user_attrs.get("space")
    if recorded is None:
        study.set_user_attr("space", space)
    elif recorded != space:
        raise ConfigError(f"sweep {plan.name!r} searches {' '.join(recorded)}; give the same --search, or a new "
                          "name for another space")
    return study


def queue_trials(study: Any, trials: int, grid: list[Dimension] | None = None) -> None:
    """Queue the sweep's trials in its storage, up to `trials` in all (a later, larger --trials adds the rest).
    The process that created the study queues the first ones; workers on every machine take queued trials one at a
    time, atomically, so the count is exact. `grid`: a grid sweep's dimensions; each trial is queued with its grid
    point (Optuna's grid sampler takes a queued trial only with every parameter given), at most the grid's size."""
    if grid is not None:
        trials = min(trials, grid_size(grid))
    if study.user_attrs.get(CREATED_BY) == f"{this_host()}:{os.getpid()}" and PLANNED not in study.user_attrs:
        study.set_user_attr(PLANNED, trials)
        for _ in range(trials):
            queue_fresh_trial(study, grid)
        return
    deadline = time.monotonic() + 10
    while PLANNED not in study.user_attrs and time.monotonic() < deadline:
        time.sleep(0.2)  # the creating worker is queueing them
    queued = int(study.user_attrs.get(PLANNED, 0))
    if trials > queued:
        study.set_user_attr(PLANNED, trials)
        for _ in range(queued, trials):
            queue_fresh_trial(study, grid)


def queue_fresh_trial(study: Any, grid: list[Dimension] | None = None) -> None:
    """Queue a new trial: parameters left to the sampler, or a grid sweep's next point no trial has had (none once
    every point has)."""
    if grid is None:
        study.enqueue_trial({}, user_attrs={PLANNED: True})
        return
    had = {_point_key(_grid_point(trial)) for trial in study.get_trials(deepcopy=False)}
    for values in itertools.product(*(dimension.choices for dimension in grid)):
        point = {dimension.name: value for dimension, value in zip(grid, values, strict=True)}
        if _point_key(point) not in had:
            study.enqueue_trial(point, user_attrs={PLANNED: True})
            return


def earlier_holder(study: Any, number: int) -> int | None:
    """The earliest trial before trial `number` that holds its grid point and has not failed (waiting, running or
    finished), if one does. Two workers that queue a point at the same moment both queue the same one (each reads
    the trials, then queues the first point none has); the later trial then leaves the point to the earlier."""
    trials = study.get_trials(deepcopy=False)
    point = _point_key(_grid_point(trials[number]))
    retried = trials[number].user_attrs.get(RETRY_OF)  # still running for a moment after it queued this retry
    for trial in trials[:number]:
        if trial.state.name != "FAIL" and trial.number != retried and _point_key(_grid_point(trial)) == point:
            return trial.number
    return None


def _grid_point(trial: Any) -> dict[str, Any]:
    """A grid trial's point: its parameters once drawn, else the ones it was queued with."""
    return trial.params or trial.system_attrs.get("fixed_params", {})


def grid_size(grid: list[Dimension]) -> int:
    """The number of grid points: every combination of the listed values."""
    return math.prod(len(dimension.choices) for dimension in grid)


def _point_key(params: dict[str, Any]) -> str:
    """A grid point as text, to tell whether a trial has had it."""
    return json.dumps(sorted(params.items()), default=str)


def trial_state(trial: Any) -> str:
    """A trial's state as Optuna names it (COMPLETE, PRUNED, RUNNING, WAITING, FAIL), with two failures told apart:
    UNRUN (failed at once, never run) and STOPPED (by the user; the same command tries its settings again)."""
    state = trial.state.name
    if state == "FAIL" and UNRUN in trial.user_attrs:
        return "UNRUN"
    if state == "FAIL" and trial.user_attrs.get(STOPPED):
        return "STOPPED"
    return state


def counts(study: Any) -> dict[str, int]:
    """Trials by trial_state."""
    found: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        state = trial_state(trial)
        found[state] = found.get(state, 0) + 1
    return found


def finished(study: Any) -> int:
    found = counts(study)
    return found.get("COMPLETE", 0) + found.get("PRUNED", 0)


def process_gone(attrs: dict[str, Any]) -> bool:
    """Whether the process a running trial recorded (host, pid) is of this machine and no longer exists; another
    machine's cannot be told from here (Optuna's heartbeats fail those)."""
    return attrs.get("host") == this_host() and bool(attrs.get("pid")) and not pid_is_alive(int(attrs["pid"]))


def recover_dead_trials(study: Any, root: Path, grid: list[Dimension] | None = None) -> tuple[list[int], list[int]]:
    """Trials left running by a process of this machine that is gone (a kill -9): those whose run had finished (or
    been pruned) before the process died are recorded so, with the run's best val Dice; the rest are failed and
    their parameters queued again (once). Returns (failed and queued again, recorded from their runs). Other
    machines' stale trials are failed by Optuna's heartbeat check."""
    import optuna
    from optuna.trial import TrialState

    from core.runs.folders import Run
    from core.runs.status import State

    recovered, kept = [], []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not process_gone(trial.user_attrs):
            continue
        run = Run(root / str(trial.user_attrs["run"])) if trial.user_attrs.get("run") else None
        status = run.read_status() if run is not None and run.path.is_dir() else None
        if status is not None and status.state == State.FINISHED and status.best_dice is not None:
            study.tell(trial.number, status.best_dice, skip_if_finished=True)
            kept.append(trial.number)
            continue
        if status is not None and status.state == State.PRUNED:
            study.tell(trial.number, state=TrialState.PRUNED, skip_if_finished=True)
            kept.append(trial.number)
            continue
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        replace_failed(study, trial, grid)
        recovered.append(trial.number)
    optuna.storages.fail_stale_trials(study)
    return recovered, kept


def run_sweep(plan: SweepPlan, stop: threading.Event | None = None, on_event: TrialEvent | None = None,
              on_line: Any = None) -> Any:
    """Run trials of `plan` in this process until the study has plan.trials finished ones, the total budget would be
    passed by another trial, or `stop` is set. Returns the study."""

    stop = stop or threading.Event()
    dimensions = plan.check()
    folder = sweep_folder(plan.root, plan.name)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / RECORD).is_file():
        atomic_write_text(folder / RECORD, json.dumps(plan.record(), indent=2) + "\n")
    study = open_study(plan, dimensions, join=True)
    grid = dimensions if plan.sampler == "grid" else None
    queue_trials(study, plan.trials, grid)
    recovered, kept = recover_dead_trials(study, plan.root, grid)
    if recovered and on_line is not None:
        on_line(f"trial{'s' if len(recovered) > 1 else ''} {', '.join(map(str, recovered))} had lost their process: "
                "failed, and queued again")
    if kept and on_line is not None:
        on_line(f"trial{'s' if len(kept) > 1 else ''} {', '.join(map(str, kept))} had finished before their process "
                "was lost: recorded from their run")
    started = time.monotonic()

    ran: list[int] = []  # the number of each trial this process ran

    def objective(trial: Any) -> float:
        ran.append(trial.number)
        if not trial.user_attrs.get(PLANNED) and RETRY_OF not in trial.user_attrs:
            trial.set_user_attr(UNRUN, "another worker took the last queued trial")
            raise SurplusTrial
        if grid is not None and (holder := earlier_holder(study, trial.number)) is not None:
            trial.set_user_attr(UNRUN, f"trial {holder} has the same grid point")
            queue_fresh_trial(study, grid)  # the grid's next point no trial has had, if one is left
            raise SamePoint
        try:
            return run_trial(trial, dimensions, plan.base, plan.root, plan.name, plan.trial_budget, stop, on_event)
        except SeglabError as error:
            trial.set_user_attr("error", str(error))
            if on_line is not None:
                on_line(f"trial {trial.number} failed: {error}")
            queue_fresh_trial(study, grid)  # another trial in its place
            raise
        except (TrialStopped, KeyboardInterrupt):  # Ctrl-C, or a second Ctrl-C that would not wait for the step
            trial.set_user_attr(STOPPED, True)
            if len(trial.params) == len(dimensions):  # the next run tries the same settings again
                study.enqueue_trial(dict(trial.params), user_attrs={RETRY_OF: trial.number})
            else:  # stopped before its settings were all drawn: a new trial in its place
                queue_fresh_trial(study, grid)
            raise

    failures = 0
    longest_min = 0.0  # the longest trial this process ran: a trial's length when --trial-budget does not say it
    while not stop.is_set():
        if not counts(study).get("WAITING", 0):
            break  # every queued trial is taken (other workers may still be running theirs)
        elapsed_min = (time.monotonic() - started) / 60
        expected_min = plan.trial_budget or longest_min
        if plan.total_budget and elapsed_min + expected_min > plan.total_budget:
            if on_line is not None:
                how_long = "" if plan.trial_budget else "as long as the longest so far, "
                on_line(f"total budget: {elapsed_min:.1f} of {plan.total_budget:g} min used, no room for another "
                        f"trial ({how_long}{expected_min:.1f} min)")
            break
        trial_started = time.monotonic()
        try:
            with _quiet_trial_failures():  # each failure is one line from on_line, not Optuna's traceback
                study.optimize(objective, n_trials=1, catch=(SeglabError, SamePoint))
        except (TrialStopped, SurplusTrial):
            break
        longest_min = max(longest_min, (time.monotonic() - trial_started) / 60)
        last = study.get_trials(deepcopy=False)[ran[-1]] if ran else None
        if last is None:
            break
        if UNRUN in last.user_attrs:
            continue  # neither a success nor a failure
        failures = failures + 1 if last.state.name == "FAIL" else 0
        if failures >= MAX_FAILURES_IN_A_ROW:
            raise SeglabError(f"sweep {plan.name}: {failures} trials in a row failed, the last with: "
                              f"{last.user_attrs.get('error', 'see its run folder')}")
    return study


def replace_failed(study: Any, trial: Any, grid: list[Dimension] | None = None) -> None:
    """Queue what a trial that did not finish leaves undone: its parameters again (once), else a fresh trial."""
    if trial.user_attrs.get(RETRY_OF) is None:
        study.enqueue_trial(dict(trial.params), user_attrs={RETRY_OF: trial.number})
    else:
        queue_fresh_trial(study, grid)


class _DropTrialFailures(logging.Filter):
    """Optuna logs every failed trial with its traceback; the sweep says why in one line of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Trial ") and " failed " in message)


@contextlib.contextmanager
def _quiet_trial_failures() -> Iterator[None]:
    """Optuna's failure records come from its child loggers, which a filter on the "optuna" logger itself never
    sees; its handler's filter does."""
    handlers, dropping = logging.getLogger("optuna").handlers, _DropTrialFailures()
    for handler in handlers:
        handler.addFilter(dropping)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(dropping)


class SurplusTrial(Exception):
    """A trial no queue entry was left for (two workers reached for the last one): failed at once, unrun."""


class SamePoint(Exception):
    """A grid trial whose point an earlier trial holds (two workers queued it at once): failed at once, unrun."""


def best_trial(study: Any) -> Any | None:
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(complete, key=lambda trial: trial.value) if complete else None
