"""What a sweep has done, for `seglab sweep show` and the dashboard's sweep screen: one row per trial (parameters,
state, best val Dice, epochs, time, pruned at), the best trial and the `seglab train` command that repeats it, and
Optuna's parameter importances."""

from __future__ import annotations

import shlex
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.runs.folders import Run
from core.sweeps.plan import SweepPlan
from core.sweeps.sweep import UNRUN, best_trial, process_gone, trial_state

STATE_WORDS = {"COMPLETE": "finished", "PRUNED": "pruned", "RUNNING": "running", "WAITING": "waiting",
               "FAIL": "failed", "UNRUN": "not run", "STOPPED": "stopped"}


@dataclass(frozen=True)
class TrialRow:
    number: int
    params: dict[str, Any]
    state: str  # finished, pruned, running, waiting, failed, interrupted, not run, stopped
    best_dice: float | None  # the best val Dice reported so far (a finished trial's value)
    epochs: int  # epochs reported
    seconds: float | None  # from start to end (or to now, running)
    pruned_at: int | None  # the epoch after which the pruner stopped it
    run: str = ""  # its run folder's name ("" before it has one)
    host: str = ""
    retry_of: int | None = None
    error: str = ""
    intermediate: dict[int, float] = field(default_factory=dict)  # epoch -> val Dice

    def params_text(self) -> str:
        return " ".join(f"{name}={_short(value)}" for name, value in self.params.items())


def trial_rows(study: Any) -> list[TrialRow]:
    rows = []
    for trial in study.get_trials(deepcopy=False):
        state = STATE_WORDS.get(trial_state(trial), trial.state.name.lower())
        # a trial not run says why (a worker's race, not the settings)
        error = str(trial.user_attrs.get(UNRUN) or trial.user_attrs.get("error", ""))
        if trial.state.name == "RUNNING" and process_gone(trial.user_attrs):
            state = "interrupted"  # a kill -9: the next `seglab sweep` fails it and tries its settings again
        values = dict(trial.intermediate_values)
        best = trial.value if trial.state.name == "COMPLETE" else (max(values.values()) if values else None)
        start = trial.datetime_start.timestamp() if trial.datetime_start else None
        end = trial.datetime_complete.timestamp() if trial.datetime_complete else (time.time() if start else None)
        rows.append(TrialRow(trial.number, dict(trial.params), state, best, len(values),
                             end - start if start and end else None,
                             max(values) if state == "pruned" and values else None,
                             str(trial.user_attrs.get("run", "")), str(trial.user_attrs.get("host", "")),
                             trial.user_attrs.get("retry_of"), error, values))
    return rows


def best_so_far(rows: list[TrialRow]) -> list[tuple[float, float]]:
    """(seconds since the first trial started, best finished val Dice so far), for a best-against-time curve."""
    finished = sorted((row for row in rows if row.state == "finished" and row.best_dice is not None),
                      key=lambda row: row.number)
    points, best, elapsed = [], 0.0, 0.0
    for row in finished:
        elapsed += row.seconds or 0.0
        best = max(best, row.best_dice or 0.0)
        points.append((elapsed, best))
    return points


def importances(study: Any) -> dict[str, float]:
    """Optuna's parameter importances (its default evaluator), empty until two trials have finished."""
    import optuna

    if len([t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]) < 2:
        return {}
    try:
        with warnings.catch_warnings():  # its evaluator warns about few trials ("quantiles select the same set"):
            warnings.simplefilter("ignore", UserWarning)  # a line of library source in the user's table
            return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def train_command(plan: SweepPlan, trial: Any) -> str:
    """The `seglab train` command that trains the trial's settings again as an ordinary run."""
    from core.training.launch import option_arguments

    options = {**plan.base, **trial.params}
    options.pop("name", None)
    if plan.trial_budget:
        options["time_budget"] = plan.trial_budget
    return shlex.join(["seglab", "train", *option_arguments(options)])


def best(plan: SweepPlan, study: Any) -> tuple[Any, str] | None:
    """The best finished trial and its train command, or None before one has finished."""
    trial = best_trial(study)
    return (trial, train_command(plan, trial)) if trial is not None else None


def trial_runs(rows: list[TrialRow], root: Path) -> dict[int, Run]:
    """The run folders of the trials that are on this machine, by trial number."""
    found = {}
    for row in rows:
        if row.run and (Path(root) / row.run / "config.json").is_file():
            found[row.number] = Run(Path(root) / row.run)
    return found


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
