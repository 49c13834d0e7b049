"""CUSUM against R surveillance::algo.cusum golden fixtures (see tests/reference/cusum_golden.R)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import golden
from epiradar.detect.temporal import cusum

FIXTURES = Path(__file__).parent / "fixtures" / "cusum"
MANIFEST = pd.read_csv(FIXTURES / "manifest.csv", keep_default_na=False).set_index("case")
DATASETS = [*golden.REAL_DATASETS, "synthetic_daily"]


def _data(dataset: str) -> np.ndarray:
    return golden.series(FIXTURES, dataset)


def _golden(dataset: str) -> pd.DataFrame:
    return golden.results(FIXTURES, dataset)


def _r_case(dataset: str, case: str, n_series: int) -> dict[str, np.ndarray]:
    rows = _golden(dataset)
    rows = rows[rows["case"] == case]
    out = {
        c: rows[c].to_numpy(dtype=float).reshape(n_series, -1) for c in ("m", "cusum", "upperbound")
    }
    out["time"] = rows["time"].to_numpy().reshape(n_series, -1)[0]
    out["alarm"] = rows["alarm"].fillna(0).to_numpy(dtype=int).reshape(n_series, -1).astype(bool)
    out["alarm_na"] = rows["alarm"].isna().to_numpy().reshape(n_series, -1)
    return out


def test_fixtures_cover_every_transform_and_dataset():
    assert set(MANIFEST["trans"]) == {
        "standard",
        "rossi",
        "anscombe",
        "anscombe2nd",
        "pearsonNegBin",
        "none",
    }
    assert set(MANIFEST["m"]) == {"estimated", "given"}
    for dataset in DATASETS:
        assert set(_golden(dataset)["case"]) == set(MANIFEST.index)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("case", MANIFEST.index.tolist())
def test_equals_r_algo_cusum(dataset: str, case: str):
    row = MANIFEST.loc[case]
    counts = _data(dataset)
    r = _r_case(dataset, case, counts.shape[0])
    monitor = r["time"] - 1  # R's range is 1-based
    m = r["m"][:, 0] if row["m"] == "given" else None
    result = cusum(
        counts,
        k=float(row["k"]),
        h=float(row["h"]),
        m=m,
        trans=row["trans"],
        alpha=float(row["alpha"]) if row["alpha"] != "" else None,
        monitor=monitor,
    )
    np.testing.assert_array_equal(result.monitor, monitor)
    np.testing.assert_array_equal(result.alarm, r["alarm"])
    np.testing.assert_allclose(result.expected, r["m"], rtol=1e-12)
    np.testing.assert_allclose(result.score, r["cusum"], rtol=1e-9, atol=1e-12)
    # R sets an undefined (NA) bound to 0; here it is NaN (the only deviation).
    undefined = r["alarm_na"] & np.isnan(r["cusum"])
    r_upper = np.where(
        undefined & (r["upperbound"] == 0) & np.isnan(result.upperbound), np.nan, r["upperbound"]
    )
    np.testing.assert_allclose(result.upperbound, r_upper, rtol=1e-6, atol=1e-9)
    assert np.isnan(result.pvalue).all()


def test_missing_count_makes_the_rest_of_the_run_undefined():
    counts = _data("synthetic_daily")
    result = cusum(counts, monitor=np.arange(140, counts.shape[1]))
    gap = int(np.flatnonzero(np.isnan(counts[1]))[0])  # time index of the missing count
    col = int(np.flatnonzero(result.monitor == gap)[0])
    assert np.isfinite(result.upperbound[1, col])  # its bound only needs the earlier S
    assert np.isnan(result.score[1, col:]).all()
    assert np.isnan(result.upperbound[1, col + 1 :]).all()
    assert not result.alarm[1, col:].any()
    assert np.isfinite(result.score[[0, 2]]).all()  # other series are unaffected


def test_matches_a_plain_loop_and_standard_bound_is_the_first_alarming_count():
    rng = np.random.default_rng(3)
    counts = rng.poisson(4.0, size=(3, 80)).astype(float)
    counts[0, 60:64] += [5, 9, 12, 6]
    k, h = 1.04, 2.26
    result = cusum(counts, k=k, h=h, monitor=np.arange(40, 80))
    for j in range(3):
        m = counts[j, :40].mean()
        s = 0.0
        for i, t in enumerate(range(40, 80)):
            bound = np.ceil(np.sqrt(m) * (h + k - s) + m)
            assert result.upperbound[j, i] == max(bound, 0.0)
            s = max(0.0, s + (counts[j, t] - m) / np.sqrt(m) - k)
            assert result.score[j, i] == pytest.approx(s, rel=1e-12, abs=1e-12)
            assert result.alarm[j, i] == (s >= h) == (counts[j, t] >= bound)
    assert result.alarm[0].any()


def test_one_series_and_per_point_m():
    counts = np.array([3.0, 4, 5, 4, 3, 9, 12, 4])
    one = cusum(counts, monitor=[4, 5, 6, 7])
    assert one.alarm.shape == (1, 4)
    np.testing.assert_allclose(one.expected, 4.0)
    per_point = cusum(counts, m=np.full((1, 4), 4.0), monitor=[4, 5, 6, 7])
    np.testing.assert_array_equal(per_point.score, one.score)
    assert cusum(counts, monitor=[]).alarm.shape == (1, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trans": "anscombeNegBin"}, "unknown trans"),
        ({"m": "glm"}, "glm"),
        ({"monitor": [0, 1]}, "monitor must lie"),
        ({"m": [1.0, 2.0]}, "one value per series"),
    ],
)
def test_rejects_what_it_does_not_offer(kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        cusum(np.ones(10), **kwargs)
