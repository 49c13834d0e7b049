"""Server-rendered pages (Jinja2) and the htmx fragments they reload."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from epiradar.config import Settings
from epiradar.model import AlertStatus, Severity, Syndrome
from epiradar.service import pages as work
from epiradar.service import views
from epiradar.store import Store
from epiradar.web import figures
from epiradar.web.auth import scoped_alerts, scoped_facility
from epiradar.web.deps import get_settings, get_store
from epiradar.web.templating import templates

router = APIRouter(include_in_schema=False)
E = TypeVar("E", bound=StrEnum)

LINE_LIST_LIMIT = 500
"""Rows of the line list shown on the alert page (the JSON API has all of them)."""
SOURCES_SHOWN = 10
"""Candidate sources shown before "Show all"."""
SITES_SHOWN = 10
"""Candidate sites listed beside their map."""
ORIGINS_SHOWN = 10
"""Candidate origin regions listed."""

StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _syndrome_param(value: str | None) -> str:
    value = value or views.ALL_VISITS
    if value != views.ALL_VISITS and value not in {s.value for s in Syndrome}:
        raise HTTPException(status_code=422, detail=f"unknown syndrome {value!r}")
    return value


def _render(request: Request, name: str, context: dict[str, Any], **kwargs: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, **kwargs)


@router.get("/", response_class=HTMLResponse)
def overview_page(
    request: Request, store: StoreDep, settings: SettingsDep, syndrome: str | None = None
) -> HTMLResponse:
    data = views.overview(store, settings, syndrome=_syndrome_param(syndrome))
    data.open_alerts = scoped_alerts(request, data.open_alerts, lambda r: r.alert)
    focus = data.syndrome if data.syndrome != views.ALL_VISITS else None
    return _render(
        request,
        "overview.html",
        {
            "page": "overview",
            "data": data,
            "map_figure": figures.region_map(data.regions, syndrome_focus=focus),
            "curve_figure": figures.epicurve(data.epicurve) if data.epicurve else None,
            "levels": figures.LEVEL_COLOURS,
            "level_labels": figures.LEVEL_LABELS,
        },
    )


@router.get("/partials/epicurve", response_class=HTMLResponse)
def epicurve_partial(
    request: Request, store: StoreDep, syndrome: str | None = None
) -> HTMLResponse:
    series = views.count_series(store, syndrome=_syndrome_param(syndrome))
    return _render(
        request,
        "partials/epicurve.html",
        {
            "series": series,
            "curve_figure": figures.epicurve(series),
        },
    )


def _choice(enum: type[E], name: str, value: str | None) -> E | None:
    """An optional enum query parameter; empty means no filter (forms send empty selects)."""
    if not value:
        return None
    try:
        return enum(value)
    except ValueError:
        raise HTTPException(status_code=422, detail=f"unknown {name} {value!r}") from None


def _alert_filters(
    syndrome: Syndrome | None, status: AlertStatus | None, severity: Severity | None
) -> dict[str, str]:
    given = {"syndrome": syndrome, "status": status, "severity": severity}
    return {k: v.value for k, v in given.items() if v is not None}


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    store: StoreDep,
    syndrome: str | None = None,
    status: str | None = None,
    severity: str | None = None,
    sort: str = "first_alarm_date",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> HTMLResponse:
    if sort not in views.ALERT_SORT_KEYS:
        raise HTTPException(status_code=422, detail=f"cannot sort alerts by {sort!r}")
    syndrome_f = _choice(Syndrome, "syndrome", syndrome)
    status_f = _choice(AlertStatus, "status", status)
    severity_f = _choice(Severity, "severity", severity)
    rows, paged = work.alert_page(  # sorted, filtered and paged in the database
        store,
        syndrome=syndrome_f.value if syndrome_f else None,
        status=status_f.value if status_f else None,
        severity=severity_f.value if severity_f else None,
        sort=sort,
        descending=order == "desc",
        paging=work.Paging(page, limit),
        visible=lambda keys: scoped_alerts(request, keys),
    )
    filters = _alert_filters(syndrome_f, status_f, severity_f)
    context = {
        "page": "alerts",
        "rows": rows,
        "paged": paged,
        "q": lambda **kw: "?" + urlencode({**request.query_params, **kw}),
        "filters": filters,
        "sort": sort,
        "order": order,
        "filter_query": urlencode(filters),
        "syndromes": list(Syndrome),
        "statuses": list(AlertStatus),
        "severities": list(Severity),
    }
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "alert-table":
        return _render(request, "partials/alert_table.html", context)
    return _render(request, "alerts.html", context)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(
    request: Request, store: StoreDep, settings: SettingsDep, alert_id: str
) -> HTMLResponse:
    try:
        data = views.alert_detail(store, settings, alert_id)
    except views.UnknownAlertError as exc:
        raise HTTPException(status_code=404, detail=str(exc.args[0])) from None
    alert = data.alert
    trace = data.trace
    return _render(
        request,
        "alert_detail.html",
        {
            "page": "alerts",
            "data": data,
            "alert": alert,
            "map_figure": figures.region_map(
                data.regions,
                highlight_only=True,
                cluster=alert.cluster_region_ids,
                sources=data.sources,
                syndrome_focus=alert.syndrome.value,
                height=400,
            ),
            "curve_figure": figures.epicurve(
                data.epicurve,
                window=(alert.start_date, alert.end_date),
                first_alarm=alert.first_alarm_date,
            ),
            "line_list_limit": LINE_LIST_LIMIT,
            "sources_shown": SOURCES_SHOWN,
            "site_figure": figures.site_map(data.regions, trace.sites)
            if trace.sites.done
            else None,
            "chain_figure": figures.transmission_graph(trace.chains) if trace.chains.done else None,
            "rt_figure": figures.rt_curve(trace.rt, window=(alert.start_date, alert.end_date))
            if trace.rt.done
            else None,
            "origins_shown": ORIGINS_SHOWN,
            "sites_shown": SITES_SHOWN,
        },
    )


@router.get("/quarantine", response_class=HTMLResponse)
def quarantine_page(
    request: Request, store: StoreDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 200
) -> HTMLResponse:
    return _render(
        request,
        "quarantine.html",
        {
            "page": "quarantine",
            "rows": views.quarantine(store, limit, facility_id=scoped_facility(request, None)),
            "limit": limit,
        },
    )
