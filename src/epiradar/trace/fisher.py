"""Fisher's exact test on many 2x2 tables, the conditional odds ratio, and BH q-values.

Fisher RA (1935). The logic of inductive inference. J R Stat Soc 98(1):39-82.
Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate: a practical and powerful
approach to multiple testing. J R Stat Soc B 57(1):289-300.

Tables are ``[[a, b], [c, d]]``: rows cases / controls, columns exposed / unexposed. With the
margins fixed, ``a`` is (noncentral) hypergeometric; the definitions follow R's
``fisher.test``: the conditional maximum-likelihood odds ratio solves ``E[a | OR] = a``, the
confidence limits solve ``P(A >= a | OR) = alpha/2`` and ``P(A <= a | OR) = alpha/2``, and the
two-sided p-value sums the tables no more likely than the observed one (relative tolerance
``1e-7``). R finds these roots with ``uniroot``'s default tolerance (``1.2e-4`` on the odds ratio when it
is below 1, on its inverse above 1: R's upper limits of large odds ratios are off by several
percent); here they are solved to machine precision, or, with ``r_compatible=True``, with R's
own search (Brent's zeroin as in R's ``uniroot``) to reproduce ``fisher.test`` to the digit.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq
from scipy.stats import hypergeom

Alternative = Literal["greater", "less", "two-sided"]
_REL_ERR = 1.0 + 1e-7


def _margins(a, b, c, d):
    a, b, c, d = (np.asarray(v, dtype=np.int64) for v in (a, b, c, d))
    if np.any((a < 0) | (b < 0) | (c < 0) | (d < 0)):
        raise ValueError("table cells must be non-negative")
    return a, a + c, b + d, a + b  # x, m (exposed), n (unexposed), k (cases)


def fisher_pvalue(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    c: npt.ArrayLike,
    d: npt.ArrayLike,
    *,
    alternative: Alternative = "greater",
) -> npt.NDArray[np.float64]:
    """Fisher's exact p-value of every table ``[[a, b], [c, d]]`` at once."""
    x, m, n, k = _margins(a, b, c, d)
    if alternative == "greater":
        return np.asarray(hypergeom.sf(x - 1, m + n, m, k), dtype=float)
    if alternative == "less":
        return np.asarray(hypergeom.cdf(x, m + n, m, k), dtype=float)
    if alternative != "two-sided":
        raise ValueError(f"unknown alternative {alternative!r}")
    lo = np.maximum(0, k - n)
    hi = np.minimum(k, m)
    width = int((hi - lo).max(initial=0)) + 1
    support = lo[..., None] + np.arange(width)
    valid = support <= hi[..., None]
    log_d = np.where(
        valid, hypergeom.logpmf(support, (m + n)[..., None], m[..., None], k[..., None]), -np.inf
    )
    dens = np.exp(log_d - log_d.max(axis=-1, keepdims=True))
    dens /= dens.sum(axis=-1, keepdims=True)
    observed = np.take_along_axis(dens, (x - lo)[..., None], axis=-1)
    return np.where(dens <= observed * _REL_ERR, dens, 0.0).sum(axis=-1)


def conditional_odds_ratio(
    a: int, b: int, c: int, d: int, *, conf_level: float = 0.95, r_compatible: bool = False
) -> tuple[float, float, float]:
    """Conditional MLE of the odds ratio and its exact two-sided confidence interval."""
    if r_compatible:
        return _r_fisher_or(a, b, c, d, conf_level)
    x, m, n, k = (int(v) for v in _margins(a, b, c, d))
    lo, hi = max(0, k - n), min(k, m)
    support = np.arange(lo, hi + 1)
    log_dc = hypergeom.logpmf(support, m + n, m, k)

    def weights(theta: float) -> np.ndarray:
        w = np.exp(log_dc + theta * support - np.max(log_dc + theta * support))
        return w / w.sum()

    def solve(f) -> float:  # f increasing in theta = log(odds ratio)
        low, high = -1.0, 1.0
        while f(low) > 0:
            low *= 2
        while f(high) < 0:
            high *= 2
        return float(np.exp(brentq(f, low, high, xtol=1e-13, rtol=4 * np.finfo(float).eps)))

    alpha = (1.0 - conf_level) / 2.0
    estimate = 0.0 if x == lo else np.inf if x == hi else solve(lambda t: weights(t) @ support - x)
    ci_low = 0.0 if x == lo else solve(lambda t: weights(t)[support >= x].sum() - alpha)
    ci_high = np.inf if x == hi else solve(lambda t: alpha - weights(t)[support <= x].sum())
    return estimate, ci_low, ci_high


def bh_qvalues(pvalues: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values (R ``p.adjust(method = "BH")``)."""
    p = np.asarray(pvalues, dtype=float)
    n = p.size
    if n == 0:
        return p.copy()
    order = np.argsort(-p, kind="stable")
    ranks = np.arange(n, 0, -1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(n / ranks * p[order]))
    q = np.empty(n)
    q[order] = adjusted
    return q


def _r_fisher_or(a: int, b: int, c: int, d: int, conf_level: float) -> tuple[float, float, float]:
    """R ``fisher.test``'s estimate and conf.int, root searches included."""
    x, m, n, k = (int(v) for v in _margins(a, b, c, d))
    lo, hi = max(0, k - n), min(k, m)
    support = np.arange(lo, hi + 1)
    log_dc = hypergeom.logpmf(support, m + n, m, k)

    def dn(ncp: float) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            e = log_dc + np.log(ncp) * support
        w = np.exp(e - e.max())
        return w / w.sum()

    def mean(ncp: float) -> float:
        return lo if ncp == 0 else hi if ncp == np.inf else float(support @ dn(ncp))

    def tail(ncp: float, upper: bool) -> float:
        if ncp == 1:
            return float(
                hypergeom.sf(x - 1, m + n, m, k) if upper else hypergeom.cdf(x, m + n, m, k)
            )
        if ncp == 0:
            return float(x <= lo if upper else x >= lo)
        return float(dn(ncp)[support >= x if upper else support <= x].sum())

    def inverted(f, target: float, at_one: float) -> float:  # R: root in (0, 1) or 1 / root
        if at_one > target:
            return _uniroot(lambda t: f(t) - target, 0.0, 1.0)
        if at_one < target:
            return 1.0 / _uniroot(lambda t: f(1.0 / t) - target, np.finfo(float).eps, 1.0)
        return 1.0

    alpha = (1.0 - conf_level) / 2.0
    if x == lo:
        estimate = 0.0
    elif x == hi:
        estimate = np.inf
    else:
        estimate = inverted(mean, x, mean(1.0))
    ci_low = 0.0 if x == lo else inverted(lambda t: tail(t, True), alpha, tail(1.0, True))
    # P(A <= x) falls as the odds ratio grows: search its mirror (zeroin is sign-symmetric)
    ci_high = np.inf if x == hi else inverted(lambda t: -tail(t, False), -alpha, -tail(1.0, False))
    return estimate, ci_low, ci_high


def _uniroot(f, lower: float, upper: float, tol: float = np.finfo(float).eps ** 0.25) -> float:
    """Brent's zeroin as run by R ``uniroot`` (same steps, tolerance and iteration limit)."""
    a, b, fa, fb = lower, upper, f(lower), f(upper)
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(1001):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * np.finfo(float).eps * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p, q = cb * t1, 1.0 - t1
            else:
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < 0.75 * cb * q - abs(tol_act * q) / 2 and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b
