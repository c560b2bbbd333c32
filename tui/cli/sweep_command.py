"""`seglab sweep NAME --search SPEC ... [train options]`: an Optuna search whose every trial is an ordinary run, one
line per trial event; `seglab sweep show NAME`: its trials, best trial and importances. Running a sweep is
core/sweeps/."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from core.config import TrainConfig
from core.runs.events import EpochEvent, Event, StatusEvent
from core.runs.folders import runs_root
from core.runs.status import State
from tui.cli.config_options import with_config_options
from tui.cli.options import RunsDir, app, completion_runs_root, console, err_console, fail

SHOW = "show"
WORKER_ENV = "SEGLAB_SWEEP_WORKER"  # set in the workers --jobs K starts: they leave the header and summary to it


def complete_sweep_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of `sweep show NAME`: the sweeps of the runs folder."""
    from core.sweeps.storage import SWEEPS_FOLDER

    folder = completion_runs_root(ctx) / SWEEPS_FOLDER
    try:
        return sorted(path.name for path in folder.iterdir() if path.is_dir() and path.name.startswith(incomplete))
    except OSError:
        return []


@app.command(name="sweep", epilog="Examples:\n\n"
             "  seglab sweep pets --data ~/data/pets --search lr=log:1e-4..3e-3 --search width=16,32 --trials 20 "
             "--trial-budget 10\n\n"
             "  seglab sweep pets --storage postgresql://lab@db/seglab --jobs 2 ...   # on every machine\n\n"
             "  seglab sweep show pets")
@with_config_options(TrainConfig)
def sweep_command(
    given: dict[str, Any],
    sweep_name: Annotated[str, typer.Argument(metavar="NAME", help="The sweep's name (`show NAME`: its summary)")],
    shown: Annotated[str | None, typer.Argument(metavar="[NAME]", help="With `show`: the sweep to show",
                                                show_default=False, autocompletion=complete_sweep_names)] = None,
    search: Annotated[list[str] | None, typer.Option(
        "--search", help="OPTION=RANGE: lr=log:1e-4..3e-3 (log range), epochs=int:5..20, ema=0,0.99 (values), "
                         "model=unet,resnet18_unet; repeatable")] = None,
    space: Annotated[Path | None, typer.Option(help=r"A YAML file of OPTION: RANGE or OPTION: \[values]")] = None,
    trials: Annotated[int, typer.Option(help="Trials to finish (pruned ones count), over every worker")] = 10,
    trial_budget: Annotated[float, typer.Option(
        metavar="MINUTES", help="Each trial trains with --time-budget MINUTES (0: the base options' epochs)")] = 0.0,
    total_budget: Annotated[float, typer.Option(
        metavar="MINUTES", help="No trial starts that could end past this many minutes: each trial is taken to last "
                                 "--trial-budget, or as long as the longest so far (0: none)")] = 0.0,
    jobs: Annotated[int, typer.Option(help="Worker processes on this machine (the CPU cores are shared)")] = 1,
    storage: Annotated[str | None, typer.Option(
        help=r"Study database URL shared by several machines (postgresql://user:pass@host/db; the seglab\[postgres] "
             "extra); default: an Optuna journal file, RUNS/sweeps/NAME/journal.log")] = None,
    prune: Annotated[str, typer.Option(help="median | hyperband | none: stop weak trials early")] = "median",
    sampler: Annotated[str, typer.Option(help="tpe | grid (every combination of listed values)")] = "tpe",
    objective: Annotated[str, typer.Option(help="What to maximise: val_dice (a trial's best)")] = "val_dice",
    runs_dir: RunsDir = None,
) -> None:
    """Search train options with Optuna; every trial is an ordinary run named NAME-t007.

    Trials train one after another (--jobs workers at a time) until --trials have finished; the median (or
    Hyperband) pruner stops a trial whose val Dice falls behind. Killed or interrupted, the same command again
    carries on: finished trials are kept, a trial whose process died is failed and its settings tried again."""
    from core.sweeps.plan import SweepPlan

    root = runs_root(runs_dir)
    if sweep_name == SHOW:
        if shown is None:
            raise fail("sweep show: give the sweep's name")
        _show(root, shown, storage)
        return
    if shown is not None:
        raise fail(f"sweep: one NAME, got {sweep_name} and {shown} (`seglab sweep show NAME` shows one)")
    specs = list(search or [])
    if space is not None:
        from core.sweeps.space import read_space_file

        specs += read_space_file(space)
    if storage is None:  # a sweep started before: its own storage, as the same command without --storage expects
        from core.sweeps.plan import recorded_storage

        storage = recorded_storage(root, sweep_name) or ""
    plan = SweepPlan(name=sweep_name, root=root, search=specs, base=given, trials=trials, trial_budget=trial_budget,
                     total_budget=total_budget, prune=prune, sampler=sampler, objective=objective,
                     storage=storage, seed=given.get("seed", 0))
    if jobs < 1:
        raise fail(f"--jobs: must be at least 1, got {jobs}")
    dimensions = plan.check()  # every refusal is one line here, before a worker or a trial starts
    from core.sweeps.sweep import open_study, queue_trials

    study = open_study(plan, dimensions)  # an unreachable storage is one line here too
    # queued by the process that created the study, before any worker waits for them
    queue_trials(study, plan.trials, dimensions if plan.sampler == "grid" else None)
    worker = os.environ.get(WORKER_ENV) == "1"  # one of --jobs K's workers: the command that started it speaks
    if not worker:
        _say_expected_end(plan, study, dimensions, jobs)
    if jobs > 1:
        try:
            _run_workers(jobs)
        finally:  # stopped or failed too: what the workers did
            _print_summary(plan)
        return
    _run_here(plan, summary=not worker)


def _run_here(plan, summary: bool = True) -> None:
    from core.sweeps.sweep import run_sweep
    from core.training.stopping import stop_on_signals

    def on_signal(_signum: int) -> None:
        err_console.print("stopping after this step: the trial's run is saved (press Ctrl-C again to quit at once)")

    with stop_on_signals(on_signal) as stop:
        run_sweep(plan, stop=stop, on_event=_print_event, on_line=lambda line: console.print(line, markup=False))
    if summary:
        _print_summary(plan)
    if stop.is_set():
        raise typer.Exit(130)


def _run_workers(jobs: int) -> None:
    """`jobs` copies of this command with --jobs 1, sharing the cores; each prints its trials' lines."""
    arguments = sys.argv[1:]
    for index, argument in enumerate(arguments):
        if argument == "--jobs" or argument.startswith("--jobs="):
            del arguments[index: index + (1 if "=" in argument else 2)]
            break
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, WORKER_ENV: "1"}
    command = [sys.executable, "-m", "tui.cli", *arguments, "--jobs", "1"]
    workers = []
    for index in range(jobs):
        workers.append(subprocess.Popen(command, env=env))
        if index == 0:
            time.sleep(2)  # the first worker creates the study; the others open it
    try:
        codes = [worker.wait() for worker in workers]
    except KeyboardInterrupt:  # the terminal's Ctrl-C reached every worker too; wait for them to save
        codes = [worker.wait() for worker in workers]
    if any(codes):
        raise typer.Exit(max(codes))


def _say_expected_end(plan, study, dimensions, jobs: int) -> None:
    from core.sweeps.sweep import finished, grid_size

    planned = min(plan.trials, grid_size(dimensions)) if plan.sampler == "grid" else plan.trials  # a grid: its points
    left = max(0, planned - finished(study))
    rounds = -(-left // jobs)
    storage = plan.storage.split("@")[-1] if plan.storage else plan.storage_url
    if plan.trial_budget:
        minutes = rounds * plan.trial_budget
        if plan.total_budget:
            minutes = min(minutes, plan.total_budget)
        end = time.strftime("%H:%M", time.localtime(time.time() + minutes * 60))
        console.print(f"sweep {plan.name}: {left} trial(s) to go, {jobs} at a time, up to {plan.trial_budget:g} min "
                      f"each: expected end about {minutes:.0f} min from now ({end}); storage {storage}", markup=False)
    else:
        console.print(f"sweep {plan.name}: {left} trial(s) to go, {jobs} at a time, each training the base options' "
                      f"epochs (--trial-budget MINUTES makes the end known); storage {storage}", markup=False)


def _print_event(number: int, event: Event) -> None:
    tag = f"t{number:03d}"
    if isinstance(event, StatusEvent) and event.message.startswith("started epoch"):
        console.print(f"{tag} {event.message}", markup=False)
    elif isinstance(event, EpochEvent):
        console.print(f"{tag} epoch {event.epoch}/{event.epochs}: val Dice {event.val_dice:.4f}", markup=False)
    elif isinstance(event, StatusEvent) and event.state in (State.FINISHED, State.PRUNED, State.FAILED):
        console.print(f"{tag} {event.state}: {event.message}", markup=False)


def _print_summary(plan) -> None:
    from core.sweeps.summary import best
    from core.sweeps.sweep import counts, open_study

    study = open_study(plan, plan.dimensions())
    found = counts(study)
    line = ", ".join(f"{count} {word}" for word, count in (
        ("finished", found.get("COMPLETE", 0)), ("pruned", found.get("PRUNED", 0)), ("failed", found.get("FAIL", 0)),
        ("stopped", found.get("STOPPED", 0)), ("running", found.get("RUNNING", 0))) if count)
    console.print(f"sweep {plan.name}: {line or 'no trials yet'}", markup=False)
    found_best = best(plan, study)
    if found_best is not None:
        trial, command = found_best
        console.print(f"best: trial {trial.number} ({trial.user_attrs.get('run', '')}), val Dice {trial.value:.4f}",
                      markup=False)
        console.print(f"train it again: {command}", markup=False)


def _show(root: Path, name: str, storage: str | None = None) -> None:
    from core.sweeps.plan import read_plan
    from core.sweeps.summary import best, importances, trial_rows
    from core.sweeps.sweep import open_study

    plan = read_plan(root, name)
    if storage is not None:
        plan.storage = storage
        plan.check_storage()
    study = open_study(plan, plan.dimensions())
    rows = trial_rows(study)
    table = Table(title=f"sweep {name}: {len(rows)} trials, searching {' '.join(plan.search)}", title_justify="left")
    for column in ("#", "PARAMETERS", "STATE", "BEST VAL DICE", "EPOCHS", "TIME", "PRUNED AT", "RUN"):
        table.add_column(column, justify="right" if column in ("#", "BEST VAL DICE", "EPOCHS", "TIME") else "left")
    for row in rows:
        table.add_row(str(row.number), row.params_text(), row.state,
                      f"{row.best_dice:.4f}" if row.best_dice is not None else "-", str(row.epochs),
                      f"{row.seconds / 60:.1f} min" if row.seconds else "-",
                      f"epoch {row.pruned_at}" if row.pruned_at else "-", row.run or "-")
    console.print(table)
    found_best = best(plan, study)
    if found_best is None:
        console.print("no trial has finished yet", markup=False)
    else:
        trial, command = found_best
        console.print(f"best: trial {trial.number} ({trial.user_attrs.get('run', '')}), val Dice {trial.value:.4f}, "
                      f"{' '.join(f'{k}={v}' for k, v in trial.params.items())}", markup=False)
        console.print(f"train it again: {command}", markup=False)
    found = importances(study)
    if found:
        console.print("importance: " + ", ".join(f"{name} {value:.2f}" for name, value in found.items()), markup=False)
    else:
        console.print("importance: after two finished trials", markup=False)
