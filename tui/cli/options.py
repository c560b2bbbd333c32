"""What every `seglab` command shares: the Typer app, the consoles, the common options and the one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.config import DEVICE_CHOICES
from core.data.labels import TASKS
from core.models.tta import TTA_CHOICES

# The order of `seglab --help`'s command list (commands not named here follow, in the order they registered).
HELP_ORDER = ("train", "demo", "sweep", "runs", "watch", "evaluate", "predict", "compare", "export", "clean", "models",
              "data", "tui", "serve")


class OrderedCommands(typer.core.TyperGroup):
    """The seglab group: lists its commands in HELP_ORDER, whichever module registered them first."""

    def list_commands(self, ctx) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: HELP_ORDER.index(name) if name in HELP_ORDER else len(HELP_ORDER))


console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

app = typer.Typer(
    name="seglab",
    cls=OrderedCommands,
    help="Train, watch and run segmentation models (UNet, ResNet18-152 UNets; binary or multiclass) from the terminal.",
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish and PowerShell
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

def inherit_runs_dir(ctx: typer.Context, value: Path | None) -> Path | None:
    """A command's --runs-dir, else the one given before the command (`seglab --runs-dir DIR runs`)."""
    if value is not None or ctx.parent is None:
        return value
    return ctx.find_root().params.get("runs_dir")


RunsDir = Annotated[
    Path | None,
    typer.Option("--runs-dir", help="Folder holding run folders (default: $SEGLAB_RUNS_DIR or ./runs).",
                 callback=inherit_runs_dir),
]
def completion_runs_root(ctx: typer.Context) -> Path:
    """The runs folder while the shell completes a word: --runs-dir if already typed (on the command or before
    it), else the default."""
    from core.runs.folders import runs_root

    return runs_root(ctx.params.get("runs_dir") or ctx.find_root().params.get("runs_dir"))


def complete_run_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of a run argument: the names in the runs folder (--runs-dir if already typed)."""
    from core.runs.folders import run_names

    return run_names(completion_runs_root(ctx), incomplete)


RunRef = Annotated[str, typer.Argument(help="A run folder, a unique prefix of a run name in the runs folder, or the "
                                            "--name it was given.", autocompletion=complete_run_names)]
DeviceOpt = Annotated[str, typer.Option("--device", help=" | ".join(DEVICE_CHOICES) + ".")]
TtaOpt = Annotated[str, typer.Option(
    "--tta", help="Test-time augmentation: " + " | ".join(TTA_CHOICES) + " (flip: average the probabilities of "
                  "each image and its mirror).")]

TaskOpt = Annotated[str | None, typer.Option(
    "--task", help=" | ".join(TASKS) + ": the task you expect the run's checkpoint to hold (it knows its own; a "
                   "mismatch is an error rather than a silent surprise).")]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `seglab: error: <message>` on stderr; raise what this returns to exit with `code`."""
    err_console.print(f"seglab: error: {message}", markup=False)
    return typer.Exit(code)
