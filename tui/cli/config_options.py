"""Typer options generated from a config class's fields: type, default and help from each field's FieldSpec
(core/config.py), shell completion of its choices, --flag/--no-flag for booleans. `seglab train` takes its
options from here, so a new TrainConfig field is an option, with its help, by itself."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from core.config import ConfigField, TrainConfig, config_fields
from tui.cli.options import complete_run_names

GIVEN = "given"  # the parameter of a command that receives the config options given, by field name


def option_help(field: ConfigField) -> str:
    """An option's help: its field's text and default."""
    default = field.default
    shown = ("on" if default else "off") if isinstance(default, bool) else (default if default != "" else "none")
    text = f"{field.spec.help} (default: {shown})"
    return text.replace("[", "\\[")  # Rich reads [lite0] as markup and would drop it from the help


def _completer(choices: tuple) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [str(choice) for choice in choices if str(choice).startswith(incomplete)]

    return complete


def config_option(field: ConfigField) -> inspect.Parameter:
    """The Typer option of one field, defaulting to None so a command can tell the options given from the rest."""
    flag = "--" + field.name.replace("_", "-")
    settings: dict[str, Any] = {"help": option_help(field)}
    if field.spec.metavar:
        settings["metavar"] = field.spec.metavar
    if field.type is bool:
        declaration = typer.Option(f"{flag}/--no-{flag[2:]}", **settings)
    else:
        if field.spec.choices:
            settings["autocompletion"] = _completer(field.spec.choices)
        elif field.spec.names_a_run:
            settings["autocompletion"] = complete_run_names
        declaration = typer.Option(flag, **settings)
    return inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[field.type | None, declaration])


def with_config_options(config_class: type = TrainConfig) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command whose first parameter is `given`: Typer sees one option per field of `config_class`
    (in field order) before the command's own parameters, and the command gets `given`, a dict of the options
    given on the command line (None = not given)."""
    fields = config_fields(config_class)

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = list(inspect.signature(command, eval_str=True).parameters.values())
        if not own or own[0].name != GIVEN:
            raise TypeError(f"{command.__name__}: the first parameter must be `{GIVEN}`")
        rest = [parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY) for parameter in own[1:]]
        clash = {field.name for field in fields} & {parameter.name for parameter in rest}
        if clash:
            raise TypeError(f"{command.__name__}: parameters {sorted(clash)} shadow config fields")
        parameters = [config_option(field) for field in fields] + rest

        @functools.wraps(command)
        def with_options(**values: Any) -> Any:
            given = {field.name: values.pop(field.name) for field in fields if values.get(field.name) is not None}
            for field in fields:
                values.pop(field.name, None)
            return command(given, **values)

        with_options.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        with_options.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        del with_options.__wrapped__  # Typer reads the signature above, not the command's own
        return with_options

    return decorate
