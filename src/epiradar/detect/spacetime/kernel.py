"""numba kernels of the scan: observed cylinders, replicate generation and replicate maxima.

Every statistic is written ``f[n] - c0 - n * c1``: ``f`` a table over the count ``n`` and
``c0, c1`` functions of the cylinder's expected count alone, which the replicates share. The
replicate scan therefore needs no logarithm in its inner loop, and a cylinder is only evaluated
for the replicates whose count reaches the smallest ``n`` that could beat the lowest running
maximum (an exact bound: the statistic increases with ``n`` above the expected count).

``mode`` 0 is the space-time permutation statistic (Kulldorff et al. 2005)
``n ln(n/e) + (N-n) ln((N-n)/(N-e))``; mode 1 the expectation-based Poisson statistic
(Neill 2009) ``n ln(n/b) + b - n``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

PERMUTATION = 0
POISSON = 1


def stat_table(mode: int, total: int, size: int) -> np.ndarray:
    """``f[n]`` for n = 0..size-1."""
    n = np.arange(size, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        nln = np.where(n > 0, n * np.log(n), 0.0)
        if mode == PERMUTATION:
            rest = total - n
            rln = np.where(rest > 0, rest * np.log(np.maximum(rest, 1)), 0.0)
            return nln + rln
        return nln - n


@njit(inline="always")
def _consts(mode, e, total):
    if mode == PERMUTATION:
        lr = math.log(total - e)
        return total * lr, math.log(e) - lr
    return -e, math.log(e)


@njit(cache=True, parallel=True)
def observed_best(
    mode, cum, ecum, zone_total, window_total, total, indptr, index, klen, min_cases, ftab
):
    """Best cylinder of each centre: (llr, prefix length, window length, n, e)."""
    n_centres = klen.shape[0]
    n_win = cum.shape[1]
    best_llr = np.zeros(n_centres)
    best_k = np.full(n_centres, -1, np.int64)
    best_w = np.full(n_centres, -1, np.int64)
    best_n = np.zeros(n_centres)
    best_e = np.zeros(n_centres)
    for c in prange(n_centres):
        acc = np.zeros(n_win, np.int64)
        acce = np.zeros(n_win)
        s = 0.0
        base = indptr[c]
        for k in range(klen[c]):
            z = index[base + k]
            s += zone_total[z]
            for w in range(n_win):
                acc[w] += cum[z, w]
                acce[w] += ecum[z, w]
            for w in range(n_win):
                n = acc[w]
                if n < min_cases:
                    continue
                e = s * window_total[w] / total if mode == PERMUTATION else acce[w]
                if n <= e or e <= 0.0:
                    continue
                c0, c1 = _consts(mode, e, total)
                v = ftab[n] - c0 - n * c1
                if v > best_llr[c]:
                    best_llr[c] = v
                    best_k[c] = k + 1
                    best_w[c] = w + 1
                    best_n[c] = n
                    best_e[c] = e
    return best_llr, best_k, best_w, best_n, best_e


@njit(inline="always")
def _threshold(lo, hi, bound, c0, c1, ftab):
    """Smallest n in [lo, hi] with f[n] - c0 - n c1 > bound; hi + 1 when none."""
    if ftab[hi] - c0 - hi * c1 <= bound:
        return hi + 1
    if ftab[lo] - c0 - lo * c1 > bound:
        return lo
    # gallop from lo (known <= bound) to a value above bound, then bisect
    step = 1
    good = hi
    bad = lo
    while True:
        probe = bad + step
        if probe >= good:
            break
        if ftab[probe] - c0 - probe * c1 > bound:
            good = probe
            break
        bad = probe
        step *= 2
    while good - bad > 1:
        mid = (good + bad) // 2
        if ftab[mid] - c0 - mid * c1 > bound:
            good = mid
        else:
            bad = mid
    return good


@njit(cache=True, parallel=True)
def replicate_max(
    mode,
    rcum,
    ecum,
    zone_total,
    window_total,
    total,
    indptr,
    index,
    klen,
    min_cases,
    ftab,
    n_chunks,
):
    """Maximum statistic of every replicate; ``rcum[zone, window, replicate]``."""
    n_centres = klen.shape[0]
    n_win = rcum.shape[1]
    n_rep = rcum.shape[2]
    top = ftab.shape[0] - 1
    best = np.zeros((n_chunks, n_rep))
    # each zone-window's largest count over the replicates: their sum over a centre's zones
    # bounds every replicate's count, so a threshold above it skips the replicate loop
    zmax = np.zeros((rcum.shape[0], n_win), np.int64)
    for z in prange(rcum.shape[0]):
        for w in range(n_win):
            m = 0
            for r in range(n_rep):
                if rcum[z, w, r] > m:
                    m = rcum[z, w, r]
            zmax[z, w] = m
    for ch in prange(n_chunks):
        acc = np.zeros((n_win, n_rep), np.int32)
        acce = np.zeros(n_win)
        thr = np.zeros(n_win, np.int64)
        ub = np.zeros(n_win, np.int64)
        row = best[ch]
        for c in range(ch, n_centres, n_chunks):
            bound = row.min()
            acc[:, :] = 0
            acce[:] = 0.0
            thr[:] = 0
            ub[:] = 0
            s = 0.0
            base = indptr[c]
            for k in range(klen[c]):
                z = index[base + k]
                s += zone_total[z]
                for w in range(n_win):
                    acce[w] += ecum[z, w]
                    ub[w] += zmax[z, w]
                    src = rcum[z, w]
                    dst = acc[w]
                    for r in range(n_rep):
                        dst[r] += src[r]
                for w in range(n_win):
                    if mode == PERMUTATION:
                        e = s * window_total[w] / total
                        hi = min(s, window_total[w])
                        hi = min(hi, top)
                    else:
                        e = acce[w]
                        hi = top
                    if e <= 0.0:
                        continue
                    lo = max(min_cases, int(math.floor(e)) + 1)
                    lo = max(lo, thr[w])  # the threshold only grows with e
                    if lo > hi:
                        thr[w] = lo
                        continue
                    c0, c1 = _consts(mode, e, total)
                    t = _threshold(lo, int(hi), bound, c0, c1, ftab)
                    thr[w] = t
                    if t > hi or t > ub[w]:
                        continue
                    dst = acc[w]
                    for r in range(n_rep):
                        n = dst[r]
                        if n >= t:
                            v = ftab[n] - c0 - n * c1
                            if v > row[r]:
                                row[r] = v
    out = np.zeros(n_rep)
    for r in range(n_rep):
        m = 0.0
        for ch in range(n_chunks):
            if best[ch, r] > m:
                m = best[ch, r]
        out[r] = m
    return out


@njit(cache=True, parallel=True)
def permuted_windows(case_zone, window_days, seeds, n_zones, n_chunks, out):
    """Replicates of the space-time permutation: case days shuffled, last days only.

    ``window_days[j]`` = cases on the j-th last day. A random permutation gives the last day's
    cases to its first ``window_days[0]`` positions, and so on; a partial Fisher-Yates shuffle
    of the first ``sum(window_days)`` positions draws exactly those. Swaps are undone so each
    replicate's draw depends only on its own seed. ``out[zone, w, r]`` = cases in the last
    ``w + 1`` days.
    """
    n_cases = case_zone.shape[0]
    n_win = window_days.shape[0]
    n_rep = seeds.shape[0]
    drawn = 0
    for j in range(n_win):
        drawn += window_days[j]
    day_of = np.empty(drawn, np.int64)
    pos = 0
    for j in range(n_win):
        for _ in range(window_days[j]):
            day_of[pos] = j
            pos += 1
    for ch in prange(n_chunks):
        arr = case_zone.copy()
        swaps = np.empty(drawn, np.int64)
        local = np.zeros((n_zones, n_win), np.int32)
        for r in range(ch, n_rep, n_chunks):
            np.random.seed(seeds[r])
            for i in range(drawn):
                j = np.random.randint(i, n_cases)
                swaps[i] = j
                tmp = arr[i]
                arr[i] = arr[j]
                arr[j] = tmp
                local[arr[i], day_of[i]] += 1
            for i in range(drawn - 1, -1, -1):
                j = swaps[i]
                tmp = arr[i]
                arr[i] = arr[j]
                arr[j] = tmp
            for z in range(n_zones):
                run = 0
                for w in range(n_win):
                    run += local[z, w]
                    local[z, w] = 0
                    out[z, w, r] = run


@njit(cache=True, parallel=True)
def poisson_windows(rate, seeds, n_chunks, out):
    """Replicates of the Poisson scan: ``rate[zone, j]`` = baseline on the j-th last day."""
    n_zones, n_win = rate.shape
    n_rep = seeds.shape[0]
    for ch in prange(n_chunks):
        for r in range(ch, n_rep, n_chunks):
            np.random.seed(seeds[r])
            for z in range(n_zones):
                run = 0
                for w in range(n_win):
                    lam = rate[z, w]
                    if lam > 0:
                        run += np.random.poisson(lam)
                    out[z, w, r] = run
