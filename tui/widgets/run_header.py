"""The live run's top lines: name, state, epoch k/N, elapsed, ETA, and the current epoch's progress."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from core.runs.events import EpochEvent, ProgressEvent
from core.runs.status import State

STATE_STYLES = {State.RUNNING: "bold green", State.FINISHED: "bold blue", State.STOPPED: "bold yellow",
                State.FAILED: "bold red", State.INTERRUPTED: "bold red", State.CREATED: "dim",
                State.PRUNED: "yellow", State.STALLED: "bold magenta"}


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


class RunHeader(Vertical):
    """Title line plus a progress bar for the epoch in flight. `clock` is injectable for stable snapshots."""

    def __init__(self, name: str, epochs: int, clock: Callable[[], float], time_budget: float = 0.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.run_name, self.epochs, self.clock = name, epochs, clock
        self.time_budget = time_budget  # minutes (--time-budget), 0 = none: the epoch count is then its plan
        self.state, self.done, self.started, self.finished = State.CREATED, 0, None, None
        self.earlier_s = 0.0
        self.runtime = ""  # e.g. "cpu · bf16 · channels_last", from status.json
        self.epoch_seconds: list[float] = []
        self.progress: ProgressEvent | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="run-title")
        yield ProgressBar(total=None, show_eta=False, id="epoch-bar")
        yield Static(id="epoch-label")

    def on_mount(self) -> None:
        self.redraw()

    def set_runtime(self, runtime: dict | None) -> None:
        if runtime:
            parts = [str(runtime.get("device", "?")), str(runtime.get("precision", "?"))]
            parts += ["channels_last"] if runtime.get("channels_last") else []
            processes = runtime.get("processes", 1)
            parts += [f"{processes} processes"] if isinstance(processes, int) and processes > 1 else []
            self.runtime = " · ".join(parts)
            self.redraw()

    def set_state(self, state: str, started: float | None = None, finished: float | None = None,
                  earlier_s: float | None = None) -> None:
        """`started`: the current session's start; `earlier_s`: the training time of the sessions before it, so
        a resumed run's elapsed time goes on from where it stopped (None keeps what the header has)."""
        self.state = state
        self.started = started if started is not None else self.started
        self.earlier_s = earlier_s if earlier_s is not None else self.earlier_s
        self.finished = finished
        self.redraw()

    def add_epoch(self, event: EpochEvent) -> None:
        self.done = max(self.done, event.epoch)
        self.epochs = event.epochs  # a --time-budget run plans its count after its first epoch
        self.epoch_seconds.append(event.seconds)
        self.redraw()

    def set_progress(self, event: ProgressEvent) -> None:
        self.progress = event
        bar = self.query_one("#epoch-bar", ProgressBar)
        bar.update(total=event.steps, progress=event.step)
        self.query_one("#epoch-label", Static).update(
            f"epoch {event.epoch}  {event.step}/{event.steps}  loss {event.loss:.4f}  {event.images_per_s:.1f} img/s")

    def redraw(self) -> None:
        if not self.is_mounted:
            return
        end = self.finished if self.finished else self.clock()
        elapsed = self.earlier_s + max(0.0, end - self.started) if self.started else None
        eta = None
        if self.state == State.RUNNING and self.epoch_seconds:
            eta = sum(self.epoch_seconds[-5:]) / len(self.epoch_seconds[-5:]) * (self.epochs - self.done)
        title = Text.assemble(
            (self.run_name, "bold"), " ─ ", (self.state, STATE_STYLES.get(self.state, "")),
            f" ─ epoch {self.done}/{self.epochs}",
            f" ({self.time_budget:g}-min budget)" if self.time_budget else "",
            f" ─ {format_duration(elapsed)} elapsed",
            f" ─ ETA {format_duration(eta)}" if eta is not None else "",
            (f" ─ {self.runtime}", "dim") if self.runtime else "",
        )
        self.query_one("#run-title", Static).update(title)
        if self.state == State.RUNNING and self.progress is None:
            self.query_one("#epoch-label", Static).update("waiting for the next progress report")
        if self.state != State.RUNNING:
            # no epoch in flight: a full bar for a finished run, an empty one otherwise (never a spinner)
            self.query_one("#epoch-bar", ProgressBar).update(total=1, progress=int(self.state == State.FINISHED))
            self.query_one("#epoch-label", Static).update(f"training {self.state}")
