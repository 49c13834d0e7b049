"""Escalations: overdue alerts and tasks sent to the subscribers who asked for them, once per
item and stage, through the notification channels (docs/notifications.md, "Escalations")."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

from epiradar.config import Settings
from epiradar.config_workflow import WorkflowSettings
from epiradar.model import Alert
from epiradar.model.notify import SEVERITY_RANK, Subscription
from epiradar.model.workflow import OPEN_STATES
from epiradar.service import notify
from epiradar.service import workflow as wf
from epiradar.store import Store


@dataclass(frozen=True)
class OverdueItem:
    """An open alert or task past its limit: ``stage`` is the alert's state (``due`` for a
    task), so an alert that moves on and falls behind again escalates again."""

    kind: str  # "alert" or "task"
    ref: str  # the alert id or the task id
    stage: str
    reasons: tuple[str, ...]
    alerts: tuple[Alert, ...]  # what subscriptions are matched against
    payload: dict[str, Any]

    @property
    def key(self) -> str:
        return f"escalation:{self.kind}:{self.ref}:{self.stage}"


def _at(value: dt.datetime | None) -> str:
    return value.isoformat(sep=" ", timespec="minutes") if value else "-"


def overdue_items(
    store: Store,
    settings: WorkflowSettings,
    now: dt.datetime,
    *,
    base_url: str | None = None,
) -> list[OverdueItem]:
    """Open alerts overdue at ``now`` (notification, response or stage past due; snoozed and
    muted ones left out, as in the work queue) and open tasks past their due date."""
    alerts = store.alerts()
    by_id = {a.id: a for a in alerts}
    regions = store.regions()
    names = {r.id: r.name for r in regions}
    open_alerts = [a for a in alerts if a.status in OPEN_STATES]
    ids = [a.id for a in open_alerts]
    records = store.workflow.records(ids)
    detected = store.workflow.detected_at(ids)
    active = wf.mutes(store, active_at=now)
    items: list[OverdueItem] = []
    for alert in sorted(open_alerts, key=lambda a: a.id):
        flow = wf._workflow_of(alert, records.get(alert.id, {}), detected.get(alert.id))
        timers = wf.alert_timers(alert, flow, now, settings)
        if not timers.overdue:
            continue
        if (flow.snoozed_until and flow.snoozed_until > now) or wf._muted_by(alert, active):
            continue
        reasons = []
        if timers.notify_overdue:
            reasons.append(f"not taken up: notification was due {_at(timers.notify_due)}")
        if timers.respond_overdue:
            reasons.append(f"no response: response was due {_at(timers.respond_due)}")
        if timers.stage_overdue:
            reasons.append(
                f"{alert.status} since {_at(timers.stage_since)}, due {_at(timers.stage_due)}"
            )
        payload = notify.alert_payload(alert, names, base_url) | {
            "event": "escalation",
            "item": "alert",
            "stage": str(alert.status),
            "reasons": reasons,
            "now": now.isoformat(timespec="seconds"),
        }
        items.append(
            OverdueItem("alert", alert.id, str(alert.status), tuple(reasons), (alert,), payload)
        )
    today = now.date()
    investigations: dict[int, dict[str, Any] | None] = {}
    for row in store.workflow.tasks(status="open"):
        task = wf._task(row, today)
        if not task.overdue:
            continue
        inv_id = task.investigation_id
        if inv_id not in investigations:
            investigations[inv_id] = store.workflow.investigation(inv_id)
        inv = investigations[inv_id] or {}
        linked = tuple(by_id[a] for a in inv.get("alert_ids", []) if a in by_id)
        reasons = [f"task open after its due date {task.due_date}"]
        payload = {
            "event": "escalation",
            "item": "task",
            "stage": "due",
            "reasons": reasons,
            "now": now.isoformat(timespec="seconds"),
            "task": json.loads(task.model_dump_json()),
            "investigation": {"id": inv_id, "title": inv.get("title")},
            "alert_ids": [a.id for a in linked],
            "url": f"{base_url}/investigations/{inv_id}" if base_url else None,
        }
        items.append(OverdueItem("task", str(task.id), "due", tuple(reasons), linked, payload))
    return items


def covers(
    subscriptions: list[Subscription], item: OverdueItem, areas: dict[str, set[str]]
) -> bool:
    """Whether one of the escalation subscriptions covers ``item``: the alert, or for a task
    one of its investigation's alerts (a task of an investigation without alerts: only a
    subscription without filters)."""
    subs = [s for s in subscriptions if s.escalations]
    if not item.alerts:
        return any(
            not s.region_ids and not s.syndromes and SEVERITY_RANK[s.min_severity] == 0
            for s in subs
        )
    return any(s.matches(a, areas) for s in subs for a in item.alerts)


def escalation_subject(payload: dict[str, Any]) -> str:
    if payload["item"] == "alert":
        a = payload["alert"]
        where = ", ".join(payload["region_names"]) or "the whole city"
        return (
            f"[epiradar] OVERDUE alert {a['id']} ({payload['stage']}): "
            f"{payload['syndrome_label']} in {where}"
        )
    t = payload["task"]
    return (
        f"[epiradar] OVERDUE task {t['id']} {t['title']!r} (due {t['due_date']}), "
        f"investigation {payload['investigation']['id']}"
    )


def escalation_lines(payload: dict[str, Any]) -> list[str]:
    """The lines describing one overdue item (the e-mail and the digest)."""
    if payload["item"] == "alert":
        a = payload["alert"]
        lines = [f"Alert {a['id']} is overdue in state {payload['stage']}."]
        lines += [f"Overdue:    {r}" for r in payload["reasons"]]
        lines += notify._alert_lines(a, payload["region_names"])
    else:
        t = payload["task"]
        inv = payload["investigation"]
        lines = [f"Task {t['id']} {t['title']!r} is overdue."]
        lines += [f"Overdue:    {r}" for r in payload["reasons"]]
        lines += [
            f"Assignee:   {t.get('assignee') or 'nobody'}",
            f"Investigation: {inv['id']} {inv.get('title') or ''}".rstrip(),
            f"Alerts:     {', '.join(payload['alert_ids']) or 'none'}",
        ]
    if payload.get("url"):
        lines.append(f"Open:       {payload['url']}")
    return lines


def escalation_text(payload: dict[str, Any]) -> str:
    """The plain-text e-mail of an escalation."""
    lines = escalation_lines(payload)
    lines += ["", "You receive this because one of your subscriptions asks for escalations."]
    return "\n".join(lines) + "\n"


def escalate(
    store: Store,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    sleep: notify.Sleep = time.sleep,
) -> notify.SendReport:
    """Queue one escalation per overdue item x stage x covering subscriber x channel not
    recorded before, and send them (with the retries and log of every delivery)."""
    cfg = settings.notify
    if not cfg.enabled:
        return notify.SendReport()
    subscribers = store.notify.subscribers(active_only=True)
    by_subscriber: dict[int, list[Subscription]] = {}
    for s in store.notify.subscriptions():
        if s.escalations:
            by_subscriber.setdefault(s.subscriber_id, []).append(s)
    subscribers = [s for s in subscribers if s.id in by_subscriber]
    if not subscribers:
        return notify.SendReport()
    at = wf._now(now)
    areas = notify.region_areas(store.regions())
    rows = []
    for item in overdue_items(store, settings.workflow, at, base_url=cfg.base_url):
        subject = escalation_subject(item.payload)
        for sub in subscribers:
            if not covers(by_subscriber[sub.id], item, areas):
                continue
            for channel in sub.channels:
                rows.append(
                    {
                        "key": item.key,
                        "kind": "escalation",
                        "alert_id": item.ref if item.kind == "alert" else None,
                        "subscriber_id": sub.id,
                        "channel": channel,
                        "subject": subject,
                        "payload": item.payload,
                    }
                )
    queued = store.notify.queue(rows)
    if not queued:
        return notify.SendReport()
    return notify.send_pending(store, cfg, ids=queued, sleep=sleep)
