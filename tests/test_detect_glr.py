"""GLR charts against R surveillance::algo.glrpois / algo.glrnb golden fixtures.

See tests/reference/glr_golden.R.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import golden
from epiradar.detect.temporal import glr_nb, glr_pois

FIXTURES = Path(__file__).parent / "fixtures" / "glr"
MANIFEST = pd.read_csv(FIXTURES / "manifest.csv", keep_default_na=False).set_index("case")
DATASETS = [*golden.REAL_DATASETS, "synthetic_daily"]
FREQ = pd.read_csv(FIXTURES / "freq.csv").set_index("dataset")["freq"]


def _data(dataset: str) -> np.ndarray:
    return golden.series(FIXTURES, dataset)


def _golden(dataset: str) -> pd.DataFrame:
    return golden.results(FIXTURES, dataset)


def _r_case(dataset: str, case: str, n_series: int) -> dict[str, np.ndarray]:
    rows = _golden(dataset)
    rows = rows[rows["case"] == case]
    out = {
        c: rows[c].to_numpy(dtype=float).reshape(n_series, -1) for c in ("mu0", "value", "cases")
    }
    out["time"] = rows["time"].to_numpy().reshape(n_series, -1)[0]
    alarm = rows["alarm"].to_numpy(dtype=float).reshape(n_series, -1)
    # R refuses a series whose GLM mu0 is not finite: every output left empty.
    out["refused"] = np.isnan(alarm).all(axis=1)
    out["alarm"] = np.nan_to_num(alarm).astype(bool)
    return out


def _run(
    counts: np.ndarray,
    row: pd.Series,
    mu0: np.ndarray | None,
    monitor: np.ndarray,
    ret: str,
    freq: int,
):
    kwargs = {
        "mu0": mu0,
        "freq": freq,
        "mu0_trend": row["trend"] == "1",
        "mu0_harmonics": int(row["harmonics"]) if row["harmonics"] != "" else 1,
        "c_arl": float(row["c_arl"]),
        "m_window": int(row["m_window"]),
        "theta": float(row["theta"]) if row["theta"] != "" else None,
        "ret": ret,
        "monitor": monitor,
    }
    if row["model"] == "nb":
        return glr_nb(counts, alpha=float(row["alpha"]), **kwargs)
    return glr_pois(counts, **kwargs)


def test_fixtures_cover_the_settings_and_datasets():
    assert set(MANIFEST["model"]) == {"pois", "nb"}
    assert set(MANIFEST["mu0"]) == {"series", "point", "glm"}
    assert {-1} < set(MANIFEST["m_window"])
    assert "" in set(MANIFEST["theta"]) and len(set(MANIFEST["theta"])) > 2
    for dataset in DATASETS:
        golden = _golden(dataset)
        assert set(golden["case"]) == set(MANIFEST.index)
    assert sum(_golden(d)["alarm"].sum() for d in DATASETS) > 50


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("case", MANIFEST.index.tolist())
def test_equals_r_algo_glr(dataset: str, case: str):
    row = MANIFEST.loc[case]
    counts = _data(dataset)
    r = _r_case(dataset, case, counts.shape[0])
    monitor = r["time"] - 1  # R's range is 1-based
    freq = int(FREQ[dataset])
    refused = r.pop("refused")
    if refused.any():  # R refuses them; so does this (a GLM mu0 that is not finite)
        assert row["mu0"] == "glm"
        for j in np.flatnonzero(refused):
            with pytest.raises(ValueError, match="mu0 must be positive and finite"):
                _run(counts[j], row, None, monitor, "value", freq)
        counts = counts[~refused]
        r = {k: v if k == "time" else v[~refused] for k, v in r.items()}
    mu0 = {"series": r["mu0"][:, 0], "point": r["mu0"], "glm": None}[row["mu0"]]
    result = _run(counts, row, mu0, monitor, "value", freq)
    np.testing.assert_array_equal(result.monitor, monitor)
    np.testing.assert_array_equal(result.alarm, r["alarm"])
    # A GLM mu0 agrees to rounding, except where the fit is nearly separated (2 counts in 190
    # ha_sts weeks, extrapolated to about 1e-8 with a trend): about 2e-8 relative there.
    np.testing.assert_allclose(result.expected, r["mu0"], rtol=1e-12 if mu0 is not None else 1e-7)
    np.testing.assert_allclose(result.score, r["value"], rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(result.upperbound, np.maximum(result.score, 0.0))
    assert np.isnan(result.pvalue).all()
    if row["cases"]:
        known = ~np.isnan(r["cases"])
        if not known.any():  # R's negative binomial GLR brute force is too slow for these
            assert row["model"] == "nb" and row["theta"] == ""
            assert dataset in {"campy_de", "ha_sts", "measles_de"}
            return
        assert known.all()
        by_cases = _run(counts, row, mu0, monitor, "cases", freq)
        np.testing.assert_array_equal(by_cases.alarm, r["alarm"])
        np.testing.assert_array_equal(by_cases.score, result.score)
        np.testing.assert_allclose(by_cases.upperbound, r["cases"], rtol=1e-6, atol=1e-9)


def test_poisson_glr_matches_a_plain_loop_and_bound_is_the_first_alarming_count():
    rng = np.random.default_rng(5)
    counts = rng.poisson(4.0, size=(2, 60)).astype(float)
    counts[0, 40:44] += [6, 9, 12, 7]
    c = 4.0
    result = glr_pois(counts, mu0=4.0, c_arl=c, ret="cases")

    def stat(seg: np.ndarray) -> float:
        best = 0.0
        for k in range(seg.size):
            sx, sm = seg[k:].sum(), 4.0 * (seg.size - k)
            kappa = max(0.0, np.log(sx / sm)) if sx > 0 else 0.0
            best = max(best, kappa * sx + (1 - np.exp(kappa)) * sm)
        return best

    for j in range(2):
        start = 0
        for n in range(60):
            seg = counts[j, start : n + 1].copy()
            assert result.score[j, n] == pytest.approx(stat(seg), rel=1e-12, abs=1e-12)
            bound = 0
            seg[-1] = bound
            while stat(seg) < c:
                bound += 1
                seg[-1] = bound
            assert result.upperbound[j, n] == bound
            assert result.alarm[j, n] == (counts[j, n] >= bound)
            if result.alarm[j, n]:
                start = n + 1
    assert result.alarm[0, 40:45].any()


def test_nb_glr_tends_to_poisson_as_alpha_vanishes():
    counts = np.array([3.0, 5, 2, 4, 6, 9, 11, 8, 4, 3])
    pois = glr_pois(counts, mu0=4.0, c_arl=50)
    nb = glr_nb(counts, mu0=4.0, alpha=1e-7, c_arl=50)
    np.testing.assert_allclose(nb.score, pois.score, rtol=1e-4, atol=1e-5)


def test_missing_count_makes_the_statistic_undefined_while_it_is_in_use():
    counts = np.full(40, 3.0)
    counts[10] = np.nan
    whole = glr_pois(counts, mu0=3.0)
    assert np.isfinite(whole.score[0, :10]).all()
    assert np.isnan(whole.score[0, 10:]).all() and not whole.alarm[0, 10:].any()
    window = glr_nb(counts, mu0=3.0, alpha=0.1, m_window=5, ret="cases")
    assert np.isnan(window.score[0, 10:16]).all() and np.isnan(window.upperbound[0, 10:16]).all()
    assert np.isfinite(window.score[0, 16:]).all()


def test_one_series_per_point_mu0_and_reset():
    counts = np.array([2.0, 3, 2, 14, 15, 2, 3, 2])
    one = glr_pois(counts, mu0=2.5, c_arl=5)
    assert one.alarm.shape == (1, 8)
    per_point = glr_pois(counts, mu0=np.full((1, 8), 2.5), c_arl=5)
    np.testing.assert_array_equal(per_point.score, one.score)
    first = int(np.flatnonzero(one.alarm[0])[0])
    assert first == 3
    # The chart restarts after an alarm: the next point is scored alone.
    alone = glr_pois(counts[first + 1 :], mu0=2.5, c_arl=5)
    np.testing.assert_array_equal(one.score[0, first + 1 : first + 2], alone.score[0, :1])
    assert glr_pois(counts, mu0=2.5, monitor=[]).alarm.shape == (1, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mu0": None}, "pass monitor"),
        ({"mu0": None, "monitor": [5]}, "freq"),
        ({"mu0": None, "monitor": [2], "freq": 4}, "at least 3 time points"),
        ({"mu0": "glm"}, "mu0 must be None"),
        ({"mu0": 0.0}, "positive"),
        ({"mu0": [1.0, 2.0]}, "one value per series"),
        ({"mu0": 1.0, "m_window": 0}, "m_window"),
        ({"mu0": 1.0, "theta": 1.0}, "theta"),
        ({"mu0": 1.0, "ret": "both"}, "ret"),
        ({"mu0": 1.0, "monitor": [0, 10]}, "monitor must lie"),
    ],
)
def test_rejects_what_it_does_not_offer(kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        glr_pois(np.ones(10), **kwargs)
    with pytest.raises(ValueError, match=message):
        glr_nb(np.ones(10), alpha=0.1, **kwargs)


def test_nb_needs_a_positive_alpha():
    with pytest.raises(ValueError, match="alpha"):
        glr_nb(np.ones(10), mu0=1.0, alpha=0.0)
