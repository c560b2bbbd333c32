"""Every background task's failure becomes one notification, from one table: what each worker group does,
in words a user reads. Screens and the app mix in ReportsWorkerFailures; success paths stay with their screen."""

from __future__ import annotations

from textual.worker import Worker, WorkerState

WORKER_TASKS = {
    "start-run": "starting the run",
    "runs-refresh": "reading the runs folder",
    "data-check": "checking the data folder",
    "follow": "following the run's events",
    "evaluate": "evaluating the run",
    "predict": "predicting",
    "preview": "showing the preview",
}


def failure_text(worker: Worker) -> str:
    task = WORKER_TASKS.get(worker.group, worker.group or "a background task")
    return f"{task} failed: {worker.error}"


class ReportsWorkerFailures:
    """Mixed into the app and every screen: workers post their state changes to the node that started them,
    and those messages do not bubble, so each node forwards failures to the app's notifications."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # a naming-convention handler: Textual finds it along the MRO (an @on handler in a mixin is not collected)
        if event.state == WorkerState.ERROR:
            self.app.notify(failure_text(event.worker), severity="error", timeout=10)
