"""Filtering a list of runs by what a user types: free text matched in the name, model and data, and terms such as
`model=unet`, `state!=failed`, `dice>0.9` or `epochs>=20`, all of which must hold. Used by `seglab runs --filter`
and the dashboard's `/`."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.errors import ConfigError
from core.runs.folders import is_named
from core.runs.status import ALL_STATES

TEXT_FIELDS = ("name", "model", "data", "state")
NUMBER_FIELDS = ("dice", "epoch", "epochs")
SHOWN_DECIMALS = 4  # a run's Dice as `seglab runs` shows it
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
                if value is None or not _OPERATORS[term.op](_as_compared(float(value), term.op), term.value):
                    return False
            elif term.field == "name":
                if (term.op == "=") != is_named(str(value or "").lower(), str(term.value)):
                    return False
            elif not _OPERATORS[term.op](str(value or "").lower(), term.value):
                return False
        return True

    def __bool__(self) -> bool:
        return bool(self.words or self.terms)


def _as_compared(value: float, op: str) -> float:
    """A number as `=`, `>=` and `<=` compare it: as `seglab runs` shows it (`dice>=0.3818` holds for the 0.38178
    shown as 0.3818); `>` and `<` take it exact (`dice<0.38179` holds for it too)."""
    return round(value, SHOWN_DECIMALS) if op in ("=", ">=", "<=") else value


def _term(field: str, op: str, value: str, token: str) -> Term:
    if value.startswith(("=", "<", ">")):  # model==unet, dice=>0.9: a value that no run has, said rather than unmet
        example = f"{field}>={value.lstrip('=<>')}" if field in NUMBER_FIELDS else f"{field}={value.lstrip('=<>')}"
        raise ConfigError(f"filter: {token!r}: one operator, e.g. {example}")
    if field in NUMBER_FIELDS:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ConfigError(f"filter: {token!r}: {field} needs a number, e.g. {field}>0.9")
        return Term(field, op, number)
    if field in TEXT_FIELDS:
        if op not in ("=", "!="):
            raise ConfigError(f"filter: {token!r}: {field} takes = or != (e.g. {field}=...)")
        if field == "state" and value.lower() not in ALL_STATES:  # a typo would match nothing, silently
            raise ConfigError(f"filter: {token!r}: {value!r} is not a state; states: {', '.join(ALL_STATES)}")
        return Term(field, op, value.lower())
    known = ", ".join((*TEXT_FIELDS, *NUMBER_FIELDS))
    raise ConfigError(f"filter: {token!r}: unknown field {field!r}; known fields: {known}")
