"""Expected counts for the expectation-based scan from each zone's own recent past."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def weekday_baseline(
    counts: npt.ArrayLike, *, history: int = 28, max_days: int = 7, min_visits: float = 0.5
) -> npt.NDArray[np.float64]:
    """Day-of-week-adjusted moving average (Neill 2009's most robust baseline).

    For the last ``max_days`` days, zone z's expected count on day t is the zone's mean over
    the ``history`` days before that window times the city's mean on t's weekday over those
    days relative to its overall mean (floored at 0.1, for weekdays without visits). The
    history ends before the window, so an outbreak inside the window does not raise its own
    baseline. A zone's history counts at least ``min_visits`` visits, so that a zone without
    any can still be part of a cluster. Earlier days get the same formula from the same history
    (they are not scanned). Returns an array shaped like ``counts``.
    """
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"counts: expected a (zones, days) array, got {y.ndim} dimension(s)")
    n_days = y.shape[1]
    if int(history) != history or history < 7:
        raise ValueError(f"history: must be at least 7 whole days, got {history}")
    if int(max_days) != max_days or max_days < 1:
        raise ValueError(f"max_days: must be a whole number of days >= 1, got {max_days}")
    if n_days < history + max_days:
        raise ValueError(
            f"counts: {n_days} days are too few for {history} days of history before a "
            f"{max_days}-day window"
        )
    if min_visits < 0:
        raise ValueError(f"min_visits: must be 0 or more, got {min_visits}")
    end = n_days - max_days
    past = y[:, end - history : end]
    zone_mean = np.maximum(past.sum(axis=1), min_visits) / history
    city = past.sum(axis=0)
    weekday = np.arange(history) % 7  # offsets from the history's first day
    factor = np.ones(7)
    if city.mean() > 0:
        for d in range(7):
            factor[d] = max(city[weekday == d].mean() / city.mean(), 0.1)
    offset = (np.arange(n_days) - (end - history)) % 7
    return zone_mean[:, None] * factor[offset][None, :]
