"""`seglab predict`: masks, overlays and results.csv for a run's split or a user's images, and their export for a
labelling tool."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from core.inference.writers import WRITER_NAMES
from core.runs.folders import open_run, runs_root
from tui.cli.options import DeviceOpt, RunRef, RunsDir, TaskOpt, TtaOpt, app, console, err_console, fail
from tui.cli.run_commands import say_when_test_is_val

ENGINE_CHOICES = ("auto", "torch", "onnx")  # core.inference.predict.ENGINE_CHOICES, without importing torch here


@app.command(name="predict", epilog="Examples:\n\n  seglab predict 20261128-1425 --split test\n\n"
             "  seglab predict 20261128-1425 --input photos/ --input cat.jpg --name mine\n\n"
             "Ctrl-C stops after the batches in hand; the same command again goes on from there.")
def predict_command(
    run: RunRef,
    input: Annotated[list[Path] | None, typer.Option(
        "--input", "-i", help="Image file or folder (repeatable); without it, --split of the run's data")] = None,
    recursive: Annotated[bool, typer.Option(
        "--recursive", "-r", help="Also the images in the subfolders of an --input folder (hidden ones left out)")
                         ] = False,
    split: Annotated[str, typer.Option(
        help="Split of the run's data when no --input: train | val | test | all")] = "test",
    checkpoint: Annotated[str, typer.Option(help="best | last | path to a .pt file")] = "best",
    name: Annotated[str | None, typer.Option(
        help="Output folder name under predictions/ (default: the split, or 'files')")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass")] = 8,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip unreadable images (counted) instead of failing")
                        ] = False,
    tta: TtaOpt = "none",
    task: TaskOpt = None,
    engine: Annotated[str, typer.Option(
        "--engine", help=r"auto | torch | onnx. onnx: ONNX Runtime on the CPU (the seglab\[export] extra; the run's "
                         "dynamic ONNX export is made and checked on first use). auto: on a CPU, the faster of the "
                         "two for this model, timed on a few batches once and remembered for this machine; on a "
                         "GPU, torch.",
        autocompletion=lambda incomplete: [name for name in ENGINE_CHOICES if name.startswith(incomplete)])] = "auto",
    device: DeviceOpt = "auto",
    export: Annotated[str | None, typer.Option(
        "--export", help="Also write the predicted masks for a labelling tool to load as pre-annotations: "
                         + " | ".join(WRITER_NAMES) + " (coco: RLE; coco-polygons: polygons)",
        autocompletion=lambda incomplete: [name for name in WRITER_NAMES if name.startswith(incomplete)])] = None,
    export_out: Annotated[Path | None, typer.Option(
        "--out", help="New folder for --export (default: export-<format> in the predictions folder, replaced)")] = None,
    runs_dir: RunsDir = None,
) -> None:
    """Predict masks and overlays; writes PNGs, results.csv and summary.json under predictions/.

    Images stream through: results.csv gains a row as each image's PNGs are written. Rerun the same command after
    Ctrl-C (or a crash) and it skips the images already done; with another checkpoint or other settings the
    folder starts over. A multiclass run's masks are palette PNGs of class ids, with a Dice column per class in
    results.csv. With --export the masks are also written in a labelling tool's import format, with the run's
    class names."""
    from core.omp_spin import spin_briefly

    spin_briefly()  # before torch loads: on many cores decoding and writing share them between forward passes
    from core.inference.predict import predict as predict_images
    from core.training.stopping import stop_on_signals

    if batch_size <= 0:
        raise fail(f"--batch-size: must be a positive number, got {batch_size}")
    if export is None and export_out is not None:
        raise fail("--out is where --export writes; give --export FORMAT too")
    if export is not None and export not in WRITER_NAMES:
        raise fail(f"--export: {export!r} is not one of {', '.join(WRITER_NAMES)}")
    if export_out is not None:  # said before the predictions, not after them
        from core.errors import DataError
        from core.inference.writers import check_new_folder

        try:
            check_new_folder(export_out)
        except DataError as error:
            raise fail(f"--out {error}") from None
    if engine not in ENGINE_CHOICES:
        raise fail(f"--engine: {engine!r} is not one of {', '.join(ENGINE_CHOICES)}")
    the_run = open_run(run, runs_root(runs_dir))
    if not input:
        say_when_test_is_val(the_run.load_config(), split)
    with prediction_progress() as (progress, show), stop_on_signals() as stop:
        summary = predict_images(
            the_run, inputs=list(input) if input else None, split=split, checkpoint=checkpoint, output_name=name,
            batch_size=batch_size, device=device, skip_bad=skip_bad, tta=tta, task=task, engine=engine,
            progress=show, stop=stop, notice=lambda line: progress.console.print(line, markup=False),
            recursive=recursive, export=export,
        )
    console.print(f"{summary['images']} images -> {summary['output']}{_how(summary)}", markup=False)
    if not summary["complete"]:
        console.print("stopped: results.csv lists the images done; run the same command again to go on",
                      markup=False)
    if summary["skipped"]:
        console.print(f"skipped {summary['skipped']} unreadable images, e.g. {summary['skipped_examples'][0]}",
                      markup=False)
    if summary["mean_dice"] is not None:  # images with truth masks: scored
        console.print(f"mean Dice {summary['mean_dice']:.4f}  mean IoU {summary['mean_iou']:.4f} "
                      "(per image, at original resolution)", markup=False)
        for name, dice in summary.get("mean_class_dice", {}).items():
            console.print(f"  {name}: mean Dice {dice:.4f}" if dice is not None else f"  {name}: in no image",
                          markup=False)
    if export is not None and summary["complete"]:
        _export_predictions(Path(summary["output"]), export, export_out)
    if not summary["complete"]:
        raise typer.Exit(130)


@contextmanager
def prediction_progress() -> Iterator[tuple[Progress, Callable[[int, int], None]]]:
    """A progress bar with images done, the rate and the time left; the first report (a resumed folder's images
    already done) sets where it starts without counting toward the rate."""
    # Two redraws a second, not Rich's ten: each costs about 0.5 ms of a core, taken from the model's threads
    # on a 2-core CPU.
    progress = Progress(TextColumn("predicting"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err_console,
                        transient=True, refresh_per_second=2)
    bar = progress.add_task("predicting", total=None, rate="")
    started = False

    def show(done: int, total: int) -> None:
        nonlocal started
        if not started:
            progress.reset(bar, total=total, completed=done)
            started = True
            return
        progress.update(bar, completed=done, total=total)
        speed = progress.tasks[bar].speed
        progress.update(bar, rate=f"{speed:.1f} img/s" if speed else "")

    with progress:
        yield progress, show


def _how(summary: dict) -> str:
    """How the folder's images came about: resumed ones, and this command's rate."""
    parts = []
    if summary.get("resumed"):
        parts.append(f"{summary['resumed']:,} already done")
    if summary.get("predicted") and summary.get("seconds"):
        parts.append(f"{summary['predicted']:,} predicted at {summary['predicted'] / summary['seconds']:.1f} "
                     "images/s")
    return f" ({', '.join(parts)})" if parts else ""


def _export_predictions(folder: Path, fmt: str, out: Path | None) -> None:
    import shutil

    from core.inference.writers import predicted_labels, write_labels

    if out is None:
        out = folder / f"export-{fmt}"
        if out.exists():  # seglab's own default folder: replaced by the new export
            shutil.rmtree(out)
    names, images = predicted_labels(folder)
    with err_console.status(f"writing {fmt}..."):
        count = write_labels(fmt, images, names, out)
    console.print(f"{fmt}: {count} images -> {out}", markup=False)
