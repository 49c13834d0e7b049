"""The content of a daily or weekly bulletin, computed from aggregates (pure: no SQL, no web).

Input: daily counts (``date, region_id, syndrome, count``, as ``Store.daily_counts`` gives them),
the regions and the alerts. Output: :class:`BulletinContent`, the numbers and words both
languages' HTML and PDF are rendered from (``share.bulletin_render``), stored as JSON.

Everything in a bulletin is public, so every count it shows comes from a table protected by
``share.suppression.suppress`` (primary suppression of small counts, complementary suppression
so that hidden cells cannot be worked out from published totals; Hundepool et al., *Statistical
Disclosure Control*, 2012). Two tables per bulletin:

- the *curve* table (period x syndrome: the last ``curve_length`` days or ISO weeks of the whole
  city), which gives the epicurves and, in its last two rows, this period's and the previous
  period's city counts, so that the numbers in the text and in the charts are the same cells;
- the *area* table (district x syndrome, this period), which gives the top districts (named
  with their counts in weekly bulletins; named only in daily ones, whose days would otherwise
  add up to, or be undone by, the weekly district counts).

Each syndrome (column) is protected on its own: the totals across syndromes, which overlap, are
never published. A city count is shown only when both tables show it (the area table's column
totals are the same numbers), districts only when the city count is shown (else they might add
up to it), and a change or trend word only when both periods' counts are shown. Alerts are
listed by syndrome, areas, severity and start date, never with their counts.

Each syndrome with a serial interval may also carry the city's reproduction number Rt over the
last :data:`RT_WINDOW_DAYS` days ending at the period's end (:func:`city_rt`: Cori et al. 2013,
as EpiEstim, through ``trace.rt.estimate_rt``), published as its posterior mean and 90 %
credible interval rounded to two decimals. Rounded like that the interval still gives away the
window's case count to about one case (the posterior's shape is one plus that count), so Rt is
shown only where the bulletin already shows the counts of every day of its window (weekly: the
week's count; daily: the last seven days of the curve), never next to a hidden one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict

from epiradar.model import VERIFIED_STATUSES, Alert, Region, Severity
from epiradar.share.suppression import SuppressionRules, suppress, suppress_with_daily
from epiradar.trace.rt import estimate_rt

Kind = Literal["daily", "weekly"]
KINDS: tuple[Kind, ...] = ("daily", "weekly")
UNKNOWN_AREA = ""
"""The area of visits whose residence is unknown (``region_id`` "" in the daily counts)."""

TREND_THRESHOLDS = ((50.0, "sharp_up"), (15.0, "up"), (-15.0, "stable"), (-50.0, "down"))
"""Change in percent -> trend word: at least 50 rising sharply, at least 15 rising, at least -15
stable, at least -50 falling, else falling sharply."""


RT_WINDOW_DAYS = 7
"""Days of the Rt window, ending at the bulletin period's end (EpiEstim's default window)."""
RT_LEVEL = 90
"""The published credible interval of Rt, in percent: the posterior's 5th to 95th percentile."""
RT_MIN_HISTORY_DAYS = 28
"""Days of counts before the Rt window at least (more for long serial intervals)."""
RT_VERDICTS = ("growing", "declining", "uncertain")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Period(_Frozen):
    """A bulletin's period: one day, or one ISO week (Monday to Sunday)."""

    kind: Kind
    start: dt.date
    end: dt.date

    @property
    def label(self) -> str:
        """``2026-03-29`` for a day, ``2026-W13`` for an ISO week."""
        return self.start.isoformat() if self.kind == "daily" else iso_week(self.start)

    def previous(self) -> Period:
        step = dt.timedelta(days=1 if self.kind == "daily" else 7)
        return Period(kind=self.kind, start=self.start - step, end=self.end - step)


class CurvePoint(_Frozen):
    label: str  # the day (ISO date) or ISO week
    start: dt.date
    count: int | None  # None: suppressed


class AreaCount(_Frozen):
    area_id: str
    name: str
    count: int | None  # None in daily bulletins: named, not counted (see build_bulletin)


class RtEstimate(_Frozen):
    """The city's reproduction number over the window ``start .. end`` (both included): the
    posterior mean and the 90 % credible interval (5th and 95th percentiles), rounded to two
    decimals as published."""

    mean: float
    lower: float
    upper: float
    start: dt.date
    end: dt.date

    @property
    def verdict(self) -> str:
        """``growing`` when the interval lies above 1, ``declining`` when below, else
        ``uncertain`` (read from the published, rounded numbers)."""
        if self.lower > 1:
            return "growing"
        if self.upper < 1:
            return "declining"
        return "uncertain"


class SyndromeSection(_Frozen):
    syndrome: str
    current: int | None  # None: suppressed
    previous: int | None
    change_pct: float | None  # None when either count is hidden or the previous one is zero
    trend: str  # a key of TREND_THRESHOLDS' words, or "unknown"
    top_areas: list[AreaCount]
    curve: list[CurvePoint]
    rt: RtEstimate | None = None  # None: not estimated (see city_rt, _rt_shown)

    @property
    def has_visits(self) -> bool:
        """Whether any period of the curve had visits (a hidden count means it had)."""
        return any(p.count != 0 for p in self.curve)


class AlertItem(_Frozen):
    syndrome: str
    areas: list[str]  # region names; empty = the whole city
    severity: str
    since: dt.date


class MapArea(_Frozen):
    region_id: str
    name: str
    geometry: dict | None
    level: str | None  # highest severity of the open alerts touching it


class BulletinContent(_Frozen):
    """What a bulletin says, in numbers and keys (the phrases are in ``bulletin_text``)."""

    kind: Kind
    period: Period
    previous: Period
    data_version: dt.date  # the last date with data
    min_count: int  # counts 1..min_count-1 are hidden
    rt_min_cases: int = 30  # Rt only with at least this many visits in its window
    syndromes: list[SyndromeSection]
    alerts: list[AlertItem]
    map: list[MapArea]

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> BulletinContent:
        return cls.model_validate_json(text)


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def period_ending(kind: Kind, end: dt.date) -> Period:
    """The day ``end``, or the ISO week holding ``end``."""
    if kind not in KINDS:
        raise ValueError(f"bulletin kind {kind!r} is not one of {', '.join(KINDS)}")
    if kind == "daily":
        return Period(kind=kind, start=end, end=end)
    start = end - dt.timedelta(days=end.weekday())
    return Period(kind=kind, start=start, end=start + dt.timedelta(days=6))


def default_end(kind: Kind, last_data: dt.date, today: dt.date | None = None) -> dt.date:
    """The end of the newest complete period: the last data day (the day before ``today`` at
    the latest, since today is still filling), or the Sunday ending the last complete ISO week.
    """
    last = min(last_data, today - dt.timedelta(days=1)) if today else last_data
    if kind == "daily":
        return last
    return last - dt.timedelta(days=(last.weekday() + 1) % 7)


def rt_history_days(si_mean: float, si_sd: float) -> int:
    """Days of counts the Rt estimate reads before its window: the serial interval's mean plus
    four standard deviations (where nearly all its mass lies), at least
    :data:`RT_MIN_HISTORY_DAYS`."""
    return max(RT_MIN_HISTORY_DAYS, math.ceil(si_mean + 4 * si_sd))


def rt_series_start(end: dt.date, si_mean: float, si_sd: float) -> dt.date:
    """The first day of the daily series :func:`city_rt` expects for a window ending at ``end``."""
    return end - dt.timedelta(days=RT_WINDOW_DAYS - 1 + rt_history_days(si_mean, si_sd))


def city_rt(
    series: pd.Series,
    *,
    end: dt.date,
    si_mean: float,
    si_sd: float,
    min_cases: int,
    mean_prior: float = 5.0,
    std_prior: float = 5.0,
) -> RtEstimate | None:
    """Rt over the :data:`RT_WINDOW_DAYS` days ending at ``end`` from the city's daily counts
    ``series`` (indexed by date; days missing count 0; read from :func:`rt_series_start` to
    ``end``), with a gamma serial interval discretised as EpiEstim's (``trace.rt``). None when
    the window has fewer than ``min_cases`` cases (or no estimate comes out)."""
    start = rt_series_start(end, si_mean, si_sd)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    counts = pd.Series(series, dtype="float64").groupby(level=0).sum()
    values = counts.reindex(pd.Index(days, dtype=object), fill_value=0).fillna(0).to_numpy()
    if values[-RT_WINDOW_DAYS:].sum() < min_cases:
        return None
    n = values.size
    row = estimate_rt(
        values,
        si_mean=si_mean,
        si_sd=si_sd,
        t_start=[n - RT_WINDOW_DAYS + 1],
        t_end=[n],
        mean_prior=mean_prior,
        std_prior=std_prior,
    ).iloc[0]
    mean, lower, upper = float(row["mean"]), float(row["q05"]), float(row["q95"])
    if not all(math.isfinite(v) for v in (mean, lower, upper)):
        return None
    return RtEstimate(
        mean=round(mean, 2),
        lower=round(lower, 2),
        upper=round(upper, 2),
        start=end - dt.timedelta(days=RT_WINDOW_DAYS - 1),
        end=end,
    )


def _rt_shown(rt: RtEstimate | None, kind: Kind, points: Sequence[CurvePoint]) -> bool:
    """Whether the bulletin shows the count of every day of Rt's window (the curve's points
    covering it exactly, none hidden): the published interval gives that total away to about
    one case, so it must be public already."""
    if rt is None:
        return False
    step = 1 if kind == "daily" else 7
    inside = [
        p for p in points if p.start >= rt.start and p.start + dt.timedelta(days=step - 1) <= rt.end
    ]
    return len(inside) * step == (rt.end - rt.start).days + 1 and all(
        p.count is not None for p in inside
    )


def _protect(table: pd.DataFrame, rules: SuppressionRules) -> tuple[pd.DataFrame, pd.Series]:
    """``suppress`` applied to the rows and columns that are not all zero (shown zeros protect
    nothing, and all-zero lines add nothing to hide), back in the full shape: (cells, column
    totals), Int64 with ``pd.NA`` where hidden."""
    cells = table.astype("Int64")
    totals = table.sum(axis=0).astype("Int64")
    if rules.suppress_zeros:
        result = suppress(table, rules)
        return result.counts, result.column_totals
    rows = table.index[(table != 0).any(axis=1)]
    cols = table.columns[(table != 0).any(axis=0)]
    if len(rows) and len(cols):
        result = suppress(table.loc[rows, cols], rules)
        for col in cols:
            totals[col] = result.column_totals[col]
            for row in rows:
                cells.loc[row, col] = result.counts.loc[row, col]
    return cells, totals


def _protect_columns(
    table: pd.DataFrame, rules: SuppressionRules
) -> tuple[pd.DataFrame, pd.Series]:
    """:func:`_protect` of each column on its own: the area table's row totals (a district's
    visits over all syndromes, which overlap) are never published, so its columns share
    nothing, and a column's total (the city count) is then hidden only when it is small."""
    cells = table.astype("Int64")
    totals = table.sum(axis=0).astype("Int64")
    for col in table.columns:
        column_cells, column_total = _protect(table[[col]], rules)
        cells[col] = column_cells[col]
        totals[col] = column_total[col]
    return cells, totals


def _value(cell: object) -> int | None:
    return None if cell is pd.NA or pd.isna(cell) else int(cell)  # type: ignore[arg-type]


def _trend(current: int | None, previous: int | None) -> tuple[float | None, str]:
    if current is None or previous is None:
        return None, "unknown"
    if previous == 0:
        return (0.0, "stable") if current == 0 else (None, "unknown")
    change = round(100.0 * (current - previous) / previous, 1)
    for threshold, word in TREND_THRESHOLDS:
        if change >= threshold:
            return change, word
    return change, "sharp_down"


def _curve_table(
    counts: pd.DataFrame, period: Period, syndromes: Sequence[str], length: int
) -> pd.DataFrame:
    """City counts per day (daily) or ISO week (weekly), the last ``length`` ending at
    ``period``; rows are the periods' first days, oldest first."""
    step = dt.timedelta(days=1 if period.kind == "daily" else 7)
    starts = [period.start - step * i for i in range(length - 1, -1, -1)]
    table = pd.DataFrame(0, index=pd.Index(starts, dtype=object), columns=list(syndromes))
    if counts.empty:
        return table
    first = starts[0]
    rows = counts[
        (counts["date"] >= first)
        & (counts["date"] <= period.end)
        & counts["syndrome"].isin(syndromes)
    ]
    if rows.empty:
        return table
    if period.kind == "daily":
        keys = rows["date"]
    else:
        keys = rows["date"].map(lambda d: d - dt.timedelta(days=d.weekday()))
    sums = rows.groupby([keys, rows["syndrome"]])["count"].sum()
    for (start, syndrome), value in sums.items():
        table.loc[start, syndrome] = int(value)
    return table


def _protect_daily_curve(
    counts: pd.DataFrame,
    period: Period,
    syndromes: Sequence[str],
    length: int,
    rules: SuppressionRules,
) -> pd.DataFrame:
    """The daily curve table, each syndrome's days protected together with the ISO-week totals
    they add up to (``suppress_with_daily``): weekly bulletins publish those totals, so a day
    hidden here cannot be worked out from a week's total and its other days. The weeks are
    taken whole (up to the period's end) even where the window starts mid-week, so the same
    day is protected the same way in every daily bulletin of a complete week."""
    monday = period.start - dt.timedelta(days=length - 1)
    monday -= dt.timedelta(days=monday.weekday())
    full = _curve_table(counts, period, syndromes, (period.start - monday).days + 1)
    weeks = pd.Series([iso_week(d) for d in full.index], index=full.index, dtype=object)
    out = full.astype("Int64")
    for syndrome in syndromes:
        series = full[syndrome].astype("int64")
        totals = series.groupby(weeks).sum()
        busy = [w for w in totals.index if totals[w] > 0 or rules.suppress_zeros]
        if not busy:
            continue
        days = weeks[weeks.isin(busy)].index
        result = suppress_with_daily(
            pd.DataFrame([[int(totals[w]) for w in busy]], columns=busy, index=[syndrome]),
            series.loc[days],
            weeks.loc[days],
            rules,
        )
        for day in days:
            out.loc[day, syndrome] = result.daily[day]
        for week in busy:  # a week's total is this column's total: hidden with it
            if result.weekly.column_totals[week] is pd.NA:
                out.loc[weeks[weeks == week].index, syndrome] = pd.NA
    return out.iloc[-length:]


def area_of(region: Region) -> tuple[str, str]:
    """A region's district (id, name): its parent when it has one, else itself."""
    return region.district_id, region.district_name


def _area_table(
    counts: pd.DataFrame, period: Period, syndromes: Sequence[str], regions: Sequence[Region]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Counts of ``period`` per district x syndrome (plus the unknown-residence row)."""
    area_by_region = {r.id: area_of(r)[0] for r in regions}
    names = dict(area_of(r) for r in regions)
    areas = sorted(set(area_by_region.values())) + [UNKNOWN_AREA]
    table = pd.DataFrame(0, index=pd.Index(areas, dtype=object), columns=list(syndromes))
    if counts.empty:
        return table, names
    rows = counts[
        (counts["date"] >= period.start)
        & (counts["date"] <= period.end)
        & counts["syndrome"].isin(syndromes)
    ]
    if rows.empty:
        return table, names
    keys = rows["region_id"].map(lambda r: area_by_region.get(r or "", UNKNOWN_AREA))
    for (area, syndrome), value in rows.groupby([keys, rows["syndrome"]])["count"].sum().items():
        table.loc[area, syndrome] = int(value)
    return table, names


def _open_alerts(alerts: Sequence[Alert], period: Period, lookback_days: int) -> list[Alert]:
    """Verified open alerts (monitoring, investigating), first alarming by the period's end and
    lasting into the period or ending at most ``lookback_days`` before it."""
    since = period.start - dt.timedelta(days=lookback_days)
    chosen = [
        a
        for a in alerts
        if a.status in VERIFIED_STATUSES  # never an unverified statistical signal
        and a.first_alarm_date <= period.end
        and a.end_date >= since
    ]
    return sorted(chosen, key=lambda a: (a.first_alarm_date, a.syndrome.value, a.id))


_LEVEL_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3}


def build_bulletin(
    counts: pd.DataFrame,
    *,
    kind: Kind,
    end: dt.date,
    regions: Sequence[Region],
    alerts: Sequence[Alert],
    syndromes: Sequence[str],
    data_version: dt.date,
    rules: SuppressionRules | None = None,
    curve_length: int = 28,
    top_areas: int = 3,
    alert_lookback_days: int = 14,
    rt: Mapping[str, RtEstimate | None] | None = None,
    rt_min_cases: int = 30,
) -> BulletinContent:
    """The bulletin of the period ending at ``end`` (see the module's docstring); ``rt``: the
    Rt estimates by syndrome (:func:`city_rt`), each kept only where its window's counts are
    shown."""
    rt = rt or {}
    rules = rules or SuppressionRules()
    period = period_ending(kind, end)
    previous = period.previous()
    syndromes = list(dict.fromkeys(syndromes))
    if not syndromes:
        raise ValueError("a bulletin needs at least one syndrome")
    if curve_length < 2:
        raise ValueError(f"curve_length {curve_length} must be at least 2 (this and last period)")

    if kind == "daily":
        curve = _protect_daily_curve(counts, period, syndromes, curve_length, rules)
    else:
        curve, _ = _protect_columns(_curve_table(counts, period, syndromes, curve_length), rules)
    area_raw, area_names = _area_table(counts, period, syndromes, regions)
    area_cells, area_totals = _protect_columns(area_raw, rules)
    sections = []
    for syndrome in syndromes:
        current = _value(curve.iloc[-1][syndrome])
        if _value(area_totals[syndrome]) is None:
            current = None  # the same number, hidden in the other table: hide it here too
        prev = _value(curve.iloc[-2][syndrome])
        change, trend = _trend(current, prev)
        points = [
            CurvePoint(
                label=start.isoformat() if kind == "daily" else iso_week(start),
                start=start,
                count=_value(value),
            )
            for start, value in curve[syndrome].items()
        ]
        points[-1] = points[-1].model_copy(update={"count": current})
        shown = [
            (int(v), area)
            for area, v in area_cells[syndrome].items()
            if area != UNKNOWN_AREA and _value(v) is not None and int(v) > 0
        ]
        if current is None:
            shown = []  # districts' counts could add up to the hidden city count
        shown.sort(key=lambda t: (-t[0], area_names.get(t[1], t[1])))
        estimate = rt.get(syndrome)
        sections.append(
            SyndromeSection(
                syndrome=syndrome,
                current=current,
                previous=prev,
                change_pct=change,
                trend=trend,
                top_areas=[
                    AreaCount(
                        area_id=a, name=area_names.get(a, a), count=c if kind == "weekly" else None
                    )
                    for c, a in shown[:top_areas]
                ],
                curve=points,
                rt=estimate if _rt_shown(estimate, kind, points) else None,
            )
        )

    open_alerts = _open_alerts(alerts, period, alert_lookback_days)
    region_names = {r.id: r.name for r in regions}
    levels: dict[str, Severity] = {}
    for a in open_alerts:
        for rid in a.region_ids:
            if _LEVEL_RANK[a.severity] > _LEVEL_RANK.get(levels.get(rid), 0):  # type: ignore[arg-type]
                levels[rid] = a.severity
    return BulletinContent(
        kind=kind,
        period=period,
        previous=previous,
        data_version=data_version,
        min_count=rules.min_count,
        rt_min_cases=rt_min_cases,
        syndromes=sections,
        alerts=[
            AlertItem(
                syndrome=a.syndrome.value,
                areas=[region_names.get(r, r) for r in a.region_ids],
                severity=a.severity.value,
                since=a.first_alarm_date,
            )
            for a in open_alerts
        ],
        map=[
            MapArea(
                region_id=r.id,
                name=r.name,
                geometry=r.geometry,
                level=levels[r.id].value if r.id in levels else None,
            )
            for r in sorted(regions, key=lambda r: r.id)
        ],
    )
