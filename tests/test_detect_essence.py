"""Rnssp's NSSP-ESSENCE EWMA and adaptive regression, against scalar loops written from R."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from epiradar.detect.temporal import ewma as essence_ewma
from epiradar.detect.temporal import ewma_regression_switch, regression_dow
from epiradar.detect.temporal.essence import adjusted_r2


def _qt(p: float, df: int) -> float:
    return float(stats.t.ppf(p, df))


def _ref_ewma(y: list[float], b: int = 28, g: int = 2, w1: float = 0.4, w2: float = 0.9):
    """Rnssp ewma_loop transcribed with 1-based R indices; returns {i0: (exp, stat, p)}."""
    n = len(y)
    yy = [math.nan] + list(y)  # 1-based
    z1 = [math.nan] * (n + 1)
    z2 = [math.nan] * (n + 1)
    z1[1] = z2[1] = yy[1]
    min_b = 11
    for i0 in range(2, min_b + g + 1):
        z1[i0] = w1 * yy[i0] + (1 - w1) * z1[i0 - 1]
        z2[i0] = w2 * yy[i0] + (1 - w2) * z2[i0 - 1]
    ndx = list(range(1, min_b))
    out = {}
    for i in range(min_b + g + 1, n + 1):
        if ndx[-1] < b:
            ndx = [0, *ndx]
        ndx = [k + 1 for k in ndx]
        n_l = len(ndx)
        dof = n_l - 1
        base = [yy[k] for k in ndx]
        mu = sum(base) / n_l
        sd = math.sqrt(sum((v - mu) ** 2 for v in base) / (n_l - 1))
        ucl_a = round(_qt(0.99, dof), 5)
        ucl_w = round(_qt(0.95, dof), 5)
        res = []
        zs = []
        for w, z in ((w1, z1), (w2, z2)):
            corr = math.sqrt(
                w / (2 - w) + 1 / n_l - 2 * (1 - w) ** (g + 1) * ((1 - (1 - w) ** n_l) / n_l)
            )
            min_s = (w / ucl_w) * (1 + 0.5 * (1 - w) ** 2)
            const = (0.1289 - (0.2414 - 0.1826 * (1 - w) ** 4) * math.log(10 * 0.05)) * (w / ucl_w)
            sig = max(min_s, sd * corr + const)
            z[i] = w * yy[i] + (1 - w) * z[i - 1]
            st = (z[i] - mu) / sig
            if abs(st) > ucl_a:
                z[i] = mu + math.copysign(1, st) * ucl_a * sig
            res.append((st, float(stats.t.sf(st, dof))))
            zs.append(z)
        (s1, p1), (s2, p2) = res
        out[i - 1] = (mu, s1, p1) if p1 < p2 else (mu, s2, p2)
    return out


def _ref_regression(y: list[float], weekday0: int, b: int = 28, g: int = 2):
    """Rnssp adaptive_regression transcribed (1-based); returns {t0: (exp, stat, p, r2adj)}."""
    n = len(y)
    min_b = 11
    ndx = list(range(1, min_b))
    out = {}
    for i in range(min_b + g + 1, n + 1):
        if ndx[-1] < b:
            ndx = [0, *ndx]
        ndx = [k + 1 for k in ndx]
        if ndx[-1] < b:
            ndx_time = list(range(1, ndx[-1] + 1))
            ndx_test = ndx[-1] + g + 1
        else:
            ndx_time = list(range(1, b + 1))
            ndx_test = b + g + 1
        n_l = len(ndx)
        dof = n_l - 8
        rows = []
        for tt, k in zip(ndx_time, ndx, strict=True):
            dow = (weekday0 + k - 1) % 7  # 0 Mon .. 6 Sun
            rows.append([1.0, float(tt)] + [1.0 if dow == d else 0.0 for d in range(6)])
        x = np.array(rows)
        obs = np.array([y[k - 1] for k in ndx])
        beta, *_ = np.linalg.lstsq(x, obs, rcond=None)
        fit = x @ beta
        resid = obs - fit
        rss = float(resid @ resid)
        mse = rss / dof
        mss = float(((fit - fit.mean()) ** 2).sum())
        r2 = mss / (rss + mss) if rss + mss > 0 else math.nan
        r2a = 1 - (1 - r2) * ((n_l - 1) / dof)
        r2a = 0.0 if math.isnan(r2a) else r2a
        floor = 1.01 / round(_qt(0.95, dof), 5)
        sig = max(math.sqrt(mse) * math.sqrt(((n_l + 7) * (n_l - 4)) / (n_l * (n_l - 7))), floor)
        dow_test = (weekday0 + i - 1) % 7 + 1  # R's %u
        if dow_test < 7:
            exp = max(0.0, beta[0] + ndx_test * beta[1] + beta[dow_test + 1])
        else:
            exp = max(0.0, beta[0] + ndx_test * beta[1])
        st = (y[i - 1] - exp) / sig
        out[i - 1] = (exp, st, float(stats.t.sf(st, dof)), r2a)
    return out


@pytest.fixture
def series() -> np.ndarray:
    rng = np.random.default_rng(7)
    dow = np.array([1.3, 1.1, 1.0, 1.0, 1.0, 0.7, 0.6])
    lam = 20 * np.tile(dow, 10)[:65] * np.linspace(1, 1.4, 65)
    return rng.poisson(np.vstack([lam, lam * 0.2, lam * 3])).astype(float)


def test_ewma_matches_scalar_loop(series: np.ndarray) -> None:
    res = essence_ewma(series)
    assert res.monitor[0] == 13
    assert res.score.shape == (3, 65 - 13)
    for s in range(3):
        ref = _ref_ewma(series[s].tolist())
        for k, t in enumerate(res.monitor):
            exp, st, p = ref[int(t)]
            assert res.expected[s, k] == pytest.approx(exp, rel=1e-12)
            assert res.score[s, k] == pytest.approx(st, rel=1e-10, abs=1e-12)
            assert res.pvalue[s, k] == pytest.approx(p, rel=1e-8, abs=1e-15)


def test_ewma_shorter_baseline_and_guard(series: np.ndarray) -> None:
    res = essence_ewma(series, baseline=14, guard=0, smoothing=0.3, sudden=0.8)
    ref = _ref_ewma(series[1].tolist(), b=14, g=0, w1=0.3, w2=0.8)
    assert res.monitor[0] == 11
    for k, t in enumerate(res.monitor):
        assert res.score[1, k] == pytest.approx(ref[int(t)][1], rel=1e-10, abs=1e-12)


def test_ewma_upperbound_is_the_red_threshold(series: np.ndarray) -> None:
    res = essence_ewma(series, monitor=[40])
    for s in range(3):
        bound = res.upperbound[s, 0]
        for delta, alarms in ((-1e-6, False), (1e-6, True)):
            y = series.copy()
            y[s, 40] = bound + delta
            assert bool(essence_ewma(y, monitor=[40]).alarm[s, 0]) is alarms


def test_regression_matches_scalar_loop(series: np.ndarray) -> None:
    for weekday0 in (0, 3, 6):
        res = regression_dow(series, weekday0=weekday0)
        r2 = adjusted_r2(series, weekday0=weekday0)
        for s in range(3):
            ref = _ref_regression(series[s].tolist(), weekday0)
            for k, t in enumerate(res.monitor):
                exp, st, p, r2a = ref[int(t)]
                assert res.expected[s, k] == pytest.approx(exp, rel=1e-9, abs=1e-9)
                assert res.score[s, k] == pytest.approx(st, rel=1e-8, abs=1e-9)
                assert res.pvalue[s, k] == pytest.approx(p, rel=1e-7, abs=1e-12)
                assert r2[s, k] == pytest.approx(r2a, rel=1e-9, abs=1e-9)


def test_regression_upperbound(series: np.ndarray) -> None:
    res = regression_dow(series, weekday0=2, monitor=[50])
    crit = _qt(0.99, 28 - 8)
    sigma = (series[:, 50] - res.expected[:, 0]) / res.score[:, 0]
    np.testing.assert_allclose(res.upperbound[:, 0], res.expected[:, 0] + crit * sigma)
    np.testing.assert_array_equal(res.alarm[:, 0], series[:, 50] > res.upperbound[:, 0])


def test_constant_series() -> None:
    y = np.full((1, 40), 5.0)
    e = essence_ewma(y)
    assert np.all(np.isfinite(e.score))
    np.testing.assert_allclose(e.score, 0.0, atol=1e-12)
    np.testing.assert_allclose(e.pvalue, 0.5)
    r = regression_dow(y, weekday0=0)
    np.testing.assert_allclose(r.expected, 5.0)
    np.testing.assert_allclose(r.pvalue, 0.5, atol=1e-9)
    np.testing.assert_allclose(adjusted_r2(y, weekday0=0), 0.0)  # 0/0 -> 0 as Rnssp
    # sd 0 baseline: Rnssp's floors keep the sigma positive, a jump alarms
    y2 = y.copy()
    y2[0, 35] = 12.0
    ref = _ref_ewma(y2[0].tolist())
    e2 = essence_ewma(y2, monitor=[35])
    assert e2.score[0, 0] == pytest.approx(ref[35][1])
    assert e2.alarm[0, 0]
    assert regression_dow(y2, weekday0=0, monitor=[35]).alarm[0, 0]
    ref_r = _ref_regression(y2[0].tolist(), 0)
    assert regression_dow(y2, weekday0=0, monitor=[35]).score[0, 0] == pytest.approx(ref_r[35][1])


def test_planted_outbreak_alarms(series: np.ndarray) -> None:
    y = series.copy()
    y[:, 55:58] = 3 * y[:, 40:55].mean(axis=1, keepdims=True)
    for res in (essence_ewma(y), regression_dow(y, weekday0=0)):
        k = np.searchsorted(res.monitor, 55)
        assert res.alarm[:, k].all()


def test_prospective(series: np.ndarray) -> None:
    y = series.copy()
    y[:, 45] += 100
    for fn in (essence_ewma, lambda c: regression_dow(c, weekday0=4)):
        a, b = fn(series), fn(y)
        k = np.searchsorted(a.monitor, 45)
        for field in ("expected", "upperbound", "pvalue", "score"):
            np.testing.assert_array_equal(getattr(a, field)[:, :k], getattr(b, field)[:, :k])


def test_missing_counts(series: np.ndarray) -> None:
    y = series.copy()
    y[1, 30] = np.nan
    e = essence_ewma(y)
    k = np.searchsorted(e.monitor, 30)
    assert np.isfinite(e.score[1, :k]).all()
    assert np.isnan(e.score[1, k:]).all() and not e.alarm[1, k:].any()
    np.testing.assert_array_equal(e.score[[0, 2]], essence_ewma(series).score[[0, 2]])
    r = regression_dow(y, weekday0=0)
    clean = regression_dow(series, weekday0=0)
    undefined = (r.monitor == 30) | ((r.monitor >= 30 + 2 + 1) & (r.monitor <= 30 + 2 + 28))
    assert np.isnan(r.score[1, undefined]).all() and not r.alarm[1, undefined].any()
    np.testing.assert_allclose(r.score[1, ~undefined], clean.score[1, ~undefined])
    np.testing.assert_allclose(r.score[[0, 2]], clean.score[[0, 2]])


def test_shapes_and_validation(series: np.ndarray) -> None:
    one = essence_ewma(series[0])
    assert one.score.shape == (1, 52)
    r = regression_dow(series, weekday0=0, monitor=[20, 13, 20])
    np.testing.assert_array_equal(r.monitor, [13, 20])
    assert r.alarm.shape == (3, 2) and r.alarm.dtype == bool
    with pytest.raises(ValueError):
        essence_ewma(series, monitor=[12])
    with pytest.raises(ValueError):
        regression_dow(series, weekday0=0, baseline=20)
    with pytest.raises(ValueError):
        regression_dow(series, weekday0=7)
    empty = essence_ewma(series[:, :10])
    assert empty.score.shape == (3, 0)


def test_switch_picks_by_adjusted_r2(series: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    flat = rng.poisson(3.0, size=65).astype(float)  # no weekly pattern: low R^2 -> EWMA
    y = np.vstack([series, flat])
    sw = ewma_regression_switch(y, weekday0=0)
    reg = regression_dow(y, weekday0=0)
    ew = essence_ewma(y)
    r2 = adjusted_r2(y, weekday0=0)
    use = r2 >= 0.60
    assert use.any() and (~use).any()
    for field in ("expected", "upperbound", "pvalue", "score", "alarm"):
        want = np.where(use, getattr(reg, field), getattr(ew, field))
        np.testing.assert_array_equal(getattr(sw, field), want)
    # a missing R^2 (NaN in the regression baseline) takes the EWMA, as Rnssp
    y[3, 20] = np.nan
    sw = ewma_regression_switch(y, weekday0=0, monitor=[25])
    assert np.isnan(adjusted_r2(y, weekday0=0, monitor=[25])[3, 0])
    assert np.isnan(sw.score[3, 0])  # the EWMA of that series is undefined from day 20
