"""Hospital feeds: per-facility data quality and the alert about a facility gone silent.

The quality view reads what arrived (new visits, applied messages, quarantined records), how
complete the key fields are and how late visits arrive. The silent-feed rule compares a silence
with the facility's usual arrivals at the same hours; :func:`assess_feeds` is the pure rule,
:func:`check_silent_feeds` the use case that reads the store and raises or resolves alerts.

Times are the server's local time without zone, as the store writes ``received_at``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from epiradar.config import FeedSettings
from epiradar.store import Store
from epiradar.store.feeds import KEY_FIELDS

log = logging.getLogger(__name__)

SILENT = "silent"
"""Kind of the feed alert about a silent facility."""
MIN_HISTORY_DAYS = 7.0
"""Days of history a facility needs before its silence can raise an alert (each hour of the
week seen at least once); fewer when ``history_days`` is shorter."""
CHECK_EVERY_S = 300.0
"""How often the server runs :func:`check_silent_feeds` (see :func:`watch_feeds`)."""
HOUR = dt.timedelta(hours=1)

FeedStatus = Literal["ok", "silent", "never"]
_STATUS_ORDER = {"silent": 0, "never": 1, "ok": 2}


class FeedAlert(BaseModel):
    """A data-quality alert about one facility's feed."""

    id: int
    facility_id: str
    kind: str
    detail: str
    raised_at: dt.datetime
    resolved_at: dt.datetime | None = None
    is_open: bool


class FeedAlertChange(BaseModel):
    """An alert raised or resolved by one run of :func:`check_silent_feeds`."""

    facility_id: str
    kind: str = SILENT
    change: Literal["raised", "resolved"]
    detail: str


class FeedDay(BaseModel):
    """What arrived from a facility on one day (by time of arrival)."""

    date: dt.date
    visits: int = 0
    """New visits (first arrival)."""
    messages: int = 0
    """Applied messages, updates of known visits included."""
    rejected: int = 0
    """Records of this sender put in quarantine."""


class Silence(BaseModel):
    """The silent-feed rule's verdict on one facility at one time."""

    facility_id: str
    last_arrival: dt.datetime | None
    hours_silent: float | None
    expected: float | None
    """Arrivals the usual pattern predicts over the silent whole hours (None: not computed)."""
    history_days: float = 0.0
    """Days of history behind ``expected``."""
    silent: bool
    detail: str


class FacilityFeed(BaseModel):
    """One facility's feed over the window."""

    facility_id: str
    name: str
    registered: bool
    """Whether the facility is in the city's facility list (else an unknown sender)."""
    status: FeedStatus
    last_arrival: dt.datetime | None
    hours_since: float | None
    expected_in_silence: float | None
    days: list[FeedDay]
    visits: int
    messages: int
    rejected: int
    completeness: dict[str, float | None]
    """Share of the window's new visits with each key field known (None: no visits)."""
    delay_p50_h: float | None
    """Median hours from visit to arrival."""
    delay_p90_h: float | None
    open_alerts: list[FeedAlert]


class FeedQuality(BaseModel):
    """Every facility's feed over the last ``days`` days, silent ones first."""

    generated_at: dt.datetime
    start: dt.datetime
    days: int
    key_fields: list[str]
    silent_hours: float
    min_expected: float
    history_days: int
    facilities: list[FacilityFeed]
    open_alerts: list[FeedAlert]


# ---------------------------------------------------------------------------------------------
# the silent-feed rule (pure)


def _naive(value: dt.datetime | None) -> dt.datetime:
    """``value`` (default: now) as local time without zone, like the stored times."""
    if value is None:
        return dt.datetime.now().replace(microsecond=0)
    return value.astimezone().replace(tzinfo=None) if value.tzinfo else value


def _parse_time(value: str | dt.datetime | None) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return _naive(dt.datetime.fromisoformat(str(value)))
    except ValueError:
        return None


def _floor_hour(value: dt.datetime) -> dt.datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _iso(value: dt.datetime) -> str:
    return value.isoformat(timespec="seconds")


def expected_arrivals(
    counts: np.ndarray | Sequence[float], first_hour: dt.datetime, baseline: slice, window: slice
) -> float:
    """Arrivals the usual pattern predicts over the hours ``window`` from those of ``baseline``.

    ``counts`` are arrivals per whole hour from ``first_hour``; both slices index it (``window``
    may reach past its end). Two estimates, each the sum over the window's hours of the mean
    count at the same hour of the day (resp. of the week) in the baseline: the smaller is kept,
    so that a clinic closed at night or on Sundays predicts nothing for those hours. An estimate
    whose baseline misses one of the window's slots is left out.
    """
    b0, b1 = baseline.start or 0, baseline.stop or 0
    base = np.arange(b0, b1)
    hours = np.arange(window.start or 0, window.stop or 0)
    if base.size == 0 or hours.size == 0:
        return 0.0
    values = np.asarray(counts[b0:b1], dtype=float)
    estimates = []
    for period, phase in (
        (24, first_hour.hour),
        (168, first_hour.weekday() * 24 + first_hour.hour),
    ):
        slots = (base + phase) % period
        sums = np.bincount(slots, weights=values, minlength=period)
        seen = np.bincount(slots, minlength=period)
        wanted = (hours + phase) % period
        if (seen[wanted] == 0).any():
            continue
        estimates.append(float((sums[wanted] / seen[wanted]).sum()))
    return min(estimates) if estimates else 0.0


def history_window(
    last: Mapping[str, str | dt.datetime | None], now: dt.datetime, settings: FeedSettings
) -> tuple[dt.datetime, dt.datetime] | None:
    """The arrivals :func:`assess_feeds` needs: ``history_days`` before the earliest silence
    that may be judged, up to ``now``; None when no facility is silent long enough."""
    now = _naive(now)
    starts = []
    for value in last.values():
        at = _parse_time(value)
        if at is None:
            continue
        hours = (now - at) / HOUR
        if settings.silent_hours <= hours and at >= now - dt.timedelta(days=settings.history_days):
            starts.append(_floor_hour(at) + HOUR)
    if not starts:
        return None
    return min(starts) - dt.timedelta(days=settings.history_days), now


def _hourly_by_facility(hourly: pd.DataFrame) -> dict[str, pd.Series]:
    """facility -> arrivals indexed by the start of each hour."""
    if hourly.empty:
        return {}
    hours = pd.to_datetime(
        hourly["hour"].astype(str).str.replace(" ", "T", regex=False),
        format="%Y-%m-%dT%H",
        errors="coerce",
    )
    frame = pd.DataFrame(
        {"facility_id": hourly["facility_id"], "hour": hours, "count": hourly["count"]}
    ).dropna(subset=["hour"])
    return {
        str(facility): group.groupby("hour")["count"].sum()
        for facility, group in frame.groupby("facility_id")
    }


def assess_silence(
    facility_id: str,
    arrivals: pd.Series | None,
    last_arrival: str | dt.datetime | None,
    now: dt.datetime,
    settings: FeedSettings,
    *,
    min_history_days: float = MIN_HISTORY_DAYS,
) -> Silence:
    """Whether one facility is silent at ``now``.

    Silent means: nothing arrived for at least ``silent_hours``, and the facility's usual
    pattern over the ``history_days`` before the silence (:func:`expected_arrivals`, over the
    whole clock hours after the hour of the last arrival and before the current one) predicts
    at least ``min_expected`` arrivals. If arrivals are Poisson with that mean ``mu``, a working
    feed stays empty with probability ``exp(-mu)``: ``mu >= 5`` keeps that below 0.7% per
    silence. Bursty or batch feeds (one file a day) are not Poisson; the hour-of-day and
    hour-of-week pattern predicts a daily batch at its usual hour, so a batch about an hour late
    raises and its arrival resolves. A facility with less than ``min_history_days`` of history
    (or ``history_days`` when shorter; history starts at its first arrival when that comes
    after the baseline's first day) is not judged; one silent for longer than ``history_days``
    is silent whatever its rate was.

    ``arrivals``: new visits per hour, indexed by hour start (may be None or partial outside
    the history).
    """
    now = _naive(now)
    at = _parse_time(last_arrival)
    if at is None:
        return Silence(
            facility_id=facility_id,
            last_arrival=None,
            hours_silent=None,
            expected=None,
            silent=False,
            detail="nothing has arrived yet",
        )
    hours = max((now - at) / HOUR, 0.0)
    common = {"facility_id": facility_id, "last_arrival": at, "hours_silent": round(hours, 2)}
    if hours < settings.silent_hours:
        return Silence(**common, expected=None, silent=False, detail="sending")
    if at < now - dt.timedelta(days=settings.history_days):
        return Silence(
            **common,
            expected=None,
            silent=True,
            detail=f"no arrivals for {hours / 24:.1f} days (since {at:%Y-%m-%d %H:%M}), "
            f"longer than the {settings.history_days}-day history",
        )
    silence_start = _floor_hour(at) + HOUR
    first_hour = silence_start - dt.timedelta(days=settings.history_days)
    n_base = settings.history_days * 24
    n_total = n_base + max(int((_floor_hour(now) - silence_start) / HOUR), 0)
    counts = np.zeros(n_total)
    if arrivals is not None and len(arrivals):
        offsets = ((arrivals.index - first_hour) / HOUR).astype(int)
        keep = (offsets >= 0) & (offsets < n_total)
        np.add.at(counts, np.asarray(offsets[keep]), np.asarray(arrivals.to_numpy()[keep], float))
    sending = np.flatnonzero(counts[:n_base])
    if sending.size == 0:
        return Silence(**common, expected=None, silent=False, detail="no arrivals in the history")
    # A facility first heard of after the baseline's first day is new: its history starts then
    # (within the first day, the gap is taken for its usual closed hours).
    start = int(sending[0]) if sending[0] >= 24 else 0
    history = (n_base - start) / 24
    need = min(min_history_days, float(settings.history_days))
    if history < need:
        return Silence(
            **common,
            expected=None,
            history_days=round(history, 2),
            silent=False,
            detail=f"too little history ({history:.1f} of {need:g} days)",
        )
    expected = expected_arrivals(counts, first_hour, slice(start, n_base), slice(n_base, n_total))
    silent = expected >= settings.min_expected
    return Silence(
        **common,
        expected=round(expected, 2),
        history_days=round(history, 2),
        silent=silent,
        detail=(
            f"no arrivals for {hours:.1f} h (since {at:%Y-%m-%d %H:%M}); its usual pattern "
            f"predicts {expected:.1f} in that time (Poisson P(none) = {math.exp(-expected):.1e})"
        ),
    )


def assess_feeds(
    hourly: pd.DataFrame,
    last: Mapping[str, str | dt.datetime | None],
    now: dt.datetime,
    settings: FeedSettings,
    *,
    min_history_days: float = MIN_HISTORY_DAYS,
) -> dict[str, Silence]:
    """:func:`assess_silence` of every facility in ``last`` (facility -> last arrival), from
    ``hourly`` (``facility_id``, ``hour`` as ``YYYY-MM-DDTHH``, ``count``: new visits) covering
    :func:`history_window`."""
    by_facility = _hourly_by_facility(hourly)
    return {
        facility: assess_silence(
            facility,
            by_facility.get(facility),
            at,
            now,
            settings,
            min_history_days=min_history_days,
        )
        for facility, at in last.items()
    }


# ---------------------------------------------------------------------------------------------
# use cases


def _silences(store: Store, settings: FeedSettings, now: dt.datetime) -> dict[str, Silence]:
    """The rule for every facility that ever sent: last arrivals, then (only when some facility
    has been quiet for ``silent_hours``) the hourly arrivals of the history it needs."""
    last = store.last_arrivals()
    window = history_window(last, now, settings)
    if window is None:
        hourly = pd.DataFrame(columns=["facility_id", "hour", "count"])
    else:
        hourly = store.hourly_arrivals(_iso(window[0]), _iso(window[1]))
    return assess_feeds(hourly, last, now, settings)


def feed_alerts(
    store: Store, *, open_only: bool = False, limit: int | None = None
) -> list[FeedAlert]:
    """Feed alerts, open ones first, then newest first."""
    rows = [
        FeedAlert(**row, is_open=row.get("resolved_at") is None)
        for row in store.feed_alerts(open_only=open_only)
    ]
    rows.sort(key=lambda a: (not a.is_open, -a.id))
    return rows[:limit] if limit is not None else rows


def check_silent_feeds(
    store: Store, settings: FeedSettings, *, now: dt.datetime | None = None
) -> list[FeedAlertChange]:
    """Raise a ``silent`` alert for each facility :func:`assess_silence` finds silent (once:
    an open one is not raised again) and resolve the open ones of facilities that sent within
    the last ``silent_hours``. Cheap enough to run every few minutes: the last arrival per
    facility, and hourly arrivals only when some facility has been quiet for ``silent_hours``."""
    now = _naive(now)
    silences = _silences(store, settings, now)
    open_silent = {a.facility_id for a in feed_alerts(store, open_only=True) if a.kind == SILENT}
    changes: list[FeedAlertChange] = []
    for facility, silence in sorted(silences.items()):
        if silence.silent and facility not in open_silent:
            if store.raise_feed_alert(facility, SILENT, silence.detail):
                changes.append(
                    FeedAlertChange(facility_id=facility, change="raised", detail=silence.detail)
                )
        elif (
            facility in open_silent
            and silence.hours_silent is not None
            and silence.hours_silent < settings.silent_hours
            and store.resolve_feed_alerts(facility, SILENT)
        ):
            changes.append(
                FeedAlertChange(
                    facility_id=facility,
                    change="resolved",
                    detail=f"sending again (last arrival {silence.last_arrival:%Y-%m-%d %H:%M})",
                )
            )
    return changes


async def watch_feeds(
    store: Store, settings: FeedSettings, *, every_s: float = CHECK_EVERY_S
) -> None:
    """Run :func:`check_silent_feeds` every ``every_s`` seconds until cancelled, in a worker
    thread so that the event loop keeps serving; a failed check is logged and retried."""
    while True:
        try:
            changes = await asyncio.to_thread(check_silent_feeds, store, settings)
        except Exception:
            log.exception("silent-feed check failed")
        else:
            for change in changes:
                log.warning("feed %s %s: %s", change.facility_id, change.change, change.detail)
        await asyncio.sleep(every_s)


def _number(value: object, digits: int = 3) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else round(number, digits)


def feed_quality(
    store: Store,
    *,
    days: int = 14,
    now: dt.datetime | None = None,
    settings: FeedSettings | None = None,
) -> FeedQuality:
    """Every facility's feed over the ``days`` calendar days up to ``now``: registered ones,
    silent ones and unknown senders seen in the data."""
    if days < 1:
        raise ValueError("days must be at least 1")
    settings = settings or FeedSettings()
    now = _naive(now)
    start = dt.datetime.combine(now.date() - dt.timedelta(days=days - 1), dt.time())
    dates = [start.date() + dt.timedelta(days=i) for i in range(days)]
    activity = store.feed_activity(_iso(start), _iso(now))
    complete = store.feed_completeness(_iso(start), _iso(now)).set_index("facility_id")
    silences = _silences(store, settings, now)
    alerts = feed_alerts(store, open_only=True)
    names = {f.id: f.name for f in store.facilities()}

    per_day: dict[str, dict[dt.date, FeedDay]] = {}
    for row in activity.itertuples(index=False):
        day = dt.date.fromisoformat(str(row.date)[:10])
        per_day.setdefault(str(row.facility_id), {})[day] = FeedDay(
            date=day, visits=int(row.visits), messages=int(row.messages), rejected=int(row.rejected)
        )
    ids = set(names) | set(per_day) | set(complete.index) | set(silences)
    ids |= {a.facility_id for a in alerts}

    facilities = []
    for facility in ids:
        silence = silences.get(facility)
        series = [per_day.get(facility, {}).get(d, FeedDay(date=d)) for d in dates]
        row = complete.loc[facility] if facility in complete.index else None
        open_alerts = [a for a in alerts if a.facility_id == facility]
        hours = silence.hours_silent if silence else None
        if silence is None or silence.last_arrival is None:
            status: FeedStatus = "never"
        elif silence.silent or (
            hours is not None
            and hours >= settings.silent_hours
            and any(a.kind == SILENT for a in open_alerts)
        ):
            status = "silent"
        else:
            status = "ok"
        facilities.append(
            FacilityFeed(
                facility_id=facility,
                name=names.get(facility, facility),
                registered=facility in names,
                status=status,
                last_arrival=silence.last_arrival if silence else None,
                hours_since=hours,
                expected_in_silence=silence.expected if silence else None,
                days=series,
                visits=sum(d.visits for d in series),
                messages=sum(d.messages for d in series),
                rejected=sum(d.rejected for d in series),
                completeness={
                    name: _number(row[name]) if row is not None else None for name in KEY_FIELDS
                },
                delay_p50_h=_number(row["delay_p50_h"], 2) if row is not None else None,
                delay_p90_h=_number(row["delay_p90_h"], 2) if row is not None else None,
                open_alerts=open_alerts,
            )
        )
    facilities.sort(key=lambda f: (_STATUS_ORDER[f.status], f.facility_id))
    return FeedQuality(
        generated_at=now,
        start=start,
        days=days,
        key_fields=list(KEY_FIELDS),
        silent_hours=settings.silent_hours,
        min_expected=settings.min_expected,
        history_days=settings.history_days,
        facilities=facilities,
        open_alerts=alerts,
    )
