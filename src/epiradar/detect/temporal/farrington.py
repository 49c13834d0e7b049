"""The Farrington algorithm and its improved (Noufaily) variant, as R
``surveillance::farringtonFlexible`` (1.20.3) on a series without dates (``epochAsDate = FALSE``).

Farrington CP, Andrews NJ, Beale AD, Catchpole MA (1996). A statistical algorithm for the
early detection of outbreaks of infectious disease. Journal of the Royal Statistical Society,
Series A 159(3):547-563.
Noufaily A, Enki DG, Farrington P, Garthwaite P, Andrews N, Charlett A (2013). An improved
algorithm for outbreak detection in multiple surveillance systems. Statistics in Medicine
32(7):1206-1222.
Salmon M, Schumacher D, Höhle M (2016). Monitoring count time series in R: aberration
detection in public health surveillance. Journal of Statistical Software 70(10):1-35.

For each monitored time index ``t`` (R's 1-based ``k = t + 1``) of each series:

1. Reference data. The reference weeks are ``t - i freq`` for ``i = 1..b``; the windows
   ``t - i freq - w .. t - i freq + w`` and the current window ``t - w .. t`` form the
   seasonal level ``no_periods``. With ``no_periods > 1`` the weeks between two reference
   windows are cut into ``no_periods - 1`` blocks, levels ``1..no_periods - 1`` (R's
   ``blocks``: the first ``period %% (no_periods - 1)`` blocks one week longer). The weeks
   ``t - past_weeks_not_included .. t`` (default ``w``) are then left out, as are missing
   counts. So with ``no_periods = 1`` the data are the ``b (2w + 1)`` reference-window weeks.
2. A quasi-Poisson log-linear GLM (R's ``glm.fit`` step for step: ``mustart = y + 0.1``, IRLS,
   deviance convergence at ``1e-8``, at most 25 steps) with an intercept, a linear trend in
   the 1-based time (``trend``) and, with ``no_periods > 1``, the seasonal factor (treatment
   contrasts against its lowest level); ``population`` adds ``offset(log(population))``. A fit
   that does not converge is refitted without the trend; if that does not converge either the
   point has no result. ``phi = max(1, dispersion)``.
3. ``reweight``: Anscombe residuals ``s = 3/2 (y^(2/3) mu^(-1/6) - mu^(1/2)) / sqrt(phi (1 -
   h))`` (``h``: the hat values); weights ``gamma s^-2`` where ``s > weights_threshold``, else
   ``gamma``, ``gamma`` making them sum to the number of weeks; the model is refitted with
   these weights and ``phi`` re-estimated. R then stores ``omega`` in the model's working
   weights, so the dispersion that its trend t-test and prediction standard error use is
   ``sum(omega r^2) / df`` (``r``: the working residuals), not the ``phi`` of the fit;
   reproduced as is.
4. The trend is kept when ``b >= 3``, its t-test p-value is ``< p_threshold_trend`` and the
   prediction at ``t`` does not exceed the largest reference count; otherwise steps 2-3 are
   redone without it.
5. The threshold, from the prediction ``mu0`` at ``t`` and its standard error (R's
   ``predict.glm``, whose dispersion is the raw, not the floored, estimate):

   - ``"delta"`` (Farrington): with exponent ``e`` of ``power_trans`` (``"2/3"``, ``"1/2"``,
     ``"none"`` = 1) and ``tau = phi + se^2 / mu0``, the bound
     ``(mu0^e + z_(1-alpha) sd)^(1/e)``, ``sd`` being ``sqrt(4/9 mu0^(1/3) tau)``,
     ``sqrt(tau / 4)`` or ``sqrt(mu0 tau)``; ``pvalue = P(N(mu0^e, sd) > y^e)``.
   - ``"nbPlugin"`` (Noufaily): the ``1 - alpha`` quantile of a negative binomial with mean
     ``m = exp(eta0)`` and variance ``phi m`` (size ``m / (phi - 1)``, prob ``1 / phi``;
     Poisson when ``phi = 1``); ``pvalue = P(Y >= y)`` under it.
   - ``"muan"``: as ``"nbPlugin"`` with ``m = exp(eta0 + z_(1-alpha) se(eta0))``.

6. ``alarm``: ``score > 1`` and ``y > 0`` and at least ``limit54[0]`` cases in the last
   ``limit54[1]`` weeks (``t`` included); without enough cases ``upperbound`` and
   ``expected`` are NaN (R: NA).

Outputs, column ``i`` being time index ``monitor[i]``, R's slots:

- ``expected``: R's ``control$expected``: ``mu0`` (``"delta"``) or ``exp(eta0)``.
- ``upperbound``: R's ``upperbound``; ``alarm``: R's ``alarm``.
- ``score``: R's ``control$score``, ``(y - pred) / (upperbound - pred)``, kept as R computes
  it even where ``limit54`` suppresses the alarm. As in R, for ``"nbPlugin"``/``"muan"``
  ``pred`` is the *log*-scale prediction ``eta0`` (R's quirk, kept for parity).
- ``pvalue``: R's ``control$pvalue`` (see step 5), also kept where ``limit54`` applies.

R's other diagnostics (``mu0Vector``, ``phiVector``, ``trendVector``, ``trend``) are not
returned.

Differences from R, all deliberate:

- Time is the index: reference weeks are ``t - i freq`` (R's ``epochAsDate = FALSE``); R's
  date-based reference weeks for ``sts`` objects with ``epochAsDate = TRUE`` are not offered.
- A point without a converged fit: R leaves ``expected`` at 0 and ``alarm`` NA; here
  ``expected`` is NaN and ``alarm`` False (every other output NaN, as R's NA).
- A missing count at ``t`` or in the ``limit54`` window gives NaN bounds and no alarm, as R's
  NA; missing reference counts are dropped, as R does.
- A singular weighted design in an IRLS step (R's pivoting QR would go on), or no more
  non-missing reference counts than model parameters (R: an error or a NaN dispersion),
  gives no result for that point, as a fit that does not converge.
- ``monitor[0]`` must be at least ``b freq + w`` (R's default ``range`` start), and
  ``no_periods`` small enough that no block is empty (R errors only when the blocks would
  overlap the reference windows, and assigns reversed ranges in between).
- The GLM is fitted series by series and week by week in Python (no batched IRLS yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from epiradar.detect.temporal.result import DetectionResult

ThresholdMethod = Literal["delta", "nbPlugin", "muan"]
PowerTrans = Literal["2/3", "1/2", "none"]

#: Farrington et al. (1996) as ``farringtonFlexible`` documents it.
FARRINGTON_ORIGINAL: dict[str, object] = {
    "no_periods": 1,
    "reweight": True,
    "weights_threshold": 1.0,
    "p_threshold_trend": 0.05,
    "past_weeks_not_included": None,
    "threshold_method": "delta",
    "power_trans": "2/3",
}

#: Noufaily et al. (2013) as ``farringtonFlexible`` documents it.
FARRINGTON_IMPROVED: dict[str, object] = {
    "no_periods": 10,
    "reweight": True,
    "weights_threshold": 2.58,
    "p_threshold_trend": 1.0,
    "past_weeks_not_included": 26,
    "threshold_method": "nbPlugin",
}

_EPS = np.finfo(float).eps
_EXPONENT = {"2/3": 2 / 3, "1/2": 1 / 2, "none": 1.0}


def farrington_flexible(
    counts: npt.ArrayLike,
    *,
    freq: int = 52,
    b: int = 5,
    w: int = 3,
    reweight: bool = True,
    weights_threshold: float = 2.58,
    alpha: float = 0.05,
    trend: bool = True,
    p_threshold_trend: float = 0.05,
    limit54: tuple[float, int] = (5, 4),
    power_trans: PowerTrans = "2/3",
    population: npt.ArrayLike | None = None,
    no_periods: int = 1,
    past_weeks_not_included: int | None = None,
    threshold_method: ThresholdMethod = "delta",
    monitor: npt.ArrayLike | None = None,
) -> DetectionResult:
    """Run R's ``farringtonFlexible`` over every row of ``counts[n_series, n_time]``.

    The keywords are R's ``control`` in snake case (R's defaults; see the module docstring
    and the presets :data:`FARRINGTON_ORIGINAL` and :data:`FARRINGTON_IMPROVED`).
    ``population`` (same shape as ``counts``) switches on R's ``populationOffset``. ``monitor``
    holds 0-based time indices (R's ``range`` minus 1), sorted and deduplicated; by default
    ``b freq + w`` to the end, as R. A 1-D ``counts`` is one series.
    """
    y = np.asarray(counts, dtype=float)
    if y.ndim == 1:
        y = y[np.newaxis, :]
    if y.ndim != 2:
        raise ValueError("counts must be [n_series, n_time]")
    n_series, n_time = y.shape
    freq, b, w, no_periods = int(freq), int(b), int(w), int(no_periods)
    if freq < 1 or b < 1 or w < 0 or no_periods < 1:
        raise ValueError("need freq >= 1, b >= 1, w >= 0 and no_periods >= 1")
    pwni = w if past_weeks_not_included is None else int(past_weeks_not_included)
    if pwni < 0:
        raise ValueError("past_weeks_not_included must be >= 0")
    if threshold_method not in ("delta", "nbPlugin", "muan"):
        raise ValueError("threshold_method must be 'delta', 'nbPlugin' or 'muan'")
    if power_trans not in _EXPONENT:
        raise ValueError("power_trans must be '2/3', '1/2' or 'none'")
    lim_cases, lim_period = float(limit54[0]), int(limit54[1])
    if not (lim_cases >= 0 and lim_period > 0):
        raise ValueError("limit54 must be (cases >= 0, period > 0)")
    if not 0 < alpha < 1:
        raise ValueError("alpha must lie in (0, 1)")
    pop = None
    if population is not None:
        pop = np.broadcast_to(np.asarray(population, dtype=float), y.shape)
    first = b * freq + w
    if monitor is None:
        days = np.arange(first, n_time, dtype=np.intp)
    else:
        days = np.unique(np.asarray(monitor, dtype=np.intp))
        if days.size and (days[0] < first or days[-1] >= n_time):
            raise ValueError(f"monitor must lie in {first}..{n_time - 1} (b * freq + w first)")
    if days.size and days[0] < lim_period - 1:
        raise ValueError("monitor starts before the first full limit54 window")

    shape = (n_series, days.size)
    out = {k: np.full(shape, np.nan) for k in ("expected", "upperbound", "score", "pvalue")}
    alarm = np.zeros(shape, dtype=np.bool_)
    cfg = _Config(
        b, reweight, float(weights_threshold), bool(trend), float(p_threshold_trend), no_periods
    )
    z = stats.norm.ppf(1 - alpha)
    for i, t in enumerate(days):
        levels = _blocks(n_time, int(t), freq, b, w, no_periods)
        levels[max(0, t - pwni) : t + 1] = np.nan
        idx = np.flatnonzero(~np.isnan(levels))
        for j in range(n_series):
            pred = _predict(
                y[j],
                None if pop is None else pop[j],
                levels,
                idx,
                int(t),
                cfg,
                threshold_method != "delta",
            )
            if pred is None:
                continue
            fit, se, phi = pred
            yt = y[j, t]
            if threshold_method == "delta":
                upper, prob = _delta(fit, se, phi, yt, z, _EXPONENT[power_trans])
            else:
                upper, prob = _noufaily(fit, se, phi, yt, z, alpha, threshold_method)
            score = (yt - fit) / (upper - fit)
            window = y[j, t - lim_period + 1 : t + 1]
            enough = bool(window.sum() >= lim_cases)  # NaN: False, as R's NA
            out["score"][j, i] = score
            out["pvalue"][j, i] = prob
            if enough:
                out["upperbound"][j, i] = upper
                if not np.isnan(upper):
                    out["expected"][j, i] = fit if threshold_method == "delta" else np.exp(fit)
                alarm[j, i] = bool(score > 1 and yt != 0)
    return DetectionResult(alarm=alarm, monitor=days, **out)


@dataclass(frozen=True)
class _Config:
    b: int
    reweight: bool
    threshold: float
    trend: bool
    p_trend: float
    no_periods: int


def _blocks(n_time: int, t: int, freq: int, b: int, w: int, p: int) -> npt.NDArray[np.float64]:
    """R's ``blocks``: the seasonal level of every week (NaN: not used), 0-based ``t``."""
    levels = np.full(n_time, np.nan)
    levels[t - w : t + 1] = p
    for i in range(1, b + 1):
        ref = t - i * freq
        levels[ref - w : ref + w + 1] = p
        if p != 1:
            period = (t - (i - 1) * freq) - 2 * w - 1 - ref
            if period < p - 1:
                raise ValueError("no_periods too big for freq and w (a block would be empty)")
            lengths = np.full(p - 1, period // (p - 1))
            lengths[: period % (p - 1)] += 1
            edges = ref + w + 1 + np.concatenate([[0], np.cumsum(lengths)])
            for level in range(1, p):
                levels[edges[level - 1] : edges[level]] = level
    return levels


def _design(
    time: npt.NDArray[np.float64], levels: npt.NDArray[np.float64], trend: bool, factors: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Model matrix of the reference weeks, and the level values of its factor columns."""
    cols = [np.ones_like(time)]
    if trend:
        cols.append(time)
    dummy_levels = np.empty(0)
    if factors:
        dummy_levels = np.unique(levels)[1:]  # treatment contrasts: the lowest level is 0
        cols += [(levels == lv).astype(float) for lv in dummy_levels]
    return np.column_stack(cols), dummy_levels


def _deviance(yv, mu, prior):
    """Quasi-Poisson deviance, as R's ``dev.resids`` summed."""
    d = mu.copy()
    pos = yv > 0
    d[pos] = yv[pos] * np.log(yv[pos] / mu[pos]) - (yv[pos] - mu[pos])
    return float(2 * np.sum(prior * d))


class _Fit:
    """R's ``glm.fit`` for ``quasipoisson(link = "log")`` (its start, IRLS steps, deviance
    test with ``epsilon = 1e-8``, ``maxit = 25``), with what ``summary.glm``, ``hatvalues``
    and ``predict.glm`` take from it: the last step's QR and working weights."""

    def __init__(self, yv, x, prior, offset):
        mu = yv + 0.1  # mustart
        eta = np.log(mu)
        mu = np.maximum(np.exp(eta), _EPS)
        dev_old = _deviance(yv, mu, prior)
        self.converged = False
        for _ in range(25):
            mu_eta = np.maximum(np.exp(eta), _EPS)
            z = eta - offset + (yv - mu) / mu_eta
            ww = np.sqrt(prior * mu_eta**2 / mu)
            q, r = np.linalg.qr(x * ww[:, np.newaxis])
            beta = np.linalg.solve(r, q.T @ (z * ww))
            eta = x @ beta + offset
            mu = np.maximum(np.exp(eta), _EPS)
            dev = _deviance(yv, mu, prior)
            if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
                self.converged = True
                break
            dev_old = dev
        self.beta, self.mu, self.y = beta, mu, yv
        self.hat = (q**2).sum(axis=1)
        r_inv = np.linalg.inv(r)
        self.cov_unscaled = r_inv @ r_inv.T
        self.df = yv.size - x.shape[1]
        self.resid = resid = (yv - mu) / np.maximum(np.exp(eta), _EPS)  # working residuals
        self.dispersion = float(np.sum(ww**2 * resid**2) / self.df) if self.df > 0 else np.nan
        self.phi = max(self.dispersion, 1.0) if self.df > 0 else np.nan

    def se_link(self, x0):
        return float(np.sqrt(x0 @ self.cov_unscaled @ x0 * self.dispersion))


def _fit_fun(yv, time, levels, offset, trend, cfg):
    """R's ``algo.farrington.fitGLM.flexible``: fit, refit without trend if needed, reweight.

    Returns ``(fit, x_columns_of_prediction_row_builder)`` or None (no convergence)."""
    factors = cfg.no_periods != 1
    x, dummies = _design(time, levels, trend, factors)
    keep = x.any(axis=0)  # a level whose weeks are all missing: R's NA coefficient
    x = x[:, keep]
    if yv.size <= x.shape[1]:  # no residual degrees of freedom (R: NaN or an error)
        raise np.linalg.LinAlgError("too few reference counts")
    fit = _Fit(yv, x, np.ones_like(yv), offset)
    if not fit.converged:
        if not trend:
            return None
        trend = False
        x, dummies = _design(time, levels, trend, factors)
        keep = x.any(axis=0)
        x = x[:, keep]
        fit = _Fit(yv, x, np.ones_like(yv), offset)
        if not fit.converged:
            return None
    if cfg.reweight:
        mu = fit.mu
        s = 1.5 * (yv ** (2 / 3) * mu ** (-1 / 6) - mu**0.5) / np.sqrt(fit.phi * (1 - fit.hat))
        big = s > cfg.threshold
        omega = np.where(big, s**-2.0, 1.0)
        gamma = s.size / omega.sum()
        omega = gamma * omega
        fit = _Fit(yv, x, omega, offset)  # R does not check this fit's convergence
        # R then overwrites the model's working weights with omega, so the dispersion that
        # summary.glm (trend test) and predict.glm (se) see is sum(omega resid^2) / df.
        if fit.df > 0:
            fit.dispersion = float(np.sum(omega * fit.resid**2) / fit.df)
    fit.trend = trend
    fit.keep = keep
    fit.dummies = dummies
    return fit


def _row(fit, t, offset_now, no_periods):
    """The design row of the prediction at 0-based ``t`` (R's ``wtime = k``, level ``p``)."""
    cols = [1.0]
    if fit.trend:
        cols.append(t + 1.0)
    cols += [float(lv == no_periods) for lv in fit.dummies]
    x0 = np.asarray(cols)[fit.keep]
    return x0, float(x0 @ fit.beta + offset_now)


def _predict(yrow, poprow, levels, idx, t, cfg, link):
    """R's ``algo.farrington.glm``: ``(prediction, its standard error, phi)`` at ``t`` on
    the response (``link=False``) or link scale, or None when no model converges."""
    yv = yrow[idx]
    ok = ~np.isnan(yv)
    yv = yv[ok]
    time = idx[ok] + 1.0
    lv = levels[idx][ok]
    if poprow is None:
        offset, offset_now = np.zeros_like(yv), 0.0
    else:
        offset, offset_now = np.log(poprow[idx][ok]), float(np.log(poprow[t]))
    try:
        return _predict_fit(yv, time, lv, offset, offset_now, t, cfg, link)
    except np.linalg.LinAlgError:  # a singular IRLS step: no result, as a fit that diverges
        return None


def _predict_fit(yv, time, lv, offset, offset_now, t, cfg, link):
    fit = _fit_fun(yv, time, lv, offset, cfg.trend, cfg)
    if fit is None:
        return None
    if fit.trend:
        x0, eta0 = _row(fit, t, offset_now, cfg.no_periods)
        i_time = 1
        est = fit.beta[i_time]
        se_b = np.sqrt(fit.dispersion * fit.cov_unscaled[i_time, i_time])
        p_trend = 2 * stats.t.sf(abs(est / se_b), fit.df)
        no_extrapolation = max(np.exp(eta0), _EPS) <= yv.max()
        if not (cfg.b >= 3 and p_trend < cfg.p_trend and no_extrapolation):
            fit = _fit_fun(yv, time, lv, offset, False, cfg)
            if fit is None:
                return None
    x0, eta0 = _row(fit, t, offset_now, cfg.no_periods)
    se = fit.se_link(x0)
    if link:
        return eta0, se, fit.phi
    mu0 = max(np.exp(eta0), _EPS)
    return mu0, se * mu0, fit.phi


def _delta(mu0, se, phi, yt, z, e):
    """R's ``algo.farrington.threshold.farrington``: ``(upper, prob)``."""
    tau = phi + se**2 / mu0
    if e == 2 / 3:
        sd = np.sqrt(4 / 9 * mu0 ** (1 / 3) * tau)
    elif e == 1 / 2:
        sd = np.sqrt(tau / 4)
    else:
        sd = np.sqrt(mu0 * tau)
    upper = (mu0**e + z * sd) ** (1 / e)
    prob = stats.norm.sf(yt**e, loc=mu0**e, scale=sd)
    return float(upper), float(prob)


def _noufaily(eta0, se, phi, yt, z, alpha, method):
    """R's ``algo.farrington.threshold.noufaily``: ``(upper, prob)``."""
    m = np.exp(eta0) if method == "nbPlugin" else np.exp(eta0 + z * se)
    if np.isinf(m):
        return np.nan, np.nan
    if phi > 1:
        size, prob_nb = m / (phi - 1), 1 / phi
        upper = float(stats.nbinom.ppf(1 - alpha, size, prob_nb))
        prob = float(stats.nbinom.sf(yt - 1, size, prob_nb))
    else:
        upper = float(stats.poisson.ppf(1 - alpha, m))
        prob = float(stats.poisson.sf(yt - 1, m))
    return upper, prob
