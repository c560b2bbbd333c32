"""SeglabApp: composes the screens, routes between them, launches training children, asks before quitting.

Build it with make_app(): the CLI and the tests get the same app.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from core.config import DEMO_CONFIG, TrainConfig
from core.errors import SeglabError
from core.runs.folders import Run, runs_root
from core.training.launch import check_launch, prepare_run, resumable_run, start_training_process, stop_run
from core.user_settings import load_settings, save_setting
from tui.breakpoints import HORIZONTAL_BREAKPOINTS as LAYOUT_BREAKPOINTS
from tui.screens.confirm import QuitScreen
from tui.screens.dashboard import LiveRunScreen, missing_best
from tui.screens.new_run import NewRunScreen
from tui.screens.predictions import PredictionsScreen
from tui.screens.runs import RunsScreen
from tui.widgets.key_panel import KeysPanel
from tui.worker_failures import ReportsWorkerFailures

if TYPE_CHECKING:  # the dashboard starts without torch
    from core.training.estimate import DurationEstimate


def count_gpus() -> int:
    """CUDA GPUs torch can use here (0 without CUDA); asked once, when the dashboard starts."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class SeglabApp(ReportsWorkerFailures, App):
    """The dashboard. `open_run` starts on that run's live screen; `clock` is injectable for snapshots."""

    CSS_PATH = "seglab.tcss"
    TITLE = "seglab"
    # screen classes the stylesheet lays out by: below 100 columns panes stack, from 150 they get more room
    HORIZONTAL_BREAKPOINTS = LAYOUT_BREAKPOINTS
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("question_mark,f1", "toggle_help", "keys", key_display="?"),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
    ]

    def __init__(self, root: Path, open_run: Path | None = None, start_demo: bool = False,
                 clock: Callable[[], float] = time.time, gpus: int | None = None) -> None:
        super().__init__()
        self.runs_root = root
        self._gpus = gpus
        self.initial_run = open_run
        self.start_demo_on_mount = start_demo
        self.clock = clock
        self.children_started: dict[Path, subprocess.Popen] = {}

    def estimate_duration(self, config: TrainConfig, cancelled=None) -> DurationEstimate:
        """How long a config's run should take, for the new-run form (a short measured probe on this device, or
        the throughput recorded for the same settings); called in a worker thread, which `cancelled` says has been
        cancelled (the probe then stops between steps). Tests replace it."""
        from core.training.estimate import estimate_duration

        return estimate_duration(config.with_absolute_paths(), cancelled=cancelled)

    def remember_theme(self, theme) -> None:
        save_setting("theme", theme.name)

    def on_mount(self) -> None:
        theme = load_settings().get("theme")
        if isinstance(theme, str) and theme in self.available_themes:
            self.theme = theme  # the one chosen last time, through the palette's Theme command
        self.theme_changed_signal.subscribe(self, self.remember_theme)
        self.push_screen(RunsScreen(self.runs_root))
        if self.initial_run is not None:
            self.open_run(self.initial_run)
        elif self.start_demo_on_mount:
            self.start_demo()

    @property
    def gpus(self) -> int:
        """GPUs here, counted when first needed (importing torch takes a moment); the new-run form offers
        several training processes when there is more than one."""
        if self._gpus is None:
            self._gpus = count_gpus()
        return self._gpus

    # routing --------------------------------------------------------------------------------------

    def open_run(self, path: Path) -> None:
        """The run's live screen; a run folder whose config.json is missing or damaged is a notification naming
        the file, and the dashboard stays where it was."""
        try:
            screen = LiveRunScreen(Run(path))
        except SeglabError as error:
            self.notify(str(error), title=f"cannot open {path.name}", severity="error", timeout=10)
            return
        self.push_screen(screen)

    def open_new_run_form(self, initial: TrainConfig | None = None) -> None:
        self.push_screen(NewRunScreen(initial, gpus=self.gpus))

    def open_sweep(self, name: str) -> None:
        from tui.screens.sweep import SweepScreen

        self.push_screen(SweepScreen(self.runs_root, name))

    def open_compare(self, paths: list[Path]) -> None:
        from tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen(paths))

    def open_predictions(self, path: Path, autostart: bool = False) -> None:
        run = Run(path)
        try:
            run.load_config()  # what it predicts with: the model, size and data of config.json
        except SeglabError as error:
            self.notify(str(error), title=f"cannot predict with {path.name}", severity="error", timeout=10)
            return
        if not run.checkpoint_path("best").is_file():
            self.notify(missing_best(run, "predictions"), severity="warning")
            return
        self.push_screen(PredictionsScreen(run, autostart=autostart))

    # training children ------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="start-run")
    def start_training(self, config: TrainConfig, predict_when_finished: bool = False, processes: int = 1) -> None:
        """Check the config and create its run folder as `seglab train` does (core.training.launch), off the UI thread:
        the data check may generate the synthetic set. A config the CLI would refuse is refused with the same
        line, before any folder or process exists."""
        try:
            check_launch(processes, config)
            plan = prepare_run(config, self.runs_root)
        except SeglabError as error:
            self.call_from_thread(self._start_refused, str(error))
            return
        self.call_from_thread(self.launch_prepared, plan.run, predict_when_finished, processes)

    def launch_prepared(self, run: Run, predict_when_finished: bool = False, processes: int = 1) -> Run:
        """Launch the training child of a prepared run and show the run live (the form is replaced)."""
        self.children_started[run.path] = start_training_process(run, self.runs_root, processes)
        if isinstance(self.screen, NewRunScreen):
            self.pop_screen()
        self.push_screen(LiveRunScreen(run, predict_when_finished=predict_when_finished))
        return run

    def resume_training(self, run: Run) -> bool:
        """Launch a child that resumes the run from last.pt (`seglab train --resume`), with as many processes as it
        trained with; False (with a notification) when it cannot resume."""
        child = self.children_started.get(run.path)
        if child is not None and child.poll() is None:  # asked twice before the first child said it runs
            self.notify(f"{run.name} is resuming already", severity="warning")
            return False
        try:
            resumable_run(str(run.path), self.runs_root)
        except SeglabError as error:
            self.notify(str(error), severity="warning")
            return False
        processes = (run.read_status().runtime or {}).get("processes", 1)
        processes = processes if isinstance(processes, int) and processes > 1 else 1
        self.children_started[run.path] = start_training_process(run, self.runs_root, processes, resume=True)
        return True

    def _start_refused(self, message: str) -> None:
        if isinstance(self.screen, NewRunScreen):
            self.screen.show_error(message)
        else:
            self.notify(message, severity="error", timeout=10)

    def start_demo(self) -> None:
        self.start_training(DEMO_CONFIG, predict_when_finished=True)

    def stop_training(self, run: Run) -> bool:
        """Ask a run's training process to stop after its step; False (with a notification) when it cannot."""
        child = self.children_started.get(run.path)
        try:
            stop_run(run, child_pid=child.pid if child is not None and child.poll() is None else None)
        except SeglabError as error:
            self.notify(str(error), severity="warning")
            return False
        return True

    def run_state(self, run: Run) -> str:
        child = self.children_started.get(run.path)
        if child is not None:
            child.poll()  # reap a finished child so its pid reads as gone
        return run.state()

    def child_exit_code(self, run: Run) -> int | None:
        """The exit code of this run's training child if the dashboard started it and it has ended."""
        child = self.children_started.get(run.path)
        return None if child is None else child.poll()

    def live_children(self) -> list[Run]:
        return [Run(path) for path, child in self.children_started.items() if child.poll() is None]

    @staticmethod
    def limit_torch_threads() -> None:
        """Evaluation/prediction in the dashboard must not fight a training child for the cores."""
        import torch

        torch.set_num_threads(1)

    # help -------------------------------------------------------------------------------------------

    def action_toggle_help(self) -> None:
        """`?`: the keys of this screen and of the app, one line each, beside the screen (again to hide)."""
        if self.screen.query(KeysPanel):
            self.screen.query(KeysPanel).remove()
        else:
            self.screen.mount(KeysPanel())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette: Textual's own commands, then every key of the screen on show, by its name."""
        yield from super().get_system_commands(screen)
        seen = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if active.node is self or not binding.description or binding.action in seen:
                continue  # the app's keys (quit, keys) are Textual's own commands above
            seen.add(binding.action)
            yield SystemCommand(binding.description.capitalize(), f"{binding.key_display or key}: "
                                f"{binding.description} ({type(screen).__name__.removesuffix('Screen').lower()})",
                                partial(self.run_action, binding.action, active.node))

    # quitting ---------------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        live = self.live_children()
        if not live:
            self.exit()
            return
        if isinstance(self.screen, QuitScreen):
            return  # asked already: one dialog, not one per key press

        def decided(answer: str | None) -> None:
            if answer == "stop":
                for run in live:
                    self.stop_training(run)
            if answer in ("leave", "stop"):
                self.exit()

        self.push_screen(QuitScreen([run.name for run in live]), decided)


def make_app(root: Path | None = None, open_run: Path | None = None, start_demo: bool = False,
             clock: Callable[[], float] = time.time, gpus: int | None = None) -> SeglabApp:
    return SeglabApp(runs_root(root), open_run=open_run, start_demo=start_demo, clock=clock, gpus=gpus)
