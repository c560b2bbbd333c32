"""Where a sweep's study lives: by default an Optuna journal file in the sweep's folder under the runs folder
(nothing to set up; its file lock lets several worker processes of this machine share it, each queued trial run
once), or any database URL Optuna's RDB storage takes (postgresql://..., for several machines), with heartbeats so
a trial whose machine died is failed and retried. A URL that cannot be reached is one line, before any trial."""

from __future__ import annotations

import socket
import time
import warnings
from pathlib import Path
from typing import Any

from core.config import validate_name
from core.errors import ConfigError

SWEEPS_FOLDER = "sweeps"  # under the runs folder: one folder per sweep (its study.db, its record)
STUDY_FILE = "journal.log"
JOURNAL = "journal:"  # the default storage's URL: journal:/path/to/journal.log
HEARTBEAT_S = 5  # a running trial's process records a heartbeat this often
GRACE_S = 20  # and is taken for dead this long after its last one
OPEN_ATTEMPTS = 4
RACING = ("IntegrityError", "already exists", "database is locked")  # another process creating the tables
# A URL without a driver gets the first of these installed (SQLAlchemy 2.1 alone would ask for psycopg 3).
DRIVERS = {"postgresql": ("psycopg2", "psycopg"), "postgres": ("psycopg2", "psycopg")}


def sweep_folder(root: Path, name: str) -> Path:
    return Path(root) / SWEEPS_FOLDER / validate_name(name, "sweep name")


def default_storage(root: Path, name: str) -> str:
    return f"{JOURNAL}{(sweep_folder(root, name) / STUDY_FILE).resolve()}"


def open_storage(url: str) -> Any:
    """Optuna's RDB storage at `url`, with heartbeats (a trial whose process dies is failed and retried once its
    heartbeat is stale); a missing driver or an unreachable server is one ConfigError line."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats: used on purpose
    if url.startswith(JOURNAL):
        return _journal(Path(url.removeprefix(JOURNAL)))
    if "://" not in url:
        raise ConfigError(f"--storage {url}: not a storage URL; a journal file is journal:{url}, an SQLite file "
                          f"sqlite:///{url}, a PostgreSQL server postgresql://USER@HOST/DATABASE")
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme == "postgres":  # Heroku's and psql's spelling, which SQLAlchemy no longer takes
        raise ConfigError(f"--storage {shown_storage(url)}: write postgresql://, not postgres://")
    engine_url = _with_driver(url, scheme)  # messages keep showing the URL as the user gave it
    options: dict[str, Any] = {"connect_args": {"timeout": 60}} if scheme == "sqlite" else \
        {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}} if scheme.startswith("postgres") else {}
    if scheme == "sqlite":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(OPEN_ATTEMPTS):
        try:
            return RDBStorage(engine_url, engine_kwargs=options, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                              heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2))
        except Exception as error:  # noqa: BLE001 - SQLAlchemy and its drivers raise their own types
            # two workers creating a new database's tables at once: the slower one fails; a moment later it opens
            if attempt + 1 < OPEN_ATTEMPTS and any(sign in str(error) for sign in RACING):
                time.sleep(1 + attempt)
                continue
            reason = " ".join(str(error).split(" (Background on this error at:")[0].split())[:300] \
                or type(error).__name__
            raise ConfigError(f"--storage {shown_storage(url)}: cannot open the study database ({reason})") from None
    raise AssertionError("unreachable")


def _with_driver(url: str, scheme: str) -> str:
    """postgresql://... names no driver: name the one installed, or say in one line how to install it."""
    drivers = DRIVERS.get(scheme)
    if drivers is None or "+" in url.split(":", 1)[0]:
        return url
    import importlib.util

    for driver in drivers:
        if importlib.util.find_spec(driver) is not None:
            return f"{scheme}+{driver}:{url.split(':', 1)[1]}"
    raise ConfigError(f"--storage {scheme}: no database driver installed ({' or '.join(drivers)}): pip install "
                      "'seglab[postgres]'")


def _journal(path: Path) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
    except OSError as error:
        raise ConfigError(f"sweep storage {path}: cannot write ({error.strerror or error})") from None


def this_host() -> str:
    return socket.gethostname()


def shown_storage(url: str) -> str:
    """The URL without its password, for messages."""
    head, at, tail = url.rpartition("@")
    scheme, slashes, user = head.partition("://")
    if not at or ":" not in user:
        return url
    return f"{scheme}{slashes}{user.split(':', 1)[0]}:***@{tail}"
