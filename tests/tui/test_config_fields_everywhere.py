"""A config field reaches every front end by itself: `seglab train`'s options and its --help, and the dashboard's
form, are generated from the config class's FieldSpecs. A fixture class adds one field and finds it in all three."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import typer
from textual.widgets import Input, Label
from typer.testing import CliRunner

from core.config import TrainConfig, setting
from core.errors import SeglabError
from core.runs.folders import runs_root
from tui.app import make_app
from tui.cli.config_options import with_config_options
from tui.screens.new_run import NewRunScreen

from .helpers import SIZE, wait_for_screen


@dataclass(frozen=True)
class ConfigWithDropout(TrainConfig):
    """TrainConfig and one more field, as a contributor would add it."""

    dropout: float = setting(0.1, "Dropout before the head (a field only this test has)", "dropout", minimum=0,
                             below=1)
    frozen_encoder: bool = setting(False, "Keep the encoder's weights fixed (a field only this test has)",
                                   "freeze encoder")


def command_of(config_class: type) -> tuple[typer.Typer, list[dict[str, Any]]]:
    """A Typer app whose one command takes `config_class`'s options and records the options given."""
    app, calls = typer.Typer(), []

    @app.command()
    @with_config_options(config_class)
    def train(given: dict[str, Any], estimate: bool = False) -> None:
        calls.append({**given, "estimate": estimate})

    return app, calls


def test_a_new_field_is_an_option_whose_value_reaches_the_command():
    app, calls = command_of(ConfigWithDropout)
    result = CliRunner().invoke(app, ["--dropout", "0.25", "--epochs", "3", "--frozen-encoder", "--estimate"])
    assert result.exit_code == 0, result.output
    assert calls == [{"dropout": 0.25, "epochs": 3, "frozen_encoder": True, "estimate": True}]
    options = {name: value for name, value in calls[0].items() if name != "estimate"}
    assert ConfigWithDropout(**options).dropout == 0.25


def test_options_not_given_do_not_reach_the_command():
    app, calls = command_of(ConfigWithDropout)
    assert CliRunner().invoke(app, ["--no-frozen-encoder"]).exit_code == 0
    assert calls == [{"frozen_encoder": False, "estimate": False}]


def test_a_new_field_is_in_help_with_its_text_and_default():
    app, _ = command_of(ConfigWithDropout)
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    help_lines = [line for line in result.output.splitlines() if "--dropout" in line]
    assert len(help_lines) == 1 and "Dropout before the head (a field only this test has) (default: 0.1)" in \
        help_lines[0]
    assert "--frozen-encoder" in result.output and "--no-frozen-encoder" in result.output
    assert "(default: off)" in "".join(line for line in result.output.splitlines() if "frozen" in line)


def test_the_base_config_has_no_such_option():
    app, _ = command_of(TrainConfig)
    result = CliRunner().invoke(app, ["--dropout", "0.25"])
    assert result.exit_code == 2 and "--dropout" in result.output


async def test_a_new_field_is_in_the_form_with_its_label_bounds_and_value():
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(NewRunScreen(ConfigWithDropout()))
        form = await wait_for_screen(pilot, NewRunScreen)
        dropout = form.query_one("#field-dropout", Input)
        assert dropout.value == "0.1"
        assert "dropout" in [str(label.render()) for label in form.query(Label)]
        assert form.query_one("#field-frozen_encoder").value is False
        dropout.value = "0.3"
        await pilot.pause()
        collected = form.collect()
        assert isinstance(collected, ConfigWithDropout) and collected.dropout == 0.3
        dropout.value = "1.5"  # outside the field's bounds: named with them, as for every field
        await pilot.pause()
        with pytest.raises(SeglabError, match=r"dropout: a number >= 0 and < 1"):
            form.collect()


def test_seglab_train_has_one_option_per_config_field_with_its_help():
    from core.config import config_fields
    from tui.cli import app
    from tui.cli.config_options import option_help

    train = typer.main.get_command(app).commands["train"]
    options = {param.name: param for param in train.params}
    for field in config_fields(TrainConfig):
        option = options[field.name]
        flag = "--" + field.name.replace("_", "-")
        assert flag in option.opts and option.help == option_help(field), field.name
        assert option.default is None  # not given unless typed: presets and --resume tell given from default
    assert {"runs_dir", "run_dir", "resume", "estimate", "nproc"} <= set(options)
