"""EARS C1/C2/C3 against R surveillance::earsC golden fixtures and the CDC C3 definition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import golden
from epiradar.detect.temporal import DETECTORS, c3_pvalue, ears, first_monitor_day

FIXTURES = Path(__file__).parent / "fixtures" / "ears"
MANIFEST = pd.read_csv(FIXTURES / "manifest.csv", keep_default_na=False).set_index("case")
DATASETS = [*golden.REAL_DATASETS, "synthetic_daily"]


def _case(dataset: str, case: str, *, r_compatible: bool):
    row = MANIFEST.loc[case]
    counts = golden.series(FIXTURES, dataset)
    alpha = float(row["alpha"]) if row["alpha"] != "" else None
    expected = golden.results(FIXTURES, dataset)
    expected = expected[expected["case"] == case]
    result = ears(
        counts,
        method=row["method"],
        baseline=int(row["baseline"]),
        alpha=alpha,
        min_sigma=float(row["min_sigma"]),
        r_compatible=r_compatible,
    )
    n_series, n_monitor = result.alarm.shape
    r_upper = expected["upperbound"].to_numpy(dtype=float).reshape(n_series, n_monitor)
    r_alarm = expected["alarm"].fillna(0).to_numpy(dtype=int).reshape(n_series, n_monitor)
    r_times = expected["time"].to_numpy().reshape(n_series, n_monitor)[0]
    return counts, result, r_times, r_upper, r_alarm.astype(bool)


def test_fixtures_cover_every_method_and_dataset():
    assert set(MANIFEST["method"]) == {"C1", "C2", "C3"}
    assert len(MANIFEST) == 9
    for dataset in DATASETS:
        assert set(golden.results(FIXTURES, dataset)["case"]) == set(MANIFEST.index)
    assert golden.series(FIXTURES, "ha_sts").shape[0] == 12
    assert golden.series(FIXTURES, "measles_de").shape[0] == 16


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("case", MANIFEST.index[MANIFEST["method"] != "C3"].tolist())
def test_c1_c2_equal_r_earsc(dataset: str, case: str):
    _, result, r_times, r_upper, r_alarm = _case(dataset, case, r_compatible=False)
    np.testing.assert_array_equal(result.monitor + 1, r_times)  # R is 1-based
    np.testing.assert_allclose(result.upperbound, r_upper, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(result.alarm, r_alarm)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("case", MANIFEST.index[MANIFEST["method"] == "C3"].tolist())
def test_c3_r_compatible_equals_r_earsc(dataset: str, case: str):
    _, result, r_times, r_upper, r_alarm = _case(dataset, case, r_compatible=True)
    np.testing.assert_array_equal(result.monitor + 1, r_times)
    np.testing.assert_allclose(result.upperbound, r_upper, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(result.alarm, r_alarm)


def _c2_by_loop(y: np.ndarray, t: int, baseline: int, min_sigma: float) -> float:
    base = y[t - baseline - 2 : t - 2]
    sigma = max(float(np.std(base, ddof=1)), min_sigma)
    return (y[t] - base.mean()) / sigma


def test_c3_follows_the_cdc_definition():
    rng = np.random.default_rng(7)
    counts = rng.poisson(5.0, size=(4, 120)).astype(float)
    counts[1, 60:64] += [6, 12, 9, 4]
    baseline, alpha, min_sigma = 7, 0.025, 0.5
    result = ears(counts, method="C3", baseline=baseline, alpha=alpha, min_sigma=min_sigma)
    z = norm.isf(alpha)
    assert result.monitor[0] == baseline + 4
    for i in range(counts.shape[0]):
        for k, t in enumerate(result.monitor):
            terms = [
                max(0.0, _c2_by_loop(counts[i], d, baseline, min_sigma) - 1)
                for d in (t - 2, t - 1, t)
            ]
            assert result.score[i, k] == pytest.approx(sum(terms), rel=1e-12, abs=1e-12)
            assert result.alarm[i, k] == (sum(terms) > z)
            assert result.expected[i, k] == pytest.approx(
                counts[i, t - baseline - 2 : t - 2].mean()
            )
    assert result.alarm[1].any()


def test_c3_upperbound_is_the_alarm_threshold_of_the_day():
    rng = np.random.default_rng(3)
    counts = rng.poisson(4.0, size=(3, 80)).astype(float)
    result = ears(counts, method="C3", min_sigma=0.5)
    positive = counts[:, result.monitor] > 0
    agree = (counts[:, result.monitor] > result.upperbound) == result.alarm
    assert agree[positive].all()


def test_c3_alarms_on_a_single_day_spike_where_r_does_not():
    counts = np.array([[5, 6, 4, 5, 6, 5, 4, 5, 6, 5, 4, 5, 40.0]])
    ours = ears(counts, method="C3", baseline=7, min_sigma=0.5)
    r = ears(counts, method="C3", baseline=7, min_sigma=0.5, r_compatible=True)
    assert ours.alarm[0, -1]
    assert not r.alarm[0, -1]
    assert r.upperbound[0, -1] > 40  # R's bound moves with the day's own count


def test_c1_statistic_pvalue_and_flat_baseline():
    counts = np.array(
        [[2, 2, 2, 2, 2, 2, 2, 2], [2, 2, 2, 2, 2, 2, 2, 5], [1, 3, 1, 3, 1, 3, 1, 9]]
    )
    result = ears(counts, method="C1", alpha=0.001)
    assert result.monitor.tolist() == [7]
    assert result.score[0, 0] == 0.0 and result.pvalue[0, 0] == 0.5
    assert result.score[1, 0] == np.inf and result.alarm[1, 0]
    base = counts[2, :7]
    c1 = (9 - base.mean()) / base.std(ddof=1)
    assert result.score[2, 0] == pytest.approx(c1)
    assert result.pvalue[2, 0] == pytest.approx(norm.sf(c1))
    assert result.expected[2, 0] == pytest.approx(base.mean())


def test_missing_counts_are_undefined_not_alarms():
    counts = np.full((2, 30), 3.0)
    counts[:, -1] = 50
    counts[0, 25] = np.nan
    result = ears(counts, method="C1", min_sigma=0.5)
    k = result.monitor.tolist().index(29)
    assert np.isnan(result.upperbound[0, k]) and not result.alarm[0, k]
    assert result.alarm[1, k]


def test_monitor_and_defaults():
    counts = np.arange(40.0).reshape(2, 20)
    for method, first in (("C1", 7), ("C2", 9), ("C3", 11)):
        assert first_monitor_day(method, 7) == first
        assert ears(counts, method=method).monitor[0] == first
    chosen = ears(counts, method="C2", monitor=[15, 12])
    assert chosen.monitor.tolist() == [12, 15] and chosen.alarm.shape == (2, 2)
    with pytest.raises(ValueError):
        ears(counts, method="C2", monitor=[8])
    assert ears(counts[:, :5], method="C1").alarm.shape == (2, 0)


def test_registry_runs_each_method():
    counts = np.random.default_rng(0).poisson(3, size=(2, 30))
    for name in ("C1", "C2", "C3"):  # the registry holds other detectors too
        assert np.array_equal(
            DETECTORS[name](counts, baseline=7).upperbound,
            ears(counts, method=name, baseline=7).upperbound,
            equal_nan=True,
        )


def test_c3_pvalue_matches_simulated_null():
    rng = np.random.default_rng(11)
    z = rng.standard_normal((3, 400_000))
    s = np.maximum(0.0, z - 1.0).sum(axis=0)
    for x in (0.25, 1.0, 2.0, 3.0):
        empirical = (s >= x).mean()
        assert c3_pvalue(x) == pytest.approx(empirical, rel=0.05)
    assert c3_pvalue(0.0) == 1.0
    assert c3_pvalue(1e-9) == pytest.approx(1 - norm.cdf(1.0) ** 3, rel=1e-6)
    grid = c3_pvalue(np.linspace(0.01, 45.0, 2000))
    assert np.all(np.diff(grid) < 0) and grid[-1] > 0
