"""The NSSP-ESSENCE daily detectors as CDC's Rnssp R package defines them.

References. Rnssp's ``alert_regression`` cites the last two; the first is the ESSENCE
adaptive-regression background (not cited by Rnssp itself):

Burkom HS, Murphy SP, Shmueli G (2007). Automated time series forecasting for
biosurveillance. Statistics in Medicine 26(22):4202-4218.
Burkom H, Elbert Y, Magruder S, Najmi A, Peter W, Thompson M (2008). Developments in the
roles, features, and evaluation of alerting algorithms for disease outbreak monitoring.
Johns Hopkins APL Technical Digest 27(4):313-331.
Fricker RD (2013). Introduction to Statistical Methods for Biosurveillance. Cambridge.

Followed line by line: CDCgov/Rnssp ``R/alert_ewma.R`` (``ewma_loop``; git commit
13939e05c74d0c892444b6d8b2ebe6f61fbcfd98) and ``R/alert_regression.R``
(``adaptive_regression``; same commit), and ``R/alert_switch.R`` (commit
e997541642de7e0107c05f86ffa3e75841af0901); the package version in the DESCRIPTION seen was
0.2.0. No R with Rnssp was available, so there are no golden fixtures: the tests recompute Rnssp's formulas with plain scalar loops.

Common to both (Rnssp's adaptive baseline): for the 0-based test day ``t`` the baseline is
the ``L = min(t - guard, baseline)`` days ending ``guard`` days before ``t``, i.e. indices
``t - guard - L .. t - guard - 1``. Rnssp starts with an 11-day baseline
(``min_baseline = 11``), so the first day evaluated is ``t = 11 + guard``; ``monitor`` must
lie in ``11 + guard .. n_time - 1`` (default: all of them). Alert levels as Rnssp: red
``p < 0.01``, yellow ``0.01 <= p < 0.05``; here ``alarm`` is ``pvalue < red`` (red only;
the yellow level can be read from ``pvalue``).

p-values are ``scipy.stats.t.sf(stat, df)`` where R computes ``1 - pt(stat, df)``: the same
number except that the survival function keeps precision for very small p.

Missing counts: Rnssp has no NA handling (``if (NA)`` errors in ``ewma_loop``; ``lm.fit``
errors on NA). Here a missing count in a day's baseline makes that day NaN/False; for EWMA a
missing count also makes the EWMA itself NaN from that day on for that series (as the R
recursion would), so every later day of that series is NaN/False.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt
from scipy import stats

from epiradar.detect.temporal.result import DetectionResult, monitor_days, series_matrix

MIN_BASELINE = 11  # Rnssp's min_baseline, hard-coded in both loops


def ewma(
    counts: npt.ArrayLike,
    *,
    baseline: int = 28,
    guard: int = 2,
    smoothing: float = 0.4,
    sudden: float = 0.9,
    red: float = 0.01,
    monitor: npt.ArrayLike | None = None,
) -> DetectionResult:
    """Rnssp's ``alert_ewma`` (``ewma_loop``) over every row of ``counts[n_series, n_time]``.

    Two EWMAs run from ``z_0 = y_0``: ``z_t = w y_t + (1 - w) z_{t-1}`` with ``w = smoothing``
    (Rnssp's ``w1``, gradual events) and ``w = sudden`` (``w2``, sudden events). On test day
    ``t`` with baseline mean ``mu``, sd ``s`` (``ddof=1``) over ``L`` days and ``df = L - 1``::

        corr  = sqrt(w/(2-w) + 1/L - 2 (1-w)^(guard+1) (1 - (1-w)^L) / L)
        ucl_a = round(qt(0.99, df), 5);  ucl_w = round(qt(0.95, df), 5)
        sigma = max(w/ucl_w (1 + 0.5 (1-w)^2),
                    s corr + (0.1289 - (0.2414 - 0.1826 (1-w)^4) log(0.5)) w/ucl_w)
        stat  = (z_t - mu) / sigma;  p = P(T_df > stat)

    and when ``|stat| > ucl_a`` the EWMA is pulled back to ``mu + sign(stat) ucl_a sigma``
    before the next day. The day reports the EWMA with the smaller p-value (the ``sudden``
    one on ties, as R's ``if (pval1 < pval2)``). A zero baseline sd is no special case:
    ``sigma`` is then the positive constant term, as in Rnssp.

    Choices: Rnssp hard-codes ``max_baseline = 28`` in ``ewma_loop`` (its ``B`` is only
    checked); here ``baseline`` is that maximum (default 28, identical). The 0.01/0.05 inside
    ``ucl_a``/``ucl_w``/the constant are Rnssp's fixed numbers and do not follow ``red``.

    Outputs: ``expected`` = ``mu``; ``score`` = the reported ``stat``; ``pvalue`` = its p;
    ``alarm`` = ``p < red``; ``upperbound`` = the count above which the day alarms given the
    previous (clipped) EWMAs: ``min_w (mu + qt(1 - red, df) sigma_w - (1-w) z_{t-1,w}) / w``
    (the day's p is the minimum of two p-values each decreasing in the count).
    """
    y, days = _prepare(counts, guard, monitor)
    if not (0 < smoothing <= 1 and 0 < sudden <= 1):
        raise ValueError("smoothing and sudden must lie in (0, 1]")
    n_series, n_time = y.shape
    start = MIN_BASELINE + guard
    ws = np.array([smoothing, sudden])[:, np.newaxis]  # [2, 1]
    column = np.full(n_time, -1, dtype=np.intp)
    column[days] = np.arange(days.size)
    out = np.full((4, n_series, days.size), np.nan)  # expected, upper, pvalue, score
    z = np.broadcast_to(y[:, 0], (2, n_series)).copy()
    for t in range(1, min(start, n_time)):
        z = ws * y[:, t] + (1 - ws) * z
    constants = _EwmaConstants(ws, guard, red)
    last = int(days[-1]) + 1 if days.size else 0  # nothing after the last judged day matters
    block = 32
    for b0 in range(start, last, block):
        b1 = min(b0 + block, last)
        mus, sds = _baseline_stats(y, b0, b1, guard, baseline)
        for t in range(b0, b1):
            length = min(t - guard, baseline)
            mu, sd = mus[:, t - b0], sds[:, t - b0]
            ucl_a, sigma_of, crit = constants.at(length)
            sigma = sigma_of(sd)  # [2, n_series]; NaN propagates
            z_prev = z
            z = ws * y[:, t] + (1 - ws) * z_prev
            stat = (z - mu) / sigma
            k = column[t]
            if k >= 0:
                pval = stats.t.sf(stat, length - 1)
                first = pval[0] < pval[1]
                out[0, :, k] = mu
                out[1, :, k] = np.min((mu + crit * sigma - (1 - ws) * z_prev) / ws, axis=0)
                out[2, :, k] = np.where(first, pval[0], pval[1])
                out[3, :, k] = np.where(first, stat[0], stat[1])
            with np.errstate(invalid="ignore"):
                clip = np.abs(stat) > ucl_a
            z = np.where(clip, mu + np.sign(stat) * ucl_a * sigma, z)
    # NaN anywhere in the chain (baseline or EWMA history) must blank the whole day
    bad = np.isnan(out).any(axis=0)
    out[:, bad] = np.nan
    return _result(out, red, days)


class _EwmaConstants:
    """Rnssp's per-baseline-length constants of the EWMA, computed once per length."""

    def __init__(self, ws: np.ndarray, guard: int, red: float) -> None:
        self.ws, self.guard, self.red = ws, guard, red
        self._cache: dict[int, tuple] = {}

    def at(self, length: int):
        if length not in self._cache:
            ws, guard = self.ws, self.guard
            dof = length - 1
            ucl_a = round(float(stats.t.ppf(0.99, dof)), 5)
            ucl_w = round(float(stats.t.ppf(0.95, dof)), 5)
            corr = np.sqrt(
                ws / (2 - ws)
                + 1 / length
                - 2 * (1 - ws) ** (guard + 1) * ((1 - (1 - ws) ** length) / length)
            )
            min_sigma = (ws / ucl_w) * (1 + 0.5 * (1 - ws) ** 2)
            const = (0.1289 - (0.2414 - 0.1826 * (1 - ws) ** 4) * np.log(10 * 0.05)) * (ws / ucl_w)

            def sigma_of(sd, corr=corr, const=const, min_sigma=min_sigma):
                return np.maximum(min_sigma, sd * corr + const)

            crit = float(stats.t.ppf(1 - self.red, dof))
            self._cache[length] = (ucl_a, sigma_of, crit)
        return self._cache[length]


def _baseline_stats(
    y: np.ndarray, t0: int, t1: int, guard: int, baseline: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample SD of each day's baseline (``min(t - guard, baseline)`` days ending
    ``guard`` days before ``t``) for the days ``t0 .. t1 - 1``: ``[n_series, t1 - t0]``."""
    return _baseline_stats_kernel(np.ascontiguousarray(y), t0, t1, guard, baseline)


@numba.njit(cache=True, parallel=True)
def _baseline_stats_kernel(y, t0, t1, guard, baseline):  # pragma: no cover - compiled
    n = y.shape[0]
    mus = np.empty((n, t1 - t0))
    sds = np.empty((n, t1 - t0))
    for i in numba.prange(n):
        for t in range(t0, t1):
            length = min(t - guard, baseline)
            lo = t - guard - length
            total = 0.0
            for j in range(lo, lo + length):
                total += y[i, j]
            mean = total / length
            sq = 0.0
            for j in range(lo, lo + length):
                d = y[i, j] - mean
                sq += d * d
            mus[i, t - t0] = mean
            sds[i, t - t0] = np.sqrt(sq / (length - 1))
    return mus, sds


def regression_dow(
    counts: npt.ArrayLike,
    *,
    weekday0: int,
    baseline: int = 28,
    guard: int = 2,
    red: float = 0.01,
    monitor: npt.ArrayLike | None = None,
) -> DetectionResult:
    """Rnssp's ``alert_regression`` (``adaptive_regression``) over every row of ``counts``.

    ``weekday0`` is the weekday of time index 0 (0 = Monday ... 6 = Sunday; Rnssp reads it
    from the dates). On test day ``t`` an ordinary least-squares line is fitted to the ``L``
    baseline days with an intercept, a trend ``1..L`` and Mon..Sat indicators (Sunday the
    reference), ``df = L - 8``::

        mse      = sum(res^2) / df
        sigma    = max(sqrt(mse) sqrt((L+7)(L-4) / (L (L-7))), 1.01 / round(qt(0.95, df), 5))
        expected = max(0, b0 + (L + guard + 1) b1 + b_dow(t))
        stat     = (y_t - expected) / sigma;   p = P(T_df > stat)

    A perfect fit (``mse = 0``, e.g. a constant series) gives the floor ``sigma``, as in
    Rnssp. Outputs: ``expected``; ``score`` = ``stat``; ``pvalue``; ``alarm`` = ``p < red``;
    ``upperbound`` = ``expected + qt(1 - red, df) sigma`` (unrounded, so that a count alarms
    exactly when it is above the bound). ``baseline`` must be a multiple of 7, as in Rnssp.
    The fits of all series on one day share their design matrix and are solved together.
    """
    return _regression(counts, weekday0, baseline, guard, red, monitor)[0]


def adjusted_r2(
    counts: npt.ArrayLike,
    *,
    weekday0: int,
    baseline: int = 28,
    guard: int = 2,
    monitor: npt.ArrayLike | None = None,
) -> npt.NDArray[np.float64]:
    """The adjusted R^2 of ``regression_dow``'s fit for each series and monitored day.

    Rnssp's ``1 - (1 - r2) (L - 1) / (L - 8)`` with ``r2 = mss / (rss + mss)`` and ``mss``
    about the mean of the fitted values; a NaN (0/0, a constant baseline) is 0 as in Rnssp.
    Choice: a constant baseline is detected from the counts (``max == min``) and given 0
    directly, since in floating point (R's ``lm.fit`` as here) ``mss`` and ``rss`` are then
    rounding noise rather than exact zeros and their ratio is arbitrary.
    Missing counts in the baseline give NaN. ``[n_series, n_monitor]``.
    """
    return _regression(counts, weekday0, baseline, guard, 0.01, monitor)[1]


def ewma_regression_switch(
    counts: npt.ArrayLike,
    *,
    weekday0: int,
    baseline: int = 28,
    guard: int = 2,
    smoothing: float = 0.4,
    sudden: float = 0.9,
    red: float = 0.01,
    r2_threshold: float = 0.60,
    monitor: npt.ArrayLike | None = None,
) -> DetectionResult:
    """Rnssp's ``alert_switch``: per series and day, ``regression_dow`` where its adjusted
    R^2 (``adjusted_r2``) is at least ``r2_threshold`` (0.60), else ``ewma``.

    As Rnssp (``R/alert_switch.R``, commit e997541642de7e0107c05f86ffa3e75841af0901, which
    runs ``alert_regression`` and ``alert_ewma`` and swaps in the EWMA rows where
    ``is.na(adjusted_r_squared) | adjusted_r_squared < 0.60``): a missing R^2 takes the EWMA.
    An older ``alert_switch`` (commit 03e89dfc) had its own simplified EWMA with a single
    smoothing coefficient; it is not followed. Every output field comes from the chosen
    detector.
    """
    reg, r2 = _regression(counts, weekday0, baseline, guard, red, monitor)
    ew = ewma(
        counts,
        baseline=baseline,
        guard=guard,
        smoothing=smoothing,
        sudden=sudden,
        red=red,
        monitor=monitor,
    )
    use = r2 >= r2_threshold  # NaN -> False -> EWMA
    return DetectionResult(
        expected=np.where(use, reg.expected, ew.expected),
        upperbound=np.where(use, reg.upperbound, ew.upperbound),
        pvalue=np.where(use, reg.pvalue, ew.pvalue),
        score=np.where(use, reg.score, ew.score),
        alarm=np.where(use, reg.alarm, ew.alarm),
        monitor=reg.monitor,
    )


def _regression(
    counts: npt.ArrayLike,
    weekday0: int,
    baseline: int,
    guard: int,
    red: float,
    monitor: npt.ArrayLike | None,
) -> tuple[DetectionResult, npt.NDArray[np.float64]]:
    if baseline < 7 or baseline % 7:
        raise ValueError("baseline must be a multiple of 7 (Rnssp's alert_regression)")
    if not 0 <= weekday0 <= 6:
        raise ValueError("weekday0 must be 0 (Monday) .. 6 (Sunday)")
    y, days = _prepare(counts, guard, monitor)
    n_series, n_time = y.shape
    full = np.full((4, n_series, days.size), np.nan)
    r2_all = np.full((n_series, days.size), np.nan)
    for k, t in enumerate(days):
        length = min(int(t) - guard, baseline)
        lo = int(t) - guard - length
        base = y[:, lo : lo + length].T  # [L, n_series]
        iso = (weekday0 + np.arange(lo, lo + length)) % 7  # 0 = Monday .. 6 = Sunday
        x = np.zeros((length, 9))
        x[:, 0] = 1.0
        x[:, 1] = np.arange(1, length + 1)
        x[np.arange(length), 2 + iso] = 1.0
        x = x[:, :8]  # drop the Sunday column: the reference level, as Rnssp's Mon..Sat
        beta = np.linalg.pinv(x) @ base  # [8, n_series]; column-wise, NaN stays in its series
        fit = x @ beta
        res = base - fit
        dof = length - 8
        rss = (res**2).sum(axis=0)
        mss = ((fit - fit.mean(axis=0)) ** 2).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = mss / (rss + mss)
        r2_adj = 1 - (1 - r2) * ((length - 1) / dof)
        # exact arithmetic gives 0/0 -> NaN -> 0 (Rnssp) for a constant baseline; floating
        # point leaves rounding noise in mss and rss, so decide on the data instead
        constant = np.ptp(base, axis=0) == 0
        r2_adj = np.where(constant | (np.isnan(r2_adj) & ~np.isnan(base).any(axis=0)), 0.0, r2_adj)
        floor = 1.01 / round(float(stats.t.ppf(0.95, dof)), 5)
        sigma = np.maximum(
            np.sqrt(rss / dof) * np.sqrt(((length + 7) * (length - 4)) / (length * (length - 7))),
            floor,
        )
        dow = (weekday0 + int(t)) % 7
        pred = beta[0] + (length + guard + 1) * beta[1]
        if dow < 6:
            pred = pred + beta[2 + dow]
        expected = np.maximum(0.0, pred)
        stat = (y[:, t] - expected) / sigma
        full[0, :, k] = expected
        full[1, :, k] = expected + float(stats.t.ppf(1 - red, dof)) * sigma
        full[2, :, k] = stats.t.sf(stat, dof)
        full[3, :, k] = stat
        r2_all[:, k] = r2_adj
    bad = np.isnan(full).any(axis=0)
    full[:, bad] = np.nan
    return _result(full, red, days), r2_all


def _prepare(
    counts: npt.ArrayLike, guard: int, monitor: npt.ArrayLike | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
    if guard < 0:
        raise ValueError("guard cannot be negative")
    y = series_matrix(counts)
    days = monitor_days(monitor, y.shape[1], MIN_BASELINE + guard, "11-day minimum baseline")
    return y, days


def _result(
    full: npt.NDArray[np.float64], red: float, days: npt.NDArray[np.intp]
) -> DetectionResult:
    expected, upper, pvalue, score = full
    return DetectionResult(
        expected=expected,
        upperbound=upper,
        pvalue=pvalue,
        score=score,
        alarm=np.asarray(pvalue < red, dtype=bool),
        monitor=days,
    )
