"""Short-term forecasts of daily case counts: a renewal-equation projection from the current Rt,
and a log-linear trend when Rt cannot be estimated.

Renewal projection (Fraser C, 2007, Estimating individual and household reproduction numbers
in an emerging epidemic, PLoS ONE 2(8):e758; Cori A et al., 2013, Am J Epidemiol
178(9):1505-1512, as in :func:`epiradar.trace.rt.estimate_rt`; the same projection as the R
package ``projections``, Jombart et al.): R is drawn once per path from the gamma posterior of
the last Rt window, then day by day ``I_{T+h} ~ Poisson(R * sum_s w_s I_{T+h-s})`` with ``w``
the discretised serial interval (EpiEstim's ``discr_si``) and the observed counts, then the
path's own draws, as the past. Quantiles over the paths give the median and the band.

Trend fallback (few cases, or no serial interval): a Poisson log-linear regression of the last
``window`` days' counts on time (IRLS), projected forward; paths draw the coefficients from
their normal approximation (covariance scaled by the Pearson overdispersion, at least 1) and
the counts from a negative binomial of that overdispersion (Poisson when it is 1). The daily
growth is capped at ``max_growth`` so a short burst does not explode over 14 days.

Pure: arrays in, :class:`Forecast` out; no database, no web.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import gamma

from epiradar.trace.rt import discr_si, estimate_rt

Method = Literal["renewal", "trend"]


@dataclass(frozen=True)
class Forecast:
    """A forecast of ``horizon`` days after the last observed one (day 1 = the next day).

    ``median``, ``lower``, ``upper``: quantiles of the simulated daily counts (``lower`` and
    ``upper`` bound the central ``level`` band, 90% by default); ``mean``: their mean.
    ``rt_*``: the posterior of R in the last window (renewal only); ``growth``: the daily growth
    rate of the trend (trend only); ``reason``: why the trend was used instead of Rt."""

    method: Method
    level: float
    median: npt.NDArray[np.float64]
    lower: npt.NDArray[np.float64]
    upper: npt.NDArray[np.float64]
    mean: npt.NDArray[np.float64]
    rt_mean: float | None = None
    rt_lower: float | None = None
    rt_upper: float | None = None
    growth: float | None = None
    reason: str | None = None
    paths: npt.NDArray[np.int64] | None = field(default=None, repr=False)

    @property
    def horizon(self) -> int:
        return int(self.median.size)


def _incidence(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    try:
        x = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError("incidence must be numeric daily counts") from exc
    if x.size == 0:
        raise ValueError("incidence is empty: needs at least one day of counts")
    bad = np.flatnonzero(~np.isfinite(x) | (x < 0))
    if bad.size:
        raise ValueError(
            f"incidence must be non-negative and finite (day {int(bad[0])}: {x[bad[0]]})"
        )
    return x


def _check_common(horizon: int, n_paths: int, level: float) -> None:
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive whole number of days (got {horizon})")
    if int(n_paths) != n_paths or n_paths < 1:
        raise ValueError(f"n_paths must be a positive integer (got {n_paths})")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (got {level})")


def serial_interval_weights(si_mean: float, si_sd: float, *, mass: float = 0.9999) -> np.ndarray:
    """EpiEstim's discretised serial interval ``w[0..K]`` (``w[0] = 0``), cut where the
    cumulative mass reaches ``mass`` and renormalised."""
    k = np.arange(0, int(np.ceil(si_mean + 12 * si_sd)) + 2)
    w = discr_si(k, si_mean, si_sd)
    cut = int(np.searchsorted(np.cumsum(w), mass * w.sum())) + 1
    w = w[: max(cut, 2)]
    return w / w.sum()


def renewal_paths(
    incidence: npt.ArrayLike,
    w: npt.ArrayLike,
    r: npt.ArrayLike,
    horizon: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """``[len(r), horizon]`` simulated future counts: one path per value of ``r`` (its R),
    ``I_{T+h} ~ Poisson(R * sum_{s>=1} w_s I_{T+h-s})`` over observed then simulated days."""
    past = _incidence(incidence)
    w = np.asarray(w, dtype=float).ravel()
    r = np.asarray(r, dtype=float).ravel()
    if w.size < 2 or w[0] != 0 or np.any(w < 0):
        raise ValueError("w must be a serial interval over 0, 1, 2, ... days with w[0] = 0")
    if np.any(~np.isfinite(r) | (r < 0)):
        raise ValueError("r must be non-negative and finite")
    n, k = past.size, w.size - 1
    full = np.zeros((r.size, n + horizon))
    full[:, :n] = past
    lags = w[1:]  # weights of days t-1, t-2, ..., t-k
    for h in range(horizon):
        t = n + h
        lo = max(0, t - k)
        recent = full[:, lo:t][:, ::-1]  # days t-1, t-2, ...
        lam = recent @ lags[: recent.shape[1]]
        full[:, t] = rng.poisson(r * lam)
    return full[:, n:].astype(np.int64)


def deterministic_renewal(
    incidence: npt.ArrayLike, w: npt.ArrayLike, r: float, horizon: int
) -> npt.NDArray[np.float64]:
    """The expected path ``I_{T+h} = R * sum_s w_s I_{T+h-s}`` (no noise): what the median of
    :func:`renewal_paths` follows when counts are large and R is fixed."""
    past = _incidence(incidence)
    w = np.asarray(w, dtype=float).ravel()
    full = np.concatenate([past, np.zeros(horizon)])
    n, k = past.size, w.size - 1
    for h in range(horizon):
        t = n + h
        lo = max(0, t - k)
        full[t] = r * float(full[lo:t][::-1] @ w[1 : 1 + t - lo])
    return full[n:]


def _summary(paths: np.ndarray, level: float) -> tuple[np.ndarray, ...]:
    tail = (1 - level) / 2
    lower, median, upper = np.quantile(paths, [tail, 0.5, 1 - tail], axis=0)
    return median, lower, upper, paths.mean(axis=0)


def renewal_forecast(
    incidence: npt.ArrayLike,
    *,
    si_mean: float,
    si_sd: float,
    horizon: int = 14,
    window: int = 7,
    mean_prior: float = 5.0,
    std_prior: float = 5.0,
    n_paths: int = 1000,
    level: float = 0.9,
    seed: int | np.random.Generator | None = None,
    keep_paths: bool = False,
) -> Forecast:
    """Renewal projection from the Rt posterior of the last ``window`` days (Cori et al. 2013).

    Raises ``ValueError`` when the data are too short for a window after the serial interval's
    mean (EpiEstim gives no estimate there)."""
    x = _incidence(incidence)
    _check_common(horizon, n_paths, level)
    if int(window) != window or window < 2:
        raise ValueError(f"window must be a whole number of days >= 2 (got {window})")
    if x.size < window + 1:
        raise ValueError(f"needs at least {window + 1} days of counts (got {x.size})")
    w = serial_interval_weights(si_mean, si_sd)
    table = estimate_rt(
        x,
        si_distr=np.concatenate([w, np.zeros(max(0, x.size + 1 - w.size))]),
        t_start=[x.size - window + 1],
        t_end=[x.size],
        mean_prior=mean_prior,
        std_prior=std_prior,
    )
    mean, std = float(table["mean"].iloc[0]), float(table["std"].iloc[0])
    if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
        raise ValueError("Rt cannot be estimated: the window ends before the serial interval mean")
    shape, scale = (mean / std) ** 2, std**2 / mean
    rng = np.random.default_rng(seed)
    r = rng.gamma(shape, scale, size=int(n_paths))
    paths = renewal_paths(x, w, r, int(horizon), rng)
    median, lower, upper, avg = _summary(paths, level)
    tail = (1 - level) / 2
    r_lower, r_upper = gamma.ppf([tail, 1 - tail], shape, scale=scale)
    return Forecast(
        method="renewal",
        level=level,
        median=median,
        lower=lower,
        upper=upper,
        mean=avg,
        rt_mean=mean,
        rt_lower=float(r_lower),
        rt_upper=float(r_upper),
        paths=paths if keep_paths else None,
    )


def _poisson_loglinear(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(beta, cov, phi)`` of ``log E[y_t] = b0 + b1 t`` by IRLS, ``t = 0..n-1`` centred on
    the last day; ``phi`` is the Pearson overdispersion (at least 1)."""
    n = y.size
    t = np.arange(n, dtype=float) - (n - 1)
    design = np.column_stack([np.ones(n), t])
    beta = np.array([np.log(max(y.mean(), 1e-9)), 0.0])
    for _ in range(50):
        mu = np.exp(design @ beta)
        z = design @ beta + (y - mu) / mu
        wt = mu
        xtwx = design.T @ (design * wt[:, None])
        new = np.linalg.solve(xtwx, design.T @ (wt * z))
        if np.max(np.abs(new - beta)) < 1e-10:
            beta = new
            break
        beta = new
    mu = np.exp(design @ beta)
    cov = np.linalg.inv(design.T @ (design * mu[:, None]))
    phi = max(1.0, float(np.sum((y - mu) ** 2 / mu) / max(n - 2, 1)))
    return beta, cov * phi, phi


def trend_forecast(
    incidence: npt.ArrayLike,
    *,
    horizon: int = 14,
    window: int = 14,
    max_growth: float = 0.1,
    n_paths: int = 1000,
    level: float = 0.9,
    seed: int | np.random.Generator | None = None,
    reason: str | None = None,
) -> Forecast:
    """Log-linear trend of the last ``window`` days projected ``horizon`` days (module doc).
    No case in the window forecasts zero."""
    x = _incidence(incidence)
    _check_common(horizon, n_paths, level)
    if not max_growth > 0:
        raise ValueError(f"max_growth must be > 0 (got {max_growth})")
    y = x[-int(window) :] if window >= 2 else x
    h = np.arange(1, int(horizon) + 1, dtype=float)
    rng = np.random.default_rng(seed)
    if y.sum() == 0:
        zeros = np.zeros(int(horizon))
        return Forecast("trend", level, zeros, zeros, zeros, zeros, growth=0.0, reason=reason)
    if y.size < 3:
        beta, cov, phi = np.array([np.log(y.mean()), 0.0]), np.diag([1.0 / y.sum(), 0.0]), 1.0
    else:
        beta, cov, phi = _poisson_loglinear(y)
    cap = np.log1p(max_growth)
    coef = rng.multivariate_normal(beta, cov, size=int(n_paths), method="cholesky")
    slope = np.clip(coef[:, 1], -cap, cap)
    mu = np.exp(coef[:, [0]] + slope[:, None] * h[None, :])
    if phi > 1.0:  # negative binomial with variance phi * mu
        p = 1.0 / phi
        size = mu * p / (1 - p)
        paths = rng.negative_binomial(size, p)
    else:
        paths = rng.poisson(mu)
    median, lower, upper, avg = _summary(paths, level)
    growth = float(np.expm1(np.clip(beta[1], -cap, cap)))
    return Forecast("trend", level, median, lower, upper, avg, growth=growth, reason=reason)


def forecast_counts(
    incidence: npt.ArrayLike,
    *,
    si_mean: float | None,
    si_sd: float | None,
    horizon: int = 14,
    window: int = 7,
    mean_prior: float = 5.0,
    std_prior: float = 5.0,
    min_window_cases: int = 10,
    n_paths: int = 1000,
    level: float = 0.9,
    seed: int | np.random.Generator | None = None,
) -> Forecast:
    """The renewal projection when Rt can be estimated (a serial interval, at least
    ``min_window_cases`` cases in the last window, enough days), else the trend, saying why."""
    x = _incidence(incidence)
    _check_common(horizon, n_paths, level)
    recent = float(x[-int(window) :].sum())
    if si_mean is None or si_sd is None:
        reason = "no serial interval for this syndrome"
    elif recent < min_window_cases:
        reason = (
            f"{recent:.0f} cases in the last {window} days; Rt needs at least {min_window_cases}"
        )
    elif x.size < max(window + 1, int(np.ceil(si_mean)) + window):
        reason = f"{x.size} days of counts are too few for an Rt window of {window} days"
    else:
        return renewal_forecast(
            x,
            si_mean=si_mean,
            si_sd=si_sd,
            horizon=horizon,
            window=window,
            mean_prior=mean_prior,
            std_prior=std_prior,
            n_paths=n_paths,
            level=level,
            seed=seed,
        )
    return trend_forecast(
        x, horizon=horizon, n_paths=n_paths, level=level, seed=seed, reason=reason
    )
