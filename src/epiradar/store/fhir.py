"""Queries of the FHIR read API and Bulk Data export: visits by filters in keyset pages
(``visits.id`` order), the patients of those visits (by patient key), daily counts in pages,
and the rows of bulk export jobs. Pages are read one at a time: nothing loads every visit."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    String,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from epiradar.store.schema import bulk_exports, daily_counts, visits

VISIT_COLUMNS = (
    "id",
    "facility_id",
    "visit_id",
    "visit_time",
    "visit_date",
    "patient_key",
    "age",
    "sex",
    "residence_region",
    "chief_complaint",
    "temperature_c",
    "diagnosis_codes",
    "onset_date",
    "lab_result",
    "patient_class",
    "disposition",
    "discharge_time",
    "syndrome_mask",
)
_COLUMNS = [visits.c[name] for name in VISIT_COLUMNS]


@dataclass(frozen=True)
class VisitQuery:
    """Which visits: filters (``None``: no filter; an empty tuple: nothing matches) and the
    caller's scope. ``bounds`` are ``(">=" | "<", value)``: a date (``YYYY-MM-DD``) bounds
    ``visit_date``, a date-time bounds ``visit_time``. ``patients`` are patient group keys
    (``k:<patient key>`` or ``v:<visit pk>``). ``has``: only visits giving a ``Condition`` or an
    ``Observation``. ``since``: changed at or after (server time). ``max_pk``: a snapshot."""

    bounds: tuple[tuple[str, str], ...] = ()
    regions: tuple[str, ...] | None = None
    syndrome_bits: tuple[int, ...] | None = None
    facilities: tuple[str, ...] | None = None
    patients: tuple[str, ...] | None = None
    since: str | None = None
    max_pk: int | None = None
    scope_districts: tuple[str, ...] | None = None
    scope_facility: str | None = None
    has: str | None = None


def _has_key() -> ColumnElement[bool]:
    return and_(visits.c.patient_key.is_not(None), visits.c.patient_key != "")


def group_key() -> ColumnElement[str]:
    """The patient group key of a visit in SQL (``share.fhir_resources.patient_group_key``)."""
    return case(
        (_has_key(), literal("k:", String) + visits.c.patient_key),
        else_=literal("v:", String) + cast(visits.c.id, String),
    )


def _where(q: VisitQuery) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    for op, value in q.bounds:
        column = visits.c.visit_date if len(value) == 10 else visits.c.visit_time
        out.append(column >= value if op == ">=" else column < value)
    if q.regions is not None:
        out.append(visits.c.residence_region.in_(q.regions))
    if q.syndrome_bits is not None:
        bits = 0
        for bit in q.syndrome_bits:
            bits |= bit
        out.append(visits.c.syndrome_mask.op("&")(bits) != 0)
    if q.facilities is not None:
        out.append(visits.c.facility_id.in_(q.facilities))
    if q.patients is not None:
        keys = [p[2:] for p in q.patients if p.startswith("k:")]
        pks = [int(p[2:]) for p in q.patients if p.startswith("v:") and p[2:].isdigit()]
        out.append(
            or_(
                visits.c.patient_key.in_(keys),
                and_(
                    visits.c.id.in_(pks),
                    or_(visits.c.patient_key.is_(None), visits.c.patient_key == ""),
                ),
            )
        )
    if q.since is not None:
        out.append(func.coalesce(visits.c.updated_at, visits.c.received_at, "") >= q.since)
    if q.max_pk is not None:
        out.append(visits.c.id <= q.max_pk)
    if q.scope_districts is not None:
        out.append(visits.c.residence_region.in_(q.scope_districts))
    if q.scope_facility is not None:
        out.append(visits.c.facility_id == q.scope_facility)
    codes = and_(visits.c.diagnosis_codes.is_not(None), visits.c.diagnosis_codes != "[]")
    if q.has == "Condition":
        out.append(or_(visits.c.syndrome_mask != 0, codes))
    elif q.has == "Observation":
        out.append(
            or_(
                visits.c.temperature_c.is_not(None),
                visits.c.lab_result.is_not(None),
                visits.c.onset_date.is_not(None),
            )
        )
    return out


def visits_after(engine: Engine, q: VisitQuery, after_pk: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` visits with ``id > after_pk``, by id."""
    stmt = (
        select(*_COLUMNS)
        .where(visits.c.id > after_pk, *_where(q))
        .order_by(visits.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def iter_visits(
    engine: Engine, q: VisitQuery, *, after_pk: int = 0, batch: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every visit of ``q`` after ``after_pk``, by id, read ``batch`` at a time."""
    while True:
        rows = visits_after(engine, q, after_pk, batch)
        yield from rows
        if len(rows) < batch:
            return
        after_pk = int(rows[-1]["id"])


def visit(engine: Engine, q: VisitQuery, pk: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(*_COLUMNS).where(visits.c.id == pk, *_where(q))).first()
    return dict(row._mapping) if row is not None else None


def count_visits(engine: Engine, q: VisitQuery) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(visits).where(*_where(q))).scalar_one()
        )


def max_visit_pk(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(visits.c.id), 0))).scalar_one())


# patients: the distinct patient group keys of the visits


def patients_after(engine: Engine, q: VisitQuery, after: str, limit: int) -> list[str]:
    """Up to ``limit`` patient group keys above ``after`` (in the database's text order)."""
    key = group_key()
    stmt = select(key).where(*_where(q)).group_by(key).order_by(key).limit(limit)
    if after:
        stmt = stmt.where(key > after)
    with engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(stmt)]


def count_patients(engine: Engine, q: VisitQuery) -> int:
    key = group_key()
    inner = select(key.label("k")).where(*_where(q)).group_by(key).subquery()
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())


def latest_visits(engine: Engine, q: VisitQuery, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The latest visit of ``q`` of each patient group key (what its Patient shows)."""
    out: dict[str, dict[str, Any]] = {}
    if not keys:
        return out
    key = group_key()
    stmt = (
        select(key.label("group_key"), *_COLUMNS)
        .where(key.in_(list(keys)), *_where(q))
        .order_by(visits.c.visit_time, visits.c.id)
    )
    with engine.connect() as conn:
        for r in conn.execute(stmt):
            row = dict(r._mapping)
            out[str(row.pop("group_key"))] = row
    return out


def iter_latest_per_patient(
    engine: Engine, q: VisitQuery, *, batch: int = 1000
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(patient group key, its latest visit)`` of every patient of ``q``, in key order, in one
    streamed pass sorted by the database (bulk export: no per-page rescans)."""
    key = group_key()
    stmt = (
        select(key.label("group_key"), *_COLUMNS)
        .where(*_where(q))
        .order_by(key, visits.c.visit_time, visits.c.id)
    )
    current_key: str | None = None
    current: dict[str, Any] = {}
    with engine.connect() as conn:
        for r in conn.execution_options(yield_per=batch).execute(stmt):
            row = dict(r._mapping)
            k = str(row.pop("group_key"))
            if current_key is not None and k != current_key:
                yield current_key, current
            current_key, current = k, row
    if current_key is not None:
        yield current_key, current


def patient_keys_hashed(engine: Engine, q: VisitQuery, digest: str) -> list[str]:
    """The group keys whose ``pth-`` Patient id is ``digest`` (keys not safe as ids; rare)."""
    import hashlib

    stmt = select(visits.c.patient_key).where(*_where(q), _has_key()).group_by(visits.c.patient_key)
    with engine.connect() as conn:
        return [
            f"k:{r[0]}"
            for r in conn.execute(stmt)
            if hashlib.sha256(str(r[0]).encode()).hexdigest()[:40] == digest
        ]


# daily counts


def _count_where(
    bounds: Sequence[tuple[str, str]],
    regions: Sequence[str] | None,
    syndromes: Sequence[str] | None,
) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    for op, value in bounds:
        out.append(daily_counts.c.date >= value if op == ">=" else daily_counts.c.date < value)
    if regions is not None:
        out.append(daily_counts.c.region_id.in_(list(regions)))
    if syndromes is not None:
        out.append(daily_counts.c.syndrome.in_(list(syndromes)))
    return out


def _after(columns: Sequence[Any], values: Sequence[str]) -> ColumnElement[bool]:
    """``(columns) > (values)`` lexicographically, as plain comparisons."""
    head, *rest = columns
    if not rest:
        return head > values[0]
    return or_(head > values[0], and_(head == values[0], _after(rest, values[1:])))


def count_rows_after(
    engine: Engine,
    *,
    bounds: Sequence[tuple[str, str]],
    regions: Sequence[str] | None,
    syndromes: Sequence[str] | None,
    after: Sequence[str] | None,
    limit: int,
) -> list[tuple[str, str, str, int]]:
    """Daily count rows ``(date, region, syndrome, count)`` after the key ``after``."""
    c = daily_counts.c
    keys = [c.date, c.region_id, c.syndrome]
    stmt = select(*keys, c.count).where(*_count_where(bounds, regions, syndromes))
    if after:
        stmt = stmt.where(_after(keys, after))
    stmt = stmt.order_by(*keys).limit(limit)
    with engine.connect() as conn:
        return [(r[0], r[1], r[2], int(r[3])) for r in conn.execute(stmt)]


def count_totals_after(
    engine: Engine,
    *,
    bounds: Sequence[tuple[str, str]],
    regions: Sequence[str] | None,
    syndromes: Sequence[str] | None,
    after: Sequence[str] | None,
    limit: int,
) -> list[tuple[str, str, int, str, str]]:
    """Counts summed over the dates: ``(region, syndrome, count, first date, last date)``."""
    c = daily_counts.c
    keys = [c.region_id, c.syndrome]
    stmt = (
        select(*keys, func.sum(c.count), func.min(c.date), func.max(c.date))
        .where(*_count_where(bounds, regions, syndromes))
        .group_by(*keys)
    )
    if after:
        stmt = stmt.having(_after(keys, after))
    stmt = stmt.order_by(*keys).limit(limit)
    with engine.connect() as conn:
        return [(r[0], r[1], int(r[2]), r[3], r[4]) for r in conn.execute(stmt)]


def count_count_rows(
    engine: Engine,
    *,
    bounds: Sequence[tuple[str, str]],
    regions: Sequence[str] | None,
    syndromes: Sequence[str] | None,
    totals: bool,
) -> int:
    c = daily_counts.c
    where = _count_where(bounds, regions, syndromes)
    if totals:
        inner = select(c.region_id, c.syndrome).where(*where).group_by(c.region_id, c.syndrome)
        stmt = select(func.count()).select_from(inner.subquery())
    else:
        stmt = select(func.count()).select_from(daily_counts).where(*where)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


# bulk export jobs


def _job(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    out["scope"] = json.loads(out["scope"])
    out["types"] = json.loads(out["types"])
    out["output"] = json.loads(out["output"]) if out["output"] else []
    return out


def insert_job(engine: Engine, job: dict[str, Any]) -> None:
    values = dict(job)
    values["scope"] = json.dumps(values["scope"], sort_keys=True)
    values["types"] = json.dumps(values["types"])
    if "output" in values:
        values["output"] = json.dumps(values["output"])
    with engine.begin() as conn:
        conn.execute(insert(bulk_exports).values(**values))


def job(engine: Engine, job_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(bulk_exports).where(bulk_exports.c.id == job_id)).first()
    return _job(row) if row is not None else None


def update_job(
    engine: Engine, job_id: str, values: dict[str, Any], *, status_in: Sequence[str] | None = None
) -> bool:
    """Set ``values`` on a job (only while its status is one of ``status_in``, when given);
    whether a row changed."""
    values = dict(values)
    if "output" in values:
        values["output"] = json.dumps(values["output"])
    stmt = update(bulk_exports).where(bulk_exports.c.id == job_id).values(**values)
    if status_in is not None:
        stmt = stmt.where(bulk_exports.c.status.in_(list(status_in)))
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount > 0


def fail_stalled(engine: Engine, before: float, error: str, finished_at: str) -> list[str]:
    """Mark failed the queued or running jobs without a heartbeat since ``before`` (epoch
    seconds); their ids."""
    live = bulk_exports.c.status.in_(["queued", "running"])
    stalled = live & ((bulk_exports.c.heartbeat < before) | bulk_exports.c.heartbeat.is_(None))
    with engine.begin() as conn:
        ids = [r for (r,) in conn.execute(select(bulk_exports.c.id).where(stalled))]
        if ids:
            conn.execute(
                update(bulk_exports)
                .where(bulk_exports.c.id.in_(ids), live)
                .values(status="failed", error=error, finished_at=finished_at)
            )
    return ids


def active_jobs(engine: Engine, owner: str) -> int:
    """How many jobs of ``owner`` are queued or running."""
    stmt = (
        select(func.count())
        .select_from(bulk_exports)
        .where(bulk_exports.c.owner == owner, bulk_exports.c.status.in_(["queued", "running"]))
    )
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def expired_jobs(engine: Engine, now: str) -> list[dict[str, Any]]:
    """Finished jobs whose files are past ``expires_at``."""
    stmt = select(bulk_exports).where(
        bulk_exports.c.status == "done",
        bulk_exports.c.expires_at.is_not(None),
        bulk_exports.c.expires_at <= now,
    )
    with engine.connect() as conn:
        return [_job(r) for r in conn.execute(stmt)]
