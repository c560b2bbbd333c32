"""A sweep's search space: SPECs such as `lr=log:1e-4..3e-3`, `width=16,32`, `model=unet,resnet18_unet` or
`epochs=int:5..20`, each checked against the train option's field spec (its type, bounds and choices) before
anything starts, one line per bad SPEC. A YAML file maps options to the same SPEC strings (or lists of values)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import ConfigField, config_fields, value_in_bounds
from core.errors import ConfigError

NOT_SEARCHABLE = ("data", "name", "preset", "device", "init_from")  # what a run is of, not how it trains


@dataclass(frozen=True)
class Dimension:
    """One searched option: a set of choices, or a numeric range (uniform or log, whole numbers or not)."""

    name: str  # the TrainConfig field
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    def describe(self) -> str:
        if self.choices:
            return f"{self.name}={','.join(map(str, self.choices))}"
        kind = "log:" if self.log else "int:" if self.integer else ""
        return f"{self.name}={kind}{self.low:g}..{self.high:g}"

    def suggest(self, trial) -> Any:
        """This dimension's value for an Optuna trial."""
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


def parse_space(specs: list[str], config_class: type | None = None) -> list[Dimension]:
    """The dimensions of `specs`, each checked against its option's field; every bad SPEC is named in one
    ConfigError (one line each)."""
    fields = {field.name: field for field in config_fields(config_class)}
    dimensions, problems, seen = [], [], set()
    for spec in specs:
        try:
            dimension = parse_spec(spec, fields)
            if dimension.name in seen:
                raise ConfigError(f"--search {spec}: {dimension.name} is searched twice")
            seen.add(dimension.name)
            dimensions.append(dimension)
        except ConfigError as error:
            problems.append(str(error))
    if problems:
        raise ConfigError("\n".join(problems))
    if not dimensions:
        raise ConfigError("--search: give at least one option to search, e.g. --search lr=log:1e-4..3e-3")
    return dimensions


def parse_spec(spec: str, fields: dict[str, ConfigField]) -> Dimension:
    option, equals, values = spec.partition("=")
    name = option.strip().removeprefix("--").replace("-", "_")
    if not equals or not values.strip():
        raise ConfigError(f"--search {spec!r}: expected OPTION=VALUES, e.g. lr=log:1e-4..3e-3 or width=16,32")
    if name not in fields:
        raise ConfigError(f"--search {spec!r}: {option.strip()} is not a train option")
    if name in NOT_SEARCHABLE:
        raise ConfigError(f"--search {spec!r}: {name} is not searched; give it as a train option of the sweep")
    field = fields[name]
    values = values.strip()
    kind, colon, rest = values.partition(":")
    if colon and kind in ("log", "int") and ".." in rest:
        return _range(spec, field, rest, log=kind == "log", integer=kind == "int" or field.type is int)
    if ".." in values and "," not in values:
        return _range(spec, field, values, log=False, integer=field.type is int)
    choices = tuple(_value(spec, field, text.strip()) for text in values.split(","))
    if len(set(choices)) < len(choices):
        raise ConfigError(f"--search {spec!r}: a value is given twice")
    return Dimension(name, choices=choices)


def _range(spec: str, field: ConfigField, text: str, log: bool, integer: bool) -> Dimension:
    if field.type not in (int, float):
        raise ConfigError(f"--search {spec!r}: {field.name} takes {field.type.__name__} values, not a range; list "
                          "them: " + (",".join(map(str, field.spec.choices)) if field.spec.choices else "a,b"))
    if text.count("..") != 1 or "..." in text:  # 1e-4...3e-3 would read as 1e-4 to .3e-3
        raise ConfigError(f"--search {spec!r}: a range is LOW..HIGH with two dots, e.g. 1e-4..3e-3")
    low_text, _, high_text = text.partition("..")
    low, high = _value(spec, field, low_text.strip(), integer), _value(spec, field, high_text.strip(), integer)
    if not low < high:
        raise ConfigError(f"--search {spec!r}: the range must go from low to high, got {low:g}..{high:g}")
    if log and low <= 0:
        raise ConfigError(f"--search {spec!r}: a log range must be above 0, got {low:g}")
    return Dimension(field.name, low=low, high=high, log=log, integer=integer)


def _value(spec: str, field: ConfigField, text: str, integer: bool = False) -> Any:
    """One value as the field's type, inside its bounds and choices."""
    kind = int if integer else field.type
    try:
        if kind is bool:
            value = {"true": True, "on": True, "1": True, "false": False, "off": False, "0": False}[text.lower()]
        elif kind is int:
            number = float(text)
            if not math.isfinite(number) or number != int(number):
                raise ValueError
            value = int(number)
        else:
            value = kind(text)
    except (ValueError, KeyError):
        raise ConfigError(f"--search {spec!r}: {text!r} is not {_a(kind)} for {field.name}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"--search {spec!r}: {text!r} is not a finite number")
    if field.spec.choices and value not in field.spec.choices:
        raise ConfigError(f"--search {spec!r}: {value!r} is not one of {', '.join(map(str, field.spec.choices))}")
    if not value_in_bounds(field.spec, value):
        raise ConfigError(f"--search {spec!r}: {field.name}: {field.spec.describe_bounds()}, got {value!r}")
    return value


def read_space_file(path: Path) -> list[str]:
    """SPEC strings from a YAML mapping: `lr: log:1e-4..3e-3`, `width: [16, 32]`."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"--space {path}: cannot read ({error})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"--space {path}: not valid YAML ({' '.join(str(error).split())})") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"--space {path}: expected a mapping of train options to ranges or lists of values")
    return [f"{name}={','.join(map(str, value)) if isinstance(value, list) else value}" for name, value in data.items()]


def _a(kind: type) -> str:
    return {int: "a whole number", float: "a number", bool: "on or off", str: "a word"}[kind]
