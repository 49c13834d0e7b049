"""Time-varying reproduction numbers: Cori et al. and Wallinga & Teunis, as EpiEstim 2.2-4.

Cori A, Ferguson NM, Fraser C, Cauchemez S (2013). A new framework and software to estimate
time-varying reproduction numbers during epidemics. Am J Epidemiol 178(9):1505-1512.
Wallinga J, Teunis P (2004). Different epidemic curves for severe acute respiratory syndrome
reveal similar impacts of control measures. Am J Epidemiol 160(6):509-516.

Conventions follow EpiEstim's ``estimate_R`` / ``wallinga_teunis`` / ``discr_si``: time steps
are 1-based in ``t_start, t_end``; all cases of the first time step count as imported; missing
counts (NaN) count as 0; the serial interval ``w`` is a distribution over ``0, 1, 2, ...``
time steps with ``w[0] = 0``; the total infectiousness is ``Lambda_t = sum_k w_k I_{t-k}`` over
local and imported cases. Given the window ``[t_start, t_end]`` and a gamma prior (mean
``mean_prior``, sd ``std_prior``), R's posterior is gamma with shape ``a = mean_prior^2 /
std_prior^2 + sum I_local`` and scale ``1 / (1 / b + sum Lambda)``, ``b = std_prior^2 /
mean_prior``; windows ending at or before the serial interval's mean give NaN, as in EpiEstim.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import gammainc
from scipy.stats import gamma

RT_COLUMNS = [
    "t_start",
    "t_end",
    "mean",
    "std",
    "q025",
    "q05",
    "q25",
    "median",
    "q75",
    "q95",
    "q975",
]
WT_COLUMNS = ["t_start", "t_end", "mean", "std", "q025", "q975"]
_PROBS = (0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975)
_BLOCK = 4_000_000  # multinomial draws per numpy call in wallinga_teunis


def discr_si(k: npt.ArrayLike, mean: float, sd: float) -> npt.NDArray[np.float64]:
    """EpiEstim's discretised serial interval at ``k`` time steps (Cori et al. 2013, Web
    Appendix 11): ``1 + Gamma((mean - 1)^2 / sd^2, scale = sd^2 / (mean - 1))`` spread over
    integer days by linear interpolation, negatives from rounding set to 0."""
    k = np.asarray(k, dtype=float)
    if not mean > 1:
        raise ValueError(f"si_mean must be > 1 (got {mean})")
    if not sd > 0:
        raise ValueError(f"si_sd must be > 0 (got {sd})")
    if np.any(k < 0):
        raise ValueError("k must be non-negative")
    a = ((mean - 1) / sd) ** 2
    b = sd**2 / (mean - 1)

    def cdf(x, shape):
        return np.where(x > 0, gammainc(shape, np.maximum(x, 0) / b), 0.0)

    res = k * cdf(k, a) + (k - 2) * cdf(k - 2, a) - 2 * (k - 1) * cdf(k - 1, a)
    res = res + a * b * (2 * cdf(k - 1, a + 1) - cdf(k - 2, a + 1) - cdf(k, a + 1))
    return np.maximum(res, 0.0)


def estimate_rt(
    incidence,
    si_mean: float | None = None,
    si_sd: float | None = None,
    si_distr: npt.ArrayLike | None = None,
    window: int = 7,
    mean_prior: float = 5.0,
    std_prior: float = 5.0,
    t_start: Sequence[int] | None = None,
    t_end: Sequence[int] | None = None,
    imported: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """Instantaneous reproduction number over sliding (or given) windows (Cori et al. 2013).

    ``incidence``: counts per time step — an array, a Series (a date index gives the
    ``date_start, date_end`` columns), or a DataFrame with ``local`` and ``imported`` columns
    or an ``I`` column (dates from a ``dates`` column or a date index); ``imported``: imported
    counts when ``incidence`` holds the local ones. Serial interval: ``si_mean, si_sd``
    (EpiEstim's "parametric_si", discretised by :func:`discr_si`) or ``si_distr``
    ("non_parametric_si"). Windows: ``t_start = 2 .. T - window + 1``, ``t_end = t_start +
    window - 1`` unless given (1-based). One row per window: ``t_start, t_end`` (+ dates),
    posterior ``mean, std`` and quantiles ``q025, q05, q25, median, q75, q95, q975``.
    """
    local, imp, dates = _incidence(incidence, imported)
    n = local.size
    w = _serial_interval(si_mean, si_sd, si_distr, n)
    starts, ends = _windows(n, window, t_start, t_end)
    if not mean_prior > 0:
        raise ValueError(f"mean_prior must be > 0 (got {mean_prior})")
    if not std_prior > 0:
        raise ValueError(f"std_prior must be > 0 (got {std_prior})")
    total = local + imp
    lam = np.convolve(total, w[:n])[:n]
    a_prior = (mean_prior / std_prior) ** 2
    b_prior = std_prior**2 / mean_prior
    mean_si = float(np.sum(w * np.arange(w.size)))
    valid = ends > mean_si
    shape = np.where(valid, a_prior + _window_sums(local, starts, ends), np.nan)
    scale = np.where(valid, 1.0 / (1.0 / b_prior + _window_sums(lam, starts, ends)), np.nan)
    out = pd.DataFrame({"t_start": starts, "t_end": ends})
    out["mean"] = shape * scale
    out["std"] = np.sqrt(shape) * scale
    quantiles = gamma.ppf(np.asarray(_PROBS)[:, None], shape, scale=scale)
    for name, q in zip(RT_COLUMNS[4:], quantiles, strict=True):
        out[name] = q
    return _with_dates(out, dates)


def wallinga_teunis(
    incidence,
    si_mean: float | None = None,
    si_sd: float | None = None,
    t_start: Sequence[int] | None = None,
    t_end: Sequence[int] | None = None,
    n_sim: int = 100,
    *,
    si_distr: npt.ArrayLike | None = None,
    window: int = 7,
    imported: npt.ArrayLike | None = None,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Case reproduction numbers averaged over windows (Wallinga & Teunis 2004), as EpiEstim.

    Each case at ``t`` was infected by a case at ``s < t`` with probability ``w[t - s] /
    Lambda_t`` (local and imported cases alike); a case's expected offspring, averaged over the
    cases of a window, gives ``mean``. ``std, q025, q975`` come from ``n_sim`` sampled
    transmission trees (``seed``), as EpiEstim; ``n_sim = 0`` leaves them NaN. Inputs and
    default windows as :func:`estimate_rt`; counts must be whole numbers. Windows without
    cases are dropped, and so are leading ones as EpiEstim drops them.
    """
    local, imp, dates = _incidence(incidence, imported)
    total = local + imp
    if np.any(total != np.round(total)):
        row = int(np.flatnonzero(total != np.round(total))[0])
        raise ValueError(f"incidence must be whole numbers of cases (row {row})")
    counts = total.astype(np.int64)
    n = counts.size
    w = _serial_interval(si_mean, si_sd, si_distr, n)[:n]
    starts, ends = _windows(n, window, t_start, t_end)
    if int(n_sim) != n_sim or n_sim < 0:
        raise ValueError(f"n_sim must be a non-negative integer (got {n_sim})")
    # EpiEstim's first step: i = the first window with cases before its start; it then drops
    # the windows whose *t_start* is below that window *index* (its own quirk, kept for parity).
    before = np.concatenate([[0], np.cumsum(counts)])[starts - 1]
    if not np.any(before > 0):
        raise ValueError("incidence has no case before any window's t_start")
    first = int(np.flatnonzero(before > 0)[0]) + 1
    keep = starts >= first
    starts, ends = starts[keep], ends[keep]
    cases = _window_sums(counts, starts, ends)
    starts, ends, cases = starts[cases > 0], ends[cases > 0], cases[cases > 0]

    lam = np.convolve(counts, w)[:n]
    ratio = np.divide(counts, lam, out=np.zeros(n), where=lam > 0)
    offspring = np.convolve(ratio[::-1], w)[:n][::-1]  # expected offspring of a case at j
    out = pd.DataFrame({"t_start": starts, "t_end": ends})
    out["mean"] = _window_sums(counts * offspring, starts, ends) / cases
    out["std"] = out["q025"] = out["q975"] = np.nan
    if n_sim > 0:
        sims = _offspring_draws(counts, w, lam, int(n_sim), np.random.default_rng(seed))
        cum = np.concatenate([np.zeros((n_sim, 1), np.int64), np.cumsum(sims, axis=1)], axis=1)
        r_sim = (cum[:, ends] - cum[:, starts - 1]) / cases
        out["std"] = r_sim.std(axis=0, ddof=1) if n_sim > 1 else np.nan
        out["q025"], out["q975"] = np.quantile(r_sim, [0.025, 0.975], axis=0)
    return _with_dates(out, dates)


def _offspring_draws(counts, w, lam, n_sim, rng) -> np.ndarray:
    """``[n_sim, T]`` offspring per infector time step in sampled trees: the day-``t`` cases'
    infectors are multinomial over earlier days with weights ``w[t - s] I_s``."""
    n = counts.size
    offspring = np.zeros((n_sim, n), dtype=np.int64)
    days = np.flatnonzero((counts > 0) & (lam > 0))
    lag = np.arange(n)[:, None] - np.arange(n)[None, :]
    step = max(1, _BLOCK // max(1, n_sim * n))
    for lo in range(0, days.size, step):
        t = days[lo : lo + step]
        lags = lag[t]
        p = np.where(lags > 0, w[np.clip(lags, 0, n - 1)], 0.0) * counts[None, :] / lam[t, None]
        p /= p.sum(axis=1, keepdims=True)
        draws = rng.multinomial(counts[t], p, size=(n_sim, t.size))
        offspring += draws.sum(axis=1)
    return offspring


def _incidence(incidence, imported):
    """``(local, imported, dates)`` as float arrays (first step's cases imported, NaN -> 0)."""
    dates = None
    if isinstance(incidence, pd.DataFrame):
        frame = incidence
        if "dates" in frame.columns:
            dates = pd.DatetimeIndex(pd.to_datetime(frame["dates"]))
            frame = frame.drop(columns="dates")
        elif _is_dates(frame.index):
            dates = pd.DatetimeIndex(frame.index)
        if {"local", "imported"} <= set(frame.columns):
            if imported is not None:
                raise ValueError("give imported cases either as a column or as imported, not both")
            local, imp = frame["local"], frame["imported"]
        elif "I" in frame.columns:
            local, imp = frame["I"], None
        elif frame.shape[1] == 1:
            local, imp = frame.iloc[:, 0], None
        else:
            raise ValueError("incidence DataFrame needs columns local and imported, or I")
    else:
        if isinstance(incidence, pd.Series) and _is_dates(incidence.index):
            dates = pd.DatetimeIndex(incidence.index)
        local, imp = incidence, None
    if imp is None:
        imp = imported
    local = _counts(local, "incidence")
    imp = np.zeros_like(local) if imp is None else _counts(imp, "imported")
    if imp.size != local.size:
        raise ValueError(f"imported has {imp.size} time steps, incidence {local.size}")
    if local.size < 2:
        raise ValueError("incidence needs at least 2 time steps")
    imp[0] += local[0]
    local[0] = 0.0
    if dates is not None:
        steps = np.diff(dates.asi8)
        if dates.hasnans or np.any(steps <= 0) or np.unique(steps).size > 1:
            raise ValueError("incidence dates must be increasing at a constant step, none missing")
    return local, imp, dates


def _counts(values, name) -> np.ndarray:
    try:
        x = np.array(values, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric counts") from exc
    x[np.isnan(x)] = 0.0
    bad = np.flatnonzero(~np.isfinite(x) | (x < 0))
    if bad.size:
        raise ValueError(f"{name} must be non-negative and finite (row {int(bad[0])}: {x[bad[0]]})")
    return x


def _is_dates(index: pd.Index) -> bool:
    if isinstance(index, pd.DatetimeIndex):
        return True
    return index.dtype == object and pd.api.types.infer_dtype(index) in ("date", "datetime")


def _serial_interval(si_mean, si_sd, si_distr, n) -> np.ndarray:
    """The serial interval over ``0 .. max(T, len(si_distr) - 1)`` steps, as EpiEstim pads it."""
    if si_distr is not None:
        if si_mean is not None or si_sd is not None:
            raise ValueError("give either si_mean and si_sd, or si_distr, not both")
        w = np.asarray(si_distr, dtype=float).ravel()
        if w.size == 0 or not np.all(np.isfinite(w)):
            raise ValueError("si_distr must be a non-empty vector of finite probabilities")
        if w[0] != 0:
            raise ValueError(f"si_distr[0] must be 0 (got {w[0]}): no serial interval of 0 steps")
        if np.any(w < 0):
            raise ValueError("si_distr must be non-negative")
        if abs(w.sum() - 1) > 0.01:
            raise ValueError(f"si_distr must sum to 1 (sums to {w.sum():.6g})")
    elif si_mean is None or si_sd is None:
        raise ValueError("missing serial interval: give si_mean and si_sd, or si_distr")
    else:
        w = discr_si(np.arange(n), si_mean, si_sd)
    return np.concatenate([w, np.zeros(max(0, n + 1 - w.size))])


def _windows(n, window, t_start, t_end):
    if t_start is None and t_end is None:
        if int(window) != window or window < 1:
            raise ValueError(f"window must be a positive integer (got {window})")
        if n - window + 1 < 2:
            raise ValueError(f"window ({window}) is longer than the data allow ({n} time steps)")
        starts = np.arange(2, n - window + 2)
        return starts, starts + int(window) - 1
    if t_start is None or t_end is None:
        raise ValueError("give both t_start and t_end, or neither")
    starts = np.atleast_1d(np.asarray(t_start))
    ends = np.atleast_1d(np.asarray(t_end))
    if starts.ndim != 1 or starts.shape != ends.shape or starts.size == 0:
        raise ValueError("t_start and t_end must be non-empty vectors of the same length")
    for name, v in (("t_start", starts), ("t_end", ends)):
        if not np.issubdtype(v.dtype, np.number) or np.any(v != np.round(v)):
            raise ValueError(f"{name} must be integers")
        if np.any((v < 2) | (v > n)):
            raise ValueError(f"{name} must be between 2 and the number of time steps ({n})")
    if np.any(starts > ends):
        raise ValueError("t_start must be <= t_end in every window")
    return starts.astype(np.int64), ends.astype(np.int64)


def _window_sums(x: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Sum of ``x`` over each 1-based window, summed directly (no cumulative-sum cancellation)."""
    out = np.empty(starts.size, dtype=np.result_type(x, np.float64))
    lengths = ends - starts + 1
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        sums = np.lib.stride_tricks.sliding_window_view(x, int(length)).sum(axis=1)
        out[rows] = sums[starts[rows] - 1]
    return out


def _with_dates(out: pd.DataFrame, dates) -> pd.DataFrame:
    if dates is not None:
        out.insert(2, "date_start", dates[out["t_start"].to_numpy() - 1])
        out.insert(3, "date_end", dates[out["t_end"].to_numpy() - 1])
    return out
