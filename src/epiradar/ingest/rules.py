"""The rules of one canonical visit record, shared by the pydantic input model and the
vectorised chunk validator: columns, patterns and ranges (ranges come from ``model.Visit``).

Every value arrives as text ("" = unknown). Times are ISO 8601; an offset (``Z``, ``+08:00``)
is dropped and the wall-clock time kept, fractions of seconds are dropped.
"""

from __future__ import annotations

import datetime as dt
import re

from epiradar.model import VISIT_COLUMNS, Visit

COLUMNS: tuple[str, ...] = VISIT_COLUMNS
REQUIRED: tuple[str, ...] = ("visit_id", "facility_id", "visit_time")
LIST_COLUMNS: tuple[str, ...] = ("diagnosis_codes", "exposures", "contacts")
NUMBER_COLUMNS: tuple[str, ...] = ("age", "residence_lat", "residence_lon", "temperature_c")
SEXES = frozenset({"M", "F", "U"})
LIST_SEPARATOR = ";"
EXPOSURE_DATE_SEPARATOR = "@"

NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATETIME_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?)(?:Z|[+-]\d{2}:?\d{2})?"
)
CANONICAL_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
ICD10_RE = re.compile(r"[A-Z]\d[0-9A-Z](?:\.?[0-9A-Z]{1,4})?")


def _bounds(name: str) -> tuple[float, float]:
    low = high = None
    for constraint in Visit.model_fields[name].metadata:
        low = getattr(constraint, "ge", low)
        high = getattr(constraint, "le", high)
    assert low is not None and high is not None, name
    return float(low), float(high)


BOUNDS: dict[str, tuple[float, float]] = {name: _bounds(name) for name in NUMBER_COLUMNS}


def parse_number(name: str, text: str) -> float:
    if not NUMBER_RE.fullmatch(text):
        raise ValueError(f"not a number: {text!r}")
    value = float(text)
    low, high = BOUNDS[name]
    if not low <= value <= high:
        raise ValueError(f"{text} is outside [{low:g}, {high:g}]")
    return value


def parse_date(text: str) -> dt.date:
    if not DATE_RE.fullmatch(text):
        raise ValueError(f"not a YYYY-MM-DD date: {text!r}")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"no such date: {text!r}") from None


def parse_time(text: str) -> dt.datetime:
    match = DATETIME_RE.fullmatch(text)
    if not match:
        raise ValueError(f"not an ISO 8601 time: {text!r}")
    try:
        value = dt.datetime.fromisoformat(match.group(1))
    except ValueError:
        raise ValueError(f"no such time: {text!r}") from None
    return value.replace(microsecond=0)


def canonical_time(value: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS``."""
    return value.isoformat(timespec="seconds")


def split_list(text: str) -> list[str]:
    """Items of a ``;``-separated list, stripped, empty items dropped."""
    return [item.strip() for item in text.split(LIST_SEPARATOR) if item.strip()]


def parse_codes(text: str) -> list[str]:
    codes = [code.upper() for code in split_list(text)]
    for code in codes:
        if not ICD10_RE.fullmatch(code):
            raise ValueError(f"not an ICD-10 code: {code!r}")
    return codes


def parse_exposures(text: str) -> list[dict[str, str | None]]:
    """``place`` or ``place@YYYY-MM-DD`` items as ``{"place_id", "date"}``; a place once."""
    exposures: dict[str, str | None] = {}
    for item in split_list(text):
        place, sep, day = item.rpartition(EXPOSURE_DATE_SEPARATOR)
        if not sep:
            place, day = item, ""
        place = place.strip()
        if not place:
            raise ValueError(f"no place in {item!r}")
        date = parse_date(day.strip()).isoformat() if sep else None
        exposures.setdefault(place, date)
    return [{"place_id": p, "date": d} for p, d in exposures.items()]


def parse_sex(text: str) -> str:
    sex = text.upper()
    if sex not in SEXES:
        raise ValueError(f"not one of M, F, U: {text!r}")
    return sex
