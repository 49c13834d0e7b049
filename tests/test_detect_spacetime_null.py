"""Space-time scans under the null: Monte Carlo p-values must be uniform.

A Monte Carlo test (Dwass 1957) is exact when the observed data and the replicates are
exchangeable under the null hypothesis, whatever the statistic. So if data are simulated from
exactly the null each replicate generator assumes, the most likely cluster's p-value must be
uniform; a replicate generator that does not match that null (for instance one that draws the
wrong days, or replicates scored with other expected counts than the data) breaks the
uniformity, and with a couple of hundred data sets a Kolmogorov-Smirnov test notices.

- Permutation scan: counts ~ Poisson(a_zone * b_day), with zone and day (weekday, trend)
  effects and no space-time interaction. Given the zone totals and the day totals such a table
  is distributed exactly as a random assignment of the case days to the cases, which is what
  the replicates draw.
- Poisson scan: counts ~ Poisson(baseline), the replicates' own model.

Besides uniformity: on tiny problems the p-values and the whole distribution of the replicate
maxima are checked against the exact null (all tables with the observed margins / all Poisson
outcomes enumerated), and on a 36-zone problem the replicate maxima are compared with an
independent numpy Monte Carlo (two-sample KS).

The p-values with ``n_sim = 99`` live on {1/100, ..., 100/100}, so a KS test against the
continuous uniform would reject them for being discrete. Two ways around it, both used:

1. a randomised p-value (the observed statistic's rank among the 100 values with ties broken
   at random, then spread uniformly over its 1/100 cell): with ``G = #(null > llr)`` and
   ``E = #(null == llr)``, ``p_rand = (G + U (E + 1)) / (n_sim + 1)``, ``U ~ U(0, 1)``. Under
   the null the observed statistic is equally likely to hold any of the n_sim + 1 ranks, so
   ``p_rand`` is exactly U(0, 1); it is never above the reported ``p = (1 + G + E)/(n_sim+1)``.
   KS against U(0, 1) applies as is.
2. the reported (discrete) p-values themselves: ``P(p <= k/100) <= k/100`` (equality without
   ties), checked at 0.05 and 0.5 with exact binomial tests.

Thresholds: every data set, scan and jitter seed is fixed, so the results are deterministic;
the assertions use a 0.001 level, so that a legitimate change of the random streams (which
redraws all the p-values) fails the file with probability about 0.001 per check. On the
seeds below the KS p-values are far above it (see ``test_*_uniform``'s messages).

What breaks it (measured once on these seeds, with the implementation patched in a scratch
copy; nothing here patches it):
- expected counts from the zones' totals inside the window instead of over the whole period
  (a "wrong expected"): KS D = 0.95, p = 6e-259.
- Poisson replicates drawn from the first ``max_days`` days of the baseline instead of the
  last: D = 0.27, p = 1e-13.
- the Poisson scan told 0.85 x the true baseline: p = 8e-15 on 100 data sets (kept below as
  ``test_poisson_wrong_expected_is_rejected``).
- p-values computed against replicate maxima 20% too small: p = 6e-24 (permutation), 5e-13
  (Poisson) (kept below as ``test_biased_p_rejected``).
Some bugs keep the p-values (nearly) uniform and are caught by the other tests instead:
replicates that shuffle only the cases inside the window (a valid but different, conditional
test for these data: exact test 2178/9999 replicates >= observed where the exact probability
is 0.358; independent Monte Carlo D = 0.52), replicates that ignore ``min_cases`` (the exact
d3-m3 case), Poisson replicates one day short (KS p = 0.14 on 200 data sets; exact test
2231/9999 vs 0.307).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln

from epiradar.detect.spacetime import permutation_scan, poisson_scan

N_DATA = 200  # data sets per model
N_SIM = 99
ALPHA = 1e-3
NX = NY = 10
N_DAYS = 60
COORDS = np.array([(i % NX, i // NX) for i in range(NX * NY)], dtype=float)

PERM_KW = dict(max_radius=3.0, max_fraction=0.5, max_days=7, min_cases=2)
POIS_KW = dict(max_neighbors=15, max_fraction=0.2, max_days=3, min_cases=3)


def _effects(rng: np.random.Generator, rate: float) -> np.ndarray:
    """Expected counts a_zone * b_day: zone effects, a weekday pattern and a mild trend."""
    zone = rng.gamma(3.0, 1.0 / 3.0, size=NX * NY)
    t = np.arange(N_DAYS)
    weekday = np.array([1.3, 1.1, 1.0, 1.0, 0.9, 0.6, 0.5])[(t + int(rng.integers(7))) % 7]
    trend = np.exp(rng.normal(0.0, 0.3) * t / N_DAYS)
    return rate * np.outer(zone, weekday * trend)


@functools.cache
def _null_runs(model: str, scale: float = 1.0, n_data: int = N_DATA) -> tuple[np.ndarray, ...]:
    """Per data set: (G, E, reported p, observed LLR, null max LLRs)."""
    g_list, e_list, p_list, llr_list, nulls = [], [], [], [], []
    for i in range(n_data):
        rng = np.random.default_rng([20261126, i, 0 if model == "permutation" else 1])
        if model == "permutation":
            lam = _effects(rng, rate=1.0)
            counts = rng.poisson(lam)
            res = permutation_scan(counts, COORDS, n_sim=N_SIM, seed=1000 + i, **PERM_KW)
        else:
            baseline = _effects(rng, rate=0.6)
            counts = rng.poisson(baseline)
            # scale != 1: the scan is told a wrong expected count (data from the baseline,
            # replicates from scale x baseline)
            res = poisson_scan(
                counts, scale * baseline, COORDS, n_sim=N_SIM, seed=1000 + i, **POIS_KW
            )
        null = np.asarray(res.null_llr, dtype=float)
        assert len(null) == N_SIM
        mlc = res.most_likely
        llr = mlc.llr if mlc is not None else 0.0
        g = int(np.sum(null > llr))
        e = int(np.sum(null == llr))
        if mlc is not None:
            # the reported p is the Monte Carlo p of the same replicates
            assert mlc.p_value == pytest.approx((1 + g + e) / (N_SIM + 1), abs=1e-12)
            p_list.append(mlc.p_value)
        else:  # pragma: no cover - never happens with these data
            p_list.append(1.0)
        g_list.append(g)
        e_list.append(e)
        llr_list.append(llr)
        nulls.append(null)
    return (
        np.array(g_list),
        np.array(e_list),
        np.array(p_list),
        np.array(llr_list),
        np.array(nulls),
    )


def _randomised(g: np.ndarray, e: np.ndarray, seed: int) -> np.ndarray:
    u = np.random.default_rng(seed).uniform(size=len(g))
    return (g + u * (e + 1)) / (N_SIM + 1)


def _check_uniform(model: str) -> None:
    g, e, p, _, _ = _null_runs(model)
    p_rand = _randomised(g, e, seed=7)
    assert np.all(p_rand <= p + 1e-12)
    ks = stats.kstest(p_rand, "uniform")
    assert ks.pvalue > ALPHA, (
        f"{model}: most-likely-cluster p-values are not uniform under the null "
        f"(KS D={ks.statistic:.3f}, p={ks.pvalue:.2e})"
    )
    # discrete check on the reported p-values: P(p <= 0.05) = 0.05, P(p <= 0.5) = 0.5
    for level in (0.05, 0.5):
        k = int(np.sum(p <= level + 1e-12))
        bt = stats.binomtest(k, len(p), level)
        assert bt.pvalue > ALPHA, f"{model}: {k}/{len(p)} p-values <= {level}"
    # the null maxima are not degenerate
    _, _, _, llr, nulls = _null_runs(model)
    assert np.all(nulls >= 0) and np.all(llr > 0)
    assert np.std(nulls) > 0.1


def test_permutation_scan_null_p_values_uniform() -> None:
    _check_uniform("permutation")


def test_poisson_scan_null_p_values_uniform() -> None:
    _check_uniform("poisson")


@pytest.mark.parametrize("model", ["permutation", "poisson"])
def test_biased_p_rejected(model: str) -> None:
    """The same test rejects p-values computed against replicate maxima 20% too small.

    (What an implementation whose replicate scan misses part of the cylinders, or whose
    replicates are less variable than the data, produces.) Shows that the uniformity test has
    the power to see such a bias with these sample sizes.
    """
    _, _, _, llr, nulls = _null_runs(model)
    biased = 0.8 * nulls
    g = np.sum(biased > llr[:, None], axis=1)
    e = np.sum(biased == llr[:, None], axis=1)
    ks = stats.kstest(_randomised(g, e, seed=7), "uniform")
    assert ks.pvalue < 1e-6, f"biased p-values not rejected: KS p={ks.pvalue:.2e}"


def test_poisson_wrong_expected_is_rejected() -> None:
    """Data from the baseline, scan told 0.85 x baseline: the p-values are too small."""
    g, e, _, _, _ = _null_runs("poisson", 0.85, 100)
    ks = stats.kstest(_randomised(g, e, seed=7), "uniform")
    assert ks.pvalue < 1e-6, f"wrong expected not rejected: KS p={ks.pvalue:.2e}"


# --------------------------------------------------------------------------------------------
# exact null probabilities on tiny problems
# --------------------------------------------------------------------------------------------


def _perm_max_llr(table: np.ndarray, lists, max_fraction, max_days, min_cases) -> float:
    """Brute-force maximum LLR of a (zones, days) table (plain loops)."""
    z, t = table.shape
    total = float(table.sum())
    zone_total = table.sum(axis=1).astype(float)
    best = 0.0
    for order in lists:
        acc = 0.0
        zones = []
        for j in order:
            if acc + zone_total[j] > max_fraction * total:
                break
            acc += zone_total[j]
            zones.append(j)
            for w in range(1, min(max_days, t) + 1):
                n = float(table[zones, t - w :].sum())
                e = acc * float(table[:, t - w :].sum()) / total
                if n >= min_cases and n > e:
                    v = n * math.log(n / e)
                    if total > n:
                        v += (total - n) * math.log((total - n) / (total - e))
                    best = max(best, v)
    return best


def _tables(rows: list[int], cols: list[int]):
    """Every non-negative integer table with the given margins, with its probability under a
    random assignment of case days to cases (multivariate hypergeometric)."""
    z = len(rows)
    log_const = (
        sum(math.lgamma(r + 1) for r in rows)
        + sum(math.lgamma(c + 1) for c in cols)
        - math.lgamma(sum(rows) + 1)
    )

    def fill(i, remaining_cols):
        if i == z - 1:
            yield [list(remaining_cols)]
            return
        for row in _compositions(rows[i], remaining_cols):
            rest = [c - x for c, x in zip(remaining_cols, row, strict=True)]
            for tail in fill(i + 1, rest):
                yield [row, *tail]

    for tab in fill(0, list(cols)):
        a = np.array(tab)
        logp = log_const - sum(math.lgamma(v + 1) for v in a.ravel())
        yield a, math.exp(logp)


def _compositions(total: int, caps: list[int]):
    if len(caps) == 1:
        if total <= caps[0]:
            yield [total]
        return
    for x in range(min(total, caps[0]) + 1):
        for rest in _compositions(total - x, caps[1:]):
            yield [x, *rest]


@pytest.mark.parametrize(
    "kw",
    [
        dict(max_fraction=0.5, max_days=2, min_cases=2),
        # min_cases 3: one- and two-case cylinders must be left out of the replicates too
        dict(max_fraction=0.5, max_days=3, min_cases=3),
    ],
    ids=["d2-m2", "d3-m3"],
)
def test_permutation_p_matches_exact_null_probability(kw: dict) -> None:
    # 4 zones on a line, 4 days, windows of 1..max_days days; a modest excess today in zones 2, 3
    counts = np.array(
        [
            [2, 1, 2, 0],
            [1, 2, 1, 1],
            [1, 1, 1, 2],
            [0, 1, 0, 2],
        ]
    )
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    # neighbour order (distance, then smaller x): written out for this line of zones
    lists = [[0, 1, 2, 3], [1, 0, 2, 3], [2, 1, 3, 0], [3, 2, 1, 0]]
    obs = _perm_max_llr(counts, lists, **kw)
    rows = counts.sum(axis=1).tolist()
    cols = counts.sum(axis=0).tolist()
    # exact distribution of the maximum LLR over all tables with the observed margins
    values: dict[float, float] = {}
    for tab, prob in _tables(rows, cols):
        v = round(_perm_max_llr(tab, lists, **kw), 9)
        values[v] = values.get(v, 0.0) + prob
    assert sum(values.values()) == pytest.approx(1.0, abs=1e-9)
    exceed = sum(pr for v, pr in values.items() if v >= obs - 1e-9)
    assert 0.05 < exceed < 0.8  # a p-value in the informative range

    n_sim = 9999
    res = permutation_scan(counts, coords, n_sim=n_sim, seed=42, **kw)
    assert res.most_likely.llr == pytest.approx(obs, abs=1e-9)
    k = int(np.sum(np.asarray(res.null_llr) >= res.most_likely.llr))
    # #(replicates >= observed) ~ Binomial(n_sim, exact probability)
    bt = stats.binomtest(k, n_sim, exceed)
    assert bt.pvalue > ALPHA, f"{k}/{n_sim} replicates >= observed, exact probability {exceed}"
    # and the whole null distribution of the maximum agrees with the exact one
    support = np.array(sorted(values))
    cdf = np.cumsum([values[v] for v in support])
    sim = np.round(np.asarray(res.null_llr), 9)
    # every replicate maximum is the maximum of some table with these margins
    assert np.all(np.min(np.abs(sim[:, None] - support[None, :]), axis=1) < 1e-8)
    emp = np.searchsorted(np.sort(sim), support, side="right") / n_sim
    # DKW: P(sup |F_n - F| > eps) <= 2 exp(-2 n eps^2) = 1e-4 for eps = 0.0215
    assert np.max(np.abs(emp - cdf)) < 0.0215


@pytest.mark.parametrize("min_cases", [2, 3])
def test_poisson_p_matches_exact_null_probability(min_cases: int) -> None:
    # 3 zones on a line, 5 days, windows of 1..2 days: the replicates draw the last two days
    baseline = np.array(
        [
            [1.0, 1.1, 0.9, 0.7, 0.6],
            [0.5, 0.4, 0.6, 0.3, 0.5],
            [2.0, 1.5, 1.0, 0.4, 0.7],
        ]
    )
    counts = np.array([[1, 0, 2, 1, 2], [0, 1, 0, 1, 0], [3, 1, 1, 0, 1]])
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    kw = dict(max_fraction=1.0, max_days=2, min_cases=min_cases)
    lists = [[0, 1, 2], [1, 0, 2], [2, 1, 0]]
    zone_b = baseline.sum(axis=1)

    def max_stat(last2: np.ndarray) -> np.ndarray:
        """Vectorised over outcomes: last2[..., zone, w] = counts on the (w+1)-th last day."""
        best = np.zeros(last2.shape[:-2])
        seen = set()
        for order in lists:
            acc = 0.0
            zones: list[int] = []
            for j in order:
                if acc + zone_b[j] > kw["max_fraction"] * zone_b.sum():
                    break
                acc += zone_b[j]
                zones.append(j)
                key = frozenset(zones)
                if key in seen:
                    continue
                seen.add(key)
                for w in (1, 2):
                    n = last2[..., zones, :w].sum(axis=(-2, -1)).astype(float)
                    b = baseline[zones, 5 - w :].sum()
                    with np.errstate(divide="ignore", invalid="ignore"):
                        v = np.where(
                            (n > b) & (n >= kw["min_cases"]),
                            n * np.log(np.where(n > 0, n, 1.0) / b) + b - n,
                            0.0,
                        )
                    best = np.maximum(best, v)
        return best

    obs = float(max_stat(counts[:, ::-1][:, :2][None])[0])
    # enumerate the 6 Poisson counts of the last two days, each 0..9 (rates <= 0.7: the mass
    # left out is below 1e-7)
    k_max = 9
    rates = baseline[:, ::-1][:, :2]  # rates[z, w]
    grid = np.array(list(itertools.product(range(k_max + 1), repeat=6)), dtype=np.int64)
    outcomes = grid.reshape(-1, 3, 2)
    logp = (outcomes * np.log(rates)[None] - rates[None] - gammaln(outcomes + 1.0)).sum(axis=(1, 2))
    prob = np.exp(logp)
    assert prob.sum() == pytest.approx(1.0, abs=1e-6)
    stat = max_stat(outcomes)
    exceed = float(prob[stat >= obs - 1e-9].sum())
    assert 0.05 < exceed < 0.8

    n_sim = 9999
    res = poisson_scan(counts, baseline, coords, n_sim=n_sim, seed=42, **kw)
    assert res.most_likely.llr == pytest.approx(obs, abs=1e-9)
    k = int(np.sum(np.asarray(res.null_llr) >= res.most_likely.llr))
    bt = stats.binomtest(k, n_sim, exceed)
    assert bt.pvalue > ALPHA, f"{k}/{n_sim} replicates >= observed, exact probability {exceed}"
    # the whole distribution of the replicate maximum (DKW bound, 1e-4 level)
    order = np.argsort(stat)
    s_sorted, cdf = stat[order], np.cumsum(prob[order])
    sim = np.sort(np.asarray(res.null_llr))
    grid_points = np.unique(np.round(s_sorted, 9))
    exact_cdf = cdf[np.searchsorted(np.round(s_sorted, 9), grid_points, side="right") - 1]
    emp = np.searchsorted(np.round(sim, 9), grid_points, side="right") / n_sim
    assert np.max(np.abs(emp - exact_cdf)) < 0.0215


# --------------------------------------------------------------------------------------------
# the replicate maxima of a medium problem against an independent Monte Carlo
# --------------------------------------------------------------------------------------------


def _circle_sets(coords: np.ndarray, max_radius: float, weight: np.ndarray, cap: float):
    """Distinct zone sets of SaTScan's circles (prefixes by distance, then x, then y, then
    index; stop at the first zone over the cap)."""
    sets = set()
    for c in range(len(coords)):
        d = np.hypot(*(coords - coords[c]).T)
        order = sorted(
            (j for j in range(len(coords)) if d[j] <= max_radius),
            key=lambda j: (d[j], coords[j, 0], coords[j, 1], j),
        )
        acc = 0.0
        zones: list[int] = []
        for j in order:
            if acc + weight[j] > cap:
                break
            acc += weight[j]
            zones.append(j)
            sets.add(frozenset(zones))
    m = np.zeros((len(sets), len(coords)))
    for i, s in enumerate(sorted(sets, key=sorted)):
        m[i, list(s)] = 1.0
    return m


@pytest.mark.parametrize("model", ["permutation", "poisson"])
def test_null_distribution_matches_independent_monte_carlo(model: str) -> None:
    """1999 replicate maxima of the implementation vs 1999 drawn here with numpy (random
    permutations of the case days / Poisson draws, every cylinder evaluated): same
    distribution (two-sample KS at the 0.001 level)."""
    rng = np.random.default_rng(55)
    nx = ny = 6
    t, days, min_cases = 15, 5, 2
    coords = np.array([(i % nx, i // nx) for i in range(nx * ny)], dtype=float)
    lam = 0.8 * np.outer(rng.gamma(3.0, 1 / 3.0, nx * ny), rng.gamma(8.0, 1 / 8.0, t))
    counts = rng.poisson(lam)
    n_rep = 1999
    if model == "permutation":
        res = permutation_scan(
            counts, coords, max_radius=2.0, max_days=days, n_sim=n_rep, seed=8, min_cases=2
        )
        total = counts.sum()
        zone_total = counts.sum(axis=1).astype(float)
        m = _circle_sets(coords, 2.0, zone_total, 0.5 * total)
        zone_of = np.repeat(np.arange(nx * ny), counts.sum(axis=1))
        day_of = np.repeat(np.arange(t), counts.sum(axis=0))
        tables = np.empty((n_rep, nx * ny, t))
        for r in range(n_rep):
            shuffled = day_of[rng.permutation(len(day_of))]
            tables[r] = np.bincount(zone_of * t + shuffled, minlength=nx * ny * t).reshape(
                nx * ny, t
            )
        win = np.cumsum(tables[:, :, ::-1][:, :, :days], axis=2)  # [r, zone, w]
        window_total = np.cumsum(counts.sum(axis=0)[::-1][:days])
        e = (m @ zone_total)[:, None] * window_total[None, :] / total  # [set, w]
    else:
        baseline = lam
        res = poisson_scan(
            counts, baseline, coords, max_radius=2.0, max_days=days, n_sim=n_rep, seed=8,
            min_cases=2,
        )  # fmt: skip
        m = _circle_sets(coords, 2.0, baseline.sum(axis=1), 0.5 * baseline.sum())
        rate = baseline[:, ::-1][:, :days]
        win = np.cumsum(rng.poisson(rate[None], size=(n_rep, *rate.shape)), axis=2)
        e = m @ np.cumsum(rate, axis=1)
    n = np.einsum("sz,rzw->rsw", m, win)
    with np.errstate(divide="ignore", invalid="ignore"):
        if model == "permutation":
            v = n * np.log(n / e) + np.where(
                total > n, (total - n) * np.log((total - n) / (total - e)), 0.0
            )
        else:
            v = n * np.log(n / e) + e - n
    v = np.where((n > e) & (n >= min_cases), v, 0.0)
    mine = v.max(axis=(1, 2))
    theirs = np.asarray(res.null_llr, dtype=float)
    assert len(theirs) == n_rep
    ks = stats.ks_2samp(theirs, mine)
    assert ks.pvalue > ALPHA, (
        f"replicate maxima differ from an independent Monte Carlo: KS D={ks.statistic:.3f}, "
        f"p={ks.pvalue:.2e}; means {theirs.mean():.3f} vs {mine.mean():.3f}"
    )
