"""A sweep's storage URL: the database driver named for the user, passwords kept out of messages."""

from __future__ import annotations

import importlib.util

import pytest

from core.errors import ConfigError
from core.sweeps import storage


def test_a_postgresql_url_gets_the_installed_driver(monkeypatch):
    installed = {"psycopg"}  # SQLAlchemy 2.1 alone would ask for psycopg 3; name whichever is here
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name in installed else None)
    assert storage._with_driver("postgresql://u@h:5/db", "postgresql") == "postgresql+psycopg://u@h:5/db"
    installed.add("psycopg2")
    assert storage._with_driver("postgresql://u@h:5/db", "postgresql") == "postgresql+psycopg2://u@h:5/db"
    assert storage._with_driver("postgresql+psycopg://u@h/db", "postgresql") == "postgresql+psycopg://u@h/db"
    assert storage._with_driver("sqlite:///x.db", "sqlite") == "sqlite:///x.db"


def test_no_driver_is_one_line_saying_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"no database driver installed \(psycopg2 or psycopg\): pip install "
                                          r"'seglab\[postgres\]'"):
        storage.open_storage("postgresql://u@h/db")


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://alice:s3cret@db:5432/lab", "postgresql://alice:***@db:5432/lab"),
    ("postgresql://alice@db/lab", "postgresql://alice@db/lab"),
    ("sqlite:///runs/x.db", "sqlite:///runs/x.db"),
])
def test_messages_never_show_a_password(url, shown):
    assert storage.shown_storage(url) == shown
