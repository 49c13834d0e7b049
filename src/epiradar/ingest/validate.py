"""Vectorised validation of a chunk under ``ingest.rules``: each rule runs once per distinct
value of a column (the same functions ``VisitRecord`` uses), results are spread with numpy.

A rejected row reports its first failing column in canonical column order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from epiradar.ingest import rules

SMALL_CHUNK = 64
"""Up to this many rows, distinct values are found with a dict and every value is parsed."""


@dataclass
class Column:
    """Parsed distinct values of one column and, per row, the index of its value."""

    values: np.ndarray  # object: canonical value per distinct input
    reasons: np.ndarray  # object: None or why the distinct input is invalid
    codes: np.ndarray  # int64: row -> distinct input

    def rows(self) -> np.ndarray:
        return self.values[self.codes]

    def bad(self) -> np.ndarray:
        return np.not_equal(self.reasons, None)[self.codes]


@dataclass
class CheckedChunk:
    columns: dict[str, Column]
    ok: np.ndarray  # bool per row
    error_field: np.ndarray  # object per row: None or the failing column
    error_reason: np.ndarray  # object per row


def parse_column(
    texts: list[str],
    parse: Callable[[str], Any] | None,
    *,
    required: bool = False,
    empty: Any = None,
    canonical: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Column:
    """Apply ``parse`` to each distinct stripped text; "" is ``empty`` (or "required").

    ``canonical`` optionally marks, vectorised, the distinct texts that are already valid and
    canonical (``parse`` would return them unchanged): they skip the per-value parse.
    """
    if len(texts) <= SMALL_CHUNK:  # a few messages: plain Python beats pandas' fixed costs
        index: dict[Any, int] = {}
        codes = np.fromiter((index.setdefault(t, len(index)) for t in texts), np.int64, len(texts))
        uniques = np.empty(len(index), dtype=object)
        uniques[:] = list(index)
        canonical = None
    else:
        codes, uniques = pd.factorize(np.asarray(texts, dtype=object), use_na_sentinel=False)
    values = np.empty(len(uniques), dtype=object)
    reasons = np.full(len(uniques), None, dtype=object)
    done = canonical(uniques) if canonical is not None and len(uniques) else None
    if done is not None:
        values[done] = uniques[done]
    for i, raw in enumerate(uniques):
        if done is not None and done[i]:
            continue
        text = str(raw).strip()
        if not text:
            values[i] = [] if isinstance(empty, list) else empty
            if required:
                reasons[i] = "required"
            continue
        try:
            values[i] = parse(text) if parse is not None else text
        except ValueError as exc:
            reasons[i] = str(exc)
    return Column(values, reasons, np.asarray(codes, dtype=np.int64))


def _canonical_times(texts: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SS`` texts that are real times: the common case, checked in bulk."""
    series = pd.Series(texts, dtype=object)
    shaped = series.str.len().eq(19).to_numpy(dtype=bool)
    parsed = pd.to_datetime(series.where(shaped), format="%Y-%m-%dT%H:%M:%S", errors="coerce")
    return shaped & parsed.notna().to_numpy()


def _member(known: Collection[str], what: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if text not in known:
            raise ValueError(f"unknown {what} {text!r}")
        return text

    return check


def _number(name: str) -> Callable[[str], float]:
    return lambda text: rules.parse_number(name, text)


def check_chunk(
    texts: dict[str, list[str]], facilities: Collection[str], regions: Collection[str]
) -> CheckedChunk:
    parsers: dict[str, Callable[[str], Any] | None] = {
        "visit_id": None,
        "facility_id": _member(facilities, "facility"),
        "visit_time": lambda t: rules.canonical_time(rules.parse_time(t)),
        "patient_id": None,
        "sex": rules.parse_sex,
        "residence_region": _member(regions, "region"),
        "chief_complaint": None,
        "diagnosis_codes": rules.parse_codes,
        "onset_date": lambda t: rules.parse_date(t).isoformat(),
        "exposures": rules.parse_exposures,
        "contacts": rules.split_list,
        "lab_result": None,
        "patient_class": None,
        "disposition": None,
        "discharge_time": lambda t: rules.canonical_time(rules.parse_time(t)),
    } | {name: _number(name) for name in rules.NUMBER_COLUMNS}
    n = len(texts[rules.COLUMNS[0]])
    error_field = np.full(n, None, dtype=object)
    error_reason = np.full(n, None, dtype=object)
    columns: dict[str, Column] = {}
    for name in rules.COLUMNS:
        column = parse_column(
            texts[name],
            parsers[name],
            required=name in rules.REQUIRED,
            empty=[] if name in rules.LIST_COLUMNS else None,
            canonical=_canonical_times if name == "visit_time" else None,
        )
        columns[name] = column
        new = column.bad() & np.equal(error_field, None)
        if new.any():
            error_field[new] = name
            error_reason[new] = column.reasons[column.codes[new]]
    return CheckedChunk(columns, np.equal(error_field, None), error_field, error_reason)
