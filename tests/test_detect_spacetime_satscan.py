"""The space-time permutation scan against SaTScan 10.3.2 (../shared/data/satscan/README.md).

Cylinders, statistics and the secondary-cluster list are deterministic and must equal
SaTScan's; p-values and the null distribution come from random permutations, so they are
checked statistically against SaTScan's figures.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy.stats import binom

from epiradar.detect.spacetime import permutation_scan
from satscan_data import SATSCAN, load

if not SATSCAN.is_dir():  # a user's checkout without the shared reference data
    pytest.skip(f"SaTScan reference data not found at {SATSCAN}", allow_module_level=True)

NYC = dict(metric="latlon", max_radius=3, max_days=7, max_fraction=0.5, min_cases=2)
CITY = dict(max_radius=4, max_days=30, max_fraction=0.5, min_cases=2)

# SaTScan's clusters: zones (in its order), first day, observed, expected (2 decimals), LLR
NYC_CLUSTERS = [
    (
        "11418 11415 11419 11435 11416 11421 11451 11375 11417",
        dt.date(2001, 11, 22), 4, 0.67, 3.845418,
    ),
    ("11372", dt.date(2001, 11, 24), 2, 0.16, 3.164201),
    ("10472", dt.date(2001, 11, 23), 2, 0.29, 2.137259),
    ("10469 10475 10467 10466", dt.date(2001, 11, 24), 2, 0.45, 1.427139),
]  # fmt: skip
WA_CLUSTERS = [
    ("190 189 170 210 191 169 209 171 211", dt.date(2023, 6, 25), 72, 25.33, 28.581067),
    ("84 83", dt.date(2023, 6, 14), 33, 16.04, 6.845407),
    ("24 23", dt.date(2023, 6, 13), 35, 18.02, 6.263102),
    ("398", dt.date(2023, 6, 26), 14, 4.96, 5.496713),
    ("69", dt.date(2023, 6, 21), 14, 4.96, 5.492078),
    (
        "310 309 290 330 311 289 329 291 331 308 270 350 312 288 328 269 349 271 351",
        dt.date(2023, 6, 29), 21, 9.61, 5.028991,
    ),
]  # fmt: skip
WB_CLUSTERS = [
    ("975 974 925 1025 976 924 1024 926", dt.date(2023, 12, 27), 44, 12.01, 25.131184),
    ("858 857 808", dt.date(2023, 12, 25), 19, 5.82, 9.289320),
    (
        "234 233 184 284 235 183 283 185 285 232 134 334 236 182 282",
        dt.date(2023, 12, 22), 66, 40.71, 6.602275,
    ),
    ("1732 1731", dt.date(2023, 12, 7), 22, 9.08, 6.550180),
    (
        "1466 1465 1416 1516 1467 1415 1515 1417 1517 1464 1366 1566 1468",
        dt.date(2023, 12, 28), 29, 13.62, 6.532997,
    ),
]  # fmt: skip


def _data(name: str):
    if name == "NYCfever":  # SaTScan's study period (no cases on some days)
        return load(name, dt.date(2001, 11, 1), dt.date(2001, 11, 24)), NYC
    return load(name), CITY


def _assert_clusters(data, result, expected) -> None:
    assert len(result.clusters) >= len(expected)
    for cluster, (zones, start, observed, exp, llr) in zip(result.clusters, expected, strict=False):
        assert [data.ids[z] for z in cluster.zones] == zones.split()
        assert data.dates[cluster.start] == start
        assert data.dates[cluster.end] == data.dates[-1]
        assert cluster.observed == observed
        assert round(cluster.expected, 2) == pytest.approx(exp)
        assert cluster.llr == pytest.approx(llr, abs=1e-6)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("NYCfever", NYC_CLUSTERS), ("wa", WA_CLUSTERS), ("wb", WB_CLUSTERS)],
)
def test_clusters_equal_satscan(name, expected) -> None:
    data, settings = _data(name)
    result = permutation_scan(data.counts, data.coords, n_sim=0, **settings)
    _assert_clusters(data, result, expected)
    # SaTScan's list ends where p-values reach 1; without replicates every cluster is listed
    assert all(c.p_value is None and c.recurrence_interval is None for c in result.clusters)


def test_nyc_cluster_geometry_and_p_value() -> None:
    data, settings = _data("NYCfever")
    result = permutation_scan(data.counts, data.coords, n_sim=999, seed=3, **settings)
    _assert_clusters(data, result, NYC_CLUSTERS)
    top = result.most_likely
    assert top.radius == pytest.approx(2.90, abs=0.005)  # "radius..: 2.90 km"
    assert top.observed_over_expected == pytest.approx(5.97, abs=0.005)
    # p = 0.216 in SaTScan's 999 replicates; ours is another draw from the same null, so
    # 1000 p is binomial around ~216 (sd ~13): allow 5 sd either way
    assert 0.15 < top.p_value < 0.29
    assert top.recurrence_interval == pytest.approx(1 / top.p_value)
    # p-values follow the order of the statistic and equal the share of replicates above
    for c in result.clusters:
        assert c.p_value == (1 + np.sum(result.null_llr >= c.llr)) / 1000
    assert [c.p_value for c in result.clusters] == sorted(c.p_value for c in result.clusters)


@pytest.mark.parametrize(
    ("name", "pct95", "pct99", "n_sim"),
    [("wa", 9.99, 11.17, 4999), ("wb", 12.34, 14.00, 1999)],
)
def test_null_distribution_matches_satscan(name, pct95, pct99, n_sim) -> None:
    """SaTScan's 95th and 99th percentiles of the replicate maxima (999 replicates) must be
    exceeded by ~5% and ~1% of our replicates. The tolerance adds both sides' sampling error:
    the true tail probability at SaTScan's estimated percentile is Beta(50, 950) (sd 0.0069)
    or Beta(10, 990) (sd 0.0031), ours binomial; the bounds are 4 combined sd."""
    data, settings = _data(name)
    result = permutation_scan(data.counts, data.coords, n_sim=n_sim, seed=20261126, **settings)
    assert result.null_llr.shape == (n_sim,)
    for level, tail in ((pct95, 0.05), (pct99, 0.01)):
        share = float(np.mean(result.null_llr >= level))
        sd_satscan = np.sqrt(tail * (1 - tail) / 1000)
        sd_ours = np.sqrt(binom.var(n_sim, tail)) / n_sim
        assert abs(share - tail) < 4 * np.hypot(sd_satscan, sd_ours), (level, share)
    # the injected cluster beats every replicate, as in SaTScan (p = 0.001)
    top = result.most_likely
    assert top.p_value == 1 / (n_sim + 1)
    assert top.recurrence_interval == pytest.approx(365 / 365 * (n_sim + 1))


def test_replicates_are_reproducible_and_independent_of_blocking(monkeypatch) -> None:
    data, settings = _data("wa")
    first = permutation_scan(data.counts, data.coords, n_sim=300, seed=5, **settings)
    again = permutation_scan(data.counts, data.coords, n_sim=300, seed=5, **settings)
    np.testing.assert_array_equal(first.null_llr, again.null_llr)
    other = permutation_scan(data.counts, data.coords, n_sim=300, seed=6, **settings)
    assert not np.array_equal(first.null_llr, other.null_llr)
    from epiradar.detect.spacetime import scan

    monkeypatch.setattr(scan, "REPLICATE_BLOCK", 64)
    blocked = permutation_scan(data.counts, data.coords, n_sim=300, seed=5, **settings)
    np.testing.assert_array_equal(first.null_llr, blocked.null_llr)


def test_replicate_maxima_equal_a_plain_rescan() -> None:
    """The bound that lets the replicate scan skip cylinders is exact: each replicate's maximum
    equals the most likely cluster of that replicate's permuted counts, scanned on its own."""
    from epiradar.detect.spacetime import kernel, scan

    data, settings = _data("NYCfever")
    y = data.counts
    n_zones, days = len(y), settings["max_days"]
    n_sim = 60
    seeds = np.arange(1, n_sim + 1, dtype=np.int64)
    case_zone = np.repeat(np.arange(n_zones, dtype=np.int64), y.sum(axis=1))
    last = y.sum(axis=0)[::-1][:days].astype(np.int64)
    rcum = np.empty((n_zones, days, n_sim), np.int16)
    kernel.permuted_windows(case_zone, last, seeds, n_zones, 2, rcum)
    total = int(y.sum())
    zone_total = y.sum(axis=1).astype(float)
    nb = scan._neighbors(data.coords, None, "latlon", None, 3, n_zones)
    klen = scan._prefix_lengths(nb, zone_total, 0.5 * total)
    maxima = kernel.replicate_max(
        kernel.PERMUTATION, rcum, np.zeros((n_zones, days)), zone_total,
        np.cumsum(last).astype(float), float(total), nb.indptr, nb.index, klen, 2,
        kernel.stat_table(kernel.PERMUTATION, total, total + 1), 3,
    )  # fmt: skip
    for r in range(n_sim):
        window = np.diff(np.concatenate([np.zeros((n_zones, 1), int), rcum[:, :, r]], axis=1))
        assert (window.sum(axis=0) == last).all()  # day totals kept
        # the replicate as a table: the window's days (last day last) after one column with
        # each zone's remaining cases, so zone totals are kept too
        table = np.column_stack([zone_total - window.sum(axis=1), window[:, ::-1]]).astype(int)
        assert (table >= 0).all()
        alone = permutation_scan(table, data.coords, n_sim=0, **settings).most_likely
        assert maxima[r] == pytest.approx(alone.llr if alone else 0.0, abs=1e-9)
    assert len(set(np.round(maxima, 9))) > n_sim // 2  # replicates differ


def test_replicate_counts_hold_a_zone_with_most_cases(monkeypatch) -> None:
    """A zone whose cases all fall before the window can receive tens of thousands of them
    in a replicate: the replicate counts must not overflow."""
    from epiradar.detect.spacetime import scan

    counts = np.zeros((12, 330), np.int64)
    counts[0, :300] = 200  # 60,000 cases, none in the last 30 days
    counts[1:11, 300:] = 666  # 199,800 cases in the window, under 2**15 per zone
    counts[11, :] = 1
    coords = np.column_stack([np.arange(12), np.zeros(12)]).astype(float)
    seen = []
    original = scan.kernel.replicate_max

    def spy(mode, rcum, *args):
        seen.append((int(rcum.min()), rcum[:, -1, :].sum(axis=0)))
        return original(mode, rcum, *args)

    monkeypatch.setattr(scan.kernel, "replicate_max", spy)
    permutation_scan(counts, coords, max_radius=0.5, max_days=30, max_fraction=0.99, n_sim=9)
    ((low, totals),) = seen
    assert low >= 0
    assert (totals == counts[:, -30:].sum()).all()
