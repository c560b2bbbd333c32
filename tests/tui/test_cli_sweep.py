"""`seglab sweep` on tiny synthetic runs: trials are ordinary runs and some are pruned; `sweep show` tells the table,
the best trial and the importances; a kill -9 mid-trial and the same command again reach N finished trials with the
killed one failed and retried; two processes share one study; bad input is one line with no trial started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.data.synthetic import split_counts
from core.runs.folders import list_runs, runs_root
from core.sweeps.plan import read_plan
from core.sweeps.sweep import open_study
from core.sweeps.trial_run import sweep_tag
from tests.tui.test_cli import seglab, the_error_line

BASE = ["--data", "synthetic", "--synthetic-count", "24", "--image-size", "32", "--width", "8", "--epochs", "4",
        "--batch-size", "4", "--workers", "0", "--precision", "fp32", "--cache", "none"]
SEARCH = ["--search", "lr=log:1e-5..2e-1"]


def study_of(name: str):
    plan = read_plan(runs_root(), name)
    return open_study(plan, plan.dimensions())


def states(name: str) -> list[str]:
    return [trial.state.name for trial in study_of(name).get_trials(deepcopy=False)]


@pytest.mark.slow
def test_a_median_pruned_sweep_makes_every_trial_a_run_and_show_tells_the_table_and_importances(capsys,
                                                                                                monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the trials table whole
    code, out, err = seglab(capsys, "sweep", "pets", *BASE, *SEARCH, "--trials", "6", "--prune", "median")
    assert code == 0, err
    found = states("pets")
    assert len(found) == 6 and found.count("PRUNED") >= 1, found
    assert "pruned" in out and "best: trial" in out and "train it again: seglab train" in out
    runs = list_runs(runs_root())
    assert len(runs) == 6 and {sweep_tag(run)["sweep"] for run in runs} == {"pets"}
    assert {run.state() for run in runs} <= {"finished", "pruned"} and "pruned" in {run.state() for run in runs}
    code, listed, _ = seglab(capsys, "runs")
    assert code == 0 and all(run.name in listed for run in runs)
    code, shown, err = seglab(capsys, "sweep", "show", "pets")
    assert code == 0, err
    assert "pruned" in shown and "lr=" in shown and "importance: lr 1.00" in shown
    assert shown.count("pets-t00") >= 6


def sweep_process(name: str, trials: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "tui.cli", "sweep", name, *BASE, *SEARCH, "--trials", str(trials),
               "--prune", "none"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(extra_env or {})}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_file(path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {path}")
        time.sleep(0.1)


@pytest.mark.slow
def test_a_sweep_killed_mid_trial_carries_on_with_the_same_command(tmp_path):
    marker = tmp_path / "paused"
    steps_per_trial = 4 * (split_counts(24)["train"] // 4)  # 4 epochs of the train split's full batches of 4
    child = sweep_process("resume", 4, {"SEGLAB_PAUSE_AT": "train-step", "SEGLAB_PAUSE_MARKER": str(marker),
                                        "SEGLAB_PAUSE_SKIP": str(2 * steps_per_trial + 3)})  # in the third trial
    wait_for_file(marker)
    before = {t.number: (t.state.name, t.value, dict(t.params)) for t in study_of("resume").get_trials()}
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert [state for state, _, _ in before.values()] == ["COMPLETE", "COMPLETE", "RUNNING", "WAITING"]
    again = sweep_process("resume", 4)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "trial 2 had lost their process: failed, and queued again" in out
    trials = study_of("resume").get_trials()
    assert sum(t.state.name == "COMPLETE" for t in trials) == 4
    assert trials[2].state.name == "FAIL"
    retried = [t for t in trials if t.user_attrs.get("retry_of") == 2]
    assert len(retried) == 1 and retried[0].params == before[2][2] and retried[0].state.name == "COMPLETE"
    for number in (0, 1):  # the finished trials are kept as they were
        assert (trials[number].state.name, trials[number].value, trials[number].params) == before[number]


@pytest.mark.slow
def test_two_processes_share_one_study_without_duplicate_trials(tmp_path):
    # each worker holds its first trial's first step until both are there, so neither can take every trial
    # (on a busy machine the second's start took as long as the first's four tiny trials)
    release = tmp_path / "release"
    held = [tmp_path / "first", tmp_path / "second"]
    hold = {"SEGLAB_PAUSE_AT": "train-step", "SEGLAB_PAUSE_RELEASE": str(release)}
    first = sweep_process("shared", 4, {**hold, "SEGLAB_PAUSE_MARKER": str(held[0])})
    wait_for_file(held[0])
    second = sweep_process("shared", 4, {**hold, "SEGLAB_PAUSE_MARKER": str(held[1])})
    wait_for_file(held[1])
    release.touch()
    for process in (first, second):
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    trials = study_of("shared").get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) and sum(t.state.name == "COMPLETE" for t in trials) == 4
    assert len({t.user_attrs["pid"] for t in trials}) == 2  # both workers ran trials
    assert len({sweep_tag(run)["trial"] for run in list_runs(runs_root())}) == len(trials)


@pytest.mark.parametrize(("args", "message"), [
    (["--search", "lr=log:0..1"], "seglab: error: --search 'lr=log:0..1': lr: must be a positive number, got 0.0"),
    (["--search", "colour=red,blue"], "seglab: error: --search 'colour=red,blue': colour is not a train option"),
    (["--search", "lr=log:1e-4..1e-3", "--prune", "sometimes"],
     "seglab: error: --prune: 'sometimes' is not one of median, hyperband, none"),
    (["--search", "lr=log:1e-4..1e-3", "--storage", "postgresql://nobody:secret@127.0.0.1:9/none"],
     "seglab: error: --storage postgresql://nobody:***@127.0.0.1:9/none: cannot open"),
    (["--search", "lr=log:1e-4..1e-3", "--loss", "ce"], "seglab: error: loss: 'ce' is not a binary loss"),
    ([], "seglab: error: --search: give at least one option to search"),
    (["--search", "lr=log:1e-4..1e-3", "--storage", "/tmp/studies/pets.log"],
     "seglab: error: --storage /tmp/studies/pets.log: not a storage URL; a journal file is "
     "journal:/tmp/studies/pets.log"),
    (["--search", "lr=log:1e-4..1e-3", "--trial-budget", "0.1", "--total-budget", "0.01"],
     "seglab: error: --trial-budget 0.1 is longer than --total-budget 0.01 (minutes): no trial would start"),
    (["--search", "loss=bce,ce"], "seglab: error: --search 'loss=bce,ce': loss=ce: loss: 'ce' is not a binary loss"),
    (["--search", "lr=log:1e-4..1e-3", "--data", "/no-such-data"],
     "seglab: error: /no-such-data: no such dataset folder"),
    (["--search", "lr=1e-4...3e-3"],
     "seglab: error: --search 'lr=1e-4...3e-3': a range is LOW..HIGH with two dots, e.g. 1e-4..3e-3"),
    (["--search", "lr=log:1e-4..1e-3", "--search", "width=8,16", "--sampler", "grid"],
     "seglab: error: --sampler grid: every SPEC must list its values (a grid has no ranges), not lr=log:0.0001..0.001"),
    (["--search", "lr=log:1e-4..1e-3", "--trial-budget", "-1"],
     "seglab: error: --trial-budget: minutes, 0 or more, got -1"),
    (["--search", "lr=log:1e-4..1e-3", "--storage", "postgres://me:secret@127.0.0.1/pets"],
     "seglab: error: --storage postgres://me:***@127.0.0.1/pets: write postgresql://, not postgres://"),
    (["--search", "epochs=int:2..4", "--trial-budget", "0.5"],
     "seglab: error: --search 'epochs=int:2..4': each trial trains --trial-budget 0.5 minutes, which decide its "
     "epochs; search epochs without --trial-budget"),
    (["--search", "lr=log:1e-4..1e-3", "--trial-budget", "0.5", "--time-budget", "2"],
     "seglab: error: --time-budget and --trial-budget: a trial trains --trial-budget minutes; give one"),
], ids=["bounds", "unknown-option", "pruner", "storage", "base-options", "no-search", "plain-path", "budgets",
        "a-value-the-base-refuses", "missing-data", "three-dots", "grid-range", "negative-budget", "postgres-scheme",
        "epochs-beside-a-trial-budget", "two-budgets"])
def test_bad_input_is_one_line_and_starts_no_trial(capsys, args, message):
    code, _, err = seglab(capsys, "sweep", "bad", *BASE, *args)
    assert code == 2
    assert the_error_line(err).startswith(message), err
    assert list_runs(runs_root()) == []


def test_show_of_an_unknown_sweep_is_one_line(capsys):
    code, _, err = seglab(capsys, "sweep", "show", "nothing")
    assert code == 2 and the_error_line(err).startswith("seglab: error: no sweep 'nothing' in ")


async def test_the_dashboard_folds_a_sweep_into_one_row_and_opens_its_trials(capsys):
    from textual.widgets import DataTable

    from tests.tui.helpers import SIZE, shown, wait_for, wait_for_screen
    from tui.app import make_app
    from tui.screens.sweep import SweepScreen
    from tui.widgets.virtual_table import VirtualTable

    code, _, err = seglab(capsys, "sweep", "pets", *BASE, "--epochs", "2", *SEARCH, "--trials", "2",
                          "--prune", "none")
    assert code == 0, err
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#runs-table", VirtualTable)
        await wait_for(pilot, lambda: table.row_count == 1, what="the sweep's row")
        row = [str(cell) for cell in table.get_row_at(0)]
        assert row[1] == "pets (sweep of 2)" and "2/2" in row and "finished" in " ".join(row)
        await pilot.press("enter")
        screen = await wait_for_screen(pilot, SweepScreen)
        trials = screen.query_one("#sweep-table", DataTable)
        await wait_for(pilot, lambda: trials.row_count == 2, what="the trials")
        assert shown(screen.query_one("#sweep-title")).startswith("sweep pets ─ 2/2 done · 0 running · 0 pruned ─ best")
        assert "importance" in shown(screen.query_one("#sweep-importance"))
        await pilot.press("space", "space")  # marks go down the list, as in the runs list: both trials
        assert [str(trials.get_row_at(index)[0]) for index in range(2)] == ["✓", "✓"]
        await pilot.press("up", "space")  # and a mark comes off where it went on
        assert str(trials.get_row_at(0)[0]) == " "
        await pilot.press("up")
        await pilot.press("enter")  # the first trial's run
        from tui.screens.dashboard import LiveRunScreen

        live = await wait_for_screen(pilot, LiveRunScreen)
        assert live.run.name.endswith("pets-t000")


@pytest.mark.slow
def test_two_jobs_say_the_plan_and_the_summary_once(tmp_path):
    """Each of --jobs 2's workers printed the header (as '1 at a time') and the summary again: three of each."""
    command = [sys.executable, "-m", "tui.cli", "sweep", "jobs", *BASE, *SEARCH, "--trials", "2", "--prune", "none",
               "--jobs", "2"]
    done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("trial(s) to go") == 1 and "2 trial(s) to go, 2 at a time" in done.stdout
    assert done.stdout.count("sweep jobs: 2 finished") == 1 and "sweep jobs: 1 finished" not in done.stdout
