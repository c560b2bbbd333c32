"""`seglab compare RUN RUN ...`: the runs side by side in a table (only the settings that differ), and a report
folder with the table as Markdown and CSV and the figures of the original experiment (curves, Dice, predictions)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.runs.folders import runs_root
from tui.cli.options import DeviceOpt, RunsDir, app, complete_run_names, console, err_console


def best_trial_runs(root: Path, sweep: str, top: int) -> list[str]:
    """The run folders of a sweep's `top` best finished trials on this machine, best first."""
    from core.errors import ConfigError
    from core.sweeps.plan import read_plan
    from core.sweeps.summary import trial_rows
    from core.sweeps.sweep import open_study

    plan = read_plan(root, sweep)
    rows = [row for row in trial_rows(open_study(plan, plan.dimensions()))
            if row.state == "finished" and row.run and (root / row.run / "config.json").is_file()]
    chosen = sorted(rows, key=lambda row: -(row.best_dice or 0.0))[:top]
    if len(chosen) < 2:
        raise ConfigError(f"compare --sweep {sweep}: {len(chosen)} finished trial(s) on this machine; two or more "
                          "are needed")
    return [row.run for row in chosen]


@app.command(name="compare", epilog="Examples:\n\n  seglab compare 20261128-1425 20261128-1530 --split test\n\n"
             "  seglab compare unet-pets resnet34-pets --images 6 --out report/\n\n"
             "  seglab compare --sweep pets --top 3")
def compare_command(
    runs: Annotated[list[str] | None, typer.Argument(
        help="Two or more runs: folders, names or unique name prefixes.", autocompletion=complete_run_names,
        show_default=False)] = None,
    sweep: Annotated[str | None, typer.Option("--sweep", help="Compare a sweep's best trials (see --top).")] = None,
    top: Annotated[int, typer.Option("--top", min=2, help="With --sweep: how many of its best trials.")] = 3,
    split: Annotated[str, typer.Option("--split", help="Split to score: test | val | train.")] = "test",
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="best | last")] = "best",
    images: Annotated[int, typer.Option("--images", min=1, max=32,
                                        help="Images in predictions.png: the most disputed half, then random.")] = 4,
    out: Annotated[Path | None, typer.Option("--out", help="Report folder (default: RUNS_DIR/compare-<time>).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Compare runs of different tasks or data anyway.")] = False,
    device: DeviceOpt = "auto",
    runs_dir: RunsDir = None,
) -> None:
    """Compare runs side by side: a table of scores and differing settings, and a report folder.

    The table: model, task, parameters, epochs, best val Dice, split Dice and IoU per image and micro (per class
    when multiclass), training time, images/s, and the settings that differ. The report folder: compare.md,
    compare.csv, curves.png, dice.png, predictions.png. Runs without an eval of the split for this checkpoint are
    evaluated first (as `seglab evaluate` would, writing its eval-<split>.json)."""
    from core.errors import ConfigError
    from core.inference.compare import compare_runs, open_runs, table_rows
    from core.inference.compare_report import check_report_folder, write_report

    if checkpoint not in ("best", "last"):
        raise ConfigError(f"--checkpoint: {checkpoint!r} is not one of best, last")
    root = runs_root(runs_dir)
    if sweep is not None:
        if runs:
            raise ConfigError("compare: give runs or --sweep NAME, not both")
        runs = best_trial_runs(root, sweep, top)
    chosen = open_runs(runs or [], root, force=force)
    if out is not None:
        check_report_folder(out)  # before the evaluations and predictions, not after them
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task("comparing", total=None)

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        comparison = compare_runs(chosen, split, checkpoint, device, predictions=True, progress=progress)
    rows = table_rows(comparison)
    # one column per run and a row per measure: a terminal fits a few runs across, not twenty measures
    table = Table(title=f"{len(rows)} runs on the {split} split ({checkpoint}.pt)", title_justify="left")
    table.add_column("", style="bold", no_wrap=True)
    for row in rows:
        table.add_column(row["run"], justify="right", overflow="fold")
    for measure in list(rows[0])[1:]:
        table.add_row(measure, *(row.get(measure, "") for row in rows))
    console.print(table)
    folder = out or root / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"
    written = write_report(comparison, folder, images=images)
    console.print(f"report: {folder} ({', '.join(path.name for path in written)})", markup=False)
