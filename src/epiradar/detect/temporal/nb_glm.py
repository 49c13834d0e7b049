"""A negative binomial log-linear GLM with a day-of-week factor and seasonal harmonics,
refitted prospectively on a trailing baseline, vectorised over series.

Lawless JF (1987). Negative binomial and mixed Poisson regression. Canadian Journal of
Statistics 15(3):209-225.
Hilbe JM (2011). Negative Binomial Regression, 2nd ed. Cambridge University Press (ch. 8).
Venables WN, Ripley BD (2002). Modern Applied Statistics with S, 4th ed. Springer
(section 7.4, ``MASS::glm.nb``).
Farrington CP, Andrews NJ, Beale AD, Catchpole MA (1996). A statistical algorithm for the
early detection of outbreaks of infectious disease. JRSS A 159(3):547-563.
Noufaily A, Enki DG, Farrington P, Garthwaite P, Andrews N, Charlett A (2013). An improved
algorithm for outbreak detection in multiple surveillance systems. Stat Med 32(7):1206-1222.

Model. For a fit whose window is the time indices ``W`` (0-based ``t``), the counts are
negative binomial with mean ``mu_t`` and variance ``mu_t + mu_t^2 / theta`` and

    log mu_t = b0 + b1 t / period                                    (trend=True)
             + sum_{s=1..harmonics} (c_s cos(2 pi s t / period) + d_s sin(2 pi s t / period))
             + g_{t mod freq}                       (freq > 1; g_0 = 0, treatment contrasts)

i.e. in R ``glm.nb(y ~ tt + cos1 + sin1 + ... + factor(t %% freq))`` with ``tt = t / period``:
daily data use ``freq=7`` (a day-of-week factor, level 0 being time index 0's weekday) and
``period=365.25``; weekly data ``freq=None`` and ``period=52.18``.

Fit. ``beta`` and ``theta`` are the joint maximum likelihood estimates (Lawless 1987; Hilbe
2011, ch. 8), the fixed point that ``MASS::glm.nb`` finds by alternating IRLS for ``beta``
given ``theta`` with ``theta.ml`` (Newton-Raphson with the expected information) given the
means. Here, as ``glm.nb``, a cold fit starts from a Poisson IRLS fit (``mustart = y + 0.1``)
and ``theta.ml``'s moment start ``sum w / sum w (y / mu - 1)^2``; then Newton-Raphson steps for
``beta`` (IRLS with the observed-information weights ``mu (1 + y / theta) / (1 + mu /
theta)^2``, which converge quadratically where IRLS's expected-information ones converge
linearly; the same root) and ``theta.ml`` Newton steps on the score ``sum w (digamma(theta +
y) - digamma(theta) + log theta + 1 - log(theta + mu) - (y + theta) / (mu + theta))`` are
interleaved (the ``theta`` steps taken in ``log theta``, at most a factor ``e^2`` each, once a
``beta`` step moves the linear predictor by less than 1e-3) until both the linear predictor and
``log theta`` move by less than 1e-9.
``glm.nb``'s default control stops at a looser 1e-8 on the deviance (its means then differ
from the optimum by about 1e-8 relative); the golden fixtures use ``glm.control(epsilon =
1e-12)`` and agree to about 1e-10. ``theta`` is kept in ``[1e-6, THETA_MAX = 1e6]``: counts
with no overdispersion drive the ML ``theta`` to infinity (``glm.nb`` warns "iteration limit
reached"), here it stops at ``1e6``, a Poisson fit in effect. Missing (NaN) counts are dropped
from the window (R's ``na.omit``). A fit needs ``2 p`` non-missing counts (``p`` the number of
coefficients); with fewer the monitored days it serves are NaN (``alarm`` False). A window
with fewer positive counts than coefficients (a rare syndrome in a sub-district), a fit that
does not converge (singular design, 100 steps) or one predicting more than ten times the
window's largest count plus one is replaced by the intercept-only model: the window mean, with
Poisson dispersion. A level of the day-of-week factor never above 0 (a
clinic closed on Sundays) drives its coefficient to minus infinity, as in R; the fit still
converges (the step test weighs a change in ``eta`` by ``min(1, mu)``) and that day's mean is
about 0. A window whose counts are all 0 gives the mean 0 (``theta`` NaN): ``upperbound`` 0, a
positive count alarms with p-value 0.

Reweighting (``reweight=True``, Farrington et al. 1996): after the first fit, the
Anscombe residuals ``r = 3/2 (y^(2/3) mu^(-1/6) - mu^(1/2)) / sqrt((1 + mu / theta) (1 - h))``
(``h``: the hat values of the final IRLS step; Farrington's quasi-Poisson ``phi`` is replaced by
the negative binomial variance factor ``1 + mu / theta``) give the weights ``gamma r^-2`` where
``r > weights_threshold`` (default 2.58, as Noufaily et al. 2013), else ``gamma``, ``gamma``
making them sum to the number of counts; ``beta`` and ``theta`` are refitted by weighted
maximum likelihood (R: ``glm.nb(..., weights = w)``). Past outbreaks in the baseline thus
weigh little in the fit.

Prospective schedule. Monitored day ``t`` is judged by a model fitted on
``t_a - guard - baseline .. t_a - guard - 1`` (``baseline=None``: every day from 0), ``t_a``
being the refit day serving ``t``: the first monitored day is a refit day, and so is every
monitored day at least ``refit_every`` days after the previous refit day; the days in between
use that refit's coefficients (the model is extrapolated up to ``refit_every - 1`` days, so
the effective guard band is ``guard .. guard + refit_every - 1`` days). ``refit_every=1``
refits at every monitored day; the default 7 refits weekly, 7x fewer fits for the same
predictions at the refit days. A series' successive fits start from its previous fit (from
scratch again if that start fails), so a refit takes a few steps: about 0.1 ms of CPU per fit
for a 364-day window and 10 coefficients, i.e. about 20 CPU-seconds for 2,000 daily series x
365 monitored days with weekly refits and reweighting (two fits per refit). The fits run in
numba, in parallel over series (numba's thread count).

Outputs, column ``k`` being time index ``monitor[k]``:

- ``expected``: ``mu_t``, the fitted model's mean at ``t`` (a plug-in prediction: the
  uncertainty of ``beta`` is not added, as Noufaily et al.'s ``nbPlugin``).
- ``upperbound``: the ``1 - alpha`` quantile of NB(``mu_t``, ``theta``) (scipy's ``nbinom``,
  R's ``qnbinom(1 - alpha, size = theta, mu = mu)``).
- ``pvalue``: ``P(Y >= y_t)`` under NB(``mu_t``, ``theta``) (for a non-integer count,
  ``P(Y >= ceil(y_t))``).
- ``alarm``: ``y_t > upperbound`` (equivalently, up to rounding, ``pvalue <= alpha``).
- ``score``: the Pearson standardised excess ``(y_t - mu_t) / sqrt(mu_t + mu_t^2 / theta)``
  (not Farrington's ``(y - mu) / (U - mu)``, which changes sign when ``U < mu``, as it does
  for small means).
"""

from __future__ import annotations

import math
import warnings

import numba
import numpy as np
import numpy.typing as npt
from scipy import stats

from epiradar.detect.temporal.result import DetectionResult, monitor_days, series_matrix

THETA_MAX = 1e6
THETA_MIN = 1e-6
_TOL = 1e-9
_MAXIT = 100
_TABLE_MAX = 2000  # counts up to this use the digamma recurrence table


def nb_glm(
    counts: npt.ArrayLike,
    *,
    baseline: int | None = 364,
    guard: int = 7,
    freq: int | None = 7,
    period: float = 365.25,
    harmonics: int = 1,
    trend: bool = True,
    alpha: float = 0.01,
    reweight: bool = True,
    weights_threshold: float = 2.58,
    refit_every: int = 7,
    monitor: npt.ArrayLike | None = None,
) -> DetectionResult:
    """Judge every row of ``counts[n_series, n_time]`` against a negative binomial GLM.

    See the module docstring for the model. ``baseline``: days in each fit's window (``None``:
    every earlier day); ``guard``: days left out between the window and the refit day;
    ``freq``: the length of the within-week cycle (7: a day-of-week factor; ``None`` or 1:
    none, for weekly data); ``period`` and ``harmonics``: the seasonal harmonics (0: none);
    ``trend``: a linear trend; ``alpha``: the one-sided level of ``upperbound``;
    ``reweight``/``weights_threshold``: Farrington-style down-weighting of past outbreaks;
    ``refit_every``: days between refits. ``monitor`` holds 0-based time indices (default:
    every index from ``guard + baseline``, or from ``guard + 2 p`` with ``baseline=None``).
    A 1-D ``counts`` is one series.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must lie in (0, 1)")
    y, mu, theta, days = fit_predict(
        counts,
        baseline=baseline,
        guard=guard,
        freq=freq,
        period=period,
        harmonics=harmonics,
        trend=trend,
        reweight=reweight,
        weights_threshold=weights_threshold,
        refit_every=refit_every,
        monitor=monitor,
    )
    return _judge(y[:, days], mu, theta, float(alpha), days)


def fit_predict(
    counts: npt.ArrayLike,
    *,
    baseline: int | None = 364,
    guard: int = 7,
    freq: int | None = 7,
    period: float = 365.25,
    harmonics: int = 1,
    trend: bool = True,
    reweight: bool = True,
    weights_threshold: float = 2.58,
    refit_every: int = 7,
    monitor: npt.ArrayLike | None = None,
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.intp]
]:
    """The model behind :func:`nb_glm`: ``(counts, mu, theta, monitor)``, ``mu`` and
    ``theta`` being ``[n_series, n_monitor]`` (NaN where no fit; ``mu = 0`` and ``theta`` NaN
    for an all-zero window), ``counts`` the input as a float ``[n_series, n_time]`` array."""
    if baseline is not None and (int(baseline) != baseline or baseline < 1):
        raise ValueError("baseline must be a positive number of days or None")
    if int(guard) != guard or guard < 0:
        raise ValueError("guard must be a non-negative number of days")
    if freq is not None and (int(freq) != freq or freq < 1):
        raise ValueError("freq must be a positive integer (7: day of week) or None")
    if not (np.isfinite(period) and period > 0):
        raise ValueError("period must be positive")
    if int(harmonics) != harmonics or harmonics < 0:
        raise ValueError("harmonics must be a non-negative integer")
    if not weights_threshold > 0:
        raise ValueError("weights_threshold must be positive")
    if int(refit_every) != refit_every or refit_every < 1:
        raise ValueError("refit_every must be a positive number of days")
    y = series_matrix(counts)
    if (y[~np.isnan(y)] < 0).any() or np.isinf(y).any():
        raise ValueError("counts must be non-negative and finite (NaN = missing)")
    n_series, n_time = y.shape
    x = design(np.arange(n_time), freq=freq, period=period, harmonics=harmonics, trend=trend)
    n_par = x.shape[1]
    window = int(baseline) if baseline is not None else 2 * n_par
    days = monitor_days(
        monitor,
        n_time,
        int(guard) + window,
        "each monitored day needs guard + baseline days before it",
    )
    if days.size == 0:
        empty = np.empty((n_series, 0))
        return y, empty, empty.copy(), days
    anchors, serve = _schedule(days, int(refit_every))
    hi = anchors - int(guard)
    lo = np.maximum(0, hi - int(baseline)) if baseline is not None else np.zeros_like(hi)
    mu, theta = _fit_predict(
        np.ascontiguousarray(y),
        np.ascontiguousarray(x),
        lo,
        hi,
        serve,
        days,
        bool(reweight),
        float(weights_threshold),
        2 * n_par,
    )
    _intercept_only_where_unfit(y, mu, theta, lo, hi, serve, n_par)
    return y, mu, theta, days


def _intercept_only_where_unfit(y, mu, theta, lo, hi, serve, n_par) -> None:
    """Sparse windows get the intercept-only model (in place).

    A window with fewer positive counts than the model has coefficients (a syndrome seen a
    few times a year in a sub-district) separates: coefficients run off to infinity and the
    predictions with them (1e308 was seen). Such fits, and any fit predicting more than ten
    times the window's largest count plus one, are replaced by the window mean with the
    Poisson dispersion (``theta`` at its cap), the maximum likelihood fit of a constant mean;
    so are fits that did not converge on a window with enough counts. Windows with fewer than
    ``2 p`` counts stay without a result.
    """
    first = int(lo.min()) if lo.size else 0
    y = y[:, first : int(hi.max()) if hi.size else first]  # only the windows' days
    lo, hi = lo - first, hi - first
    known = ~np.isnan(y)
    zeros = np.zeros((y.shape[0], 1))
    c_pos = np.concatenate([zeros, np.cumsum(known & (y > 0), axis=1)], axis=1)
    c_sum = np.concatenate([zeros, np.cumsum(np.where(known, y, 0.0), axis=1)], axis=1)
    c_n = np.concatenate([zeros, np.cumsum(known, axis=1)], axis=1)
    lo_s, hi_s = lo[serve], hi[serve]  # per monitored day
    positives = c_pos[:, hi_s] - c_pos[:, lo_s]
    n = c_n[:, hi_s] - c_n[:, lo_s]
    mean = np.divide(c_sum[:, hi_s] - c_sum[:, lo_s], n, out=np.full(n.shape, np.nan), where=n > 0)
    peak = np.empty(mu.shape)
    for k in np.unique(serve):
        cols = serve == k
        window = y[:, lo[k] : hi[k]]
        top = np.nanmax(window, axis=1, initial=0.0) if window.size else np.zeros(y.shape[0])
        peak[:, cols] = top[:, np.newaxis]
    with np.errstate(invalid="ignore"):
        unfit = (positives < n_par) | (mu > 10.0 * (peak + 1.0)) | np.isnan(mu)
    unfit &= n >= 2 * n_par  # a window with too few counts for any fit stays without one
    mu[unfit] = mean[unfit]
    theta[unfit] = np.where(mean[unfit] > 0, THETA_MAX, np.nan)


def design(
    t: npt.ArrayLike,
    *,
    freq: int | None = 7,
    period: float = 365.25,
    harmonics: int = 1,
    trend: bool = True,
) -> npt.NDArray[np.float64]:
    """The model matrix at 0-based time indices ``t``: intercept, trend ``t / period``,
    ``cos``/``sin`` pairs, then the ``freq - 1`` indicator columns of ``t mod freq`` = 1, 2, ...
    """
    t = np.asarray(t, dtype=float)
    cols = [np.ones_like(t)]
    if trend:
        cols.append(t / period)
    for s in range(1, int(harmonics) + 1):
        cols += [np.cos(2 * np.pi * s * t / period), np.sin(2 * np.pi * s * t / period)]
    if freq is not None and freq > 1:
        level = np.mod(t, freq).astype(int)
        cols += [(level == d).astype(float) for d in range(1, int(freq))]
    return np.column_stack(cols)


def _schedule(
    days: npt.NDArray[np.intp], refit_every: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Refit days and, per monitored day, the index of the refit day serving it."""
    anchors = []
    serve = np.empty(days.size, dtype=np.intp)
    for k, d in enumerate(days):
        if not anchors or d >= anchors[-1] + refit_every:
            anchors.append(d)
        serve[k] = len(anchors) - 1
    return np.asarray(anchors, dtype=np.intp), serve


def _judge(
    obs: npt.NDArray[np.float64],
    mu: npt.NDArray[np.float64],
    theta: npt.NDArray[np.float64],
    alpha: float,
    days: npt.NDArray[np.intp],
) -> DetectionResult:
    """Quantile, p-value, score and alarm from the predicted means and dispersions."""
    zero = mu == 0  # an all-zero window: a point mass at 0
    fitted = np.isfinite(mu) & ~zero
    th = np.where(fitted, theta, 1.0)
    m = np.where(fitted, mu, 1.0)
    p = th / (th + m)
    with warnings.catch_warnings():  # boost cannot bracket the quantile for a huge theta
        warnings.simplefilter("ignore", RuntimeWarning)
        upper = stats.nbinom.ppf(1 - alpha, th, p)
    failed = ~np.isfinite(upper) & fitted
    if failed.any():  # theta near its 1e6 cap: a Poisson in effect
        upper[failed] = stats.poisson.ppf(1 - alpha, m[failed])
    with np.errstate(invalid="ignore"):
        k = np.ceil(obs) - 1
        pvalue = np.where(k < 0, 1.0, stats.nbinom.sf(k, th, p))
        score = (obs - m) / np.sqrt(m + m * m / th)
    upper = np.where(fitted, upper, np.where(zero, 0.0, np.nan))
    pvalue = np.where(fitted, pvalue, np.where(zero, np.where(obs > 0, 0.0, 1.0), np.nan))
    score = np.where(fitted, score, np.where(zero, np.where(obs > 0, np.inf, 0.0), np.nan))
    undefined = np.isnan(obs) | ~(fitted | zero)
    nan = np.nan
    return DetectionResult(
        expected=np.where(np.isfinite(mu), mu, nan),
        upperbound=np.where(undefined, nan, upper),
        pvalue=np.where(undefined, nan, pvalue),
        score=np.where(undefined, nan, score),
        alarm=np.asarray((obs > upper) & ~undefined, dtype=bool),
        monitor=days,
    )


# --- numba kernels ------------------------------------------------------------------------


@numba.njit(cache=True, error_model="numpy")
def _mean(eta):
    """``exp(eta)``, floored at ``exp(-30)``: a mean that a level never above 0 drives to 0
    stays positive in the IRLS weights and working responses."""
    return math.exp(max(eta, -30.0))


@numba.njit(cache=True, error_model="numpy")
def _digamma(x):
    r = 0.0
    while x < 10.0:
        r -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    return (
        r
        + math.log(x)
        - 0.5 / x
        - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))))
    )


@numba.njit(cache=True, error_model="numpy")
def _trigamma(x):
    r = 0.0
    while x < 10.0:
        r += 1.0 / (x * x)
        x += 1.0
    f = 1.0 / (x * x)
    return r + 1.0 / x + f / 2 + f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f / 30)))


@numba.njit(cache=True, error_model="numpy")
def _cholesky_solve(a, b, chol, out):
    """Solve ``a out = b`` for a symmetric positive definite ``a``; False if it is not."""
    p = a.shape[0]
    for j in range(p):
        s = a[j, j]
        for k in range(j):
            s -= chol[j, k] * chol[j, k]
        if not (s > 1e-12 * a[j, j]) or not (a[j, j] > 0):
            return False
        chol[j, j] = math.sqrt(s)
        for i in range(j + 1, p):
            s = a[i, j]
            for k in range(j):
                s -= chol[i, k] * chol[j, k]
            chol[i, j] = s / chol[j, j]
    for i in range(p):  # forward: chol z = b
        s = b[i]
        for k in range(i):
            s -= chol[i, k] * out[k]
        out[i] = s / chol[i, i]
    for i in range(p - 1, -1, -1):  # back: chol' out = z
        s = out[i]
        for k in range(i + 1, p):
            s -= chol[k, i] * out[k]
        out[i] = s / chol[i, i]
    return True


@numba.njit(cache=True, error_model="numpy")
def _irls_step(yv, xw, nz, nnz, pw, eta, mus, inv_theta, beta, a, b, chol):
    """One Newton-Raphson step (IRLS with observed-information weights) for ``beta`` given
    ``theta`` (``inv_theta = 0``: Poisson, where it is Fisher scoring).

    Updates ``beta`` and ``eta`` in place; returns the largest change in ``eta`` (scaled by
    ``min(1, mu)``, so that a mean drifting to 0, as for a level never observed above 0, does
    not block convergence), or -1 when the step fails (singular design, overflow). Row ``i``
    of the design has its non-zero columns in ``nz[i, :nnz[i]]`` (ascending): the day-of-week
    indicators are one-hot, so the cross products skip the zeros. ``mus`` holds
    ``_mean(eta)`` on entry and is updated with ``eta``.
    """
    n, p = xw.shape
    a[:, :] = 0.0
    b[:] = 0.0
    for i in range(n):
        mu = mus[i]
        # Newton with the observed information mu (1 + y / theta) / (1 + mu / theta)^2 (the
        # expected one, IRLS's, drops y / theta): quadratic convergence; Poisson: the same
        obs = 1.0 + yv[i] * inv_theta
        w = pw[i] * mu * obs / (1.0 + mu * inv_theta) ** 2
        z = eta[i] + (yv[i] - mu) * (1.0 + mu * inv_theta) / (mu * obs)
        for jj in range(nnz[i]):
            j = nz[i, jj]
            xj = xw[i, j] * w
            b[j] += xj * z
            for kk in range(jj + 1):
                k = nz[i, kk]
                a[j, k] += xj * xw[i, k]
    for j in range(p):
        for k in range(j):
            a[k, j] = a[j, k]
    if not _cholesky_solve(a, b, chol, beta):
        return -1.0
    change = 0.0
    for i in range(n):
        e = 0.0
        for jj in range(nnz[i]):
            e += xw[i, nz[i, jj]] * beta[nz[i, jj]]
        if not (e < 700.0):  # an overflowing or NaN linear predictor
            return -1.0
        mu = _mean(e)
        d = abs(e - eta[i]) * min(1.0, mu, mus[i])
        if d > change:
            change = d
        eta[i] = e
        mus[i] = mu
    return change


@numba.njit(cache=True, error_model="numpy")
def _theta_step(yv, pw, mus, theta, table, dg, tg):
    """One Newton-Raphson step of R's ``theta.ml`` (expected information) from ``theta``,
    taken in ``log theta`` and limited to a factor ``e^2`` (robust far from the root; the same
    root, and quadratic convergence near it).

    ``table``: the counts are integers up to ``dg.size - 1``, and ``digamma``/``trigamma`` of
    ``theta + y`` come from the recurrences ``psi(x + 1) = psi(x) + 1 / x``,
    ``psi'(x + 1) = psi'(x) - 1 / x^2`` over ``y = 0, 1, ...`` instead of one series each.
    """
    n = yv.size
    dg0 = _digamma(theta)
    tg0 = _trigamma(theta)
    if table:
        dg[0] = dg0
        tg[0] = tg0
        for k in range(1, dg.size):
            dg[k] = dg[k - 1] + 1.0 / (theta + k - 1)
            tg[k] = tg[k - 1] - 1.0 / (theta + k - 1) ** 2
    log_theta = math.log(theta)
    score = 0.0
    info = 0.0
    for i in range(n):
        mu = mus[i]
        yi = yv[i]
        if table:
            d1 = dg[int(yi)]
            t1 = tg[int(yi)]
        else:
            d1 = _digamma(theta + yi)
            t1 = _trigamma(theta + yi)
        score += pw[i] * (
            d1 - dg0 + log_theta + 1.0 - math.log(theta + mu) - (yi + theta) / (mu + theta)
        )
        info += pw[i] * (
            -t1 + tg0 - 1.0 / theta + 2.0 / (mu + theta) - (yi + theta) / (mu + theta) ** 2
        )
    # Newton-Raphson in log(theta) (the same root), each step at most a factor e^2
    step = score / (theta * info) if info > 0 else (2.0 if score > 0 else -2.0)
    step = min(max(step, -2.0), 2.0)
    return min(max(theta * math.exp(step), THETA_MIN), THETA_MAX)


@numba.njit(cache=True, error_model="numpy")
def _fit(yv, xw, nz, nnz, pw, eta, mus, beta, theta, warm, a, b, chol, table, dg, tg):
    """Joint ML of ``beta`` and ``theta``: IRLS and ``theta.ml`` Newton steps interleaved
    until both the linear predictor and ``log theta`` change by less than 1e-9 (the same
    fixed point as ``glm.nb``'s alternation). Starts from ``eta``/``theta`` when ``warm``, else
    as ``glm.nb``: a Poisson fit from ``mustart = y + 0.1`` and the moment ``theta``.
    Returns ``theta``, or -1 when the fit fails.
    """
    n = yv.size
    if not warm:
        for i in range(n):
            eta[i] = math.log(yv[i] + 0.1)
    for i in range(n):
        mus[i] = _mean(eta[i])
    if not warm:
        for _ in range(_MAXIT):
            change = _irls_step(yv, xw, nz, nnz, pw, eta, mus, 0.0, beta, a, b, chol)
            if change < 0:
                return -1.0
            if change < 1e-6:
                break
        sw = 0.0
        ss = 0.0
        for i in range(n):
            mu = mus[i]
            sw += pw[i]
            ss += pw[i] * (yv[i] / mu - 1.0) ** 2
        theta = sw / ss if ss > 0 else THETA_MAX
        theta = min(max(theta, THETA_MIN), THETA_MAX)
    for _ in range(_MAXIT):
        change = _irls_step(yv, xw, nz, nnz, pw, eta, mus, 1.0 / theta, beta, a, b, chol)
        if change < 0:
            return -1.0
        if change > 1e-3:  # the means first, then theta with them
            continue
        new = _theta_step(yv, pw, mus, theta, table, dg, tg)
        done = change < _TOL and abs(math.log(new / theta)) < _TOL
        theta = new
        if done:
            return theta
    return -1.0


@numba.njit(cache=True, error_model="numpy")
def _reweights(yv, xw, eta, theta, threshold, pw, a, chol, v):
    """Farrington's weights from the Anscombe residuals of the fit (``pw`` overwritten)."""
    n, p = xw.shape
    inv_theta = 1.0 / theta
    a[:, :] = 0.0
    for i in range(n):
        mu = _mean(eta[i])
        w = mu / (1.0 + mu * inv_theta)
        for j in range(p):
            for k in range(j + 1):
                a[j, k] += xw[i, j] * w * xw[i, k]
    for j in range(p):
        for k in range(j):
            a[k, j] = a[j, k]
    dummy = np.zeros(p)
    if not _cholesky_solve(a, dummy, chol, v):
        return False
    total = 0.0
    for i in range(n):
        mu = _mean(eta[i])
        w = mu / (1.0 + mu * inv_theta)
        sw = math.sqrt(w)
        for j in range(p):  # chol v = sqrt(w) x_i, h = |v|^2
            s = sw * xw[i, j]
            for k in range(j):
                s -= chol[j, k] * v[k]
            v[j] = s / chol[j, j]
        h = 0.0
        for j in range(p):
            h += v[j] * v[j]
        r = (
            1.5
            * (yv[i] ** (2.0 / 3.0) * mu ** (-1.0 / 6.0) - math.sqrt(mu))
            / math.sqrt((1.0 + mu * inv_theta) * max(1.0 - h, 1e-12))
        )
        pw[i] = 1.0 / (r * r) if r > threshold else 1.0
        total += pw[i]
    for i in range(n):
        pw[i] *= n / total
    return True


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _fit_predict(y, x, lo, hi, serve, days, reweight, threshold, min_obs):
    """Per series and refit day: fit on ``lo..hi-1`` and predict the days it serves."""
    n_series = y.shape[0]
    p = x.shape[1]
    n_anchor = lo.size
    mu_out = np.full((n_series, days.size), np.nan)
    theta_out = np.full((n_series, days.size), np.nan)
    width = 0
    for j in range(n_anchor):
        width = max(width, hi[j] - lo[j])
    for s in numba.prange(n_series):
        yv = np.empty(width)
        xw = np.empty((width, p))
        nz = np.empty((width, p), dtype=np.int64)
        nnz = np.empty(width, dtype=np.int64)
        pw = np.empty(width)
        eta = np.empty(width)
        mus = np.empty(width)
        beta = np.zeros(p)
        beta_w = np.zeros(p)
        a = np.empty((p, p))
        b = np.empty(p)
        chol = np.zeros((p, p))
        v = np.empty(p)
        dg = np.empty(_TABLE_MAX + 1)
        tg = np.empty(_TABLE_MAX + 1)
        warm = False
        theta = 1.0
        k = 0
        for j in range(n_anchor):
            n = 0
            total = 0.0
            table = True
            ymax = 0.0
            for t in range(lo[j], hi[j]):
                yt = y[s, t]
                if not np.isnan(yt):
                    yv[n] = yt
                    xw[n, :] = x[t, :]
                    c = 0
                    for col in range(p):
                        if x[t, col] != 0.0:
                            nz[n, c] = col
                            c += 1
                    nnz[n] = c
                    pw[n] = 1.0
                    total += yt
                    ymax = max(ymax, yt)
                    n += 1
                    if yt != math.floor(yt) or yt > _TABLE_MAX:
                        table = False
            size = int(ymax) + 1 if table else 1
            th = -1.0
            zero = False
            if n >= min_obs and total == 0.0:
                zero = True
            elif n >= min_obs:
                if warm:
                    for i in range(n):
                        e = 0.0
                        for c in range(p):
                            e += xw[i, c] * beta[c]
                        eta[i] = e
                th = _fit(
                    yv[:n],
                    xw[:n],
                    nz[:n],
                    nnz[:n],
                    pw[:n],
                    eta[:n],
                    mus[:n],
                    beta,
                    theta,
                    warm,
                    a,
                    b,
                    chol,
                    table,
                    dg[:size],
                    tg[:size],
                )
                if th < 0 and warm:  # the previous fit is a bad start here: start afresh
                    th = _fit(
                        yv[:n],
                        xw[:n],
                        nz[:n],
                        nnz[:n],
                        pw[:n],
                        eta[:n],
                        mus[:n],
                        beta,
                        theta,
                        False,
                        a,
                        b,
                        chol,
                        table,
                        dg[:size],
                        tg[:size],
                    )
                warm = th > 0
                if warm:
                    theta = th
                    beta_w[:] = beta
                    if reweight:
                        if _reweights(yv[:n], xw[:n], eta[:n], th, threshold, pw[:n], a, chol, v):
                            th = _fit(
                                yv[:n],
                                xw[:n],
                                nz[:n],
                                nnz[:n],
                                pw[:n],
                                eta[:n],
                                mus[:n],
                                beta_w,
                                th,
                                True,
                                a,
                                b,
                                chol,
                                table,
                                dg[:size],
                                tg[:size],
                            )
                        else:
                            th = -1.0
            while k < days.size and serve[k] == j:
                if zero:
                    mu_out[s, k] = 0.0
                elif th > 0:
                    e = 0.0
                    coef = beta_w if reweight else beta
                    for c in range(p):
                        e += x[days[k], c] * coef[c]
                    mu_out[s, k] = math.exp(e)
                    theta_out[s, k] = th
                k += 1
    return mu_out, theta_out
