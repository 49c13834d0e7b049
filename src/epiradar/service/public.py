"""Published aggregates for the public dashboard and the open-data API (docs/open-data.md).

Per syndrome: visits by district x complete ISO week and the city's visits by day over the same
weeks, suppressed together (:func:`epiradar.share.suppression.suppress_with_daily`) so that
neither can undo the other. Every number the public sees comes from these suppressed tables:
district-week cells, the city's weekly totals (the table's column totals) and its daily counts.

Only complete ISO weeks (Monday to Sunday, ending on or before the last day with data) are
published: a week still in progress would change every day, and the difference between two
days' releases would disclose one day's (small) district count.

Districts: regions group by ``parent_id`` when they have one (the district id is the parent
id), otherwise every region is a district. Visits of unknown residence form the row
``unknown`` (they count for the city).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import shapely
from shapely.geometry import mapping, shape

from epiradar.config import Settings
from epiradar.config_share import PublicSettings
from epiradar.model import VERIFIED_STATUSES, Alert, Region
from epiradar.share.risk import RiskAssessment, RiskRule, Trend, assess
from epiradar.share.suppression import (
    SHOWN,
    SuppressedWithDaily,
    SuppressionRules,
    suppress_with_daily,
)
from epiradar.store import Store

UNKNOWN = "unknown"
"""The district id of visits whose residence is unknown (or outside the known regions)."""
Level = Literal["city", "district"]
Period = Literal["week", "day"]


def rules_of(settings: PublicSettings) -> SuppressionRules:
    """The suppression rules in force."""
    return SuppressionRules(min_count=settings.min_count, suppress_zeros=settings.suppress_zeros)


@dataclass(frozen=True)
class District:
    id: str
    name: str
    population: int
    region_ids: tuple[str, ...]
    geometry: dict[str, Any] | None


def districts(regions: Sequence[Region], settings: PublicSettings) -> list[District]:
    """The public geography: regions grouped by ``parent_id`` (or themselves), sorted by id;
    boundaries are the union of the member regions'."""
    groups: dict[str, list[Region]] = {}
    for r in regions:
        groups.setdefault(r.district_id, []).append(r)
    out = []
    for did in sorted(groups):
        members = groups[did]
        name = settings.district_names.get(did) or members[0].district_name
        shapes = [shape(r.geometry) for r in members if r.geometry]
        # on a 1e-7 degree grid (about 1 cm) so that shared edges merge despite rounding
        geometry = mapping(shapely.union_all(shapes, grid_size=1e-7)) if shapes else None
        out.append(
            District(
                id=did,
                name=name,
                population=sum(r.population for r in members),
                region_ids=tuple(r.id for r in members),
                geometry=_plain(geometry) if geometry else None,
            )
        )
    return out


def _plain(obj: Any) -> Any:
    """shapely's ``mapping`` uses tuples: GeoJSON wants lists."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def iso_week(day: dt.date) -> str:
    """``2026-W05``."""
    y, w, _ = day.isocalendar()
    return f"{y}-W{w:02d}"


def week_start(label: str) -> dt.date:
    """The Monday of an ISO week label (``2026-W05``); ``ValueError`` when malformed."""
    try:
        year, week = label.split("-W")
        return dt.date.fromisocalendar(int(year), int(week), 1)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an ISO week like 2026-W05: {label!r}") from exc


def published_window(first: dt.date, last: dt.date, weeks: int) -> tuple[dt.date, dt.date] | None:
    """The complete ISO weeks published: at most ``weeks`` ending on the last Sunday on or
    before ``last``, starting no earlier than the Monday of ``first``'s week (``None`` when
    no week is complete yet)."""
    end = last - dt.timedelta(days=last.isoweekday() % 7)
    start = max(end - dt.timedelta(days=7 * weeks - 1), first - dt.timedelta(first.weekday()))
    return (start, end) if start < end else None


@dataclass(frozen=True)
class SyndromeAggregates:
    syndrome: str
    district_ids: list[str]
    weeks: list[str]
    published: SuppressedWithDaily

    @property
    def city_weekly(self) -> pd.Series:
        return self.published.weekly.column_totals


@dataclass(frozen=True)
class PublicAggregates:
    """The published aggregates of every configured syndrome."""

    first_date: dt.date | None  # first and last day with data
    last_date: dt.date | None
    start: dt.date | None  # the published window (complete ISO weeks)
    end: dt.date | None
    rules: SuppressionRules
    districts: list[District]
    syndromes: dict[str, SyndromeAggregates]
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def weeks(self) -> list[str]:
        if self.start is None or self.end is None:
            return []
        n = ((self.end - self.start).days + 1) // 7
        return [iso_week(self.start + dt.timedelta(days=7 * i)) for i in range(n)]

    def district_name(self, did: str) -> str:
        for d in self.districts:
            if d.id == did:
                return d.name
        return "Residence unknown" if did == UNKNOWN else did


class AggregateRow(dict):
    """One published number (see :data:`AGGREGATE_FIELDS`)."""


AGGREGATE_FIELDS: list[tuple[str, str, str]] = [
    ("syndrome", "string", "syndrome code (fever, ili, respiratory, ...; all = all visits)"),
    ("level", "string", "city | district"),
    ("period", "string", "week (ISO week, Monday to Sunday) | day"),
    ("district_id", "string", "district id; empty for the city; 'unknown' = residence unknown"),
    ("district_name", "string", "district name; empty for the city"),
    ("week", "string", "ISO week of the period, e.g. 2026-W05"),
    ("start_date", "date", "first day of the period (YYYY-MM-DD)"),
    ("end_date", "date", "last day of the period (YYYY-MM-DD)"),
    ("count", "integer|null", "visits; empty (null) when suppressed"),
    ("suppressed", "boolean", "true when the count is hidden (small, or hidden to protect one)"),
]
"""The open-data schema of the aggregates: (field, type, description)."""


# --- computation and cache ------------------------------------------------------------------------

_CACHE: OrderedDict[tuple, PublicAggregates] = OrderedDict()
_CACHE_SIZE = 8
_LOCK = threading.Lock()


def _frame(store: Store, start: dt.date, end: dt.date) -> pd.DataFrame:
    frame = store.daily_counts(start, end)
    if frame.empty:
        return pd.DataFrame({"date": [], "region_id": [], "syndrome": [], "count": []})
    frame = frame.copy()
    frame["region_id"] = frame["region_id"].fillna("").astype(str)
    frame["syndrome"] = frame["syndrome"].astype(str)
    return frame


def _data_range(store: Store) -> tuple[dt.date, dt.date] | None:
    found = store.visit_date_range()
    if found is None:
        return None
    return tuple(  # type: ignore[return-value]
        v.date()
        if isinstance(v, dt.datetime)
        else v
        if isinstance(v, dt.date)
        else dt.date.fromisoformat(str(v)[:10])
        for v in found
    )


def aggregates(store: Store, settings: Settings) -> PublicAggregates:
    """The published aggregates (cached on the counts of the window, the regions and the
    settings: new or late data gives a fresh computation)."""
    public = settings.public
    rules = rules_of(public)
    dists = districts(store.regions(), public)
    found = _data_range(store)
    window = published_window(found[0], found[1], public.weeks) if found else None
    if window is None:
        return PublicAggregates(
            first_date=found[0] if found else None,
            last_date=found[1] if found else None,
            start=None,
            end=None,
            rules=rules,
            districts=dists,
            syndromes={},
        )
    start, end = window
    frame = _frame(store, start, end)
    key = (
        str(store.engine.url) if hasattr(store, "engine") else id(store),
        found,
        rules,
        public.model_dump_json(),
        tuple((d.id, d.region_ids) for d in dists),
        int(pd.util.hash_pandas_object(frame, index=False).sum()) if len(frame) else 0,
    )
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    result = _compute(frame, dists, public, rules, found, start, end)
    with _LOCK:
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def _compute(
    frame: pd.DataFrame,
    dists: list[District],
    public: PublicSettings,
    rules: SuppressionRules,
    found: tuple[dt.date, dt.date],
    start: dt.date,
    end: dt.date,
) -> PublicAggregates:
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    weeks = [iso_week(d) for d in days[::7]]
    region_to_district = {r: d.id for d in dists for r in d.region_ids}
    frame = frame.assign(
        district=frame["region_id"].map(lambda r: region_to_district.get(r, UNKNOWN))
    )
    district_ids = [d.id for d in dists]
    if (frame["district"] == UNKNOWN).any():
        district_ids.append(UNKNOWN)
    period_of_day = pd.Series([iso_week(d) for d in days], index=pd.Index(days, dtype=object))
    out: dict[str, SyndromeAggregates] = {}
    for syndrome in public.syndromes:
        sub = frame[frame["syndrome"] == syndrome]
        by_day = (
            sub.groupby(["district", "date"])["count"].sum().unstack(fill_value=0)
            if len(sub)
            else pd.DataFrame()
        )
        by_day = by_day.reindex(index=district_ids, columns=days, fill_value=0).astype("int64")
        weekly = by_day.T.groupby(period_of_day.to_numpy()).sum().T.reindex(columns=weeks)
        daily = by_day.sum(axis=0)
        daily.index = pd.Index(days, dtype=object)
        published = suppress_with_daily(weekly, daily, period_of_day, rules)
        out[syndrome] = SyndromeAggregates(
            syndrome=syndrome, district_ids=district_ids, weeks=weeks, published=published
        )
    return PublicAggregates(
        first_date=found[0],
        last_date=found[1],
        start=start,
        end=end,
        rules=rules,
        districts=dists,
        syndromes=out,
    )


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


# --- rows ----------------------------------------------------------------------------------------


def _value(v: Any) -> int | None:
    return None if v is pd.NA or v is None or pd.isna(v) else int(v)


def rows(
    agg: PublicAggregates,
    *,
    syndrome: str | None = None,
    level: Level | None = None,
    period: Period | None = None,
    start_week: str | None = None,
    end_week: str | None = None,
) -> list[dict[str, Any]]:
    """The published numbers as flat rows (:data:`AGGREGATE_FIELDS`), filtered. Raises
    ``ValueError`` for an unknown syndrome, level, period or a malformed week."""
    if syndrome is not None and syndrome not in agg.syndromes:
        raise ValueError(
            f"syndrome {syndrome!r} is not published; published: {', '.join(agg.syndromes)}"
        )
    if level not in (None, "city", "district"):
        raise ValueError(f"level must be city or district, got {level!r}")
    if period not in (None, "week", "day"):
        raise ValueError(f"period must be week or day, got {period!r}")
    lo = week_start(start_week) if start_week else None
    hi = week_start(end_week) + dt.timedelta(days=6) if end_week else None
    out: list[dict[str, Any]] = []

    def add(s, lvl, per, did, first: dt.date, last: dt.date, value, status) -> None:
        if (lo and first < lo) or (hi and first > hi):
            return
        hidden = status != SHOWN
        out.append(
            {
                "syndrome": s,
                "level": lvl,
                "period": per,
                "district_id": did,
                "district_name": agg.district_name(did) if did else "",
                "week": iso_week(first),
                "start_date": first,
                "end_date": last,
                "count": None if hidden else _value(value),
                "suppressed": hidden,
            }
        )

    for s, data in agg.syndromes.items():
        if syndrome is not None and s != syndrome:
            continue
        table = data.published.weekly
        if level in (None, "city"):
            if period in (None, "week"):
                for w in data.weeks:
                    first = week_start(w)
                    add(s, "city", "week", "", first, first + dt.timedelta(days=6),
                        table.column_totals[w], table.column_total_status[w])  # fmt: skip
            if period in (None, "day"):
                for day, value in data.published.daily.items():
                    add(s, "city", "day", "", day, day, value, data.published.daily_status[day])
        if level in (None, "district") and period in (None, "week"):
            for did in data.district_ids:
                for w in data.weeks:
                    first = week_start(w)
                    add(s, "district", "week", did, first, first + dt.timedelta(days=6),
                        table.counts.at[did, w], table.status.at[did, w])  # fmt: skip
    return out


def rows_frame(rows_: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with the schema's column order (``count`` nullable ``Int64``)."""
    frame = pd.DataFrame(rows_, columns=[f for f, _, _ in AGGREGATE_FIELDS])
    frame["count"] = frame["count"].astype("Int64")
    return frame


def to_csv(rows_: list[dict[str, Any]]) -> str:
    """CSV of rows: suppressed counts empty, ``suppressed`` ``true``/``false``."""
    frame = rows_frame(rows_)
    frame["suppressed"] = frame["suppressed"].map({True: "true", False: "false"})
    frame["start_date"] = frame["start_date"].map(lambda d: d.isoformat())
    frame["end_date"] = frame["end_date"].map(lambda d: d.isoformat())
    return frame.to_csv(index=False, lineterminator="\n")


# --- risk ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistrictRisk:
    district: District
    assessment: RiskAssessment


@dataclass(frozen=True)
class RiskReport:
    last_date: dt.date | None
    districts: list[DistrictRisk]


def _touches(alert: Alert, district: District) -> bool:
    return not alert.region_ids or bool(set(alert.region_ids) & set(district.region_ids))


def risk(store: Store, settings: Settings) -> RiskReport:
    """The current risk level of every district (:mod:`epiradar.share.risk`)."""
    public = settings.public
    dists = districts(store.regions(), public)
    found = _data_range(store)
    rule = RiskRule(rise_fraction=public.risk_rise_fraction, min_rise=public.risk_min_rise)
    if found is None:
        empty = Trend(recent=0, previous=0, population=0)
        return RiskReport(None, [DistrictRisk(d, assess([], empty, rule)) for d in dists])
    last = found[1]
    w = public.risk_window_days
    frame = _frame(store, last - dt.timedelta(days=2 * w - 1), last)
    frame = frame[frame["syndrome"] == public.risk_syndrome]
    recent_from = last - dt.timedelta(days=w - 1)
    current = [
        a
        for a in store.alerts()
        if a.status in VERIFIED_STATUSES  # never an unverified statistical signal
        and a.end_date >= last - dt.timedelta(days=public.alert_current_days)
    ]
    out = []
    for d in dists:
        mine = frame[frame["region_id"].isin(d.region_ids)]
        recent = int(mine.loc[[x >= recent_from for x in mine["date"]], "count"].sum())
        previous = int(mine["count"].sum()) - recent
        severities = [a.severity.value for a in current if _touches(a, d)]
        trend = Trend(recent=recent, previous=previous, population=d.population)
        out.append(DistrictRisk(d, assess(severities, trend, rule)))
    return RiskReport(last, out)
