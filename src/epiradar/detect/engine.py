"""Run the configured temporal detectors over every region x syndrome series at once.

Every detector looks only at the day it judges and earlier days, so one vectorised pass over the
judged period equals a prospective day-by-day replay. Daily detectors read the daily counts;
weekly ones (Farrington) read 7-day sums whose last week ends on the last day, judged on the
days that end a week. ``burden`` then decides which (series, day) pairs become signals:

- ``"none"``: every detector's own alarm (with the count guard) is a signal.
- ``"fdr"``: the day's p-values of all series form one Benjamini-Hochberg family at
  ``fdr_level``.
- ``"hierarchical"``: city -> district -> region, tested top-down (``detect.burden``); only
  the deepest unusual area of each event becomes a signal. District series (the sums of their
  regions) are added for this.

With several detectors on one series a day's p-value is the smallest, Bonferroni-corrected
for the number of detectors that judged it.
"""

from __future__ import annotations

import datetime as dt
import inspect
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numba
import numpy as np
import numpy.typing as npt
from scipy.stats import nbinom, poisson

from epiradar.detect.burden import benjamini_hochberg, hierarchical_fdr
from epiradar.detect.spacetime import (
    circle_neighbors,
    graph_neighbors,
    permutation_scan,
    poisson_scan,
    weekday_baseline,
)
from epiradar.detect.temporal import DETECTORS
from epiradar.detect.temporal.ears import DEFAULT_ALPHA
from epiradar.model import Signal, Syndrome

SeriesKey = tuple[str | None, Syndrome]
Burden = Literal["none", "fdr", "hierarchical"]
_EARS = ("C1", "C2", "C3")


@dataclass
class _Judged:
    """One detector's verdicts on some series over the judged days (rows x day columns)."""

    method: str
    rows: npt.NDArray[np.intp]
    days: npt.NDArray[np.intp]  # 0-based day index of each column (a week's last day)
    observed: npt.NDArray[np.float64]
    expected: npt.NDArray[np.float64]
    upperbound: npt.NDArray[np.float64]
    pvalue: npt.NDArray[np.float64]
    alarm: npt.NDArray[np.bool_]
    window: npt.NDArray[np.intp] | None = None  # days summed by the deciding test (windows)
    support: npt.NDArray[np.float64] | None = None  # ... and the visits in them

    def visits(self) -> npt.NDArray[np.float64]:
        """The visits behind each verdict (``min_observed`` applies to them)."""
        return self.observed if self.support is None else self.support


def detect_signals(
    counts: npt.ArrayLike,
    keys: Sequence[SeriesKey],
    dates: Sequence[dt.date],
    *,
    methods: Sequence[str] | Mapping[Syndrome | str, Sequence[str]] = _EARS,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    baseline: int = 7,
    alpha: float | None = 0.001,
    min_sigma: float = 0.5,
    min_observed: int = 3,
    monitor_start: dt.date | None = None,
    count_guard: bool = True,
    min_expected: float = 0.5,
    dispersion_days: int = 84,
    burden: Burden = "none",
    fdr_level: float = 0.05,
    areas: Mapping[str, str] | None = None,
    windows: Sequence[int] = (1,),
) -> list[Signal]:
    """Signals: each (day, series, method) that alarms with at least ``min_observed`` visits.

    ``counts[i, j]`` is the count of series ``keys[i] = (region_id or None for the city,
    syndrome)`` on ``dates[j]`` (consecutive days). Days from ``monitor_start`` (default: the
    first day each method can evaluate) to the last are evaluated. ``methods`` names detectors
    of ``DETECTORS`` (daily or weekly), for every syndrome or per syndrome (a mapping; a
    syndrome absent from it is not judged). ``params[name]`` overrides a detector's product
    defaults; ``baseline`` and ``min_sigma`` are the EARS ones. One ``alpha`` serves every
    method; ``None`` takes each method's own default. Sorted by date, method, then series.

    ``count_guard``: EARS judges a day against the sample standard deviation of a 7-day
    baseline, which is itself very noisy: sparse series (a few visits a day) reach absurd
    z-scores with one extra visit, and overdispersed ones (day-of-week, city-wide swings) alarm
    far above ``alpha``. With the guard a daily detector's day must also be improbable as a
    negative-binomial count with the detector's expected value (floored at ``min_expected``)
    and the series' own overdispersion, estimated from the ``dispersion_days`` before that
    day, at the same ``alpha``; the signal's p-value is the larger of the two tails. Without
    overdispersion the guard is the Poisson tail. Every day still uses only earlier data (and
    itself). Weekly detectors model overdispersion themselves and are not guarded.

    ``windows``: evidence accumulated over days. With ``(1,)`` (the default) each day stands
    alone. Otherwise a daily detector supplies only its expected values, and a day's p-value is
    the smallest negative-binomial tail of the counts summed over the last ``k`` days against
    the sum of their expected values (size ``k`` times the series' own), for each ``k`` in
    ``windows``, Bonferroni-corrected for their number; the day alarms when it is at most
    ``alpha``. A sustained excess too small to stand out on any one day (two extra cases a
    day for a week) stands out over the week, while an isolated noisy day still needs a small
    one-day tail. The signal's detector reads ``"name:7d"`` when a 7-day sum decided.

    ``burden`` and ``fdr_level``: see the module docstring. ``areas`` maps a region id to its
    district (``Region.parent_id``); with ``"hierarchical"`` each district becomes a series
    (the sum of its regions, id = the district id) between its regions and the city.
    """
    y = np.asarray(counts, dtype=float)
    if y.ndim != 2 or y.shape != (len(keys), len(dates)):
        raise ValueError(f"counts {y.shape} do not match {len(keys)} keys x {len(dates)} dates")
    _check_consecutive(dates)
    if burden not in ("none", "fdr", "hierarchical"):
        raise ValueError(f"unknown burden control {burden!r}; expected none, fdr or hierarchical")
    windows = tuple(sorted({int(k) for k in windows}))
    if not windows or windows[0] < 1:
        raise ValueError(f"windows must be positive numbers of days, got {windows}")
    keys = list(keys)
    by_syndrome = _methods_by_syndrome(methods, keys)
    parent = None
    if burden == "hierarchical":
        y, keys, parent = _with_districts(y, keys, areas or {})
    start = 0 if monitor_start is None or not dates else max(0, (monitor_start - dates[0]).days)
    accumulate = windows != (1,)
    size = None
    if count_guard or accumulate:
        size = nb_size(y, baseline, dispersion_days, first=max(0, start - windows[-1] + 1))
    weekday0 = dates[0].weekday() if dates else 0
    judged: list[_Judged] = []
    for method in sorted({m for names in by_syndrome.values() for m in names}, key=_order):
        rows = np.array(
            [i for i, (_, s) in enumerate(keys) if method in by_syndrome.get(str(s), ())],
            dtype=np.intp,
        )
        if rows.size == 0:
            continue

        def verdicts(name: str, stop: int | None = None, rows=rows) -> _Judged | None:
            overrides = dict((params or {}).get(name, {}))
            if name in _EARS:
                overrides = {"baseline": baseline, "min_sigma": min_sigma, **overrides}
            daily = DETECTORS[name].frequency == "daily"
            lead = windows[-1] - 1 if accumulate and daily else 0
            one = _judge(name, y[rows], rows, start, alpha, overrides, weekday0, lead, stop)
            if one is None:
                return None
            level = _level(name, alpha, overrides)
            if accumulate and daily:
                return _accumulated(one, y[rows], size[rows], windows, min_expected, start, level)
            if count_guard and daily:
                rate = np.maximum(np.nan_to_num(one.expected), min_expected)
                tail = count_tail(one.observed, rate, size[rows][:, one.days])
                one.pvalue = np.fmax(one.pvalue, tail)
                one.alarm &= one.pvalue <= level
            return one

        one = verdicts(method)
        if one is not None:
            judged.append(one)
        spec = DETECTORS[method]
        primary_first = _first_day(method, alpha, params, weekday0)
        if spec.fallback and start < primary_first:
            # Too little history for this detector yet: its fallback judges those days.
            early = verdicts(spec.fallback, stop=primary_first)
            if early is not None:
                judged.append(early)
    if burden == "none":
        return _own_alarms(judged, keys, dates, min_observed)
    return _controlled(judged, keys, dates, y.shape[0], parent, burden, fdr_level, min_observed)


def _order(method: str) -> tuple[int, str]:
    names = list(DETECTORS)
    return (names.index(method) if method in names else len(names), method)


def _methods_by_syndrome(
    methods: Sequence[str] | Mapping[Syndrome | str, Sequence[str]], keys: Sequence[SeriesKey]
) -> dict[str, tuple[str, ...]]:
    if isinstance(methods, Mapping):
        chosen = {str(Syndrome(s)): tuple(m) for s, m in methods.items()}
    else:
        chosen = {str(s): tuple(methods) for _, s in keys}
    unknown = sorted({m for names in chosen.values() for m in names if m not in DETECTORS})
    if unknown:
        raise ValueError(f"unknown detectors {unknown}; known: {sorted(DETECTORS)}")
    return chosen


def _first_day(
    method: str, alpha: float | None, params: Mapping[str, Mapping[str, Any]] | None, weekday0: int
) -> int:
    """The first day a daily detector can judge with its settings (0 for weekly ones)."""
    spec = DETECTORS[method]
    if spec.frequency != "daily":
        return 0
    return spec.first_monitor(spec.arguments(alpha, dict((params or {}).get(method, {}))))


def _level(method: str, alpha: float | None, overrides: Mapping[str, Any]) -> float:
    """The per-test level a detector alarms at (its own default when ``alpha`` is None)."""
    spec = DETECTORS[method]
    if spec.alpha_keyword is None:
        return 0.05
    value = overrides.get(spec.alpha_keyword, alpha)
    if value is None:
        if method in DEFAULT_ALPHA:
            return DEFAULT_ALPHA[method]
        value = inspect.signature(spec.function).parameters[spec.alpha_keyword].default
    return float(value)


def _judge(
    method: str,
    y: np.ndarray,
    rows: np.ndarray,
    start: int,
    alpha: float | None,
    overrides: dict[str, Any],
    weekday0: int,
    lead: int = 0,
    stop: int | None = None,
) -> _Judged | None:
    """Run one detector on the judged days before ``stop`` (or the weeks ending on them);
    daily detectors also on the ``lead`` days before, for evidence windows."""
    spec = DETECTORS[method]
    kwargs = spec.arguments(alpha, overrides)
    if spec.needs_weekday:
        kwargs["weekday0"] = weekday0
    n_days = y.shape[1] if stop is None else min(y.shape[1], stop)
    if spec.frequency == "daily":
        first = max(start - lead, spec.first_monitor(kwargs))
        monitor = np.arange(first, n_days, dtype=np.intp)
        if monitor.size == 0 or monitor[-1] < start:
            return None
        result = spec.function(y[:, :n_days], **kwargs, monitor=monitor)
        days = result.monitor
        observed = y[:, days]
    else:
        weekly, ends = weekly_sums(y)
        judged_weeks = np.flatnonzero(ends >= start)
        if judged_weeks.size == 0:
            return None
        kwargs = _fit_history(kwargs, int(judged_weeks[0]))
        if kwargs is None:
            return None
        first = spec.first_monitor(kwargs)
        monitor = judged_weeks[judged_weeks >= first]
        if monitor.size == 0:
            return None
        result = spec.function(weekly, **kwargs, monitor=monitor)
        days = ends[result.monitor]
        observed = weekly[:, result.monitor]
    return _Judged(
        method=method,
        rows=rows,
        days=days,
        observed=observed,
        expected=result.expected,
        upperbound=result.upperbound,
        pvalue=result.pvalue,
        alarm=result.alarm.copy(),
    )


def _accumulated(
    one: _Judged,
    y: np.ndarray,
    size: np.ndarray,
    windows: tuple[int, ...],
    min_expected: float,
    start: int,
    level: float,
) -> _Judged | None:
    """The windowed negative-binomial evidence of ``detect_signals`` (``windows``), on the
    days from ``start``. ``one`` covers consecutive days, the windows' earlier days included."""
    expected = np.where(np.isnan(one.expected), np.nan, np.maximum(one.expected, min_expected))
    days = one.days
    keep = days >= start
    if not keep.any():
        return None
    best = np.full((y.shape[0], int(keep.sum())), np.inf)
    best_k = np.ones(best.shape, dtype=np.intp)
    support = np.zeros(best.shape)
    c_obs = np.concatenate([np.zeros((y.shape[0], 1)), np.cumsum(y, axis=1)], axis=1)
    exp0 = np.nan_to_num(expected)
    c_exp = np.concatenate([np.zeros((y.shape[0], 1)), np.cumsum(exp0, axis=1)], axis=1)
    c_nan = np.concatenate(
        [np.zeros((y.shape[0], 1)), np.cumsum(np.isnan(expected), axis=1)], axis=1
    )
    cols = np.flatnonzero(keep)
    d = days[cols]
    for k in windows:
        lo = cols - k + 1
        valid = lo >= 0
        lo_c = np.maximum(lo, 0)
        observed = c_obs[:, d + 1] - c_obs[:, d + 1 - k]
        rate = c_exp[:, cols + 1] - c_exp[:, lo_c]
        missing = (c_nan[:, cols + 1] - c_nan[:, lo_c]) > 0
        p = count_tail(observed, np.maximum(rate, 1e-12), k * size[:, d])
        p = np.where(valid[np.newaxis, :] & ~missing & ~np.isnan(observed), p, np.nan)
        better = p < best
        best = np.where(better, p, best)
        best_k = np.where(better, k, best_k)
        support = np.where(better, observed, support)
    pvalue = np.where(np.isfinite(best), np.minimum(1.0, best * len(windows)), np.nan)
    return _Judged(
        method=one.method,
        rows=one.rows,
        days=d,
        observed=one.observed[:, cols],
        expected=one.expected[:, cols],
        upperbound=one.upperbound[:, cols],
        pvalue=pvalue,
        alarm=pvalue <= level,
        window=best_k,
        support=support,
    )


def weekly_sums(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """7-day sums ``[n_series, n_weeks]`` whose last week ends on the last day, and the 0-based
    day index each week ends on (an incomplete first week is left out)."""
    n_weeks = y.shape[1] // 7
    first = y.shape[1] - 7 * n_weeks
    weeks = y[:, first:].reshape(y.shape[0], n_weeks, 7).sum(axis=2)
    ends = first + 7 * np.arange(n_weeks, dtype=np.intp) + 6
    return weeks, ends


def _fit_history(kwargs: dict[str, Any], first_judged: int) -> dict[str, Any] | None:
    """Farrington's ``b`` (years back) lowered to the history there is; None when not a year."""
    if "b" not in kwargs:
        return kwargs
    freq, w = int(kwargs.get("freq", 52)), int(kwargs.get("w", 3))
    years = (first_judged - w) // freq
    if years < 1:
        return None
    return {**kwargs, "b": min(int(kwargs["b"]), years)}


def _own_alarms(
    judged: list[_Judged], keys: Sequence[SeriesKey], dates: Sequence[dt.date], min_observed: int
) -> list[Signal]:
    signals: list[tuple[int, int, int, Signal]] = []
    for order, one in enumerate(judged):
        hit = one.alarm & (one.visits() >= min_observed)
        for r, c in zip(*np.nonzero(hit), strict=True):
            signals.append(
                (int(one.days[c]), order, int(one.rows[r]), _signal(one, r, c, keys, dates))
            )
    signals.sort(key=lambda s: s[:3])
    return [s[3] for s in signals]


def _signal(
    one: _Judged,
    r: int,
    c: int,
    keys: Sequence[SeriesKey],
    dates: Sequence[dt.date],
    p_value: float | None = None,
) -> Signal:
    region_id, syndrome = keys[int(one.rows[r])]
    k = 1 if one.window is None else int(one.window[r, c])
    return Signal(
        date=dates[int(one.days[c])],
        region_id=region_id,
        syndrome=Syndrome(syndrome),
        detector=one.method if k == 1 else f"{one.method}:{k}d",
        observed=float(one.observed[r, c]),
        expected=float(one.expected[r, c]),
        upperbound=float(one.upperbound[r, c]),
        p_value=float(one.pvalue[r, c] if p_value is None else p_value),
    )


def _controlled(
    judged: list[_Judged],
    keys: Sequence[SeriesKey],
    dates: Sequence[dt.date],
    n_series: int,
    parent: np.ndarray | None,
    burden: Burden,
    q: float,
    min_observed: int,
) -> list[Signal]:
    """Signals of the (series, day) pairs that survive burden control."""
    all_days = np.unique(np.concatenate([one.days for one in judged])) if judged else []
    if len(all_days) == 0:
        return []
    col = {int(d): k for k, d in enumerate(all_days)}
    best = np.full((n_series, len(all_days)), np.inf)
    which = np.full(best.shape, -1, dtype=np.intp)  # the judged detector holding the best p
    where = np.full(best.shape, -1, dtype=np.intp)  # ... and its column
    n_tests = np.zeros(best.shape, dtype=np.intp)
    for j, one in enumerate(judged):
        cols = np.array([col[int(d)] for d in one.days], dtype=np.intp)
        p = one.pvalue
        ok = ~np.isnan(p)
        sub = best[np.ix_(one.rows, cols)]
        better = ok & (p < sub)
        sub = np.where(better, p, sub)
        best[np.ix_(one.rows, cols)] = sub
        w = which[np.ix_(one.rows, cols)]
        which[np.ix_(one.rows, cols)] = np.where(better, j, w)
        c = where[np.ix_(one.rows, cols)]
        where[np.ix_(one.rows, cols)] = np.where(better, np.arange(cols.size)[np.newaxis, :], c)
        n_tests[np.ix_(one.rows, cols)] += ok
    pvalue = np.where(n_tests > 0, np.minimum(1.0, best * np.maximum(n_tests, 1)), np.nan)
    if burden == "fdr":
        chosen, reported_p = benjamini_hochberg(pvalue, q, axis=0), pvalue
    else:
        result = hierarchical_fdr(pvalue, parent, q)
        chosen, reported_p = result.reported, result.combined
    signals: list[tuple[int, int, int, Signal]] = []
    row_of = [{int(r): k for k, r in enumerate(one.rows)} for one in judged]
    for i, k in zip(*np.nonzero(chosen), strict=True):
        one = judged[which[i, k]]
        r, c = row_of[which[i, k]][int(i)], where[i, k]
        if one.visits()[r, c] < min_observed:
            continue
        signal = _signal(one, r, c, keys, dates, float(reported_p[i, k]))
        signals.append((int(all_days[k]), int(which[i, k]), int(i), signal))
    signals.sort(key=lambda s: s[:3])
    return [s[3] for s in signals]


def _with_districts(
    y: np.ndarray, keys: list[SeriesKey], areas: Mapping[str, str]
) -> tuple[np.ndarray, list[SeriesKey], np.ndarray]:
    """Add a series per (district, syndrome) and the parent index of every series."""
    syndromes = list(dict.fromkeys(str(s) for _, s in keys))
    city_row = {str(s): i for i, (r, s) in enumerate(keys) if r is None}
    region_ids = {r for r, _ in keys if r is not None}
    clash = sorted({d for d in areas.values() if d in region_ids})
    districts = sorted({d for r, d in areas.items() if d and r in region_ids and d not in clash})
    new_keys = list(keys)
    index: dict[tuple[str, str], int] = {}
    for s in syndromes:
        for d in districts:
            index[(d, s)] = len(new_keys)
            new_keys.append((d, Syndrome(s)))
    extra = np.zeros((len(new_keys) - len(keys), y.shape[1]))
    parent = np.full(len(new_keys), -1, dtype=np.intp)
    for i, (r, s) in enumerate(keys):
        if r is None:
            continue
        up = areas.get(r)
        s = str(s)
        target = index.get((up, s)) if up is not None else None
        if target is None and up in clash:
            target = next((j for j, k in enumerate(keys) if k == (up, Syndrome(s))), None)
        if target is not None and target >= len(keys):
            extra[target - len(keys)] += y[i]
        parent[i] = target if target is not None else city_row.get(s, -1)
    for (_, s), j in index.items():
        parent[j] = city_row.get(s, -1)
    return np.vstack([y, extra]), new_keys, parent


def _check_consecutive(dates: Sequence[dt.date]) -> None:
    for previous, current in zip(dates, dates[1:], strict=False):
        if (current - previous).days != 1:
            raise ValueError(f"dates must be consecutive days: {previous} then {current}")


def nb_size(counts: np.ndarray, baseline: int, window: int, first: int = 0) -> np.ndarray:
    """Negative-binomial size per series and day (``inf``: Poisson), ``size[i, t]`` from the
    ``window`` days before ``t`` only; computed for the days from ``first`` (earlier ones are
    ``inf``), reading only the days those need.

    Each day's residual against its trailing ``baseline``-day mean gives the day-to-day
    variance (corrected for the noise of the mean itself); by moments ``var = m + m**2 / size``.
    """
    offset = max(0, first - window - baseline)
    if offset:
        out = np.full(counts.shape, np.inf)
        out[:, offset:] = nb_size(counts[:, offset:], baseline, window)
        out[:, :first] = np.inf
        return out
    n_series, n_days = counts.shape
    size = np.full((n_series, n_days), np.inf)
    if n_days <= baseline + 1:
        return size
    csum = np.concatenate([np.zeros((n_series, 1)), np.cumsum(counts, axis=1)], axis=1)
    mean = (csum[:, baseline:-1] - csum[:, : -baseline - 1]) / baseline  # for days baseline..
    sq = (counts[:, baseline:] - mean) ** 2
    # Sums over residual days j in [t - window, t - 1] for every t, by cumulative sums.
    c_sq = np.concatenate([np.zeros((n_series, 1)), np.cumsum(sq, axis=1)], axis=1)
    c_mean = np.concatenate([np.zeros((n_series, 1)), np.cumsum(mean, axis=1)], axis=1)
    t = np.arange(n_days)
    hi = np.clip(t - baseline, 0, sq.shape[1])  # residual index of day t (exclusive end)
    lo = np.clip(t - window - baseline, 0, sq.shape[1])
    n = (hi - lo).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = (c_mean[:, hi] - c_mean[:, lo]) / n
        variance = (c_sq[:, hi] - c_sq[:, lo]) / n / (1.0 + 1.0 / baseline)
        excess = variance - level
        over = (excess > 0) & (level > 0) & (n >= 2 * baseline)
        size[over] = (level**2 / np.where(over, excess, 1.0))[over]
    return size


def count_tail(observed: np.ndarray, rate: np.ndarray, size: np.ndarray) -> np.ndarray:
    """``P(Y >= observed)`` for a negative binomial of mean ``rate`` and ``size`` (Poisson
    where ``size`` is infinite)."""
    observed, rate, size = np.broadcast_arrays(observed, rate, size)
    out = poisson.sf(observed - 1, rate)
    finite = np.isfinite(size)
    if finite.any():
        k = size[finite]
        out[finite] = nbinom.sf(observed[finite] - 1, k, k / (k + rate[finite]))
    return out


# ---------------------------------------------------------------------------------------------
# space-time scans

SpaceTimeMethod = Literal["permutation", "poisson"]
_FIRST_STAGE_SIM = 99


def spacetime_signals(
    counts: npt.ArrayLike,
    zone_ids: Sequence[str],
    dates: Sequence[dt.date],
    syndrome: Syndrome | str,
    *,
    coords: npt.ArrayLike | None = None,
    adjacency: Sequence[Sequence[int]] | None = None,
    method: SpaceTimeMethod = "permutation",
    max_days: int = 7,
    max_fraction: float = 0.2,
    max_radius_km: float | None = None,
    max_neighbors: int | None = None,
    min_cases: int = 3,
    n_sim: int = 999,
    min_recurrence_days: float = 365.0,
    study_days: int = 365,
    baseline_days: int = 28,
    monitor_start: dt.date | None = None,
    seed: int = 0,
) -> list[Signal]:
    """Space-time clusters of one syndrome: a prospective scan on each day from
    ``monitor_start`` (default: the first day with enough history) to the last.

    ``counts[zone, day]`` are the syndrome's daily counts of the zones ``zone_ids`` (the finest
    regions) on the consecutive ``dates``. Zones are circles around ``coords`` (``(lat, lon)``
    degrees, chord distance in km like SaTScan, at most ``max_radius_km`` / ``max_neighbors``),
    or, with ``adjacency`` (neighbour indices per zone), connected zones breadth-first (at most
    ``max_neighbors``). Each day's scan sees only that day and earlier ones:

    - ``"permutation"`` (Kulldorff et al. 2005) scans the last ``study_days`` days; a
      cylinder's expected count is its zones' share of the study period times its days' total.
    - ``"poisson"`` (expectation-based, Neill 2009) scans the last ``max_days`` days against
      each zone's mean over the ``baseline_days`` before them, times the city's day-of-week
      factor over the same days (floored at half a visit per baseline).

    A cluster becomes a signal when its recurrence interval (``1 / p`` days with daily scans,
    ``n_sim`` Monte Carlo replicates) is at least ``min_recurrence_days``; a cluster stronger
    than every replicate gets the Gumbel p-value (SaTScan's approximation), so its severity and
    recurrence interval say how much stronger it is. Secondary clusters
    (sharing no zone with a stronger one) too. The signal's ``upperbound`` is its expected
    count: the scan considers only cylinders above it. Scans are seeded from ``seed``, the
    syndrome and the day, so reruns agree. A first stage of 99 replicates (the first 99 of the
    full run's) stops a day early when they already rule out the level; the verdicts equal
    those of the full run. The scans run on one thread each: a run makes many small ones, and
    starting the kernels' threads cost 75-85 ms a call on a busy 2-core machine against
    1-250 ms for a whole scan on one thread (9 to 400 zones); results do not depend on it.
    """
    y = np.asarray(counts, dtype=float)
    if y.ndim != 2 or y.shape != (len(zone_ids), len(dates)):
        raise ValueError(
            f"counts {y.shape} do not match {len(zone_ids)} zones x {len(dates)} dates"
        )
    _check_consecutive(dates)
    if method not in ("permutation", "poisson"):
        raise ValueError(f"unknown space-time method {method!r}; expected permutation or poisson")
    if len(zone_ids) < 2 or not dates:
        return []
    y = np.rint(y).astype(np.int64)
    if adjacency is not None:
        nb = graph_neighbors(
            [list(a) for a in adjacency],
            coords=coords,
            metric="latlon",
            max_neighbors=max_neighbors,
        )
    elif coords is not None:
        nb = circle_neighbors(
            coords, metric="latlon", max_neighbors=max_neighbors, max_radius=max_radius_km
        )
    else:
        raise ValueError("give the zones' coords or their adjacency")
    first = max_days + baseline_days - 1 if method == "poisson" else 2 * max_days - 1
    start = 0 if monitor_start is None else max(0, (monitor_start - dates[0]).days)
    name = str(Syndrome(syndrome))
    options = dict(
        neighbors=nb,
        max_fraction=max_fraction,
        max_days=max_days,
        min_cases=min_cases,
        analyses_per_year=365.0,
    )
    scan_options = dict(
        method=method,
        max_days=max_days,
        min_cases=min_cases,
        n_sim=n_sim,
        study_days=study_days,
        baseline_days=baseline_days,
        min_recurrence_days=min_recurrence_days,
        options=options,
    )
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # many small scans: see the docstring
    try:
        return _scan_days(y, zone_ids, dates, name, max(start, first), scan_options, seed)
    finally:
        numba.set_num_threads(threads)


def _scan_days(
    y: npt.NDArray[np.int64],
    zone_ids: Sequence[str],
    dates: Sequence[dt.date],
    name: str,
    first_day: int,
    o: dict[str, Any],
    seed: int,
) -> list[Signal]:
    method, max_days, min_cases, n_sim = o["method"], o["max_days"], o["min_cases"], o["n_sim"]
    study_days, baseline_days, options = o["study_days"], o["baseline_days"], o["options"]
    p_level = 1.0 / o["min_recurrence_days"]
    signals: list[Signal] = []
    for j in range(first_day, len(dates)):
        if y[:, j - max_days + 1 : j + 1].sum() < min_cases:
            continue
        day_seed = (seed * 1_000_003 + zlib.crc32(f"{name}:{dates[j]}".encode())) % 2**32
        if method == "permutation":
            window = y[:, max(0, j - study_days + 1) : j + 1]

            def scan(n: int, window=window, day_seed=day_seed):
                return permutation_scan(window, n_sim=n, seed=day_seed, **options)
        else:
            window = y[:, j - max_days + 1 : j + 1]
            past = y[:, j - max_days - baseline_days + 1 : j + 1]
            base = weekday_baseline(past, history=baseline_days, max_days=max_days)[:, -max_days:]

            def scan(n: int, window=window, base=base, day_seed=day_seed):
                return poisson_scan(window, base, n_sim=n, seed=day_seed, **options)

        if n_sim > _FIRST_STAGE_SIM:
            probe = scan(_FIRST_STAGE_SIM)
            top = probe.most_likely
            if top is None:
                continue
            exceed = int(np.sum(probe.null_llr >= top.llr))
            if (1 + exceed) / (n_sim + 1) > p_level:
                continue  # the full run cannot bring p down to the level
        result = scan(n_sim)
        for c in result.clusters:
            if c.p_value is None or c.p_value > p_level * (1 + 1e-9):
                continue
            zones = [zone_ids[int(z)] for z in c.zones]
            # beyond the replicates' reach (p at 1 / (n_sim + 1)) the Gumbel tail says how far
            p_value = c.strongest_p_value or c.p_value
            signals.append(
                Signal(
                    date=dates[j],
                    region_id=zones[0],
                    syndrome=Syndrome(name),
                    detector=f"spacetime:{method}",
                    observed=c.observed,
                    expected=c.expected,
                    upperbound=c.expected,
                    p_value=p_value,
                    region_ids=zones,
                    start_date=dates[j - (c.end - c.start)],
                    recurrence_interval=1.0 / p_value,  # days: one scan a day
                )
            )
    return signals
