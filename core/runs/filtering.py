"""Filtering a list of runs by what a user types: free text matched in the name, model and data, and terms such as
`model=unet`, `state!=failed`, `dice>0.9` or `epochs>=20`, all of which must hold. Used by `seglab runs --filter`
and the dashboard's `/`."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.errors import ConfigError
from core.runs.status import ALL_STATES

TEXT_FIELDS = ("name", "model", "data", "state")
NUMBER_FIELDS = ("dice", "epoch", "epochs")
_TERM = re.compile(r"^(?P<field>[a-z_]+)(?P<op>!=|>=|<=|=|>|<)(?P<value>.*)$", re.IGNORECASE)
_OPERATORS: dict[str, Callable[[object, object], bool]] = {
    "=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Term:
    field: str
    op: str
    value: str | float


@dataclass(frozen=True)
class RunFilter:
    """Parsed filter text; `matches` takes a run's values by field name (text fields as str, numbers as
    float or None)."""

    words: tuple[str, ...] = ()
    terms: tuple[Term, ...] = ()

    @classmethod
    def parse(cls, text: str) -> RunFilter:
        words, terms = [], []
        for token in text.split():
            match = _TERM.match(token)
            if match is None:
                words.append(token.lower())
                continue
            terms.append(_term(match["field"].lower(), match["op"], match["value"], token))
        return cls(tuple(words), tuple(terms))

    def matches(self, values: Mapping[str, str | float | None]) -> bool:
        text = " ".join(str(values.get(name) or "") for name in ("name", "model", "data")).lower()
        if not all(word in text for word in self.words):
            return False
        for term in self.terms:
            value = values.get(term.field)
            if term.field in NUMBER_FIELDS:
                if value is None or not _OPERATORS[term.op](float(value), term.value):
                    return False
            elif not _OPERATORS[term.op](str(value or "").lower(), term.value):
                return False
        return True

    def __bool__(self) -> bool:
        return bool(self.words or self.terms)


def _term(field: str, op: str, value: str, token: str) -> Term:
    if field in NUMBER_FIELDS:
        try:
            return Term(field, op, float(value))
        except ValueError:
            raise ConfigError(f"filter: {token!r}: {field} needs a number, e.g. {field}>0.9") from None
    if field in TEXT_FIELDS:
        if op not in ("=", "!="):
            raise ConfigError(f"filter: {token!r}: {field} takes = or != (e.g. {field}=...)")
        if field == "state" and value.lower() not in ALL_STATES:  # a typo would match nothing, silently
            raise ConfigError(f"filter: {token!r}: {value!r} is not a state; states: {', '.join(ALL_STATES)}")
        return Term(field, op, value.lower())
    known = ", ".join((*TEXT_FIELDS, *NUMBER_FIELDS))
    raise ConfigError(f"filter: {token!r}: unknown field {field!r}; known fields: {known}")
