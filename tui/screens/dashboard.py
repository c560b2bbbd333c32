"""Live run screen: header with state/epoch/elapsed/ETA, epoch progress, epoch table, curves with their values,
event log, and the progress pictures (`m`: the model's masks after each epoch, paged with [ and ]).

It reads only the run's event log and status (through tui.run_follower), so it shows a run started
from the form, from `seglab train` elsewhere, or one that finished long ago, all the same way.
"""

from __future__ import annotations

import os
import threading
import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, RichLog
from textual.worker import Worker, WorkerState

from core.runs.events import CheckpointEvent, EpochEvent, Event, PictureEvent, ProgressEvent, StatusEvent, WarningEvent
from core.runs.folders import Run
from core.runs.pictures import progress_path, progress_pictures
from core.runs.status import FINAL_STATES, State
from tui.epoch_rows import class_columns, class_dice_text
from tui.messages import RunEvent, RunHistory
from tui.run_follower import follow_run
from tui.screens.confirm import ConfirmScreen
from tui.widgets.curves import Curves
from tui.widgets.epoch_table import EpochTable
from tui.widgets.progress_pane import ProgressPane
from tui.widgets.run_header import RunHeader
from tui.worker_failures import ReportsWorkerFailures

RESUMABLE_STATES = (State.STOPPED, State.INTERRUPTED, State.FAILED)  # `seglab train --resume` goes on from last.pt


def log_line(event: Event) -> str | None:
    """The event-log pane's line for an event (progress events are not logged)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
    if isinstance(event, StatusEvent):
        return f"{stamp} {event.state}{': ' + event.message if event.message else ''}"
    if isinstance(event, WarningEvent):
        return f"{stamp} warning: {event.message}"
    if isinstance(event, CheckpointEvent):
        return f"{stamp} saved {os.path.basename(event.path)} (epoch {event.trained or event.epoch})"
    if isinstance(event, EpochEvent):
        best = "  ★ best" if event.is_best else ""
        # classes too many for a column each in the table are listed here
        per_class = f"  ({class_dice_text(event)})" if event.class_dice and not class_columns(event) else ""
        return f"{stamp} epoch {event.epoch}: val Dice {event.val_dice:.4f}{per_class}{best}"
    return None


def missing_best(run: Run, what: str) -> str:
    """Why `what` (predictions, evaluation) cannot start: no epoch has finished yet, or best.pt has gone."""
    if run.read_status().epoch > 0:
        return f"{run.name}: no checkpoints/best.pt (removed?); {what} need{'s' if what == 'evaluation' else ''} it"
    return f"no checkpoint yet: {what} need{'s' if what == 'evaluation' else ''} at least one finished epoch"


class LiveRunScreen(ReportsWorkerFailures, Screen):
    """Follows one run. With `predict_when_finished`, opens its predictions once training ends (the demo)."""

    BINDINGS = [
        Binding("s", "stop", "stop"),
        Binding("r", "resume", "resume"),
        Binding("e", "evaluate", "evaluate"),
        Binding("p", "predict", "predict"),
        Binding("m", "toggle_masks", "masks"),
        Binding("left_square_bracket", "page(-1)", "earlier masks", show=False),
        Binding("right_square_bracket", "page(1)", "later masks", show=False),
        Binding("escape", "back", "back"),
    ]

    def __init__(self, run: Run, predict_when_finished: bool = False) -> None:
        super().__init__()
        self.run = run
        self.config = run.load_config()
        self.predict_when_finished = predict_when_finished
        self._state = State.CREATED
        self._stop_following = threading.Event()
        self._unshown: list[str] = []  # log lines that came while the masks hid the log
        self._told_how_to_resume = False

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        if value != self._state:
            self._state = value
            self.refresh_bindings()  # the footer offers stop while it trains, resume once it stopped

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.state in (State.CREATED, State.RUNNING, State.STALLED)
        if action == "resume":
            return self.state in RESUMABLE_STATES
        return True

    def compose(self) -> ComposeResult:
        yield RunHeader(self.run.name, self.config.epochs, clock=self.app.clock, time_budget=self.config.time_budget,
                        id="run-header")
        with Horizontal(id="run-body"):
            yield EpochTable(id="epoch-table")
            with Vertical(id="run-side"):
                yield Curves(id="curves")
                yield RichLog(id="event-log", max_lines=500, wrap=True, markup=False, min_width=0)
                yield ProgressPane(id="progress-pane")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.run.name
        self.query_one(ProgressPane).display = False
        self.follow()
        self.set_interval(1.0, self.tick)

    def on_unmount(self) -> None:
        self._stop_following.set()

    def on_resize(self) -> None:
        self.query_one(EpochTable).fit_width()

    @work(thread=True, exclusive=True, exit_on_error=False, group="follow")
    def follow(self) -> None:
        follow_run(self, self.run, self._stop_following)

    def tick(self) -> None:
        """Once a second: the elapsed clock; a run whose process vanished shows as interrupted, one whose process
        stopped writing (paused outright, so its own watchdog cannot say so) as stalled."""
        header = self.query_one(RunHeader)
        seen = self.app.run_state(self.run) if self.state in (State.RUNNING, State.STALLED) else self.state
        if seen == State.INTERRUPTED and self.state != State.INTERRUPTED:
            self.state = State.INTERRUPTED
            header.set_state(State.INTERRUPTED, finished=self.run.read_status().updated or self.app.clock())
            self.log_line("training process is gone: interrupted")
            self.say_how_to_resume()
        elif seen != self.state and seen in (State.RUNNING, State.STALLED):
            self.state = seen
            header.set_state(seen)
        exit_code = self.app.child_exit_code(self.run)
        if self.state == State.CREATED and exit_code is not None:
            # the child died before it could mark the run running: its reason is in train.log
            self.state = State.FAILED
            header.set_state(State.FAILED, finished=self.app.clock())
            self.log_line(f"training process exited with code {exit_code} before starting; see "
                          f"{self.run.path / 'train.log'}")
        header.redraw()

    @on(RunHistory)
    def show_history(self, message: RunHistory) -> None:
        status = self.run.read_status()
        self.state = self.app.run_state(self.run)
        header = self.query_one(RunHeader)
        # an interrupted run never wrote its end: its clock stops at its last word
        finished = status.updated if self.state == State.INTERRUPTED else status.finished
        header.set_state(self.state, started=status.started, finished=finished, earlier_s=status.earlier_s)
        header.set_runtime(status.runtime)
        epochs = [e for e in message.events if isinstance(e, EpochEvent)]
        self.query_one(EpochTable).set_epochs(epochs)
        self.query_one(Curves).set_epochs(epochs)
        for epoch in epochs:
            header.add_epoch(epoch)
        for event in message.events[-200:]:
            if (line := log_line(event)) is not None:
                self.log_line(line)
        if self.state == State.INTERRUPTED:
            self.log_line("training process is gone: interrupted")
        self.say_how_to_resume()
        self.query_one(ProgressPane).set_pictures(progress_pictures(self.run.path))
        if self.state == State.FINISHED and self.predict_when_finished:
            self.open_predictions_once()

    @on(RunEvent)
    def show_event(self, message: RunEvent) -> None:
        event = message.event
        header = self.query_one(RunHeader)
        if isinstance(event, ProgressEvent):
            header.set_progress(event)
        elif isinstance(event, EpochEvent):
            self.query_one(EpochTable).add_epoch(event)
            self.query_one(Curves).add_epoch(event)
            header.add_epoch(event)
        elif isinstance(event, PictureEvent):
            self.query_one(ProgressPane).add_picture(event.epoch, progress_path(self.run.path, event.epoch))
        elif isinstance(event, StatusEvent):
            self.state = event.state
            finished = event.time if event.state in FINAL_STATES else None
            if event.state == State.RUNNING:
                # a (re)start, or news of a running session (its time budget's plan, moving again): the session's
                # start and the time of the sessions before it are status.json's, written at each (re)start
                status = self.run.read_status()
                header.set_state(event.state, started=status.started or event.time, finished=finished,
                                 earlier_s=status.earlier_s)
                header.set_runtime(status.runtime)
            else:
                header.set_state(event.state, finished=finished)
            if event.state == State.FINISHED and self.predict_when_finished:
                self.open_predictions_once()
        if (line := log_line(event)) is not None:
            self.log_line(line)
        if isinstance(event, StatusEvent):
            self.say_how_to_resume()

    def log_line(self, line: str) -> None:
        """A line for the event log; kept aside while the masks hide the log (a hidden RichLog renders lines at
        width 0, which loses them) and written when it shows again."""
        log = self.query_one(RichLog)
        if log.display:
            log.write(line)
        else:
            self._unshown.append(line)

    def _show_unshown(self) -> None:
        """The lines kept aside while the masks hid the log, written now that it shows."""
        log = self.query_one(RichLog)
        lines, self._unshown = self._unshown, []
        for line in lines:
            log.write(line)

    def say_how_to_resume(self) -> None:
        """Once a run has stopped, been interrupted or failed: how it goes on (again after it resumes)."""
        if self.state == State.RUNNING:
            self._told_how_to_resume = False
        elif (self.state in RESUMABLE_STATES and not self._told_how_to_resume
              and self.run.checkpoint_path("last").is_file()):
            self._told_how_to_resume = True
            self.log_line(f"r resumes it from last.pt (seglab train --resume {self.run.name})")

    def action_resume(self) -> None:
        if self.state not in RESUMABLE_STATES:
            self.notify(f"the run is {self.state}; a stopped, interrupted or failed run resumes", severity="warning")
            return
        if not self.run.checkpoint_path("last").is_file():
            self.notify("no checkpoints/last.pt to resume from", severity="warning")
            return
        if self.app.resume_training(self.run):
            self.log_line("resuming from last.pt...")
            self.state = State.CREATED  # until the child says it runs: stop offered, resume not

    def open_predictions_once(self) -> None:
        self.predict_when_finished = False
        self.app.open_predictions(self.run.path, autostart=True)

    def action_stop(self) -> None:
        if self.state not in (State.RUNNING, State.STALLED):
            self.notify(f"the run is {self.state}; nothing to stop", severity="warning")
            return
        self.app.push_screen(
            ConfirmScreen(f"Stop {self.run.name}?\nIt finishes the current step, saves last.pt and can be resumed.",
                          yes="Stop training", no="Keep training"),
            self._stop_confirmed,
        )

    def _stop_confirmed(self, confirmed: bool | None) -> None:
        if confirmed and self.app.stop_training(self.run):
            self.log_line("stop requested: finishing the current step")

    def action_evaluate(self) -> None:
        if not self.run.checkpoint_path("best").is_file():
            self.notify(missing_best(self.run, "evaluation"), severity="warning")
            return
        self.log_line("evaluating best.pt on the test split...")
        self.evaluate()

    @work(thread=True, exclusive=True, exit_on_error=False, group="evaluate")
    def evaluate(self) -> dict:
        from core.inference.evaluation import evaluate_run

        self.app.limit_torch_threads()
        return evaluate_run(self.run, split="test", checkpoint="best", device="auto")

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "evaluate":
            return
        if event.state == WorkerState.SUCCESS:
            r = event.worker.result
            self.log_line(f"test split ({r['images']} images): Dice {r['dice']:.4f}  IoU {r['iou']:.4f}  "
                          f"loss {r['loss']:.4f} -> eval-test.json")
        elif event.state == WorkerState.ERROR:  # the notification comes from ReportsWorkerFailures
            self.log_line(f"evaluation failed: {event.worker.error}")

    def action_toggle_masks(self) -> None:
        """Swap the event log for the progress pictures, and back."""
        pane, log = self.query_one(ProgressPane), self.query_one(RichLog)
        pane.display, log.display = not pane.display, pane.display
        if log.display:
            self.call_after_refresh(self._show_unshown)  # once the log has its width again

    def action_page(self, step: int) -> None:
        pane = self.query_one(ProgressPane)
        if not pane.display:
            pane.display, self.query_one(RichLog).display = True, False
        pane.page(step)

    def action_predict(self) -> None:
        self.app.open_predictions(self.run.path)

    def action_back(self) -> None:
        self.app.pop_screen()
