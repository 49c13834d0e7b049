"""Null distribution of the EARS C3 statistic, used as its approximate p-value.

C3 (Hutwagner et al. 2005) is ``S = X(t-2) + X(t-1) + X(t)`` with ``X = max(0, C2 - 1)``.
Treating the three C2 values as independent standard normals ``Z``, each ``X`` is a point mass
``Phi(1)`` at 0 plus the density ``phi(x + 1)`` on ``x > 0``, and

    P(S > s) = 3 Phi(1)^2 T1(s) + 3 Phi(1) T2(s) + T3(s),

where ``Tk`` is the tail of the sum of ``k`` positive parts. ``T1`` is exact; ``T2`` and ``T3``
are discrete convolutions of the exact cell masses on a 0.01 grid (relative error well under
1%), extended beyond the grid by the Gaussian-sum tail ``exp(-(s + 3)^2 / 6)``.

This is an approximation of the real false-alarm probability: consecutive C2 values share
baseline days (they are positively correlated) and small counts are not normal.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

_STEP = 0.01
_S_MAX = 32.0


@cache
def _log_tail_table() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Knots ``s`` and ``log P(S > s)`` on the grid ``0 <= s <= _S_MAX``."""
    n = int(round(_S_MAX / _STEP))
    edges = 1.0 + _STEP * np.arange(n + 1)
    cells = norm.sf(edges[:-1]) - norm.sf(edges[1:])  # P(j h <= Z - 1 < (j + 1) h)
    p0 = norm.cdf(1.0)
    s = _STEP * np.arange(n + 1)
    tail = 3.0 * p0**2 * norm.sf(1.0 + s)
    conv = cells
    for k in (2, 3):
        conv = np.convolve(conv, cells)
        # mass J sits at (J + k/2) h; spread over its cell, the tail at (J + (k - 1)/2) h is
        # the sum of the masses J' >= J: interpolate that tail onto the grid s
        knots = _STEP * (np.arange(conv.size) + (k - 1) / 2.0)
        survival = np.cumsum(conv[::-1])[::-1]
        weight = 3.0 * p0 if k == 2 else 1.0
        with np.errstate(divide="ignore"):  # the far tail underflows to 0
            log_survival = np.log(survival)
        tail += weight * np.exp(np.interp(s, knots, log_survival))
    return s, np.log(tail)


def c3_pvalue(score: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``P(S >= score)`` under the null above: 1 at 0 (no excess), NaN stays NaN."""
    x = np.asarray(score, dtype=float)
    p = np.where(np.isnan(x), np.nan, 1.0)
    positive = x > 0.0
    if np.any(positive):
        v = x[positive]
        knots, log_tail = _log_tail_table()
        log_p = np.interp(v, knots, log_tail)
        beyond = v > knots[-1]
        log_p[beyond] = log_tail[-1] - ((v[beyond] + 3.0) ** 2 - (knots[-1] + 3.0) ** 2) / 6.0
        p[positive] = np.exp(log_p)
    return p
