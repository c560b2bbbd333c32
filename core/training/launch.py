"""Starting and stopping training runs, the one way for every front end: the checks a run must pass before its
folder exists, agreement on the run across torchrun's processes, the training child's command line, and stopping
a run by its folder. `seglab train` and the dashboard only call this."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import PRESETS, TrainConfig, per_process_batch
from core.errors import ConfigError, SeglabError
from core.losses import LOSSES_FOR_TASK
from core.runs.folders import Run, create_run, open_prepared_run, open_run, resolve_inside
from core.runs.status import LIVE_STATES, State
from core.training.preflight import ensure_writable_folder

if TYPE_CHECKING:  # the dashboard imports this module and must not pay for torch
    from core.training.distributed import Distributed

TRAIN_MODULE = "tui.cli"  # the child runs `python -m tui.cli train`: the same code path as `seglab train`
TRAIN_LOG = "train.log"  # a dashboard-started child's output, in its run folder


@dataclass(frozen=True)
class TrainingPlan:
    """The run folder to train into, its config, and whether training continues from last.pt."""

    run: Run
    config: TrainConfig
    resuming: bool = False


def config_from_options(given: dict[str, Any]) -> TrainConfig:
    """The options given, over the preset's settings when one is named (else over the defaults). A task without
    a loss given trains with that task's default loss (multiclass: ce) whatever the preset's."""
    name = given.get("preset") or None  # a saved config's "" is no preset
    if name is not None and name not in PRESETS:
        raise ConfigError(f"preset: {name!r} is not one of {', '.join(PRESETS)}")
    from core.run_data import export_defaults  # not at the top: the dashboard imports this module without torch

    base = PRESETS[name] if name else TrainConfig()
    given = {**export_defaults(given.get("data", base.data)), **given}  # e.g. a 3-class COCO export: multiclass
    task = given.get("task", base.task)
    if "loss" not in given and base.loss not in LOSSES_FOR_TASK.get(task, (base.loss,)):
        given = {**given, "loss": LOSSES_FOR_TASK[task][0]}
    return base.replace(**given)


def with_saved_settings(given: dict[str, Any], root: Path, config_file: str | Path | None = None,
                        fork: str | None = None) -> dict[str, Any]:
    """The options of a new run from files: RUN's settings (`fork`: `seglab train --from RUN`, a new run, not a
    resume, with fresh weights unless --init-from is among them), under a config file's, under the options given."""
    settings: dict[str, Any] = {}
    if fork is not None:
        settings = open_run(fork, root).load_config().to_dict()
        settings["name"] = ""  # the fork is a run of its own: the name given, or none
    if config_file is not None:
        from core.config_files import read_config_file

        settings.update(read_config_file(config_file))
    return {**settings, **given}


def check_before_run(config: TrainConfig, root: Path) -> TrainConfig:
    """Every check a new run must pass before its folder exists: the device asked for, a writable runs folder,
    readable train and val splits (generating the synthetic set on first use), and starting weights that fit.
    Returns the config with absolute paths, as the run stores it."""
    from core.device import resolve_device
    from core.run_data import check_something_to_learn, split_samples, with_resolved_classes

    config = with_resolved_classes(config.with_absolute_paths())
    resolve_device(config.device)  # a --device this machine lacks: refused before the run folder exists
    ensure_writable_folder(root)
    split_samples(config, "train")
    split_samples(config, "val")
    check_something_to_learn(config)
    if config.init_from or config.encoder_weights:
        from core.training.initial_weights import check_initial_weights, stored_init_from

        check_initial_weights(config, root)
        config = config.replace(init_from=stored_init_from(config.init_from, root)) if config.init_from else config
    if config.log:
        from core.training.loggers import check_loggers

        check_loggers(config)
    return config


def prepare_run(config: TrainConfig, root: Path, run_dir: Path | None = None) -> TrainingPlan:
    """Check `config` (check_before_run), then create its run folder: nothing is created for a config that fails."""
    config = check_before_run(config, root)
    return TrainingPlan(create_run(config, root, run_dir=run_dir), config)


def plan_training(given: dict[str, Any], root: Path, run_dir: Path | None = None,
                  resume: str | None = None) -> TrainingPlan:
    """What `seglab train` trains: RUN's saved state (`resume`), a run folder the dashboard prepared (`run_dir`
    with a config.json), or a new run from the options `given`. Options beside a saved config are refused."""
    if resume is not None:
        if given:
            raise ConfigError(f"--resume continues with the run's saved config; drop {', '.join(sorted(given))}")
        run = resumable_run(resume, root)
        return TrainingPlan(run, run.load_config(), resuming=True)
    if run_dir is not None:
        run_dir = resolve_inside(run_dir, root, "--run-dir")
        if (run_dir / "config.json").is_file():
            run = open_prepared_run(run_dir)  # its config.json is the whole truth
            if given:
                raise ConfigError(f"--run-dir {run_dir} trains the config.json prepared there; "
                                  f"drop {', '.join(sorted(given))}")
            return TrainingPlan(run, run.load_config())
    return prepare_run(config_from_options(given), root, run_dir)


def resumable_run(name: str, root: Path) -> Run:
    """The run `--resume NAME` continues; refused once it has finished (nothing is left to train: --resume takes the
    saved config as it is). A run another process still trains is refused by training itself (engine.py), which
    every way of starting a run goes through."""
    run = open_run(name, root)
    status = run.read_status()
    if run.state(status) == State.FINISHED:
        done = f" {status.epoch}/{status.epochs} epochs" if status.epochs else ""
        ref = run.name if run.path.parent.resolve() == Path(root).resolve() else str(run.path)  # one outside it
        raise ConfigError(f"{run.name} has finished{done}: nothing to resume; `seglab train --from {ref} "
                          "--epochs N` trains a new run with its settings")
    return run


def config_to_launch(given: dict[str, Any], root: Path, run_dir: Path | None = None,
                     resume: str | None = None) -> TrainConfig:
    """The config `plan_training` would train, read without creating anything: checked before a launcher starts."""
    if resume is not None:
        return resumable_run(resume, root).load_config()
    if run_dir is not None and (Path(run_dir) / "config.json").is_file():
        return Run(Path(run_dir)).load_config()
    return config_from_options(given)


def agree_on_run(distributed: Distributed, plan: Callable[[], TrainingPlan]) -> TrainingPlan:
    """Rank 0 makes the plan (and the run folder); every process gets its path and config from rank 0, so
    processes on other machines need no copy of the run folder. A failure on rank 0 raises PlanFailed elsewhere."""
    if not distributed.enabled:
        return plan()
    outcome = None
    if distributed.is_main:
        try:
            made = plan()
        except BaseException as error:
            distributed.broadcast(("failed", getattr(error, "exit_code", 2)))
            raise
        outcome = ("ok", str(made.run.path), made.config.to_dict(), made.resuming)
    outcome = distributed.broadcast(outcome)
    if outcome[0] == "failed":
        raise PlanFailed(outcome[1])
    _, path, config_values, resuming = outcome
    return TrainingPlan(Run(Path(path)), TrainConfig.from_dict(config_values), resuming)


class PlanFailed(SeglabError):
    """Rank 0 could not make the training plan and has said why; other processes exit with its code."""

    def __init__(self, exit_code: int):
        super().__init__(f"the training plan failed on rank 0 (exit code {exit_code})")
        self.exit_code = exit_code


def check_launch(processes: int, config: TrainConfig) -> None:
    """Before launching `processes` training processes: the global batch splits evenly and they fit the GPUs."""
    from core.training.distributed import check_launch_fits_device

    if processes < 1:
        raise ConfigError(f"--nproc: must be at least 1, got {processes}")
    per_process_batch(config.batch_size, processes)
    if processes > 1:
        check_launch_fits_device(processes, config.device)


def option_arguments(given: dict[str, Any]) -> list[str]:
    """`seglab train` options for the config fields in `given` (booleans as --flag / --no-flag)."""
    args: list[str] = []
    for key, value in given.items():
        flag = key.replace("_", "-")
        if isinstance(value, bool):
            args.append(f"--{flag}" if value else f"--no-{flag}")
        else:
            args += [f"--{flag}", str(value)]
    return args


def torchrun_command(processes: int, given: dict[str, Any], *, runs_dir: Path | None = None,
                     run_dir: Path | None = None, resume: str | None = None) -> list[str]:
    """`python -m torch.distributed.run --standalone --nproc-per-node=N -m tui.cli train <the same options>`."""
    args = option_arguments(given)
    for flag, value in (("--runs-dir", runs_dir), ("--run-dir", run_dir), ("--resume", resume)):
        if value is not None:
            args += [flag, str(value)]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
            "-m", TRAIN_MODULE, "train", *args]


def training_command(run: Run, root: Path, processes: int = 1, resume: bool = False) -> list[str]:
    """The child process that trains a prepared run folder, or resumes a run from its last.pt (handing over to
    torchrun for several processes)."""
    command = [sys.executable, "-m", TRAIN_MODULE, "train", "--runs-dir", str(root),
               *(["--resume", str(run.path)] if resume else ["--run-dir", str(run.path)])]
    return command + (["--nproc", str(processes)] if processes > 1 else [])


def start_training_process(run: Run, root: Path, processes: int = 1, resume: bool = False) -> subprocess.Popen:
    """Launch the training child of a prepared run (or one resuming a run) in a session of its own, so it outlives
    the caller (and a dropped SSH connection); its output goes to the run's train.log."""
    with open(run.path / TRAIN_LOG, "ab") as log:
        return subprocess.Popen(training_command(run, root, processes, resume), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True, cwd=os.getcwd())


def stop_run(run: Run, child_pid: int | None = None) -> None:
    """Ask the run's training process to stop after its current step (SIGINT, as Ctrl-C): it saves last.pt and
    ends 'stopped'. Under torchrun this is rank 0, which stops every process after the same step. `child_pid`
    is the process the caller launched, signalled while the run has not yet written its own pid."""
    status = run.read_status()
    host = status.host
    if host and host != socket.gethostname():
        raise SeglabError(f"{run.name}: the run trains on another host ({host}); stop it there")
    state = run.state()
    if state not in LIVE_STATES:  # its pid may belong to another process by now
        raise SeglabError(f"{run.name}: not training (state {state})")
    pid = status.pid or child_pid
    if not pid:
        raise SeglabError(f"{run.name}: no training process has started")
    try:
        os.kill(int(pid), signal.SIGINT)
    except ProcessLookupError:
        raise SeglabError(f"{run.name}: the training process is already gone") from None
