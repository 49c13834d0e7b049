"""Holt-Winters against R stats::HoltWinters/predict golden fixtures (see tests/reference/holt_winters_golden.R)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import golden
from epiradar.detect.temporal import holt_winters

FIXTURES = Path(__file__).parent / "fixtures" / "holt_winters"
MANIFEST = pd.read_csv(FIXTURES / "manifest.csv").set_index("case")
PERIODS = pd.read_csv(FIXTURES / "periods.csv")
DATASETS = [*golden.REAL_DATASETS, "synthetic"]


def _data(dataset: str = "synthetic") -> np.ndarray:
    return golden.series(FIXTURES, dataset)  # [n_series, n_time]


def _periods(dataset: str) -> list[int]:
    return PERIODS[PERIODS["dataset"] == dataset].sort_values("series")["period"].to_list()


def _params(case: str) -> dict:
    row = MANIFEST.loc[case]
    beta = False if str(row["beta"]) == "FALSE" else float(row["beta"])
    return {
        "alpha": float(row["alpha"]),
        "beta": beta,
        "gamma": float(row["gamma"]),
        "alpha_level": (1 - float(row["level"])) / 2,
    }


def test_fixtures_cover_no_trend_even_period_and_the_unit_interval_ends():
    assert "FALSE" in MANIFEST["beta"].astype(str).to_list()
    assert {7, 12, 52} <= set(PERIODS["period"])
    assert set(PERIODS["dataset"]) == set(DATASETS)
    for dataset in DATASETS:
        assert set(golden.results(FIXTURES, dataset)["case"]) == set(MANIFEST.index)
        assert len(_periods(dataset)) == _data(dataset).shape[0]
    assert (MANIFEST["alpha"] == 1).any() and (MANIFEST["gamma"] == 1).any()


@pytest.mark.parametrize("case", MANIFEST.index.tolist())
@pytest.mark.parametrize("dataset", DATASETS)
def test_equals_r_holt_winters_predict(dataset: str, case: str):
    golden_rows = golden.results(FIXTURES, dataset)
    golden_rows = golden_rows[golden_rows["case"] == case]
    periods = np.array(_periods(dataset))
    counts = _data(dataset)
    for period in np.unique(periods):  # the series of one period run together
        series = np.flatnonzero(periods == period)
        rows = golden_rows[golden_rows["series"].isin(series)].sort_values(["series", "time"])
        times = rows["time"].to_numpy().reshape(series.size, -1)
        monitor = times[0] - 1  # R's time is 1-based
        result = holt_winters(counts[series], period=int(period), monitor=monitor, **_params(case))
        np.testing.assert_array_equal(result.monitor, monitor)
        fit = rows["fit"].to_numpy(dtype=float).reshape(series.size, -1)
        upr = rows["upr"].to_numpy(dtype=float).reshape(series.size, -1)
        np.testing.assert_allclose(result.expected, fit, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(result.upperbound, upr, rtol=1e-6, atol=1e-9)
        # The default monitor starts where R's start values first exist (two full periods).
        full = holt_winters(counts[series], period=int(period), **_params(case))
        assert full.monitor[0] == 2 * period == monitor[0]


def test_vectorised_rows_equal_single_series_and_outputs_are_consistent():
    counts = _data()[:2]  # both weekly
    params = _params("base")
    both = holt_winters(counts, **params)
    for j in range(2):
        one = holt_winters(counts[j], **params)
        np.testing.assert_array_equal(both.expected[j], one.expected[0])
        np.testing.assert_array_equal(both.upperbound[j], one.upperbound[0])
    x = counts[:, both.monitor]
    sd = (both.upperbound - both.expected) / norm.isf(params["alpha_level"])
    np.testing.assert_allclose(both.score, (x - both.expected) / sd, rtol=1e-12)
    np.testing.assert_allclose(both.pvalue, norm.sf(both.score), rtol=1e-9)
    np.testing.assert_array_equal(both.alarm, x > both.upperbound)
    # The synthetic outbreak (R rows 95..101, 0-based 94..100) alarms.
    outbreak = (both.monitor >= 94) & (both.monitor <= 100)
    assert both.alarm[0, outbreak].any()


def test_missing_count_makes_later_forecasts_undefined():
    counts = _data()[:2].copy()
    counts[0, 50] = np.nan
    result = holt_winters(counts, alpha=0.3, beta=0.1, gamma=0.1)
    col = int(np.flatnonzero(result.monitor == 50)[0])
    assert np.isfinite(result.expected[0, col]) and np.isfinite(result.upperbound[0, col])
    assert np.isnan(result.score[0, col]) and np.isnan(result.pvalue[0, col])
    assert np.isnan(result.expected[0, col + 1 :]).all()
    assert np.isnan(result.upperbound[0, col + 1 :]).all()
    assert not result.alarm[0, col:].any()
    np.testing.assert_array_equal(
        result.expected[1], holt_winters(counts[1], alpha=0.3, beta=0.1, gamma=0.1).expected[0]
    )
    # A missing count in the start window leaves the whole series undefined.
    counts[1, 3] = np.nan
    assert np.isnan(holt_winters(counts[1], alpha=0.3, beta=0.1, gamma=0.1).expected).all()


def test_empty_monitor():
    assert holt_winters(np.ones(30), alpha=0.3, beta=0.1, gamma=0.1, monitor=[]).alarm.shape == (
        1,
        0,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": None}, "required"),
        ({"alpha": 0.0}, "must not be 0"),
        ({"beta": 1.5}, "unit interval"),
        ({"beta": True}, "or False"),
        ({"gamma": False}, "gamma=False"),
        ({"period": 1}, "period"),
        ({"alpha_level": 0.0}, "alpha_level"),
        ({"monitor": [13]}, "monitor must lie"),
    ],
)
def test_rejects_what_it_does_not_offer(kwargs: dict, message: str):
    params = {"alpha": 0.3, "beta": 0.1, "gamma": 0.1} | kwargs
    with pytest.raises(ValueError, match=message):
        holt_winters(np.ones(30), **params)
