"""Run the configured temporal detectors over every region x syndrome series at once.

EARS (Hutwagner et al. 2003, 2005) looks only at the day itself and earlier days, so one
vectorised pass over the whole history equals a prospective day-by-day replay.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.stats import nbinom, poisson

from epiradar.detect.temporal import DETECTORS
from epiradar.detect.temporal.ears import DEFAULT_ALPHA
from epiradar.model import Signal, Syndrome

SeriesKey = tuple[str | None, Syndrome]


def detect_signals(
    counts: npt.ArrayLike,
    keys: Sequence[SeriesKey],
    dates: Sequence[dt.date],
    *,
    methods: Sequence[str] = ("C1", "C2", "C3"),
    baseline: int = 7,
    alpha: float | None = 0.001,
    min_sigma: float = 0.5,
    min_observed: int = 3,
    monitor_start: dt.date | None = None,
    count_guard: bool = True,
    min_expected: float = 0.5,
    dispersion_days: int = 84,
) -> list[Signal]:
    """Signals: each (day, series, method) that alarms with at least ``min_observed`` visits.

    ``counts[i, j]`` is the count of series ``keys[i] = (region_id or None for the city,
    syndrome)`` on ``dates[j]`` (consecutive days). Days from ``monitor_start`` (default: the
    first day each method can evaluate) to the last are evaluated. One ``alpha`` serves every
    method; ``None`` takes each method's own default. Sorted by date, method, then series.

    ``count_guard``: EARS judges a day against the sample standard deviation of a 7-day
    baseline, which is itself very noisy: sparse series (a few visits a day) reach absurd
    z-scores with one extra visit, and overdispersed ones (day-of-week, city-wide swings) alarm
    far above ``alpha``. With the guard a day must also be improbable as a negative-binomial
    count with the baseline mean (floored at ``min_expected``) and the series' own
    overdispersion, estimated from the ``dispersion_days`` before that day, at the same
    ``alpha``; the signal's p-value is the larger of the two tails. Without overdispersion the
    guard is the Poisson tail. Every day still uses only earlier data (and itself).
    """
    y = np.asarray(counts, dtype=float)
    if y.ndim != 2 or y.shape != (len(keys), len(dates)):
        raise ValueError(f"counts {y.shape} do not match {len(keys)} keys x {len(dates)} dates")
    _check_consecutive(dates)
    unknown = [m for m in methods if m not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown detectors {unknown}; known: {sorted(DETECTORS)}")
    start = 0 if monitor_start is None or not dates else (monitor_start - dates[0]).days
    size = nb_size(y, baseline, dispersion_days) if count_guard else None
    signals: list[tuple[int, int, int, Signal]] = []
    for order, method in enumerate(methods):
        result = DETECTORS[method](y, baseline=baseline, alpha=alpha, min_sigma=min_sigma)
        columns = np.flatnonzero(result.monitor >= start)
        days = result.monitor[columns]
        observed = y[:, days]
        hit = result.alarm[:, columns] & (observed >= min_observed)
        pvalue = result.pvalue[:, columns]
        if count_guard:
            rate = np.maximum(np.nan_to_num(result.expected[:, columns]), min_expected)
            pvalue = np.fmax(pvalue, count_tail(observed, rate, size[:, days]))
            hit &= pvalue <= (alpha if alpha is not None else DEFAULT_ALPHA[method])
        for i, k in zip(*np.nonzero(hit), strict=True):
            t = int(days[k])
            region_id, syndrome = keys[i]
            c = columns[k]
            signal = Signal(
                date=dates[t],
                region_id=region_id,
                syndrome=Syndrome(syndrome),
                detector=method,
                observed=float(y[i, t]),
                expected=float(result.expected[i, c]),
                upperbound=float(result.upperbound[i, c]),
                p_value=float(pvalue[i, k]),
            )
            signals.append((t, order, int(i), signal))
    signals.sort(key=lambda s: s[:3])
    return [s[3] for s in signals]


def _check_consecutive(dates: Sequence[dt.date]) -> None:
    for previous, current in zip(dates, dates[1:], strict=False):
        if (current - previous).days != 1:
            raise ValueError(f"dates must be consecutive days: {previous} then {current}")


def nb_size(counts: np.ndarray, baseline: int, window: int) -> np.ndarray:
    """Negative-binomial size per series and day (``inf``: Poisson), ``size[i, t]`` from the
    ``window`` days before ``t`` only.

    Each day's residual against its trailing ``baseline``-day mean gives the day-to-day
    variance (corrected for the noise of the mean itself); by moments ``var = m + m**2 / size``.
    """
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
