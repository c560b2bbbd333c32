"""Every choice a user can make is offered the same way everywhere: the registries (models, losses, augment
policies, presets) are the one source, and `seglab train`, its --help and the dashboard's form offer exactly them."""

from __future__ import annotations

import pytest
from textual.widgets import Select

from core.config import FIELD_SPECS, PRESETS
from core.data.augment_policies import AUGMENT_POLICIES
from core.losses import LOSS_NAMES, LOSSES_FOR_TASK
from core.models import MODELS
from core.runs.folders import list_runs, runs_root
from tests.tui.helpers import wait_for_screen
from tests.tui.test_cli import seglab, the_error_line
from tui.app import make_app
from tui.screens.new_run import NewRunScreen

REGISTRIES = {"model": tuple(MODELS), "loss": LOSS_NAMES, "augment": tuple(AUGMENT_POLICIES),
              "preset": tuple(PRESETS)}
CHOICE_FIELDS = sorted(name for name, spec in FIELD_SPECS.items() if spec.choices and spec.choices != (False, True))


def test_config_fields_take_their_choices_from_the_registries():
    for name, registry in REGISTRIES.items():
        assert FIELD_SPECS[name].choices == registry, name


@pytest.mark.parametrize("name", CHOICE_FIELDS)
def test_the_cli_refuses_a_choice_outside_the_field_listing_exactly_its_choices(capsys, name):
    code, _, err = seglab(capsys, "train", f"--{name.replace('_', '-')}", "no-such-choice", "--epochs", "1")
    assert code == 2
    listed = the_error_line(err).split("is not one of ")[1]
    assert listed == ", ".join(FIELD_SPECS[name].choices)
    assert list_runs(runs_root()) == []


@pytest.mark.parametrize("name", CHOICE_FIELDS)
def test_train_help_names_every_choice_of_the_field(capsys, monkeypatch, name):
    monkeypatch.setenv("COLUMNS", "1000")  # no long choice name folded across two lines
    code, out, _ = seglab(capsys, "train", "--help")
    assert code == 0
    flat = " ".join(out.replace("│", " ").split())
    for choice in FIELD_SPECS[name].choices:
        assert choice in flat, (name, choice)


async def test_the_form_offers_exactly_the_fields_choices_and_the_presets():
    app = make_app(runs_root(), gpus=2)  # with several GPUs the form shows every field, sync_bn included
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.press("n")
        form = await wait_for_screen(pilot, NewRunScreen)
        for name, spec in FIELD_SPECS.items():
            if not spec.choices or name == "preset":
                continue
            select = form.query_one(f"#field-{name}", Select)
            offered = tuple(value for _, value in select._options)  # no blank: allow_blank=False
            # the loss list is the task's (binary first); the multiclass ones come with --task multiclass below
            assert offered == (LOSSES_FOR_TASK["binary"] if name == "loss" else spec.choices), name
        form.query_one("#field-task", Select).value = "multiclass"
        await pilot.pause()
        multiclass = tuple(value for _, value in form.query_one("#field-loss", Select)._options)
        assert multiclass == LOSSES_FOR_TASK["multiclass"]
        assert set(LOSSES_FOR_TASK["binary"]) | set(multiclass) == set(FIELD_SPECS["loss"].choices)
        presets = form.query_one("#preset", Select)  # its blank entry is the "(choose a preset)" prompt
        assert tuple(value for _, value in presets._options if isinstance(value, str)) == tuple(PRESETS)
