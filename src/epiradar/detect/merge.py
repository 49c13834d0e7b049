"""Merge signals into alerts: connected components of the space-time graph.

Two signals of one syndrome are linked when their regions are the same or neighbours and their
dates are at most ``gap_days`` apart; each connected component is one alert (a space-time
cluster of EARS signals, Hutwagner et al. 2003). City-level signals (``region_id=None``) link
only to each other. A signal of a district (hierarchical burden control, ``areas``) stands for
its member regions: it links to a signal whose regions overlap or neighbour its own, and an
alert lists the member regions.

A space-time cluster (a signal with ``region_ids``) stands for its zones over its days
(``start_date`` .. ``date``): it links to any signal of its syndrome whose regions overlap or
neighbour its zones on a day within ``gap_days`` of its window, and to other clusters alike.
So a scan that finds the same outbreak on several days, and the temporal detectors that see
part of it in one region, make one alert; the alert lists every region and, apart, the
clusters' regions (``cluster_region_ids``) with their largest recurrence interval.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Literal

from epiradar.model import Alert, Severity, Signal

Correction = Literal["sidak", "bonferroni", "none"]
_CellKey = tuple[str, str | None, dt.date]  # (syndrome, region, day)
_SEVERITY_ORDER = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2}


def merge_signals(
    signals: Sequence[Signal],
    neighbours: Mapping[str, set[str]],
    *,
    gap_days: int = 1,
    correction: Correction = "sidak",
    areas: Mapping[str, Collection[str]] | None = None,
) -> list[Alert]:
    """One alert per connected component of signals; sorted by first alarm, then severity.

    ``neighbours`` is read as an undirected graph. An alert's ``observed`` and ``expected``
    sum over its distinct (region, day) cells, so a day flagged by several methods counts once
    (``expected`` of a cell is the mean over its methods); with space-time clusters they are the
    strongest cluster's (smallest p-value, then most visits) when it counts more visits. ``p_value`` is the smallest signal
    p-value corrected for the ``n`` merged signals: Sidak ``1 - (1 - p)^n`` (default),
    Bonferroni ``min(1, n p)`` or none. ``id`` is ``{syndrome}-{start:%Y%m%d}-{first region or
    'city'}``, suffixed ``-2``, ``-3``... when several alerts share it.
    """
    groups = group_signals(
        signals, neighbours, gap_days=gap_days, correction=correction, areas=areas
    )
    return [alert for alert, _ in groups]


def group_signals(
    signals: Sequence[Signal],
    neighbours: Mapping[str, set[str]],
    *,
    gap_days: int = 1,
    correction: Correction = "sidak",
    areas: Mapping[str, Collection[str]] | None = None,
) -> list[tuple[Alert, list[Signal]]]:
    """Like ``merge_signals``, each alert paired with the signals it merges.

    ``areas`` maps a district id to its member region ids (see the module docstring)."""
    if gap_days < 0:
        raise ValueError("gap_days must be non-negative")
    cells: dict[_CellKey, list[Signal]] = defaultdict(list)
    clusters: list[Signal] = []
    for s in signals:
        if s.is_cluster:
            clusters.append(s)
        else:
            cells[(str(s.syndrome), s.region_id, s.date)].append(s)
    keys = sorted(cells, key=lambda k: (k[0], k[1] or "", k[2]))
    index = {k: i for i, k in enumerate(keys)}
    clusters.sort(key=lambda c: (str(c.syndrome), c.date, c.region_ids, c.detector))
    by_day: dict[tuple[str, dt.date], list[_CellKey]] = defaultdict(list)
    for k in keys:
        by_day[(k[0], k[2])].append(k)
    adjacent = _undirected(neighbours)
    footprint = _Footprints(adjacent, areas or {})
    parent = list(range(len(keys) + len(clusters)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for k in keys:
        syndrome, region, day = k
        for delta in range(gap_days + 1):
            for other in by_day.get((syndrome, day + dt.timedelta(days=delta)), ()):
                if other != k and footprint.linked(region, other[1]):
                    a, b = find(index[k]), find(index[other])
                    parent[max(a, b)] = min(a, b)

    def union(a: int, b: int) -> None:
        a, b = find(a), find(b)
        parent[max(a, b)] = min(a, b)

    reach = [footprint.reach_of_zones(c.region_ids or ()) for c in clusters]
    for i, c in enumerate(clusters):
        node = len(keys) + i
        syndrome, first = str(c.syndrome), c.start_date or c.date
        for delta in range((c.date - first).days + 2 * gap_days + 1):
            day = first + dt.timedelta(days=delta - gap_days)
            for k in by_day.get((syndrome, day), ()):
                if k[1] is not None and not reach[i].isdisjoint(footprint.regions(k[1])):
                    union(node, index[k])
        for j in range(i):
            other = clusters[j]
            if (
                str(other.syndrome) == syndrome
                and _days_apart(c, other) <= gap_days
                and not reach[i].isdisjoint(other.region_ids or ())
            ):
                union(node, len(keys) + j)
    components: dict[int, tuple[list[_CellKey], list[Signal]]] = defaultdict(lambda: ([], []))
    for k in keys:
        components[find(index[k])][0].append(k)
    for i, c in enumerate(clusters):
        components[find(len(keys) + i)][1].append(c)
    groups = [
        (
            _alert(members, cells, correction, footprint, spatial),
            [sig for k in members for sig in cells[k]] + spatial,
        )
        for members, spatial in components.values()
    ]
    return _sorted_with_unique_ids(groups)


def _days_apart(a: Signal, b: Signal) -> int:
    """Days between two clusters' windows (0 when they overlap)."""
    a0, b0 = a.start_date or a.date, b.start_date or b.date
    return max((b0 - a.date).days, (a0 - b.date).days, 0)


def _undirected(neighbours: Mapping[str, set[str]]) -> dict[str, set[str]]:
    adjacent: dict[str, set[str]] = defaultdict(set)
    for region, others in neighbours.items():
        for other in others:
            adjacent[region].add(other)
            adjacent[other].add(region)
    return adjacent


class _Footprints:
    """The regions a signal stands for, and whether two signals' regions touch."""

    def __init__(
        self, adjacent: Mapping[str, set[str]], areas: Mapping[str, Collection[str]]
    ) -> None:
        self._adjacent = adjacent
        self._areas = {a: frozenset(m) for a, m in areas.items()}
        self._reach: dict[str, frozenset[str]] = {}

    def regions(self, region: str) -> frozenset[str]:
        return self._areas.get(region, frozenset((region,)))

    def _reach_of(self, region: str) -> frozenset[str]:
        """The footprint and every region next to it."""
        if region not in self._reach:
            own = self.regions(region)
            near = set(own)
            for r in own:
                near |= self._adjacent.get(r, set())
            self._reach[region] = frozenset(near)
        return self._reach[region]

    def reach_of_zones(self, zones: Collection[str]) -> frozenset[str]:
        """A cluster's zones and every region next to one of them."""
        near = set(zones)
        for r in zones:
            near |= self._adjacent.get(r, set())
        return frozenset(near)

    def linked(self, a: str | None, b: str | None) -> bool:
        if a is None or b is None:
            return a is None and b is None
        if a == b:
            return True
        if a not in self._areas and b not in self._areas:
            return b in self._adjacent.get(a, ())
        return not self._reach_of(a).isdisjoint(self.regions(b))


def _alert(
    members: list[_CellKey],
    cells: Mapping[_CellKey, list[Signal]],
    correction: Correction,
    footprint: _Footprints,
    clusters: Sequence[Signal] = (),
) -> Alert:
    member_signals = [s for k in members for s in cells[k]] + list(clusters)
    n = len(member_signals)
    p_value = _corrected(min(s.p_value for s in member_signals), n, correction)
    observed = sum(cells[k][0].observed for k in members)
    expected = sum(sum(s.expected for s in cells[k]) / len(cells[k]) for k in members)
    if clusters:  # the strongest cluster's counts when they cover more visits
        best = min(clusters, key=lambda c: (c.p_value, -c.observed, c.date))
        if best.observed >= observed:
            observed, expected = best.observed, best.expected
    start = min([k[2] for k in members] + [c.start_date or c.date for c in clusters])
    end = max([k[2] for k in members] + [c.date for c in clusters])
    first_alarm = min([k[2] for k in members] + [c.date for c in clusters])
    zones = sorted({r for c in clusters for r in c.region_ids or ()})
    regions = sorted(
        {r for k in members if k[1] is not None for r in footprint.regions(k[1])} | set(zones)
    )
    intervals = [c.recurrence_interval for c in clusters if c.recurrence_interval is not None]
    syndrome = member_signals[0].syndrome
    return Alert(
        id=f"{syndrome}-{start:%Y%m%d}-{regions[0] if regions else 'city'}",
        syndrome=syndrome,
        region_ids=regions,
        start_date=start,
        end_date=end,
        first_alarm_date=first_alarm,
        observed=observed,
        expected=expected,
        p_value=p_value,
        severity=Severity.from_pvalue(p_value),
        detector=",".join(sorted({s.detector for s in member_signals})),
        n_signals=n,
        cluster_region_ids=zones,
        recurrence_interval=max(intervals) if intervals else None,
    )


def _corrected(p: float, n: int, correction: Correction) -> float:
    if correction == "sidak":
        return 1.0 if p >= 1.0 else -math.expm1(n * math.log1p(-p))
    if correction == "bonferroni":
        return min(1.0, n * p)
    if correction == "none":
        return p
    raise ValueError(f"unknown correction {correction!r}")


def _sorted_with_unique_ids(
    groups: list[tuple[Alert, list[Signal]]],
) -> list[tuple[Alert, list[Signal]]]:
    groups.sort(key=lambda g: (g[0].id, g[0].end_date, g[0].region_ids, g[0].n_signals))
    seen: dict[str, int] = {}
    unique = []
    for a, members in groups:
        seen[a.id] = seen.get(a.id, 0) + 1
        if seen[a.id] > 1:
            a = a.model_copy(update={"id": f"{a.id}-{seen[a.id]}"})
        unique.append((a, members))
    unique.sort(key=lambda g: (g[0].first_alarm_date, _SEVERITY_ORDER[g[0].severity], g[0].id))
    return unique
