"""Poisson and negative binomial GLR/LR charts, as R ``surveillance::algo.glrpois`` and
``algo.glrnb`` (1.20.3) with ``change = "intercept"``, ``dir = "inc"`` and ``Mtilde = 1``.

Höhle M, Paul M (2008). Count data regression charts for the monitoring of surveillance time
series. Computational Statistics & Data Analysis 52(9):4357-4368.
Salmon M, Schumacher D, Höhle M (2016). Monitoring count time series in R: aberration
detection in public health surveillance. Journal of Statistical Software 70(10):1-35.

For the monitored points ``t_1 < t_2 < ...`` of a series with in-control means ``mu0`` the
out-of-control model multiplies the mean by ``exp(kappa)`` from an unknown change point ``k``
on. Per point ``n`` the log likelihood ratio of the segment ``k..n`` is

- Poisson: ``l_{n,k}(kappa) = kappa sum x + (1 - exp(kappa)) sum mu0``;
- negative binomial (dispersion ``alpha``, variance ``mu + alpha mu^2``):
  ``sum kappa x + (x + 1/alpha) log((1 + alpha mu0) / (1 + alpha mu0 exp(kappa)))``.

``theta=None`` gives the GLR chart: ``S_n = max_k sup_{kappa >= 0} l_{n,k}(kappa)``, the
Poisson ``kappa`` in closed form (``max(0, log(sum x / sum mu0))``), the negative binomial one
by R's Newton-Raphson iteration, reproduced step for step (start 0.5, each ``k`` starting at
the previous ``k``'s estimate, stop when a step is under 1e-6, after 1000 steps or below -18;
``exp(kappa)`` once per step and one division per term, where R's C code takes an ``exp`` per
term and two divisions, so equal to rounding). Where ``mu0`` is the same ``m`` over the whole
window, as with one ``mu0`` per series, the score and Fisher information of a segment only
need its count sum and length, so each Newton step is O(1) instead of O(segment). The
iteration is kept rather than its root ``log(X / (L m))``: R's quirk too is reproduced, that
started far from the root (a small ``mu0``, e.g. a GLM one, after a restart) a step overshoots
below -18 (or to NaN) and R then takes ``kappa = 0``, a statistic of 0 where the maximum is
positive (seen on ha.sts and measlesDE with a GLM ``mu0``, where the root gave 3.0).

``m_window`` is R's ``M``: -1 maximises over every ``k`` since the chart (re)started; a
positive ``M`` only over the last ``M`` points, and then, as in R's C code, the Poisson chart
only uses segments of at least two points (``n - M <= k <= n - 1``, so the first point after
a (re)start has statistic 0 and cannot alarm), the negative binomial one segments of one point
up (``n - M <= k <= n``). ``theta`` given gives the LR (CUSUM) chart for that ``kappa``:
``S_n = max(0, S_{n-1} + l_{n,n}(theta))``.

The chart alarms when ``S_n >= c_arl`` (GLR) or ``S_n > c_arl`` (LR; both as R's C code), and
then restarts at the next monitored point with no memory, as R does. The recursion runs over
the monitored points only, in order: a time index left out of ``monitor`` is skipped, as a gap
in R's ``range``.

Outputs, column ``i`` being time index ``monitor[i]``:

- ``score``: ``S_n``; ``alarm``: whether the chart alarms at ``n``; ``expected``: ``mu0``.
- ``upperbound``: R's ``upperbound``. With ``ret="value"`` R reports the statistic itself
  (so ``upperbound == score``, not a count); with ``ret="cases"`` the count at which the point
  alarms given the earlier counts of the run:

  - Poisson GLR: the smallest count ``x >= 0`` with ``S_n >= c_arl`` (R searches upwards from
    0; here a doubling then bisection search over the same statistic).
  - negative binomial GLR: R's brute force, count by count (the Newton-Raphson statistic
    need not be monotone in the count), quirks included. A point that does not alarm: the
    first alarming count above the observed one, up to ``xMax + 1`` (R's ``xMax = 10000``),
    else ``1e99``; ``1e99`` too when its count is 0 or above ``xMax`` (R's search does not
    start). An alarm: one more than the first count below the observed one that does not
    alarm, else 0 (R: NA, then 0). As slow as R's for large counts.
  - LR charts: R's closed forms (not rounded to a count),
    ``(c_arl - S_{n-1} + mu0 (exp(theta) - 1)) / theta`` (Poisson) and
    ``(c_arl alpha - S_{n-1} alpha - L) / (alpha (theta + L))`` with
    ``L = log((1 + alpha mu0) / (1 + alpha mu0 exp(theta)))`` (negative binomial).

  As in R a negative bound is 0.
- ``pvalue``: NaN. The statistic is a maximum over change points of a sequential run, with no
  per-day null distribution; its threshold ``c_arl`` is calibrated by run length, not level.

``mu0``: an in-control mean > 0 per point, given as a number, an ``[n_series]`` array (one
value per series) or an ``[n_series, n_monitor]`` array (R's ``control$mu0`` vector, e.g. a
seasonal model's prediction). ``None`` estimates it as R does with ``control$mu0 = list(S,
trend)``: a log-linear GLM, Poisson (``glr_pois``) or negative binomial with the given
``alpha`` (``glr_nb``), on every count before the first monitored point (R's 1-based times
``1..t_1 - 1``, missing counts dropped), with an intercept, a linear trend in ``t``
(``mu0_trend``) and ``mu0_harmonics`` pairs ``cos(2 s pi t / freq)``, ``sin(2 s pi t / freq)``;
its predictions at the monitored times are ``mu0``. The model is fitted once, as R's default
``refit = FALSE``; R's ``glm.nb`` (``alpha`` estimated too) is not offered.

Differences from R, all deliberate:

- Missing data: R refuses missing counts or means. Here a missing count or ``mu0`` makes the
  statistic NaN (and ``alarm`` False, ``upperbound`` NaN) at every point whose segments reach
  it: for ``m_window=-1`` the rest of the run (no alarm can restart it), for a window the next
  ``M`` points.
- Counts are used as given; R truncates them to integers (``as.integer``).
- ``mu0=None`` needs an explicit ``monitor`` and ``freq`` (R takes ``freq`` from the data
  object), and at least as many counts before ``monitor[0]`` as the model has parameters.
- Only ``change="intercept"``, ``dir="inc"`` and ``Mtilde=1``; ``m_window`` must be -1 or
  positive (R's Poisson chart treats every ``M <= 0`` as -1, its negative binomial chart does
  not). ``theta == 1`` is refused, as R refuses it.
"""

from __future__ import annotations

from typing import Literal

import numba
import numpy as np
import numpy.typing as npt

from epiradar.detect.temporal.result import (
    DetectionResult,
    monitor_days,
    per_series_and_day,
    series_matrix,
)

Ret = Literal["value", "cases"]
X_MAX = 10000  # R's control$xMax, the negative binomial brute-force search limit
NO_BOUND = 1e99  # R's bound when that search finds none


def glr_pois(
    counts: npt.ArrayLike,
    *,
    mu0: float | npt.ArrayLike | None,
    c_arl: float = 5.0,
    m_window: int = -1,
    theta: float | None = None,
    ret: Ret = "value",
    monitor: npt.ArrayLike | None = None,
    freq: int | None = None,
    mu0_trend: bool = False,
    mu0_harmonics: int = 1,
) -> DetectionResult:
    """Run R's ``algo.glrpois`` over every row of ``counts[n_series, n_time]``.

    ``mu0`` is the in-control mean (see the module docstring), ``c_arl`` the threshold
    (R's ``c.ARL``), ``m_window`` R's ``M`` (-1: the whole run), ``theta`` the known change in
    the log mean (R's ``theta``; ``None``: the GLR chart), ``ret`` what ``upperbound`` holds
    (``"value"``: the statistic, ``"cases"``: the alarming count). ``monitor`` holds 0-based
    time indices (R's ``range`` minus 1), sorted and deduplicated; by default every index. A
    1-D ``counts`` is one series. ``mu0=None`` estimates ``mu0`` as R does (see the module
    docstring) from a model with ``mu0_harmonics`` harmonics of period ``freq`` (R's ``S`` and
    ``disProgObj$freq``) and, with ``mu0_trend``, a linear trend; ``monitor`` is then required.
    """
    model = (freq, mu0_trend, mu0_harmonics)
    return _run(counts, mu0, 0.0, c_arl, m_window, theta, ret, monitor, model)


def glr_nb(
    counts: npt.ArrayLike,
    *,
    mu0: float | npt.ArrayLike | None,
    alpha: float,
    c_arl: float = 5.0,
    m_window: int = -1,
    theta: float | None = None,
    ret: Ret = "value",
    monitor: npt.ArrayLike | None = None,
    freq: int | None = None,
    mu0_trend: bool = False,
    mu0_harmonics: int = 1,
) -> DetectionResult:
    """Run R's ``algo.glrnb`` over every row of ``counts[n_series, n_time]``.

    As :func:`glr_pois`, with the negative binomial dispersion ``alpha > 0`` (R's
    ``control$alpha``; the variance is ``mu + alpha mu^2``; ``alpha = 0`` is
    :func:`glr_pois`). ``mu0=None`` fits the negative binomial model with this ``alpha``.
    """
    alpha = float(alpha)
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError("alpha must be a positive number (alpha = 0 is glr_pois)")
    model = (freq, mu0_trend, mu0_harmonics)
    return _run(counts, mu0, alpha, c_arl, m_window, theta, ret, monitor, model)


def _run(
    counts: npt.ArrayLike,
    mu0: float | npt.ArrayLike | None,
    alpha: float,
    c_arl: float,
    m_window: int,
    theta: float | None,
    ret: str,
    monitor: npt.ArrayLike | None,
    model: tuple[int | None, bool, int],
) -> DetectionResult:
    if ret not in ("value", "cases"):
        raise ValueError("ret must be 'value' or 'cases'")
    if isinstance(mu0, str):
        raise ValueError("mu0 must be None (estimated) or numeric")
    m_window = int(m_window)
    if m_window != -1 and m_window < 1:
        raise ValueError("m_window must be -1 (the whole run) or a positive window length")
    if theta is not None:
        theta = float(theta)
        if theta == 1:
            raise ValueError("theta has to differ from 1 (as R's algo.glrnb requires)")
    c_arl = float(c_arl)
    y = series_matrix(counts)
    n_series, n_time = y.shape
    if mu0 is None and monitor is None:
        raise ValueError("mu0=None estimates mu0 from the counts before monitor[0]: pass monitor")
    days = monitor_days(monitor, n_time, 0)
    if mu0 is None:
        mean = _fit_mu0(y, days, alpha, *model)
    else:
        mean = per_series_and_day(mu0, n_series, days.size, "mu0")
    if (mean[~np.isnan(mean)] <= 0).any() or np.isinf(mean).any():
        raise ValueError("mu0 must be positive and finite")
    x = np.ascontiguousarray(y[:, days])
    shape = (n_series, days.size)
    score = np.zeros(shape)
    upper = np.zeros(shape)
    alarm = np.zeros(shape, dtype=np.bool_)
    cases = ret == "cases"
    mean = np.ascontiguousarray(mean, dtype=float)
    if theta is None:
        _glr_all(x, mean, alpha, c_arl, m_window, cases, score, upper, alarm)
    else:
        for j in range(n_series):
            _lr_series(x[j], mean[j], alpha, theta, c_arl, cases, score[j], upper[j], alarm[j])
    if not cases:
        upper = score.copy()
    upper = np.where(upper < 0, 0.0, upper)  # NaN stays NaN (R: 0)
    return DetectionResult(
        expected=mean,
        upperbound=upper,
        pvalue=np.full(shape, np.nan),
        score=score,
        alarm=alarm,
        monitor=days,
    )


def _fit_mu0(
    y: npt.NDArray[np.float64],
    days: npt.NDArray[np.intp],
    alpha: float,
    freq: int | None,
    trend: bool,
    harmonics: int,
) -> npt.NDArray[np.float64]:
    """R's ``estimateGLRNbHook``: a log-linear GLM on ``observed[1:(range[1] - 1)]``.

    ``glm.fit`` step for step (its starting values, IRLS steps, deviance convergence test
    with ``epsilon = 1e-8`` and ``maxit = 25``), so the predictions agree to rounding.
    """
    if freq is None or int(freq) < 1:
        raise ValueError("mu0=None needs freq, the number of time points per year (R's freq)")
    harmonics = int(harmonics)
    if harmonics < 0:
        raise ValueError("mu0_harmonics must be >= 0")
    n_par = 1 + int(bool(trend)) + 2 * harmonics
    if days.size == 0:
        return np.empty((y.shape[0], 0))
    if days[0] < n_par:
        raise ValueError(f"mu0=None needs at least {n_par} time points before monitor[0]")

    def design(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        cols = [np.ones_like(t)]
        if trend:
            cols.append(t)
        for s in range(1, harmonics + 1):
            cols += [np.cos(2 * s * np.pi / freq * t), np.sin(2 * s * np.pi / freq * t)]
        return np.column_stack(cols)

    t_train = np.arange(1, days[0] + 1, dtype=float)  # R's 1-based time
    x_pred = design(days.astype(float) + 1)
    out = np.full((y.shape[0], days.size), np.nan)
    for j in range(y.shape[0]):
        keep = ~np.isnan(y[j, : days[0]])  # glm's na.omit
        if keep.sum() < n_par:
            continue
        beta = _glm_log(y[j, : days[0]][keep], design(t_train[keep]), alpha)
        with np.errstate(over="ignore"):  # an infinite mean is refused by the caller, as in R
            # predict(type = "response"): the log link's inverse is pmax(exp(eta), DBL_EPSILON)
            out[j] = np.maximum(np.exp(x_pred @ beta), np.finfo(float).eps)
    return out


def _glm_log(
    yv: npt.NDArray[np.float64], x: npt.NDArray[np.float64], alpha: float
) -> npt.NDArray[np.float64]:
    """``glm.fit`` for ``poisson()`` (``alpha = 0``) or ``negative.binomial(1 / alpha)``."""

    def deviance(mu: npt.NDArray[np.float64]) -> float:
        if alpha == 0:
            d = mu.copy()
            p = yv > 0
            d[p] = yv[p] * np.log(yv[p] / mu[p]) - (yv[p] - mu[p])
            return float(2 * d.sum())
        th = 1 / alpha
        return float(
            2
            * np.sum(
                yv * np.log(np.maximum(1, yv) / mu) - (yv + th) * np.log((yv + th) / (mu + th))
            )
        )

    mu = yv + 0.1 if alpha == 0 else yv + (yv == 0) / 6  # the families' mustart
    eta = np.log(mu)
    dev_old = deviance(mu)
    beta = np.zeros(x.shape[1])
    for _ in range(25):
        w = np.sqrt(mu**2 / (mu + alpha * mu**2))
        z = eta + (yv - mu) / mu
        beta = np.linalg.lstsq(x * w[:, np.newaxis], z * w, rcond=None)[0]
        eta = x @ beta
        mu = np.maximum(np.exp(eta), np.finfo(float).eps)
        dev = deviance(mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
            break
        dev_old = dev
    return beta


# --- kernels: one series, R's reset loop around its C routines ---------------------------


@numba.njit(cache=True, error_model="numpy")
def _pois_glr(x, mu0, s, n, xn, m_window):
    """R's C ``glr`` / ``glr_window`` at ``n`` for a run starting at ``s``, ``x[n] = xn``."""
    if m_window == -1:
        low, first = s, n  # glr: k = n, n-1, ..., 0
    else:
        if n == s:
            return 0.0  # glr_cusum_window starts at n = Mtilde
        low, first = max(s, n - m_window), n - 1
    sumx = 0.0
    summu = 0.0
    if m_window != -1:
        sumx += xn
        summu += mu0[n]
    best = -1e99
    for k in range(first, low - 1, -1):
        sumx += xn if k == n else x[k]
        summu += mu0[k]
        lg = np.log(sumx / summu)
        kappa = lg if lg > 0.0 else 0.0
        val = kappa * sumx + (1.0 - np.exp(kappa)) * summu
        if np.isnan(val):
            return np.nan
        if val > best:
            best = val
    return best


@numba.njit(cache=True, error_model="numpy")
def _nb_glr(x, mu0, alpha, s, n, xn, m_window):
    """R's C ``glr_nb_window`` at ``n`` for a run starting at ``s``, ``x[n] = xn``.

    R's arithmetic, with ``exp(kappa)`` evaluated once per Newton step instead of once per
    term, the score and Fisher information sums in one pass and one division per term (a
    reciprocal) instead of two: the results agree with R's to rounding (about 1e-15).
    """
    low = s if m_window == -1 else max(s, n - m_window)
    for i in range(low, n + 1):
        if np.isnan(mu0[i]) or (i < n and np.isnan(x[i])) or np.isnan(xn):
            return np.nan
    flat = True
    for i in range(low, n + 1):
        if mu0[i] != mu0[low]:
            flat = False
            break
    if flat:
        return _nb_glr_flat(x, mu0[low], alpha, low, n, xn)
    inv_alpha = 1 / alpha
    best = -1e99
    kappa_ml = 0.5
    for k in range(low, n + 1):
        kappa_old = 0.4
        kappa_new = kappa_ml
        it = 0
        while kappa_new > -18 and abs(kappa_new - kappa_old) > 1e-6 and it < 1000:
            it += 1
            kappa_old = kappa_new
            e = np.exp(kappa_old)
            ae = alpha * e
            score = 0.0
            fisher = 0.0
            for i in range(k, n + 1):
                xi = xn if i == n else x[i]
                m = mu0[i]
                inv = 1.0 / (1 + ae * m)
                score += (xi - e * m) * inv
                fisher += m * (alpha * xi + 1) * (inv * inv)
            kappa_new = kappa_old + score / (e * fisher)
        kappa_ml = kappa_new if kappa_new > 0.0 else 0.0
        e = np.exp(kappa_ml)
        lnk = 0.0
        for i in range(k, n + 1):
            xi = xn if i == n else x[i]
            am = alpha * mu0[i]
            lnk += kappa_ml * xi + (xi + inv_alpha) * np.log((1 + am) / (1 + am * e))
        if lnk > best:
            best = lnk
    return best


@numba.njit(cache=True, error_model="numpy")
def _nb_glr_flat(x, m, alpha, low, n, xn):
    """:func:`_nb_glr` when ``mu0`` is the same ``m`` at every point of the window.

    The segment ``k..n`` (length ``L``, count sum ``X``) then has the score
    ``(X - L e m) / (1 + alpha e m)`` and the Fisher information
    ``e m (alpha X + L) / (1 + alpha e m)^2`` in ``e = exp(kappa)``: R's Newton-Raphson
    iteration (same start, steps and stopping rules) runs in O(1) per step instead of O(L).
    Its root is ``log(X / (L m))``, but the iteration is kept: started far from the root
    (a small ``m``, e.g. a GLM mu0, after a restart) R's step overshoots, the iterate falls
    below -18 or turns NaN and R uses ``kappa = 0`` (statistic 0) where the root would give
    a positive statistic.
    """
    inv_alpha = 1 / alpha
    am = alpha * m
    total = xn
    for i in range(low, n):
        total += x[i]
    best = -1e99
    sx = total
    kappa_ml = 0.5
    for k in range(low, n + 1):
        if k > low:
            sx -= x[k - 1]  # X over k..n (exact for integer counts)
        length = n - k + 1.0
        info = m * (alpha * sx + length)
        kappa_old = 0.4
        kappa_new = kappa_ml
        it = 0
        while kappa_new > -18 and abs(kappa_new - kappa_old) > 1e-6 and it < 1000:
            it += 1
            kappa_old = kappa_new
            e = np.exp(kappa_old)
            inv = 1.0 / (1 + am * e)
            kappa_new = kappa_old + (sx - length * e * m) * inv / (e * info * (inv * inv))
        kappa_ml = kappa_new if kappa_new > 0.0 else 0.0
        lnk = kappa_ml * sx + (sx + length * inv_alpha) * np.log(
            (1 + am) / (1 + am * np.exp(kappa_ml))
        )
        if lnk > best:
            best = lnk
    return best


@numba.njit(cache=True, error_model="numpy")
def _stat(x, mu0, alpha, s, n, xn, m_window):
    if alpha == 0.0:
        return _pois_glr(x, mu0, s, n, xn, m_window)
    return _nb_glr(x, mu0, alpha, s, n, xn, m_window)


@numba.njit(cache=True, error_model="numpy")
def _smallest_alarming(x, mu0, alpha, s, n, m_window, c_arl, lo, hi_max):
    """Smallest integer count in ``lo..hi_max`` at ``n`` with statistic >= c_arl, else -1.

    The statistic is non-decreasing in ``x[n]``: double from ``lo``, then bisect.
    """
    if _stat(x, mu0, alpha, s, n, lo, m_window) >= c_arl:
        return lo
    bad = lo  # known not to alarm
    step = 1.0
    good = -1.0
    while True:
        cand = bad + step
        if cand > hi_max:
            cand = hi_max
        if cand <= bad:
            return -1.0
        if _stat(x, mu0, alpha, s, n, cand, m_window) >= c_arl:
            good = cand
            break
        bad = cand
        step *= 2.0
    while good - bad > 1.0:
        mid = np.floor((good + bad) / 2.0)
        if _stat(x, mu0, alpha, s, n, mid, m_window) >= c_arl:
            good = mid
        else:
            bad = mid
    return good


@numba.njit(cache=True, error_model="numpy")
def _nb_brute_force(x, mu0, alpha, s, n, m_window, c_arl, hit):
    """R's count-by-count search for the negative binomial bound, quirks included.

    The Newton-Raphson statistic need not be monotone in the count, so the search is R's
    linear one, not a bisection.
    """
    v = x[n]
    if hit:  # step down until the point stops alarming; NA (here 0) if it never does
        if v > X_MAX:
            return 0.0
        while v >= 1:
            v -= 1.0
            if not _nb_glr(x, mu0, alpha, s, n, v, m_window) >= c_arl:
                return v + 1.0
        return 0.0
    if v < 1 or v > X_MAX:  # R's search loop does not start
        return NO_BOUND
    while v <= X_MAX:  # step up to X_MAX + 1
        v += 1.0
        if _nb_glr(x, mu0, alpha, s, n, v, m_window) >= c_arl:
            return v
    return NO_BOUND


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _glr_all(x, mu0, alpha, c_arl, m_window, cases, score, upper, alarm):
    """:func:`_glr_series` for every series, in parallel (each series is independent)."""
    for j in numba.prange(x.shape[0]):
        _glr_series(x[j], mu0[j], alpha, c_arl, m_window, cases, score[j], upper[j], alarm[j])


@numba.njit(cache=True, error_model="numpy")
def _glr_series(x, mu0, alpha, c_arl, m_window, cases, score, upper, alarm):
    s = 0
    for n in range(x.size):
        val = _stat(x, mu0, alpha, s, n, x[n], m_window)
        score[n] = val
        hit = val >= c_arl
        if cases:
            if np.isnan(val):
                upper[n] = np.nan
            elif alpha == 0.0:
                if m_window != -1 and n == s:
                    upper[n] = 0.0  # not computed by glr_cusum_window
                else:
                    upper[n] = _smallest_alarming(x, mu0, alpha, s, n, m_window, c_arl, 0.0, 1e300)
            else:
                upper[n] = _nb_brute_force(x, mu0, alpha, s, n, m_window, c_arl, hit)
        if hit:
            alarm[n] = True
            s = n + 1


@numba.njit(cache=True, error_model="numpy")
def _lr_series(x, mu0, alpha, theta, c_arl, cases, score, upper, alarm):
    prev = 0.0
    for n in range(x.size):
        if alpha == 0.0:  # lr_cusum
            zn = theta * x[n] + (1 - np.exp(theta)) * mu0[n]
            bound = (c_arl - prev + mu0[n] * (np.exp(theta) - 1)) / theta
        else:  # lr_cusum_nb
            lg = np.log((1 + alpha * mu0[n]) / (1 + alpha * mu0[n] * np.exp(theta)))
            zn = theta * x[n] + (x[n] + 1 / alpha) * lg
            bound = -(prev * alpha + lg - c_arl * alpha) / alpha / (theta + lg)
        val = prev + zn
        val = val if (val > 0.0 or np.isnan(val)) else 0.0
        score[n] = val
        if cases:
            upper[n] = bound
        if val > c_arl:
            alarm[n] = True
            prev = 0.0
        else:
            prev = val
