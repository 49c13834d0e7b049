"""Facility capacity reports (migration 0012): one row per report, the latest per facility."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, func, insert, select

from epiradar.store._sql import now_iso
from epiradar.store.schema import capacity_reports

REPORT_FIELDS: tuple[str, ...] = (
    "fever_clinic_rooms",
    "beds_total",
    "beds_free",
    "icu_total",
    "icu_free",
    "staff_on_duty",
    "test_kits",
)
"""The counted resources of a report, in display order."""
COLUMNS: tuple[str, ...] = (
    "id",
    "facility_id",
    "reported_at",
    "received_at",
    *REPORT_FIELDS,
    "reported_by",
    "source",
)


class CapacityStore:
    """The capacity reports of one database (``CapacityStore(store.engine)``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_report(self, report: Mapping[str, Any]) -> dict[str, Any]:
        """Store a validated report (``facility_id``, ``reported_at``, the counts of
        :data:`REPORT_FIELDS`, ``reported_by``, ``source``); returns it with ``id`` and
        ``received_at``."""
        row = {c: report.get(c) for c in COLUMNS if c not in ("id", "received_at")}
        row["received_at"] = report.get("received_at") or now_iso()
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(capacity_reports).values(**row)).inserted_primary_key[0]
        return {"id": int(new_id), **row}

    def latest(self, facility_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """The latest report of each facility (by ``reported_at``, then arrival), by id."""
        rank = (
            func.row_number()
            .over(
                partition_by=capacity_reports.c.facility_id,
                order_by=(capacity_reports.c.reported_at.desc(), capacity_reports.c.id.desc()),
            )
            .label("rank")
        )
        inner = select(*(capacity_reports.c[c] for c in COLUMNS), rank)
        if facility_ids is not None:
            inner = inner.where(capacity_reports.c.facility_id.in_(facility_ids))
        sub = inner.subquery()
        stmt = select(*(sub.c[c] for c in COLUMNS)).where(sub.c.rank == 1)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return {r["facility_id"]: dict(r) for r in rows}

    def reports(self, facility_id: str | None = None, *, limit: int = 100) -> list[dict[str, Any]]:
        """Reports, newest first (of one facility when given)."""
        stmt = select(*(capacity_reports.c[c] for c in COLUMNS)).order_by(
            capacity_reports.c.reported_at.desc(), capacity_reports.c.id.desc()
        )
        if facility_id is not None:
            stmt = stmt.where(capacity_reports.c.facility_id == facility_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt.limit(limit)).mappings().all()]
