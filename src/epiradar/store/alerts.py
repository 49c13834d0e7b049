"""Alerts and the signals merged into them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from epiradar.model import Alert, AlertStatus, Signal, Syndrome
from epiradar.store._sql import batched, iso_date, now_iso
from epiradar.store.schema import alerts, signals


def replace_alerts(
    engine: Engine,
    new_alerts: Sequence[Alert],
    new_signals: Sequence[tuple[str, Signal]],
    start: dt.date | str,
    end: dt.date | str,
) -> None:
    """Replace the alerts first alarming in ``[start, end]`` (and any with the same ids) and
    their signals, in one transaction.

    ``new_signals`` pairs each signal with the id of its alert. A re-detected alert keeps the
    status a user gave it when the new alert is still ``new``, and the time it was first
    stored (``created_at``: when it was detected, which the workflow's timers count from).
    An alert of the period that this run no longer finds is dropped only while it is ``new``:
    one a person has taken up (verifying, investigating, closed ...) stays with its signals.
    """
    ids = [a.id for a in new_alerts]
    with engine.begin() as conn:
        old_status: dict[str, str] = {}
        old_created: dict[str, str] = {}
        for batch in batched(ids):
            for alert_id, status, created_at in conn.execute(
                select(alerts.c.id, alerts.c.status, alerts.c.created_at).where(
                    alerts.c.id.in_(batch)
                )
            ).all():
                old_status[alert_id] = status
                old_created[alert_id] = created_at
        in_period = alerts.c.first_alarm_date.between(iso_date(start), iso_date(end))
        # an alert a person has taken up stays even when this run no longer finds it
        untouched = alerts.c.status == str(AlertStatus.NEW)
        stale = [r for (r,) in conn.execute(select(alerts.c.id).where(in_period, untouched)).all()]
        for batch in batched(sorted(set(stale) | set(ids))):
            conn.execute(delete(signals).where(signals.c.alert_id.in_(batch)))
            conn.execute(delete(alerts).where(alerts.c.id.in_(batch)))
        created = now_iso()
        if new_alerts:
            conn.execute(
                insert(alerts),
                [
                    _alert_row(a, old_status.get(a.id), old_created.get(a.id, created))
                    for a in new_alerts
                ],
            )
        if new_signals:
            conn.execute(insert(signals), [_signal_row(alert_id, s) for alert_id, s in new_signals])


def set_alert_status(engine: Engine, alert_id: str, status: AlertStatus | str) -> bool:
    """Set an alert's status; ``False`` when there is no such alert."""
    with engine.begin() as conn:
        result = conn.execute(
            update(alerts).where(alerts.c.id == alert_id).values(status=str(AlertStatus(status)))
        )
    return result.rowcount == 1


def list_alerts(
    engine: Engine,
    *,
    status: AlertStatus | str | None = None,
    syndrome: Syndrome | str | None = None,
    limit: int | None = None,
    first_alarm_from: dt.date | None = None,
    first_alarm_to: dt.date | None = None,
) -> list[Alert]:
    """Alerts, latest first alarm first (then most significant), optionally only those first
    alarming in ``[first_alarm_from, first_alarm_to]``."""
    stmt = select(alerts).order_by(alerts.c.first_alarm_date.desc(), alerts.c.p_value, alerts.c.id)
    if first_alarm_from is not None:
        stmt = stmt.where(alerts.c.first_alarm_date >= iso_date(first_alarm_from))
    if first_alarm_to is not None:
        stmt = stmt.where(alerts.c.first_alarm_date <= iso_date(first_alarm_to))
    if status is not None:
        stmt = stmt.where(alerts.c.status == str(AlertStatus(status)))
    if syndrome is not None:
        stmt = stmt.where(alerts.c.syndrome == str(Syndrome(syndrome)))
    with engine.connect() as conn:
        result = conn.execute(stmt.limit(limit))
        keys = list(result.keys())
        rows = [dict(zip(keys, r, strict=True)) for r in result.all()]  # faster than mappings
    return [_alert_of(row) for row in rows]


def get_alert(engine: Engine, alert_id: str) -> Alert | None:
    with engine.connect() as conn:
        row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).mappings().first()
    return _alert_of(row) if row else None


def alert_signals(engine: Engine, alert_id: str) -> list[Signal]:
    stmt = (
        select(signals)
        .where(signals.c.alert_id == alert_id)
        .order_by(signals.c.date, signals.c.region_id, signals.c.detector, signals.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [_signal_of(row) for row in rows]


def _alert_row(alert: Alert, old_status: str | None, created: str) -> dict[str, Any]:
    row = alert.model_dump(mode="json")
    row["region_ids"] = json.dumps(alert.region_ids)
    row["cluster_region_ids"] = (
        json.dumps(alert.cluster_region_ids) if alert.cluster_region_ids else None
    )
    if old_status is not None and alert.status == AlertStatus.NEW:
        row["status"] = old_status
    row["created_at"] = created
    return row


def _signal_row(alert_id: str, signal: Signal) -> dict[str, Any]:
    row = signal.model_dump(mode="json") | {"alert_id": alert_id}
    row["region_ids"] = None if signal.region_ids is None else json.dumps(signal.region_ids)
    return row


def _signal_of(row: Mapping[str, Any]) -> Signal:
    data = {k: v for k, v in row.items() if k not in ("id", "alert_id")}
    if data.get("region_ids") is not None:
        data["region_ids"] = json.loads(data["region_ids"])
    return Signal(**data)


def _alert_of(row: Mapping[str, Any]) -> Alert:
    data = {k: v for k, v in row.items() if k != "created_at"}
    data["region_ids"] = json.loads(data["region_ids"])
    clusters = data.pop("cluster_region_ids", None)
    data["cluster_region_ids"] = json.loads(clusters) if clusters else []
    return Alert(**data)
