"""The JSON API under ``/api``: thin wrappers over ``epiradar.service.views``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel

from epiradar import __version__
from epiradar.config import Settings
from epiradar.model import Alert, AlertStatus, Severity, Signal, Syndrome, TraceResult
from epiradar.service import views
from epiradar.store import Store
from epiradar.web.auth import scoped_alerts, scoped_facility, scoped_line_list
from epiradar.web.deps import get_settings, get_store

router = APIRouter(prefix="/api", tags=["api"])

StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CountSyndrome = Literal[
    "all",
    "fever",
    "ili",
    "respiratory",
    "severe_respiratory",
    "gastrointestinal",
    "rash_fever",
    "neurological",
    "haemorrhagic",
]


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    first_data_date: dt.date | None
    last_data_date: dt.date | None


class RegionProperties(BaseModel):
    id: str
    name: str
    population: int
    level: views.Level
    alert_ids: list[str]
    recent_visits: int
    recent_days: int


class RegionFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] | None
    properties: RegionProperties


class RegionCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    last_data_date: dt.date | None
    features: list[RegionFeature]


class AlertOut(BaseModel):
    alert: Alert
    syndrome_label: str
    region_names: list[str]
    cluster_region_names: list[str]  # of ``alert.cluster_region_ids``: the space-time cluster
    is_open: bool
    signals: list[Signal]


class AlertVisits(BaseModel):
    alert_id: str
    n_visits: int
    visits: list[views.LineListRow]


def _not_found(exc: LookupError) -> HTTPException:
    return HTTPException(status_code=404, detail=str(exc.args[0]) if exc.args else str(exc))


@router.get("/health", response_model=Health, summary="Liveness and data freshness")
def health(store: StoreDep) -> Health:
    found = views.data_range(store)
    return Health(
        status="ok",
        version=__version__,
        first_data_date=found[0] if found else None,
        last_data_date=found[1] if found else None,
    )


@router.get(
    "/regions",
    response_model=RegionCollection,
    summary="Regions as GeoJSON with their current alert level",
)
def regions(store: StoreDep) -> RegionCollection:
    found = views.data_range(store)
    last = found[1] if found else None
    features = [
        RegionFeature(
            id=r.id,
            geometry=r.geometry,
            properties=RegionProperties(
                id=r.id,
                name=r.name,
                population=r.population,
                level=r.level,
                alert_ids=r.alert_ids,
                recent_visits=r.recent_visits,
                recent_days=views.RECENT_DAYS,
            ),
        )
        for r in views.map_regions(store, last_date=last)
    ]
    return RegionCollection(last_data_date=last, features=features)


@router.get("/counts", response_model=views.CountSeries, summary="Daily visit counts")
def counts(
    store: StoreDep,
    syndrome: Annotated[CountSyndrome, Query(description="a syndrome, or 'all' visits")] = "all",
    region: Annotated[list[str], Query(description="region ids (repeat); none = whole city")] = [],  # noqa: B006
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> views.CountSeries:
    try:
        return views.count_series(store, syndrome=syndrome, region_ids=region, start=start, end=end)
    except views.UnknownRegionError as exc:
        raise _not_found(exc) from None
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


@router.get("/alerts", response_model=list[Alert], summary="Alerts, newest first")
def alerts(
    request: Request,
    store: StoreDep,
    syndrome: Syndrome | None = None,
    status: AlertStatus | None = None,
    severity: Severity | None = None,
) -> list[Alert]:
    rows = views.alert_list(store, syndrome=syndrome, status=status, severity=severity)
    return scoped_alerts(request, [r.alert for r in rows])


@router.get("/alerts/{alert_id}", response_model=AlertOut, summary="One alert with its signals")
def alert(store: StoreDep, alert_id: str) -> AlertOut:
    try:
        row, signals = views.alert_summary(store, alert_id)
    except views.UnknownAlertError as exc:
        raise _not_found(exc) from None
    names = dict(zip(row.alert.region_ids, row.region_names, strict=False))
    return AlertOut(
        alert=row.alert,
        syndrome_label=row.syndrome_label,
        region_names=row.region_names,
        cluster_region_names=[names.get(r, r) for r in row.alert.cluster_region_ids],
        is_open=row.is_open,
        signals=signals,
    )


@router.get(
    "/alerts/{alert_id}/visits",
    response_model=AlertVisits,
    summary="The alert's line list (pseudonymised)",
)
def alert_visits(request: Request, store: StoreDep, alert_id: str) -> AlertVisits:
    try:
        rows = scoped_line_list(request, views.alert_visits(store, alert_id))
    except views.UnknownAlertError as exc:
        raise _not_found(exc) from None
    return AlertVisits(alert_id=alert_id, n_visits=len(rows), visits=rows)


@router.get(
    "/alerts/{alert_id}/trace",
    response_model=TraceResult,
    summary="Every analysis of the alert's cases: exposure table, candidate sites, origin on "
    "the mobility network, transmission chains and Rt; each with the data it used and how "
    "sure it is, or why it was skipped",
)
def alert_trace(store: StoreDep, settings: SettingsDep, alert_id: str) -> TraceResult:
    try:
        return views.alert_sources(store, settings, alert_id)
    except views.UnknownAlertError as exc:
        raise _not_found(exc) from None


@router.get(
    "/alerts/{alert_id}/sources",
    response_model=TraceResult,
    summary="Likely sources of the alert's cases, best first (the same as /trace)",
)
def alert_sources(store: StoreDep, settings: SettingsDep, alert_id: str) -> TraceResult:
    try:
        return views.alert_sources(store, settings, alert_id)
    except views.UnknownAlertError as exc:
        raise _not_found(exc) from None


@router.get(
    "/facilities/{facility_id}/visits",
    response_model=list[views.LineListRow],
    summary="A facility's own visits, newest first (pseudonymised)",
)
def facility_visits(
    request: Request,
    store: StoreDep,
    facility_id: str,
    start: dt.date | None = None,
    end: Annotated[dt.date | None, Query(description="default: the last day of data")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> list[views.LineListRow]:
    if facility_id not in {f.id for f in store.facilities()}:
        raise HTTPException(404, f"no facility {facility_id!r}")
    return scoped_line_list(request, views.facility_visits(store, facility_id, start, end, limit))


@router.get(
    "/quarantine",
    response_model=list[views.QuarantineRow],
    summary="Recently rejected input records",
)
def quarantine(
    request: Request,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    status: Annotated[
        Literal["open", "resolved", "discarded"] | None, Query(description="default: every status")
    ] = None,
    source: Annotated[
        str | None, Query(description="a file, or mllp:F1, http-hl7:F1, fhir:F1")
    ] = None,
    facility_id: str | None = None,
) -> list[views.QuarantineRow]:
    return views.quarantine(
        store,
        limit,
        status=status,
        source=source,
        facility_id=scoped_facility(request, facility_id),
        offset=offset,
    )


@router.get(
    "/quarantine/{record_id}",
    response_model=views.QuarantineRow,
    summary="One rejected input record",
)
def quarantine_record(store: StoreDep, record_id: int) -> views.QuarantineRow:
    found = views.quarantine(store, 1, ids=[record_id])
    if not found:
        raise HTTPException(404, f"no quarantined record {record_id}")
    return found[0]
