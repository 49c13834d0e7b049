"""Prospective space-time scan statistics.

- :func:`permutation_scan`: the space-time permutation scan (Kulldorff, Heffernan, Hartman,
  Assunção & Mostashari 2005, PLoS Medicine 2(3):e59), the statistic New York City runs daily on
  emergency-department visits. It needs no population: a zone-day's expected count is
  ``C_zone * C_day / C``. Cylinders, statistic and p-values are SaTScan's.
- :func:`poisson_scan`: the expectation-based Poisson scan (Neill, Moore, Sabhnani & Daniel
  2005; Neill 2009, Statistics in Medicine 28:1225-1252), with expected counts from a temporal
  baseline model.

Cylinders are every prefix of each centre's ordered neighbours (see ``neighbors``) times every
window ending on the last day, of 1 to ``max_days`` days. Significance is by Monte Carlo
(Dwass 1957): ``p = (1 + #replicates whose maximum >= the cluster's) / (n_sim + 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd

from epiradar.detect.spacetime import kernel
from epiradar.detect.spacetime.neighbors import Metric, Neighbors, circle_neighbors


@dataclass(frozen=True)
class Cluster:
    """One space-time cylinder: zones (centre first), days ``start..end`` (column indices)."""

    centre: int
    zones: npt.NDArray[np.int64]
    radius: float
    start: int
    end: int
    observed: float
    expected: float
    relative_risk: float
    llr: float
    p_value: float | None
    recurrence_interval: float | None  # days between clusters this strong by chance
    gumbel_p_value: float | None = None  # from a Gumbel fit to the replicate maxima

    @property
    def strongest_p_value(self) -> float | None:
        """The Monte Carlo p-value, or the Gumbel one where the Monte Carlo p-value is at its
        floor ``1 / (n_sim + 1)`` and cannot tell how much stronger the cluster is."""
        if self.p_value is None or self.gumbel_p_value is None:
            return self.p_value
        return min(self.p_value, self.gumbel_p_value)

    @property
    def observed_over_expected(self) -> float:
        return self.observed / self.expected

    @property
    def days(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class ScanResult:
    """The most likely cluster first, then secondary clusters that share no zone with an
    earlier one, by decreasing log-likelihood ratio."""

    clusters: list[Cluster]
    null_llr: npt.NDArray[np.float64]
    n_sim: int
    total: float
    model: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def most_likely(self) -> Cluster | None:
        return self.clusters[0] if self.clusters else None

    def significant(self, alpha: float = 0.05) -> list[Cluster]:
        return [c for c in self.clusters if c.p_value is not None and c.p_value <= alpha]

    def to_frame(
        self, zone_ids: Sequence[Any] | None = None, dates: Sequence[Any] | None = None
    ) -> pd.DataFrame:
        """One row per cluster; zones and days as labels when ``zone_ids`` / ``dates`` given."""
        rows = []
        for i, c in enumerate(self.clusters):
            zones = [zone_ids[z] for z in c.zones] if zone_ids is not None else list(c.zones)
            rows.append(
                {
                    "cluster": i + 1,
                    "centre": zone_ids[c.centre] if zone_ids is not None else c.centre,
                    "zones": zones,
                    "n_zones": len(zones),
                    "radius": c.radius,
                    "start": dates[c.start] if dates is not None else c.start,
                    "end": dates[c.end] if dates is not None else c.end,
                    "observed": c.observed,
                    "expected": c.expected,
                    "observed_over_expected": c.observed_over_expected,
                    "relative_risk": c.relative_risk,
                    "llr": c.llr,
                    "p_value": c.p_value,
                    "recurrence_interval": c.recurrence_interval,
                }
            )
        return pd.DataFrame(rows)


def permutation_scan(
    counts: npt.ArrayLike,
    coords: npt.ArrayLike | None = None,
    *,
    metric: Metric = "planar",
    neighbors: Neighbors | Sequence[Sequence[int]] | None = None,
    max_neighbors: int | None = None,
    max_radius: float | None = None,
    max_fraction: float = 0.5,
    max_days: int = 7,
    min_cases: int = 2,
    n_sim: int = 999,
    seed: int | None = None,
    analyses_per_year: float = 365.0,
    max_clusters: int | None = None,
) -> ScanResult:
    """Prospective space-time permutation scan of ``counts[zone, day]`` (last day = today).

    Parameters follow SaTScan: circles (``coords`` with ``max_radius`` and/or
    ``max_neighbors``) or given ``neighbors``; a cylinder holds at most ``max_fraction`` of all
    cases (zone totals over the whole period) and lasts 1..``max_days`` days ending today;
    clusters need ``observed > expected`` and ``observed >= min_cases``.
    """
    y = _counts(counts, "counts", integer=True)
    _check_common(max_fraction, max_days, min_cases, n_sim, analyses_per_year)
    n_zones, n_days = y.shape
    days = min(max_days, n_days)
    total = int(y.sum())
    zone_total = y.sum(axis=1).astype(np.float64)
    day_total = y.sum(axis=0)
    last = day_total[::-1][:days]  # cases on the j-th last day
    window_total = np.cumsum(last).astype(np.float64)
    cum = np.cumsum(y[:, ::-1][:, :days], axis=1).astype(np.int64)
    nb = _neighbors(coords, neighbors, metric, max_neighbors, max_radius, n_zones)
    klen = _prefix_lengths(nb, zone_total, max_fraction * total)
    ftab = kernel.stat_table(kernel.PERMUTATION, total, total + 1)
    ecum = np.zeros((n_zones, days))
    observed = kernel.observed_best(
        kernel.PERMUTATION, cum, ecum, zone_total, window_total, float(total),
        nb.indptr, nb.index, klen, min_cases, ftab,
    )  # fmt: skip
    null = np.zeros(n_sim)  # no cases: every replicate's maximum is 0
    if n_sim > 0 and total > 0:
        case_zone = np.repeat(np.arange(n_zones, dtype=np.int64), y.sum(axis=1))
        # a replicate gives a zone at most all its cases, and at most the window's
        most = min(int(zone_total.max(initial=0)), int(last.sum()))
        dtype = np.int16 if most < 2**15 else np.int32
        chunks = _chunks()
        parts = []
        for seeds in _seed_blocks(seed, n_sim):
            rcum = np.empty((n_zones, days, len(seeds)), dtype)
            kernel.permuted_windows(case_zone, last.astype(np.int64), seeds, n_zones, chunks, rcum)
            parts.append(
                kernel.replicate_max(
                    kernel.PERMUTATION,
                    rcum,
                    ecum,
                    zone_total,
                    window_total,
                    float(total),
                    nb.indptr,
                    nb.index,
                    klen,
                    min_cases,
                    ftab,
                    chunks * 4,
                )  # fmt: skip
            )
        null = np.concatenate(parts)

    def relative_risk(n: float, e: float) -> float:
        rest = (total - n) / (total - e)
        return (n / e) / rest if rest > 0 else float("inf")

    settings = dict(
        max_fraction=max_fraction, max_days=max_days, min_cases=min_cases, n_sim=n_sim,
        seed=seed, metric=metric, max_neighbors=max_neighbors, max_radius=max_radius,
    )  # fmt: skip
    clusters = _clusters(
        observed, nb, n_days, null, n_sim, analyses_per_year, max_clusters, relative_risk
    )
    return ScanResult(clusters, null, n_sim, float(total), "permutation", settings)


def poisson_scan(
    counts: npt.ArrayLike,
    baseline: npt.ArrayLike,
    coords: npt.ArrayLike | None = None,
    *,
    metric: Metric = "planar",
    neighbors: Neighbors | Sequence[Sequence[int]] | None = None,
    max_neighbors: int | None = None,
    max_radius: float | None = None,
    max_fraction: float = 0.5,
    max_days: int = 7,
    min_cases: int = 2,
    n_sim: int = 999,
    seed: int | None = None,
    analyses_per_year: float = 365.0,
    max_clusters: int | None = None,
) -> ScanResult:
    """Prospective expectation-based Poisson scan of ``counts`` against ``baseline``.

    ``baseline[zone, day]`` holds the expected counts (e.g. a 28-day day-of-week-adjusted
    mean, the variant Neill 2009 found most robust). A cylinder scores
    ``n ln(n/b) + b - n`` when its count ``n`` exceeds its summed baseline ``b``; replicates
    draw the last ``max_days`` days from Poisson(baseline). ``max_fraction`` limits a cylinder
    to that share of the zones' total baseline.
    """
    y = _counts(counts, "counts", integer=True)
    b = _counts(baseline, "baseline", integer=False)
    if b.shape != y.shape:
        raise ValueError(f"baseline: shape {b.shape} differs from counts {y.shape}")
    _check_common(max_fraction, max_days, min_cases, n_sim, analyses_per_year)
    n_zones, n_days = y.shape
    days = min(max_days, n_days)
    zone_total = b.sum(axis=1)
    cum = np.cumsum(y[:, ::-1][:, :days], axis=1).astype(np.int64)
    rate = np.ascontiguousarray(b[:, ::-1][:, :days])
    ecum = np.cumsum(rate, axis=1)
    nb = _neighbors(coords, neighbors, metric, max_neighbors, max_radius, n_zones)
    klen = _prefix_lengths(nb, zone_total, max_fraction * zone_total.sum())
    window_total = ecum.sum(axis=0)
    observed_top = int(cum[:, -1].sum())
    ftab = kernel.stat_table(kernel.POISSON, 0, observed_top + 1)
    observed = kernel.observed_best(
        kernel.POISSON, cum, ecum, zone_total, window_total, 0.0,
        nb.indptr, nb.index, klen, min_cases, ftab,
    )  # fmt: skip
    parts = [np.zeros(0)]
    for seeds in _seed_blocks(seed, n_sim):
        rcum = np.empty((n_zones, days, len(seeds)), np.int32)
        kernel.poisson_windows(rate, seeds, _chunks(), rcum)
        top = int(rcum[:, -1, :].sum(axis=0).max())
        if top + 1 > len(ftab):  # counts drawn above any seen so far
            ftab = kernel.stat_table(kernel.POISSON, 0, top + 1)
        parts.append(
            kernel.replicate_max(
                kernel.POISSON,
                rcum,
                ecum,
                zone_total,
                window_total,
                0.0,
                nb.indptr,
                nb.index,
                klen,
                min_cases,
                ftab,
                _chunks() * 4,
            )  # fmt: skip
        )
    null = np.concatenate(parts)
    settings = dict(
        max_fraction=max_fraction, max_days=max_days, min_cases=min_cases, n_sim=n_sim,
        seed=seed, metric=metric, max_neighbors=max_neighbors, max_radius=max_radius,
    )  # fmt: skip
    clusters = _clusters(
        observed, nb, n_days, null, n_sim, analyses_per_year, max_clusters, lambda n, e: n / e
    )
    return ScanResult(clusters, null, n_sim, float(y.sum()), "poisson", settings)


def _clusters(
    observed: tuple[np.ndarray, ...],
    nb: Neighbors,
    n_days: int,
    null: np.ndarray,
    n_sim: int,
    analyses_per_year: float,
    max_clusters: int | None,
    relative_risk: Any,
) -> list[Cluster]:
    llr, k, w, n, e = observed
    # equal statistics (zones without cases add nothing): fewer zones, then the smaller
    # circle, then the lower centre index first — SaTScan reports 11372 alone, not with 11370
    radius = nb.distance[np.maximum(nb.indptr[:-1] + k - 1, 0)]
    order = np.lexsort((np.arange(len(llr)), radius, k, -llr))
    null_sorted = np.sort(null)
    gumbel = _gumbel(null)
    used = np.zeros(nb.n_centres, dtype=bool)
    out: list[Cluster] = []
    for c in order:
        if k[c] < 1 or llr[c] <= 0:
            break
        zones = nb.index[nb.indptr[c] : nb.indptr[c] + k[c]]
        if used[zones].any():
            continue
        p = ri = gp = None
        if n_sim > 0:
            exceed = n_sim - np.searchsorted(null_sorted, llr[c], side="left")
            if exceed >= n_sim and out:
                break  # every replicate beats it: SaTScan stops reporting here
            p = (1 + exceed) / (n_sim + 1)
            ri = 365.0 / (p * analyses_per_year)
            if gumbel is not None and exceed > 0:
                gp = None  # only where the Monte Carlo p-value is at its floor
            elif gumbel is not None:
                gp = gumbel(float(llr[c]))
        used[zones] = True
        out.append(
            Cluster(
                centre=int(c),
                zones=zones.copy(),
                radius=float(radius[c]),
                start=n_days - int(w[c]),
                end=n_days - 1,
                observed=float(n[c]),
                expected=float(e[c]),
                relative_risk=float(relative_risk(n[c], e[c])),
                llr=float(llr[c]),
                p_value=p,
                recurrence_interval=ri,
                gumbel_p_value=gp,
            )
        )
        if max_clusters is not None and len(out) >= max_clusters:
            break
    return out


def _gumbel(null: np.ndarray) -> Any:
    """Tail of a Gumbel distribution fitted to the replicate maxima by moments (Abrams,
    Kleinman & Kulldorff 2006, the approximation SaTScan reports for small p-values)."""
    if len(null) < 10 or not np.std(null) > 0:
        return None
    scale = float(np.std(null, ddof=1)) * np.sqrt(6) / np.pi
    loc = float(np.mean(null)) - np.euler_gamma * scale

    def tail(x: float) -> float:
        return float(-np.expm1(-np.exp(-(x - loc) / scale)))

    return tail


def _counts(values: npt.ArrayLike, name: str, *, integer: bool) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a (zones, days) array, got {a.ndim} dimension(s)")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name}: no zones or no days (shape {a.shape})")
    af = a.astype(np.float64)
    bad = ~np.isfinite(af) | (af < 0)
    if integer:
        bad |= af != np.round(af)
    if bad.any():
        z, d = (int(i) for i in np.argwhere(bad)[0])
        what = "a non-negative whole number" if integer else "a non-negative number"
        raise ValueError(f"{name}: zone {z}, day {d} is {a[z, d]!r}, not {what}")
    return af.astype(np.int64) if integer else af


def _check_common(
    max_fraction: float, max_days: int, min_cases: int, n_sim: int, analyses_per_year: float
) -> None:
    if not 0 < max_fraction <= 1:
        raise ValueError(f"max_fraction: must be in (0, 1], got {max_fraction}")
    if int(max_days) != max_days or max_days < 1:
        raise ValueError(f"max_days: must be a whole number of days >= 1, got {max_days}")
    if int(min_cases) != min_cases or min_cases < 1:
        raise ValueError(f"min_cases: must be a whole number >= 1, got {min_cases}")
    if int(n_sim) != n_sim or n_sim < 0:
        raise ValueError(f"n_sim: must be a whole number >= 0, got {n_sim}")
    if not analyses_per_year > 0:
        raise ValueError(f"analyses_per_year: must be positive, got {analyses_per_year}")


def _neighbors(
    coords: npt.ArrayLike | None,
    neighbors: Neighbors | Sequence[Sequence[int]] | None,
    metric: Metric,
    max_neighbors: int | None,
    max_radius: float | None,
    n_zones: int,
) -> Neighbors:
    if neighbors is not None:
        nb = neighbors if isinstance(neighbors, Neighbors) else Neighbors.from_lists(neighbors)
    else:
        if coords is None:
            raise ValueError("coords: give zone coordinates or a neighbors structure")
        if len(np.asarray(coords)) != n_zones:
            raise ValueError(f"coords: {len(np.asarray(coords))} rows for {n_zones} zones")
        nb = circle_neighbors(
            coords, metric=metric, max_neighbors=max_neighbors, max_radius=max_radius
        )
    nb.validate(n_zones)
    return nb


def _prefix_lengths(nb: Neighbors, size: np.ndarray, limit: float) -> np.ndarray:
    """Per centre, how many neighbours stay within the size limit (stopping at the first that
    would exceed it)."""
    running = size[nb.index]
    starts = nb.indptr[:-1]
    lengths = np.diff(nb.indptr)
    cums = np.cumsum(running)
    offset = np.repeat(cums[starts] - running[starts], lengths)
    within = (cums - offset) <= limit * (1 + 1e-12)
    # first False per centre
    klen = np.empty(nb.n_centres, dtype=np.int64)
    for c in range(nb.n_centres):
        row = within[nb.indptr[c] : nb.indptr[c + 1]]
        bad = np.flatnonzero(~row)
        klen[c] = bad[0] if len(bad) else len(row)
    return klen


REPLICATE_BLOCK = 1024  # replicates scanned together: their running counts stay in cache


def _seed_blocks(seed: int | None, n_sim: int) -> list[np.ndarray]:
    """One seed per replicate (replicate r's draw depends on its seed alone), in blocks."""
    if n_sim == 0:
        return []
    seeds = np.random.SeedSequence(seed).generate_state(n_sim, dtype=np.uint32).astype(np.int64)
    return [seeds[i : i + REPLICATE_BLOCK] for i in range(0, n_sim, REPLICATE_BLOCK)]


def _chunks() -> int:
    return max(1, int(numba.get_num_threads()))
