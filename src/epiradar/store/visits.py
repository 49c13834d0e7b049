"""Visits, their reported exposures, ingest runs and the quarantine of rejected input."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, and_, func, insert, select, update

from epiradar.model import Syndrome, syndromes_of
from epiradar.store._sql import (
    batched,
    from_json_list,
    iso_date,
    json_list,
    now_iso,
    object_frame,
)
from epiradar.store.schema import ingest_runs, quarantine, visit_exposures, visits

VISIT_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in visits.columns if c.name not in ("id", "ingest_run_id")
)
"""Keys of one row for :func:`insert_visits` (``visit_date`` may be left out: from ``visit_time``)."""

_LIST_COLUMNS = ("diagnosis_codes", "exposures", "contacts")
_DEFAULTS: dict[str, Any] = {c: None for c in VISIT_COLUMNS} | {"syndrome_mask": 0}


def start_ingest_run(engine: Engine, source: str, fmt: str) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            insert(ingest_runs)
            .values(
                source=source,
                format=fmt,
                started_at=now_iso(),
                accepted=0,
                duplicates=0,
                rejected=0,
            )
            .returning(ingest_runs.c.id)
        )
        return int(result.scalar_one())


def finish_ingest_run(
    engine: Engine, run_id: int, accepted: int, duplicates: int, rejected: int
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(ingest_runs)
            .where(ingest_runs.c.id == run_id)
            .values(
                finished_at=now_iso(), accepted=accepted, duplicates=duplicates, rejected=rejected
            )
        )


def ingest_run(engine: Engine, run_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(ingest_runs).where(ingest_runs.c.id == run_id)).mappings().first()
    return dict(row) if row else None


INSERT_COLUMNS = (*VISIT_COLUMNS, "ingest_run_id")


def _insert_sql(connection: Connection) -> str:
    """The one hand-written statement: executemany of plain tuples skips SQLAlchemy's per-row
    parameter processing (the ingest hot path). Same SQL on SQLite and PostgreSQL."""
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    return (
        f"INSERT INTO visits ({', '.join(INSERT_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(INSERT_COLUMNS))}) "
        "ON CONFLICT (facility_id, visit_id) DO NOTHING"
    )


VisitRows = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
"""Visits as a list of row dicts, or the same as columns ``{column: values}`` (faster)."""


def _columns(rows: VisitRows, run_id: int) -> dict[str, list[Any]]:
    """The insert columns as lists, list fields as JSON text."""
    if isinstance(rows, Mapping):
        given = {name: list(values) for name, values in rows.items()}
        n = len(given["visit_id"])
    else:
        n = len(rows)
        given = {name: [row.get(name, _DEFAULTS[name]) for row in rows] for name in VISIT_COLUMNS}
    columns = {name: given.get(name) or [_DEFAULTS[name]] * n for name in VISIT_COLUMNS}
    for name in _LIST_COLUMNS:
        columns[name] = [json_list(v) for v in columns[name]]
    columns["visit_date"] = [
        d if d is not None else str(t)[:10]
        for d, t in zip(columns["visit_date"], columns["visit_time"], strict=True)
    ]
    if all(v is None for v in columns["received_at"]):
        columns["received_at"] = [now_iso()] * n
    columns["ingest_run_id"] = [run_id] * n
    return columns


@dataclass(frozen=True)
class EncodedVisits:
    """Visits encoded for the insert: one tuple per visit in ``INSERT_COLUMNS`` order.

    Encoding needs no database, so an ingest worker process can do it while the writer stores
    earlier chunks; ``insert_visits`` then only executes.
    """

    params: list[tuple[Any, ...]]
    run_id: int
    has_exposures: bool

    @classmethod
    def encode(cls, rows: VisitRows, run_id: int) -> EncodedVisits:
        columns = _columns(rows, run_id)
        params = list(zip(*(columns[name] for name in INSERT_COLUMNS), strict=True))
        has_exposures = any(text != "[]" for text in columns["exposures"])
        return cls(params, run_id, has_exposures)

    def __len__(self) -> int:
        return len(self.params)

    def keys(self) -> list[tuple[str, str]]:
        """``(facility_id, visit_id)`` of each visit."""
        f, v = INSERT_COLUMNS.index("facility_id"), INSERT_COLUMNS.index("visit_id")
        return [(row[f], row[v]) for row in self.params]

    def visit_dates(self) -> set[str]:
        d = INSERT_COLUMNS.index("visit_date")
        return {row[d] for row in self.params}


def insert_visits(engine: Engine, rows: VisitRows | EncodedVisits, run_id: int) -> tuple[int, int]:
    """Insert visits, ignoring those whose ``(facility_id, visit_id)`` is already stored.

    Rows hold the :data:`VISIT_COLUMNS`; list fields are Python lists or their JSON text
    (``exposures``: ``{"place_id", "date"}`` items, which also fill ``visit_exposures``).
    Duplicates inside ``rows`` count like duplicates of stored visits: the first one wins.
    Returns ``(inserted, duplicates)``; everything happens in one transaction.
    """
    batch = rows if isinstance(rows, EncodedVisits) else EncodedVisits.encode(rows, run_id)
    if batch.run_id != run_id:
        raise ValueError(f"visits encoded for ingest run {batch.run_id}, not {run_id}")
    n = len(batch)
    if n == 0:
        return 0, 0
    with engine.begin() as conn:
        before = conn.execute(select(func.coalesce(func.max(visits.c.id), 0))).scalar_one()
        conn.exec_driver_sql(_insert_sql(conn), batch.params)
        # Ids grow, and only this call inserts rows of this run above ``before``.
        new = and_(visits.c.id > before, visits.c.ingest_run_id == run_id)
        inserted = conn.execute(select(func.count()).where(new)).scalar_one()
        if batch.has_exposures:
            conn.exec_driver_sql(_exposures_sql(conn), (before, run_id))
    return inserted, n - inserted


def _exposures_sql(connection: Connection) -> str:
    """Fill ``visit_exposures`` from the JSON ``exposures`` of the visits just inserted (ids
    above the first parameter, ingest run the second), inside the database: no round trip."""
    if connection.dialect.name == "sqlite":
        return (
            "INSERT OR IGNORE INTO visit_exposures (visit_pk, place_id, exposure_date) "
            "SELECT v.id, json_extract(e.value, '$.place_id'), json_extract(e.value, '$.date') "
            "FROM visits AS v, json_each(v.exposures) AS e "
            "WHERE v.id > ? AND v.ingest_run_id = ? AND v.exposures != '[]'"
        )
    return (
        "INSERT INTO visit_exposures (visit_pk, place_id, exposure_date) "
        "SELECT v.id, e.value ->> 'place_id', e.value ->> 'date' "
        "FROM visits AS v, jsonb_array_elements(CAST(v.exposures AS jsonb)) AS e(value) "
        "WHERE v.id > %s AND v.ingest_run_id = %s AND v.exposures != '[]' "
        "ON CONFLICT DO NOTHING"
    )


def add_quarantine(engine: Engine, records: Iterable[Mapping[str, Any]]) -> int:
    """Store rejected records (``source``, ``record``, ``field``, ``reason``, ``raw``,
    optional ``ingest_run_id``) verbatim. Returns how many were given.

    A record already kept (same source, record number, reason and raw text, e.g. the same
    file ingested again) is not stored twice.
    """
    received = now_iso()
    records = list(records)
    rows = [
        {
            "ingest_run_id": r.get("ingest_run_id"),
            "source": r["source"],
            "record": r.get("record"),
            "field": r.get("field"),
            "reason": r["reason"],
            **_raw_text(r["raw"]),
            "received_at": received,
            "format": r.get("format"),
            "context": r.get("context"),
            "facility_id": r.get("facility_id"),
            "status": "open",
        }
        for r in records
    ]
    if rows:
        with engine.begin() as conn:
            kept = set()
            for source in {r["source"] for r in rows}:
                numbers = [r["record"] for r in rows if r["source"] == source]
                for batch in batched(sorted(set(numbers), key=str)):
                    kept.update(
                        conn.execute(
                            select(
                                quarantine.c.source,
                                quarantine.c.record,
                                quarantine.c.reason,
                                quarantine.c.raw,
                            ).where(quarantine.c.source == source, quarantine.c.record.in_(batch))
                        ).all()
                    )
            new = [r for r in rows if (r["source"], r["record"], r["reason"], r["raw"]) not in kept]
            if new:
                conn.execute(insert(quarantine), new)
    return len(rows)


def _raw_text(raw: str | bytes) -> dict[str, str | None]:
    """Raw input as storable text: bytes that are not clean text (NUL, undecodable) are kept
    exactly as base64, with ``raw_encoding`` saying so."""
    if isinstance(raw, str):
        if "\x00" not in raw:
            try:
                raw.encode("utf-8")
                return {"raw": raw, "raw_encoding": None}
            except UnicodeEncodeError:  # lone surrogates from undecodable bytes
                pass
        raw = raw.encode("utf-8", "surrogateescape")
    else:
        try:
            text = raw.decode("utf-8")
            if "\x00" not in text:
                return {"raw": text, "raw_encoding": None}
        except UnicodeDecodeError:
            pass
    return {"raw": base64.b64encode(raw).decode("ascii"), "raw_encoding": "base64"}


def raw_bytes(record: Mapping[str, Any]) -> bytes:
    """The exact bytes of a quarantined record's ``raw``."""
    if record.get("raw_encoding") == "base64":
        return base64.b64decode(record["raw"])
    return str(record["raw"]).encode("utf-8")


def list_quarantine(
    engine: Engine,
    limit: int | None = 100,
    run_id: int | None = None,
    source: str | None = None,
    *,
    status: str | None = None,
    facility_id: str | None = None,
    ids: Iterable[int] | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Quarantined records, newest first; optionally of one ingest run, source, status
    (``open``, ``resolved``, ``discarded``), facility or the given ids."""
    stmt = select(quarantine).order_by(quarantine.c.id.desc()).limit(limit).offset(offset)
    if run_id is not None:
        stmt = stmt.where(quarantine.c.ingest_run_id == run_id)
    if source is not None:
        stmt = stmt.where(quarantine.c.source == source)
    if status is not None:
        stmt = stmt.where(quarantine.c.status == status)
    if facility_id is not None:
        stmt = stmt.where(quarantine.c.facility_id == facility_id)
    if ids is not None:
        stmt = stmt.where(quarantine.c.id.in_([int(i) for i in ids]))
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(stmt).mappings()]


def count_quarantine(engine: Engine, status: str | None = None) -> int:
    stmt = select(func.count()).select_from(quarantine)
    if status is not None:
        stmt = stmt.where(quarantine.c.status == status)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def resolve_quarantine(engine: Engine, ids: Iterable[int], status: str, resolution: str) -> int:
    """Mark open records ``resolved`` (re-processed and accepted) or ``discarded``."""
    if status not in ("resolved", "discarded"):
        raise ValueError(f"status must be resolved or discarded, not {status!r}")
    done = 0
    with engine.begin() as conn:
        for batch in batched(sorted({int(i) for i in ids})):
            result = conn.execute(
                update(quarantine)
                .where(quarantine.c.id.in_(batch), quarantine.c.status == "open")
                .values(status=status, resolved_at=now_iso(), resolution=resolution)
            )
            done += result.rowcount
    return done


def visit_date_range(engine: Engine) -> tuple[dt.date, dt.date] | None:
    with engine.connect() as conn:
        first, last = conn.execute(
            select(func.min(visits.c.visit_date), func.max(visits.c.visit_date))
        ).one()
    if first is None:
        return None
    return dt.date.fromisoformat(first), dt.date.fromisoformat(last)


FRAME_COLUMNS: tuple[str, ...] = ("id", *VISIT_COLUMNS, "ingest_run_id")


def visits_frame(
    engine: Engine,
    start: dt.date | str | None,
    end: dt.date | str | None,
    *,
    region_ids: Iterable[str] | None = None,
    syndrome: Syndrome | str | None = None,
    visit_pks: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Visits with ``visit_date`` in ``[start, end]`` (either open when ``None``), ordered by id.

    Columns: :data:`FRAME_COLUMNS` (list fields decoded, dates as ``datetime.date``) and
    ``syndromes`` (list of :class:`Syndrome`).
    """
    conditions = []
    if start is not None:
        conditions.append(visits.c.visit_date >= iso_date(start))
    if end is not None:
        conditions.append(visits.c.visit_date <= iso_date(end))
    if region_ids is not None:
        conditions.append(visits.c.residence_region.in_(list(region_ids)))
    if syndrome is not None:
        conditions.append(visits.c.syndrome_mask.op("&")(Syndrome(syndrome).bit) != 0)
    stmt = select(*(visits.c[name] for name in FRAME_COLUMNS)).where(*conditions)
    with engine.connect() as conn:
        if visit_pks is None:
            rows = conn.execute(stmt.order_by(visits.c.id)).all()
        else:
            rows = []
            for batch in batched(sorted(set(visit_pks))):
                rows += conn.execute(stmt.where(visits.c.id.in_(batch)).order_by(visits.c.id)).all()
    return _decode_visits(object_frame(rows, list(FRAME_COLUMNS)))


def _decode_visits(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"id": "int64", "syndrome_mask": "int64"}).astype(
        {c: "float64" for c in ("age", "residence_lat", "residence_lon", "temperature_c")}
    )
    for name in _LIST_COLUMNS:
        frame[name] = [from_json_list(v) for v in frame[name]]
    for name in ("visit_date", "onset_date"):
        frame[name] = pd.Series(
            [dt.date.fromisoformat(v) if v else None for v in frame[name]],
            index=frame.index,
            dtype=object,
        )
    frame["syndromes"] = [syndromes_of(int(m)) for m in frame["syndrome_mask"]]
    return frame


def exposures_frame(engine: Engine, visit_pks: Iterable[int]) -> pd.DataFrame:
    """Reported exposures of the given visits: ``visit_pk, place_id, exposure_date`` (date or None)."""
    rows: list[Any] = []
    with engine.connect() as conn:
        for batch in batched(sorted({int(pk) for pk in visit_pks})):
            stmt = (
                select(
                    visit_exposures.c.visit_pk,
                    visit_exposures.c.place_id,
                    visit_exposures.c.exposure_date,
                )
                .where(visit_exposures.c.visit_pk.in_(batch))
                .order_by(visit_exposures.c.visit_pk, visit_exposures.c.place_id)
            )
            rows += conn.execute(stmt).all()
    frame = object_frame(rows, ["visit_pk", "place_id", "exposure_date"])
    frame["visit_pk"] = frame["visit_pk"].astype("int64")
    frame["exposure_date"] = pd.Series(
        [dt.date.fromisoformat(v) if v else None for v in frame["exposure_date"]],
        index=frame.index,
        dtype=object,
    )
    return frame
