"""The alert workflow's tables: workflow records, the timeline, mutes, investigations,
hypotheses and tasks. Rules live in ``model.workflow`` and ``service.workflow``; this module
only reads and writes, each write in one transaction with its timeline entry."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, or_, select, update

from epiradar.model import AlertStatus
from epiradar.store._sql import batched
from epiradar.store.schema import (
    alert_mutes,
    alert_timeline,
    alert_workflow,
    alerts,
    hypotheses,
    investigation_alerts,
    investigations,
    tasks,
)

RESPONDED_STATES = frozenset({AlertStatus.MONITORING, AlertStatus.DISCARDED, AlertStatus.CLOSED})
_ASSESSMENT = ("verification_note", "likelihood", "impact", "risk", "closure_reason", "outcome")


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    return value.isoformat()


class StaleStateError(LookupError):
    """The alert is not (or no longer) in the state the change started from."""


class WorkflowRepository:
    """Reads and writes of the workflow tables over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- timeline ------------------------------------------------------------------------------
    @staticmethod
    def _log(
        conn: Connection,
        *,
        at: dt.datetime,
        actor: str,
        action: str,
        alert_id: str | None = None,
        investigation_id: int | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        conn.execute(
            insert(alert_timeline).values(
                alert_id=alert_id,
                investigation_id=investigation_id,
                at=_iso(at),
                actor=actor,
                action=action,
                from_state=from_state,
                to_state=to_state,
                fields=json.dumps(dict(fields or {}), ensure_ascii=False, default=str),
            )
        )

    def timeline(self, alert_id: str) -> list[dict[str, Any]]:
        """The alert's entries and those of the investigations it belongs to, oldest first."""
        inv = select(investigation_alerts.c.investigation_id).where(
            investigation_alerts.c.alert_id == alert_id
        )
        stmt = (
            select(alert_timeline)
            .where(
                or_(
                    alert_timeline.c.alert_id == alert_id,
                    alert_timeline.c.investigation_id.in_(inv),
                )
            )
            .order_by(alert_timeline.c.id)
        )
        with self.engine.connect() as conn:
            return [_timeline_row(r) for r in conn.execute(stmt).mappings()]

    def investigation_timeline(self, investigation_id: int) -> list[dict[str, Any]]:
        stmt = (
            select(alert_timeline)
            .where(alert_timeline.c.investigation_id == investigation_id)
            .order_by(alert_timeline.c.id)
        )
        with self.engine.connect() as conn:
            return [_timeline_row(r) for r in conn.execute(stmt).mappings()]

    # -- alert state ---------------------------------------------------------------------------
    def detected_at(self, alert_ids: Iterable[str] | None = None) -> dict[str, str]:
        return detected_at(self.engine, alert_ids)

    def record(self, alert_id: str) -> dict[str, Any] | None:
        """The alert's workflow record (``None`` before its first action)."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(alert_workflow).where(alert_workflow.c.alert_id == alert_id))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def records(self, alert_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Workflow records by alert id (every one when ``alert_ids`` is None)."""
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            if alert_ids is None:
                rows = conn.execute(select(alert_workflow)).mappings().all()
                return {r["alert_id"]: dict(r) for r in rows}
            for batch in batched(alert_ids):
                stmt = select(alert_workflow).where(alert_workflow.c.alert_id.in_(batch))
                out |= {r["alert_id"]: dict(r) for r in conn.execute(stmt).mappings()}
        return out

    @staticmethod
    def _upsert_record(conn: Connection, alert_id: str, values: dict[str, Any]) -> dict[str, Any]:
        found = (
            conn.execute(select(alert_workflow).where(alert_workflow.c.alert_id == alert_id))
            .mappings()
            .first()
        )
        if found is None:
            conn.execute(insert(alert_workflow).values(alert_id=alert_id, **values))
            return values
        conn.execute(
            update(alert_workflow).where(alert_workflow.c.alert_id == alert_id).values(**values)
        )
        return dict(found) | values

    def transition(
        self,
        alert_id: str,
        from_state: AlertStatus,
        to_state: AlertStatus,
        fields: Mapping[str, Any],
        *,
        actor: str,
        at: dt.datetime,
        investigation_id: int | None = None,
        investigation_title: str | None = None,
    ) -> int | None:
        """Move the alert from ``from_state`` to ``to_state`` with ``fields`` (assessment and
        closure values), record it, and on ``investigating`` join ``investigation_id`` or open a
        new investigation titled ``investigation_title``. Returns the investigation id (if any).
        Raises ``StaleStateError`` when the alert is not in ``from_state``, ``LookupError`` for
        an unknown investigation."""
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.status == str(from_state))
                .values(status=str(to_state))
            )
            if moved.rowcount != 1:
                raise StaleStateError(alert_id)
            old = (
                conn.execute(select(alert_workflow).where(alert_workflow.c.alert_id == alert_id))
                .mappings()
                .first()
            )
            values: dict[str, Any] = {"state_since": _iso(at)}
            values |= {k: fields[k] for k in _ASSESSMENT if k in fields}
            if from_state == AlertStatus.NEW and not (old and old["notified_at"]):
                values["notified_at"] = _iso(at)
            if to_state in RESPONDED_STATES and not (old and old["responded_at"]):
                values["responded_at"] = _iso(at)
            self._upsert_record(conn, alert_id, values)
            self._log(
                conn,
                at=at,
                actor=actor,
                action="transition",
                alert_id=alert_id,
                from_state=str(from_state),
                to_state=str(to_state),
                fields=fields,
            )
            if to_state != AlertStatus.INVESTIGATING:
                return None
            if investigation_id is None:
                investigation_id = self._create_investigation(
                    conn, investigation_title or f"Alert {alert_id}", None, actor, at
                )
            self._link(conn, investigation_id, alert_id, actor, at)
            return investigation_id

    def set_snooze(
        self,
        alert_id: str,
        until: dt.datetime | None,
        *,
        actor: str,
        at: dt.datetime,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        """Snooze the alert until ``until`` (``None``: wake it)."""
        with self.engine.begin() as conn:
            self._upsert_record(conn, alert_id, {"snoozed_until": _iso(until)})
            self._log(
                conn,
                at=at,
                actor=actor,
                action="snooze" if until is not None else "wake",
                alert_id=alert_id,
                fields=dict(fields or {}) | ({"until": _iso(until)} if until else {}),
            )

    # -- mutes ---------------------------------------------------------------------------------
    def add_mute(
        self,
        *,
        syndrome: str,
        region_ids: list[str],
        until: dt.datetime,
        reason: str,
        alert_id: str | None,
        actor: str,
        at: dt.datetime,
    ) -> int:
        with self.engine.begin() as conn:
            mute_id = conn.execute(
                insert(alert_mutes)
                .values(
                    syndrome=syndrome,
                    region_ids=json.dumps(region_ids),
                    until=_iso(until),
                    reason=reason,
                    alert_id=alert_id,
                    actor=actor,
                    created_at=_iso(at),
                )
                .returning(alert_mutes.c.id)
            ).scalar_one()
            self._log(
                conn,
                at=at,
                actor=actor,
                action="mute",
                alert_id=alert_id,
                fields={
                    "mute_id": mute_id,
                    "syndrome": syndrome,
                    "region_ids": region_ids,
                    "until": _iso(until),
                    "reason": reason,
                },
            )
        return int(mute_id)

    def mutes(self, *, active_at: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Mutes, newest first; with ``active_at`` only those not lifted and not yet expired."""
        stmt = select(alert_mutes).order_by(alert_mutes.c.id.desc())
        if active_at is not None:
            stmt = stmt.where(
                alert_mutes.c.lifted_at.is_(None), alert_mutes.c.until > _iso(active_at)
            )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [dict(r) | {"region_ids": json.loads(r["region_ids"])} for r in rows]

    def lift_mute(self, mute_id: int, *, actor: str, at: dt.datetime) -> bool:
        with self.engine.begin() as conn:
            row = (
                conn.execute(select(alert_mutes).where(alert_mutes.c.id == mute_id))
                .mappings()
                .first()
            )
            if row is None:
                return False
            conn.execute(
                update(alert_mutes).where(alert_mutes.c.id == mute_id).values(lifted_at=_iso(at))
            )
            self._log(
                conn,
                at=at,
                actor=actor,
                action="unmute",
                alert_id=row["alert_id"],
                fields={"mute_id": mute_id},
            )
        return True

    # -- investigations ------------------------------------------------------------------------
    def _create_investigation(
        self,
        conn: Connection,
        title: str,
        line_list_ref: str | None,
        actor: str,
        at: dt.datetime,
    ) -> int:
        inv_id = conn.execute(
            insert(investigations)
            .values(
                title=title,
                status="open",
                line_list_ref=line_list_ref,
                created_at=_iso(at),
                actor=actor,
            )
            .returning(investigations.c.id)
        ).scalar_one()
        self._log(
            conn,
            at=at,
            actor=actor,
            action="investigation opened",
            investigation_id=inv_id,
            fields={"title": title} | ({"line_list_ref": line_list_ref} if line_list_ref else {}),
        )
        return int(inv_id)

    def _link(
        self, conn: Connection, investigation_id: int, alert_id: str, actor: str, at: dt.datetime
    ) -> None:
        if self._investigation_row(conn, investigation_id) is None:
            raise LookupError(f"no investigation {investigation_id}")
        linked = conn.execute(
            select(investigation_alerts.c.alert_id).where(
                investigation_alerts.c.investigation_id == investigation_id,
                investigation_alerts.c.alert_id == alert_id,
            )
        ).first()
        if linked:
            return
        conn.execute(
            insert(investigation_alerts).values(
                investigation_id=investigation_id, alert_id=alert_id
            )
        )
        self._log(
            conn,
            at=at,
            actor=actor,
            action="alert linked",
            alert_id=alert_id,
            investigation_id=investigation_id,
            fields={"alert_id": alert_id},
        )

    @staticmethod
    def _investigation_row(conn: Connection, investigation_id: int) -> dict[str, Any] | None:
        row = (
            conn.execute(select(investigations).where(investigations.c.id == investigation_id))
            .mappings()
            .first()
        )
        return dict(row) if row else None

    def create_investigation(
        self,
        title: str,
        *,
        actor: str,
        at: dt.datetime,
        alert_ids: Iterable[str] = (),
        line_list_ref: str | None = None,
    ) -> int:
        with self.engine.begin() as conn:
            inv_id = self._create_investigation(conn, title, line_list_ref, actor, at)
            for alert_id in alert_ids:
                self._link(conn, inv_id, alert_id, actor, at)
        return inv_id

    def link_alert(
        self, investigation_id: int, alert_id: str, *, actor: str, at: dt.datetime
    ) -> None:
        """Group the alert into the investigation (raises ``LookupError`` when it is unknown)."""
        with self.engine.begin() as conn:
            self._link(conn, investigation_id, alert_id, actor, at)

    def update_investigation(
        self, investigation_id: int, values: Mapping[str, Any], *, actor: str, at: dt.datetime
    ) -> bool:
        with self.engine.begin() as conn:
            if self._investigation_row(conn, investigation_id) is None:
                return False
            if values:
                conn.execute(
                    update(investigations)
                    .where(investigations.c.id == investigation_id)
                    .values(**values)
                )
                self._log(
                    conn,
                    at=at,
                    actor=actor,
                    action="investigation updated",
                    investigation_id=investigation_id,
                    fields=values,
                )
        return True

    def investigation(self, investigation_id: int) -> dict[str, Any] | None:
        """The investigation with its ``alert_ids``, ``hypotheses`` and ``tasks``."""
        with self.engine.connect() as conn:
            row = self._investigation_row(conn, investigation_id)
            if row is None:
                return None
            row["alert_ids"] = [
                a
                for (a,) in conn.execute(
                    select(investigation_alerts.c.alert_id)
                    .where(investigation_alerts.c.investigation_id == investigation_id)
                    .order_by(investigation_alerts.c.alert_id)
                )
            ]
            row["hypotheses"] = [
                _hypothesis_row(h)
                for h in conn.execute(
                    select(hypotheses)
                    .where(hypotheses.c.investigation_id == investigation_id)
                    .order_by(hypotheses.c.id)
                ).mappings()
            ]
            row["tasks"] = [
                _task_row(t)
                for t in conn.execute(
                    select(tasks)
                    .where(tasks.c.investigation_id == investigation_id)
                    .order_by(tasks.c.id)
                ).mappings()
            ]
        return row

    def investigations(
        self, *, status: str | None = None, alert_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Investigations (newest first), each with its ``alert_ids``."""
        stmt = select(investigations).order_by(investigations.c.id.desc())
        if status is not None:
            stmt = stmt.where(investigations.c.status == status)
        if alert_id is not None:
            stmt = stmt.where(
                investigations.c.id.in_(
                    select(investigation_alerts.c.investigation_id).where(
                        investigation_alerts.c.alert_id == alert_id
                    )
                )
            )
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(stmt).mappings()]
            links: dict[int, list[str]] = {}
            ids = [r["id"] for r in rows]
            for batch in batched(ids):
                for inv, alert in conn.execute(
                    select(investigation_alerts.c.investigation_id, investigation_alerts.c.alert_id)
                    .where(investigation_alerts.c.investigation_id.in_(batch))
                    .order_by(investigation_alerts.c.alert_id)
                ):
                    links.setdefault(inv, []).append(alert)
        for r in rows:
            r["alert_ids"] = links.get(r["id"], [])
        return rows

    # -- hypotheses ----------------------------------------------------------------------------
    def add_hypothesis(
        self, investigation_id: int, values: Mapping[str, Any], *, actor: str, at: dt.datetime
    ) -> int:
        with self.engine.begin() as conn:
            if self._investigation_row(conn, investigation_id) is None:
                raise LookupError(f"no investigation {investigation_id}")
            row = dict(values)
            row["evidence"] = json.dumps(row.get("evidence") or {}, ensure_ascii=False, default=str)
            hyp_id = conn.execute(
                insert(hypotheses)
                .values(investigation_id=investigation_id, created_at=_iso(at), actor=actor, **row)
                .returning(hypotheses.c.id)
            ).scalar_one()
            self._log(
                conn,
                at=at,
                actor=actor,
                action="hypothesis added",
                investigation_id=investigation_id,
                fields={"hypothesis_id": hyp_id, "kind": row["kind"], "subject": row["subject"]},
            )
        return int(hyp_id)

    def update_hypothesis(
        self, hypothesis_id: int, values: Mapping[str, Any], *, actor: str, at: dt.datetime
    ) -> dict[str, Any] | None:
        with self.engine.begin() as conn:
            row = (
                conn.execute(select(hypotheses).where(hypotheses.c.id == hypothesis_id))
                .mappings()
                .first()
            )
            if row is None:
                return None
            stored = dict(values)
            if "evidence" in stored:
                stored["evidence"] = json.dumps(stored["evidence"] or {}, default=str)
            conn.execute(
                update(hypotheses).where(hypotheses.c.id == hypothesis_id).values(**stored)
            )
            self._log(
                conn,
                at=at,
                actor=actor,
                action="hypothesis updated",
                investigation_id=row["investigation_id"],
                fields={"hypothesis_id": hypothesis_id} | dict(values),
            )
            new = (
                conn.execute(select(hypotheses).where(hypotheses.c.id == hypothesis_id))
                .mappings()
                .one()
            )
        return _hypothesis_row(new)

    # -- tasks ---------------------------------------------------------------------------------
    def add_task(
        self, investigation_id: int, values: Mapping[str, Any], *, actor: str, at: dt.datetime
    ) -> int:
        with self.engine.begin() as conn:
            if self._investigation_row(conn, investigation_id) is None:
                raise LookupError(f"no investigation {investigation_id}")
            row = _task_values(values, new=True)
            task_id = conn.execute(
                insert(tasks)
                .values(
                    investigation_id=investigation_id,
                    status="open",
                    created_at=_iso(at),
                    **row,
                )
                .returning(tasks.c.id)
            ).scalar_one()
            self._log(
                conn,
                at=at,
                actor=actor,
                action="task added",
                investigation_id=investigation_id,
                fields={"task_id": task_id} | dict(values),
            )
        return int(task_id)

    def task(self, task_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(tasks).where(tasks.c.id == task_id)).mappings().first()
        return _task_row(row) if row else None

    def update_task(
        self, task_id: int, values: Mapping[str, Any], *, actor: str, at: dt.datetime
    ) -> dict[str, Any] | None:
        with self.engine.begin() as conn:
            row = conn.execute(select(tasks).where(tasks.c.id == task_id)).mappings().first()
            if row is None:
                return None
            stored = _task_values(values)
            if values.get("status") == "done" and row["status"] != "done":
                stored["done_at"] = _iso(at)
            elif values.get("status") == "open":
                stored["done_at"] = None
            conn.execute(update(tasks).where(tasks.c.id == task_id).values(**stored))
            self._log(
                conn,
                at=at,
                actor=actor,
                action="task updated",
                investigation_id=row["investigation_id"],
                fields={"task_id": task_id} | dict(values),
            )
            new = conn.execute(select(tasks).where(tasks.c.id == task_id)).mappings().one()
        return _task_row(new)

    def delete_task(self, task_id: int, *, actor: str, at: dt.datetime) -> bool:
        with self.engine.begin() as conn:
            row = conn.execute(select(tasks).where(tasks.c.id == task_id)).mappings().first()
            if row is None:
                return False
            conn.execute(delete(tasks).where(tasks.c.id == task_id))
            self._log(
                conn,
                at=at,
                actor=actor,
                action="task deleted",
                investigation_id=row["investigation_id"],
                fields={"task_id": task_id, "title": row["title"]},
            )
        return True

    def tasks(
        self, *, status: str | None = None, assignee: str | None = None
    ) -> list[dict[str, Any]]:
        """Tasks, earliest due first (undated last)."""
        stmt = select(tasks).order_by(tasks.c.due_date.is_(None), tasks.c.due_date, tasks.c.id)
        if status is not None:
            stmt = stmt.where(tasks.c.status == status)
        if assignee is not None:
            stmt = stmt.where(tasks.c.assignee == assignee)
        with self.engine.connect() as conn:
            return [_task_row(r) for r in conn.execute(stmt).mappings()]


def _task_values(values: Mapping[str, Any], *, new: bool = False) -> dict[str, Any]:
    row = dict(values)
    if "checklist" in row or new:
        row["checklist"] = json.dumps(
            [dict(item) for item in row.get("checklist") or []], ensure_ascii=False, default=str
        )
    if row.get("due_date") is not None:
        row["due_date"] = _iso(row["due_date"])
    return row


def _task_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["checklist"] = json.loads(out["checklist"] or "[]")
    return out


def _hypothesis_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["evidence"] = json.loads(out["evidence"] or "{}")
    return out


def _timeline_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["fields"] = json.loads(out["fields"] or "{}")
    return out


def detected_at(engine: Engine, alert_ids: Iterable[str] | None = None) -> dict[str, str]:
    """When each alert was first stored (``alerts.created_at``, kept across detection runs)."""
    out: dict[str, str] = {}
    with engine.connect() as conn:
        if alert_ids is None:
            return dict(conn.execute(select(alerts.c.id, alerts.c.created_at)).all())
        for batch in batched(alert_ids):
            out |= dict(
                conn.execute(
                    select(alerts.c.id, alerts.c.created_at).where(alerts.c.id.in_(batch))
                ).all()
            )
    return out
