"""EARS C1, C2 and C3 (Hutwagner et al. 2003, 2005), vectorised over series.

Hutwagner L, Thompson W, Seeman GM, Treadwell T (2003). The bioterrorism preparedness and
response Early Aberration Reporting System (EARS). J Urban Health 80(2 Suppl 1):i89-96.
Hutwagner L, Browne T, Seeman GM, Fleischauer AT (2005). Comparing aberration detection
methods with simulated data. Emerg Infect Dis 11(2):314-316.
Fricker RD, Hegler BL, Dunfee DA (2008). Comparing syndromic surveillance detection methods:
EARS' versus a CUSUM-based methodology. Stat Med 27(17):3407-3429.

For day ``t`` with baseline mean ``m`` and sample standard deviation ``s`` (``n - 1``
denominator, floored at ``min_sigma``):

- C1: baseline days ``t-baseline .. t-1``; statistic ``C1 = (y_t - m) / s``.
- C2: baseline days ``t-baseline-2 .. t-3`` (a two-day guard band); ``C2 = (y_t - m) / s``.
- C3: ``C3_t = sum over d in (t-2, t-1, t) of max(0, C2_d - 1)``.

A day alarms when its statistic exceeds ``z = qnorm(1 - alpha)``; ``upperbound`` is the count
above which it does. C1 and C2 equal R ``surveillance::earsC`` (1.20.3): upperbound
``m + z s`` and alarm ``y_t > upperbound``.

C3 and R: ``earsC`` 1.20.3 computes ``upperbound_t = max(0, y_t + s_t (z - X_{t-2} - X_{t-1}))``
with ``X_d = max(0, C2_d - 1)``, so it leaves out day ``t``'s own term: its alarm is
"``X_{t-2} + X_{t-1} > z`` and ``y_t > 0``", whatever the size of ``y_t``, and a spike on day
``t`` alone never alarms. Here C3 follows the definition: alarm when ``C3_t > z`` and
``upperbound = m_t + s_t (1 + z - X_{t-2} - X_{t-1})``, floored at 0; once the two previous
days alone exceed ``z`` the day alarms at any count (upperbound 0, and a zero count alarms too).
``r_compatible=True`` reproduces R's C3 upperbound and alarm instead (score and p-value stay
as defined here).

p-values: for C1 and C2 the normal tail ``P(Z > C)``; for C3 the tail of the C3 statistic when
the three C2 values are independent standard normals (see ``c3_null``). Both are
approximations (counts are discrete and baselines short); they rank and grade alarms, the alarm
itself is the threshold rule above. A zero-width baseline (``s = 0``) gives the statistic
``+inf`` above the mean, ``-inf`` below and 0 at the mean.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr
from scipy.stats import norm

from epiradar.detect.temporal.c3_null import c3_pvalue
from epiradar.detect.temporal.result import DetectionResult, monitor_days, series_matrix

Method = Literal["C1", "C2", "C3"]

DEFAULT_ALPHA: dict[str, float] = {"C1": 0.001, "C2": 0.001, "C3": 0.025}
_GUARD = {"C1": 0, "C2": 2, "C3": 2}  # days between the baseline and the day tested
_EXTRA = {"C1": 0, "C2": 2, "C3": 4}  # first day = baseline + this (0-based)


def first_monitor_day(method: Method, baseline: int) -> int:
    """The first 0-based time index a method can evaluate (R's default ``range`` start - 1)."""
    return baseline + _EXTRA[method]


def ears(
    counts: npt.ArrayLike,
    *,
    method: Method = "C1",
    baseline: int = 7,
    alpha: float | None = None,
    min_sigma: float = 0.0,
    monitor: npt.ArrayLike | None = None,
    r_compatible: bool = False,
) -> DetectionResult:
    """Run EARS ``method`` over every row of ``counts[n_series, n_time]`` at once.

    Vectorised over series and days; the only loop runs over the ``baseline`` window offsets.

    ``monitor`` holds 0-based time indices (default: every day from
    ``first_monitor_day(method, baseline)``, as R's default ``range``); ``alpha`` defaults to
    0.001 for C1/C2 and 0.025 for C3, as in R. A 1-D ``counts`` is one series.
    """
    if method not in _GUARD:
        raise ValueError(f"unknown EARS method {method!r}; expected C1, C2 or C3")
    if baseline < 3:
        raise ValueError("baseline must be at least 3 days")
    if min_sigma < 0:
        raise ValueError("min_sigma must be non-negative")
    alpha = DEFAULT_ALPHA[method] if alpha is None else alpha
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must lie in (0, 1)")
    y = series_matrix(counts)
    days = monitor_days(
        monitor,
        y.shape[1],
        first_monitor_day(method, baseline),
        f"{method} with baseline {baseline} cannot judge earlier days",
    )
    if days.size == 0:
        empty = np.empty((y.shape[0], 0))
        return DetectionResult(empty, empty, empty, empty, empty.astype(bool), days)
    z = float(norm.isf(alpha))

    def stats(d: npt.NDArray[np.intp], guard: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Count, baseline mean and floored sample sd of days ``d``; a loop over the window."""
        contiguous = d.size and d[-1] - d[0] == d.size - 1

        def at(shift: int) -> np.ndarray:  # y on days d - shift (a view when d is a range)
            return y[:, d[0] - shift : d[-1] - shift + 1] if contiguous else y[:, d - shift]

        shifts = range(guard + baseline, guard, -1)
        mean = sum(at(k) for k in shifts) / baseline
        squares = sum((at(k) - mean) ** 2 for k in shifts)
        sigma = np.maximum(np.sqrt(squares / (baseline - 1)), min_sigma)
        return at(0), mean, sigma

    obs, mean, sigma = stats(days, _GUARD[method])
    if method in ("C1", "C2"):
        upper = mean + z * sigma
        score = _standardise(obs, mean, sigma)
        pvalue = ndtr(-score)  # the normal upper tail
        alarm = obs > upper
    else:
        lag2, lag1 = (_excess(*stats(days - k, 2)) for k in (2, 1))
        lag = lag2 + lag1
        score = lag + _excess(obs, mean, sigma)
        pvalue = c3_pvalue(score)
        if r_compatible:
            with np.errstate(invalid="ignore", divide="ignore"):
                raw = [(o - m) / s for o, m, s in (stats(days - k, 2) for k in (2, 1))]
                r_lag = np.maximum(0.0, raw[0] - 1.0) + np.maximum(0.0, raw[1] - 1.0)
                upper = np.maximum(0.0, obs + sigma * (z - r_lag))
            alarm = obs > upper
        else:
            with np.errstate(invalid="ignore"):
                upper = np.where(lag > z, 0.0, np.maximum(0.0, mean + sigma * (1.0 + z - lag)))
            alarm = score > z
    undefined = np.isnan(score)
    return DetectionResult(
        expected=mean,
        upperbound=np.where(undefined, np.nan, upper),
        pvalue=np.where(undefined, np.nan, pvalue),
        score=score,
        alarm=np.asarray(alarm & ~undefined, dtype=bool),
        monitor=days,
    )


def _standardise(obs: np.ndarray, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``(obs - mean) / sigma``, with ``0 / 0 = 0`` for a flat baseline hit exactly."""
    diff = obs - mean
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((sigma == 0) & (diff == 0), 0.0, diff / sigma)


def _excess(obs: np.ndarray, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """One day's C3 term ``max(0, C2 - 1)`` (NaN stays NaN)."""
    return np.maximum(0.0, _standardise(obs, mean, sigma) - 1.0)
