"""The alert workflow's JSON API: transitions, timeline, snooze and mute, work queue,
investigations with hypotheses and tasks, and the timeliness report. Thin wrappers over
``epiradar.service.workflow``; who acts is the authenticated caller (web/auth.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse
from jinja2 import pass_context
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from epiradar.config import Settings
from epiradar.model.workflow import (
    TRANSITIONS,
    AlertWorkflow,
    ChecklistItem,
    ChecklistKind,
    Hypothesis,
    IllegalTransitionError,
    Investigation,
    Level,
    Mute,
    Outcome,
    Task,
    TimelineEntry,
    TransitionRequest,
    WorkflowError,
)
from epiradar.service import pages
from epiradar.service import workflow as wf
from epiradar.store import Store
from epiradar.web.auth import scoped_alerts, scoped_investigations, scoped_tasks
from epiradar.web.deps import get_settings, get_store
from epiradar.web.templating import templates

router = APIRouter(prefix="/api", tags=["workflow"])

ACTOR_HEADER = "X-Epiradar-Actor"
DEFAULT_ACTOR = "anonymous"


def get_actor(request: Request) -> str:
    """Who acts: the authenticated caller (web/auth.py sets it for every request)."""
    return getattr(request.state, "actor", None) or DEFAULT_ACTOR


def get_now(request: Request) -> dt.datetime:
    """The clock: ``app.state.clock()`` when the app was given one, else local time."""
    clock: Callable[[], dt.datetime] | None = getattr(request.app.state, "clock", None)
    return (clock() if clock else dt.datetime.now()).replace(microsecond=0)


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ActorDep = Annotated[str, Depends(get_actor)]
NowDep = Annotated[dt.datetime, Depends(get_now)]


@contextmanager
def _errors() -> Iterator[None]:
    """Service errors as HTTP errors: unknown ids 404, illegal or stale moves 409, bad or
    missing fields 422; the message names the field or transition."""
    try:
        yield
    except LookupError as exc:
        raise HTTPException(404, str(exc.args[0]) if exc.args else str(exc)) from None
    except (IllegalTransitionError, wf.ConflictError) as exc:
        raise HTTPException(409, str(exc)) from None
    except WorkflowError as exc:
        raise HTTPException(422, str(exc)) from None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TransitionBody(TransitionRequest):
    model_config = ConfigDict(extra="forbid")


class SnoozeBody(_Body):
    until: dt.datetime = Field(description="local time the alert comes back")
    reason: str | None = None


class MuteBody(_Body):
    until: dt.datetime = Field(description="local time the mute expires")
    reason: str = Field(description="the known ongoing event")


class InvestigationBody(_Body):
    title: str
    alert_ids: list[str] = []
    line_list_ref: str | None = None


class InvestigationPatch(_Body):
    title: str | None = None
    status: Literal["open", "closed"] | None = None
    line_list_ref: str | None = None


class LinkBody(_Body):
    alert_id: str


class HypothesisBody(_Body):
    kind: Literal["source", "origin", "route", "other"]
    subject: str = Field(description="what is suspected, e.g. a place id")
    description: str | None = None
    evidence: dict[str, Any] = Field({}, description="e.g. the trace analysis's row")
    status: Literal["open", "supported", "rejected"] = "open"


class HypothesisPatch(_Body):
    status: Literal["open", "supported", "rejected"]


class TaskBody(_Body):
    title: str
    assignee: str | None = None
    due_date: dt.date | None = None
    checklist: list[ChecklistKind | ChecklistItem] = []


class TaskPatch(_Body):
    title: str | None = None
    assignee: str | None = None
    due_date: dt.date | None = None
    checklist: list[ChecklistKind | ChecklistItem] | None = None
    status: Literal["open", "done"] | None = None


def _checklist(items: list[Any] | None) -> list[Any] | None:
    if items is None:
        return None
    return [i.model_dump(mode="json") if isinstance(i, BaseModel) else str(i) for i in items]


# ---------------------------------------------------------------------------------------------
# alerts


@router.get(
    "/alerts/{alert_id}/workflow",
    response_model=wf.AlertWorkflowView,
    summary="The alert's workflow state, legal next states, 7-1-7 timers and investigations",
)
def alert_workflow(
    store: StoreDep, settings: SettingsDep, now: NowDep, alert_id: str
) -> wf.AlertWorkflowView:
    with _errors():
        return wf.alert_workflow_view(store, alert_id, settings.workflow, now=now)


@router.post(
    "/alerts/{alert_id}/transition",
    response_model=AlertWorkflow,
    summary="Move the alert to another state with the fields the move requires",
)
def alert_transition(
    store: StoreDep, actor: ActorDep, now: NowDep, alert_id: str, body: TransitionBody
) -> AlertWorkflow:
    with _errors():
        return wf.transition(
            store, alert_id, TransitionRequest(**body.model_dump()), actor=actor, now=now
        )


@router.get(
    "/alerts/{alert_id}/timeline",
    response_model=list[TimelineEntry],
    summary="Every action on the alert and its investigations, oldest first",
)
def alert_timeline(store: StoreDep, alert_id: str) -> list[TimelineEntry]:
    with _errors():
        return wf.timeline(store, alert_id)


@router.post(
    "/alerts/{alert_id}/snooze",
    response_model=AlertWorkflow,
    summary="Take the alert out of the work queue until a time",
)
def alert_snooze(
    store: StoreDep,
    settings: SettingsDep,
    actor: ActorDep,
    now: NowDep,
    alert_id: str,
    body: SnoozeBody,
) -> AlertWorkflow:
    with _errors():
        return wf.snooze(
            store,
            alert_id,
            body.until,
            actor=actor,
            reason=body.reason,
            now=now,
            settings=settings.workflow,
        )


@router.delete(
    "/alerts/{alert_id}/snooze", response_model=AlertWorkflow, summary="End the alert's snooze"
)
def alert_wake(store: StoreDep, actor: ActorDep, now: NowDep, alert_id: str) -> AlertWorkflow:
    with _errors():
        return wf.wake(store, alert_id, actor=actor, now=now)


@router.post(
    "/alerts/{alert_id}/mute",
    response_model=Mute,
    summary="Mute the known ongoing event of the alert (its syndrome in its regions) until a time",
)
def alert_mute(
    store: StoreDep,
    settings: SettingsDep,
    actor: ActorDep,
    now: NowDep,
    alert_id: str,
    body: MuteBody,
) -> Mute:
    with _errors():
        return wf.mute(
            store,
            alert_id,
            body.until,
            body.reason,
            actor=actor,
            now=now,
            settings=settings.workflow,
        )


@router.get("/mutes", response_model=list[Mute], summary="Mutes, newest first")
def list_mutes(
    store: StoreDep,
    now: NowDep,
    active: Annotated[bool, Query(description="only those in force now")] = False,
) -> list[Mute]:
    return wf.mutes(store, active_at=now if active else None)


@router.delete("/mutes/{mute_id}", status_code=204, summary="Lift a mute")
def lift_mute(store: StoreDep, actor: ActorDep, now: NowDep, mute_id: int) -> Response:
    with _errors():
        wf.lift_mute(store, mute_id, actor=actor, now=now)
    return Response(status_code=204)


_PageNo = Annotated[int, Query(ge=1, le=1_000_000, description="1-based page")]
_Limit = Annotated[int, Query(ge=1, le=pages.MAX_LIMIT, description="rows per page")]


@router.get(
    "/queue",
    response_model=pages.QueuePage,
    summary="The work queue, one page: open alerts (overdue first, then by rank, as the "
    "work-queue page) and open tasks (earliest due first), with their totals",
)
def work_queue(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    now: NowDep,
    include_hidden: Annotated[bool, Query(description="also snoozed and muted alerts")] = False,
    assignee: Annotated[str | None, Query(description="only this person's tasks")] = None,
    page: _PageNo = 1,
    limit: _Limit = 50,
    task_page: _PageNo = 1,
    task_limit: _Limit = 50,
) -> pages.QueuePage:
    queue = pages.work_queue(
        store,
        settings.workflow,
        actor=assignee or "",
        now=now,
        alerts=pages.Paging(page, limit),
        tasks=pages.Paging(task_page, task_limit),
        include_hidden=include_hidden,
        mine_only=assignee is not None,
        visible=lambda keys: scoped_alerts(request, keys),
    )
    shown = {id(t) for t in scoped_tasks(request, store, [q.task for q in queue.tasks])}
    return queue.model_copy(update={"tasks": [q for q in queue.tasks if id(q.task) in shown]})


@router.get(
    "/timeliness",
    response_model=wf.TimelinessReport,
    summary="Alerts against 7-1-7 per district and per week or month",
)
def timeliness(
    store: StoreDep,
    settings: SettingsDep,
    now: NowDep,
    start: dt.date,
    end: dt.date,
    period: Literal["week", "month"] = "month",
) -> wf.TimelinessReport:
    with _errors():
        return wf.timeliness_report(
            store, settings.workflow, start=start, end=end, period=period, now=now
        )


# ---------------------------------------------------------------------------------------------
# investigations


@router.post(
    "/investigations",
    response_model=Investigation,
    status_code=201,
    summary="Open an investigation",
)
def create_investigation(
    store: StoreDep, actor: ActorDep, now: NowDep, body: InvestigationBody
) -> Investigation:
    with _errors():
        return wf.create_investigation(
            store,
            body.title,
            actor=actor,
            alert_ids=body.alert_ids,
            line_list_ref=body.line_list_ref,
            now=now,
        )


@router.get("/investigations", response_model=list[Investigation], summary="Investigations")
def list_investigations(
    request: Request,
    store: StoreDep,
    status: Literal["open", "closed"] | None = None,
    alert_id: str | None = None,
) -> list[Investigation]:
    with _errors():
        found = wf.investigations(store, status=status, alert_id=alert_id)
    return scoped_investigations(request, store, found)


@router.get(
    "/investigations/{investigation_id}",
    response_model=Investigation,
    summary="An investigation with its alerts, hypotheses and tasks",
)
def get_investigation(store: StoreDep, now: NowDep, investigation_id: int) -> Investigation:
    with _errors():
        return wf.investigation(store, investigation_id, now=now)


@router.patch(
    "/investigations/{investigation_id}",
    response_model=Investigation,
    summary="Rename, close or reopen an investigation, or set its line list reference",
)
def patch_investigation(
    store: StoreDep, actor: ActorDep, now: NowDep, investigation_id: int, body: InvestigationPatch
) -> Investigation:
    with _errors():
        return wf.update_investigation(
            store, investigation_id, actor=actor, now=now, **body.model_dump(exclude_unset=True)
        )


@router.post(
    "/investigations/{investigation_id}/alerts",
    response_model=Investigation,
    summary="Group an alert into the investigation",
)
def link_alert(
    store: StoreDep, actor: ActorDep, now: NowDep, investigation_id: int, body: LinkBody
) -> Investigation:
    with _errors():
        return wf.link_alert(store, investigation_id, body.alert_id, actor=actor, now=now)


@router.get(
    "/investigations/{investigation_id}/timeline",
    response_model=list[TimelineEntry],
    summary="Every action on the investigation, oldest first",
)
def investigation_timeline(store: StoreDep, investigation_id: int) -> list[TimelineEntry]:
    with _errors():
        return wf.investigation_timeline(store, investigation_id)


@router.post(
    "/investigations/{investigation_id}/hypotheses",
    response_model=Hypothesis,
    status_code=201,
    summary="Add a hypothesis (e.g. a source from the trace analysis, with its evidence)",
)
def add_hypothesis(
    store: StoreDep, actor: ActorDep, now: NowDep, investigation_id: int, body: HypothesisBody
) -> Hypothesis:
    with _errors():
        return wf.add_hypothesis(store, investigation_id, actor=actor, now=now, **body.model_dump())


class SourceBody(_Body):
    alert_id: str = Field(description="one of the investigation's alerts")
    place_id: str | None = Field(None, description="a candidate place (default: the best)")


@router.post(
    "/investigations/{investigation_id}/hypotheses/from-trace",
    response_model=Hypothesis,
    status_code=201,
    summary="File a candidate source of one of the investigation's alerts as the trace "
    "analysis ranks it, with its figures as evidence",
)
def add_source_hypothesis(
    store: StoreDep,
    settings: SettingsDep,
    actor: ActorDep,
    now: NowDep,
    investigation_id: int,
    body: SourceBody,
) -> Hypothesis:
    with _errors():
        return wf.add_source_hypothesis(
            store,
            settings,
            investigation_id,
            body.alert_id,
            place_id=body.place_id,
            actor=actor,
            now=now,
        )


@router.patch(
    "/hypotheses/{hypothesis_id}",
    response_model=Hypothesis,
    summary="Support or reject a hypothesis",
)
def patch_hypothesis(
    store: StoreDep, actor: ActorDep, now: NowDep, hypothesis_id: int, body: HypothesisPatch
) -> Hypothesis:
    with _errors():
        return wf.set_hypothesis_status(store, hypothesis_id, body.status, actor=actor, now=now)


# ---------------------------------------------------------------------------------------------
# tasks


@router.post(
    "/investigations/{investigation_id}/tasks",
    response_model=Task,
    status_code=201,
    summary="Add a task to the investigation",
)
def add_task(
    store: StoreDep, actor: ActorDep, now: NowDep, investigation_id: int, body: TaskBody
) -> Task:
    with _errors():
        return wf.add_task(
            store,
            investigation_id,
            title=body.title,
            assignee=body.assignee,
            due_date=body.due_date,
            checklist=_checklist(body.checklist),
            actor=actor,
            now=now,
        )


@router.get("/tasks", response_model=list[Task], summary="Tasks, earliest due first")
def list_tasks(
    request: Request,
    store: StoreDep,
    now: NowDep,
    status: Literal["open", "done"] | None = None,
    assignee: str | None = None,
) -> list[Task]:
    return scoped_tasks(request, store, wf.tasks(store, status=status, assignee=assignee, now=now))


@router.get("/tasks/{task_id}", response_model=Task, summary="One task")
def get_task(store: StoreDep, now: NowDep, task_id: int) -> Task:
    with _errors():
        return wf.task(store, task_id, now=now)


@router.patch(
    "/tasks/{task_id}",
    response_model=Task,
    summary="Change a task: title, assignee, due date, checklist, status (done needs every "
    "checklist item done)",
)
def patch_task(
    store: StoreDep, actor: ActorDep, now: NowDep, task_id: int, body: TaskPatch
) -> Task:
    given = body.model_dump(exclude_unset=True)
    if "checklist" in given:
        given["checklist"] = _checklist(body.checklist)
    with _errors():
        return wf.update_task(store, task_id, actor=actor, now=now, **given)


@router.delete("/tasks/{task_id}", status_code=204, summary="Delete a task")
def delete_task(store: StoreDep, actor: ActorDep, now: NowDep, task_id: int) -> Response:
    with _errors():
        wf.delete_task(store, task_id, actor=actor, now=now)
    return Response(status_code=204)


# ---------------------------------------------------------------------------------------------
# the alert page's workflow panel and its form

pages_router = APIRouter(include_in_schema=False)

_FORM_FIELDS = (
    "to",
    "verification_note",
    "likelihood",
    "impact",
    "closure_reason",
    "outcome",
    "note",
)


@pass_context
def workflow_panel(context: dict[str, Any], alert_id: str) -> dict[str, Any]:
    """What ``partials/workflow.html`` shows for the alert: state, timers, moves, timeline."""
    request: Request = context["request"]
    store: Store = request.app.state.store
    settings: Settings = request.app.state.settings
    now = get_now(request)
    view = wf.alert_workflow_view(store, alert_id, settings.workflow, now=now)
    flow = view.workflow
    return {
        "workflow": flow,
        "timers": view.timers,
        "timeline": wf.timeline(store, alert_id),
        "now": now,
        "targets": settings.workflow,
        "required": {
            str(to): list(need) for (frm, to), need in TRANSITIONS.items() if frm == flow.status
        },
        "levels": [lv.value for lv in Level],
        "outcomes": [o.value for o in Outcome],
        "error": request.query_params.get("workflow_error"),
    }


templates.env.globals["workflow_panel"] = workflow_panel


@pages_router.post("/alerts/{alert_id}/transition")
async def alert_transition_form(
    request: Request, store: StoreDep, actor: ActorDep, now: NowDep, alert_id: str
) -> RedirectResponse:
    """The alert page's form: apply the move and return to the page (with the error, if any)."""
    raw = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    given = {k: raw[k][0].strip() for k in _FORM_FIELDS if raw.get(k) and raw[k][0].strip()}
    target = f"/alerts/{quote(alert_id)}"
    try:
        with _errors():
            try:
                req = TransitionRequest(**given)
            except ValidationError as exc:
                raise WorkflowError(
                    "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                ) from None
            wf.transition(store, alert_id, req, actor=actor, now=now)
    except HTTPException as exc:
        if exc.status_code == 404:
            raise
        return RedirectResponse(
            f"{target}?{urlencode({'workflow_error': exc.detail})}#workflow", status_code=303
        )
    return RedirectResponse(f"{target}#workflow", status_code=303)
