"""`seglab clean`: show what would free disk (last.pt of finished runs, old predictions, exports, orphaned
decoded-image caches), then remove it once confirmed; core/runs/cleaning.py plans and removes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from core.runs.cleaning import CleanPlan, Note, apply_clean, plan_clean
from core.runs.disk_usage import human_size
from core.runs.folders import runs_root
from tui.cli.options import RunsDir, app, complete_run_names, console, fail
from tui.cli.text_table import print_box_table

MAX_NOTES = 10  # kept/skipped lines shown before "... and N more"


@app.command(name="clean", epilog="Examples:\n\n  seglab clean --dry-run\n\n"
             "  seglab clean --older-than 30 --keep-best\n\n  seglab clean 20261127-0910 pets --yes")
def clean_command(
    runs: Annotated[list[str] | None, typer.Argument(
        help="Runs to clean: folders, unique prefixes of run names, or the --name they were given (default: "
             "every run, and the orphaned decoded-image caches).", autocompletion=complete_run_names,
        show_default=False, metavar="RUN")] = None,
    keep_best: Annotated[bool, typer.Option(
        "--keep-best", help="Keep every best.pt (runs named or picked by --older-than otherwise lose the best.pt "
                            "of a finished or pruned run).")] = False,
    older_than: Annotated[float | None, typer.Option(
        "--older-than", metavar="DAYS", help="Only runs, prediction folders and caches unchanged for more than DAYS "
                                             "days; their predictions go too.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Remove without asking.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and remove nothing.")] = False,
    runs_dir: RunsDir = None,
) -> None:
    """Free disk: remove last.pt of finished runs, exports, temp files, orphaned caches; with RUN or --older-than
    also their predictions and best.pt.

    A live run (created, running or stalled, its process alive) is never touched. A stopped, failed or interrupted
    run keeps last.pt, which `seglab train --resume` continues from. Every run keeps config.json, events.jsonl,
    status.json, results.csv and curves.png, so `seglab runs` and compare still show it. The plan is printed
    first and removed only once you answer y (or with --yes)."""
    if older_than is not None and older_than < 0:
        raise fail(f"--older-than: days must be 0 or more, got {older_than:g}")
    root = runs_root(runs_dir)
    plan = plan_clean(root, runs or (), older_than_days=older_than, keep_best=keep_best)
    _print_plan(plan, root)
    if not plan.removals:
        return
    if dry_run:
        console.print("dry run: nothing removed", markup=False)
        return
    amount = f"{_files(plan.files)} ({human_size(plan.bytes)})"
    if not yes:
        if not sys.stdin.isatty():
            raise fail(f"not removing {amount} unasked: the input is not a terminal; pass --yes to remove them "
                       "(or --dry-run to only see the plan)")
        if not _confirm(f"remove {amount}? [y/N] "):
            console.print("nothing removed", markup=False)
            return
    result = apply_clean(plan)
    console.print(f"removed {_files(result.files)} ({human_size(result.bytes)})", markup=False)
    _print_notes("not removed", result.not_removed)


def _print_plan(plan: CleanPlan, root) -> None:
    if plan.removals:
        columns = ["run", "what", "size"]
        rows = [[removal.owner, removal.what, human_size(removal.bytes)] for removal in plan.removals]
        rows.append(["total", _files(plan.files), human_size(plan.bytes)])
        widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(columns)]
        print_box_table(console, f"clean plan for {root}: {_files(plan.files)}, {human_size(plan.bytes)}", columns,
                        rows, widths, {2})  # plain lines: Rich's Table takes seconds for thousands of rows
    else:
        console.print(f"nothing to remove in {root}", markup=False)
    _print_notes("skipped", plan.skipped)
    _print_notes("kept", plan.kept)
    if not plan.chose_runs:
        console.print("predictions and best.pt kept: name runs or give --older-than DAYS to remove old ones",
                      markup=False)


def _print_notes(label: str, notes: tuple[Note, ...]) -> None:
    for note in notes[:MAX_NOTES]:
        console.print(f"{label} {note.owner}: {note.text}", markup=False)
    if len(notes) > MAX_NOTES:
        console.print(f"... and {len(notes) - MAX_NOTES} more {label}", markup=False)


def _files(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


def _confirm(question: str) -> bool:
    console.print(question, end="", markup=False)
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
