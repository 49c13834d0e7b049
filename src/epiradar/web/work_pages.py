"""The closed loop's pages: work queue, investigations and their workspace, timeliness
dashboard, and the forms they post. Who acts comes from :func:`current_actor`, the one place
to switch when accounts arrive."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from epiradar.config import Settings
from epiradar.model.workflow import ChecklistKind, WorkflowError
from epiradar.service import pages as svc
from epiradar.service import workflow as wf
from epiradar.service.tracing import trace_alert
from epiradar.store import Store
from epiradar.web import figures, i18n
from epiradar.web.auth import scoped_alerts
from epiradar.web.deps import get_settings, get_store, local_path
from epiradar.web.templating import templates
from epiradar.web.workflow import DEFAULT_ACTOR, _errors, get_now

router = APIRouter(include_in_schema=False)

StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
NowDep = Annotated[dt.datetime, Depends(get_now)]
PageNo = Annotated[int, Query(ge=1, le=1_000_000, description="1-based page")]
Limit = Annotated[int, Query(ge=1, le=svc.MAX_LIMIT, description="rows per page")]


def current_actor(request: Request) -> str:
    """Who is acting: the authenticated caller (set by web/auth.py for every request)."""
    return getattr(request.state, "actor", None) or DEFAULT_ACTOR


def _render(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context)


def _query(request: Request, **changes: Any) -> str:
    """The current query string with ``changes`` applied (for pager links)."""
    params = dict(request.query_params)
    params.update({k: str(v) for k, v in changes.items()})
    return "?" + urlencode(params)


async def _form(request: Request) -> dict[str, list[str]]:
    return parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)


def _one(form: dict[str, list[str]], name: str) -> str | None:
    value = (form.get(name) or [""])[0].strip()
    return value or None


def _date(form: dict[str, list[str]], name: str) -> dt.date | None:
    value = _one(form, name)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise WorkflowError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def _back(target: str, error: str | None = None) -> RedirectResponse:
    if error:
        sep = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{sep}{urlencode({'error': error})}", status_code=303)
    return RedirectResponse(target, status_code=303)


def _submit(action: Callable[[], object], back: str, done: str) -> RedirectResponse:
    """Run a form's ``action``, then go to ``done``; refused input goes ``back`` with the
    reason, an unknown object stays a 404."""
    try:
        with _errors():
            action()
    except HTTPException as exc:
        if exc.status_code == 404:
            raise
        return _back(back, str(exc.detail))
    return _back(done)


# ---------------------------------------------------------------------------------------------
# pages


@router.get("/queue", response_class=HTMLResponse)
def queue_page(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    now: NowDep,
    page: PageNo = 1,
    limit: Limit = 25,
    task_page: PageNo = 1,
    task_limit: Limit = 25,
    hidden: bool = False,
    everyone: bool = False,
) -> HTMLResponse:
    actor = current_actor(request)
    data = svc.work_queue(
        store,
        settings.workflow,
        actor=actor,
        now=now,
        alerts=svc.Paging(page, limit),
        tasks=svc.Paging(task_page, task_limit),
        include_hidden=hidden,
        mine_only=not everyone,
        visible=lambda keys: scoped_alerts(request, keys),  # a district sees its own alerts
    )
    return _render(
        request,
        "queue.html",
        {
            "page": "queue",
            "data": data,
            "q": lambda **kw: _query(request, **kw),
            "show_hidden": hidden,
            "everyone": everyone,
        },
    )


@router.get("/investigations", response_class=HTMLResponse)
def investigations_page(
    request: Request,
    store: StoreDep,
    status: Literal["open", "closed"] | None = None,
    page: PageNo = 1,
    limit: Limit = 50,
) -> HTMLResponse:
    data = svc.investigation_list(store, status=status, paging=svc.Paging(page, limit))
    return _render(
        request,
        "investigations.html",
        {
            "page": "investigations",
            "data": data,
            "q": lambda **kw: _query(request, **kw),
            "alert_id": request.query_params.get("alert_id", ""),
            "error": request.query_params.get("error"),
        },
    )


@router.get("/investigations/{investigation_id}", response_class=HTMLResponse)
def investigation_page(
    request: Request,
    store: StoreDep,
    now: NowDep,
    investigation_id: int,
    case_page: PageNo = 1,
    case_limit: Limit = 100,
    contact_page: PageNo = 1,
    contact_limit: Limit = 50,
) -> HTMLResponse:
    with _errors():
        data = svc.workspace(
            store,
            investigation_id,
            now=now,
            cases=svc.Paging(case_page, case_limit),
            contacts=svc.Paging(contact_page, contact_limit),
        )
    return _render(
        request,
        "investigation.html",
        {
            "page": "investigations",
            "data": data,
            "inv": data.investigation,
            "q": lambda **kw: _query(request, **kw),
            "checklist_kinds": [k.value for k in ChecklistKind],
            "follow_up_statuses": svc.FOLLOW_UP_STATUSES,
            "error": request.query_params.get("error"),
            "actor": current_actor(request),
            "today": now.date(),
        },
    )


@router.get("/investigations/{investigation_id}/graph", response_class=HTMLResponse)
def investigation_graph(
    request: Request, store: StoreDep, settings: SettingsDep, now: NowDep, investigation_id: int
) -> HTMLResponse:
    """The transmission graph of each of the investigation's alerts (htmx, after the page)."""
    with _errors():
        inv = wf.investigation(store, investigation_id, now=now)
    graphs = []
    for alert_id in inv.alert_ids:
        chains = trace_alert(store, alert_id, settings).chains
        graphs.append(
            {
                "alert_id": alert_id,
                "chains": chains,
                "figure": figures.transmission_graph(chains) if chains.done else None,
            }
        )
    return _render(request, "partials/transmission.html", {"graphs": graphs})


@router.get("/timeliness", response_class=HTMLResponse)
def timeliness_page(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    now: NowDep,
    start: dt.date | None = None,
    end: dt.date | None = None,
    period: Literal["week", "month"] = "month",
    page: PageNo = 1,
    limit: Limit = 50,
) -> HTMLResponse:
    end = end or now.date()
    start = start or (end - dt.timedelta(days=180))
    with _errors():
        data = svc.timeliness_dashboard(
            store,
            settings,
            start=start,
            end=end,
            period=period,
            now=now,
            paging=svc.Paging(page, limit),
        )
    return _render(
        request,
        "timeliness.html",
        {
            "page": "timeliness",
            "data": data,
            "report": data.report,
            "figure": figures_timeliness(data.report),
            "q": lambda **kw: _query(request, **kw),
        },
    )


def figures_timeliness(report: wf.TimelinessReport) -> dict[str, Any]:
    """Per period, the alerts whose notification and response met the target, came late, or
    are overdue (stacked bars, city-wide total)."""
    by_period: dict[str, dict[str, int]] = {}
    for r in report.rows:
        acc = by_period.setdefault(r.period, {"met": 0, "late": 0, "overdue": 0, "pending": 0})
        acc["met"] += r.respond_met
        acc["late"] += r.respond_late
        acc["overdue"] += r.respond_overdue + r.notify_overdue
        acc["pending"] += r.respond_pending
    periods = sorted(by_period)
    colours = {"met": "#2e7d32", "late": "#f9a825", "overdue": "#c62828", "pending": "#90a4ae"}
    data = [
        {
            "type": "bar",
            "name": i18n.tr(name),  # met, late, overdue, pending (web/vocabulary.py)
            "x": periods,
            "y": [by_period[p][name] for p in periods],
            "marker": {"color": colour},
        }
        for name, colour in colours.items()
    ]
    return {
        "data": data,
        "layout": {
            "barmode": "stack",
            "height": 320,
            "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
            "legend": {"orientation": "h"},
            "yaxis": {"title": {"text": i18n.gettext("alerts (response, overdue: any interval)")}},
        },
        "config": {"displaylogo": False, "responsive": True},
    }


# ---------------------------------------------------------------------------------------------
# forms


@router.post("/investigations")
async def create_investigation_form(
    request: Request, store: StoreDep, now: NowDep
) -> RedirectResponse:
    form = await _form(request)
    alert_id = _one(form, "alert_id")
    try:
        with _errors():
            inv = wf.create_investigation(
                store,
                _one(form, "title") or "",
                actor=current_actor(request),
                alert_ids=[alert_id] if alert_id else [],
                now=now,
            )
    except HTTPException as exc:
        return _back("/investigations", str(exc.detail))
    return _back(f"/investigations/{inv.id}")


@router.post("/investigations/{investigation_id}/tasks")
async def add_task_form(
    request: Request, store: StoreDep, now: NowDep, investigation_id: int
) -> RedirectResponse:
    form = await _form(request)
    target = f"/investigations/{investigation_id}"
    return _submit(
        lambda: wf.add_task(
            store,
            investigation_id,
            title=_one(form, "title") or "",
            assignee=_one(form, "assignee"),
            due_date=_date(form, "due_date"),
            checklist=[c for c in form.get("checklist", []) if c],
            actor=current_actor(request),
            now=now,
        ),
        target,
        f"{target}#tasks",
    )


@router.post("/tasks/{task_id}/complete")
async def complete_task_form(
    request: Request, store: StoreDep, now: NowDep, task_id: int
) -> RedirectResponse:
    form = await _form(request)
    back = local_path(_one(form, "back"), "/queue")
    return _submit(
        lambda: svc.complete_task(
            store,
            task_id,
            actor=current_actor(request),
            now=now,
            done_items=[c for c in form.get("done", []) if c],
        ),
        back,
        back,
    )


@router.post("/investigations/{investigation_id}/contacts")
async def add_contact_form(
    request: Request, store: StoreDep, now: NowDep, investigation_id: int
) -> RedirectResponse:
    form = await _form(request)
    target = f"/investigations/{investigation_id}"
    return _submit(
        lambda: svc.add_contact(
            store,
            investigation_id,
            label=_one(form, "label") or "",
            case_key=_one(form, "case_key"),
            exposure_date=_date(form, "exposure_date"),
            follow_up_until=_date(form, "follow_up_until"),
            follow_up_status=_one(form, "follow_up_status") or "pending",
            actor=current_actor(request),
            now=now,
        ),
        target,
        f"{target}#contacts",
    )


@router.post("/contacts/{contact_id}/follow-up")
async def follow_up_form(
    request: Request, store: StoreDep, now: NowDep, contact_id: int
) -> RedirectResponse:
    form = await _form(request)
    with _errors():
        contact = svc.set_follow_up(store, contact_id, _one(form, "status") or "", now=now)
    return _back(f"/investigations/{quote(str(contact.investigation_id))}#contacts")
