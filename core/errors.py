"""Errors whose message is meant for the user: one line naming the bad input and the problem."""

from __future__ import annotations

from pathlib import Path


class SeglabError(Exception):
    """Base class: the CLI prints str(error) as one line and exits non-zero, no traceback."""


class ConfigError(SeglabError):
    """A hyperparameter or option has a value seglab cannot use."""


class DataError(SeglabError):
    """A dataset file or folder is missing, unreadable or not what its layout promises."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class CheckpointError(SeglabError):
    """A checkpoint file cannot be used (missing, truncated, unsafe, or for another model)."""
