"""farringtonFlexible against R surveillance::farringtonFlexible golden fixtures.

See tests/reference/farrington_golden.R.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import golden
from epiradar.detect.temporal import (
    FARRINGTON_IMPROVED,
    FARRINGTON_ORIGINAL,
    farrington_flexible,
)

FIXTURES = Path(__file__).parent / "fixtures" / "farrington"
MANIFEST = pd.read_csv(FIXTURES / "manifest.csv", keep_default_na=False).set_index("case")
DATASETS = ["salmonella_agona", "ha_sts", "campy_de", "synthetic"]
OUTPUTS = ("expected", "upperbound", "score", "pvalue")


def _data(dataset: str) -> np.ndarray:
    return golden.series(FIXTURES, dataset)


def _golden(dataset: str) -> pd.DataFrame:
    return golden.results(FIXTURES, dataset)


def _population(counts: np.ndarray) -> np.ndarray:
    t = np.arange(1, counts.shape[1] + 1, dtype=float)
    return np.broadcast_to(100000 + 150 * t, counts.shape)


def _kwargs(row: pd.Series, counts: np.ndarray) -> dict:
    pwni = row["pastWeeksNotIncluded"]
    return {
        "b": int(row["b"]),
        "w": int(row["w"]),
        "reweight": bool(int(row["reweight"])),
        "weights_threshold": float(row["weightsThreshold"]),
        "alpha": float(row["alpha"]),
        "trend": bool(int(row["trend"])),
        "p_threshold_trend": float(row["pThresholdTrend"]),
        "limit54": tuple(int(v) for v in row["limit54"].split()),
        "power_trans": row["powertrans"],
        "no_periods": int(row["noPeriods"]),
        "past_weeks_not_included": None if pwni == "" else int(pwni),
        "threshold_method": row["thresholdMethod"],
        "population": _population(counts) if int(row["populationOffset"]) else None,
    }


def test_fixtures_cover_the_presets_and_methods():
    assert set(MANIFEST["thresholdMethod"]) == {"delta", "nbPlugin", "muan"}
    assert set(MANIFEST["powertrans"]) == {"2/3", "1/2", "none"}
    assert {1, 4, 10} == set(MANIFEST["noPeriods"])
    for dataset in DATASETS:
        assert set(_golden(dataset)["case"]) == set(MANIFEST.index)
    assert sum(_golden(d)["alarm"].sum() for d in DATASETS) > 50
    synthetic = _golden("synthetic")
    assert ((synthetic["expected"] == 0) & synthetic["pvalue"].isna()).any()  # no model
    assert synthetic["upperbound"].isna().any() and synthetic["score"].notna().any()


@pytest.mark.parametrize(
    ("case", "preset"), [("original", FARRINGTON_ORIGINAL), ("improved", FARRINGTON_IMPROVED)]
)
def test_presets_are_the_documented_settings(case: str, preset: dict):
    row = MANIFEST.loc[case]
    kwargs = _kwargs(row, np.zeros((1, 1)))
    for key, value in preset.items():
        assert kwargs[key] == value, key


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("case", MANIFEST.index.tolist())
def test_equals_r_farrington_flexible(dataset: str, case: str):
    counts = _data(dataset)
    n_series = counts.shape[0]
    rows = _golden(dataset)
    rows = rows[rows["case"] == case]
    monitor = rows["time"].to_numpy().reshape(n_series, -1)[0] - 1  # R's range is 1-based
    result = farrington_flexible(counts, monitor=monitor, **_kwargs(MANIFEST.loc[case], counts))
    np.testing.assert_array_equal(result.monitor, monitor)
    alarm = rows["alarm"].fillna(0).to_numpy(dtype=int).reshape(n_series, -1).astype(bool)
    np.testing.assert_array_equal(result.alarm, alarm)
    no_model = (rows["pvalue"].isna() & (rows["expected"] == 0)).to_numpy()
    for name in OUTPUTS:
        expected = rows[name].to_numpy(dtype=float).reshape(n_series, -1)
        if name == "expected":  # R leaves 0 where no GLM converges; NaN here
            expected = np.where(no_model.reshape(n_series, -1), np.nan, expected)
        np.testing.assert_array_equal(np.isnan(getattr(result, name)), np.isnan(expected), name)
        np.testing.assert_allclose(
            getattr(result, name), expected, rtol=1e-6, atol=1e-12, err_msg=name
        )


def test_presets_run_with_default_monitor_and_one_series():
    counts = _data("salmonella_agona")[0]
    for preset in (FARRINGTON_ORIGINAL, FARRINGTON_IMPROVED):
        result = farrington_flexible(counts, **preset)
        np.testing.assert_array_equal(result.monitor, np.arange(5 * 52 + 3, counts.size))
        assert result.alarm.shape == (1, counts.size - 263)
        assert np.isfinite(result.score).all()


def test_missing_counts():
    counts = _data("campy_de")[0].copy()
    monitor = np.arange(counts.size - 20, counts.size)
    base = farrington_flexible(counts, monitor=monitor)
    counts[monitor[5]] = np.nan  # a missing monitored count: undefined there and 3 weeks on
    counts[monitor[0] - 52] = np.nan  # a missing reference count: dropped from the fit
    result = farrington_flexible(counts, monitor=monitor)
    for k in range(5, 9):
        assert np.isnan(result.upperbound[0, k]) and not result.alarm[0, k]
        assert np.isnan(result.expected[0, k])
    assert np.isnan(result.score[0, 5]) and np.isfinite(result.score[0, 9])
    assert np.isfinite(result.upperbound[0, 0]) and result.upperbound[0, 0] != base.upperbound[0, 0]
    np.testing.assert_allclose(result.upperbound[0, 9:], base.upperbound[0, 9:], rtol=0.5)


def test_too_few_reference_counts_give_no_result():
    counts = np.full((2, 300), np.nan)
    counts[1] = 3.0
    counts[1, ::5] = np.nan
    counts[0, -4:] = 5.0
    result = farrington_flexible(counts, monitor=[294, 299])
    assert np.isnan(result.expected[0]).all() and np.isnan(result.score[0]).all()
    assert not result.alarm.any()
    assert np.isfinite(result.upperbound[1]).all()


def test_limit54_suppresses_alarms_but_keeps_score():
    counts = np.zeros(300)
    counts[::7] = 1.0
    counts[-1] = 4.0
    result = farrington_flexible(counts, monitor=[299])
    assert np.isfinite(result.score[0, 0]) and np.isfinite(result.pvalue[0, 0])
    assert np.isnan(result.upperbound[0, 0]) and np.isnan(result.expected[0, 0])
    assert not result.alarm[0, 0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"monitor": [10]},
        {"threshold_method": "other"},
        {"power_trans": "1/3"},
        {"limit54": (5, 0)},
        {"alpha": 1.5},
        {"past_weeks_not_included": -1},
        {"no_periods": 60},
        {"b": 0},
    ],
)
def test_rejects_bad_arguments(kwargs: dict):
    with pytest.raises(ValueError):
        farrington_flexible(np.ones((1, 400)), **kwargs)
