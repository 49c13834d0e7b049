"""The work pages' use cases, paged: the work queue (alerts needing action, overdue first, then
by rank; the actor's tasks), the investigation workspace (alerts, line list, contacts with their
follow-up, tasks, hypotheses) and the timeliness dashboard."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import pandas as pd
from pydantic import BaseModel, Field

from epiradar.config import Settings
from epiradar.config_workflow import WorkflowSettings
from epiradar.model import Alert
from epiradar.model.workflow import OPEN_STATES, Investigation, Task, WorkflowError
from epiradar.service import ranking
from epiradar.service import workflow as wf
from epiradar.service.tracing import alert_line_list
from epiradar.service.views import (
    ALERT_SORT_KEYS,
    AlertRow,
    LineListRow,
    _alert_row,
    _line_list_rows,
    syndrome_label,
)
from epiradar.store import Store
from epiradar.store.pages import PagesRepository

MAX_LIMIT = 500
"""Most rows one page may ask for."""

FOLLOW_UP_STATUSES = (
    "pending",
    "under follow-up",
    "completed",
    "lost to follow-up",
    "became a case",
)


@dataclass(frozen=True)
class Paging:
    """A validated page request: 1-based ``page`` of ``limit`` rows."""

    page: int = 1
    limit: int = 50

    def __post_init__(self) -> None:
        if self.page < 1:
            raise WorkflowError(f"page: must be 1 or more, got {self.page}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise WorkflowError(f"limit: must be between 1 and {MAX_LIMIT}, got {self.limit}")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


class Page(BaseModel):
    page: int
    limit: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.limit))

    @property
    def first(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.limit + 1

    @property
    def last(self) -> int:
        return min(self.page * self.limit, self.total)


def _page(paging: Paging, total: int) -> Page:
    return Page(page=paging.page, limit=paging.limit, total=total)


# ---------------------------------------------------------------------------------------------
# alert list


class AlertKey(NamedTuple):
    id: str
    region_ids: list[str]


def alert_page(
    store: Store,
    *,
    syndrome: str | None = None,
    status: str | None = None,
    severity: str | None = None,
    sort: str = "first_alarm_date",
    descending: bool = True,
    paging: Paging = Paging(limit=100),
    visible: Callable[[list[AlertKey]], list[AlertKey]] | None = None,
) -> tuple[list[AlertRow], Page]:
    """One page of the alert list (``views.alert_list``'s filters and order), sorted and
    filtered in the database; ``visible`` keeps the alerts the caller may see. Only the page's
    alerts are built."""
    if sort not in ALERT_SORT_KEYS:
        raise ValueError(f"cannot sort alerts by {sort!r}")
    repo = PagesRepository(store.engine)
    parsed: dict[str, list[str]] = {}
    keys = []
    for alert_id, text in repo.alert_index(
        syndrome=syndrome, status=status, severity=severity, sort=sort, descending=descending
    ):
        regions = parsed.get(text)
        if regions is None:
            regions = parsed[text] = json.loads(text)
        keys.append(AlertKey(alert_id, regions))
    if visible is not None:
        keys = visible(keys)
    chosen = [k.id for k in keys[paging.offset : paging.offset + paging.limit]]
    found = {a.id: a for a in repo.alerts_by_id(chosen)}
    names = {r.id: r.name for r in store.regions()}
    rows = [_alert_row(found[i], names) for i in chosen if i in found]
    return rows, _page(paging, len(keys))


# ---------------------------------------------------------------------------------------------
# work queue


@dataclass
class _Light:
    """An open alert as the queue ranks it, before any model is built."""

    id: str
    syndrome: str
    region_ids: list[str]
    first_alarm_date: dt.date
    observed: float
    expected: float
    p_value: float
    recurrence_interval: float | None
    row: dict[str, Any]


def _dt(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def light_overdue(row: dict[str, Any], now: dt.datetime, settings: WorkflowSettings) -> bool:
    """Whether an open alert is overdue (``service.workflow.alert_timers``'s ``overdue``),
    from its plain row: notification, response or its stage past due."""
    detected = _dt(row.get("created_at"))
    notified = _dt(row.get("notified_at"))
    if notified is None and detected and now > detected + dt.timedelta(days=settings.notify_days):
        return True
    if (
        notified
        and row.get("responded_at") is None
        and now > notified + dt.timedelta(days=settings.respond_days)
    ):
        return True
    limit = settings.stage_hours.get(str(row["status"]))
    since = _dt(row.get("state_since")) or detected
    return bool(limit and since and now > since + dt.timedelta(hours=limit))


class QueueRow(BaseModel):
    alert: Alert
    syndrome_label: str
    overdue: bool
    score: float
    evidence: float
    size: float
    novel: bool
    risk: str | None = None
    hidden: Literal["snoozed", "muted"] | None = None


class QueueTask(BaseModel):
    task: Task
    investigation_title: str


class QueuePage(BaseModel):
    now: dt.datetime
    actor: str
    alerts: list[QueueRow]
    alert_page: Page
    overdue: int
    hidden: int = Field(description="open alerts left out: snoozed or muted")
    tasks: list[QueueTask]
    task_page: Page
    mine_only: bool


def _muted(syndrome: str, regions: list[str], active: list[Any]) -> bool:
    return any(
        str(m.syndrome) == syndrome
        and (not m.region_ids or not regions or bool(set(m.region_ids) & set(regions)))
        for m in active
    )


def work_queue(
    store: Store,
    settings: WorkflowSettings,
    *,
    actor: str,
    now: dt.datetime,
    alerts: Paging = Paging(),
    tasks: Paging = Paging(),
    include_hidden: bool = False,
    mine_only: bool = True,
    visible: Callable[[list[AlertKey]], list[AlertKey]] | None = None,
) -> QueuePage:
    """Open alerts needing action (not snoozed or muted unless ``include_hidden``): overdue
    first, then by rank (``service.ranking``), one page; the open tasks of ``actor`` (everyone's
    with ``mine_only=False``), earliest due first, one page. ``visible`` keeps the alerts the
    caller may see, before the page is cut (the work-queue page and ``/api/queue`` both)."""
    repo = PagesRepository(store.engine)
    rows = repo.alert_rows(str(s) for s in OPEN_STATES)
    active = wf.mutes(store, active_at=now)
    light: list[_Light] = []
    hidden_of: dict[str, Literal["snoozed", "muted"]] = {}
    parsed: dict[str, list[str]] = {}
    kept: set[str] | None = None
    if visible is not None:
        for r in rows:
            if r["region_ids"] not in parsed:
                parsed[r["region_ids"]] = json.loads(r["region_ids"])
        kept = {k.id for k in visible([AlertKey(r["id"], parsed[r["region_ids"]]) for r in rows])}
    for r in rows:
        if kept is not None and r["id"] not in kept:
            continue
        text = r["region_ids"]
        regions = parsed.get(text)
        if regions is None:
            regions = parsed[text] = json.loads(text)
        snoozed = _dt(r.get("snoozed_until"))
        if snoozed and snoozed > now:
            hidden_of[r["id"]] = "snoozed"
        elif active and _muted(r["syndrome"], regions, active):
            hidden_of[r["id"]] = "muted"
        if r["id"] in hidden_of and not include_hidden:
            continue
        light.append(
            _Light(
                r["id"],
                r["syndrome"],
                regions,
                dt.date.fromisoformat(r["first_alarm_date"]),
                r["observed"],
                r["expected"],
                r["p_value"],
                r["recurrence_interval"],
                r,
            )
        )
    earliest = min((a.first_alarm_date for a in light), default=now.date())
    history = [
        (i, s, parsed.get(reg) or json.loads(reg), dt.date.fromisoformat(d))
        for i, s, reg, d in repo.alert_keys_since(earliest - dt.timedelta(ranking.NOVELTY_DAYS))
    ]
    ranked = ranking.rank_alerts(light, history)
    overdue = {a.id: light_overdue(a.row, now, settings) for a, _ in ranked}  # type: ignore[attr-defined]
    ranked.sort(key=lambda ar: not overdue[ar[0].id])
    chosen = ranked[alerts.offset : alerts.offset + alerts.limit]
    full = {a.id: a for a in _alerts_by_id(store, [a.id for a, _ in chosen])}
    items = [
        QueueRow(
            alert=full[a.id],
            syndrome_label=syndrome_label(a.syndrome),  # type: ignore[arg-type]
            overdue=overdue[a.id],
            score=r.score,
            evidence=r.evidence,
            size=r.size,
            novel=r.novel,
            risk=a.row.get("risk"),  # type: ignore[attr-defined]
            hidden=hidden_of.get(a.id),
        )
        for a, r in chosen
        if a.id in full
    ]
    task_rows, n_tasks = repo.task_page(
        status="open", assignee=actor if mine_only else None, offset=tasks.offset, limit=tasks.limit
    )
    today = now.date()
    return QueuePage(
        now=now,
        actor=actor,
        alerts=items,
        alert_page=_page(alerts, len(ranked)),
        overdue=sum(overdue.values()),
        hidden=len(hidden_of),
        tasks=[
            QueueTask(investigation_title=t.pop("investigation_title"), task=wf._task(t, today))
            for t in task_rows
        ],
        task_page=_page(tasks, n_tasks),
        mine_only=mine_only,
    )


def _alerts_by_id(store: Store, ids: list[str]) -> list[Alert]:
    """The alerts with these ids, in that order (unknown ones left out)."""
    found = {a.id: a for a in PagesRepository(store.engine).alerts_by_id(ids)}
    return [found[i] for i in ids if i in found]


# ---------------------------------------------------------------------------------------------
# investigations


class InvestigationRow(BaseModel):
    id: int
    title: str
    status: str
    created_at: dt.datetime
    actor: str
    open_tasks: int


class InvestigationList(BaseModel):
    rows: list[InvestigationRow]
    page: Page
    status: str | None


def investigation_list(
    store: Store, *, status: str | None = None, paging: Paging = Paging()
) -> InvestigationList:
    if status is not None and status not in ("open", "closed"):
        raise WorkflowError(f"status: {status!r} is not open or closed")
    rows, total = PagesRepository(store.engine).investigation_page(
        status=status, offset=paging.offset, limit=paging.limit
    )
    return InvestigationList(
        rows=[InvestigationRow(**{k: r[k] for k in InvestigationRow.model_fields}) for r in rows],
        page=_page(paging, total),
        status=status,
    )


class Contact(BaseModel):
    """A contact of a case of the investigation, with their follow-up."""

    id: int
    investigation_id: int
    label: str
    case_key: str | None = None
    exposure_date: dt.date | None = None
    follow_up_until: dt.date | None = None
    follow_up_status: str
    last_contacted: dt.date | None = None
    created_at: dt.datetime
    actor: str
    overdue: bool = False


def _contact(row: dict[str, Any], today: dt.date) -> Contact:
    c = Contact(**row)
    c.overdue = (
        c.follow_up_status in ("pending", "under follow-up")
        and c.follow_up_until is not None
        and c.follow_up_until < today
    )
    return c


def _status(value: str) -> str:
    value = (value or "").strip()
    if value not in FOLLOW_UP_STATUSES:
        raise WorkflowError(
            f"follow_up_status: {value!r} is not one of {', '.join(FOLLOW_UP_STATUSES)}"
        )
    return value


def add_contact(
    store: Store,
    investigation_id: int,
    *,
    label: str,
    actor: str,
    now: dt.datetime,
    case_key: str | None = None,
    exposure_date: dt.date | None = None,
    follow_up_until: dt.date | None = None,
    follow_up_status: str = "pending",
) -> Contact:
    """Add a contact; ``follow_up_until`` defaults to 14 days after ``exposure_date``."""
    wf.investigation(store, investigation_id, now=now)  # raises for an unknown one
    label = (label or "").strip()
    if not label:
        raise WorkflowError("label: must not be empty")
    if follow_up_until is None and exposure_date is not None:
        follow_up_until = exposure_date + dt.timedelta(days=14)
    repo = PagesRepository(store.engine)
    contact_id = repo.add_contact(
        investigation_id,
        {
            "label": label,
            "case_key": (case_key or "").strip() or None,
            "exposure_date": exposure_date.isoformat() if exposure_date else None,
            "follow_up_until": follow_up_until.isoformat() if follow_up_until else None,
            "follow_up_status": _status(follow_up_status),
            "created_at": now.isoformat(timespec="seconds"),
            "actor": actor,
        },
    )
    return _contact(repo.contact(contact_id) or {}, now.date())


def set_follow_up(store: Store, contact_id: int, status: str, *, now: dt.datetime) -> Contact:
    """Record a follow-up of the contact: its new status, contacted today."""
    repo = PagesRepository(store.engine)
    if not repo.update_contact(
        contact_id,
        {"follow_up_status": _status(status), "last_contacted": now.date().isoformat()},
    ):
        raise wf.UnknownItemError(f"no contact {contact_id}")
    return _contact(repo.contact(contact_id) or {}, now.date())


class Workspace(BaseModel):
    investigation: Investigation
    alerts: list[Alert]
    cases: list[LineListRow]
    case_page: Page
    contacts: list[Contact]
    contact_page: Page
    follow_up: dict[str, int]
    open_tasks: int


def _cases(store: Store, alert_ids: list[str]) -> pd.DataFrame:
    frames = [alert_line_list(store, a) for a in alert_ids]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True).drop_duplicates(subset="id")
    frame = frame.reset_index(drop=True)
    # the line list's own order (date, then residence), so pages cut it where it shows
    order = pd.DataFrame(
        {
            "d": frame["visit_date"].astype(str),
            "r": frame["residence_region"].fillna("").astype(str),
            "i": frame["id"],
        }
    )
    return frame.iloc[order.sort_values(["d", "r", "i"], kind="stable").index]


def workspace(
    store: Store,
    investigation_id: int,
    *,
    now: dt.datetime,
    cases: Paging = Paging(limit=100),
    contacts: Paging = Paging(limit=50),
) -> Workspace:
    """Everything the investigation page shows but the transmission graph: its alerts, one page
    of the cases of its alerts (oldest first), one page of contacts, tasks and hypotheses."""
    inv = wf.investigation(store, investigation_id, now=now)
    alerts = _alerts_by_id(store, inv.alert_ids)
    frame = _cases(store, [a.id for a in alerts])
    total = len(frame)
    part = frame.iloc[cases.offset : cases.offset + cases.limit] if total else frame
    names = {r.id: r.name for r in store.regions()}
    places = {p.id: p.name for p in store.places()}
    rows = _line_list_rows(part, names, places) if total else []
    repo = PagesRepository(store.engine)
    contact_rows, n_contacts, counts = repo.contact_page(
        investigation_id, offset=contacts.offset, limit=contacts.limit
    )
    return Workspace(
        investigation=inv,
        alerts=alerts,
        cases=rows,
        case_page=_page(cases, total),
        contacts=[_contact(r, now.date()) for r in contact_rows],
        contact_page=_page(contacts, n_contacts),
        follow_up=counts,
        open_tasks=sum(1 for t in inv.tasks if t.status == "open"),
    )


def complete_task(
    store: Store, task_id: int, *, actor: str, now: dt.datetime, done_items: list[str]
) -> Task:
    """Tick ``done_items`` of the task's checklist and mark it done (every item must be)."""
    task = wf.task(store, task_id, now=now)
    checklist = [
        {"item": str(i.item), "done": i.done or str(i.item) in done_items} for i in task.checklist
    ]
    return wf.update_task(store, task_id, actor=actor, now=now, checklist=checklist, status="done")


# ---------------------------------------------------------------------------------------------
# timeliness


class TimelinessDashboard(BaseModel):
    report: wf.TimelinessReport
    rows: list[wf.TimelinessRow]
    page: Page


def timeliness_dashboard(
    store: Store,
    settings: Settings,
    *,
    start: dt.date,
    end: dt.date,
    period: Literal["week", "month"],
    now: dt.datetime,
    paging: Paging = Paging(),
) -> TimelinessDashboard:
    """The 7-1-7 report per district and period, one page of its rows (overdue rows first)."""
    report = wf.timeliness_report(
        store, settings.workflow, start=start, end=end, period=period, now=now
    )
    rows = sorted(
        report.rows,
        key=lambda r: (-(r.notify_overdue + r.respond_overdue), r.period, r.district),
    )
    return TimelinessDashboard(
        report=report,
        rows=rows[paging.offset : paging.offset + paging.limit],
        page=_page(paging, len(rows)),
    )
