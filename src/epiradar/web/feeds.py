"""Feed quality: the JSON endpoints under ``/api/feeds`` and the ``/feeds`` page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from epiradar.config import Settings
from epiradar.service import feeds
from epiradar.store import Store
from epiradar.web import figures, i18n
from epiradar.web.auth import scoped_facility
from epiradar.web.deps import get_settings, get_store
from epiradar.web.templating import templates

router = APIRouter()

StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DaysQuery = Annotated[int, Query(ge=1, le=90, description="days of arrivals to summarise")]

LOW_COMPLETENESS = 0.8
"""Completeness below this share is highlighted on the page."""
FIELD_LABELS = {
    "patient_key": "Pat.",
    "age": "Age",
    "sex": "Sex",
    "residence_region": "Res.",
    "chief_complaint": "Compl.",
    "temperature_c": "Temp.",
    "diagnosis_codes": "Diag.",
    "onset_date": "Onset",
}
"""Short column headers of the key fields (the full name is the header's tooltip)."""
STATUS_LABELS = {"ok": "sending", "silent": "silent", "never": "never sent"}


@router.get(
    "/api/feeds",
    response_model=feeds.FeedQuality,
    tags=["api"],
    summary="Per-facility feed quality: volume, completeness, delay, silence",
)
def feed_quality(
    request: Request, store: StoreDep, settings: SettingsDep, days: DaysQuery = 14
) -> feeds.FeedQuality:
    return _own(request, feeds.feed_quality(store, days=days, settings=settings.feeds))


def _own(request: Request, quality: feeds.FeedQuality) -> feeds.FeedQuality:
    """Only the caller's facility for a hospital reporter; every facility for others."""
    own = scoped_facility(request, None)
    if own is None:
        return quality
    return quality.model_copy(
        update={
            "facilities": [f for f in quality.facilities if f.facility_id == own],
            "open_alerts": [a for a in quality.open_alerts if a.facility_id == own],
        }
    )


@router.get(
    "/api/feeds/alerts",
    response_model=list[feeds.FeedAlert],
    tags=["api"],
    summary="Feed alerts (silent facilities), open ones first",
)
def feed_alerts(
    request: Request,
    store: StoreDep,
    open_only: Annotated[bool, Query(alias="open", description="only open alerts")] = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> list[feeds.FeedAlert]:
    own = scoped_facility(request, None)
    found = feeds.feed_alerts(store, open_only=open_only, limit=limit)
    return [a for a in found if own is None or a.facility_id == own]


def sparkline(values: Sequence[int], *, width: int = 112, height: int = 26) -> Markup:
    """Daily counts as a tiny inline SVG bar chart (no script needed)."""
    top = max(values, default=0)
    n = max(len(values), 1)
    step = width / n
    bars = []
    for i, value in enumerate(values):
        h = 0.0 if top == 0 else max(value / top * (height - 2), 1.0 if value else 0.0)
        bars.append(
            f'<rect x="{i * step + 0.5:.1f}" y="{height - h:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{h:.1f}"></rect>'
        )
    label = escape(
        i18n.gettext("%(total)s new visits, at most %(top)s a day")
        % {"total": i18n.fmt_int(sum(values)), "top": i18n.fmt_int(top)}
    )
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{label}"><title>{label}</title>{"".join(bars)}</svg>'
    )


fmt_hours = i18n.fmt_hours


def _label(facility: feeds.FacilityFeed) -> str:
    if facility.name == facility.facility_id:
        return facility.name
    return f"{facility.name} ({facility.facility_id})"


@router.get("/feeds", response_class=HTMLResponse, include_in_schema=False)
def feeds_page(
    request: Request, store: StoreDep, settings: SettingsDep, days: DaysQuery = 14
) -> HTMLResponse:
    quality = _own(request, feeds.feed_quality(store, days=days, settings=settings.feeds))
    dates = [d.date for d in quality.facilities[0].days] if quality.facilities else []
    active = [f for f in quality.facilities if f.visits]
    figure = figures.feed_volume(dates, {_label(f): [d.visits for d in f.days] for f in active})
    return templates.TemplateResponse(
        request,
        "feeds.html",
        {
            "page": "feeds",
            "q": quality,
            "names": {f.facility_id: f.name for f in quality.facilities},
            "figure": figure if active else None,
            "field_labels": FIELD_LABELS,
            "status_labels": STATUS_LABELS,
            "low": LOW_COMPLETENESS,
            "sparkline": sparkline,
            "fmt_hours": fmt_hours,
            "counts": {
                s: sum(f.status == s for f in quality.facilities) for s in ("ok", "silent", "never")
            },
        },
    )
