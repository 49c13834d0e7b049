"""Facility capacity: reports, the capacity map, demand forecast and where a patient should go (docs/capacity.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from epiradar.config import Settings
from epiradar.model import Syndrome
from epiradar.service import capacity as service
from epiradar.store import Store
from epiradar.web import figures, i18n
from epiradar.web.auth import current
from epiradar.web.deps import get_settings, get_store
from epiradar.web.i18n import N_, fmt_num, plot_date_formats, tr
from epiradar.web.i18n import gettext as _
from epiradar.web.templating import templates

router = APIRouter()

StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SyndromeQuery = Annotated[
    list[Syndrome] | None,
    Query(alias="syndrome", description="syndromes making the demand (repeat; default: settings)"),
]
HorizonQuery = Annotated[int | None, Query(ge=7, le=14, description="days to forecast (7-14)")]

FIELD_LABELS = {
    "facility_id": N_("Facility"),
    "reported_at": N_("Time of the counts"),
    "fever_clinic_rooms": N_("Open fever-clinic rooms"),
    "beds_total": N_("Beds, total"),
    "beds_free": N_("Beds, free"),
    "icu_total": N_("ICU beds, total"),
    "icu_free": N_("ICU beds, free"),
    "staff_on_duty": N_("Staff on duty"),
    "test_kits": N_("Test kits"),
}
REASON_LABELS = {
    "never": N_("never reported"),
    "stale": N_("report is stale"),
    "no_rooms": N_("no open fever-clinic room"),
    "full": N_("no free bed"),
}
STATUS_LABELS = {"fresh": N_("fresh"), "stale": N_("stale"), "never": N_("never reported")}
MARKER_COLOURS = {
    "available": "#2f8f4e",
    "limited": "#f0953a",
    "unavailable": "#d63c3c",
    "stale": "#8a94a6",
    "never": "#ffffff",
}
RATIO_BINS = [
    (0.5, "#cfe8d5", N_("below half")),
    (0.8, "#f7d774", N_("50-80%")),
    (1.0, "#f0953a", N_("80-100%")),
    (float("inf"), "#d63c3c", N_("over capacity")),
]
"""Forecast peak demand / capacity -> district fill, legend label."""
UNKNOWN_FILL = "#eef1f5"
BAND = "rgba(47, 95, 152, 0.22)"
CAPACITY_LINE = "#d63c3c"


# ---------------------------------------------------------------------------------------------
# JSON API


def _problems(exc: service.CapacityError) -> list[dict[str, str]]:
    return [{"field": p.field, "reason": p.reason} for p in exc.problems]


@router.post(
    "/api/capacity",
    status_code=201,
    tags=["api"],
    summary="Report a facility's capacity (a facility token or reporter: its own facility)",
)
def report_capacity(
    request: Request,
    store: StoreDep,
    payload: Annotated[dict[str, Any], Body(description="facility_id, reported_at, counts")],
) -> Any:
    try:
        return service.submit_report(store, payload, current(request), source="api")
    except service.CapacityError as exc:
        return JSONResponse({"detail": _problems(exc), "message": str(exc)}, status_code=422)
    except service.CapacityForbidden as exc:
        raise HTTPException(403, str(exc)) from None


@router.get(
    "/api/capacity",
    response_model=service.CapacityOverview,
    tags=["api"],
    summary="Latest capacity of every fever clinic and reporting facility, with stale flags",
)
def capacity_api(store: StoreDep, settings: SettingsDep) -> service.CapacityOverview:
    return service.capacity_overview(store, settings)


@router.get(
    "/api/capacity/forecast",
    response_model=service.CapacityForecast,
    tags=["api"],
    summary="Demand forecast per district (median, 90% band) against capacity, with warnings",
)
def forecast_api(
    store: StoreDep,
    settings: SettingsDep,
    syndrome: SyndromeQuery = None,
    horizon: HorizonQuery = None,
) -> service.CapacityForecast:
    return service.forecast_capacity(store, settings, syndromes=syndrome, horizon=horizon)


@router.get(
    "/api/open/clinics",
    response_model=service.NearestClinics,
    tags=["open data"],
    summary="Nearest fever clinics with capacity, by estimated travel distance (public)",
)
def open_clinics(
    store: StoreDep,
    settings: SettingsDep,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    region: Annotated[str | None, Query(description="a region id: from its centroid")] = None,
    limit: Annotated[int | None, Query(ge=1, le=50)] = None,
) -> service.NearestClinics:
    if region is None and (lat is None or lon is None):
        raise HTTPException(422, "give lat and lon, or region")
    try:
        return service.nearest_clinics(
            store, settings, lat=lat, lon=lon, region_id=region, limit=limit
        )
    except service.UnknownRegion as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


# ---------------------------------------------------------------------------------------------
# report form


def _form_values(report: dict[str, Any] | None) -> dict[str, str]:
    if not report:
        return {}
    return {k: "" if report.get(k) is None else str(report[k]) for k in service.REPORT_FIELDS}


def _render_form(
    request: Request,
    store: StoreDep,
    *,
    facility_id: str | None,
    values: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    facilities = service.reportable_facilities(store, current(request))
    ids = [f.id for f in facilities]
    chosen = facility_id if facility_id in ids else (ids[0] if ids else None)
    last = service.last_report(store, chosen) if chosen else None
    return templates.TemplateResponse(
        request,
        "capacity_report.html",
        {
            "page": "capacity",
            "facilities": facilities,
            "chosen": chosen,
            "last": last,
            "values": values if values is not None else _form_values(last),
            "errors": errors or [],
            "error_fields": {e["field"] for e in errors or []},
            "saved": saved,
            "fields": service.REPORT_FIELDS,
            "labels": FIELD_LABELS,
        },
        status_code=status_code,
    )


@router.get("/capacity/report", response_class=HTMLResponse, include_in_schema=False)
def report_form(
    request: Request,
    store: StoreDep,
    facility: str | None = None,
    saved: bool = False,
) -> HTMLResponse:
    return _render_form(request, store, facility_id=facility, saved=saved)


@router.post("/capacity/report", include_in_schema=False)
async def report_form_submit(request: Request, store: StoreDep) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    data: dict[str, Any] = {
        k: (form.get(k) or [""])[0].strip()
        for k in ("facility_id", "reported_at", *service.REPORT_FIELDS)
    }
    values = {k: v for k, v in data.items() if k != "facility_id"}
    try:
        saved = service.submit_report(store, data, current(request), source="form")
    except service.CapacityError as exc:
        errors = [
            {
                "field": e["field"],
                "reason": e["reason"],
                "label": tr(FIELD_LABELS.get(e["field"], e["field"])),
            }
            for e in _problems(exc)
        ]
        return _render_form(
            request,
            store,
            facility_id=data["facility_id"] or None,
            values=values,
            errors=errors,
            status_code=422,
        )
    except service.CapacityForbidden as exc:
        raise HTTPException(403, str(exc)) from None
    return RedirectResponse(
        f"/capacity/report?facility={saved['facility_id']}&saved=true", status_code=303
    )


# ---------------------------------------------------------------------------------------------
# figures


def _ratio_fill(ratio: float | None) -> str:
    if ratio is None:
        return UNKNOWN_FILL
    return next(colour for top, colour, _label in RATIO_BINS if ratio <= top)


def _marker_state(f: service.FacilityCapacity) -> str:
    if f.status in ("never", "stale"):
        return f.status
    if f.reason is not None:
        return "unavailable"
    if f.beds_total and f.beds_free is not None and f.beds_free < 0.1 * f.beds_total:
        return "limited"
    return "available"


MARKER_LABELS = {
    "available": N_("capacity available"),
    "limited": N_("few free beds (under 10%)"),
    "unavailable": N_("no capacity"),
    "stale": N_("stale report"),
    "never": N_("never reported"),
}


def _facility_hover(f: service.FacilityCapacity) -> str:
    lines = [f"<b>{f.name}</b> ({f.facility_id})", tr(STATUS_LABELS[f.status])]
    if f.status != "never":
        lines.append(
            _("Open rooms: %(rooms)s · beds free %(free)s / %(total)s · ICU free %(icu)s")
            % {
                "rooms": fmt_num(f.fever_clinic_rooms, 0),
                "free": fmt_num(f.beds_free, 0),
                "total": fmt_num(f.beds_total, 0),
                "icu": fmt_num(f.icu_free, 0),
            }
        )
        lines.append(_("Reported %(hours)s ago") % {"hours": i18n.fmt_hours(f.age_hours)})
    if f.reason:
        lines.append(tr(REASON_LABELS[f.reason]))
    return "<br>".join(lines)


def capacity_map(
    forecast: service.CapacityForecast,
    facilities: list[service.FacilityCapacity],
    *,
    height: int = 460,
) -> figures.Figure:
    """Districts filled by forecast peak demand / capacity, facilities as markers coloured by
    free capacity (stale and never-reported ones grey and hollow)."""
    data: list[dict[str, Any]] = []
    outlines = []
    for d in forecast.districts:
        xs, ys = figures.polygon_xy(d.geometry)
        if not xs:
            continue
        outlines.append(d)
        ratio = (
            _("peak demand / capacity: %(r)s%%") % {"r": fmt_num(100 * d.peak_ratio, 0)}
            if d.peak_ratio is not None
            else _("capacity unknown")
        )
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": xs,
                "y": ys,
                "fill": "toself",
                "fillcolor": _ratio_fill(d.peak_ratio),
                "line": {
                    "color": "#1f2a44" if d.warning else "#ffffff",
                    "width": 2.5 if d.warning else 1,
                },
                "hoveron": "fills",
                "hoverinfo": "text",
                "text": f"<b>{d.name}</b><br>{ratio}",
                "showlegend": False,
                "meta": {"kind": "district", "district": d.district_id, "warning": d.warning},
            }
        )
    for state in ("available", "limited", "unavailable", "stale", "never"):
        shown = [
            f
            for f in facilities
            if f.lat is not None and f.lon is not None and _marker_state(f) == state
        ]
        if not shown:
            continue
        hollow = state in ("stale", "never")
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [f.lon for f in shown],
                "y": [f.lat for f in shown],
                "text": [_facility_hover(f) for f in shown],
                "hovertemplate": "%{text}<extra></extra>",
                "marker": {
                    "size": [10 + min(f.fever_clinic_rooms or 0, 10) for f in shown],
                    "color": MARKER_COLOURS[state],
                    "symbol": "circle-open" if hollow else "circle",
                    "line": {
                        "color": "#1f2a44" if not hollow else MARKER_COLOURS["stale"],
                        "width": 1.5 if hollow else 1,
                    },
                },
                "name": tr(MARKER_LABELS[state]),
                "showlegend": True,
                "meta": {
                    "kind": "facilities",
                    "state": state,
                    "ids": [f.facility_id for f in shown],
                },
            }
        )
    regions = [
        figures.MapRegion(
            id=d.district_id,
            name=d.name,
            population=0,
            geometry=d.geometry,
            level="none",
            alert_ids=[],
            recent_visits=0,
            recent_syndromic={},
        )
        for d in outlines
    ]
    layout = figures.map_layout(regions, height)
    layout["legend"] = {
        "orientation": "h",
        "x": 0,
        "y": 0,
        "yanchor": "top",
        "bgcolor": "rgba(255,255,255,0.8)",
    }
    layout["margin"] = {"l": 4, "r": 4, "t": 4, "b": 40}
    return {"data": data, "layout": layout, "config": figures.CONFIG}


def forecast_chart(
    district: service.DistrictForecast, *, history_days: int = 28, height: int = 260
) -> figures.Figure:
    """Recent daily demand (bars), the forecast median with its band, and the capacity line."""
    fmt = plot_date_formats()
    hist = district.history[-history_days:]
    x_hist = [p.date.isoformat() for p in hist]
    x_fc = [d.date.isoformat() for d in district.days]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": x_hist,
            "y": [p.count for p in hist],
            "name": _("Daily demand"),
            "marker": {"color": figures.BAR},
            "hovertemplate": f"%{{x|{fmt['day']}}}: %{{y:,}}<extra></extra>",
            "meta": {"kind": "history"},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": x_fc + x_fc[::-1],
            "y": [d.upper for d in district.days] + [d.lower for d in district.days][::-1],
            "fill": "toself",
            "fillcolor": BAND,
            "line": {"width": 0},
            "hoverinfo": "skip",
            "name": _("90% band"),
            "meta": {"kind": "band"},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x_fc,
            "y": [d.median for d in district.days],
            "line": {"color": figures.TREND, "width": 2},
            "marker": {"size": 4},
            "name": _("Forecast (median)"),
            "hovertemplate": f"%{{x|{fmt['day']}}}: %{{y:,.0f}}<extra></extra>",
            "meta": {"kind": "median"},
        },
    ]
    if district.visit_capacity is not None:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [x_hist[0] if x_hist else x_fc[0], x_fc[-1]],
                "y": [district.visit_capacity, district.visit_capacity],
                "line": {"color": CAPACITY_LINE, "width": 2, "dash": "dash"},
                "name": _("Capacity (visits / day)"),
                "hovertemplate": _("capacity %(n)s / day") % {"n": "%{y:,.0f}"} + "<extra></extra>",
                "meta": {"kind": "capacity"},
            }
        )
    layout = figures.daily_layout(height, bottom=36)
    return {"data": data, "layout": layout, "config": figures.CONFIG}


# ---------------------------------------------------------------------------------------------
# pages


@router.get("/capacity", response_class=HTMLResponse, include_in_schema=False)
def capacity_page(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    syndrome: SyndromeQuery = None,
    horizon: HorizonQuery = None,
) -> HTMLResponse:
    overview = service.capacity_overview(store, settings)
    forecast = service.forecast_capacity(
        store, settings, syndromes=syndrome, horizon=horizon, geometry=True
    )
    order = sorted(
        forecast.districts,
        key=lambda d: (not d.warning, not d.watch, -(d.peak_ratio or 0), d.district_id),
    )
    return templates.TemplateResponse(
        request,
        "capacity.html",
        {
            "page": "capacity",
            "overview": overview,
            "forecast": forecast,
            "districts": order,
            "map": capacity_map(forecast, overview.facilities),
            "charts": {d.district_id: forecast_chart(d) for d in order},
            "status_labels": STATUS_LABELS,
            "reason_labels": REASON_LABELS,
            "ratio_bins": RATIO_BINS,
            "syndromes": list(Syndrome),
            "chosen": [s.value for s in forecast.syndromes],
            "fmt_hours": i18n.fmt_hours,
            "today": dt.date.today(),
        },
    )


@router.get("/public/clinics", response_class=HTMLResponse, include_in_schema=False)
def public_clinics_page(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    region: str | None = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
) -> HTMLResponse:
    regions = sorted(
        (r for r in store.regions() if r.geometry), key=lambda r: (r.parent_id or "", r.name)
    )
    result = error = None
    if region or (lat is not None and lon is not None):
        try:
            result = service.nearest_clinics(
                store, settings, lat=lat, lon=lon, region_id=region or None
            )
        except (service.UnknownRegion, ValueError):
            error = _("We do not know that place. Pick your area from the list.")
    return templates.TemplateResponse(
        request,
        "public_clinics.html",
        {
            "page": "public_clinics",
            "regions": regions,
            "region": region,
            "result": result,
            "error": error,
            "reason_labels": REASON_LABELS,
            "fmt_hours": i18n.fmt_hours,
            "settings": settings.capacity,
            "located": region is None and result is not None,
        },
        status_code=200 if error is None else 404,
    )
