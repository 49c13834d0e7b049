"""The Poisson CUSUM of Rossi et al. (1999), as R ``surveillance::algo.cusum`` (1.20.3).

Rossi G, Lampugnani L, Marchi M (1999). An approximate CUSUM procedure for surveillance of
health events. Statistics in Medicine 18(16):2111-2122.
Salmon M, Schumacher D, Höhle M (2016). Monitoring count time series in R: aberration
detection in public health surveillance. Journal of Statistical Software 70(10):1-35.

For the monitored time points ``t_1 < t_2 < ...`` of a series with in-control mean ``m``, each
count ``x`` is standardised to ``z = trans(x, m)`` and

    S_0 = 0,    S_i = max(0, S_{i-1} + z_i - k),    alarm_i = S_i >= h.

The recursion runs over the monitored points only, in order: a time index left out of
``monitor`` is skipped, as a gap in R's ``range``. ``trans`` is one of

- ``"standard"``: ``(x - m) / sqrt(m)``;
- ``"rossi"``: ``(x - 3m + 2 sqrt(x m)) / (2 sqrt(m))`` (Rossi et al.'s approximate normal
  transform);
- ``"anscombe"``: ``3/2 (x^(2/3) - m^(2/3)) / m^(1/6)``;
- ``"anscombe2nd"``: ``(x^(2/3) - (m^(2/3) - m^(-1/3)/9)) / (2/3 m^(1/6))``;
- ``"pearsonNegBin"``: ``(x - m) / sqrt(m + alpha m^2)`` (``alpha``: the negative binomial
  dispersion, default 0.1 as in R; unused by the other transforms);
- ``"none"``: ``x``.

Outputs, column ``i`` being time index ``monitor[i]``:

- ``score``: ``S_i``; ``alarm``: ``S_i >= h``; ``expected``: ``m``.
- ``upperbound``: R's ``upperbound``, the count at which the point alarms given ``S_{i-1}``.
  For ``"standard"`` it is ``ceiling(m + sqrt(m) (h + k - S_{i-1}))`` and a point alarms when
  its count is *at least* the bound (EARS alarms *above* its bound). The others are R's
  formulas verbatim, including their quirks: ``"anscombe2nd"`` inverts with ``m^(1/3)/9``
  where the transform has ``m^(-1/3)/9``, and ``"none"`` reports ``h - S_i`` (not a count).
  As in R a negative or NaN bound (``"rossi"`` when ``S_{i-1}`` is large, a zero ``m``) is 0.
- ``pvalue``: NaN. A CUSUM alarm is a property of the whole run since the last reset, not of
  one day, so there is no per-day p-value to report.

``m``: ``None`` estimates it, as R with ``m = NULL``, by the mean of *every* count before the
first monitored point (``observed[1:(range[1] - 1)]``), one value per series; a missing count
there makes the whole series undefined (R's ``mean`` gives NA). A number, an ``[n_series]``
array (one value per series) or an ``[n_series, n_monitor]`` array (one value per point, e.g.
a seasonal model's prediction) is used as given. An ``m`` of 0 (an all-zero baseline) is
kept as in R: the standardised counts are ``+inf`` (a positive count, which alarms) or NaN
(a zero count, which does not), and the NaN/inf run on from there. R's ``m = "glm"`` is not offered: fit the
model elsewhere and pass its predictions as the 2-D ``m``.

Differences from R, both deliberate:

- Missing data: R's ``upperbound[is.na(upperbound)] <- 0`` turns a bound that a missing count
  makes undefined into 0 ("alarm at any count"). Here it is NaN, as are ``score`` (R: NA) and
  ``expected`` when ``m`` is missing; ``alarm`` is False where R gives NA. Once a monitored
  count is missing the recursion stays undefined for the rest of the run, as in R.
- ``m = None`` with the first monitored point at time index 0: R then takes
  ``observed[1:0]``, i.e. the monitored count itself, as ``m``; here it is a ``ValueError``.
- ``trans = "anscombeNegBin"`` is not offered: R evaluates its hypergeometric function from a
  nearest-point lookup table, which cannot be matched without copying that table.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from epiradar.detect.temporal.result import (
    DetectionResult,
    monitor_days,
    per_series_and_day,
    series_matrix,
)

Trans = Literal["standard", "rossi", "anscombe", "anscombe2nd", "pearsonNegBin", "none"]
TRANSFORMS: tuple[str, ...] = (
    "standard",
    "rossi",
    "anscombe",
    "anscombe2nd",
    "pearsonNegBin",
    "none",
)
DEFAULT_NB_ALPHA = 0.1  # R's control$alpha when NULL


def cusum(
    counts: npt.ArrayLike,
    *,
    k: float = 1.04,
    h: float = 2.26,
    m: float | npt.ArrayLike | None = None,
    trans: Trans = "standard",
    alpha: float | None = None,
    monitor: npt.ArrayLike | None = None,
) -> DetectionResult:
    """Run R's ``algo.cusum`` over every row of ``counts[n_series, n_time]`` at once.

    Vectorised over series; the recursion loops over the monitored points. ``monitor`` holds
    0-based time indices (R's ``range`` minus 1), sorted and deduplicated; by default every
    index from 1 (from 0 when ``m`` is given). ``k`` is the reference value, ``h`` the decision
    interval, ``alpha`` the negative binomial dispersion of ``"pearsonNegBin"`` (default 0.1).
    See the module docstring for ``m``, the transforms and the outputs. A 1-D ``counts`` is one
    series.
    """
    if trans not in TRANSFORMS:
        raise ValueError(f"unknown trans {trans!r}; expected one of {', '.join(TRANSFORMS)}")
    if isinstance(m, str):
        raise ValueError(
            "m must be None or numeric (R's m='glm' is not offered: pass predictions as m)"
        )
    alpha = DEFAULT_NB_ALPHA if alpha is None else float(alpha)
    y = series_matrix(counts)
    n_series, n_time = y.shape
    estimate_m = m is None
    days = monitor_days(
        monitor,
        n_time,
        1 if estimate_m else 0,
        "m=None estimates m from the counts before monitor[0]" if estimate_m else "",
    )
    shape = (n_series, days.size)
    if days.size == 0:
        empty = np.empty(shape)
        return DetectionResult(empty, empty, empty, empty, empty.astype(bool), days)

    mean = _in_control_mean(y, m, days)  # [n_series, n_monitor]
    x = y[:, days]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = _standardise(x, mean, trans, alpha)
        # The recursion runs time-major ([n_monitor, n_series], contiguous rows) for speed.
        step = np.ascontiguousarray(z.T) - k
        score_t = np.empty((days.size, n_series))
        before_t = np.empty((days.size, n_series))  # S_{i-1}, R's Ctm1
        s = np.zeros(n_series)
        for i in range(days.size):
            before_t[i] = s
            s = score_t[i]
            np.add(before_t[i], step[i], out=s)
            np.maximum(0.0, s, out=s)  # NaN propagates, as R's max(0, NA)
        score = np.ascontiguousarray(score_t.T)
        before = np.ascontiguousarray(before_t.T)
        upper = _upperbound(mean, before, score, trans, k, h, alpha)
    upper = np.where(np.isnan(upper) | (upper < 0), 0.0, upper)

    # Undefined because of missing data: a missing m, or a missing monitored count earlier in
    # the run (at or before the point for "none", whose bound uses S_i).
    missing = np.isnan(x)
    if trans == "none":
        lost = np.logical_or.accumulate(missing, axis=1)
    else:
        lost = np.zeros(shape, dtype=bool)
        lost[:, 1:] = np.logical_or.accumulate(missing, axis=1)[:, :-1]
    lost |= np.isnan(mean)
    return DetectionResult(
        expected=mean,
        upperbound=np.where(lost, np.nan, upper),
        pvalue=np.full(shape, np.nan),
        score=score,
        alarm=np.asarray(score >= h, dtype=bool),  # NaN >= h is False
        monitor=days,
    )


def _in_control_mean(
    y: npt.NDArray[np.float64], m: float | npt.ArrayLike | None, days: npt.NDArray[np.intp]
) -> npt.NDArray[np.float64]:
    n_series = y.shape[0]
    shape = (n_series, days.size)
    if m is None:  # R: mean(observed[1:(range[1] - 1)]); NA when any count there is NA
        base = y[:, : days[0]]
        return np.broadcast_to((base.sum(axis=1) / base.shape[1])[:, np.newaxis], shape).copy()
    return per_series_and_day(m, n_series, days.size, "m")


def _standardise(x: np.ndarray, m: np.ndarray, trans: str, alpha: float) -> npt.NDArray[np.float64]:
    """R's ``standObs``, operation for operation."""
    if trans == "standard":
        return (x - m) / np.sqrt(m)
    if trans == "rossi":
        return (x - 3 * m + 2 * np.sqrt(x * m)) / (2 * np.sqrt(m))
    if trans == "anscombe":
        return 3 / 2 * (x ** (2 / 3) - m ** (2 / 3)) / m ** (1 / 6)
    if trans == "anscombe2nd":
        return (x ** (2 / 3) - (m ** (2 / 3) - m ** (-1 / 3) / 9)) / (2 / 3 * m ** (1 / 6))
    if trans == "pearsonNegBin":
        return (x - m) / np.sqrt(m + alpha * m**2)
    return x.copy()  # "none"


def _upperbound(
    m: np.ndarray,
    ctm1: np.ndarray,
    cus: np.ndarray,
    trans: str,
    k: float,
    h: float,
    alpha: float,
) -> npt.NDArray[np.float64]:
    """R's ``upperbound`` before its NA/negative -> 0 step, operation for operation."""
    if trans == "standard":
        return np.ceil(np.sqrt(m) * (h + k - ctm1) + m)
    if trans == "rossi":
        r = m ** (1 / 2)
        r3 = m ** (3 / 2)
        return (
            2 * h * r
            + 2 * k * r
            - 2 * ctm1 * r
            + 5 * m
            - 2 * (4 * m**2 + 2 * r3 * h + 2 * r3 * k - 2 * r3 * ctm1) ** (1 / 2)
        )
    if trans in ("anscombe", "anscombe2nd"):
        shift = m ** (2 / 3) if trans == "anscombe" else m ** (2 / 3) - m ** (1 / 3) / 9
        v = (2 / 3) * m ** (1 / 6) * (h + k - ctm1) + shift
        return np.where(v < 0, 0.0, v ** (3 / 2))
    if trans == "pearsonNegBin":
        return np.sqrt(m + alpha * m**2) * (h + k - ctm1) + m
    return h - cus  # "none"
