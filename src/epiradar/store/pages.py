"""Reads behind the work pages, light and paged: open alerts with their workflow records as
plain rows, recent alerts for novelty, tasks by page, and the contacts of an investigation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, case, func, insert, select, update

from epiradar.model import Alert
from epiradar.store.alerts import _alert_of
from epiradar.store.schema import (
    alert_workflow,
    alerts,
    investigation_contacts,
    investigations,
    tasks,
)
from epiradar.store.workflow import _task_row

_QUEUE_COLUMNS = (
    alerts.c.id,
    alerts.c.syndrome,
    alerts.c.region_ids,
    alerts.c.start_date,
    alerts.c.end_date,
    alerts.c.first_alarm_date,
    alerts.c.observed,
    alerts.c.expected,
    alerts.c.p_value,
    alerts.c.severity,
    alerts.c.status,
    alerts.c.recurrence_interval,
    alerts.c.created_at,
    alert_workflow.c.state_since,
    alert_workflow.c.notified_at,
    alert_workflow.c.responded_at,
    alert_workflow.c.risk,
    alert_workflow.c.snoozed_until,
)


class PagesRepository:
    """Reads of the work pages and the contacts table over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def alert_rows(self, statuses: Iterable[str]) -> list[dict[str, Any]]:
        """Alerts in ``statuses`` with their workflow columns, as plain dicts (no models)."""
        stmt = (
            select(*_QUEUE_COLUMNS)
            .select_from(alerts.outerjoin(alert_workflow, alert_workflow.c.alert_id == alerts.c.id))
            .where(alerts.c.status.in_(sorted(set(statuses))))
        )
        with self.engine.connect() as conn:
            result = conn.execute(stmt)
            keys = list(result.keys())
            return [dict(zip(keys, r, strict=True)) for r in result.all()]

    def timed_alert_rows(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """Alerts first alarming in ``[start, end]`` with their workflow columns, as plain dicts,
        in the alert list's order (latest first alarm first, then most significant)."""
        stmt = (
            select(*_QUEUE_COLUMNS)
            .select_from(alerts.outerjoin(alert_workflow, alert_workflow.c.alert_id == alerts.c.id))
            .where(alerts.c.first_alarm_date.between(start.isoformat(), end.isoformat()))
            .order_by(alerts.c.first_alarm_date.desc(), alerts.c.p_value, alerts.c.id)
        )
        with self.engine.connect() as conn:
            result = conn.execute(stmt)
            keys = list(result.keys())
            return [dict(zip(keys, r, strict=True)) for r in result.all()]

    def alert_index(
        self,
        *,
        syndrome: str | None,
        status: str | None,
        severity: str | None,
        sort: str,
        descending: bool,
    ) -> list[tuple[str, str]]:
        """``(id, region_ids JSON)`` of the alerts matching every filter, in list order:
        ``sort`` (a column, or ``severity``: high first then most significant), ties by id."""
        where = []
        for column, value in (("syndrome", syndrome), ("status", status), ("severity", severity)):
            if value is not None:
                where.append(alerts.c[column] == value)
        if sort == "severity":
            rank = case(
                (alerts.c.severity == "high", 3), (alerts.c.severity == "medium", 2), else_=1
            )
            order = (
                [rank.desc(), alerts.c.p_value] if descending else [rank, alerts.c.p_value.desc()]
            )
        elif sort == "p_value":  # most significant first when descending
            order = [alerts.c.p_value if descending else alerts.c.p_value.desc()]
        else:
            order = [alerts.c[sort].desc() if descending else alerts.c[sort]]
        stmt = select(alerts.c.id, alerts.c.region_ids).where(*where).order_by(*order, alerts.c.id)
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(stmt).all()]  # type: ignore[misc]

    def alerts_by_id(self, ids: list[str]) -> list[Alert]:
        """The alerts with these ids (any order)."""
        if not ids:
            return []
        with self.engine.connect() as conn:
            result = conn.execute(select(alerts).where(alerts.c.id.in_(ids)))
            keys = list(result.keys())
            return [_alert_of(dict(zip(keys, r, strict=True))) for r in result.all()]

    def alert_keys_since(self, since: dt.date) -> list[tuple[str, str, str, str]]:
        """``(id, syndrome, region_ids JSON, first_alarm_date)`` of alerts first alarming on or
        after ``since`` (any status): the history novelty is judged against."""
        stmt = select(
            alerts.c.id, alerts.c.syndrome, alerts.c.region_ids, alerts.c.first_alarm_date
        ).where(alerts.c.first_alarm_date >= since.isoformat())
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(stmt).all()]  # type: ignore[misc]

    def task_page(
        self, *, status: str | None, assignee: str | None, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of tasks (earliest due first, undated last) and how many match."""
        where = []
        if status is not None:
            where.append(tasks.c.status == status)
        if assignee is not None:
            where.append(tasks.c.assignee == assignee)
        stmt = (
            select(tasks, investigations.c.title.label("investigation_title"))
            .select_from(
                tasks.join(investigations, investigations.c.id == tasks.c.investigation_id)
            )
            .where(*where)
            .order_by(tasks.c.due_date.is_(None), tasks.c.due_date, tasks.c.id)
            .offset(offset)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = [_task_row(r) for r in conn.execute(stmt).mappings()]
            total = conn.execute(select(func.count()).select_from(tasks).where(*where)).scalar_one()
        return rows, int(total)

    def investigation_page(
        self, *, status: str | None, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of investigations, newest first, with their open task counts."""
        where = [] if status is None else [investigations.c.status == status]
        open_tasks = (
            select(func.count())
            .where(tasks.c.investigation_id == investigations.c.id, tasks.c.status == "open")
            .scalar_subquery()
        )
        stmt = (
            select(investigations, open_tasks.label("open_tasks"))
            .where(*where)
            .order_by(investigations.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        count = select(func.count()).select_from(investigations).where(*where)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(stmt).mappings()]
            total = conn.execute(count).scalar_one()
        return rows, int(total)

    # -- contacts ------------------------------------------------------------------------------
    def add_contact(self, investigation_id: int, values: dict[str, Any]) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(investigation_contacts).values(investigation_id=investigation_id, **values)
            )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def contact(self, contact_id: int) -> dict[str, Any] | None:
        stmt = select(investigation_contacts).where(investigation_contacts.c.id == contact_id)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return dict(row) if row else None

    def update_contact(self, contact_id: int, values: dict[str, Any]) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                update(investigation_contacts)
                .where(investigation_contacts.c.id == contact_id)
                .values(**values)
            )
        return result.rowcount == 1

    def contact_page(
        self, investigation_id: int, *, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int, dict[str, int]]:
        """One page of the investigation's contacts (oldest first), how many it has, and how
        many are in each follow-up status."""
        mine = investigation_contacts.c.investigation_id == investigation_id
        stmt = (
            select(investigation_contacts)
            .where(mine)
            .order_by(investigation_contacts.c.id)
            .offset(offset)
            .limit(limit)
        )
        by_status = (
            select(investigation_contacts.c.follow_up_status, func.count())
            .where(mine)
            .group_by(investigation_contacts.c.follow_up_status)
        )
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(stmt).mappings()]
            counts = {str(s): int(n) for s, n in conn.execute(by_status).all()}
        return rows, sum(counts.values()), counts
