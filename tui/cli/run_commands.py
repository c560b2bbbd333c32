"""`seglab evaluate`, `runs`, `watch` and `demo`: everything done with a run once it exists (predict: its own file)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Annotated

import typer
from rich.table import Table

from core.config import DEMO_CONFIG, TrainConfig
from core.runs.events import StatusEvent, follow_events, read_history
from core.runs.folders import Run, open_run, runs_root
from core.runs.status import ENDED_STATES, FINAL_STATES, State
from tui.cli.options import DeviceOpt, RunRef, RunsDir, TaskOpt, TtaOpt, app, console, err_console, fail
from tui.cli.text_table import print_box_table
from tui.cli.train_command import train_run
from tui.cli.training_view import TrainingView
from tui.run_rows import SORT_KEYS, format_started, middle_ellipsis, read_run_rows, select_rows


def say_when_test_is_val(config: TrainConfig, split: str) -> None:
    from core.run_data import val_doubles_as_test

    if split == "test" and val_doubles_as_test(config):
        err_console.print("note: this folder has no held-out test set: its test split is the val split, whose "
                          "images also chose best.pt", markup=False)


@app.command(name="evaluate", epilog="Examples:\n\n  seglab evaluate 20261128-1425 --split test\n\n"
             "  seglab evaluate runs/20261128-142501-unet-demo --checkpoint last --split val")
def evaluate_command(
    run: RunRef,
    split: Annotated[str, typer.Option(help="train | val | test | all")] = "test",
    checkpoint: Annotated[str, typer.Option(help="best | last | path to a .pt file")] = "best",
    tta: TtaOpt = "none",
    task: TaskOpt = None,
    device: DeviceOpt = "auto",
    runs_dir: RunsDir = None,
) -> None:
    """Evaluate a run's checkpoint on a split: loss, Dice, IoU; writes eval-<split>.json in the run.

    Multiclass: per class too, and the confusion matrix."""
    from core.inference.evaluation import eval_path, evaluate_run

    the_run = open_run(run, runs_root(runs_dir))
    say_when_test_is_val(the_run.load_config(), split)
    with err_console.status(f"evaluating {the_run.name} on {split}..."):
        result = evaluate_run(the_run, split=split, checkpoint=checkpoint, device=device, tta=tta, task=task)
    with_tta = "" if tta == "none" else f", test-time augmentation: {tta}"
    table = Table(title=f"{the_run.name}: {split} split, {checkpoint} checkpoint (epoch {result['trained']}){with_tta}")
    for column in ("images", "loss", "Dice (per image)", "IoU (per image)", "Dice (micro)", "IoU (micro)"):
        table.add_column(column, justify="right")
    table.add_row(str(result["images"]), f"{result['loss']:.4f}", f"{result['dice']:.4f}", f"{result['iou']:.4f}",
                  f"{result['dice_micro']:.4f}", f"{result['iou_micro']:.4f}")
    console.print(table)
    if result["task"] == "multiclass":
        console.print(class_table(result))
    console.print(f"written: {eval_path(the_run, split, tta, checkpoint)}", markup=False)


def class_table(result: dict) -> Table:
    """A multiclass evaluation's per-class scores and its confusion matrix (rows true, columns predicted)."""
    names = result["class_names"]
    table = Table(title=f"per class (mean over foreground: Dice {result['dice']:.4f}; all {len(names)} classes: "
                        f"Dice {result['dice_all']:.4f}, IoU {result['iou_all']:.4f}; pixel accuracy "
                        f"{result['pixel_accuracy']:.4f})")
    table.add_column("class")
    for column in ("Dice", "IoU", "Dice (micro)", "IoU (micro)"):
        table.add_column(column, justify="right")
    for name in names:
        table.add_column(f"-> {name}", justify="right", style="dim")
    for name, row in zip(names, result["confusion_matrix"], strict=True):
        scores = result["per_class"][name]
        table.add_row(name, *(_score(scores[key]) for key in ("dice", "iou", "dice_micro", "iou_micro")),
                      *(str(count) for count in row))
    return table


def _score(value: float) -> str:
    return "-" if value != value else f"{value:.4f}"  # NaN: the class is in no image


MIN_NAME_WIDTH = 24  # enough for a run's time and the start of its model and name


@app.command(name="runs", epilog="Examples:\n\n  seglab runs --runs-dir /data/seglab-runs\n\n"
             "  seglab runs --filter 'model=unet dice>0.8' --sort dice\n\n  seglab runs --filter pets\n\n"
             "  seglab runs --disk")
def runs_command(
    runs_dir: RunsDir = None,
    filter_text: Annotated[str, typer.Option(
        "--filter", help="Words to find in the name, model or data, and terms that must all hold: model=unet, "
                         "state!=failed, dice>0.9, epochs>=20 (fields: name, model, data, state, dice, epoch, "
                         "epochs).")] = "",
    sort: Annotated[str, typer.Option("--sort", help=f"Order by {' | '.join(SORT_KEYS)} (started: newest first; "
                                                     "dice: best first).")] = SORT_KEYS[0],
    disk: Annotated[bool, typer.Option("--disk", help="Each run's size on disk by kind (checkpoints, predictions, "
                                                      "exports, logs, other), largest first; `seglab clean` frees "
                                                      "it.")] = False,
) -> None:
    """List runs: name, model, data, state, epoch/epochs, best Dice, started."""
    root = runs_root(runs_dir)
    every = read_run_rows(root)
    if not every:
        console.print(f"no runs in {root} yet: try `seglab demo` or `seglab train --help`", markup=False)
        return
    rows = select_rows(every, filter_text, sort)
    if not rows:
        console.print(f"no run of the {len(every)} in {root} matches {filter_text!r}", markup=False)
        return
    if disk:
        from tui.cli.disk_view import show_disk_usage

        show_disk_usage([row.path for row in rows if not row.is_sweep], root)
        return
    total = f"{len(every)} run{'' if len(every) == 1 else 's'}"
    shown = f"{len(rows)} of {total}" if len(rows) < len(every) else total
    cells = [[row.name, row.model, row.data, row.state, f"{row.epoch}/{row.epochs}",
              f"{row.best_dice:.4f}" if row.best_dice is not None else "-", format_started(row.started)]
             for row in rows]
    columns = ["name", "model", "data", "state", "epoch", "best Dice", "started"]
    widths = {column: max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)}
    # on a narrow terminal the start date, then the data folder, give way so the name stays whole (it is what the
    # other commands take); only then is it cut, in the middle (its time and --name stay, either opens the run).
    # The scores are never squeezed.
    for optional in ("started", "data"):
        if console.width - (sum(widths.values()) - widths["name"] + 3 * len(columns) + 1) >= widths["name"]:
            break
        index = columns.index(optional)
        columns.pop(index)
        del widths[optional]
        cells = [line[:index] + line[index + 1:] for line in cells]
    room = console.width - (sum(widths.values()) - widths["name"] + 3 * len(columns) + 1)
    name_width = max(min(widths["name"], room), MIN_NAME_WIDTH)
    widths["name"] = name_width
    print_box_table(console, f"{shown} in {root}", columns,
                    [[middle_ellipsis(line[0], name_width), *line[1:]] for line in cells],
                    [widths[column] for column in columns],
                    {i for i, column in enumerate(columns) if column in ("epoch", "best Dice")})


@app.command(name="watch", epilog="Example:\n\n  seglab watch 20261128-1425")
def watch_command(run: RunRef, runs_dir: RunsDir = None) -> None:
    """Follow a run's events live; exits when the run ends. Ctrl-C leaves the run training."""
    the_run = open_run(run, runs_root(runs_dir))
    console.print(f"watching {the_run.path} (Ctrl-C stops watching, not the run)", markup=False)
    if the_run.state() in ENDED_STATES:
        _replay(the_run)
        return
    view = TrainingView(console, title=the_run.name)
    stop = _StopWhenGone(the_run)
    history, offset = read_history(the_run.events_path)  # then follow from its end
    try:
        with view:
            for event in history:
                view(event)
            for event in follow_events(the_run.events_path, stop=stop.event, offset=offset,
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
        self.run, self.event = run, threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self.event.wait(2.0):
            if self.run.state() == State.INTERRUPTED:
                self.event.set()


def _replay(run: Run) -> None:
    view = TrainingView(console, title=run.name)
    view.live_mode = False  # a finished history prints as plain lines
    for event in read_history(run.events_path)[0]:  # a million progress lines are skipped, not parsed
        view(event)
    console.print(f"state: {run.state()}", markup=False)


@app.command(name="demo", epilog="Examples:\n\n  seglab demo\n\n  seglab demo --headless --epochs 3")
def demo_command(
    epochs: Annotated[int, typer.Option(help="Epochs to train")] = DEMO_CONFIG.epochs,
    device: DeviceOpt = "auto",
    headless: Annotated[bool, typer.Option(
        "--headless", help="Plain terminal output instead of the dashboard (automatic when stdout is not a terminal)",
    )] = False,
    runs_dir: RunsDir = None,
) -> None:
    """No data, no GPU needed: a small UNet trained on a synthetic set, evaluated and its overlays written.

    Under a minute on a laptop CPU. In an interactive terminal it opens the dashboard on the live demo run, then
    its predictions.
    """
    from core.inference.evaluation import evaluate_run
    from core.inference.predict import predict as predict_images
    from core.training.distributed import NOT_DISTRIBUTED

    if not headless and sys.stdout.isatty() and sys.stdin.isatty():
        if (epochs, device) != (DEMO_CONFIG.epochs, "auto"):
            raise fail("--epochs and --device apply to --headless; the dashboard demo uses the demo preset")
        from tui.cli import run_dashboard

        run_dashboard(runs_dir, start_demo=True)
        return
    from core.training.launch import prepare_run

    started = time.perf_counter()
    with err_console.status("checking data (generating the synthetic set on first use)..."):
        made = prepare_run(DEMO_CONFIG.replace(epochs=epochs, device=device), runs_root(runs_dir))
    run, config = made.run, made.config
    summary = train_run(run, config, resume=False, distributed=NOT_DISTRIBUTED)
    if summary.state != State.FINISHED:
        return
    with err_console.status("evaluating and predicting the test split..."):
        result = evaluate_run(run, split="test", checkpoint="best", device=device)
        predictions = predict_images(run, split="test", checkpoint="best", device=device)
    console.print(f"test Dice {result['dice']:.4f} (per image), IoU {result['iou']:.4f} on "
                  f"{result['images']} images", markup=False)
    console.print(f"overlays: {predictions['output']}", markup=False)
    console.print(f"demo took {time.perf_counter() - started:.0f} s", markup=False)
