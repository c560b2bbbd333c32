"""The user's settings.json under their config folder ($SEGLAB_CONFIG_DIR, else the platform's, e.g.
~/.config/seglab): the dashboard's theme, and defaults for every run (notify, notify_command). A missing or broken
file means defaults."""

from __future__ import annotations

import json
import os
from pathlib import Path

CONFIG_DIR_ENV = "SEGLAB_CONFIG_DIR"


def settings_path() -> Path:
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        return Path(explicit) / "settings.json"
    from platformdirs import user_config_dir

    return Path(user_config_dir("seglab")) / "settings.json"


def load_settings() -> dict[str, object]:
    return read_settings()[0]


def read_settings() -> tuple[dict[str, object], str | None]:
    """The settings, and why settings.json, which exists, gives none (damaged JSON, not an object): None when it
    is fine or absent. A run says so rather than quietly losing the defaults it holds."""
    path = settings_path()
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError) as error:
        return {}, f"{path}: cannot read ({error}); its defaults are not used"
    except ValueError as error:
        return {}, f"{path}: not valid JSON ({error}); its defaults (notify...) are not used"
    if not isinstance(settings, dict):
        return {}, f"{path}: not a JSON object; its defaults are not used"
    return settings, None


def save_setting(key: str, value: object) -> None:
    """Remember one setting; a folder that cannot be written leaves seglab working, only forgetful."""
    path = settings_path()
    settings = {**load_settings(), key: value}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        temporary.replace(path)
    except OSError:
        pass
