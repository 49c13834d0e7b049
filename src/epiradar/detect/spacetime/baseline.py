"""Expected counts for the expectation-based scan from each zone's own recent past."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def weekday_baseline(
    counts: npt.ArrayLike, *, history: int = 28, max_days: int = 7
) -> npt.NDArray[np.float64]:
    """Day-of-week-adjusted moving average (Neill 2009's most robust baseline).

    For the last ``max_days`` days, zone z's expected count on day t is the zone's mean over
    the ``history`` days before that window times the city-wide share of the history's cases
    that fell on t's weekday (x 7). The history ends before the window, so an outbreak inside
    the window does not raise its own baseline. Earlier days get the same formula from the
    same history (they are not scanned). Returns an array shaped like ``counts``.
    """
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"counts: expected a (zones, days) array, got {y.ndim} dimension(s)")
    n_days = y.shape[1]
    if history < 7 or history % 7:
        raise ValueError(f"history: must be a positive multiple of 7 days, got {history}")
    if n_days < history + max_days:
        raise ValueError(
            f"counts: {n_days} days are too few for {history} days of history before a "
            f"{max_days}-day window"
        )
    end = n_days - max_days
    past = y[:, end - history : end]
    zone_mean = past.mean(axis=1)
    by_weekday = np.array([past[:, d::7].sum() for d in range(7)])  # offsets from history start
    share = by_weekday / by_weekday.sum() * 7 if by_weekday.sum() > 0 else np.ones(7)
    offset = (np.arange(n_days) - (end - history)) % 7
    return zone_mean[:, None] * share[offset][None, :]
