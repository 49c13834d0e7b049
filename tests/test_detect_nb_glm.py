"""The negative binomial GLM detector against MASS::glm.nb golden fixtures, and its behaviour.

See tests/reference/nb_glm_golden.R.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import golden
from epiradar.detect.temporal import nb_glm
from epiradar.detect.temporal.nb_glm import THETA_MAX, design, fit_predict

FIXTURES = Path(__file__).parent / "fixtures" / "nb_glm"
MANIFEST = pd.read_csv(FIXTURES / "manifest.csv", keep_default_na=False).set_index("case")
DATASETS = ["synthetic_daily", "campy_de"]


def _params(row: pd.Series) -> dict:
    return {
        "baseline": int(row["baseline"]) if row["baseline"] != "" else None,
        "guard": int(row["guard"]),
        "freq": int(row["freq"]) if row["freq"] != "" else None,
        "period": float(row["period"]),
        "harmonics": int(row["harmonics"]),
        "trend": row["trend"] == 1,
        "reweight": row["reweight"] == 1,
        "weights_threshold": float(row["weights_threshold"]),
    }


def _r_case(case: str) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    dataset = MANIFEST.loc[case, "dataset"]
    counts = golden.series(FIXTURES, dataset)
    rows = golden.results(FIXTURES, dataset)
    rows = rows[rows["case"] == case].sort_values(["series", "index"])
    n = counts.shape[0]
    cols = ("expected", "theta", "upperbound", "pvalue", "expected_default", "theta_default")
    out = {c: rows[c].to_numpy(dtype=float).reshape(n, -1) for c in cols}
    days = rows["index"].to_numpy().reshape(n, -1)[0]
    return counts, out, days


def _daily(seed: int = 3, n_series: int = 4, n_time: int = 730, level: float = 20.0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_time)
    dow = np.array([1.3, 1.2, 1.1, 1.0, 1.0, 0.6, 0.5])[t % 7]
    mu = level * dow * np.exp(0.3 * np.cos(2 * np.pi * t / 365.25))
    return rng.negative_binomial(8, 8 / (8 + mu), size=(n_series, n_time)).astype(float), mu


def test_fixtures_cover_the_settings_and_datasets():
    assert set(MANIFEST["dataset"]) == set(DATASETS)
    assert set(MANIFEST["reweight"]) == {0, 1}
    assert "" in set(MANIFEST["baseline"]) and "" in set(MANIFEST["freq"])
    assert {1, 2} <= set(MANIFEST["harmonics"])
    for dataset in DATASETS:
        cases = set(golden.results(FIXTURES, dataset)["case"])
        assert cases == set(MANIFEST.index[MANIFEST["dataset"] == dataset])
    assert np.isnan(golden.series(FIXTURES, "synthetic_daily")).any()  # missing counts


@pytest.mark.parametrize("case", MANIFEST.index.tolist())
def test_equals_r_glm_nb(case: str):
    refit_every = 1  # R refits at every monitored day (see the schedule test for 7)
    counts, r, days = _r_case(case)
    row = MANIFEST.loc[case]
    params = _params(row)
    result = nb_glm(
        counts, alpha=float(row["alpha"]), refit_every=refit_every, monitor=days, **params
    )
    _, mu, theta, _ = fit_predict(counts, refit_every=refit_every, monitor=days, **params)
    np.testing.assert_array_equal(result.monitor, days)
    np.testing.assert_allclose(result.expected, r["expected"], rtol=1e-7)
    np.testing.assert_allclose(mu, r["expected"], rtol=1e-7)
    np.testing.assert_allclose(theta, r["theta"], rtol=1e-6)
    # glm.nb's default control stops earlier: agreement to its tolerance
    np.testing.assert_allclose(theta, r["theta_default"], rtol=1e-4)
    np.testing.assert_allclose(mu, r["expected_default"], rtol=1e-5)
    np.testing.assert_array_equal(result.upperbound, r["upperbound"])
    np.testing.assert_allclose(result.pvalue, r["pvalue"], rtol=1e-6, atol=1e-12)
    obs = counts[:, days]
    np.testing.assert_array_equal(result.alarm, obs > r["upperbound"])
    np.testing.assert_array_equal(result.alarm, result.pvalue <= float(row["alpha"]))


def test_refit_schedule_extrapolates_the_refit_days_model():
    counts, _ = _daily(n_series=2)
    days = np.arange(400, 421)
    weekly = nb_glm(counts, refit_every=7, monitor=days)
    # Day 400 + k is served by the fit of refit day 400 + 7 (k // 7): the same window as a
    # daily refit with a guard k % 7 days longer.
    for k, day in enumerate(days):
        alone = nb_glm(counts, refit_every=1, guard=7 + k % 7, monitor=[day])
        np.testing.assert_allclose(weekly.expected[:, k], alone.expected[:, 0], rtol=1e-7)
    daily = nb_glm(counts, refit_every=1, monitor=days)
    np.testing.assert_allclose(weekly.expected[:, ::7], daily.expected[:, ::7], rtol=1e-7)
    assert not np.allclose(weekly.expected[:, 1:7], daily.expected[:, 1:7], rtol=1e-7)


def test_injected_outbreak_alarms_and_quiet_days_mostly_do_not():
    counts, mu = _daily(seed=11, n_series=6)
    start = 600
    counts[:, start : start + 5] += np.round(2.5 * mu[start : start + 5])
    result = nb_glm(counts)
    k = start - int(result.monitor[0])
    assert result.alarm[:, k : k + 5].mean() > 0.9
    assert (result.pvalue[:, k : k + 5] < 0.005).all()
    assert (result.score[:, k : k + 5] > 3).all()
    quiet = np.ones(result.monitor.size, dtype=bool)
    quiet[k : k + 5 + 7] = False  # the outbreak and the next refit's extrapolation
    assert result.alarm[:, quiet].mean() < 0.03
    # the expected counts track the day-of-week and seasonal mean
    assert np.median(np.abs(result.expected[:, quiet] / mu[result.monitor[quiet]] - 1)) < 0.1


def test_reweighting_keeps_a_past_outbreak_out_of_the_baseline():
    counts, mu = _daily(seed=5, n_series=3)
    counts[:, 540:560] += np.round(3 * mu[540:560])
    days = np.arange(600, 640)
    robust = nb_glm(counts, reweight=True, monitor=days)
    plain = nb_glm(counts, reweight=False, monitor=days)
    truth = mu[days]
    assert np.abs(robust.expected / truth - 1).mean() < np.abs(plain.expected / truth - 1).mean()
    assert (robust.upperbound <= plain.upperbound).mean() > 0.9


def test_flat_series_does_not_alarm():
    counts = np.full((2, 500), 5.0)
    result = nb_glm(counts)
    assert not result.alarm.any()
    np.testing.assert_allclose(result.expected, 5.0, rtol=1e-8)
    _, _, theta, _ = fit_predict(counts)
    assert (theta == THETA_MAX).all()  # no overdispersion: Poisson in effect
    np.testing.assert_array_equal(result.upperbound, stats.poisson.ppf(0.99, 5.0))
    np.testing.assert_allclose(result.score, 0.0, atol=1e-7)
    # a Poisson series alarms at about the nominal rate
    pois = np.random.default_rng(2).poisson(6.0, size=(20, 500)).astype(float)
    assert nb_glm(pois, alpha=0.01).alarm.mean() < 0.02


def test_missing_counts_are_dropped_from_fits_and_undefined_when_judged():
    counts, _ = _daily(seed=8, n_series=2, n_time=420)
    days = np.arange(380, 420)
    full = nb_glm(counts, monitor=days, refit_every=1)
    holes = counts.copy()
    holes[0, 100:130] = np.nan  # in every window
    holes[0, 390] = np.nan  # a monitored day
    result = nb_glm(holes, monitor=days, refit_every=1)
    # series 1 is untouched; series 0 still fits (on the remaining counts) ...
    np.testing.assert_array_equal(result.expected[1], full.expected[1])
    assert np.isfinite(result.expected[0]).all()
    assert not np.allclose(result.expected[0], full.expected[0])
    # (the fit drops missing counts as R's na.omit: see the golden series s2)
    k = 390 - days[0]
    assert np.isnan(result.score[0, k]) and np.isnan(result.pvalue[0, k])
    assert np.isnan(result.upperbound[0, k]) and not result.alarm[0, k]
    # a window with too few counts gives no fit
    sparse = counts.copy()
    sparse[0, :380] = np.nan
    sparse[0, 370:372] = 4.0
    none = nb_glm(sparse, monitor=days, refit_every=1)
    assert np.isnan(none.expected[0, :5]).all() and not none.alarm[0, :5].any()


def test_an_all_zero_baseline_has_mean_zero_and_any_case_alarms():
    counts = np.zeros((1, 400))
    counts[0, 390] = 2.0
    result = nb_glm(counts, monitor=[389, 390])
    np.testing.assert_array_equal(result.expected, [[0.0, 0.0]])
    np.testing.assert_array_equal(result.upperbound, [[0.0, 0.0]])
    np.testing.assert_array_equal(result.alarm, [[False, True]])
    np.testing.assert_array_equal(result.pvalue, [[1.0, 0.0]])


def test_weekly_series_without_day_of_week():
    counts = golden.series(FIXTURES, "campy_de")
    result = nb_glm(counts, freq=None, period=52.18, harmonics=2, baseline=156, guard=2)
    assert result.monitor[0] == 158 and result.monitor[-1] == counts.shape[1] - 1
    assert np.isfinite(result.expected).all()
    assert design([0, 1], freq=None, harmonics=2).shape == (2, 6)
    assert design([0, 1], freq=7, harmonics=1).shape == (2, 10)


def test_shapes_one_series_and_empty_monitor():
    counts, _ = _daily(n_series=1, n_time=400)
    one = nb_glm(counts[0], monitor=[399])
    assert one.expected.shape == (1, 1) and one.n_series == 1
    empty = nb_glm(counts, monitor=[])
    assert empty.alarm.shape == (1, 0)
    default = nb_glm(counts)
    np.testing.assert_array_equal(default.monitor, np.arange(371, 400))
    grow = nb_glm(counts, baseline=None, guard=0)
    assert grow.monitor[0] == 20  # 2 x 10 coefficients


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"monitor": [370]}, "monitor"),
        ({"monitor": [400]}, "monitor"),
        ({"baseline": 0}, "baseline"),
        ({"guard": -1}, "guard"),
        ({"freq": 0}, "freq"),
        ({"period": 0.0}, "period"),
        ({"harmonics": -1}, "harmonics"),
        ({"alpha": 1.5}, "alpha"),
        ({"refit_every": 0}, "refit_every"),
        ({"weights_threshold": 0.0}, "weights_threshold"),
    ],
)
def test_rejects_bad_parameters_naming_them(kwargs: dict, name: str):
    counts, _ = _daily(n_series=1, n_time=400)
    with pytest.raises(ValueError, match=name):
        nb_glm(counts, **kwargs)


def test_rejects_negative_counts():
    with pytest.raises(ValueError, match="counts"):
        nb_glm(-np.ones((1, 400)))


def test_a_weekday_never_above_zero_fits_to_a_zero_mean():
    counts, _ = _daily(seed=4, n_series=2, n_time=800)
    closed = np.arange(800) % 7 == 6  # a clinic closed one day a week
    counts[:, closed] = 0
    for refit_every in (1, 7):
        result = nb_glm(counts, refit_every=refit_every)
        sunday = result.monitor % 7 == 6
        assert np.isfinite(result.expected).all()
        assert result.expected[:, sunday].max() < 1e-8
        assert (result.upperbound[:, sunday] == 0).all() and not result.alarm[:, sunday].any()
        assert result.alarm[:, ~sunday].mean() < 0.03
    day = int(result.monitor[sunday][5])
    counts[0, day] = 1  # a case on a closed day is unheard of
    assert nb_glm(counts, monitor=[day]).alarm[0, 0]


def test_a_sparse_window_gets_the_intercept_only_model():
    counts = np.zeros((2, 420))
    counts[0, [50, 200, 300]] = 1.0  # three cases in a year: the full model separates
    counts[1] = np.random.default_rng(4).poisson(5.0, 420)
    result = nb_glm(counts, monitor=np.arange(380, 420), alpha=1e-5)
    assert np.all(np.isfinite(result.expected[0]))
    k = 0  # the first monitored day is a refit day: its window is days 9 .. 372
    assert result.expected[0, k] == pytest.approx(counts[0, 9:373].mean())
    assert np.all(result.upperbound[0] < 5) and not result.alarm[0].any()
    assert np.all(np.abs(result.expected[1] - 5.0) < 2.0)
