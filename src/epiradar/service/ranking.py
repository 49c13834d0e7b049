"""Alert ranking and the alert volume that grouping and muting leave (docs/workflow.md,
"Ranking and grouping").

Rank score (higher first)::

    evidence = max(-log10 p, log10 recurrence_days), each capped at 12
    size     = log2(1 + max(observed - expected, 0))
    novelty  = 2 when no other alert of the same syndrome in overlapping regions (a city-wide
               alert overlaps every region) first alarmed in the NOVELTY_DAYS before, else 0
    score    = evidence + size + novelty

One point is a tenfold stronger p-value or a doubled excess of cases; being new is worth two:
a new event with p = 0.01 and 3 excess cases (2 + 2 + 2) scores as a recurring one with
p = 0.001 and 7 excess cases (3 + 3 + 0), both 6; ties go to the latest first alarm.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

NOVELTY_DAYS = 28
"""An alert is new when no alert of its syndrome and regions first alarmed this many days before."""
NOVELTY_POINTS = 2.0
EVIDENCE_CAP = 12.0


class Rankable(Protocol):
    id: str
    syndrome: object
    region_ids: Sequence[str]
    first_alarm_date: dt.date
    observed: float
    expected: float
    p_value: float
    recurrence_interval: float | None


@dataclass(frozen=True)
class Rank:
    """An alert's score and its parts."""

    score: float
    evidence: float
    size: float
    novel: bool


def evidence_points(p_value: float, recurrence_days: float | None = None) -> float:
    p = p_value if p_value and p_value > 0 else 10.0**-EVIDENCE_CAP
    points = min(-math.log10(min(p, 1.0)), EVIDENCE_CAP)
    if recurrence_days is not None and recurrence_days > 1:
        points = max(points, min(math.log10(recurrence_days), EVIDENCE_CAP))
    return points


def size_points(observed: float, expected: float) -> float:
    return math.log2(1.0 + max(observed - expected, 0.0))


def rank(alert: Rankable, novel: bool) -> Rank:
    ev = evidence_points(alert.p_value, alert.recurrence_interval)
    size = size_points(alert.observed, alert.expected)
    return Rank(ev + size + (NOVELTY_POINTS if novel else 0.0), ev, size, novel)


def _overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    return not a or not b or bool(set(a) & set(b))


def novelty(
    alerts: Iterable[Rankable],
    history: Iterable[tuple[str, str, Sequence[str], dt.date]] = (),
    *,
    days: int = NOVELTY_DAYS,
) -> dict[str, bool]:
    """Whether each alert is new: no other alert (among ``alerts`` and ``history``, given as
    ``(id, syndrome, region_ids, first_alarm_date)``) of its syndrome in overlapping regions
    first alarmed in the ``days`` before its own first alarm."""
    chosen = list(alerts)
    by_syndrome: dict[str, list[tuple[dt.date, str, Sequence[str]]]] = defaultdict(list)
    seen: set[str] = set()
    for a in chosen:
        by_syndrome[str(a.syndrome)].append((a.first_alarm_date, a.id, a.region_ids))
        seen.add(a.id)
    for alert_id, syndrome, regions, day in history:
        if alert_id not in seen:
            by_syndrome[str(syndrome)].append((day, alert_id, regions))
            seen.add(alert_id)
    days_of: dict[str, list[dt.date]] = {}
    for syndrome, entries in by_syndrome.items():
        entries.sort(key=lambda e: e[0])
        days_of[syndrome] = [e[0] for e in entries]
    out: dict[str, bool] = {}
    for a in chosen:
        day = a.first_alarm_date
        key = str(a.syndrome)
        entries = by_syndrome[key]
        lo = bisect_left(days_of[key], day - dt.timedelta(days=days))
        hi = bisect_left(days_of[key], day)
        out[a.id] = not any(
            other != a.id and _overlap(regions, a.region_ids)
            for _, other, regions in entries[lo:hi]
        )
    return out


def rank_alerts(
    alerts: Sequence[Rankable],
    history: Iterable[tuple[str, str, Sequence[str], dt.date]] = (),
) -> list[tuple[Rankable, Rank]]:
    """The alerts with their ranks, highest score first (then latest first alarm, then id)."""
    new = novelty(alerts, history)
    ranked = [(a, rank(a, new[a.id])) for a in alerts]
    ranked.sort(key=lambda ar: ar[0].id)
    ranked.sort(key=lambda ar: (ar[1].score, ar[0].first_alarm_date), reverse=True)
    return ranked


# ---------------------------------------------------------------------------------------------
# alert volume


@dataclass(frozen=True)
class AlertVolume:
    """Signals, alerts after grouping, and alerts needing action after muting, over ``weeks``."""

    weeks: float
    signals: int
    alerts: int
    needing_action: int
    muted: int

    @property
    def signals_per_week(self) -> float:
        return self.signals / self.weeks

    @property
    def alerts_per_week(self) -> float:
        return self.alerts / self.weeks

    @property
    def action_per_week(self) -> float:
        return self.needing_action / self.weeks

    @property
    def grouping_factor(self) -> float:
        return self.signals / self.alerts if self.alerts else math.inf

    @property
    def total_factor(self) -> float:
        return self.signals / self.needing_action if self.needing_action else math.inf


def needing_action(alerts: Sequence[Rankable], *, mute_days: int = 14) -> list[Rankable]:
    """The alerts a team acts on when each one it acts on mutes its event (its syndrome in its
    regions) for ``mute_days``: a later alert of that syndrome in overlapping regions before
    the mute expires arrives muted (a known ongoing event) and needs no action."""
    mutes: dict[str, list[tuple[dt.date, Sequence[str]]]] = defaultdict(list)
    out = []
    for a in sorted(alerts, key=lambda x: (x.first_alarm_date, x.id)):
        day = a.first_alarm_date
        active = [m for m in mutes[str(a.syndrome)] if m[0] >= day]
        mutes[str(a.syndrome)] = active
        if any(_overlap(regions, a.region_ids) for _, regions in active):
            continue
        out.append(a)
        active.append((day + dt.timedelta(days=mute_days), a.region_ids))
    return out


def alert_volume(
    n_signals: int,
    alerts: Sequence[Rankable],
    start: dt.date,
    end: dt.date,
    *,
    mute_days: int = 14,
) -> AlertVolume:
    """The volume over ``[start, end]``: ``n_signals`` signals grouped into ``alerts``, and
    those left needing action after muting known events for ``mute_days``."""
    acted = needing_action(alerts, mute_days=mute_days)
    weeks = ((end - start).days + 1) / 7
    return AlertVolume(weeks, n_signals, len(alerts), len(acted), len(alerts) - len(acted))
