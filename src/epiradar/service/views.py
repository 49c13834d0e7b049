"""Read models for the dashboard and the JSON API: plain pydantic objects, no presentation.

The web layer turns these into HTML, GeoJSON and Plotly figures; nothing here knows about
either. Every function takes the store first and reads only through its public methods.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel

from epiradar.config import Settings
from epiradar.model import (
    Alert,
    AlertStatus,
    Severity,
    Signal,
    SourceCandidate,
    Syndrome,
    TraceResult,
)
from epiradar.service.tracing import UnknownAlertError, alert_line_list, get_alert, trace_alert
from epiradar.store import Store

__all__ = [
    "ALL_VISITS",
    "AlertDetail",
    "AlertRow",
    "CountPoint",
    "CountSeries",
    "LineListRow",
    "MapRegion",
    "Overview",
    "QuarantineRow",
    "SourceRow",
    "SyndromeOption",
    "UnknownAlertError",
    "UnknownRegionError",
    "alert_detail",
    "alert_list",
    "alert_sources",
    "alert_summary",
    "alert_visits",
    "count_series",
    "data_range",
    "map_regions",
    "overview",
    "quarantine",
    "syndrome_options",
]

ALL_VISITS = "all"
"""The pseudo-syndrome of every visit (the denominator) in ``daily_counts``."""

Level = Literal["none", "low", "medium", "high"]
LEVELS: tuple[Level, ...] = ("none", "low", "medium", "high")
SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3}
OPEN_STATUSES = frozenset(
    {AlertStatus.NEW, AlertStatus.VERIFYING, AlertStatus.MONITORING, AlertStatus.INVESTIGATING}
)
CURRENT_DAYS = 30
"""An open alert counts towards a region's current level when it ended at most this many days
before the last day with data."""
RECENT_DAYS = 7
"""The map's visit counts cover this many days up to the last day with data."""
EPICURVE_DAYS = 90
ALERT_CONTEXT_DAYS = 56
"""The alert epicurve starts this many days before the alert, to show the baseline."""
ALERT_SORT_KEYS = (
    "first_alarm_date",
    "start_date",
    "end_date",
    "severity",
    "p_value",
    "observed",
    "syndrome",
    "status",
    "id",
)


class UnknownRegionError(LookupError):
    """No region has this id."""


class SyndromeOption(BaseModel):
    value: str
    label: str


class MapRegion(BaseModel):
    """A region on the map with its current alert level and recent visit counts."""

    id: str
    name: str
    population: int
    geometry: dict[str, Any] | None
    level: Level
    alert_ids: list[str]
    recent_visits: int
    recent_syndromic: dict[str, int]
    highlighted: bool = False


class CountPoint(BaseModel):
    date: dt.date
    count: int


class CountSeries(BaseModel):
    """Daily visit counts of one syndrome (``"all"`` = every visit) in some regions or the city."""

    syndrome: str
    syndrome_label: str
    region_ids: list[str]  # [] = the whole city, including visits of unknown residence
    start: dt.date
    end: dt.date
    points: list[CountPoint]

    @property
    def total(self) -> int:
        return sum(p.count for p in self.points)


class AlertRow(BaseModel):
    """An alert with what a list needs to show it: names, labels, whether it is open."""

    alert: Alert
    syndrome_label: str
    region_names: list[str]
    is_open: bool


class Overview(BaseModel):
    first_date: dt.date | None
    last_date: dt.date | None
    syndrome: str
    syndromes: list[SyndromeOption]
    regions: list[MapRegion]
    epicurve: CountSeries | None
    open_alerts: list[AlertRow]
    open_by_severity: dict[str, int]
    n_alerts: int
    city_wide_alerts: list[AlertRow]
    recent_days: int
    recent_visits: int


class LineListRow(BaseModel):
    """One visit of an alert's line list, pseudonymised (no names, no raw ids)."""

    visit_date: dt.date
    facility_id: str | None
    patient_key: str | None
    age: float | None
    sex: str | None
    region_id: str | None
    region_name: str | None
    complaint: str | None
    syndromes: list[str]
    exposures: list[str]  # place ids
    exposure_names: list[str]  # the same places by name (the id when unknown)


class SourceRow(BaseModel):
    """A ranked candidate source with the name of its region."""

    candidate: SourceCandidate
    region_name: str | None

    @property
    def kind_label(self) -> str:
        return self.candidate.place_kind or self.candidate.kind


class AlertDetail(BaseModel):
    row: AlertRow
    signals: list[Signal]
    last_date: dt.date | None
    regions: list[MapRegion]
    epicurve: CountSeries
    line_list: list[LineListRow]
    trace: TraceResult
    sources: list[SourceRow]
    region_names: dict[str, str]  # every region, for the signals table

    @property
    def alert(self) -> Alert:
        return self.row.alert

    @property
    def top_source(self) -> SourceRow | None:
        return self.sources[0] if self.sources else None


class QuarantineRow(BaseModel):
    """A rejected input record, verbatim, with where it came from and why it was rejected."""

    id: int | None = None
    ingest_run_id: int | None = None
    source: str
    record: str | None = None
    field: str | None = None
    reason: str
    raw: str
    raw_encoding: str | None = None  # "base64" when the input was not text
    received_at: str | None = None
    format: str | None = None
    facility_id: str | None = None
    status: str = "open"
    resolved_at: str | None = None
    resolution: str | None = None


# ---------------------------------------------------------------------------------------------
# small helpers


def syndrome_options() -> list[SyndromeOption]:
    return [SyndromeOption(value=ALL_VISITS, label="All visits")] + [
        SyndromeOption(value=s.value, label=s.label) for s in Syndrome
    ]


def syndrome_label(value: str) -> str:
    if value == ALL_VISITS:
        return "All visits"
    return Syndrome(value).label


def data_range(store: Store) -> tuple[dt.date, dt.date] | None:
    """First and last day with visits, or ``None`` when there are none."""
    found = store.visit_date_range()
    if found is None:
        return None
    first, last = found
    return _as_date(first), _as_date(last)


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _is_current(alert: Alert, last_date: dt.date | None) -> bool:
    if alert.status not in OPEN_STATUSES:
        return False
    if last_date is None:
        return True
    return alert.end_date >= last_date - dt.timedelta(days=CURRENT_DAYS)


def _level(alerts: Iterable[Alert]) -> Level:
    rank = max((SEVERITY_RANK[a.severity] for a in alerts), default=0)
    return LEVELS[rank]


def _counts_frame(store: Store, start: dt.date, end: dt.date) -> pd.DataFrame:
    """``daily_counts`` with ``date`` as ``datetime.date`` and ``region_id`` as ``str``."""
    frame = store.daily_counts(start, end)
    if frame.empty:
        return pd.DataFrame({"date": [], "region_id": [], "syndrome": [], "count": []})
    frame = frame.copy()
    frame["date"] = [_as_date(d) for d in frame["date"]]
    frame["region_id"] = frame["region_id"].fillna("").astype(str)
    frame["syndrome"] = frame["syndrome"].astype(str)
    return frame


def _alert_row(alert: Alert, names: dict[str, str]) -> AlertRow:
    return AlertRow(
        alert=alert,
        syndrome_label=alert.syndrome.label,
        region_names=[names.get(r, r) for r in alert.region_ids],
        is_open=alert.status in OPEN_STATUSES,
    )


# ---------------------------------------------------------------------------------------------
# counts and map


def count_series(
    store: Store,
    *,
    syndrome: str = ALL_VISITS,
    region_ids: Sequence[str] = (),
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> CountSeries:
    """Daily counts, zeros included, summed over ``region_ids`` (empty = the whole city).

    Defaults: ``end`` = the last day with data (today without data), ``start`` = 89 days earlier.
    Raises ``ValueError`` for an unknown syndrome and ``UnknownRegionError`` for unknown regions.
    """
    label = syndrome_label(syndrome)
    region_ids = list(region_ids)
    if region_ids:
        known = {r.id for r in store.regions()}
        missing = [r for r in region_ids if r not in known]
        if missing:
            raise UnknownRegionError(f"unknown region {missing[0]!r}")
    if end is None:
        found = data_range(store)
        end = found[1] if found else dt.date.today()
    if start is None:
        start = end - dt.timedelta(days=EPICURVE_DAYS - 1)
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    frame = _counts_frame(store, start, end)
    frame = frame[frame["syndrome"] == syndrome]
    if region_ids:
        frame = frame[frame["region_id"].isin(region_ids)]
    by_day = frame.groupby("date")["count"].sum().to_dict() if not frame.empty else {}
    days = (end - start).days + 1
    points = [
        CountPoint(date=d, count=int(by_day.get(d, 0)))
        for d in (start + dt.timedelta(days=i) for i in range(days))
    ]
    return CountSeries(
        syndrome=syndrome,
        syndrome_label=label,
        region_ids=region_ids,
        start=start,
        end=end,
        points=points,
    )


def map_regions(
    store: Store,
    *,
    alerts: Sequence[Alert] | None = None,
    last_date: dt.date | None = None,
    highlight: Iterable[str] = (),
) -> list[MapRegion]:
    """Every region with its current alert level (highest severity of its current open alerts)
    and its visits over the last ``RECENT_DAYS`` days with data."""
    if last_date is None:
        found = data_range(store)
        last_date = found[1] if found else None
    if alerts is None:
        alerts = store.alerts()
    current = [a for a in alerts if _is_current(a, last_date)]
    highlight = set(highlight)
    recent: dict[str, dict[str, int]] = {}
    if last_date is not None:
        frame = _counts_frame(store, last_date - dt.timedelta(days=RECENT_DAYS - 1), last_date)
        if not frame.empty:
            sums = frame.groupby(["region_id", "syndrome"])["count"].sum()
            for (region_id, syndrome), count in sums.items():
                recent.setdefault(str(region_id), {})[str(syndrome)] = int(count)
    out = []
    for region in store.regions():
        mine = [a for a in current if region.id in a.region_ids]
        counts = recent.get(region.id, {})
        out.append(
            MapRegion(
                id=region.id,
                name=region.name,
                population=region.population,
                geometry=region.geometry,
                level=_level(mine),
                alert_ids=[a.id for a in mine],
                recent_visits=counts.get(ALL_VISITS, 0),
                recent_syndromic={k: v for k, v in counts.items() if k != ALL_VISITS},
                highlighted=region.id in highlight,
            )
        )
    return out


def overview(store: Store, settings: Settings, *, syndrome: str = ALL_VISITS) -> Overview:
    """What the front page shows: map, city epicurve of ``syndrome``, open alerts."""
    syndrome_label(syndrome)  # validates
    found = data_range(store)
    first, last = found if found else (None, None)
    alerts = store.alerts()
    names = {r.id: r.name for r in store.regions()}
    regions = map_regions(store, alerts=alerts, last_date=last)
    open_rows = [
        _alert_row(a, names)
        for a in sorted(alerts, key=lambda a: (-SEVERITY_RANK[a.severity], a.p_value))
        if _is_current(a, last)
    ]
    by_severity = {s.value: 0 for s in Severity}
    for row in open_rows:
        by_severity[row.alert.severity.value] += 1
    epicurve = count_series(store, syndrome=syndrome, end=last) if last else None
    return Overview(
        first_date=first,
        last_date=last,
        syndrome=syndrome,
        syndromes=syndrome_options(),
        regions=regions,
        epicurve=epicurve,
        open_alerts=open_rows,
        open_by_severity=by_severity,
        n_alerts=len(alerts),
        city_wide_alerts=[r for r in open_rows if not r.alert.region_ids],
        recent_days=RECENT_DAYS,
        recent_visits=sum(r.recent_visits for r in regions),
    )


# ---------------------------------------------------------------------------------------------
# alerts


def alert_list(
    store: Store,
    *,
    syndrome: Syndrome | None = None,
    status: AlertStatus | None = None,
    severity: Severity | None = None,
    sort: str = "first_alarm_date",
    descending: bool = True,
) -> list[AlertRow]:
    """Alerts matching every given filter, sorted by ``sort`` (one of ``ALERT_SORT_KEYS``)."""
    if sort not in ALERT_SORT_KEYS:
        raise ValueError(f"cannot sort alerts by {sort!r}")
    names = {r.id: r.name for r in store.regions()}
    alerts = [
        a
        for a in store.alerts()
        if (syndrome is None or a.syndrome == syndrome)
        and (status is None or a.status == status)
        and (severity is None or a.severity == severity)
    ]

    def key(a: Alert) -> Any:
        if sort == "severity":
            return (SEVERITY_RANK[a.severity], -a.p_value)
        if sort == "p_value":  # most significant first when descending
            return -a.p_value
        return getattr(a, sort)

    alerts.sort(key=lambda a: a.id)
    alerts.sort(key=key, reverse=descending)
    return [_alert_row(a, names) for a in alerts]


def alert_summary(store: Store, alert_id: str) -> tuple[AlertRow, list[Signal]]:
    """The alert and its signals; raises ``UnknownAlertError``."""
    alert = get_alert(store, alert_id)
    names = {r.id: r.name for r in store.regions()}
    return _alert_row(alert, names), list(store.alert_signals(alert_id))


def alert_visits(store: Store, alert_id: str) -> list[LineListRow]:
    """The alert's line list, oldest first; raises ``UnknownAlertError``."""
    frame = alert_line_list(store, alert_id)
    names = {r.id: r.name for r in store.regions()}
    places = {p.id: p.name for p in store.places()}
    return _line_list_rows(frame, names, places)


def alert_sources(store: Store, settings: Settings, alert_id: str) -> TraceResult:
    """Ranked likely sources of the alert's cases; raises ``UnknownAlertError``."""
    return trace_alert(store, alert_id, settings)


def alert_detail(store: Store, settings: Settings, alert_id: str) -> AlertDetail:
    """Everything the alert page shows; raises ``UnknownAlertError``."""
    row, signals = alert_summary(store, alert_id)
    alert = row.alert
    found = data_range(store)
    last = found[1] if found else alert.end_date
    start = alert.start_date - dt.timedelta(days=ALERT_CONTEXT_DAYS)
    if found:
        start = max(start, found[0])
    end = max(min(alert.end_date + dt.timedelta(days=14), last), alert.end_date)
    epicurve = count_series(
        store, syndrome=alert.syndrome.value, region_ids=alert.region_ids, start=start, end=end
    )
    trace = alert_sources(store, settings, alert_id)
    names = {r.id: r.name for r in store.regions()}
    return AlertDetail(
        row=row,
        signals=signals,
        last_date=found[1] if found else None,
        regions=map_regions(
            store, last_date=found[1] if found else None, highlight=alert.region_ids
        ),
        epicurve=epicurve,
        line_list=alert_visits(store, alert_id),
        trace=trace,
        sources=[_source_row(c, names) for c in trace.sources],
        region_names=names,
    )


def _source_row(candidate: SourceCandidate, names: dict[str, str]) -> SourceRow:
    region_id = candidate.region_id
    return SourceRow(
        candidate=candidate, region_name=names.get(region_id, region_id) if region_id else None
    )


# ---------------------------------------------------------------------------------------------
# line list and quarantine conversion


def _line_list_rows(
    frame: pd.DataFrame, names: dict[str, str], places: dict[str, str]
) -> list[LineListRow]:
    if frame.empty:
        return []
    rows = []
    for rec in frame.to_dict("records"):
        region = _clean(rec.get("residence_region"))
        exposures = [_exposure_place(e) for e in _as_list(rec.get("exposures"))]
        rows.append(
            LineListRow(
                visit_date=_as_date(rec.get("visit_date") or rec.get("visit_time")),
                facility_id=_clean(rec.get("facility_id")),
                patient_key=_clean(rec.get("patient_key")),
                age=_clean(rec.get("age")),
                sex=_clean(rec.get("sex")),
                region_id=region,
                region_name=names.get(region, region) if region else None,
                complaint=_clean(rec.get("chief_complaint")),
                syndromes=[str(s) for s in _as_list(rec.get("syndromes"))],
                exposures=exposures,
                exposure_names=[places.get(p, p) for p in exposures],
            )
        )
    rows.sort(key=lambda r: (r.visit_date, r.region_id or ""))
    return rows


def _clean(value: Any) -> Any:
    """``None`` for NaN / NaT / empty strings, plain Python scalars otherwise."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def _as_list(value: Any) -> list[Any]:
    value = _clean(value) if not isinstance(value, list | tuple) else value
    if value is None:
        return []
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        return list(parsed) if isinstance(parsed, list) else [parsed]
    return list(value)


def _exposure_place(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("place_id", ""))
    place_id = getattr(item, "place_id", None)
    return str(place_id if place_id is not None else item)


def quarantine(
    store: Store,
    limit: int = 100,
    *,
    status: str | None = None,
    source: str | None = None,
    facility_id: str | None = None,
    ids: list[int] | None = None,
    offset: int = 0,
) -> list[QuarantineRow]:
    """The most recently rejected input records, newest first."""
    found = store.quarantined(
        limit, status=status, source=source, facility_id=facility_id, ids=ids, offset=offset
    )
    if isinstance(found, pd.DataFrame):
        records: list[Any] = found.to_dict("records")
    else:
        records = list(found)
    out = []
    for rec in records:
        data = rec if isinstance(rec, dict) else _to_dict(rec)
        data = {k: _clean(v) for k, v in data.items()}
        for key in ("record", "field"):
            if data.get(key) is not None:
                data[key] = str(data[key])
        data.setdefault("raw", "")
        data["raw"] = data["raw"] if data["raw"] is not None else ""
        out.append(QuarantineRow.model_validate(data))
    return out


def _to_dict(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if hasattr(obj, "_asdict"):
        return obj._asdict()
    return dict(obj)


def facility_visits(
    store: Store, facility_id: str, start: dt.date | None, end: dt.date | None, limit: int
) -> list[LineListRow]:
    """A facility's visits dated ``[start, end]`` (default: the last 7 days of data), newest
    first, at most ``limit``; pseudonymised as in a line list."""
    if end is None:
        found = data_range(store)
        if found is None:
            return []
        end = found[1]
    start = start or end - dt.timedelta(days=6)
    frame = store.visits_frame(start, end)
    frame = frame[frame["facility_id"] == facility_id]
    names = {r.id: r.name for r in store.regions()}
    places = {p.id: p.name for p in store.places()}
    return list(reversed(_line_list_rows(frame, names, places)))[:limit]
