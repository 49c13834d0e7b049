"""Run detection for a period: daily counts -> temporal detectors and space-time scans ->
signals -> merged alerts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from shapely.geometry import shape

from epiradar.config import DetectSettings, Settings
from epiradar.detect.engine import detect_signals, spacetime_signals
from epiradar.detect.merge import group_signals
from epiradar.geo import region_adjacency
from epiradar.model import Alert, Region, Signal, Syndrome
from epiradar.store import Store


class NoDataError(RuntimeError):
    """There are no visits to run detection on."""


def count_cube(
    store: Store,
    end: dt.date,
    syndromes: list[Syndrome],
    *,
    city: bool = True,
    regions: list[Region] | None = None,
) -> tuple[np.ndarray, list[tuple[str | None, Syndrome]], list[dt.date]]:
    """Daily counts up to ``end`` as ``counts[series, day]`` with series keys and dates.

    Series are every known region x syndrome (region ``None`` = the whole city, which also counts
    visits whose residence is unknown). Days without visits count zero.
    """
    date_range = store.visit_date_range()
    if date_range is None:
        raise NoDataError("no visits in the database: ingest some first")
    first = date_range[0]
    dates = [d.date() for d in pd.date_range(first, end, freq="D")]
    region_ids = [r.id for r in (store.regions() if regions is None else regions)]
    frame = store.daily_counts(first, end)
    frame = frame[frame["syndrome"].isin([str(s) for s in syndromes])]
    day_index = {d.isoformat(): i for i, d in enumerate(dates)}
    keys: list[tuple[str | None, Syndrome]] = [(r, s) for s in syndromes for r in region_ids]
    if city:
        keys += [(None, s) for s in syndromes]
    row_of = {(r, str(s)): i for i, (r, s) in enumerate(keys)}
    counts = np.zeros((len(keys), len(dates)), dtype=np.float64)
    cols = np.fromiter((day_index[str(d)] for d in frame["date"]), dtype=np.int64, count=len(frame))
    syn = frame["syndrome"].astype(str).to_numpy()
    reg = frame["region_id"].fillna("").astype(str).to_numpy()
    values = frame["count"].to_numpy(dtype=np.float64)
    region_rows = np.array(
        [row_of.get((r, s), -1) for r, s in zip(reg, syn, strict=True)], dtype=np.int64
    )
    known = region_rows >= 0
    np.add.at(counts, (region_rows[known], cols[known]), values[known])
    if city:
        city_rows = np.array([row_of[(None, s)] for s in syn], dtype=np.int64)
        np.add.at(counts, (city_rows, cols), values)
    return counts, keys, dates


def run_detection(
    store: Store, settings: Settings, *, start: dt.date | None = None, end: dt.date | None = None
) -> list[Alert]:
    """Replay detection prospectively over ``[start, end]`` and store the resulting alerts.

    Each day is judged only on data up to that day (the detectors look back, never ahead).
    Defaults: ``end`` = the last day with visits, ``start`` = 30 days before ``end``.
    Alerts previously stored for the period are replaced, so re-running is idempotent.
    Subscribers of the stored alerts get a notification queued, once per alert
    (``epiradar notify send-pending`` sends it; see docs/notifications.md).
    """
    from epiradar.service.notify import queue_alert_notifications

    start, end, groups = compute_alerts(store, settings, start=start, end=end)
    alerts = [alert for alert, _ in groups]
    members = [(alert.id, signal) for alert, group in groups for signal in group]
    store.replace_alerts(alerts, members, start, end)
    queue_alert_notifications(store, settings, alerts, as_of=end)
    return alerts


def compute_alerts(
    store: Store,
    settings: Settings,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    default_days: int = 30,
) -> tuple[dt.date, dt.date, list[tuple[Alert, list[Signal]]]]:
    """The alerts (each with its signals) that ``settings`` give over ``[start, end]``,
    stored nowhere. Defaults: ``end`` = the last day with visits, ``start`` =
    ``default_days`` days before it (``None``: the first day with visits)."""
    date_range = store.visit_date_range()
    if date_range is None:
        raise NoDataError("no visits in the database: ingest some first")
    end = end or date_range[1]
    if start is None:
        start = date_range[0] if default_days is None else end - dt.timedelta(default_days - 1)
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    cfg = settings.detect
    regions = store.regions()
    counts, keys, dates = count_cube(
        store, end, list(cfg.syndromes), city=cfg.city, regions=regions
    )
    signals = detect_signals(
        counts,
        keys,
        dates,
        methods=cfg.methods_by_syndrome(),
        params=cfg.params,
        baseline=cfg.baseline,
        alpha=cfg.alpha,
        min_sigma=cfg.min_sigma,
        min_observed=cfg.min_observed,
        monitor_start=start,
        count_guard=cfg.count_guard,
        burden=cfg.burden,
        fdr_level=cfg.fdr_level,
        windows=cfg.windows,
        areas={r.id: r.parent_id for r in regions if r.parent_id},
    )
    signals += cluster_signals(counts, keys, dates, regions, cfg, monitor_start=start)
    region_ids = {r.id for r in regions}
    district_regions: dict[str, list[str]] = {}
    for r in regions:
        if r.parent_id and r.parent_id not in region_ids:
            district_regions.setdefault(r.parent_id, []).append(r.id)
    groups = group_signals(
        signals,
        region_adjacency(regions),
        gap_days=cfg.merge_gap_days,
        correction=cfg.p_correction,
        areas=district_regions,
    )
    return start, end, groups


def finest_regions(regions: list[Region]) -> list[Region]:
    """The regions no other region lies in (``parent_id``) that have a boundary: the zones
    of the space-time scans."""
    parents = {r.parent_id for r in regions if r.parent_id}
    return [r for r in regions if r.id not in parents and r.geometry]


def zone_centroids(regions: list[Region]) -> np.ndarray:
    """``(lat, lon)`` of each region's polygon centroid (GeoJSON is lon, lat)."""
    points = [shape(r.geometry).centroid for r in regions]
    return np.array([[p.y, p.x] for p in points], dtype=float).reshape(-1, 2)


def cluster_signals(
    counts: np.ndarray,
    keys: list[tuple[str | None, Syndrome]],
    dates: list[dt.date],
    regions: list[Region],
    cfg: DetectSettings,
    *,
    monitor_start: dt.date | None = None,
) -> list[Signal]:
    """Space-time clusters of every monitored syndrome (``[detect.spacetime]``, per syndrome)
    over the finest regions, each day from ``monitor_start``, as signals.

    ``counts``/``keys`` are the count cube (:func:`count_cube`); regions without a boundary
    cannot be placed and are left out of the scans (their visits still count for the city)."""
    zones = finest_regions(regions)
    if len(zones) < 2 or not dates:
        return []
    row_of = {(r, str(s)): i for i, (r, s) in enumerate(keys)}
    coords = zone_centroids(zones)
    adjacency: list[list[int]] | None = None
    out: list[Signal] = []
    for syndrome in cfg.syndromes:
        st = cfg.spacetime.for_syndrome(syndrome)
        if not st.enabled:
            continue
        rows = [row_of.get((z.id, str(syndrome))) for z in zones]
        if any(r is None for r in rows):
            continue
        if st.shape == "adjacency" and adjacency is None:
            index = {z.id: i for i, z in enumerate(zones)}
            touching = region_adjacency(zones)
            adjacency = [sorted(index[n] for n in touching[z.id] if n in index) for z in zones]
        out += spacetime_signals(
            counts[rows],
            [z.id for z in zones],
            dates,
            syndrome,
            coords=coords,
            adjacency=adjacency if st.shape == "adjacency" else None,
            method=st.method,
            max_days=st.max_days,
            max_fraction=st.max_fraction,
            max_radius_km=st.max_radius_km,
            max_neighbors=st.max_neighbors,
            min_cases=st.min_cases,
            n_sim=st.n_sim,
            min_recurrence_days=st.min_recurrence_days,
            study_days=st.study_days,
            baseline_days=st.baseline_days,
            monitor_start=monitor_start,
        )
    return out


@dataclass(frozen=True)
class Replay:
    """Detection rerun over a period with other settings, beside the current settings."""

    start: dt.date
    end: dt.date
    current: list[Alert]
    proposed: list[Alert]

    def weekly(self) -> pd.DataFrame:
        """Alerts per ISO week (Monday) under each settings: ``week, current, proposed``."""

        def per_week(alerts: list[Alert]) -> pd.Series:
            weeks = [
                a.first_alarm_date - dt.timedelta(days=a.first_alarm_date.weekday()) for a in alerts
            ]
            return pd.Series(weeks, dtype="object").value_counts()

        first = self.start - dt.timedelta(days=self.start.weekday())
        weeks = [first + dt.timedelta(days=7 * i) for i in range((self.end - first).days // 7 + 1)]
        frame = pd.DataFrame({"week": weeks})
        for name, alerts in (("current", self.current), ("proposed", self.proposed)):
            counts = per_week(alerts)
            frame[name] = [int(counts.get(w, 0)) for w in weeks]
        return frame


def replay_detection(
    store: Store,
    current: Settings,
    proposed: Settings,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> Replay:
    """Rerun history with ``proposed`` settings and with ``current`` ones, storing nothing,
    so the alert volume and the alerts themselves can be compared before switching.
    Default period: the whole history."""
    start, end, now = compute_alerts(store, current, start=start, end=end, default_days=None)
    _, _, new = compute_alerts(store, proposed, start=start, end=end)
    return Replay(start, end, [a for a, _ in now], [a for a, _ in new])
