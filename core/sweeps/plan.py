"""A sweep's plan: everything `seglab sweep` was given (search, base options, budgets, sampler, pruner, storage),
every refusal before a trial starts, and its record in the sweep's folder (sweep.json), which a sweep carried on
must match."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError, SeglabError
from core.sweeps.space import Dimension, parse_space
from core.sweeps.storage import default_storage, shown_storage, sweep_folder

PRUNERS = ("median", "hyperband", "none")
SAMPLERS = ("tpe", "grid")
OBJECTIVES = ("val_dice",)
RECORD = "sweep.json"  # in the sweep's folder: how it was started


@dataclass
class SweepPlan:
    """Everything a sweep runs with, as `seglab sweep` was given it."""

    name: str
    root: Path
    search: list[str]  # the SPECs
    base: dict[str, Any] = field(default_factory=dict)  # train options for every trial
    trials: int = 10
    trial_budget: float = 0.0  # minutes per trial (0: the base options' epochs)
    total_budget: float = 0.0  # minutes for the sweep (0: none)
    prune: str = "median"
    sampler: str = "tpe"
    objective: str = "val_dice"
    storage: str = ""  # empty: the SQLite file in the sweep's folder
    seed: int = 0

    @property
    def storage_url(self) -> str:
        return self.storage or default_storage(self.root, self.name)

    def dimensions(self) -> list[Dimension]:
        return parse_space(self.search)

    def check(self) -> list[Dimension]:
        """Every refusal before a trial starts: names, SPECs, choices, budgets and the base options."""
        sweep_folder(self.root, self.name)  # a bad name is one line
        for value, choices, what in ((self.prune, PRUNERS, "--prune"), (self.sampler, SAMPLERS, "--sampler"),
                                     (self.objective, OBJECTIVES, "--objective")):
            if value not in choices:
                raise ConfigError(f"{what}: {value!r} is not one of {', '.join(choices)}")
        if self.trials < 1:
            raise ConfigError(f"--trials: must be at least 1, got {self.trials}")
        for value, what in ((self.trial_budget, "--trial-budget"), (self.total_budget, "--total-budget")):
            if not value >= 0 or value == math.inf:
                raise ConfigError(f"{what}: minutes, 0 or more, got {value:g}")
        if self.total_budget and self.trial_budget > self.total_budget:
            raise ConfigError(f"--trial-budget {self.trial_budget:g} is longer than --total-budget "
                              f"{self.total_budget:g} (minutes): no trial would start")
        dimensions = self.dimensions()
        if self.trial_budget and "time_budget" in self.base:
            raise ConfigError("--time-budget and --trial-budget: a trial trains --trial-budget minutes; give one")
        searched = {d.name: d for d in dimensions}
        for name in ("epochs", "time_budget"):
            if self.trial_budget and name in searched:
                raise ConfigError(f"--search {searched[name].describe()!r}: each trial trains --trial-budget "
                                  f"{self.trial_budget:g} minutes, which decide its epochs; search {name} without "
                                  "--trial-budget")
        ranges = [d.describe() for d in dimensions if not d.choices]
        if self.sampler == "grid" and ranges:
            raise ConfigError(f"--sampler grid: every SPEC must list its values (a grid has no ranges), not "
                              f"{', '.join(ranges)}")
        from core.sweeps.trial_run import trial_config
        from core.training.launch import check_before_run

        # the base options, with each searched list's first value, make a run seglab train would start (its data
        # read, its weights found: --encoder-weights with model=resnet18_unet,resnet34_unet is checked on those)...
        first_values = {dimension.name: dimension.choices[0] for dimension in dimensions if dimension.choices}
        check_before_run(trial_config(self.base, first_values, self.name, 0, self.trial_budget), self.root)
        for dimension in dimensions:  # ...and so does each listed value beside them (loss=ce on a binary task)
            for value in dimension.choices:
                try:
                    trial_config(self.base, {dimension.name: value}, self.name, 0, self.trial_budget)
                except ConfigError as error:
                    raise ConfigError(f"--search {dimension.describe()!r}: {dimension.name}={value}: {error}") \
                        from None
        self.check_storage()
        self.check_same_settings()
        return dimensions

    def check_same_settings(self) -> None:
        """A sweep carried on (the same name again) trains its trials as it began: other base options, sampler,
        pruner or trial budget would train new trials unlike the earlier ones, judged and pruned against them. A
        larger --trials, another --total-budget or --jobs are fine."""
        try:
            recorded = read_plan(self.root, self.name)
        except SeglabError:
            return  # a new sweep here (or one joined from another machine's folder)
        differing = [key for key in SAME_SETTINGS if key != "base" and getattr(recorded, key) != getattr(self, key)]
        base = sorted(key for key in recorded.base.keys() | self.base.keys() - NOT_TRAINING
                      if _as_recorded(recorded.base.get(key)) != _as_recorded(self.base.get(key)))
        if differing or base:
            before, now = (_as_options(plan, base, differing) for plan in (recorded, self))
            raise ConfigError(f"sweep {self.name!r} was started with {before or 'none of those options'}; this "
                              f"command gives {now or 'none of them'}: give the same options to carry it on, or a "
                              "new name for a new sweep")

    def check_storage(self) -> None:
        """A sweep's name stands for one study: another --storage for a sweep already started would begin a second
        study whose trials take the same run names."""
        recorded = recorded_storage(self.root, self.name)
        if recorded is not None and (recorded or default_storage(self.root, self.name)) != self.storage_url:
            where = shown_storage(recorded) if recorded else "its folder's journal file (the default)"
            raise ConfigError(f"sweep {self.name!r} keeps its study in {where}; give the same --storage"
                              f"{'' if recorded else ' (none)'}, or a new name for a new sweep")

    def record(self) -> dict[str, Any]:
        values = asdict(self)
        values["root"] = str(self.root)
        return values


SAME_SETTINGS = ("base", "sampler", "prune", "objective", "trial_budget")  # what a sweep keeps while carried on
# base options that change where and how a trial is watched or fed, not what it learns: free to change
NOT_TRAINING = frozenset({"device", "workers", "cache", "skip_bad", "progress_images", "progress_every", "log",
                          "mlflow_uri", "mlflow_checkpoint", "notify", "notify_command", "stall_minutes"})


def _as_recorded(value: Any) -> Any:
    """A value as sweep.json keeps it (a tuple as a list, a path as text)."""
    return json.loads(json.dumps(value, default=str))


def _as_options(plan: SweepPlan, base: list[str], keys: list[str]) -> str:
    """The base options `base` (those `plan` gives) and the sweep settings `keys` of `plan`, as typed."""
    given = [(key, plan.base[key]) for key in base if key in plan.base] + [(key, getattr(plan, key)) for key in keys]
    return " ".join(f"--{'' if value else 'no-'}{key.replace('_', '-')}" if isinstance(value, bool)
                    else f"--{key.replace('_', '-')} {value}" for key, value in given)


def recorded_storage(root: Path, name: str) -> str | None:
    """The --storage a sweep was started with ("" for the default), None for a sweep not started here."""
    try:
        values = json.loads((sweep_folder(root, name) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    storage = values.get("storage", "") if isinstance(values, dict) else ""
    return storage if isinstance(storage, str) else ""


def read_plan(root: Path, name: str) -> SweepPlan:
    """The plan a sweep was started with (its sweep.json)."""
    path = sweep_folder(root, name) / RECORD
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeglabError(f"no sweep {name!r} in {root} (no {path})") from None
    except (OSError, ValueError) as error:
        raise SeglabError(f"{path}: unreadable ({error})") from None
    values["root"] = Path(root)
    return SweepPlan(**{key: value for key, value in values.items() if key in SweepPlan.__dataclass_fields__})
