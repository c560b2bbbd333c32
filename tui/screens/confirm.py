"""A small modal question with two or three answers; dismisses with the chosen answer's value."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """Yes / no. The 'no' button has focus, so Enter never does the risky thing by accident."""

    BINDINGS = [Binding("escape", "dismiss(False)", "cancel")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.no, id="no", variant="primary")
                yield Button(self.yes, id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class QuitScreen(ModalScreen[str]):
    """Asked when quitting while runs started here still train: leave them (default), stop them, or stay."""

    BINDINGS = [Binding("escape", "dismiss('cancel')", "cancel")]

    def __init__(self, live_runs: list[str]) -> None:
        super().__init__()
        self.live_runs = live_runs

    def compose(self) -> ComposeResult:
        names = "\n".join(f"  {name}" for name in self.live_runs)
        with Vertical(classes="dialog"):
            yield Static(f"Still training:\n{names}\n\nTraining goes on after the dashboard closes; "
                         "`seglab` shows it again later.", classes="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Leave running", id="leave", variant="primary")
                yield Button("Stop and quit", id="stop", variant="error")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#leave", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")
