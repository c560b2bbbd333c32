"""What watches a training run from beside it, on rank 0: notifications when it ends or stalls, the stall watchdog,
and the trackers of --log. Each sees every event the run emits; none can stop or slow training (their work runs on
threads of their own, their failures become warning events)."""

from __future__ import annotations

import time
from collections.abc import Callable

from core.config import TrainConfig
from core.runs.events import EpochEvent, Event, PictureEvent, ProgressEvent, StatusEvent, WarningEvent
from core.runs.folders import Run
from core.runs.notifications import Notice, Notifier, this_host
from core.runs.status import State
from core.training.loggers import start_loggers
from core.training.stall_watchdog import StallWatchdog
from core.user_settings import read_settings

NO_TARGET = "none"  # --notify none, --notify-command none: no notification, not even settings.json's
NOTIFIED_STATES = (State.FINISHED, State.FAILED, State.STOPPED)  # and stalls; a sweep's pruned trials are not news


def notify_targets(config: TrainConfig, warn: Callable[[str], None]) -> tuple[str, str]:
    """The URL and command a run notifies: its own, else settings.json's; `none` for neither. A damaged
    settings.json, or a default URL that is not http(s), is one warning (a URL's path is never shown)."""
    settings, problem = read_settings()
    if problem and not (config.notify and config.notify_command):  # both given: the defaults are not needed
        warn(problem)
    url = config.notify or str(settings.get("notify") or "")
    if not config.notify and url and not url.startswith(("http://", "https://")):
        warn(f"settings.json's notify {url.split('/', 1)[0]}{'/...' if '/' in url else ''} is not an http:// or "
             "https:// URL: not used")
        url = ""
    command = config.notify_command or str(settings.get("notify_command") or "")
    return ("" if url == NO_TARGET else url), ("" if command == NO_TARGET else command)


class RunWatchers:
    def __init__(self, config: TrainConfig, run: Run, runs_root, emit: Callable[[Event], None]):
        self.run, self.emit = run, emit
        self.notifier = Notifier(*notify_targets(config, self.warn), warn=self.warn)
        self.watchdog = StallWatchdog(config.stall_minutes * 60, self._stall_changed)
        self.final_state = State.FAILED  # until a final status event says otherwise
        self.armed = False  # readers judge stalls from the first step on, as the watchdog does
        run.update_status(stall_after_s=None)
        self.loggers = start_loggers(config, run.path, runs_root, self.warn)
        self.watchdog.start()

    def observe(self, event: Event) -> None:
        self.watchdog.observe(event)
        if isinstance(event, EpochEvent):
            self._to_loggers("epoch", event)
            if self.watchdog.minimum_s:
                self.run.update_status(stall_after_s=round(self.watchdog.limit_s, 1))
        elif isinstance(event, ProgressEvent):
            self._to_loggers("progress", event, (event.epoch - 1) * event.steps + event.step)
            if not self.armed and self.watchdog.minimum_s:
                self.armed = True
                self.run.update_status(stall_after_s=round(self.watchdog.limit_s, 1))
        elif isinstance(event, PictureEvent):
            self._to_loggers("picture", event)
        elif isinstance(event, StatusEvent) and event.state in (*NOTIFIED_STATES, State.PRUNED):
            self.final_state = event.state
            if event.state in NOTIFIED_STATES:
                self.notifier.send(self._notice(event.state, event.message))

    def close(self) -> None:
        """The run has ended: stop the watchdog, let the trackers and notifications send what is queued."""
        self.watchdog.close()
        for logger in self.loggers:
            logger.close(self.final_state)
        self.notifier.close()

    def warn(self, message: str) -> None:
        try:
            self.emit(WarningEvent(message=message))
        except (OSError, ValueError):  # the log is closed: the run is over
            print(f"seglab: warning: {message}", flush=True)

    def _to_loggers(self, method: str, *args: object) -> None:
        for logger in self.loggers:
            logger.call(method, *args)

    def _stall_changed(self, stalled: bool, quiet_s: float, limit_s: float) -> None:
        if stalled:
            message = (f"no progress for {quiet_s / 60:.1f} min (stalled after {limit_s / 60:.1f}): a hung data "
                       "loader, disk or collective?")
            self.run.update_status(state=State.STALLED, message=message)
            self.emit(StatusEvent(state=State.STALLED, message=message))
            self.notifier.send(self._notice(State.STALLED, message))
        else:
            self.run.update_status(state=State.RUNNING, message="")
            self.emit(StatusEvent(state=State.RUNNING, message=f"moving again after {quiet_s / 60:.1f} min "
                                                               "without progress"))

    def _notice(self, state: str, message: str) -> Notice:
        status = self.run.read_status()
        elapsed = status.elapsed_s(time.time()) or 0.0  # every session's training time, not the last one's only
        return Notice(run=self.run.path.name, state=state, epoch=status.epoch, epochs=status.epochs,
                      best_dice=status.best_dice, elapsed_s=round(elapsed, 1), host=this_host(),
                      message=message or status.message, folder=str(self.run.path))
