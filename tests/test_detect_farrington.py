"""farringtonFlexible against R surveillance::farringtonFlexible golden fixtures.

See tests/reference/farrington_golden.R.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import golden
from epiradar.detect.temporal import (
    FARRINGTON_IMPROVED,
    FARRINGTON_ORIGINAL,
    farrington,
    farrington_flexible,
)

FIXTURES = Path(__file__).parent / "fixtures" / "farrington"
MANIFEST = pd.read_csv(FIXTURES / "manifest.csv", keep_default_na=False).set_index("case")
# Every data set the R script wrote (at least these four).
DATASETS = sorted(
    p.name.removeprefix("data_").removesuffix(".csv")
    for p in FIXTURES.glob("data_*.csv")
    if (FIXTURES / (p.name.removeprefix("data_").removesuffix(".csv") + ".csv.gz")).exists()
)
assert {"salmonella_agona", "ha_sts", "campy_de", "synthetic"} <= set(DATASETS)
OUTPUTS = ("expected", "upperbound", "score", "pvalue")
EPS = np.finfo(float).eps


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


# --- the batched kernel against a per-pair reference --------------------------------------
#
# R's glm.fit step by step on the explicit design (intercept, trend in the 1-based time,
# treatment contrasts of the present seasonal levels), solved by QR: the per-series code that
# the batched kernel replaced. It shares nothing with the kernel's per-level normal equations.


def _ref_glm(yv, x, prior, offset):
    mu = np.maximum(np.exp(np.log(yv + 0.1)), EPS)
    eta = np.log(yv + 0.1)

    def deviance(mu):
        d = mu.copy()
        pos = yv > 0
        d[pos] = yv[pos] * np.log(yv[pos] / mu[pos]) - (yv[pos] - mu[pos])
        return float(2 * np.sum(prior * d))

    dev_old, converged = deviance(mu), False
    for _ in range(25):
        z = eta - offset + (yv - mu) / mu
        ww = np.sqrt(prior * mu)
        q, r = np.linalg.qr(x * ww[:, np.newaxis])
        beta = np.linalg.solve(r, q.T @ (z * ww))
        eta = x @ beta + offset
        mu = np.maximum(np.exp(eta), EPS)
        dev = deviance(mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
            converged = True
            break
        dev_old = dev
    r_inv = np.linalg.inv(r)
    df = yv.size - x.shape[1]
    resid = (yv - mu) / mu
    disp = float(np.sum(ww**2 * resid**2) / df)
    return {
        "converged": converged, "beta": beta, "mu": mu, "hat": (q**2).sum(axis=1),
        "cov": r_inv @ r_inv.T, "df": df, "resid": resid, "disp": disp, "phi": max(disp, 1.0),
    }  # fmt: skip


def _ref_model(yv, time, lv, offset, trend, opts):
    def design(trend):
        cols = [np.ones_like(time)] + ([time] if trend else [])
        dummies = np.unique(lv)[1:] if opts["no_periods"] != 1 else np.empty(0)
        return np.column_stack(cols + [(lv == d).astype(float) for d in dummies]), dummies

    x, dummies = design(trend)
    if yv.size <= x.shape[1]:
        return None
    fit = _ref_glm(yv, x, np.ones_like(yv), offset)
    if not fit["converged"]:
        if not trend:
            return None
        trend = False
        x, dummies = design(trend)
        fit = _ref_glm(yv, x, np.ones_like(yv), offset)
        if not fit["converged"]:
            return None
    if opts["reweight"]:
        mu = fit["mu"]
        s = (
            1.5
            * (yv ** (2 / 3) * mu ** (-1 / 6) - mu**0.5)
            / np.sqrt(fit["phi"] * (1 - fit["hat"]))
        )
        omega = np.where(s > opts["weights_threshold"], s**-2.0, 1.0)
        omega = omega * s.size / omega.sum()
        fit = _ref_glm(yv, x, omega, offset)
        fit["disp"] = float(np.sum(omega * fit["resid"] ** 2) / fit["df"])
    return fit, trend, dummies


def _ref_pair(y_row, pop_row, t, opts):
    """(eta0, se(eta0), phi) at ``t`` of one series, or None."""
    freq, b, w, p = 52, opts["b"], opts["w"], opts["no_periods"]
    pwni = w if opts["past_weeks_not_included"] is None else opts["past_weeks_not_included"]
    levels = farrington._blocks(y_row.size, t, freq, b, w, p)
    levels[max(0, t - pwni) : t + 1] = np.nan
    idx = np.flatnonzero(~np.isnan(levels) & ~np.isnan(y_row))
    yv, time, lv = y_row[idx], idx + 1.0, levels[idx]
    offset = np.zeros_like(yv) if pop_row is None else np.log(pop_row[idx])
    off_now = 0.0 if pop_row is None else float(np.log(pop_row[t]))

    def predict(trend):
        model = _ref_model(yv, time, lv, offset, trend, opts)
        if model is None:
            return None
        fit, trend, dummies = model
        x0 = np.array([1.0] + ([t + 1.0] if trend else []) + [float(d == p) for d in dummies])
        eta0 = float(x0 @ fit["beta"] + off_now)
        return fit, trend, eta0, float(np.sqrt(x0 @ fit["cov"] @ x0 * fit["disp"]))

    out = predict(opts["trend"])
    if out is None:
        return None
    fit, trend, eta0, se = out
    if trend:
        t_stat = fit["beta"][1] / np.sqrt(fit["disp"] * fit["cov"][1, 1])
        p_trend = 2 * stats.t.sf(abs(t_stat), fit["df"])
        small = max(np.exp(eta0), EPS) <= yv.max()
        if not (b >= 3 and p_trend < opts["p_threshold_trend"] and small):
            out = predict(False)
            if out is None:
                return None
            fit, trend, eta0, se = out
    return eta0, se, fit["phi"]


def _options(**kwargs) -> dict:
    opts = {
        "b": 5, "w": 3, "reweight": True, "weights_threshold": 2.58, "trend": True,
        "p_threshold_trend": 0.05, "no_periods": 1, "past_weeks_not_included": None,
    }  # fmt: skip
    return opts | kwargs


def _messy_counts(seed: int = 3, n_series: int = 5, n_time: int = 340) -> np.ndarray:
    """Seasonal NB series with different missing patterns, one all-zero stretch."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_time)
    mu = np.exp(1.5 + 0.6 * np.sin(2 * np.pi * t / 52) + rng.normal(0, 0.3, (n_series, 1)))
    counts = rng.negative_binomial(3, 3 / (3 + mu)).astype(float)
    counts[1, rng.choice(n_time, 40, replace=False)] = np.nan  # scattered
    counts[2, 50:120] = np.nan  # a long gap
    counts[3, ::3] = np.nan  # every third week
    counts[4, :200] = 0.0  # sparse: zeros, then counts
    return counts


def _check_against_reference(counts, opts, monitor, population=None):
    pwni = opts["past_weeks_not_included"]
    rel, lev = farrington._reference_weeks(
        52, opts["b"], opts["w"], opts["no_periods"], opts["w"] if pwni is None else pwni
    )
    ok, eta0, se, phi = farrington._fit_models(
        counts, population, np.asarray(monitor), rel, lev, 52, opts["b"], opts["no_periods"],
        opts["trend"], opts["reweight"], opts["weights_threshold"], opts["p_threshold_trend"],
    )  # fmt: skip
    n_ok = 0
    for j in range(counts.shape[0]):
        for i, t in enumerate(monitor):
            ref = _ref_pair(counts[j], None if population is None else population[j], t, opts)
            assert ok[j, i] == (ref is not None), (j, t)
            if ref is not None:
                n_ok += 1
                # eta0 is a log: absolute (= relative on the mean scale)
                np.testing.assert_allclose(eta0[j, i], ref[0], rtol=0, atol=1e-9)
                np.testing.assert_allclose([se[j, i], phi[j, i]], ref[1:], rtol=1e-8)
    return n_ok


@pytest.mark.parametrize(
    "opts",
    [
        _options(weights_threshold=1.0),
        _options(no_periods=10, past_weeks_not_included=26, p_threshold_trend=1.0),
        _options(b=3, w=2, no_periods=4, past_weeks_not_included=10),
        _options(trend=False, reweight=False),
    ],
    ids=["original", "improved", "b3_p4", "no_trend_no_reweight"],
)
def test_batched_kernel_equals_per_pair_reference(opts: dict):
    counts = _messy_counts()
    monitor = np.arange(counts.shape[1] - 12, counts.shape[1])
    assert _check_against_reference(counts, opts, monitor) > 40


def test_batched_kernel_with_population_and_missing_levels():
    counts = _messy_counts(seed=11)[:4].copy()
    n_time = counts.shape[1]
    population = 50000 + 300 * np.arange(n_time) + 1000 * np.arange(4)[:, None]
    opts = _options(no_periods=10, past_weeks_not_included=26, p_threshold_trend=1.0)
    t = n_time - 5
    rel, lev = farrington._reference_weeks(52, 5, 3, 10, 26)
    counts[0, t + rel[lev == 1]] = np.nan  # the lowest level absent at t: level 2 is the base
    counts[1, t + rel[lev == 10]] = np.nan  # the level of t absent: predicted at the base
    counts[2, t + rel[(lev == 4) | (lev == 7)]] = np.nan
    monitor = np.arange(n_time - 8, n_time)
    assert _check_against_reference(counts, opts, monitor, population) >= 28
    result = farrington_flexible(counts, population=population, monitor=monitor, **opts)
    assert np.isfinite(result.score[:3, 3]).all()


def test_each_series_alone_equals_the_batch():
    counts = _messy_counts(seed=5)
    monitor = np.arange(counts.shape[1] - 30, counts.shape[1])
    for preset in (FARRINGTON_ORIGINAL, FARRINGTON_IMPROVED):
        batch = farrington_flexible(counts, monitor=monitor, **preset)
        for j in range(counts.shape[0]):
            alone = farrington_flexible(counts[j], monitor=monitor, **preset)
            for name in (*OUTPUTS, "alarm"):
                np.testing.assert_array_equal(getattr(alone, name)[0], getattr(batch, name)[j])


@pytest.mark.parametrize("p_threshold", [0.0, 1e-6, 0.05, 0.5, 1.0, 1.5])
def test_trend_critical_values_reproduce_the_p_value_test(p_threshold: float):
    rng = np.random.default_rng(1)
    crit = farrington._t_critical(p_threshold, 300)
    df = rng.integers(1, 301, 20000)
    t_stat = np.concatenate([
        rng.normal(0, 3, 10000), crit[df[10000:]] * (1 + rng.normal(0, 1e-15, 10000)),
    ])  # fmt: skip
    t_stat[:20] = [0.0, -0.0, 1e-300, -1e-17, 7e-17, np.inf, -np.inf, np.nan, *range(12)]
    with np.errstate(invalid="ignore"):
        expected = 2 * stats.t.sf(np.abs(t_stat), df) < p_threshold
        differ = (np.abs(t_stat) > crit[df]) != expected
    # only where scipy's p-value is not monotone in the last bits
    np.testing.assert_allclose(np.abs(t_stat[differ]), crit[df[differ]], rtol=1e-13)


def test_kernel_decisions_that_disagree_with_scipy_are_refitted(monkeypatch):
    counts = _messy_counts(seed=9)
    monitor = np.arange(counts.shape[1] - 10, counts.shape[1])
    for preset in (FARRINGTON_ORIGINAL, FARRINGTON_IMPROVED):
        right = farrington_flexible(counts, monitor=monitor, **preset)
        with monkeypatch.context() as m:  # a kernel test that is wrong everywhere
            m.setattr(farrington, "_t_critical", lambda p, n: np.where(
                np.arange(n + 1) % 2 == 0, np.inf, -np.inf))  # fmt: skip
            fixed = farrington_flexible(counts, monitor=monitor, **preset)
        for name in (*OUTPUTS, "alarm"):
            np.testing.assert_array_equal(getattr(fixed, name), getattr(right, name))


def test_huge_negative_binomial_means_get_a_quantile():
    # muan with a huge standard error: scipy's quantile search would not end above 2^53
    at = np.log(2.0**50)
    eta0 = np.array([np.nextafter(at, 0), np.nextafter(at, np.inf), 40.0, 400.0, 800.0])
    se = np.zeros_like(eta0)
    yt = np.zeros_like(eta0)
    for phi in (np.ones_like(eta0), np.full_like(eta0, 4.3)):
        with np.errstate(over="ignore", divide="ignore"):
            upper, prob = farrington._noufaily(eta0, se, phi, yt, 1.6448536269514722, 0.05, "muan")
        np.testing.assert_allclose(upper[0], upper[1], rtol=1e-12)  # continuous at 2^50
        assert np.isfinite(upper[:4]).all() and np.isnan(upper[4])
        np.testing.assert_allclose(upper[2], np.exp(40.0), rtol=1e-7)
        np.testing.assert_array_equal(prob[:4], 1.0)


def test_empty_monitor_and_no_series():
    result = farrington_flexible(np.ones((3, 300)), monitor=[])
    assert result.alarm.shape == (3, 0) and result.expected.shape == (3, 0)
    result = farrington_flexible(np.ones((0, 300)), monitor=[290])
    assert result.alarm.shape == (0, 1)


def test_parallel_and_serial_kernel_agree(monkeypatch):
    counts = _messy_counts(seed=13)
    monitor = np.arange(counts.shape[1] - 20, counts.shape[1])
    serial = farrington_flexible(counts, monitor=monitor, **FARRINGTON_IMPROVED)
    monkeypatch.setattr(farrington, "_PARALLEL_MIN", 0)  # the thread pool even for this
    parallel = farrington_flexible(counts, monitor=monitor, **FARRINGTON_IMPROVED)
    for name in (*OUTPUTS, "alarm"):
        np.testing.assert_array_equal(getattr(parallel, name), getattr(serial, name))
