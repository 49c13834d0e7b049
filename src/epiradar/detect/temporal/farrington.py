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
- A singular weighted design in an IRLS step (R's pivoting QR would go on; here: a trend
  whose weighted spread within the seasonal levels is below R's QR tolerance,
  ``Sxx <= 1e-22 sum(w u^2)``, see below), or no more non-missing reference counts than model
  parameters (R: an error or a NaN dispersion), gives no result for that point, as a fit that
  does not converge.
- ``monitor[0]`` must be at least ``b freq + w`` (R's default ``range`` start), and
  ``no_periods`` small enough that no block is empty (R errors only when the blocks would
  overlap the reference windows, and assigns reversed ranges in between).
- Above a mean of ``2^50`` the ``"nbPlugin"``/``"muan"`` quantile is the Cornish-Fisher one
  (R's ``qnbinom``/``qpois`` agree to ~1e-15 there; scipy's search does not end above
  ``2^53`` or returns NaN).

Computation (:mod:`epiradar.detect.temporal.farrington_kernel`): the GLMs of all series and
all monitored weeks are fitted together, by one numba kernel (``prange`` over the (series,
week) pairs, compiled once and cached on disk). The reference weeks of week ``t`` are
``t + rel`` with the same offsets ``rel`` and levels for every ``t`` (built once by
``_reference_weeks``); the kernel gathers each pair's non-missing counts and runs R's IRLS
step for step. The design (intercept, trend, treatment contrasts of the present levels) spans
the same space as one intercept per present level plus a common slope, so each weighted
least-squares step is solved from per-level sums of the working weights, ``w u`` and ``w z``
and the within-level centred ``Sxx``/``Sxz`` in ``O(n)`` (the arrow-shaped normal equations
``X'WX`` factored by hand: the per-level block is diagonal, the slope's Schur complement a
scalar), with the time as ``u = (time - t) / freq``; the hat values, the unscaled covariance of
the slope and of the prediction at ``t`` follow in closed form. Fitted values, hat values,
the trend's t-statistic and the prediction's standard error do not depend on that
reparametrisation, only rounding does (the deviance also takes ``log(mu)`` from ``eta``):
``expected``/``upperbound`` agree with R's to ~1e-12 relative on the golden fixtures.
The trend test ``p < p_threshold_trend`` is ``|t| > c[df]`` in the kernel, ``c`` found once by
bisection on scipy's ``t.sf``; scipy's p-values are then computed for every tested pair and
the series where the two decisions differ (scipy is not monotone in the last bits near ``c``)
are refitted with scipy's decision imposed. The thresholds (step 5) are computed vectorised
over all pairs.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt
from scipy import stats

from epiradar.detect.temporal.farrington_kernel import fit_pairs
from epiradar.detect.temporal.result import DetectionResult, series_matrix

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
_HUGE_MEAN = 2.0**50
_PARALLEL_MIN = 200_000  # (series, week) pairs x reference weeks: ~20 ms on one thread
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
    y = series_matrix(counts)
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
    rel, lev = _reference_weeks(freq, b, w, no_periods, pwni)
    if days.size == 0 or n_series == 0:
        return DetectionResult(alarm=alarm, monitor=days, **out)
    model = (freq, b, no_periods, bool(trend), bool(reweight), float(weights_threshold))
    ok, eta0, se, phi = _fit_models(y, pop, days, rel, lev, *model, float(p_threshold_trend))
    yt = y[:, days][ok]
    eta0, se, phi = eta0[ok], se[ok], phi[ok]
    z = stats.norm.ppf(1 - alpha)
    with np.errstate(all="ignore"):
        if threshold_method == "delta":
            fit = np.maximum(np.exp(eta0), _EPS)
            upper, prob = _delta(fit, se * fit, phi, yt, z, _EXPONENT[power_trans])
            expected = fit
        else:
            fit = eta0
            upper, prob = _noufaily(eta0, se, phi, yt, z, alpha, threshold_method)
            expected = np.exp(eta0)
        score = (yt - fit) / (upper - fit)
    windows = np.lib.stride_tricks.sliding_window_view(y, lim_period, axis=1)
    enough = windows[:, days - lim_period + 1].sum(axis=2)[ok] >= lim_cases  # NaN: as R's NA
    out["score"][ok] = score
    out["pvalue"][ok] = prob
    out["upperbound"][ok] = np.where(enough, upper, np.nan)
    out["expected"][ok] = np.where(enough & ~np.isnan(upper), expected, np.nan)
    alarm[ok] = enough & (score > 1) & (yt != 0)
    return DetectionResult(alarm=alarm, monitor=days, **out)


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


def _reference_weeks(
    freq: int, b: int, w: int, no_periods: int, pwni: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The reference weeks of a monitored week ``t`` as offsets ``rel`` (``t + rel``) and their
    seasonal levels, sorted by level (then time): the same for every ``t`` from ``b freq + w``
    on."""
    t = b * freq + w
    levels = _blocks(t + 1, t, freq, b, w, no_periods)
    levels[max(0, t - pwni) :] = np.nan
    idx = np.flatnonzero(~np.isnan(levels))
    idx = idx[np.argsort(levels[idx], kind="stable")]  # grouped by level, for the kernel
    return (idx - t).astype(np.int64), levels[idx].astype(np.int64)


def _fit_models(y, pop, days, rel, lev, freq, b, no_periods, trend, reweight, threshold, p_trend):
    """Steps 2-4 for every (series, monitored week): ``ok``, ``eta0`` (the link-scale
    prediction at ``t``), its standard error and ``phi``, each ``[n_series, n_days]``.

    The kernel tests the trend as ``|t| > c[df]``; scipy's p-values are then computed for every
    tested pair, and the series where the decisions differ (scipy's p-value is not monotone in
    its last bits near ``c``) are refitted with scipy's decision imposed."""
    y = np.ascontiguousarray(y, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_y = np.log(y)
        log_start = np.log(y + 0.1)  # R's start: mustart = y + 0.1, eta = log(mustart)
        logs = np.stack([np.where(y > 0, log_y, 0.0), log_start, np.exp(log_start), y ** (2 / 3)])
        log_pop = np.zeros((0, 0)) if pop is None else np.ascontiguousarray(np.log(pop))
    days = days.astype(np.int64)
    settings = (rel, lev, no_periods, float(freq), trend, reweight, threshold, b >= 3)
    crit = np.array(_t_critical(p_trend, rel.size))  # writeable: one kernel signature
    force = np.zeros((y.shape[0], days.size), dtype=np.int8)
    ok, eta0, se, phi, t_stat, df = _run_kernel(y, logs, log_pop, days, *settings, crit, force)
    tested = np.flatnonzero(~np.isnan(t_stat))
    with np.errstate(invalid="ignore"):
        passes = 2 * stats.t.sf(np.abs(t_stat.flat[tested]), df.flat[tested]) < p_trend
        wrong = passes != (np.abs(t_stat.flat[tested]) > crit[df.flat[tested]])
    if wrong.any():
        force.flat[tested[wrong]] = np.where(passes[wrong], 1, 2)
        rows = np.unique(tested[wrong] // days.size)
        sub_pop = log_pop if pop is None else log_pop[rows]
        redo = _run_kernel(y[rows], logs[:, rows], sub_pop, days, *settings, crit, force[rows])
        for full, part in zip((ok, eta0, se, phi), redo[:4], strict=True):
            full[rows] = part
    return ok, eta0, se, phi


def _run_kernel(y, logs, log_pop, days, rel, *rest):
    """``fit_pairs``, on one thread when the work is small: starting the thread pool costs
    more than it saves there (tens of milliseconds on a busy machine)."""
    if y.shape[0] * days.size * rel.size >= _PARALLEL_MIN:
        return fit_pairs(y, logs, log_pop, days, rel, *rest)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # this thread's setting only
    try:
        return fit_pairs(y, logs, log_pop, days, rel, *rest)
    finally:
        numba.set_num_threads(threads)


@cache
def _t_critical(p_threshold: float, n_max: int) -> npt.NDArray[np.float64]:
    """``c[df]``, ``df = 0..n_max``: ``2 P(T_df > |x|) < p_threshold`` when ``|x| > c[df]``,
    ``P`` being scipy's ``t.sf``, found by bisection over the doubles (where scipy's p-value
    is not monotone, within ~1e-15 of ``c``, the caller checks the kernel's decisions)."""
    df = np.arange(n_max + 1, dtype=float)
    df[0] = 1.0  # unused

    def passes(x: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        return 2 * stats.t.sf(x, df) < p_threshold

    lo = np.zeros(df.size, dtype=np.int64)  # bit patterns of x >= 0: ordered as the values
    hi = np.full(df.size, np.float64(np.inf).view(np.int64))
    crit = np.where(passes(lo.view(np.float64)), -np.inf, np.inf)  # all / no |x| pass
    todo = np.isinf(crit) & (crit > 0) & passes(hi.view(np.float64))
    while True:
        active = todo & (hi - lo > 1)
        if not active.any():
            break
        mid = lo + (hi - lo) // 2
        ok = passes(mid.view(np.float64))
        hi = np.where(active & ok, mid, hi)
        lo = np.where(active & ~ok, mid, lo)
    crit = np.where(todo, lo.view(np.float64), crit)
    crit.flags.writeable = False
    return crit


def _delta(mu0, se, phi, yt, z, e):
    """R's ``algo.farrington.threshold.farrington``: ``(upper, prob)``, elementwise."""
    tau = phi + se**2 / mu0
    if e == 2 / 3:
        sd = np.sqrt(4 / 9 * mu0 ** (1 / 3) * tau)
    elif e == 1 / 2:
        sd = np.sqrt(tau / 4)
    else:
        sd = np.sqrt(mu0 * tau)
    upper = (mu0**e + z * sd) ** (1 / e)
    prob = stats.norm.sf(yt**e, loc=mu0**e, scale=sd)
    return upper, prob


def _noufaily(eta0, se, phi, yt, z, alpha, method):
    """R's ``algo.farrington.threshold.noufaily``: ``(upper, prob)``, elementwise.

    From a mean of ``2^50`` on, the quantile is the Cornish-Fisher one (what R's ``qnbinom``
    and ``qpois`` return there to ~1e-15; scipy's search does not end above ``2^53``)."""
    m = np.exp(eta0) if method == "nbPlugin" else np.exp(eta0 + z * se)
    upper = np.full(m.shape, np.nan)
    prob = np.full(m.shape, np.nan)
    finite = ~np.isinf(m)
    over = phi > 1
    size, prob_nb = m / (phi - 1), 1 / phi
    nb, po = finite & over, finite & ~over
    prob[nb] = stats.nbinom.sf(yt[nb] - 1, size[nb], prob_nb[nb])
    prob[po] = stats.poisson.sf(yt[po] - 1, m[po])
    huge = finite & (m >= _HUGE_MEAN)
    nb, po = nb & ~huge, po & ~huge
    upper[nb] = stats.nbinom.ppf(1 - alpha, size[nb], prob_nb[nb])
    upper[po] = stats.poisson.ppf(1 - alpha, m[po])
    disp = np.where(over[huge], phi[huge], 1.0)
    sd = np.sqrt(disp * m[huge])
    upper[huge] = np.ceil(m[huge] + sd * (z + (z * z - 1) * (2 * disp - 1) / (6 * sd)))
    return upper, prob
