"""The `seglab` command: Typer app with train, evaluate, predict, runs, watch, demo and data.

Every error meant for the user leaves as one line on stderr with a non-zero exit code (2 for bad
options or input), never a traceback.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.config import DEMO_CONFIG, FIELD_SPECS, TrainConfig
from core.errors import SeglabError
from core.events import StatusEvent, follow_events, read_events
from core.run_status import ENDED_STATES, FINAL_STATES, State
from core.runs import Run, open_run, runs_root
from tui.console_view import TrainingView
from tui.data_cli import data_app
from tui.run_table_rows import format_started, read_run_rows

if TYPE_CHECKING:
    from core.distributed import Distributed
    from core.engine import TrainingSummary

# Newer Typer vendors click, older releases use click itself: reach the exception classes through the
# public BadParameter instead of either import path.
UsageError = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError")
ClickException = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException")

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

app = typer.Typer(
    name="seglab",
    help="Train, watch and run binary segmentation models (UNet, ResNet34-UNet) from the terminal.",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_app, name="data")


RunsDir = Annotated[
    Path | None,
    typer.Option("--runs-dir", help="Folder holding run folders (default: $SEGLAB_RUNS_DIR or ./runs)."),
]
RunRef = Annotated[str, typer.Argument(help="A run folder, or a unique prefix of a run name in the runs folder.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps.")]
TtaOpt = Annotated[str, typer.Option(
    "--tta", help="Test-time augmentation: none | flip (average the probabilities of each image and its mirror).")]
DEFAULTS = TrainConfig()


def option_help(name: str) -> str:
    """A `seglab train` option's help: its config field's text and default (core/config.py describes each once)."""
    default = getattr(DEFAULTS, name)
    shown = ("on" if default else "off") if isinstance(default, bool) else (default if default != "" else "none")
    return f"{FIELD_SPECS[name].help} (default: {shown})"


def _run_dashboard(runs_dir: Path | None, start_demo: bool = False) -> None:
    from tui.app import make_app

    make_app(runs_dir, start_demo=start_demo).run()


@app.callback(invoke_without_command=True,
              epilog="Examples:\n\n  seglab              # the dashboard\n\n  seglab demo\n\n  seglab train --help")
def dashboard(ctx: typer.Context, runs_dir: RunsDir = None) -> None:
    """Train, watch and run segmentation models. With no command, opens the dashboard."""
    if ctx.invoked_subcommand is None:
        _run_dashboard(runs_dir)


@app.command(name="tui", epilog="Example:\n\n  seglab tui --runs-dir /data/seglab-runs")
def tui_command(runs_dir: RunsDir = None) -> None:
    """Open the dashboard: runs, new-run form, live training view, predictions."""
    _run_dashboard(runs_dir)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"seglab: error: {message}", markup=False)
    return typer.Exit(code)


@app.command(epilog="Examples:\n\n  seglab train --data synthetic --epochs 5 --width 16 --image-size 128\n\n"
             "  seglab train --model resnet34_unet --data ~/data/oxford-iiit-pet --epochs 50\n\n"
             "  seglab train --resume 20261128-1425")
def train(
    model: Annotated[str | None, typer.Option(help=option_help("model"))] = None,
    data: Annotated[str | None, typer.Option(help=option_help("data"))] = None,
    epochs: Annotated[int | None, typer.Option(help=option_help("epochs"))] = None,
    batch_size: Annotated[int | None, typer.Option(help=option_help("batch_size"))] = None,
    lr: Annotated[float | None, typer.Option(help=option_help("lr"))] = None,
    image_size: Annotated[int | None, typer.Option(help=option_help("image_size"))] = None,
    width: Annotated[int | None, typer.Option(help=option_help("width"))] = None,
    loss: Annotated[str | None, typer.Option(help=option_help("loss"))] = None,
    augment: Annotated[str | None, typer.Option(help=option_help("augment"))] = None,
    scheduler: Annotated[str | None, typer.Option(help=option_help("scheduler"))] = None,
    warmup_epochs: Annotated[int | None, typer.Option(help=option_help("warmup_epochs"))] = None,
    weight_decay: Annotated[float | None, typer.Option(help=option_help("weight_decay"))] = None,
    ema: Annotated[float | None, typer.Option(help=option_help("ema"))] = None,
    patience: Annotated[int | None, typer.Option(help=option_help("patience"))] = None,
    init_from: Annotated[str | None, typer.Option(help=option_help("init_from"))] = None,
    encoder_weights: Annotated[str | None, typer.Option(help=option_help("encoder_weights"))] = None,
    val_fraction: Annotated[float | None, typer.Option(help=option_help("val_fraction"))] = None,
    seed: Annotated[int | None, typer.Option(help=option_help("seed"))] = None,
    device: Annotated[str | None, typer.Option(help=option_help("device"))] = None,
    precision: Annotated[str | None, typer.Option(help=option_help("precision"))] = None,
    memory_format: Annotated[str | None, typer.Option(help=option_help("memory_format"))] = None,
    workers: Annotated[int | None, typer.Option(help=option_help("workers"))] = None,
    cache: Annotated[str | None, typer.Option(help=option_help("cache"))] = None,
    compile: Annotated[bool | None, typer.Option("--compile/--no-compile", help=option_help("compile"))] = None,
    sync_bn: Annotated[bool | None, typer.Option("--sync-bn/--no-sync-bn", help=option_help("sync_bn"))] = None,
    skip_bad: Annotated[bool | None, typer.Option("--skip-bad/--no-skip-bad", help=option_help("skip_bad"))] = None,
    name: Annotated[str | None, typer.Option(help=option_help("name"))] = None,
    preset: Annotated[str | None, typer.Option(help=option_help("preset"))] = None,
    synthetic_count: Annotated[int | None, typer.Option(help=option_help("synthetic_count"))] = None,
    synthetic_size: Annotated[int | None, typer.Option(help=option_help("synthetic_size"))] = None,
    runs_dir: RunsDir = None,
    run_dir: Annotated[Path | None, typer.Option(
        help="Train into exactly this run folder: a new one, or one prepared with a config.json")] = None,
    resume: Annotated[str | None, typer.Option(
        help="Continue RUN from its checkpoints/last.pt with its saved config (under any process count)")] = None,
    nproc: Annotated[int, typer.Option(
        "--nproc", help="Training processes on this machine, one per GPU (gloo on CPU): above 1 starts them "
                        "with torchrun's launcher. Several machines: run torchrun yourself (see the README).")] = 1,
) -> None:
    """Train a model; prints the run folder first, then a line or a live table per epoch.

    Under torchrun (`torchrun --nproc-per-node=N -m tui.cli train ...`) every process runs this and rank
    0 alone writes the run folder and prints.
    """
    arguments = locals()
    # options and TrainConfig fields map one to one: take every field's option by its name
    options = {f.name: arguments[f.name] for f in fields(TrainConfig)}
    given = {key: value for key, value in options.items() if value is not None}
    from core.distributed import close_distributed, init_distributed, launched_by_torchrun
    from core.host_memory import requested_malloc
    from core.launch import PlanFailed, agree_on_run, check_launch, config_to_launch, plan_training, torchrun_command

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
        return made

    parallel = init_distributed()
    try:
        made = agree_on_run(parallel, plan)
        _train_run(made.run, made.config, made.resuming, parallel)
    except PlanFailed as failed:
        raise typer.Exit(failed.exit_code) from None  # rank 0 has said why
    finally:
        close_distributed()


def _warn_when_val_fraction_is_ignored(config: TrainConfig) -> None:
    from core.data_sources import val_fraction_applies

    if not val_fraction_applies(config):
        err_console.print(f"seglab: warning: --val-fraction is ignored: {config.data} comes split into train, val "
                          "and test already", markup=False)


def _say_when_test_is_val(config: TrainConfig, split: str) -> None:
    from core.data_sources import val_doubles_as_test

    if split == "test" and val_doubles_as_test(config):
        err_console.print("note: this folder has no held-out test set: its test split is the val split, whose "
                          "images also chose best.pt", markup=False)


def _train_run(run: Run, config: TrainConfig, resume: bool, parallel: Distributed) -> TrainingSummary:
    from core.engine import train as train_engine
    from core.stopping import stop_on_signals

    if not parallel.is_main:  # rank 0 speaks for all processes
        with stop_on_signals() as stop:
            summary = train_engine(config, run, resume=resume, stop=stop, parallel=parallel)
        if summary.state == State.STOPPED:
            raise typer.Exit(130)
        return summary
    console.print(f"run folder: {run.path}", markup=False)

    def on_signal(_signum: int) -> None:
        err_console.print("stopping after this step (press Ctrl-C again to quit at once)")

    view = TrainingView(console, title=run.name)
    try:
        with stop_on_signals(on_signal) as stop, view:
            summary = train_engine(config, run, resume=resume, stop=stop, callback=view, parallel=parallel)
    except KeyboardInterrupt:
        raise _fail("stopped at once; checkpoints/last.pt holds the last finished epoch", 130) from None
    if summary.state == State.STOPPED:
        console.print(f"stopped: {summary.epochs}/{config.epochs} epochs; continue with "
                      f"`seglab train --resume {run.name}`", markup=False)
        raise typer.Exit(130)  # a script's `seglab train && ...` must not go on after a stop
    best = summary.best_dice
    console.print(f"{summary.state}: {summary.epochs}/{config.epochs} epochs, best val Dice "
                  f"{best:.4f}" if best >= 0 else f"{summary.state}: no epoch finished", markup=False)
    if summary.skipped_samples:
        console.print(f"skipped {summary.skipped_samples} unreadable samples (see events.jsonl)", markup=False)
    if (run.curves_path).is_file():
        console.print(f"curves: {run.curves_path}", markup=False)
    return summary


@app.command(epilog="Examples:\n\n  seglab evaluate 20261128-1425 --split test\n\n"
             "  seglab evaluate runs/20261128-142501-unet-demo --checkpoint last --split val")
def evaluate(
    run: RunRef,
    split: Annotated[str, typer.Option(help="train | val | test")] = "test",
    checkpoint: Annotated[str, typer.Option(help="best | last | path to a .pt file")] = "best",
    tta: TtaOpt = "none",
    device: DeviceOpt = "auto",
    runs_dir: RunsDir = None,
) -> None:
    """Evaluate a run's checkpoint on a split: loss, Dice, IoU; writes eval-<split>.json in the run."""
    from core.engine import evaluate_run

    the_run = open_run(run, runs_root(runs_dir))
    _say_when_test_is_val(the_run.load_config(), split)
    with err_console.status(f"evaluating {the_run.name} on {split}..."):
        result = evaluate_run(the_run, split=split, checkpoint=checkpoint, device=device, tta=tta)
    with_tta = "" if tta == "none" else f", test-time augmentation: {tta}"
    table = Table(title=f"{the_run.name}: {split} split, {checkpoint} checkpoint (epoch {result['trained']}){with_tta}")
    for column in ("images", "loss", "Dice (per image)", "IoU (per image)", "Dice (micro)", "IoU (micro)"):
        table.add_column(column, justify="right")
    table.add_row(str(result["images"]), f"{result['loss']:.4f}", f"{result['dice']:.4f}", f"{result['iou']:.4f}",
                  f"{result['dice_micro']:.4f}", f"{result['iou_micro']:.4f}")
    console.print(table)
    suffix = "" if tta == "none" else f"-tta-{tta}"
    console.print(f"written: {the_run.path / f'eval-{split}{suffix}.json'}", markup=False)


@app.command(epilog="Examples:\n\n  seglab predict 20261128-1425 --split test\n\n"
             "  seglab predict 20261128-1425 --input photos/ --input cat.jpg --name mine")
def predict(
    run: RunRef,
    input: Annotated[list[Path] | None, typer.Option(
        "--input", "-i", help="Image file or folder (repeatable); without it, --split of the run's data")] = None,
    split: Annotated[str, typer.Option(help="Split of the run's data when no --input: train | val | test")] = "test",
    checkpoint: Annotated[str, typer.Option(help="best | last | path to a .pt file")] = "best",
    name: Annotated[str | None, typer.Option(
        help="Output folder name under predictions/ (default: the split, or 'files')")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass")] = 8,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip unreadable images (counted) instead of failing")
                        ] = False,
    tta: TtaOpt = "none",
    device: DeviceOpt = "auto",
    runs_dir: RunsDir = None,
) -> None:
    """Predict masks and overlays; writes PNGs, results.csv and summary.json under predictions/."""
    from rich.progress import Progress

    from core.predict import predict as predict_images

    if batch_size <= 0:
        raise _fail(f"--batch-size: must be a positive number, got {batch_size}")
    the_run = open_run(run, runs_root(runs_dir))
    if not input:
        _say_when_test_is_val(the_run.load_config(), split)
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("predicting", total=None)
        summary = predict_images(
            the_run, inputs=list(input) if input else None, split=split, checkpoint=checkpoint, output_name=name,
            batch_size=batch_size, device=device, skip_bad=skip_bad, tta=tta,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    console.print(f"{summary['images']} images -> {summary['output']}", markup=False)
    if summary["skipped"]:
        console.print(f"skipped {summary['skipped']} unreadable images, e.g. {summary['skipped_examples'][0]}",
                      markup=False)
    if summary["mean_dice"] is not None:
        console.print(f"mean Dice {summary['mean_dice']:.4f}  mean IoU {summary['mean_iou']:.4f} "
                      "(per image, at original resolution)", markup=False)


@app.command(name="runs", epilog="Example:\n\n  seglab runs --runs-dir /data/seglab-runs")
def runs_command(runs_dir: RunsDir = None) -> None:
    """List runs: name, model, data, state, epoch/epochs, best Dice, started."""
    root = runs_root(runs_dir)
    rows = read_run_rows(root)
    if not rows:
        console.print(f"no runs in {root} yet: try `seglab demo` or `seglab train --help`", markup=False)
        return
    table = Table(title=f"{len(rows)} runs in {root}")
    for column in ("name", "model", "data", "state", "epoch", "best Dice", "started"):
        # the name is what evaluate/predict/watch take: never cut it; data and dates may wrap
        table.add_column(column, justify="right" if column in ("epoch", "best Dice") else "left",
                         no_wrap=column in ("name", "state", "epoch", "best Dice"))
    for row in rows:
        table.add_row(row.name, row.model, row.data, row.state, f"{row.epoch}/{row.epochs}",
                      f"{row.best_dice:.4f}" if row.best_dice is not None else "-", format_started(row.started))
    console.print(table)


@app.command(epilog="Example:\n\n  seglab watch 20261128-1425")
def watch(run: RunRef, runs_dir: RunsDir = None) -> None:
    """Follow a run's events live; exits when the run ends. Ctrl-C leaves the run training."""
    the_run = open_run(run, runs_root(runs_dir))
    console.print(f"watching {the_run.path} (Ctrl-C stops watching, not the run)", markup=False)
    if the_run.state() in ENDED_STATES:
        _replay(the_run)
        return
    view = TrainingView(console, title=the_run.name)
    stop = _StopWhenGone(the_run)
    try:
        with view:
            for event in follow_events(the_run.events_path, stop=stop.event,
                                       until=lambda e: isinstance(e, StatusEvent) and e.state in FINAL_STATES):
                view(event)
    except KeyboardInterrupt:
        pass
    if the_run.state() == State.INTERRUPTED:
        console.print("the training process is gone (interrupted); resume with "
                      f"`seglab train --resume {the_run.name}`", markup=False)


class _StopWhenGone:
    """Stops following when the training process died without writing a final state."""

    def __init__(self, run: Run):
        import threading

        self.run, self.event = run, threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self.event.wait(2.0):
            if self.run.state() == State.INTERRUPTED:
                self.event.set()


def _replay(run: Run) -> None:
    view = TrainingView(console, title=run.name)
    view.live_mode = False  # a finished history prints as plain lines
    for event in read_events(run.events_path):
        view(event)
    console.print(f"state: {run.state()}", markup=False)


@app.command(epilog="Examples:\n\n  seglab demo\n\n  seglab demo --headless --epochs 3")
def demo(
    epochs: Annotated[int, typer.Option(help="Epochs to train")] = DEMO_CONFIG.epochs,
    device: DeviceOpt = "auto",
    headless: Annotated[bool, typer.Option(
        "--headless", help="Plain terminal output instead of the dashboard (automatic when stdout is not a terminal)",
    )] = False,
    runs_dir: RunsDir = None,
) -> None:
    """No data, no GPU needed: synthetic set, a small UNet, evaluation and overlays in a few minutes.

    In an interactive terminal it opens the dashboard on the live demo run, then its predictions.
    """
    from core.distributed import SINGLE
    from core.engine import evaluate_run
    from core.predict import predict as predict_images

    if not headless and sys.stdout.isatty() and sys.stdin.isatty():
        if (epochs, device) != (DEMO_CONFIG.epochs, "auto"):
            raise _fail("--epochs and --device apply to --headless; the dashboard demo uses the demo preset")
        _run_dashboard(runs_dir, start_demo=True)
        return
    from core.launch import prepare_run

    started = time.perf_counter()
    with err_console.status("checking data (generating the synthetic set on first use)..."):
        made = prepare_run(DEMO_CONFIG.replace(epochs=epochs, device=device), runs_root(runs_dir))
    run, config = made.run, made.config
    summary = _train_run(run, config, resume=False, parallel=SINGLE)
    if summary.state != State.FINISHED:
        return
    with err_console.status("evaluating and predicting the test split..."):
        result = evaluate_run(run, split="test", checkpoint="best", device=device)
        predictions = predict_images(run, split="test", checkpoint="best", device=device)
    console.print(f"test Dice {result['dice']:.4f} (per image), IoU {result['iou']:.4f} on "
                  f"{result['images']} images", markup=False)
    console.print(f"overlays: {predictions['output']}", markup=False)
    console.print(f"demo took {time.perf_counter() - started:.0f} s", markup=False)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the Typer app and turns errors into one line each."""
    # seglab refuses images over Pillow's pixel limit itself, with one line; Pillow's own warning is noise
    warnings.filterwarnings("ignore", message=".*could be decompression bomb.*")
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="seglab", standalone_mode=False)
    except typer.Abort:
        code = 130
    except UsageError as error:
        hint = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
        err_console.print(f"seglab: error: {error.format_message()}{hint}", markup=False)
        code = 2
    except ClickException as error:
        err_console.print(f"seglab: error: {error.format_message()}", markup=False)
        code = error.exit_code
    except SeglabError as error:
        err_console.print(f"seglab: error: {error}", markup=False)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except Exception as error:
        if os.environ.get("SEGLAB_DEBUG"):
            raise
        err_console.print(f"seglab: internal error: {type(error).__name__}: {error} "
                          "(set SEGLAB_DEBUG=1 for the traceback)", markup=False)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
