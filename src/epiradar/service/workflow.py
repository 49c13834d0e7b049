"""The alert workflow's use cases: move an alert through its states, snooze and mute, group
alerts into investigations with hypotheses and tasks, time everything against 7-1-7 and the
per-stage limits, and report timeliness per district and period.

Every function takes ``actor`` (who acts, a plain string) and ``now`` (the clock; default the
current local time) so that callers and tests decide both.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections.abc import Iterable, Sequence
from types import SimpleNamespace
from typing import Any, Literal

from pydantic import BaseModel, Field

from epiradar.config import Settings
from epiradar.config_workflow import WorkflowSettings
from epiradar.model import Alert, AlertStatus, Region
from epiradar.model.workflow import (
    FINAL_STATES,
    OPEN_STATES,
    AlertWorkflow,
    ChecklistItem,
    ChecklistKind,
    Hypothesis,
    Investigation,
    Level,
    Mute,
    Task,
    TaskStatus,
    TimelineEntry,
    TransitionRequest,
    WorkflowError,
    legal_targets,
)
from epiradar.service.tracing import UnknownAlertError, get_alert, trace_alert
from epiradar.store import Store
from epiradar.store.workflow import StaleStateError

__all__ = [
    "ConflictError",
    "UnknownAlertError",
    "UnknownItemError",
    "WorkflowError",
]

HYPOTHESIS_KINDS = ("source", "origin", "route", "other")
HYPOTHESIS_STATUSES = ("open", "supported", "rejected")
INVESTIGATION_STATUSES = ("open", "closed")
Period = Literal["week", "month"]
CITY = "city"
"""The district of city-wide alerts in the timeliness report."""


class ConflictError(WorkflowError):
    """The alert changed state while the request was being made."""


class UnknownItemError(LookupError):
    """No investigation, task, hypothesis or mute has this id."""


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now()).replace(microsecond=0)


def _dt(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _actor(actor: str) -> str:
    actor = (actor or "").strip()
    if not actor:
        raise WorkflowError("actor: must not be empty")
    return actor


# ---------------------------------------------------------------------------------------------
# states


def transition(
    store: Store,
    alert_id: str,
    request: TransitionRequest,
    *,
    actor: str,
    now: dt.datetime | None = None,
) -> AlertWorkflow:
    """Move the alert as ``request`` asks. Raises ``UnknownAlertError``, ``WorkflowError``
    (illegal transition or missing fields, named in the message), ``ConflictError``."""
    at = _now(now)
    actor = _actor(actor)
    alert = get_alert(store, alert_id)
    fields = request.check(alert.status)
    if request.investigation_id is not None:
        fields["investigation_id"] = request.investigation_id
    try:
        store.workflow.transition(
            alert_id,
            alert.status,
            request.to,
            fields,
            actor=actor,
            at=at,
            investigation_id=request.investigation_id,
            investigation_title=f"{alert.syndrome} in {', '.join(alert.region_ids) or 'the city'}"
            f" from {alert.start_date}",
        )
    except StaleStateError:
        current = get_alert(store, alert_id).status
        raise ConflictError(
            f"the alert moved from {alert.status} to {current} meanwhile; reload and retry"
        ) from None
    except LookupError as exc:
        raise WorkflowError(f"investigation_id: {exc.args[0]}") from None
    return alert_workflow(store, alert_id)


def alert_workflow(store: Store, alert_id: str) -> AlertWorkflow:
    """The alert's state, assessment, closure, snooze and the states it may move to."""
    alert = get_alert(store, alert_id)
    record = store.workflow.record(alert_id) or {}
    detected = store.workflow.detected_at([alert_id]).get(alert_id)
    return _workflow_of(alert, record, detected)


def _workflow_of(alert: Alert, record: dict[str, Any], detected: str | None) -> AlertWorkflow:
    return AlertWorkflow(
        alert_id=alert.id,
        status=alert.status,
        state_since=_dt(record.get("state_since")) or _dt(detected),
        detected_at=_dt(detected),
        notified_at=_dt(record.get("notified_at")),
        responded_at=_dt(record.get("responded_at")),
        verification_note=record.get("verification_note"),
        likelihood=record.get("likelihood"),
        impact=record.get("impact"),
        risk=record.get("risk"),
        closure_reason=record.get("closure_reason"),
        outcome=record.get("outcome"),
        snoozed_until=_dt(record.get("snoozed_until")),
        legal_targets=legal_targets(alert.status),
    )


class AlertWorkflowView(BaseModel):
    """An alert's workflow at a time: its record, timers and investigations."""

    workflow: AlertWorkflow
    timers: AlertTimers
    overdue: bool
    investigations: list[Investigation]


def alert_workflow_view(
    store: Store,
    alert_id: str,
    settings: WorkflowSettings | None = None,
    *,
    now: dt.datetime | None = None,
) -> AlertWorkflowView:
    """The alert's workflow record, 7-1-7 timers at ``now`` and investigations."""
    settings = settings or WorkflowSettings()
    alert = get_alert(store, alert_id)
    record = store.workflow.record(alert_id) or {}
    flow = _workflow_of(alert, record, store.workflow.detected_at([alert_id]).get(alert_id))
    timers = alert_timers(alert, flow, _now(now), settings)
    return AlertWorkflowView(
        workflow=flow,
        timers=timers,
        overdue=timers.overdue,
        investigations=investigations(store, alert_id=alert_id),
    )


def investigation_timeline(store: Store, investigation_id: int) -> list[TimelineEntry]:
    """Every action on the investigation, oldest first."""
    if store.workflow.investigation(investigation_id) is None:
        raise UnknownItemError(f"no investigation {investigation_id}")
    return [TimelineEntry(**r) for r in store.workflow.investigation_timeline(investigation_id)]


def timeline(store: Store, alert_id: str) -> list[TimelineEntry]:
    """Every action on the alert and on its investigations, oldest first."""
    get_alert(store, alert_id)
    return [TimelineEntry(**row) for row in store.workflow.timeline(alert_id)]


# ---------------------------------------------------------------------------------------------
# snooze and mute


def _check_until(
    until: dt.datetime | dt.date, at: dt.datetime, max_days: float, what: str
) -> dt.datetime:
    if not isinstance(until, dt.datetime):
        until = dt.datetime.combine(until, dt.time())
    if until.tzinfo is not None:  # an explicit offset: in local time, as the clock keeps it
        until = until.astimezone().replace(tzinfo=None)
    until = until.replace(microsecond=0)
    if until <= at:
        raise WorkflowError(f"until: {until.isoformat()} is not in the future")
    if until - at > dt.timedelta(days=max_days):
        raise WorkflowError(
            f"until: a {what} lasts at most {max_days:g} days ([workflow] max_{what}_days)"
        )
    return until


def snooze(
    store: Store,
    alert_id: str,
    until: dt.datetime | dt.date,
    *,
    actor: str,
    reason: str | None = None,
    now: dt.datetime | None = None,
    settings: WorkflowSettings | None = None,
) -> AlertWorkflow:
    """Take an open alert out of the work queue until ``until``."""
    settings = settings or WorkflowSettings()
    at = _now(now)
    actor = _actor(actor)
    alert = get_alert(store, alert_id)
    if alert.status in FINAL_STATES:
        raise WorkflowError(f"the alert is {alert.status}: only open alerts can be snoozed")
    until = _check_until(until, at, settings.max_snooze_days, "snooze")
    fields = {"reason": reason.strip()} if reason and reason.strip() else {}
    store.workflow.set_snooze(alert_id, until, actor=actor, at=at, fields=fields)
    return alert_workflow(store, alert_id)


def wake(
    store: Store, alert_id: str, *, actor: str, now: dt.datetime | None = None
) -> AlertWorkflow:
    """End the alert's snooze now."""
    at = _now(now)
    get_alert(store, alert_id)
    store.workflow.set_snooze(alert_id, None, actor=_actor(actor), at=at)
    return alert_workflow(store, alert_id)


def mute(
    store: Store,
    alert_id: str,
    until: dt.datetime | dt.date,
    reason: str,
    *,
    actor: str,
    now: dt.datetime | None = None,
    settings: WorkflowSettings | None = None,
) -> Mute:
    """Mute the known ongoing event the alert belongs to until ``until``: this alert and every
    alert of its syndrome touching its regions (later detection runs included) leave the work
    queue until then."""
    settings = settings or WorkflowSettings()
    at = _now(now)
    actor = _actor(actor)
    alert = get_alert(store, alert_id)
    if not (reason or "").strip():
        raise WorkflowError("reason: a mute needs a reason (the known event it covers)")
    until = _check_until(until, at, settings.max_mute_days, "mute")
    mute_id = store.workflow.add_mute(
        syndrome=str(alert.syndrome),
        region_ids=list(alert.region_ids),
        until=until,
        reason=reason.strip(),
        alert_id=alert_id,
        actor=actor,
        at=at,
    )
    return next(m for m in mutes(store) if m.id == mute_id)


def mutes(store: Store, *, active_at: dt.datetime | None = None) -> list[Mute]:
    return [Mute(**row) for row in store.workflow.mutes(active_at=active_at)]


def lift_mute(store: Store, mute_id: int, *, actor: str, now: dt.datetime | None = None) -> None:
    if not store.workflow.lift_mute(mute_id, actor=_actor(actor), at=_now(now)):
        raise UnknownItemError(f"no mute {mute_id}")


def _muted_by(alert: Alert, active: Sequence[Mute]) -> Mute | None:
    for m in active:
        if m.syndrome != alert.syndrome:
            continue
        if not m.region_ids or not alert.region_ids or set(m.region_ids) & set(alert.region_ids):
            return m
    return None


# ---------------------------------------------------------------------------------------------
# timers


class AlertTimers(BaseModel):
    """An alert against 7-1-7 and its stage limit at ``now``.

    ``*_overdue``: not done and past due; ``*_met``: done in time (``None`` while not done).
    """

    emerged_on: dt.date
    detected_on: dt.date
    detect_days: int
    detect_met: bool
    detected_at: dt.datetime | None
    notify_due: dt.datetime | None
    notified_at: dt.datetime | None
    notify_hours: float | None
    notify_met: bool | None
    notify_overdue: bool
    respond_due: dt.datetime | None
    responded_at: dt.datetime | None
    respond_days: float | None
    respond_met: bool | None
    respond_overdue: bool
    stage: AlertStatus
    stage_since: dt.datetime | None
    stage_due: dt.datetime | None
    stage_overdue: bool

    @property
    def overdue(self) -> bool:
        return self.notify_overdue or self.respond_overdue or self.stage_overdue


def alert_timers(
    alert: Alert, flow: AlertWorkflow, now: dt.datetime, settings: WorkflowSettings
) -> AlertTimers:
    """The alert's 7-1-7 intervals and stage deadline (docs/workflow.md, "Timers")."""
    open_ = alert.status in OPEN_STATES
    detect_days = (alert.first_alarm_date - alert.start_date).days
    detected = flow.detected_at
    notify_due = detected + dt.timedelta(days=settings.notify_days) if detected else None
    notified = flow.notified_at
    respond_due = notified + dt.timedelta(days=settings.respond_days) if notified else None
    responded = flow.responded_at
    limit = settings.stage_hours.get(str(alert.status)) if open_ else None
    since = flow.state_since
    stage_due = since + dt.timedelta(hours=limit) if (limit and since) else None
    return AlertTimers(
        emerged_on=alert.start_date,
        detected_on=alert.first_alarm_date,
        detect_days=detect_days,
        detect_met=detect_days <= settings.detect_days,
        detected_at=detected,
        notify_due=notify_due,
        notified_at=notified,
        notify_hours=(notified - detected).total_seconds() / 3600
        if notified and detected
        else None,
        notify_met=(notified <= notify_due) if notified and notify_due else None,
        notify_overdue=bool(notified is None and notify_due and now > notify_due),
        respond_due=respond_due,
        responded_at=responded,
        respond_days=(responded - notified).total_seconds() / 86400
        if responded and notified
        else None,
        respond_met=(responded <= respond_due) if responded and respond_due else None,
        respond_overdue=bool(responded is None and respond_due and now > respond_due),
        stage=alert.status,
        stage_since=since,
        stage_due=stage_due,
        stage_overdue=bool(stage_due and now > stage_due),
    )


def _task(row: dict[str, Any], today: dt.date) -> Task:
    task = Task(**row)
    task.overdue = (
        task.status == TaskStatus.OPEN and task.due_date is not None and task.due_date < today
    )
    return task


# ---------------------------------------------------------------------------------------------
# work queue


class QueueItem(BaseModel):
    alert: Alert
    workflow: AlertWorkflow
    timers: AlertTimers
    overdue: bool
    hidden: Literal["snoozed", "muted"] | None = None
    muted_by: int | None = None


class WorkQueue(BaseModel):
    now: dt.datetime
    alerts: list[QueueItem]
    tasks: list[Task]
    hidden: int = Field(0, description="open alerts left out: snoozed or muted")


_RISK_RANK = {Level.LOW: 1, Level.MODERATE: 2, Level.HIGH: 3, Level.VERY_HIGH: 4}
_SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3}


def work_queue(
    store: Store,
    settings: WorkflowSettings | None = None,
    *,
    now: dt.datetime | None = None,
    include_hidden: bool = False,
    assignee: str | None = None,
) -> WorkQueue:
    """Open alerts, overdue first, then by risk, severity and most recent first alarm; snoozed
    and muted ones only with ``include_hidden``. Open tasks (of ``assignee``), earliest due
    first, each flagged when overdue."""
    settings = settings or WorkflowSettings()
    at = _now(now)
    open_alerts = [a for a in store.alerts() if a.status in OPEN_STATES]
    ids = [a.id for a in open_alerts]
    records = store.workflow.records(ids)
    detected = store.workflow.detected_at(ids)
    active = mutes(store, active_at=at)
    items: list[QueueItem] = []
    hidden = 0
    for alert in open_alerts:
        flow = _workflow_of(alert, records.get(alert.id, {}), detected.get(alert.id))
        timers = alert_timers(alert, flow, at, settings)
        muted = _muted_by(alert, active)
        reason: Literal["snoozed", "muted"] | None = None
        if flow.snoozed_until and flow.snoozed_until > at:
            reason = "snoozed"
        elif muted is not None:
            reason = "muted"
        if reason:
            hidden += 1
            if not include_hidden:
                continue
        items.append(
            QueueItem(
                alert=alert,
                workflow=flow,
                timers=timers,
                overdue=timers.overdue,
                hidden=reason,
                muted_by=muted.id if reason == "muted" and muted else None,
            )
        )
    items.sort(key=lambda i: i.alert.id)
    items.sort(key=lambda i: i.alert.first_alarm_date, reverse=True)
    items.sort(
        key=lambda i: (
            not i.overdue,
            -_RISK_RANK.get(i.workflow.risk, 0) if i.workflow.risk else 0,
            -_SEVERITY_RANK.get(str(i.alert.severity), 0),
        )
    )
    tasks = [_task(t, at.date()) for t in store.workflow.tasks(status="open", assignee=assignee)]
    return WorkQueue(now=at, alerts=items, tasks=tasks, hidden=hidden)


# ---------------------------------------------------------------------------------------------
# investigations, hypotheses, tasks


def _text(value: str | None, name: str, *, required: bool = False) -> str | None:
    if value is None or not value.strip():
        if required:
            raise WorkflowError(f"{name}: must not be empty")
        return None
    return value.strip()


def create_investigation(
    store: Store,
    title: str,
    *,
    actor: str,
    alert_ids: Iterable[str] = (),
    line_list_ref: str | None = None,
    now: dt.datetime | None = None,
) -> Investigation:
    alert_ids = list(dict.fromkeys(alert_ids))
    for alert_id in alert_ids:
        get_alert(store, alert_id)
    inv_id = store.workflow.create_investigation(
        _text(title, "title", required=True),  # type: ignore[arg-type]
        actor=_actor(actor),
        at=_now(now),
        alert_ids=alert_ids,
        line_list_ref=_text(line_list_ref, "line_list_ref"),
    )
    return investigation(store, inv_id, now=now)


def investigation(
    store: Store, investigation_id: int, *, now: dt.datetime | None = None
) -> Investigation:
    row = store.workflow.investigation(investigation_id)
    if row is None:
        raise UnknownItemError(f"no investigation {investigation_id}")
    today = _now(now).date()
    row["hypotheses"] = [Hypothesis(**h) for h in row["hypotheses"]]
    row["tasks"] = [_task(t, today) for t in row["tasks"]]
    return Investigation(**row)


def investigations(
    store: Store, *, status: str | None = None, alert_id: str | None = None
) -> list[Investigation]:
    if status is not None and status not in INVESTIGATION_STATUSES:
        raise WorkflowError(f"status: {status!r} is not one of {', '.join(INVESTIGATION_STATUSES)}")
    return [
        Investigation(**r) for r in store.workflow.investigations(status=status, alert_id=alert_id)
    ]


def update_investigation(
    store: Store,
    investigation_id: int,
    *,
    actor: str,
    title: str | None = None,
    status: str | None = None,
    line_list_ref: str | None = None,
    now: dt.datetime | None = None,
) -> Investigation:
    values: dict[str, Any] = {}
    if title is not None:
        values["title"] = _text(title, "title", required=True)
    if status is not None:
        if status not in INVESTIGATION_STATUSES:
            raise WorkflowError(
                f"status: {status!r} is not one of {', '.join(INVESTIGATION_STATUSES)}"
            )
        values["status"] = status
    if line_list_ref is not None:
        values["line_list_ref"] = _text(line_list_ref, "line_list_ref")
    if not store.workflow.update_investigation(
        investigation_id, values, actor=_actor(actor), at=_now(now)
    ):
        raise UnknownItemError(f"no investigation {investigation_id}")
    return investigation(store, investigation_id, now=now)


def link_alert(
    store: Store,
    investigation_id: int,
    alert_id: str,
    *,
    actor: str,
    now: dt.datetime | None = None,
) -> Investigation:
    """Group the alert into the investigation."""
    get_alert(store, alert_id)
    try:
        store.workflow.link_alert(investigation_id, alert_id, actor=_actor(actor), at=_now(now))
    except LookupError as exc:
        raise UnknownItemError(str(exc.args[0])) from None
    return investigation(store, investigation_id, now=now)


def add_hypothesis(
    store: Store,
    investigation_id: int,
    *,
    kind: str,
    subject: str,
    actor: str,
    description: str | None = None,
    evidence: dict[str, Any] | None = None,
    status: str = "open",
    now: dt.datetime | None = None,
) -> Hypothesis:
    """A hypothesis, e.g. ``kind="source"``, ``subject`` a place id, ``evidence`` the trace
    analysis's row for it."""
    if kind not in HYPOTHESIS_KINDS:
        raise WorkflowError(f"kind: {kind!r} is not one of {', '.join(HYPOTHESIS_KINDS)}")
    if status not in HYPOTHESIS_STATUSES:
        raise WorkflowError(f"status: {status!r} is not one of {', '.join(HYPOTHESIS_STATUSES)}")
    if evidence is not None and not isinstance(evidence, dict):
        raise WorkflowError("evidence: must be a JSON object")
    values = {
        "kind": kind,
        "subject": _text(subject, "subject", required=True),
        "description": _text(description, "description"),
        "evidence": evidence or {},
        "status": status,
    }
    try:
        hyp_id = store.workflow.add_hypothesis(
            investigation_id, values, actor=_actor(actor), at=_now(now)
        )
    except LookupError as exc:
        raise UnknownItemError(str(exc.args[0])) from None
    found = investigation(store, investigation_id, now=now)
    return next(h for h in found.hypotheses if h.id == hyp_id)


def add_source_hypothesis(
    store: Store,
    settings: Settings,
    investigation_id: int,
    alert_id: str,
    *,
    actor: str,
    place_id: str | None = None,
    now: dt.datetime | None = None,
) -> Hypothesis:
    """File a candidate source of one of the investigation's alerts, as the trace analysis ranks
    it (``place_id``, default the best), with the analysis's figures as evidence."""
    found = investigation(store, investigation_id, now=now)
    if alert_id not in found.alert_ids:
        raise WorkflowError(f"alert_id: alert {alert_id} is not part of investigation {found.id}")
    result = trace_alert(store, alert_id, settings)
    candidates = result.sources
    if place_id is not None:
        candidates = [c for c in candidates if c.id == place_id]
    if not candidates:
        raise WorkflowError(
            f"place_id: {place_id} is not among the candidate sources of alert {alert_id}"
            if place_id is not None
            else f"alert_id: the trace analysis of alert {alert_id} found no candidate source"
        )
    c = candidates[0]
    evidence: dict[str, Any] = {
        "analysis": "exposures",
        "alert_id": alert_id,
        "method": result.exposures.method,
        "n_cases": result.n_cases,
        "n_controls": result.n_controls,
        "candidate": c.model_dump(mode="json"),
    }
    site = next((x for x in result.sites.sites if x.id == c.id), None)
    if site is not None:
        evidence["site"] = site.model_dump(mode="json")
    description = (
        f"{c.name}: {c.cases_exposed}/{c.cases_total} cases exposed against "
        f"{c.controls_exposed}/{c.controls_total} controls, odds ratio {c.odds_ratio:.1f} "
        f"({c.ci_low:.1f}-{c.ci_high:.1f}), q {c.q_value:.1e}; rank {c.rank}"
    )
    return add_hypothesis(
        store,
        investigation_id,
        kind="source",
        subject=c.id,
        description=description,
        evidence=evidence,
        actor=actor,
        now=now,
    )


def set_hypothesis_status(
    store: Store, hypothesis_id: int, status: str, *, actor: str, now: dt.datetime | None = None
) -> Hypothesis:
    if status not in HYPOTHESIS_STATUSES:
        raise WorkflowError(f"status: {status!r} is not one of {', '.join(HYPOTHESIS_STATUSES)}")
    row = store.workflow.update_hypothesis(
        hypothesis_id, {"status": status}, actor=_actor(actor), at=_now(now)
    )
    if row is None:
        raise UnknownItemError(f"no hypothesis {hypothesis_id}")
    return Hypothesis(**row)


def _checklist(items: Iterable[Any] | None) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(items or []):
        try:
            parsed = (
                ChecklistItem(item=ChecklistKind(item))
                if isinstance(item, str)
                else ChecklistItem.model_validate(item)
            )
        except ValueError:
            known = ", ".join(k.value for k in ChecklistKind)
            raise WorkflowError(
                f"checklist[{i}]: {item!r} is not a checklist item; known: {known}"
            ) from None
        out.append(parsed.model_dump(mode="json"))
    kinds = [c["item"] for c in out]
    if len(set(kinds)) != len(kinds):
        raise WorkflowError("checklist: an item is listed twice")
    return out


def add_task(
    store: Store,
    investigation_id: int,
    *,
    title: str,
    actor: str,
    assignee: str | None = None,
    due_date: dt.date | None = None,
    checklist: Iterable[Any] | None = None,
    now: dt.datetime | None = None,
) -> Task:
    values = {
        "title": _text(title, "title", required=True),
        "assignee": _text(assignee, "assignee"),
        "due_date": due_date,
        "checklist": _checklist(checklist),
    }
    try:
        task_id = store.workflow.add_task(
            investigation_id, values, actor=_actor(actor), at=_now(now)
        )
    except LookupError as exc:
        raise UnknownItemError(str(exc.args[0])) from None
    return task(store, task_id, now=now)


def task(store: Store, task_id: int, *, now: dt.datetime | None = None) -> Task:
    row = store.workflow.task(task_id)
    if row is None:
        raise UnknownItemError(f"no task {task_id}")
    return _task(row, _now(now).date())


def tasks(
    store: Store,
    *,
    status: str | None = None,
    assignee: str | None = None,
    now: dt.datetime | None = None,
) -> list[Task]:
    """Tasks, earliest due first, each flagged when overdue at ``now``."""
    today = _now(now).date()
    return [_task(t, today) for t in store.workflow.tasks(status=status, assignee=assignee)]


_UNSET: Any = object()


def update_task(
    store: Store,
    task_id: int,
    *,
    actor: str,
    title: str | None = None,
    assignee: str | None = _UNSET,
    due_date: dt.date | None = _UNSET,
    checklist: Iterable[Any] | None = None,
    status: str | None = None,
    now: dt.datetime | None = None,
) -> Task:
    """Change a task. ``status="done"`` needs every checklist item done."""
    current = task(store, task_id, now=now)
    values: dict[str, Any] = {}
    if title is not None:
        values["title"] = _text(title, "title", required=True)
    if assignee is not _UNSET:
        values["assignee"] = _text(assignee, "assignee")
    if due_date is not _UNSET:
        values["due_date"] = due_date
    if checklist is not None:
        values["checklist"] = _checklist(checklist)
    if status is not None:
        if status not in {s.value for s in TaskStatus}:
            raise WorkflowError(f"status: {status!r} is not one of open, done")
        items = values.get("checklist", [c.model_dump(mode="json") for c in current.checklist])
        undone = [c["item"] for c in items if not c["done"]]
        if status == TaskStatus.DONE and undone:
            raise WorkflowError(
                f"status: the task cannot be done while checklist items are open: "
                f"{', '.join(undone)}"
            )
        values["status"] = status
    row = store.workflow.update_task(task_id, values, actor=_actor(actor), at=_now(now))
    if row is None:
        raise UnknownItemError(f"no task {task_id}")
    return _task(row, _now(now).date())


def delete_task(store: Store, task_id: int, *, actor: str, now: dt.datetime | None = None) -> None:
    if not store.workflow.delete_task(task_id, actor=_actor(actor), at=_now(now)):
        raise UnknownItemError(f"no task {task_id}")


# ---------------------------------------------------------------------------------------------
# timeliness report


class TimelinessRow(BaseModel):
    """The alerts of one district first alarming in one period, against the 7-1-7 targets.

    For each interval: ``met`` done in time, ``late`` done after the target, ``overdue`` not
    done and past due, ``pending`` not done and not yet due; ``median`` of the done ones.
    """

    period: str
    district: str
    district_name: str
    alerts: int
    detect_met: int
    detect_late: int
    detect_median_days: float | None
    notify_met: int
    notify_late: int
    notify_overdue: int
    notify_pending: int
    notify_median_hours: float | None
    respond_met: int
    respond_late: int
    respond_overdue: int
    respond_pending: int
    respond_median_days: float | None
    stage_overdue: int


class TimelinessReport(BaseModel):
    start: dt.date
    end: dt.date
    period: Period
    now: dt.datetime
    targets: dict[str, float]
    rows: list[TimelinessRow]
    total: TimelinessRow


def _period_key(day: dt.date, period: Period) -> str:
    if period == "month":
        return day.strftime("%Y-%m")
    return (day - dt.timedelta(days=day.weekday())).isoformat()


def _districts(alert: Alert, regions: dict[str, Region]) -> list[str]:
    if not alert.region_ids:
        return [CITY]
    out = []
    for rid in alert.region_ids:
        region = regions.get(rid)
        district = region.district_id if region else rid
        if district not in out:
            out.append(district)
    return out


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _summarise(period: str, district: str, name: str, timers: list[AlertTimers]) -> TimelinessRow:
    def count(pred: Any) -> int:
        return sum(1 for t in timers if pred(t))

    return TimelinessRow(
        period=period,
        district=district,
        district_name=name,
        alerts=len(timers),
        detect_met=count(lambda t: t.detect_met),
        detect_late=count(lambda t: not t.detect_met),
        detect_median_days=_median([t.detect_days for t in timers]),
        notify_met=count(lambda t: t.notify_met is True),
        notify_late=count(lambda t: t.notify_met is False),
        notify_overdue=count(lambda t: t.notify_overdue),
        notify_pending=count(lambda t: t.notified_at is None and not t.notify_overdue),
        notify_median_hours=_median([t.notify_hours for t in timers if t.notify_hours is not None]),
        respond_met=count(lambda t: t.respond_met is True),
        respond_late=count(lambda t: t.respond_met is False),
        respond_overdue=count(lambda t: t.respond_overdue),
        respond_pending=count(lambda t: t.responded_at is None and not t.respond_overdue),
        respond_median_days=_median([t.respond_days for t in timers if t.respond_days is not None]),
        stage_overdue=count(lambda t: t.stage_overdue),
    )


def _timed_alerts(
    store: Store, start: dt.date, end: dt.date
) -> list[tuple[SimpleNamespace, SimpleNamespace]]:
    """The alerts first alarming in ``[start, end]`` and their workflow times, as the light
    objects ``alert_timers`` and ``_districts`` read (thousands of alerts without models)."""
    from epiradar.store.pages import PagesRepository

    out = []
    regions: dict[str, list[str]] = {}
    for r in PagesRepository(store.engine).timed_alert_rows(start, end):
        text = r["region_ids"]
        if text not in regions:
            regions[text] = json.loads(text)
        detected = _dt(r["created_at"])
        alert = SimpleNamespace(
            id=r["id"],
            status=AlertStatus(r["status"]),
            start_date=dt.date.fromisoformat(r["start_date"]),
            first_alarm_date=dt.date.fromisoformat(r["first_alarm_date"]),
            region_ids=regions[text],
        )
        flow = SimpleNamespace(
            detected_at=detected,
            notified_at=_dt(r["notified_at"]),
            responded_at=_dt(r["responded_at"]),
            state_since=_dt(r["state_since"]) or detected,
        )
        out.append((alert, flow))
    return out


def timeliness_report(
    store: Store,
    settings: WorkflowSettings | None = None,
    *,
    start: dt.date,
    end: dt.date,
    period: Period = "month",
    now: dt.datetime | None = None,
) -> TimelinessReport:
    """Alerts first alarming in ``[start, end]`` per period (``week``: Monday's date;
    ``month``: YYYY-MM) and district (the regions' ``parent_id``, else the region; ``city``
    for city-wide alerts), timed at ``now``. An alert over several districts counts in each;
    ``total`` counts every alert once."""
    if end < start:
        raise WorkflowError(f"end: {end} is before start {start}")
    if period not in ("week", "month"):
        raise WorkflowError(f"period: {period!r} is not week or month")
    settings = settings or WorkflowSettings()
    at = _now(now)
    regions = {r.id: r for r in store.regions()}
    names = {r.district_id: r.district_name for r in regions.values()}
    groups: dict[tuple[str, str], list[AlertTimers]] = {}
    every: list[AlertTimers] = []
    # plain rows, no Alert or AlertWorkflow models: alert_timers reads only these attributes
    for alert, flow in _timed_alerts(store, start, end):
        timers = alert_timers(alert, flow, at, settings)  # type: ignore[arg-type]
        every.append(timers)
        key = _period_key(alert.first_alarm_date, period)
        for district in _districts(alert, regions):
            groups.setdefault((key, district), []).append(timers)
    rows = [
        _summarise(
            key,
            district,
            names.get(district, district),
            timers,
        )
        for (key, district), timers in sorted(groups.items())
    ]
    return TimelinessReport(
        start=start,
        end=end,
        period=period,
        now=at,
        targets={
            "detect_days": settings.detect_days,
            "notify_days": settings.notify_days,
            "respond_days": settings.respond_days,
        },
        rows=rows,
        total=_summarise("all", "all", "all districts", every),
    )
