"""De-identified line lists with k-anonymity (docs/line-list-export.md).

A line list leaves the surveillance system only after three steps:

1. Direct identifiers are dropped (patient key, visit ids, facility visit ids, coordinates, free
   text, contacts, exposures, exact times). The output is built from an allow-list
   (:data:`SENSITIVE_COLUMNS` plus the released quasi-identifiers), so a new visit column never
   leaks by default. An optional per-file pseudonym links visits of one patient within the file
   (HMAC-SHA256 under a random salt that is discarded).
2. Quasi-identifiers are generalised along fixed hierarchies (:data:`HIERARCHIES`): age ->
   5/10/20-year bands with an open top band -> suppressed; visit date -> ISO week -> month;
   onset date -> ISO week -> month -> suppressed; residence -> district -> suppressed; sex ->
   suppressed; optionally facility -> its district -> suppressed.
3. k-anonymity (Sweeney 2002; Samarati 2001): every combination of released quasi-identifier
   values occurs at least ``k`` times. The full-domain generalisation lattice (one level per
   quasi-identifier) is small and searched in order of information loss (Samarati's minimal
   generalisation, as in Incognito, LeFevre et al. 2005); records left in classes smaller than
   ``k`` are suppressed, at most ``max_suppression`` of them. Generalising merges classes, so
   the suppressed count never grows up the lattice and the least-loss node that reaches ``k``
   is minimal: no node below it does.

The report (:class:`AnonymityReport`) comes before any row: levels, smallest class, classes,
records suppressed and released, and the distinct l-diversity of the syndromes (Machanavajjhala
et al. 2007). Everything is vectorised over distinct values (``pd.factorize``): a lattice node
costs one hash of an int64 key per record.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from epiradar.model import SYNDROMES

SCHEMA_VERSION = "1"
"""Version of the released columns (:data:`SCHEMA`); bumped when a column changes meaning."""

SUPPRESSED = "*"
"""The value of a quasi-identifier generalised to its top (the attribute says nothing)."""

HIERARCHIES: dict[str, tuple[str, ...]] = {
    "age": ("5y", "10y", "20y", SUPPRESSED),
    "sex": ("sex", SUPPRESSED),
    "visit": ("week", "month"),
    "onset": ("week", "month", SUPPRESSED),
    "district": ("district", SUPPRESSED),
    "facility": ("facility", "district", SUPPRESSED),
}
"""The levels of each quasi-identifier, most precise first. The visit's period is never
suppressed: a line list needs its time axis (a longer period or a lower ``k`` helps instead)."""

LEVEL_LOSS: dict[str, tuple[float, ...]] = {
    "age": (4 / 100, 9 / 100, 19 / 100, 1.0),
    "sex": (0.0, 1.0),
    "visit": (6 / 364, 30 / 364),
    "onset": (6 / 364, 30 / 364, 1.0),
    "district": (0.0, 1.0),
    "facility": (0.0, 0.3, 1.0),
}
"""Information loss of each level: Iyengar's (2002) loss metric, (values a generalised value
covers - 1) / (values in the domain - 1), over ages 0-100, a year of days, and about three
facilities per district. Strictly increasing up each hierarchy, so a node's loss (the mean)
is above that of every node below it: the least-loss node reaching k is minimal."""

DEFAULT_QUASI_IDENTIFIERS: tuple[str, ...] = ("age", "sex", "visit", "onset", "district")
"""Released by default; ``facility`` is opt-in (a facility and its catchment identify)."""

QI_COLUMNS: dict[str, str] = {
    "age": "age_band",
    "sex": "sex",
    "visit": "visit_period",
    "onset": "onset_period",
    "district": "district",
    "facility": "facility",
}
"""The output column of each quasi-identifier."""

SYNDROME_COLUMNS: tuple[str, ...] = tuple(f"syndrome_{s.value}" for s in SYNDROMES)

SENSITIVE_COLUMNS: tuple[str, ...] = (
    *SYNDROME_COLUMNS,
    "temperature_band",
    "patient_class",
    "disposition",
    "lab_result",
)
"""Analysis columns released as they are (temperature as a band)."""

PSEUDONYM_COLUMN = "person"

SCHEMA: tuple[tuple[str, str, str], ...] = (
    (
        PSEUDONYM_COLUMN,
        "string",
        "optional: the same value for visits of one patient in this "
        "file only (HMAC-SHA256 under a salt that was discarded); empty when the key is unknown",
    ),
    ("visit_period", "string", "ISO week of the visit (2026-W05) or its month (2026-02)"),
    ("onset_period", "string", "ISO week or month of symptom onset; * suppressed; empty unknown"),
    (
        "age_band",
        "string",
        "age in years as a band: 0-4 ... 75-79, 0-9 ..., 0-19 ..., "
        "the top band open (80+); * suppressed; empty unknown",
    ),
    ("sex", "string", "F, M or as reported; * suppressed; empty unknown"),
    (
        "district",
        "string",
        "district of residence (the region's parent, else the region); * suppressed; empty unknown",
    ),
    ("facility", "string", "optional: reporting facility id, or its district; * suppressed"),
    *(
        (c, "boolean", f"the visit meets the {s.label.lower()} syndrome definition")
        for c, s in zip(SYNDROME_COLUMNS, SYNDROMES, strict=True)
    ),
    (
        "temperature_band",
        "string",
        "<37.5, 37.5-37.9, 38.0-38.9, >=39.0 (degrees C); empty unknown",
    ),
    ("patient_class", "string", "as reported: outpatient, emergency, inpatient ..."),
    ("disposition", "string", "as reported: discharged, admitted, transferred, died ..."),
    ("lab_result", "string", "as reported"),
)
"""Every column a file may hold: (name, type, meaning). Columns of quasi-identifiers not
released, and the pseudonym unless asked for, are absent."""

_TEMPERATURE_EDGES = (37.5, 38.0, 39.0)
_TEMPERATURE_LABELS = ("<37.5", "37.5-37.9", "38.0-38.9", ">=39.0")


class AnonymityError(ValueError):
    """A request that cannot be released: ``report`` says what the search found."""

    def __init__(self, message: str, report: AnonymityReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class AnonymityReport(BaseModel):
    """What a release holds, decided before any row is written."""

    releasable: bool
    reason: str | None = None
    k_requested: int
    k_achieved: int | None  # the smallest released class; None when nothing is released
    max_suppression: float
    quasi_identifiers: list[str]
    levels: dict[str, str]  # quasi-identifier -> chosen level
    records_in: int
    records_released: int
    records_suppressed: int
    suppressed_share: float
    classes: int  # equivalence classes released
    l_diversity: int | None  # distinct syndrome combinations in the least diverse class
    information_loss: float  # mean of LEVEL_LOSS over the quasi-identifiers (0..1)
    lattice_size: int
    nodes_checked: int


@dataclass(frozen=True)
class Release:
    """The de-identified rows (``frame``, columns in :data:`SCHEMA` order) and their report."""

    frame: pd.DataFrame
    report: AnonymityReport


# ---------------------------------------------------------------------------------------------
# generalisation of one quasi-identifier (on distinct values)


def age_band(age: float | None, level: str, *, top: int = 80) -> str | None:
    """``age`` in years as a band of ``level`` (``5y``, ``10y``, ``20y``) below the open band
    ``{top}+``; ``*`` at the top level; ``None`` when unknown (below the top level)."""
    if level == SUPPRESSED:
        return SUPPRESSED
    if _is_missing(age):
        return None
    if age >= top:
        return f"{top}+"
    width = {"5y": 5, "10y": 10, "20y": 20}[level]
    low = int(max(age, 0) // width * width)
    return f"{low}-{min(low + width, top) - 1}"


def period(day: Any, level: str) -> str | None:
    """A date as its ISO week (``2026-W05``; the ISO year, so 2021-01-01 is ``2020-W53``) or
    month (``2026-01``); ``*`` at ``level == "*"``; ``None`` when unknown."""
    if level == SUPPRESSED:
        return SUPPRESSED
    if _is_missing(day):
        return None
    if level == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if level == "month":
        return f"{day.year}-{day.month:02d}"
    raise ValueError(f"level: unknown date level {level!r}")


def temperature_band(values: pd.Series) -> pd.Series:
    """Temperatures (degrees C) as clinical bands; unknown stays ``None``."""
    t = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    idx = np.searchsorted(np.asarray(_TEMPERATURE_EDGES), t, side="right")
    labels = np.asarray(_TEMPERATURE_LABELS, dtype=object)[np.minimum(idx, 3)]
    labels[np.isnan(t)] = None
    return pd.Series(labels, index=values.index, dtype=object)


def _is_missing(value: Any) -> bool:
    """None, NaN, NaT or pd.NA."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _generaliser(
    qi: str,
    *,
    top_age: int,
    district_of: Mapping[str, str],
    facility_district: Mapping[str, str],
):
    """``f(distinct raw value, level) -> label`` for quasi-identifier ``qi``."""

    def general(value: Any, level: str) -> str | None:
        if level == SUPPRESSED:
            return SUPPRESSED
        if qi == "age":
            return age_band(None if _is_missing(value) else float(value), level, top=top_age)
        if qi in ("visit", "onset"):
            return period(None if _is_missing(value) else value, level)
        if _is_missing(value):
            return None
        if qi == "sex":
            return str(value)
        if qi == "district":
            return district_of.get(str(value), str(value))
        if qi == "facility":
            if level == "facility":
                return str(value)
            return facility_district.get(str(value))
        raise ValueError(f"quasi_identifiers: unknown quasi-identifier {qi!r}")

    return general


_SOURCE = {
    "age": "age",
    "sex": "sex",
    "visit": "visit_date",
    "onset": "onset_date",
    "district": "residence_region",
    "facility": "facility_id",
}


@dataclass(frozen=True)
class _Dimension:
    """One quasi-identifier: per level, each record's class code and the labels of the codes."""

    name: str
    levels: tuple[str, ...]
    codes: tuple[np.ndarray, ...]  # int64 per record, per level
    labels: tuple[np.ndarray, ...]  # object label per code, per level


def _dimension(
    frame: pd.DataFrame,
    qi: str,
    *,
    top_age: int,
    district_of: Mapping[str, str],
    facility_district: Mapping[str, str],
) -> _Dimension:
    raw_codes, uniques = pd.factorize(frame[_SOURCE[qi]], use_na_sentinel=False)
    general = _generaliser(
        qi, top_age=top_age, district_of=district_of, facility_district=facility_district
    )
    codes, labels = [], []
    for level in HIERARCHIES[qi]:
        mapped = pd.Series([general(v, level) for v in uniques], dtype=object)
        level_codes, level_labels = pd.factorize(mapped, use_na_sentinel=False)
        names = np.asarray(level_labels, dtype=object)
        names[pd.isna(names)] = None
        codes.append(level_codes.astype(np.int64)[raw_codes])
        labels.append(names)
    return _Dimension(qi, HIERARCHIES[qi], tuple(codes), tuple(labels))


# ---------------------------------------------------------------------------------------------
# the lattice


def _class_sizes(dims: Sequence[_Dimension], node: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per record its equivalence class (0..n_classes-1) and per class its size at ``node``."""
    n = len(dims[0].codes[0]) if dims else 0
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    key = np.zeros(n, dtype=np.int64)
    radix = 1
    for dim, level in zip(dims, node, strict=True):
        width = max(len(dim.labels[level]), 1)
        if radix * width >= 2**62:  # too many combinations for one int64: re-number first
            key = pd.factorize(key)[0].astype(np.int64)
            radix = int(key.max()) + 1
        key = key + dim.codes[level] * radix
        radix *= width
    classes, _ = pd.factorize(key)
    return classes, np.bincount(classes)


def _loss(dims: Sequence[_Dimension], node: Sequence[int]) -> float:
    """Information loss of a node: the mean over quasi-identifiers of :data:`LEVEL_LOSS`."""
    if not dims:
        return 0.0
    return float(np.mean([LEVEL_LOSS[d.name][lvl] for d, lvl in zip(dims, node, strict=True)]))


def lattice(quasi_identifiers: Sequence[str]) -> list[tuple[int, ...]]:
    """Every full-domain generalisation node (a level index per quasi-identifier)."""
    return list(itertools.product(*(range(len(HIERARCHIES[q])) for q in quasi_identifiers)))


def check_quasi_identifiers(quasi_identifiers: Sequence[str]) -> tuple[str, ...]:
    """The quasi-identifiers in canonical order, once each; unknown names are refused."""
    unknown = sorted(set(quasi_identifiers) - set(HIERARCHIES))
    if unknown:
        raise ValueError(
            f"quasi_identifiers: unknown {', '.join(map(repr, unknown))}; "
            f"one of {', '.join(HIERARCHIES)}"
        )
    return tuple(q for q in HIERARCHIES if q in set(quasi_identifiers))


@dataclass(frozen=True)
class _Search:
    dims: tuple[_Dimension, ...]
    node: tuple[int, ...] | None
    classes: np.ndarray
    sizes: np.ndarray
    report: AnonymityReport


def _search(
    visits: pd.DataFrame,
    *,
    k: int,
    max_suppression: float,
    quasi_identifiers: Sequence[str],
    district_of: Mapping[str, str],
    facility_district: Mapping[str, str],
    top_age: int,
) -> _Search:
    if k < 1:
        raise ValueError(f"k: must be at least 1, not {k}")
    if not 0 <= max_suppression < 1:
        raise ValueError(f"max_suppression: a share in [0, 1), not {max_suppression}")
    qis = check_quasi_identifiers(quasi_identifiers)
    dims = tuple(
        _dimension(
            visits,
            q,
            top_age=top_age,
            district_of=district_of,
            facility_district=facility_district,
        )
        for q in qis
    )
    n = len(visits)
    allowed = int(np.floor(max_suppression * n + 1e-9))
    nodes = sorted(lattice(qis), key=lambda node: (_loss(dims, node), node))
    best: tuple[tuple[int, ...], np.ndarray, np.ndarray, int] | None = None
    checked = 0
    for node in nodes:
        if best is not None and _loss(dims, node) > _loss(dims, best[0]):
            break  # nodes of equal loss were compared; every later one loses more
        classes, sizes = _class_sizes(dims, node)
        checked += 1
        suppressed = int(sizes[sizes < k].sum())
        fits = n > 0 and suppressed <= allowed and suppressed < n
        if fits and (best is None or suppressed < best[3]):
            best = (node, classes, sizes, suppressed)
    if best is None:  # report the top node: it suppresses the fewest records
        top = nodes[-1]
        classes, sizes = _class_sizes(dims, top)
        node, suppressed = top, int(sizes[sizes < k].sum())
    else:
        node, classes, sizes, suppressed = best
    released = sizes[sizes >= k]
    report = AnonymityReport(
        releasable=best is not None,
        k_requested=k,
        k_achieved=int(released.min()) if best is not None and released.size else None,
        max_suppression=max_suppression,
        quasi_identifiers=list(qis),
        levels={d.name: d.levels[lvl] for d, lvl in zip(dims, node, strict=True)},
        records_in=n,
        records_released=n - suppressed if best is not None else 0,
        records_suppressed=suppressed if best is not None else n,
        suppressed_share=(suppressed / n) if n else 0.0,
        classes=int(released.size) if best is not None else 0,
        l_diversity=None,
        information_loss=_loss(dims, node),
        lattice_size=len(nodes),
        nodes_checked=checked,
    )
    if best is None:
        report.reason = _refusal(report, n, allowed)
    else:
        report.l_diversity = _l_diversity(visits, classes, sizes >= k)
    return _Search(dims, node if best is not None else None, classes, sizes, report)


def _refusal(report: AnonymityReport, n: int, allowed: int) -> str:
    k = report.k_requested
    if n == 0:
        return "no visits match the filters (period, syndrome, districts): nothing to release"
    if n < k:
        return (
            f"k = {k} cannot be reached: only {n} visit(s) match the filters; "
            "a longer period, more districts or a lower k would help"
        )
    levels = ", ".join(f"{q} {lvl}" for q, lvl in report.levels.items())
    return (
        f"k = {k} cannot be reached: even at the coarsest levels ({levels}) "
        f"{report.suppressed_share:.1%} of {n} visits would be suppressed "
        f"(in classes smaller than {k}), above the limit of {report.max_suppression:.1%} "
        f"({allowed} visits); a longer period, fewer quasi-identifiers or a lower k would help"
    )


def _l_diversity(visits: pd.DataFrame, classes: np.ndarray, keep: np.ndarray) -> int | None:
    """Distinct l-diversity of the syndrome combination: the fewest distinct combinations in a
    released class."""
    released = keep[classes]
    if not released.any():
        return None
    pairs = pd.DataFrame(
        {"c": classes[released], "s": visits["syndrome_mask"].to_numpy()[released]}
    )
    return int(pairs.drop_duplicates().groupby("c").size().min())


# ---------------------------------------------------------------------------------------------
# the release


def plan(
    visits: pd.DataFrame,
    *,
    k: int,
    max_suppression: float = 0.05,
    quasi_identifiers: Sequence[str] = DEFAULT_QUASI_IDENTIFIERS,
    district_of: Mapping[str, str] | None = None,
    facility_district: Mapping[str, str] | None = None,
    top_age: int = 80,
) -> AnonymityReport:
    """The report of :func:`anonymise` without building the rows (``releasable`` False with
    the ``reason`` when ``k`` cannot be reached)."""
    return _search(
        visits,
        k=k,
        max_suppression=max_suppression,
        quasi_identifiers=quasi_identifiers,
        district_of=district_of or {},
        facility_district=facility_district or {},
        top_age=top_age,
    ).report


def anonymise(
    visits: pd.DataFrame,
    *,
    k: int,
    max_suppression: float = 0.05,
    quasi_identifiers: Sequence[str] = DEFAULT_QUASI_IDENTIFIERS,
    district_of: Mapping[str, str] | None = None,
    facility_district: Mapping[str, str] | None = None,
    pseudonyms: bool = False,
    top_age: int = 80,
    rng: np.random.Generator | None = None,
) -> Release:
    """A k-anonymous line list of ``visits`` (columns of ``Store.visits_frame``).

    ``district_of`` maps a residence region to its district (missing: the region itself),
    ``facility_district`` a facility to its district. Rows come shuffled, then ordered by the
    visit's period (the input order, which follows visit ids, is not kept). Raises
    :class:`AnonymityError` (with the report) when ``k`` cannot be reached with at most
    ``max_suppression`` of the records suppressed.
    """
    found = _search(
        visits,
        k=k,
        max_suppression=max_suppression,
        quasi_identifiers=quasi_identifiers,
        district_of=district_of or {},
        facility_district=facility_district or {},
        top_age=top_age,
    )
    report = found.report
    if found.node is None:
        raise AnonymityError(report.reason or "k cannot be reached", report)
    rows = _row_order(found, k, rng or np.random.default_rng(secrets.randbits(64)))
    columns: dict[str, Any] = {}
    if pseudonyms:
        columns[PSEUDONYM_COLUMN] = _pseudonyms(visits["patient_key"].to_numpy()[rows])
    for dim, level in zip(found.dims, found.node, strict=True):
        columns[QI_COLUMNS[dim.name]] = dim.labels[level][dim.codes[level][rows]]
    masks = visits["syndrome_mask"].to_numpy(dtype=np.int64)[rows]
    for column, syndrome in zip(SYNDROME_COLUMNS, SYNDROMES, strict=True):
        columns[column] = (masks & syndrome.bit) != 0
    columns["temperature_band"] = temperature_band(visits["temperature_c"].iloc[rows]).to_numpy()
    for name in ("patient_class", "disposition", "lab_result"):
        columns[name] = _strings(visits[name].iloc[rows])
    frame = pd.DataFrame({c: columns[c] for c, _, _ in SCHEMA if c in columns})
    return Release(frame=frame, report=report)


def _row_order(found: _Search, k: int, rng: np.random.Generator) -> np.ndarray:
    """The released records (classes of at least ``k``) in random order, then stably by the
    visit's period: the input order, which follows visit ids, is not kept."""
    rows = np.flatnonzero((found.sizes >= k)[found.classes])
    rows = rows[rng.permutation(len(rows))]
    assert found.node is not None
    for dim, level in zip(found.dims, found.node, strict=True):
        if dim.name == "visit":
            labels = dim.labels[level]
            rank = np.argsort(np.argsort([("\uffff" if x is None else x) for x in labels]))
            rows = rows[np.argsort(rank[dim.codes[level][rows]], kind="stable")]
    return rows


def _strings(values: pd.Series) -> np.ndarray:
    out = values.to_numpy(dtype=object).copy()
    out[pd.isna(out)] = None
    return out


def _pseudonyms(keys: np.ndarray) -> np.ndarray:
    """Per-file pseudonyms: 16 hex digits of HMAC-SHA256(random salt, patient key); the salt
    is never kept, so they link visits within this file and nowhere else."""
    salt = secrets.token_bytes(32)
    codes, uniques = pd.factorize(keys, use_na_sentinel=True)
    names = np.asarray(
        [hmac.new(salt, str(u).encode(), hashlib.sha256).hexdigest()[:16] for u in uniques]
        + [None],
        dtype=object,
    )
    return names[codes]  # code -1 (unknown key) picks the trailing None


def columns_of(quasi_identifiers: Sequence[str], *, pseudonyms: bool = False) -> list[str]:
    """The columns a release of these quasi-identifiers holds, in order."""
    qis = check_quasi_identifiers(quasi_identifiers)
    wanted = {QI_COLUMNS[q] for q in qis} | set(SENSITIVE_COLUMNS)
    if pseudonyms:
        wanted.add(PSEUDONYM_COLUMN)
    return [c for c, _, _ in SCHEMA if c in wanted]
