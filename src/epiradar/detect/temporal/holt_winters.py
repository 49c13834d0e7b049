"""Additive Holt-Winters one-step-ahead forecasting as a detector, as R ``stats::HoltWinters``.

Holt CC (1957). Forecasting seasonals and trends by exponentially weighted moving averages.
ONR Research Memorandum 52, Carnegie Institute of Technology; reprinted in International
Journal of Forecasting 20(1):5-10 (2004).
Winters PR (1960). Forecasting sales by exponentially weighted moving averages. Management
Science 6(3):324-342.
Mathes RW, Lall R, Levin-Rector A, Sell J, Paladini M, Konty KJ, Olson D, Weiss D (2017).
Evaluating and implementing temporal, spatial, and spatio-temporal methods for outbreak
detection in a local syndromic surveillance system. BMC Medical Informatics and Decision
Making 17:92 (Holt-Winters was the best temporal method at 95% specificity on NYC ED data).

For each series the additive Holt-Winters filter with period ``p`` (weekly, 7, by default)
and *given* smoothing parameters ``alpha`` (level), ``beta`` (trend) and ``gamma`` (season)
runs, as R's C routine ``C_HoltWinters``, from time index ``p`` (0-based) on:

    xhat_i = L + T + S_{i-p}                                    (forecast of day i)
    L'     = alpha (x_i - S_{i-p}) + (1 - alpha) (L + T)
    T'     = beta (L' - L) + (1 - beta) T
    S_i    = gamma (x_i - L') + (1 - gamma) S_{i-p}

with R's start values from the first ``2p`` days (``start.periods = 2``): ``decompose``'s
centred moving average (weights ``1/p``, or ``(1/2, 1, ..., 1, 1/2)/p`` for an even ``p``)
gives the trend, whose least-squares line over its defined points (x = 1, 2, ...) gives the
start level (intercept) and trend (slope); the start season ``S_0..S_{p-1}`` is the mean of
``x - trend`` at each position of the cycle, centred to sum to zero. ``beta=False`` (R's
``beta = FALSE``) drops the trend (``T = 0``); ``beta=0`` keeps the start trend constant, as in
R.

Prospective use: the forecast of a monitored day ``t`` is ``xhat_t``, which only uses the
days before ``t`` and equals R's ``predict(HoltWinters(x[1:t]), n.ahead = 1)`` (index ``t``
0-based); the fixtures check both. Outputs, column ``k`` being time index ``monitor[k]``:

- ``expected``: ``xhat_t``.
- ``upperbound``: ``xhat_t + z sd_t`` with ``z = Phi^{-1}(1 - alpha_level)`` and ``sd_t`` the
  standard deviation (``n - 1`` denominator, around the mean) of the one-step residuals
  ``x_i - xhat_i``, ``p <= i < t``: R's ``predict(..., prediction.interval = TRUE)`` ``upr``
  for one step ahead (``var(residuals(object))``), with ``level = 1 - 2 alpha_level`` (R's
  interval is two-sided; the default 0.025 is R's default ``level = 0.95``).
- ``score``: ``(x_t - xhat_t) / sd_t``; ``pvalue``: its one-sided normal upper tail
  ``1 - Phi(score)`` (the Gaussian prediction model R's interval assumes; counts are not
  normal, so it is a calibration by convention, not an exact tail probability).
- ``alarm``: ``x_t > upperbound``.

The smoothing parameters are required: R estimates missing ones by minimising the SSE with
``optim``, which is not offered here. ``gamma = FALSE`` (non-seasonal Holt or exponential
smoothing, with R's other start values) and the multiplicative model are not offered either.
Missing counts: R's ``HoltWinters`` does not accept them; here a missing count makes every
later forecast of its series undefined (NaN, alarm False), and a missing monitored count
leaves its own ``expected``/``upperbound`` defined (they use earlier days only) and its
``score``/``pvalue`` NaN.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr
from scipy.stats import norm

from epiradar.detect.temporal.result import DetectionResult, monitor_days, series_matrix

DEFAULT_ALPHA_LEVEL = 0.025  # R's predict.HoltWinters level = 0.95, upper side


def holt_winters(
    counts: npt.ArrayLike,
    *,
    alpha: float,
    beta: float | Literal[False],
    gamma: float,
    period: int = 7,
    alpha_level: float = DEFAULT_ALPHA_LEVEL,
    monitor: npt.ArrayLike | None = None,
) -> DetectionResult:
    """Prospective additive Holt-Winters over every row of ``counts[n_series, n_time]`` at once.

    Vectorised over series; the filter loops over time. ``alpha`` in ``(0, 1]``, ``beta`` in
    ``[0, 1]`` or ``False`` (no trend), ``gamma`` in ``[0, 1]``: all required (no ``optim``
    estimation). ``period``: the season length (>= 2). ``alpha_level``: the one-sided level
    of ``upperbound`` (R's ``level = 1 - 2 alpha_level``). ``monitor``: 0-based time indices,
    sorted and deduplicated, each at least ``2 * period`` (R's start values need two full
    periods before the day); by default every such index. A 1-D ``counts`` is one series.
    See the module docstring for the recursion, R's start values and the outputs.
    """
    alpha, beta_value, trend_on, gamma = _check_parameters(alpha, beta, gamma)
    if isinstance(period, bool) or int(period) != period or period < 2:
        raise ValueError("period must be an integer >= 2")
    period = int(period)
    if not 0.0 < alpha_level < 1.0:
        raise ValueError("alpha_level must lie in (0, 1)")
    y = series_matrix(counts)
    n_series, n_time = y.shape
    days = monitor_days(
        monitor,
        n_time,
        2 * period,
        "R's start values need two full periods before the first monitored day",
    )
    shape = (n_series, days.size)
    if days.size == 0:
        empty = np.empty(shape)
        return DetectionResult(empty, empty, empty, empty, empty.astype(bool), days)

    last = int(days[-1])  # the filter only needs to run up to the last monitored day
    with np.errstate(invalid="ignore", divide="ignore"):
        xhat = _filter(y[:, : last + 1], period, alpha, beta_value, trend_on, gamma)
        residuals = y[:, : last + 1] - xhat  # NaN before index `period`
        sd = np.empty(shape)
        for k, t in enumerate(days):
            sd[:, k] = np.std(residuals[:, period:t], axis=1, ddof=1)
        expected = xhat[:, days]
        # A missing count before t makes the forecast of t undefined (explicit, although the
        # filter's NaN propagates too).
        lost = np.zeros(shape, dtype=bool)
        missing_before = np.logical_or.accumulate(np.isnan(y[:, : last + 1]), axis=1)
        lost[:, days > 0] = missing_before[:, days[days > 0] - 1]
        expected = np.where(lost, np.nan, expected)
        sd = np.where(lost, np.nan, sd)
        upper = expected + norm.isf(alpha_level) * sd
        x = y[:, days]
        score = (x - expected) / sd
    return DetectionResult(
        expected=expected,
        upperbound=upper,
        pvalue=ndtr(-score),  # the normal upper tail; NaN stays NaN
        score=score,
        alarm=np.asarray(x > upper, dtype=bool),  # NaN compares False
        monitor=days,
    )


def _check_parameters(
    alpha: float, beta: float | Literal[False], gamma: float
) -> tuple[float, float, bool, float]:
    if alpha is None or beta is None or gamma is None:
        raise ValueError("alpha, beta and gamma are required (R's optim estimation is not offered)")
    if isinstance(alpha, bool) or isinstance(gamma, bool):
        raise ValueError("alpha and gamma must be numbers (gamma=False is not offered)")
    if beta is True:
        raise ValueError("beta must be a number or False (no trend)")
    trend_on = beta is not False
    beta_value = float(beta) if trend_on else 0.0
    alpha, gamma = float(alpha), float(gamma)
    if alpha == 0.0:
        raise ValueError("alpha must not be 0 (a model without level), as in R")
    if not (0.0 <= alpha <= 1.0 and 0.0 <= beta_value <= 1.0 and 0.0 <= gamma <= 1.0):
        raise ValueError("alpha, beta and gamma must be within the unit interval")
    return alpha, beta_value, trend_on, gamma


def _start_values(
    y: npt.NDArray[np.float64], period: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """R's ``l.start``, ``b.start`` and ``s.start`` from ``decompose`` of the first 2 periods."""
    wind = 2 * period
    x = y[:, :wind]
    if period % 2:
        weights = np.full(period, 1.0 / period)
    else:
        weights = np.r_[0.5, np.ones(period - 1), 0.5] / period
    half = weights.size // 2
    n_trend = wind - 2 * half
    trend = np.zeros((y.shape[0], n_trend))
    for j, w in enumerate(weights):  # R's filter(x, weights, sides = 2), centred
        trend += w * x[:, j : j + n_trend]
    # decompose: figure[i] = mean(x - trend, na.rm = TRUE) over cycle position i, where the
    # NAs dropped are the ends the centred average leaves undefined.
    season = np.zeros_like(x)
    season[:, half : half + n_trend] = x[:, half : half + n_trend] - trend
    defined = np.zeros(wind)
    defined[half : half + n_trend] = 1.0
    figure = season.reshape(-1, 2, period).sum(axis=1) / defined.reshape(2, period).sum(axis=0)
    figure = figure - figure.mean(axis=1, keepdims=True)
    # .lm.fit(cbind(1, seq_along(dat)), dat): the least-squares line through the trend.
    idx = np.arange(1.0, n_trend + 1.0)
    centred = idx - idx.mean()
    slope = (trend - trend.mean(axis=1, keepdims=True)) @ centred / (centred @ centred)
    intercept = trend.mean(axis=1) - slope * idx.mean()
    return intercept, slope, figure


def _filter(
    y: npt.NDArray[np.float64],
    period: int,
    alpha: float,
    beta: float,
    trend_on: bool,
    gamma: float,
) -> npt.NDArray[np.float64]:
    """R's ``C_HoltWinters`` (additive): the one-step forecasts ``xhat``, NaN before ``period``."""
    n_series, n_time = y.shape
    level, trend, figure = _start_values(y, period)
    if not trend_on:
        trend = np.zeros(n_series)
    season = np.empty((n_series, n_time))
    season[:, :period] = figure
    xhat = np.full((n_series, n_time), np.nan)
    for i in range(period, n_time):
        s_prev = season[:, i - period]
        xhat[:, i] = level + trend + s_prev
        x = y[:, i]
        new_level = alpha * (x - s_prev) + (1 - alpha) * (level + trend)
        if trend_on:
            trend = beta * (new_level - level) + (1 - beta) * trend
        level = new_level
        season[:, i] = gamma * (x - level) + (1 - gamma) * s_prev
    return xhat
