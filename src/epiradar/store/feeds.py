"""Feed quality: what each facility sent and when, and the alerts about silent feeds."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, func, insert, select, update

from epiradar.store._sql import now_iso, object_frame
from epiradar.store.schema import feed_alerts, inbound_messages, quarantine, visits

KEY_FIELDS: tuple[str, ...] = (
    "patient_key",
    "age",
    "sex",
    "residence_region",
    "chief_complaint",
    "temperature_c",
    "diagnosis_codes",
    "onset_date",
)
"""The fields whose completeness the feed-quality view reports."""


def feed_arrivals(engine: Engine, start: str, end: str) -> pd.DataFrame:
    """Visits that first arrived in ``[start, end]`` (ISO times): ``facility_id``,
    ``visit_time``, ``received_at`` and the :data:`KEY_FIELDS` (``diagnosis_codes`` as JSON)."""
    names = ["facility_id", "visit_time", "received_at", *KEY_FIELDS]
    stmt = select(*(visits.c[n] for n in names)).where(
        visits.c.received_at >= start, visits.c.received_at <= end
    )
    with engine.connect() as conn:
        return object_frame(conn.execute(stmt).all(), names)


def feed_activity(engine: Engine, start: str, end: str) -> pd.DataFrame:
    """Per facility and day of arrival in ``[start, end]``: ``visits`` (new visits), ``messages``
    (applied messages, updates included) and ``rejected`` (quarantined records)."""
    day = func.substr(visits.c.received_at, 1, 10)
    q_visits = (
        select(visits.c.facility_id, day, func.count())
        .where(visits.c.received_at >= start, visits.c.received_at <= end)
        .group_by(visits.c.facility_id, day)
    )
    m_day = func.substr(inbound_messages.c.received_at, 1, 10)
    q_messages = (
        select(inbound_messages.c.facility_id, m_day, func.count())
        .where(inbound_messages.c.received_at >= start, inbound_messages.c.received_at <= end)
        .group_by(inbound_messages.c.facility_id, m_day)
    )
    r_day = func.substr(quarantine.c.received_at, 1, 10)
    q_rejected = (
        select(quarantine.c.facility_id, r_day, func.count())
        .where(
            quarantine.c.received_at >= start,
            quarantine.c.received_at <= end,
            quarantine.c.facility_id.is_not(None),
        )
        .group_by(quarantine.c.facility_id, r_day)
    )
    frames = []
    with engine.connect() as conn:
        for name, stmt in (
            ("visits", q_visits),
            ("messages", q_messages),
            ("rejected", q_rejected),
        ):
            frame = object_frame(conn.execute(stmt).all(), ["facility_id", "date", name])
            frames.append(frame.set_index(["facility_id", "date"]))
    out = pd.concat(frames, axis=1).fillna(0).astype("int64").reset_index()
    return out.sort_values(["facility_id", "date"], ignore_index=True)


def feed_completeness(engine: Engine, start: str, end: str) -> pd.DataFrame:
    """Per facility, of the visits that arrived in ``[start, end]``: ``visits``, the share of
    each :data:`KEY_FIELDS` known, and the arrival delay (hours from visit to arrival:
    ``delay_p50_h``, ``delay_p90_h``)."""
    frame = feed_arrivals(engine, start, end)
    columns = ["facility_id", "visits", *KEY_FIELDS, "delay_p50_h", "delay_p90_h"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    known = pd.DataFrame({"facility_id": frame["facility_id"]})
    for name in KEY_FIELDS:
        values = frame[name]
        known[name] = values.notna() & ~values.isin(["", "[]"])
    delay = (
        pd.to_datetime(frame["received_at"], errors="coerce")
        - pd.to_datetime(frame["visit_time"], errors="coerce")
    ).dt.total_seconds() / 3600.0
    known["delay"] = delay
    grouped = known.groupby("facility_id")
    out = grouped[list(KEY_FIELDS)].mean()
    out.insert(0, "visits", grouped.size())
    out["delay_p50_h"] = grouped["delay"].quantile(0.5)
    out["delay_p90_h"] = grouped["delay"].quantile(0.9)
    return out.reset_index()[columns]


def last_arrivals(engine: Engine) -> dict[str, str]:
    """facility -> the time anything last arrived from it (a visit or a message)."""
    out: dict[str, str] = {}
    with engine.connect() as conn:
        for table in (visits, inbound_messages):
            rows = conn.execute(
                select(table.c.facility_id, func.max(table.c.received_at)).group_by(
                    table.c.facility_id
                )
            ).all()
            for facility, last in rows:
                if last is not None and (facility not in out or last > out[facility]):
                    out[facility] = last
    return out


def hourly_arrivals(engine: Engine, start: str, end: str) -> pd.DataFrame:
    """Visits per facility and hour of arrival in ``[start, end]``: ``facility_id``, ``hour``
    (``YYYY-MM-DDTHH``), ``count``."""
    hour = func.substr(visits.c.received_at, 1, 13)
    stmt = (
        select(visits.c.facility_id, hour, func.count())
        .where(visits.c.received_at >= start, visits.c.received_at <= end)
        .group_by(visits.c.facility_id, hour)
    )
    with engine.connect() as conn:
        frame = object_frame(conn.execute(stmt).all(), ["facility_id", "hour", "count"])
    frame["count"] = frame["count"].astype("int64")
    return frame


def list_feed_alerts(engine: Engine, *, open_only: bool = False) -> list[dict[str, Any]]:
    stmt = select(feed_alerts).order_by(feed_alerts.c.id.desc())
    if open_only:
        stmt = stmt.where(feed_alerts.c.resolved_at.is_(None))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def raise_feed_alert(engine: Engine, facility_id: str, kind: str, detail: str) -> bool:
    """Open an alert unless one of the same kind is open for the facility; True if new."""
    with engine.begin() as conn:
        open_one = conn.execute(
            select(feed_alerts.c.id).where(
                and_(
                    feed_alerts.c.facility_id == facility_id,
                    feed_alerts.c.kind == kind,
                    feed_alerts.c.resolved_at.is_(None),
                )
            )
        ).first()
        if open_one is not None:
            return False
        conn.execute(
            insert(feed_alerts).values(
                facility_id=facility_id, kind=kind, detail=detail, raised_at=now_iso()
            )
        )
    return True


def resolve_feed_alerts(engine: Engine, facility_id: str, kind: str) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            update(feed_alerts)
            .where(
                feed_alerts.c.facility_id == facility_id,
                feed_alerts.c.kind == kind,
                feed_alerts.c.resolved_at.is_(None),
            )
            .values(resolved_at=now_iso())
        )
    return result.rowcount
