"""Training events rendered in a plain terminal for `seglab train`, `watch` and `demo`.

On a terminal: a rich Live view (epoch table + progress bar of the current epoch). Elsewhere
(a log file, CI): one plain line per epoch and per state change, no redraws.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from core.runs.events import EpochEvent, Event, ProgressEvent, StatusEvent, WarningEvent
from core.runs.status import State
from tui.epoch_rows import class_columns, epoch_cells, epoch_columns, epoch_line

TABLE_ROWS = 15  # the live table keeps the latest epochs; the full history is in events.jsonl


class OutputConsole(Console):
    """stdout for a training view: when its reader goes away (`seglab train | head`, `less` quit), output is
    dropped and `on_closed` runs once, where rich would raise SystemExit(1) in the middle of a training step
    (the run then failed with the message "1")."""

    def __init__(self, on_closed: Callable[[], None]):
        super().__init__(highlight=False, soft_wrap=True)
        self.on_closed, self.closed = on_closed, False

    def on_broken_pipe(self) -> None:
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail either
        os.close(devnull)
        if not self.closed:
            self.closed = True
            self.on_closed()


class TrainingView:
    """Consumes events (from the engine's callback or a followed log) and draws them."""

    def __init__(self, console: Console, title: str = "", say_failure: bool = True):
        """`say_failure`: print a failed run's reason; `seglab train` says it itself, as its error line."""
        self.console = console
        self.title = title
        self.say_failure = say_failure
        self.epochs: list[EpochEvent] = []
        self.live_mode = console.is_terminal
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[speed]:.1f} img/s"),
            TimeRemainingColumn(), console=console,
        )
        self.task = None
        self.live: Live | None = None

    def __enter__(self) -> TrainingView:
        if self.live_mode:
            self.live = Live(self._renderable(), console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self._renderable(final=True))
            self.live.__exit__(None, None, None)
            self.live = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, ProgressEvent):
            self._on_progress(event)
        elif isinstance(event, EpochEvent):
            self.epochs.append(event)
            if not self.live_mode:
                self.console.print(epoch_line(event), highlight=False)
        elif isinstance(event, StatusEvent) and event.state == State.FAILED and not self.say_failure:
            pass
        elif isinstance(event, (StatusEvent, WarningEvent)):
            line = f"[{event.state}] {event.message}".rstrip() if isinstance(event, StatusEvent) else \
                f"warning: {event.message}"
            if self.live is not None:
                self.live.console.print(line, highlight=False, markup=False)
            else:
                self.console.print(line, highlight=False, markup=False)
        if self.live is not None:
            self.live.update(self._renderable())

    def _on_progress(self, event: ProgressEvent) -> None:
        if not self.live_mode:
            return
        description = f"epoch {event.epoch}"
        if self.task is None or self.progress.tasks[0].description != description:
            if self.task is not None:
                self.progress.remove_task(self.task)
            self.task = self.progress.add_task(description, total=event.steps, loss=event.loss,
                                               speed=event.images_per_s)
        self.progress.update(self.task, completed=event.step, loss=event.loss, speed=event.images_per_s)

    def _renderable(self, final: bool = False):
        table = Table(title=self.title or None, title_justify="left", expand=False)
        shown = self.epochs[-TABLE_ROWS:]
        for _, header, _ in epoch_columns(class_columns(shown[-1]) if shown else ()):
            table.add_column(header, justify="right")
        for e in shown:
            table.add_row(*epoch_cells(e, of_epochs=True), style="bold green" if e.is_best else None)
        return table if final or self.task is None else Group(table, self.progress)
