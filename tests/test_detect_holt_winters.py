"""Holt-Winters against R stats::HoltWinters/predict golden fixtures (see tests/reference/holt_winters_golden.R)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from epiradar.detect.temporal import holt_winters

FIXTURES = Path(__file__).parent / "fixtures" / "holt_winters"
MANIFEST = pd.read_csv(FIXTURES / "manifest.csv").set_index("case")
PERIODS = pd.read_csv(FIXTURES / "periods.csv")["period"].to_list()


@cache
def _data() -> np.ndarray:
    frame = pd.read_csv(FIXTURES / "data.csv.gz")
    return frame.drop(columns="time").to_numpy(dtype=float).T  # [n_series, n_time]


@cache
def _golden() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "golden.csv.gz")


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
    assert {7, 12} <= set(PERIODS)
    assert set(_golden()["case"]) == set(MANIFEST.index)
    assert (MANIFEST["alpha"] == 1).any() and (MANIFEST["gamma"] == 1).any()


@pytest.mark.parametrize("case", MANIFEST.index.tolist())
@pytest.mark.parametrize("series", range(len(PERIODS)))
def test_equals_r_holt_winters_predict(case: str, series: int):
    rows = _golden()
    rows = rows[(rows["case"] == case) & (rows["series"] == series)]
    monitor = rows["time"].to_numpy() - 1  # R's time is 1-based
    counts = _data()[series]
    result = holt_winters(counts, period=PERIODS[series], monitor=monitor, **_params(case))
    np.testing.assert_array_equal(result.monitor, monitor)
    np.testing.assert_allclose(result.expected[0], rows["fit"], rtol=1e-6)
    np.testing.assert_allclose(result.upperbound[0], rows["upr"], rtol=1e-6)
    # The default monitor starts where R's start values first exist (two full periods).
    full = holt_winters(counts, period=PERIODS[series], **_params(case))
    assert full.monitor[0] == 2 * PERIODS[series] == monitor[0]


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
