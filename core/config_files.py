"""Train settings in files people keep under version control: read a YAML or JSON file of train options (any field
of TrainConfig, by its name or its option's spelling), and write a config as commented YAML that reads back to the
same settings (`seglab train --config FILE`, `--print-config`, the dashboard form's load and save)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.atomic_files import atomic_write_text
from core.config import TrainConfig, check_choices_and_bounds, config_fields
from core.data import SETTINGS_SUFFIXES
from core.errors import ConfigError

CONFIG_SUFFIXES = SETTINGS_SUFFIXES  # .yaml, .yml, .json: what --data names a settings file by, too


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The train options a config file sets, by field name, each of its field's type. Unknown keys, values of the
    wrong type and unreadable files are one ConfigError naming the file (and the key)."""
    import yaml

    path = Path(path).expanduser()
    if path.suffix.lower() not in CONFIG_SUFFIXES:
        raise ConfigError(f"{path}: a config file is .yaml, .yml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None
    try:
        values = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.').upper()} ({_first_line(error)})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of train options, got {type(values).__name__}")
    known = {field.name: field for field in config_fields()}
    settings: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in known:
            raise ConfigError(f"{path}: unknown train option {key!r} (seglab train --help lists them)")
        settings[name] = _as_type(value, known[name].type, f"{path}: {key}")
        check_choices_and_bounds(f"{path}: {key}", known[name].spec, settings[name])  # said with the file's name
    return settings


def config_as_yaml(config: TrainConfig, header: str = "") -> str:
    """Every field of `config` in order, one `name: value  # help` line each: `read_config_file` gives them back."""
    import yaml

    lines = [f"# {line}" for line in header.splitlines()]
    for field in config_fields():
        value = yaml.safe_dump(getattr(config, field.name), default_flow_style=True, width=10_000).strip()
        value = value.removesuffix("\n...").strip()
        lines.append(f"{field.name}: {value}  # {_one_line(field.spec.help)}")
    return "\n".join(lines) + "\n"


def write_config_file(config: TrainConfig, path: str | Path, header: str = "") -> Path:
    """Save `config` as YAML (or JSON, by the suffix) at `path`, atomically; returns the path written."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in CONFIG_SUFFIXES:
        raise ConfigError(f"{path}: a config file is .yaml, .yml or .json")
    text = json.dumps(config.to_dict(), indent=2) + "\n" if path.suffix.lower() == ".json" else \
        config_as_yaml(config, header)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    except OSError as error:
        raise ConfigError(f"{path}: cannot write ({error.strerror or error})") from None
    return path


def _as_type(value: Any, wanted: type, where: str) -> Any:
    """YAML reads `5e-4` as text and `1` where a float is meant: take what means the field's type, refuse the rest."""
    if wanted is bool:
        if isinstance(value, bool):
            return value
    elif wanted is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
    elif wanted is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif wanted is str:
        if value is None:
            return ""
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    raise ConfigError(f"{where}: expected {wanted.__name__}, got {value!r}")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _first_line(error: Exception) -> str:
    mark, problem = getattr(error, "problem_mark", None), getattr(error, "problem", None)
    if mark is not None and problem:  # YAML's errors: where and what
        return f"line {mark.line + 1}: {problem}"
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
