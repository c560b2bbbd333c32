"""New-run form: every training option with the original experiment's defaults, presets, inline validation, and
config files (load the settings of a YAML/JSON file, save the form's to one: what `seglab train --config` reads).

Each field maps one to one onto a TrainConfig field (and so onto a `seglab train` option).
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.validation import Function, Integer, ValidationResult, Validator
from textual.widgets import Button, Footer, Input, Label, Select, Static
from textual.worker import get_current_worker

from core.config import (
    PRESET_LABELS,
    PRESETS,
    SYNTHETIC,
    ConfigField,
    TrainConfig,
    config_fields,
    validate_name,
    value_in_bounds,
)
from core.errors import SeglabError
from core.losses import LOSSES_FOR_TASK
from tui.worker_failures import ReportsWorkerFailures

MULTI_GPU_FIELDS = {"sync_bn"}  # shown only where several GPUs can train one run
NOT_IN_GRID = {"data", "preset"}  # the data and preset pickers above the grid set these
# Every field's widget, label, choices and bounds come from its FieldSpec in core/config.py (config_fields), as
# `seglab train`'s options do: a field added to the config class is in the form by itself.
# Fields core refuses for a binary run unless they hold their default ("applies to --task multiclass only").
MULTICLASS_ONLY = ("classes", "class_weights", "ignore_index")


def _name_ok(value: str) -> bool:
    if not value:
        return True
    try:
        validate_name(value)
    except SeglabError:
        return False
    return True


def _number_ok(field: ConfigField, text: str) -> bool:
    try:
        value = field.type(text)
    except ValueError:
        return False
    return value_in_bounds(field.spec, value) and (field.type is int or math.isfinite(value))


def validators_for(field: ConfigField) -> list[Validator]:
    """The field's checks, from the same FieldSpec that validates a TrainConfig."""
    if field.name == "name":
        return [Function(_name_ok, "run name: no '/', '..' or control characters")]
    if field.type not in (int, float):
        return []
    bounds = field.spec.describe_bounds().removeprefix("must be ")  # ">= 0", "a positive number", "between ..."
    what = "a whole number " if field.type is int else "a number "
    text = f"{field.spec.label}: {what if bounds[:1] in '<>=' else ''}{bounds}"
    return [Function(partial(_number_ok, field), text)]


class NewRunScreen(ReportsWorkerFailures, Screen):
    """Fill in, check, start. Start creates the run folder and launches `seglab train --run-dir` detached."""

    BINDINGS = [Binding("escape", "app.pop_screen", "back"), Binding("ctrl+s", "start", "start"),
                Binding("q", "keep_form", show=False)]  # shadows the app's q: a stray q must not lose the form

    ESTIMATE_DELAY_S = 1.0  # settings unchanged this long are estimated (a probe takes a few seconds of CPU)

    def __init__(self, initial: TrainConfig | None = None, gpus: int = 0) -> None:
        super().__init__()
        self._estimate_timer = None
        self._estimate_asked = 0  # the latest request's number: an older probe's answer is dropped
        self.initial = initial or TrainConfig()
        self.gpus = gpus
        self._losses_offered = LOSSES_FOR_TASK[self.initial.task]  # what the loss Select lists

    def shown_fields(self) -> list[ConfigField]:
        """The fields of the config class this form shows (the data and preset pickers have their own widgets)."""
        return [field for field in config_fields(type(self.initial))
                if field.name not in NOT_IN_GRID and (self.gpus > 1 or field.name not in MULTI_GPU_FIELDS)]

    def compose(self) -> ComposeResult:
        yield Static("seglab ─ new run", classes="screen-title")
        with VerticalScroll(id="form"):
            with Grid(id="form-grid"):
                yield Label("preset", classes="form-label")
                yield Select([(PRESET_LABELS[name], name) for name in PRESETS], prompt="(choose a preset)",
                             compact=True, id="preset")
                yield Label("data", classes="form-label")
                yield Select([("synthetic (generated)", SYNTHETIC), ("a dataset folder", "folder")],
                             allow_blank=False, value=SYNTHETIC, compact=True, id="data-source")
            with Horizontal(classes="form-wide"):
                yield Label("data folder", classes="form-label")
                yield Input(placeholder="Oxford-IIIT Pet folder, or images/ + masks/", compact=True, id="data-path")
            yield Static("", id="data-check", classes="form-note")
            with Horizontal(classes="form-wide", id="config-file-row"):
                yield Label("config file", classes="form-label")
                yield Input(placeholder="settings.yaml: what seglab train --config reads", compact=True,
                            id="config-path")
                yield Button("Load", id="load-config", compact=True)
                yield Button("Save", id="save-config", compact=True)
            with Grid(id="form-fields"):
                for field in self.shown_fields():
                    yield Label(field.spec.label, classes="form-label")
                    if _choices(field):
                        choices = LOSSES_FOR_TASK[self.initial.task] if field.name == "loss" else _choices(field)
                        yield Select([(_choice_label(c), c) for c in choices], allow_blank=False,
                                     compact=True, id=f"field-{field.name}")
                    else:
                        yield Input(validators=validators_for(field), id=f"field-{field.name}", compact=True,
                                    valid_empty=field.spec.optional)
                if self.gpus > 1:
                    yield Label("processes", classes="form-label")
                    yield Input("1", id="processes", compact=True, validators=[Integer(
                        minimum=1, maximum=self.gpus,
                        failure_description=f"processes: 1 to {self.gpus}, one per GPU")])
            yield Static("", id="estimate", classes="form-note")
            yield Static("", id="form-errors", classes="form-errors")
            with Horizontal(id="form-buttons"):
                yield Button("Start training", id="start", variant="success", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.fill(self.initial)

    def fill(self, config: TrainConfig) -> None:
        """Put a config's values into the form."""
        self.offer_task(config.task)  # first: the loss list must hold the config's loss before it is set
        for field in self.shown_fields():
            value = getattr(config, field.name, field.default)  # a preset of the base class lacks a subclass's field
            widget = self.query_one(f"#field-{field.name}")
            widget.value = value if isinstance(widget, Select) else str(value)
        folder = config.data != SYNTHETIC
        self.query_one("#data-source", Select).value = "folder" if folder else SYNTHETIC
        self.query_one("#data-path", Input).value = config.data if folder else ""
        self.query_one("#data-path", Input).disabled = not folder
        self.check_data()

    @on(Select.Changed, "#field-task")
    def task_changed(self, event: Select.Changed) -> None:
        self.offer_task(str(event.value))

    def offer_task(self, task: str) -> None:
        """Offer the task's losses only (keeping the chosen one if it fits, else the task's default), and for
        binary, hold the multiclass-only fields at their defaults, disabled, so the config stays valid."""
        loss = self.query_one("#field-loss", Select)
        losses = LOSSES_FOR_TASK[task]
        if self._losses_offered != losses:
            chosen = loss.value if loss.value in losses else losses[0]
            loss.set_options([(name, name) for name in losses])  # resets the value to the first option
            loss.value = chosen
            self._losses_offered = losses
        binary = task == "binary"
        defaults = type(self.initial)()
        for name in MULTICLASS_ONLY:
            widget = self.query_one(f"#field-{name}", Input)
            if binary:
                widget.value = str(getattr(defaults, name))
            widget.disabled = binary

    @on(Select.Changed, "#preset")
    def apply_preset(self, event: Select.Changed) -> None:
        """Fill in a preset's settings; a dataset already chosen stays (the demo brings its synthetic set)."""
        if event.value not in PRESETS:
            return
        preset = PRESETS[event.value]
        if event.value != "demo":
            preset = preset.replace(data=self.chosen_data())
        self.fill(preset)

    def chosen_data(self) -> str:
        if self.query_one("#data-source", Select).value == SYNTHETIC:
            return SYNTHETIC
        return self.query_one("#data-path", Input).value.strip() or SYNTHETIC

    @on(Select.Changed, "#data-source")
    @on(Input.Changed, "#data-path")
    def data_changed(self) -> None:
        self.query_one("#data-path", Input).disabled = self.query_one("#data-source", Select).value != "folder"
        self.check_data()

    @on(Input.Changed, "#field-synthetic_count")
    @on(Input.Changed, "#field-synthetic_size")
    @on(Input.Changed, "#field-val_fraction")
    @on(Input.Changed, "#field-seed")
    def data_settings_changed(self) -> None:
        self.check_data()

    def check_data(self) -> None:
        note = self.query_one("#data-check", Static)
        if self.query_one("#data-source", Select).value == SYNTHETIC:
            count = self.query_one("#field-synthetic_count", Input).value
            size = self.query_one("#field-synthetic_size", Input).value
            note.update(f"{count} synthetic images of {size} px, generated on first use and cached")
            return
        path = self.query_one("#data-path", Input).value.strip()
        if not path:
            note.update("enter a dataset folder")
            return
        note.update("checking...")
        self.count_samples(path, self._float("val_fraction", 0.1), int(self._float("seed", 0)))

    def _float(self, name: str, default: float) -> float:
        try:
            return float(self.query_one(f"#field-{name}", Input).value)
        except ValueError:
            return default

    @work(thread=True, exclusive=True, exit_on_error=False, group="data-check")
    def count_samples(self, path: str, val_fraction: float, seed: int) -> None:
        """The data check line: the layout (a labelling tool's export by name, classes and images) and the images
        per split; an export of several classes also switches the form to multiclass, as `seglab train` does."""
        from core.data import detect_layout, list_samples
        from core.data.exports import EXPORT_FORMATS, read_export

        multiclass_ignore = None
        try:
            root = Path(path).expanduser()
            layout = detect_layout(root)
            counts = {split: len(list_samples(root, split, val_fraction, seed)) for split in ("train", "val", "test")}
            split_counts = " · ".join(f"{n} {split}" for split, n in counts.items())
            if layout in EXPORT_FORMATS:
                export = read_export(root, layout)
                text = f"{export.describe()} · {split_counts}"
                if export.classes > 1:
                    multiclass_ignore = export.ignore_index
            else:
                text = f"{layout} layout: {split_counts}"
        except (SeglabError, OSError) as error:
            text = f"✗ {error}"
        self.app.call_from_thread(self._show_data_check, path, text, multiclass_ignore)

    def _show_data_check(self, path: str, text: str, multiclass_ignore: int | None = None) -> None:
        # a slow check of a folder typed earlier must not overwrite the answer for the one there now
        if self.query_one("#data-path", Input).value.strip() != path:
            return
        task = self.query_one("#field-task", Select)
        if multiclass_ignore is not None and task.value == "binary":
            task.value = "multiclass"
            self.offer_task("multiclass")
            if multiclass_ignore >= 0:
                self.query_one("#field-ignore_index", Input).value = str(multiclass_ignore)
            text += " · trains as multiclass"
        self.query_one("#data-check", Static).update(text)

    @on(Input.Changed)
    @on(Select.Changed)
    def settings_changed(self) -> None:
        """Estimate the run's duration once the settings rest for ESTIMATE_DELAY_S."""
        if self._estimate_timer is not None:
            self._estimate_timer.stop()
        self.query_one("#estimate", Static).update("expected: ...")
        self._estimate_timer = self.set_timer(self.ESTIMATE_DELAY_S, self.ask_estimate)

    def ask_estimate(self) -> None:
        note = self.query_one("#estimate", Static)
        try:
            config = self.collect()
        except SeglabError:
            note.update("expected: (fix the settings above first)")
            return
        self._estimate_asked += 1
        note.update("expected: timing a few training steps on this device...")
        self.estimate(config, self._estimate_asked)

    @work(thread=True, exclusive=True, exit_on_error=False, group="estimate")
    def estimate(self, config: TrainConfig, asked: int) -> None:
        from core.training.estimate import ProbeCancelled

        worker = get_current_worker()
        try:
            found = self.app.estimate_duration(config, cancelled=lambda: worker.is_cancelled)
            advice = "" if found.time_budget_min else " · a time budget (min) caps it"
            text = f"expected: {found.describe()}{advice}"
        except ProbeCancelled:  # the form closed, the app quit, or newer settings are being timed
            return
        except (SeglabError, OSError, RuntimeError, ValueError) as error:
            text = f"expected: unknown ({error})"
        self.app.call_from_thread(self._show_estimate, asked, text)

    def _show_estimate(self, asked: int, text: str) -> None:
        if asked == self._estimate_asked:
            self.query_one("#estimate", Static).update(text)

    def collect(self) -> TrainConfig:
        """The form's values as a TrainConfig; raises SeglabError naming the first bad field."""
        invalid = [w for w in self.query(Input) if w.id and w.id.startswith("field-") and not w.is_valid]
        if invalid:
            results = [w.validate(w.value) for w in invalid]
            raise SeglabError("; ".join(_failures(r) for r in results if r is not None))
        values = {}
        for field in self.shown_fields():
            raw = self.query_one(f"#field-{field.name}").value
            values[field.name] = raw if _choices(field) else field.type(raw)
        source = self.query_one("#data-source", Select).value
        values["data"] = SYNTHETIC if source == SYNTHETIC else self.query_one("#data-path", Input).value.strip()
        preset = self.query_one("#preset", Select).value
        values["preset"] = preset if preset in PRESETS else ""
        return self.initial.replace(**values)  # fields the form does not show keep their values

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        try:
            config = self.collect()
            processes = self.processes()
        except SeglabError as error:
            self.say(f"✗ {error}")
            return
        self.say("checking the data and starting the run...")
        self.app.start_training(config, processes=processes)  # refusals come back through show_error

    def action_keep_form(self) -> None:
        self.notify("q does not quit from the form (what you filled in would be lost): esc goes back, ctrl+c quits")

    def show_error(self, message: str) -> None:
        """Why the run did not start: the same line `seglab train` prints for the same settings."""
        self.say(f"✗ {message}")

    def say(self, line: str) -> None:
        """The form's one-line answer (an error, a file loaded or saved), scrolled into view: below the fields,
        it is off screen on a terminal of 30 lines or fewer."""
        note = self.query_one("#form-errors", Static)
        note.update(line)
        self.call_after_refresh(note.scroll_visible, animate=False)

    def processes(self) -> int:
        """Training processes asked for: the processes field where the form shows one, else 1."""
        if self.gpus <= 1:
            return 1
        field = self.query_one("#processes", Input)
        if not field.is_valid:
            raise SeglabError(_failures(field.validate(field.value)))
        return int(field.value)

    @on(Button.Pressed, "#load-config")
    def load_config_file(self) -> None:
        """Fill the form from a config file: its settings over its preset's (or the defaults), as --config does."""
        from core.config_files import read_config_file
        from core.training.launch import config_from_options

        path = self.query_one("#config-path", Input).value.strip()
        try:
            settings = read_config_file(path or "settings.yaml")
            config = config_from_options(settings)
        except SeglabError as error:
            self.say(f"✗ {error}")
            return
        self.fill(config)
        preset = self.query_one("#preset", Select)
        with preset.prevent(Select.Changed):  # the file's values stand; choosing the preset would refill
            preset.value = config.preset if config.preset in PRESETS else Select.BLANK
        self.say(f"loaded {len(settings)} settings from {path or 'settings.yaml'}")

    @on(Button.Pressed, "#save-config")
    def save_config_file(self) -> None:
        from core.config_files import write_config_file

        path = self.query_one("#config-path", Input).value.strip() or "settings.yaml"
        try:
            written = write_config_file(self.collect(), path, header="seglab train settings, saved from the "
                                                                     "dashboard: seglab train --config FILE")
        except SeglabError as error:
            self.say(f"✗ {error}")
            return
        self.say(f"saved to {written}: seglab train --config {written}")

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.app.pop_screen()


def _choices(field: ConfigField) -> tuple:
    """What a field's Select offers: its choices (a bool field: off and on); empty for a typed-in field."""
    return field.spec.choices or ((False, True) if field.type is bool else ())


def _choice_label(choice: object) -> str:
    return {False: "off", True: "on"}.get(choice, str(choice)) if isinstance(choice, bool) else str(choice)


def _failures(result: ValidationResult) -> str:
    return ", ".join(result.failure_descriptions) or "invalid value"
