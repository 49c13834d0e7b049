"""The public dashboard and the open-data API: aggregates with small counts suppressed (docs/open-data.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from epiradar.config import Settings
from epiradar.service import public as service
from epiradar.share.risk import LEVELS
from epiradar.store import Store
from epiradar.web.deps import get_settings, get_store
from epiradar.web.figures import CONFIG, FONT, label_point, map_layout, polygon_xy
from epiradar.web.i18n import N_, fmt_date, plot_date_formats, syndrome_name
from epiradar.web.i18n import gettext as _
from epiradar.web.templating import templates

router = APIRouter()

StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

RISK_COLOURS = {
    "low": "#7cc49a",
    "moderate": "#f7d774",
    "high": "#f0953a",
    "very_high": "#d63c3c",
}
RISK_LABELS = {
    "low": N_("Low"),
    "moderate": N_("Moderate"),
    "high": N_("High"),
    "very_high": N_("Very high"),
}
RISK_ADVICE = {
    "low": N_(
        "No unusual activity. Wash your hands often, and stay at home when you have a fever."
    ),
    "moderate": N_(
        "Some increase in illness. If you have a fever, cough, diarrhoea or a rash, wear a mask "
        "and see a doctor at a fever clinic; keep away from older and frail people."
    ),
    "high": N_(
        "Illness is spreading here. Avoid crowded indoor places, wear a mask indoors, wash your "
        "hands often, and follow advice from the health authority. See a doctor early if you "
        "feel ill."
    ),
    "very_high": N_(
        "An outbreak is under investigation here. Follow the health authority's instructions, "
        "avoid gatherings, wear a mask, and call a fever clinic before visiting if you have "
        "symptoms."
    ),
}
WEEKS_IN_TABLE = 6
"""Weeks of district counts shown on the dashboard (the open data has all of them)."""
HIDDEN_FILL = "#c7d0dc"
LICENCE = (
    "Creative Commons Attribution 4.0 International (CC BY 4.0): you may share and adapt the "
    "data for any purpose, giving appropriate credit to the publishing health authority. "
    "https://creativecommons.org/licenses/by/4.0/"
)


# --- response models ------------------------------------------------------------------------------


class FieldDoc(BaseModel):
    field: str
    type: str
    description: str


class DatasetDoc(BaseModel):
    name: str
    description: str
    json_url: str
    csv_url: str | None = None
    fields: list[FieldDoc]


class SuppressionDoc(BaseModel):
    min_count: int = Field(description="published counts 1 .. min_count-1 are hidden")
    suppress_zeros: bool
    method: str
    guarantee: str


class OpenIndex(BaseModel):
    title: str
    licence: str
    last_data_date: dt.date | None
    published_from: dt.date | None
    published_to: dt.date | None
    suppression: SuppressionDoc
    datasets: list[DatasetDoc]


class OpenRegionProperties(BaseModel):
    id: str
    name: str
    population: int


class OpenRegionFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] | None
    properties: OpenRegionProperties


class OpenRegions(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[OpenRegionFeature]


class AggregateRow(BaseModel):
    syndrome: str
    level: Literal["city", "district"]
    period: Literal["week", "day"]
    district_id: str
    district_name: str
    week: str
    start_date: dt.date
    end_date: dt.date
    count: int | None = Field(description="null when suppressed")
    suppressed: bool


class Aggregates(BaseModel):
    last_data_date: dt.date | None
    published_from: dt.date | None
    published_to: dt.date | None
    min_count: int
    suppress_zeros: bool
    rows: list[AggregateRow]


class DistrictRiskRow(BaseModel):
    district_id: str
    district_name: str
    level: Literal["low", "moderate", "high", "very_high"]
    label: str
    summary: str = Field(description="why, in plain language")
    advice: str = Field(description="what to do")


class RiskLevels(BaseModel):
    last_data_date: dt.date | None
    levels: list[str]
    districts: list[DistrictRiskRow]


# --- helpers ---------------------------------------------------------------------------------------


def _summary(assessment: Any) -> str:
    parts = []
    if assessment.alert_severity:
        parts.append(
            _("A confirmed outbreak (%(severity)s severity) is being followed in this area.")
            % {"severity": _(assessment.alert_severity)}
        )
    if assessment.rising:
        parts.append(_("Fever-clinic visits are rising compared with the week before."))
    if not parts:
        parts.append(_("No confirmed outbreak and no unusual rise in fever-clinic visits."))
    return " ".join(parts)


def _risk_rows(report: service.RiskReport) -> list[DistrictRiskRow]:
    return [
        DistrictRiskRow(
            district_id=r.district.id,
            district_name=r.district.name,
            level=r.assessment.level,
            label=_(RISK_LABELS[r.assessment.level]),
            summary=_summary(r.assessment),
            advice=_(RISK_ADVICE[r.assessment.level]),
        )
        for r in report.districts
    ]


def _rows(agg: service.PublicAggregates, **filters: Any) -> list[dict[str, Any]]:
    try:
        return service.rows(agg, **filters)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


def _week_param(value: str | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        service.week_start(value)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=f"{name}: {exc}") from exc
    return value


def risk_map(report: service.RiskReport, *, height: int = 400) -> dict[str, Any]:
    """Districts as filled polygons coloured by risk level (no tiles: renders offline)."""
    data: list[dict[str, Any]] = []
    for r in report.districts:
        xs, ys = polygon_xy(r.district.geometry)
        if not xs:
            continue
        level = r.assessment.level
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": xs,
                "y": ys,
                "fill": "toself",
                "fillcolor": RISK_COLOURS[level],
                "line": {"color": "#ffffff", "width": 1.5},
                "hoveron": "fills",
                "hoverinfo": "text",
                "text": f"<b>{r.district.name}</b><br>{_('Risk level')}: {_(RISK_LABELS[level])}",
                "name": r.district.name,
                "showlegend": False,
                "meta": {"district": r.district.id, "level": level},
            }
        )
    labels = [(r.district.name, label_point(r.district.geometry)) for r in report.districts]
    labels = [(n, xy) for n, xy in labels if xy is not None]
    if labels:
        data.append(
            {
                "type": "scatter",
                "mode": "text",
                "x": [xy[0] for _n, xy in labels],
                "y": [xy[1] for _n, xy in labels],
                "text": [n for n, _xy in labels],
                "textfont": {"size": 10, "color": "#1f2a44"},
                "hoverinfo": "skip",
                "showlegend": False,
                "name": "labels",
            }
        )
    districts = [r.district for r in report.districts]
    return {"data": data, "layout": map_layout(districts, height), "config": CONFIG}


def trend_figure(data: service.SyndromeAggregates, *, height: int = 320) -> dict[str, Any]:
    """The city's daily visits of one syndrome (bars; hidden days as grey ticks) and its weekly
    totals per day (line), all from the suppressed publication."""
    daily = data.published.daily
    shown = [(d, int(v)) for d, v in daily.items() if not pd.isna(v)]
    hidden = [d for d, v in daily.items() if pd.isna(v)]
    weekly = data.published.weekly.column_totals
    wx, wy = [], []
    for w in data.weeks:
        v = weekly[w]
        if not pd.isna(v):
            start = service.week_start(w)
            wx.append((start + dt.timedelta(days=3)).isoformat())
            wy.append(round(int(v) / 7, 2))
    top = max([v for _d, v in shown] + [1])
    fmt = plot_date_formats()
    name = _("All visits") if data.syndrome == "all" else syndrome_name(data.syndrome)
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": [d.isoformat() for d, _v in shown],
            "y": [v for _d, v in shown],
            "name": _("Visits per day"),
            "marker": {"color": "#3b6ea8"},
            "hovertemplate": f"%{{x|{fmt['day']}}}: %{{y}}<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "markers",
            "x": [d.isoformat() for d in hidden],
            "y": [top * 0.02] * len(hidden),
            "name": _("Hidden (small numbers)"),
            "marker": {"color": HIDDEN_FILL, "symbol": "line-ew-open", "size": 10},
            "hovertemplate": f"%{{x|{fmt['day']}}}: " + _("hidden") + "<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": wx,
            "y": wy,
            "name": _("Weekly average per day"),
            "line": {"color": "#1f2a44", "width": 2},
            "hovertemplate": f"%{{x|{fmt['day']}}}: %{{y:.1f}}<extra></extra>",
        },
    ]
    return {
        "data": traces,
        "layout": {
            "height": height,
            "margin": {"l": 44, "r": 12, "t": 8, "b": 36},
            "font": FONT,
            "barmode": "overlay",
            "bargap": 0.15,
            "xaxis": {"type": "date", "tickformat": fmt["day"]},
            "yaxis": {
                "title": {"text": _("Visits: %(syndrome)s") % {"syndrome": name}},
                "rangemode": "tozero",
            },  # fmt: skip
            "legend": {"orientation": "h", "y": -0.18},
            "plot_bgcolor": "rgba(0,0,0,0)",
            "paper_bgcolor": "rgba(0,0,0,0)",
            "meta": {"syndrome": data.syndrome},
        },
        "config": CONFIG,
    }


# --- pages ---------------------------------------------------------------------------------------


@router.get("/public", response_class=HTMLResponse, include_in_schema=False)
def public_dashboard(
    request: Request, store: StoreDep, settings: SettingsDep, syndrome: str | None = None
) -> HTMLResponse:
    agg = service.aggregates(store, settings)
    report = service.risk(store, settings)
    codes = list(agg.syndromes) or list(settings.public.syndromes)
    chosen = syndrome or codes[0]
    if chosen not in codes:
        raise HTTPException(status_code=422, detail=f"syndrome {chosen!r} is not published")
    data = agg.syndromes.get(chosen)
    weeks = data.weeks[-WEEKS_IN_TABLE:] if data else []
    table = []
    if data:
        published = data.published.weekly
        for did in data.district_ids:
            table.append(
                {
                    "id": did,
                    "name": _("Residence unknown") if did == service.UNKNOWN else agg.district_name(did),
                    "cells": [
                        None if published.status.at[did, w] != "shown" else int(published.counts.at[did, w])
                        for w in weeks
                    ],
                }
            )  # fmt: skip
        city = [
            None if published.column_total_status[w] != "shown" else int(published.column_totals[w])
            for w in weeks
        ]
    else:
        city = []
    return templates.TemplateResponse(
        request,
        "public.html",
        {
            "page": "public",
            "agg": agg,
            "syndrome": chosen,
            "syndromes": codes,
            "risk": _risk_rows(report),
            "levels": LEVELS,
            "risk_labels": RISK_LABELS,
            "risk_colours": RISK_COLOURS,
            "map_figure": risk_map(report),
            "trend_figure": trend_figure(data) if data else None,
            "weeks": [(w, service.week_start(w)) for w in weeks],
            "table": table,
            "city": city,
            "last_date": report.last_date,
            "min_count": agg.rules.min_count,
        },
    )


# --- open data -------------------------------------------------------------------------------------


def _fields(spec: list[tuple[str, str, str]]) -> list[FieldDoc]:
    return [FieldDoc(field=f, type=t, description=d) for f, t, d in spec]


REGION_FIELDS = [
    ("id", "string", "district id (the key of the aggregates' district_id)"),
    ("name", "string", "district name"),
    ("population", "integer", "residents"),
    ("geometry", "GeoJSON", "boundary (Polygon or MultiPolygon, lon/lat)"),
]
RISK_FIELDS = [
    ("district_id", "string", "district id"),
    ("district_name", "string", "district name"),
    ("level", "string", "low | moderate | high | very_high"),
    ("label", "string", "the level in the request's language"),
    ("summary", "string", "why, in plain language"),
    ("advice", "string", "what to do, in plain language"),
]


@router.get("/api/open", response_model=OpenIndex, tags=["open data"])
def open_index(store: StoreDep, settings: SettingsDep) -> OpenIndex:
    """The open datasets, their schema, the licence and the suppression rules in force."""
    agg = service.aggregates(store, settings)
    return OpenIndex(
        title="epiradar open data: fever-clinic visits by syndrome",
        licence=LICENCE,
        last_data_date=agg.last_date,
        published_from=agg.start,
        published_to=agg.end,
        suppression=SuppressionDoc(
            min_count=agg.rules.min_count,
            suppress_zeros=agg.rules.suppress_zeros,
            method=(
                "Primary suppression of counts 1..min_count-1 (and of zeros when suppress_zeros), "
                "complementary suppression so that no hidden count can be worked out from the "
                "published totals, checked by linear programming (Cox 1980; Hundepool et al. "
                "2012). District-week counts, city weekly totals and city daily counts are "
                "suppressed together; only complete ISO weeks are published."
            ),
            guarantee=(
                "For every suppressed count, the published numbers leave at least two possible "
                "values, and for every count hidden because it is small they allow a value of "
                "min_count or more: nobody can show from the published data that a hidden count "
                "is small."
            ),
        ),
        datasets=[
            DatasetDoc(
                name="aggregates",
                description="Visits per syndrome: by district and ISO week, and for the whole "
                "city by week and by day. Filters: syndrome, level (city|district), period "
                "(week|day), start_week, end_week (e.g. 2026-W05).",
                json_url="/api/open/aggregates",
                csv_url="/api/open/aggregates.csv",
                fields=_fields(service.AGGREGATE_FIELDS),
            ),
            DatasetDoc(
                name="regions",
                description="District boundaries (GeoJSON FeatureCollection); no counts.",
                json_url="/api/open/regions",
                fields=_fields(REGION_FIELDS),
            ),
            DatasetDoc(
                name="risk",
                description="The current risk level of every district, with what to do.",
                json_url="/api/open/risk",
                fields=_fields(RISK_FIELDS),
            ),
        ],
    )


@router.get("/api/open/regions", response_model=OpenRegions, tags=["open data"])
def open_regions(store: StoreDep, settings: SettingsDep) -> OpenRegions:
    """District boundaries and names (no counts)."""
    dists = service.districts(store.regions(), settings.public)
    return OpenRegions(
        features=[
            OpenRegionFeature(
                id=d.id,
                geometry=d.geometry,
                properties=OpenRegionProperties(id=d.id, name=d.name, population=d.population),
            )
            for d in dists
        ]
    )


SyndromeQ = Annotated[str | None, Query(description="a published syndrome code")]
LevelQ = Annotated[Literal["city", "district"] | None, Query()]
PeriodQ = Annotated[Literal["week", "day"] | None, Query()]
WeekQ = Annotated[str | None, Query(description="ISO week, e.g. 2026-W05", max_length=10)]


def _filtered(store, settings, syndrome, level, period, start_week, end_week):
    agg = service.aggregates(store, settings)
    found = _rows(
        agg,
        syndrome=syndrome or None,
        level=level,
        period=period,
        start_week=_week_param(start_week, "start_week"),
        end_week=_week_param(end_week, "end_week"),
    )
    return agg, found


@router.get("/api/open/aggregates", response_model=Aggregates, tags=["open data"])
def open_aggregates(
    store: StoreDep,
    settings: SettingsDep,
    syndrome: SyndromeQ = None,
    level: LevelQ = None,
    period: PeriodQ = None,
    start_week: WeekQ = None,
    end_week: WeekQ = None,
) -> Aggregates:
    """Published counts (suppressed ones are ``null`` with ``suppressed: true``)."""
    agg, found = _filtered(store, settings, syndrome, level, period, start_week, end_week)
    return Aggregates(
        last_data_date=agg.last_date,
        published_from=agg.start,
        published_to=agg.end,
        min_count=agg.rules.min_count,
        suppress_zeros=agg.rules.suppress_zeros,
        rows=[AggregateRow(**r) for r in found],
    )


@router.get(
    "/api/open/aggregates.csv",
    tags=["open data"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def open_aggregates_csv(
    store: StoreDep,
    settings: SettingsDep,
    syndrome: SyndromeQ = None,
    level: LevelQ = None,
    period: PeriodQ = None,
    start_week: WeekQ = None,
    end_week: WeekQ = None,
) -> Response:
    """The same rows as CSV: a suppressed count is empty and ``suppressed`` is ``true``."""
    _agg, found = _filtered(store, settings, syndrome, level, period, start_week, end_week)
    return Response(
        service.to_csv(found),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="epiradar-aggregates.csv"'},
    )


@router.get("/api/open/risk", response_model=RiskLevels, tags=["open data"])
def open_risk(store: StoreDep, settings: SettingsDep) -> RiskLevels:
    """The current risk level of every district, in plain language, with what to do."""
    report = service.risk(store, settings)
    return RiskLevels(
        last_data_date=report.last_date, levels=list(LEVELS), districts=_risk_rows(report)
    )


def fmt_week(label: str) -> str:
    """``2026-W05`` as the date of its Monday in the request's language."""
    return fmt_date(service.week_start(label))
