"""The `seglab` command (Typer): no command opens the dashboard; train, evaluate, predict, runs, watch, demo
and data run the same work headless, printing plain lines or live tables (tui/cli/training_view.py).

Every error meant for the user leaves as one line on stderr with a non-zero exit code (2 for bad
options or input), never a traceback.
"""

from __future__ import annotations

import atexit
import importlib
import inspect
import os
import pkgutil
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import typer

from core.errors import SeglabError
from tui.cli.options import RunsDir, app, err_console, fail

# Newer Typer vendors click, older releases use click itself: reach the exception classes through the
# public BadParameter instead of either import path.
UsageError = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError")
ClickException = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException")

COMMAND_MODULE_SUFFIXES = ("_command", "_commands")


def register_commands() -> list[str]:
    """Import every command module of this package (a name ending in _command or _commands): each registers its
    commands on `app` as it is imported, so a new command file needs no edit here. Returns the modules' names."""
    names = [module.name for module in pkgutil.iter_modules(__path__) if module.name.endswith(COMMAND_MODULE_SUFFIXES)]
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names


register_commands()


def run_dashboard(runs_dir: Path | None, start_demo: bool = False) -> None:
    from tui.app import make_app
    from tui.widgets.terminal_graphics import enable_terminal_graphics

    enable_terminal_graphics()  # before the app owns the terminal: asking it later would read the user's keys
    make_app(runs_dir, start_demo=start_demo).run()


@app.callback(invoke_without_command=True,
              epilog="Examples:\n\n  seglab              # the dashboard\n\n  seglab demo\n\n  seglab train --help")
def dashboard(ctx: typer.Context, runs_dir: RunsDir = None) -> None:
    """Train, watch and run segmentation models. With no command, opens the dashboard."""
    if ctx.invoked_subcommand is None:
        run_dashboard(runs_dir)
    elif runs_dir is not None and not takes_runs_dir(ctx.command.get_command(ctx, ctx.invoked_subcommand)):
        raise fail(f"--runs-dir: `seglab {ctx.invoked_subcommand}` reads no runs folder; leave --runs-dir out")


def takes_runs_dir(command: Any) -> bool:
    """Whether a command has a --runs-dir (which then defaults to the one given before the command)."""
    if command is None:
        return False
    return any(param.name == "runs_dir" for param in command.params)


@app.command(name="tui", epilog="Example:\n\n  seglab tui --runs-dir /data/seglab-runs")
def tui_command(runs_dir: RunsDir = None) -> None:
    """Open the dashboard: runs, new-run form, live training view, predictions."""
    run_dashboard(runs_dir)


def reflow_help(command: Any) -> None:
    """Join each paragraph of the command's help (and its subcommands') into one line, so the terminal wraps it:
    Typer's Rich help keeps a docstring's line breaks, which cut sentences wherever the source line ended."""
    if command.help:
        paragraphs = inspect.cleandoc(command.help).split("\n\n")
        command.help = "\n\n".join(paragraph if paragraph.startswith("\b") else " ".join(paragraph.split())
                                    for paragraph in paragraphs)
    for subcommand in getattr(command, "commands", {}).values():
        reflow_help(subcommand)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the Typer app and turns errors into one line each."""
    # seglab refuses images over Pillow's pixel limit itself, with one line; Pillow's own warning is noise
    warnings.filterwarnings("ignore", message=".*could be decompression bomb.*")
    command = typer.main.get_command(app)
    reflow_help(command)
    try:
        code = command.main(args=argv, prog_name="seglab", standalone_mode=False)
    except typer.Abort:
        code = 130
    except UsageError as error:
        hint = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
        if error.format_message():  # none when a group given no command has printed its help (click's exit 2)
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


def console_main() -> None:
    """The installed `seglab` script and `python -m tui.cli`: main(), then a quick exit.

    Once torch (and the torch._dynamo that torchvision imports) is loaded, the interpreter's own teardown of
    its modules takes over a second (1.1 s measured on a 2-core EPYC) after the work is done. With the work
    done, output flushed, the atexit handlers run (logging, multiprocessing) and no other thread left, the
    process ends at once instead. Tests call main() and keep the normal exit.
    """
    try:
        main()
        code: object = 0
    except SystemExit as done:
        code = done.code
    if "torch" not in sys.modules or threading.active_count() > 1 or not isinstance(code, int | None):
        sys.exit(code)
    atexit._run_exitfuncs()  # what a normal exit runs before the teardown skipped here
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
