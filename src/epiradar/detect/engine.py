"""Run the configured temporal detectors over every region x syndrome series at once.

EARS (Hutwagner et al. 2003, 2005) looks only at the day itself and earlier days, so one
vectorised pass over the whole history equals a prospective day-by-day replay.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from epiradar.detect.temporal import DETECTORS
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
) -> list[Signal]:
    """Signals: each (day, series, method) that alarms with at least ``min_observed`` visits.

    ``counts[i, j]`` is the count of series ``keys[i] = (region_id or None for the city,
    syndrome)`` on ``dates[j]`` (consecutive days). Days from ``monitor_start`` (default: the
    first day each method can evaluate) to the last are evaluated. One ``alpha`` serves every
    method; ``None`` takes each method's own default. Sorted by date, method, then series.
    """
    y = np.asarray(counts, dtype=float)
    if y.ndim != 2 or y.shape != (len(keys), len(dates)):
        raise ValueError(f"counts {y.shape} do not match {len(keys)} keys x {len(dates)} dates")
    _check_consecutive(dates)
    unknown = [m for m in methods if m not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown detectors {unknown}; known: {sorted(DETECTORS)}")
    start = 0 if monitor_start is None or not dates else (monitor_start - dates[0]).days
    signals: list[tuple[int, int, int, Signal]] = []
    for order, method in enumerate(methods):
        result = DETECTORS[method](y, baseline=baseline, alpha=alpha, min_sigma=min_sigma)
        columns = np.flatnonzero(result.monitor >= start)
        days = result.monitor[columns]
        hit = result.alarm[:, columns] & (y[:, days] >= min_observed)
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
                p_value=float(result.pvalue[i, c]),
            )
            signals.append((t, order, int(i), signal))
    signals.sort(key=lambda s: s[:3])
    return [s[3] for s in signals]


def _check_consecutive(dates: Sequence[dt.date]) -> None:
    for previous, current in zip(dates, dates[1:], strict=False):
        if (current - previous).days != 1:
            raise ValueError(f"dates must be consecutive days: {previous} then {current}")
