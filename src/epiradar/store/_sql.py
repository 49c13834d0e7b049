"""Small helpers shared by the repositories: batching, ISO dates and times, JSON lists."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import pandas as pd

T = TypeVar("T")

IN_BATCH = 5_000
"""Values per ``IN (...)`` list: below the bind-parameter limits of SQLite and PostgreSQL."""


def batched(values: Iterable[T], size: int = IN_BATCH) -> Iterator[list[T]]:
    batch: list[T] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def iso_date(value: dt.date | str) -> str:
    """``YYYY-MM-DD`` of a date (a datetime is cut to its date) or of an ISO string."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return dt.date.fromisoformat(str(value)[:10]).isoformat()


def now_iso() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


def json_list(value: Any) -> str:
    """JSON text of a list field (``None`` and empty lists are ``[]``; text passes as is)."""
    if isinstance(value, str):
        return value
    return json.dumps(list(value), ensure_ascii=False) if value else "[]"


def from_json_list(text: str | None) -> list[Any]:
    return json.loads(text) if text else []


def object_frame(rows: Iterable[Iterable[Any]], columns: list[str]) -> pd.DataFrame:
    """A frame of ``rows`` with object columns: text stays ``str``, NULL stays ``None``."""
    data = list(zip(*rows, strict=True)) or [()] * len(columns)
    return pd.DataFrame(
        {
            name: pd.Series(list(values), dtype=object)
            for name, values in zip(columns, data, strict=True)
        }
    )
