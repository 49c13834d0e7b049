"""The batched GLM kernel of :mod:`epiradar.detect.temporal.farrington`.

One numba call fits the models of every (series, monitored week) pair, ``prange`` over the
pairs, each pair running R's ``glm.fit`` IRLS step for step on its non-missing reference
counts. The design of a pair has an intercept, optionally a linear trend and the treatment
contrasts of the seasonal factor; it spans the same space as one intercept ``a_k`` per present
level ``k`` plus the common slope ``b`` (the "cell means" parametrisation), so every weighted
least-squares step is solved in closed form from per-level sums, in ``O(n)``:

- ``S0_k = sum w``, the level means ``ubar_k``, ``zbar_k`` of ``u`` and of the working
  response ``z``;
- ``Sxx = sum w (u - ubar_k)^2``, ``b = sum w (u - ubar_k)(z - zbar_k) / Sxx``;
- ``a_k = zbar_k - b ubar_k``, so ``eta = zbar_k + b (u - ubar_k) + offset``;
- the hat values ``h = w (1 / S0_k + (u - ubar_k)^2 / Sxx)``;
- ``Var(b) = 1 / Sxx`` and ``Var(a_k) = 1 / S0_k + ubar_k^2 / Sxx`` (unscaled).

This is the Cholesky factorisation of the arrow-shaped normal equations ``X'WX`` done by hand
(the per-level block is diagonal, the Schur complement on the slope is the scalar ``Sxx``).
The sums are taken in one pass with the new ``eta``, ``mu`` and deviance, as moments of
``u - ubar_k`` and ``z - zbar_k`` about the previous step's means, so the centring loses no
digits (as well conditioned as R's QR). The reference weeks come grouped by level, each level
a contiguous segment. The time is ``u = (time - t) / freq`` (``t``: the monitored week), so
the prediction row at ``t`` is ``u = 0``; fitted values, hat values, the trend t-statistic and
the prediction standard error do not depend on that choice.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

EPS = float(np.finfo(np.float64).eps)  # R's .Machine$double.eps, the floor of the log link
LOG_EPS = float(np.log(EPS))
EPS_POW = float(EPS ** (-1 / 6))
CONVERGED, DIVERGED, SINGULAR = 0, 1, 2
# A slope whose within-level spread is below R's QR tolerance (1e-11, relative) is singular.
SINGULAR_TOL = 1e-22


@numba.njit(cache=True, error_model="numpy", inline="always")
def _update(y, logy, start, u, off, prior, seg, eta, mu, w, s0, mom, ub, zb, slope, step):
    """``eta = zb_k + slope (u - ub_k) + offset`` after a ``step``, else R's start
    ``log(mustart)``, ``mustart = y + 0.1`` (``start``, with its exp); ``mu``; the deviance
    (R's ``dev.resids`` summed, ``log(mu)`` taken from ``eta``, ``logy = log(y)`` or 0); and
    for the next IRLS step the working weights ``w`` and, per level ``k`` (observations
    ``seg[k]..seg[k+1]``), ``s0 = sum w`` and the moments ``mom`` of ``d = u - ub_k`` and
    ``e = z - zb_k`` (``z`` the working response): ``sum w d``, ``sum w e``, ``sum w d^2``,
    ``sum w d e`` (about the last step's means, so their centring loses no digits).
    Returns the deviance."""
    dev = 0.0
    for k in range(seg.size - 1):
        ubk = ub[k]
        zbk = zb[k]
        sw = 0.0
        swd = 0.0
        swe = 0.0
        swdd = 0.0
        swde = 0.0
        for i in range(seg[k], seg[k + 1]):
            yi = y[i]
            d = u[i] - ubk
            if step:
                e = zbk + slope * d + off[i]
                m = np.exp(e)
            else:
                e = start[0, i]
                m = start[1, i]
            eta[i] = e
            m = m if m > EPS else EPS
            mu[i] = m
            log_mu = e if m > EPS else LOG_EPS
            dev += prior[i] * (yi * (logy[i] - log_mu) - (yi - m))  # y = 0: mu
            wi = prior[i] * m  # prior mu.eta^2 / V(mu), mu.eta = mu for the log link
            ez = e - off[i] + (yi - m) / m - zbk
            w[i] = wi
            wd = wi * d
            sw += wi
            swd += wd
            swe += wi * ez
            swdd += wd * d
            swde += wd * ez
        s0[k] = sw
        mom[0, k] = swd
        mom[1, k] = swe
        mom[2, k] = swdd
        mom[3, k] = swde
    return 2.0 * dev


@numba.njit(cache=True, error_model="numpy")
def _irls(y, logy, start, u, off, prior, seg, trend, eta, mu, w, mom, s0, ubar, zbar, sc):
    """R's ``glm.fit`` for ``quasipoisson(link = "log")``: start ``mustart = y + 0.1``, IRLS,
    deviance test ``1e-8``, at most 25 steps. ``w``, ``mom``, ``s0``, ``ubar``, ``zbar`` are
    two rows each, used in turn (one step's sums are shifted by the other row's means).
    Leaves the final ``eta``/``mu`` and ``sc = [slope, Sxx, row]``, ``row`` holding the last
    step's working weights, per-level weights ``s0`` and means ``ubar``/``zbar`` (R's last QR).
    Returns CONVERGED, DIVERGED (25 steps) or SINGULAR."""
    n_lev = seg.size - 1
    for k in range(n_lev):
        ubar[1, k] = 0.0  # the first step's shifts
        zbar[1, k] = 0.0
    dev_old = _update(
        y, logy, start, u, off, prior, seg, eta, mu, w[0], s0[0], mom[0], ubar[1], zbar[1],
        0.0, False,
    )  # fmt: skip
    status = DIVERGED
    slope = 0.0
    sxx = 0.0
    cur = 0
    for _ in range(25):
        prev = 1 - cur
        s, m = s0[cur], mom[cur]
        sxx = 0.0
        sxz = 0.0
        suu = 0.0  # sum w u^2
        for k in range(n_lev):
            if not s[k] > 0.0:
                return SINGULAR
            du = m[0, k] / s[k]
            dz = m[1, k] / s[k]
            ubar[cur, k] = ubar[prev, k] + du
            zbar[cur, k] = zbar[prev, k] + dz
            sxx += m[2, k] - m[0, k] * du
            sxz += m[3, k] - m[0, k] * dz
            suu += s[k] * ubar[cur, k] * ubar[cur, k]
        slope = 0.0
        if trend:
            if not sxx > SINGULAR_TOL * (suu + sxx):
                return SINGULAR
            slope = sxz / sxx
        dev = _update(
            y, logy, start, u, off, prior, seg, eta, mu, w[prev], s0[prev], mom[prev],
            ubar[cur], zbar[cur], slope, True,
        )  # fmt: skip
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
            status = CONVERGED
            break
        dev_old = dev
        cur = prev
    else:
        cur = 1 - cur  # the last step's row
    sc[0] = slope
    sc[1] = sxx
    sc[2] = cur
    return status


@numba.njit(cache=True, error_model="numpy")
def _fit(
    y, logy, start, y23, u, off, seg, trend, reweight, threshold, bufs, w, mom, s0, ubar, zbar, sc
):
    """R's ``algo.farrington.fitGLM.flexible``: fit, refit without trend when the fit does not
    converge, reweight. Returns ``(ok, trend, dispersion, phi)``: ``dispersion`` is the raw
    estimate the trend test and the prediction standard error use (R's quirk: with ``omega``
    as the working weights), ``phi`` the floored one of the (last) fit."""
    prior, eta, mu = bufs[0], bufs[1], bufs[2]
    n_lev = seg.size - 1
    n = seg[n_lev]
    for i in range(n):
        prior[i] = 1.0
    args = (y, logy, start, u, off, prior, seg)
    status = _irls(*args, trend, eta, mu, w, mom, s0, ubar, zbar, sc)
    if status == SINGULAR:
        return False, trend, np.nan, np.nan
    if status == DIVERGED:
        if not trend:
            return False, trend, np.nan, np.nan
        trend = False
        status = _irls(*args, trend, eta, mu, w, mom, s0, ubar, zbar, sc)
        if status != CONVERGED:
            return False, trend, np.nan, np.nan
    df = n - n_lev - (1 if trend else 0)
    row = int(sc[2])
    ws = w[row]
    disp = 0.0
    for i in range(n):
        r = (y[i] - mu[i]) / mu[i]  # working residual
        disp += ws[i] * r * r
    disp /= df
    phi = 1.0 if disp < 1.0 else disp  # Python's max(disp, 1.0): NaN stays NaN
    if not reweight:
        return True, trend, disp, phi
    sxx = sc[1]
    total = 0.0
    for k in range(n_lev):  # Anscombe residuals with the hat values of the last IRLS step
        inv_s0 = 1.0 / s0[row, k]
        ubk = ubar[row, k]
        for i in range(seg[k], seg[k + 1]):
            h = ws[i] * inv_s0
            if trend:
                d = u[i] - ubk
                h += ws[i] * d * d / sxx
            m = mu[i]
            m16 = np.exp(-eta[i] / 6.0) if m > EPS else EPS_POW  # mu^(-1/6)
            a = 1.5 * (y23[i] * m16 - np.sqrt(m)) / np.sqrt(phi * (1.0 - h))
            omega = 1.0 / (a * a) if a > threshold else 1.0
            prior[i] = omega
            total += omega
    gamma = n / total
    for i in range(n):
        prior[i] = gamma * prior[i]
    # R does not check this fit's convergence.
    status = _irls(*args, trend, eta, mu, w, mom, s0, ubar, zbar, sc)
    if status == SINGULAR:
        return False, trend, np.nan, np.nan
    ws = w[int(sc[2])]
    disp = 0.0
    disp_omega = 0.0
    for i in range(n):
        r = (y[i] - mu[i]) / mu[i]
        disp += ws[i] * r * r
        disp_omega += prior[i] * r * r
    disp /= df
    phi = 1.0 if disp < 1.0 else disp
    return True, trend, disp_omega / df, phi


@numba.njit(cache=True, error_model="numpy")
def _predict(k, trend, dispersion, off_now, s0, ubar, zbar, sc):
    """``(eta0, se(eta0))`` of level index ``k`` at ``u = 0``."""
    slope, sxx, row = sc[0], sc[1], int(sc[2])
    var = 1.0 / s0[row, k]
    if trend:
        var += ubar[row, k] * ubar[row, k] / sxx
    else:
        slope = 0.0
    return zbar[row, k] - slope * ubar[row, k] + off_now, np.sqrt(dispersion * var)


@numba.njit(cache=True, parallel=True, error_model="numpy")
def fit_pairs(
    y, logs, log_pop, days, rel, lev, n_levels, freq, trend, reweight, threshold, b_ge3, tcrit,
    force,
):  # fmt: skip
    """Fit every (series ``j``, monitored week ``days[i]``) pair.

    ``y[n_series, n_time]`` (NaN: missing); ``logs`` its ``log(y)`` (0 where ``y = 0``),
    ``log(y + 0.1)``, ``exp(log(y + 0.1))`` (R's start) and ``y^(2/3)``; ``log_pop`` its log
    population (``[0, 0]``: no offset).
    The reference weeks of week ``t`` are ``t + rel``, grouped by their seasonal levels ``lev``
    (``1..n_levels``, ascending); ``t`` itself has level ``n_levels``. The trend is kept when
    ``b_ge3``, its test passes and the prediction does not exceed the largest reference count;
    the test is ``|t-statistic| > tcrit[df]``, or given by ``force[j, i]`` (1: passes, 2:
    fails).

    Returns ``ok``, ``eta0`` (the link-scale prediction at ``t``, offset included), ``se``
    (its standard error), ``phi``, and the trend test's t-statistic and degrees of freedom
    (NaN and 0 where no trend was tested), each ``[n_series, n_days]``."""
    n_series = y.shape[0]
    n_days = days.size
    n_ref = rel.size
    has_pop = log_pop.shape[0] > 0
    ok = np.zeros((n_series, n_days), dtype=np.bool_)
    eta_out = np.full((n_series, n_days), np.nan)
    se_out = np.full((n_series, n_days), np.nan)
    phi_out = np.full((n_series, n_days), np.nan)
    t_out = np.full((n_series, n_days), np.nan)
    df_out = np.zeros((n_series, n_days), dtype=np.int64)
    for pair in prange(n_series * n_days):
        j = pair // n_days
        i = pair - j * n_days
        t = days[i]
        yv = np.empty(n_ref)
        logy = np.empty(n_ref)
        start = np.empty((2, n_ref))
        y23 = np.empty(n_ref)
        u = np.empty(n_ref)
        off = np.zeros(n_ref)
        bufs = np.empty((3, n_ref))
        w = np.empty((2, n_ref))
        count = np.zeros(n_levels + 1, dtype=np.int64)
        n = 0
        y_max = -np.inf
        for q in range(n_ref):
            pos = t + rel[q]
            yy = y[j, pos]
            if np.isnan(yy):
                continue
            yv[n] = yy
            logy[n] = logs[0, j, pos]
            start[0, n] = logs[1, j, pos]
            start[1, n] = logs[2, j, pos]
            y23[n] = logs[3, j, pos]
            u[n] = rel[q] / freq
            if has_pop:
                off[n] = log_pop[j, pos]
            count[lev[q]] += 1
            if yy > y_max:
                y_max = yy
            n += 1
        n_lev = 0  # the present levels, ascending
        seg = np.zeros(n_levels + 2, dtype=np.int64)
        k = 0  # the level of t, or the lowest present level when it has no counts
        for level in range(n_levels + 1):
            if count[level] > 0:
                if level == n_levels:
                    k = n_lev
                seg[n_lev + 1] = seg[n_lev] + count[level]
                n_lev += 1
        seg = seg[: n_lev + 1]
        if n <= n_lev + (1 if trend else 0):  # no residual degrees of freedom
            continue
        off_now = log_pop[j, t] if has_pop else 0.0
        s0 = np.empty((2, n_lev))
        ubar = np.empty((2, n_lev))
        zbar = np.empty((2, n_lev))
        mom = np.empty((2, 4, n_lev))
        sc = np.zeros(3)
        data = (yv, logy, start, y23, u, off, seg)
        work = (bufs, w, mom, s0, ubar, zbar, sc)
        good, used, disp, phi = _fit(*data, trend, reweight, threshold, *work)
        if not good:
            continue
        eta0, se = _predict(k, used, disp, off_now, s0, ubar, zbar, sc)
        if used:
            t_stat = sc[0] / np.sqrt(disp / sc[1])
            mu0 = np.exp(eta0)
            mu0 = mu0 if mu0 > EPS else EPS
            df = n - n_lev - 1
            t_out[j, i] = t_stat
            df_out[j, i] = df
            passes = abs(t_stat) > tcrit[df] if force[j, i] == 0 else force[j, i] == 1
            if not (b_ge3 and passes and mu0 <= y_max):
                good, used, disp, phi = _fit(*data, False, reweight, threshold, *work)
                if not good:
                    continue
                eta0, se = _predict(k, used, disp, off_now, s0, ubar, zbar, sc)
        ok[j, i] = True
        eta_out[j, i] = eta0
        se_out[j, i] = se
        phi_out[j, i] = phi
    return ok, eta_out, se_out, phi_out, t_out, df_out
