"""estimate_rt, wallinga_teunis and discr_si against EpiEstim 2.2-4 golden fixtures.

The fixtures come from tests/reference/epiestim.R (EpiEstim's Flu2009, SARS2003, Measles1861,
Smallpox1972); each case below is rebuilt from its name as that script builds it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from epiradar.trace.rt import RT_COLUMNS, discr_si, estimate_rt, wallinga_teunis

FIXTURES = Path(__file__).parent / "fixtures" / "epiestim"
DATASETS = ["Flu2009", "SARS2003", "Measles1861", "Smallpox1972"]
SI = {"Flu2009": (2.6, 1.5), "SARS2003": (8.4, 3.8), "Measles1861": (14.9, 3.9)}
SI["Smallpox1972"] = (22.4, 6.1)
HELP = {"Flu2009": (2, 26, 8), "SARS2003": (14, 101, 20), "Measles1861": (17, 42, 23)}
HELP["Smallpox1972"] = (27, 51, 33)
RT_CASES = ["parametric", "non_parametric", "window14", "custom", "help", "prior", "imported"]
WT_CASES = ["parametric", "non_parametric", "leading_zeros"]
RTOL = 1e-8


@cache
def _data(dataset: str) -> tuple[pd.DataFrame, np.ndarray]:
    data = pd.read_csv(FIXTURES / f"data_{dataset}.csv")
    si = pd.read_csv(FIXTURES / f"si_{dataset}.csv")["p"].to_numpy()
    return data, si


@cache
def _golden(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"{name}.csv.gz")


def _ref(name: str, dataset: str, case: str) -> pd.DataFrame:
    frame = _golden(name)
    rows = frame[(frame["dataset"] == dataset) & (frame["case"] == case)]
    return rows.drop(columns=["dataset", "case"]).reset_index(drop=True)


def _rt_case(dataset: str, case: str) -> pd.DataFrame:
    data, si = _data(dataset)
    n = len(data)
    para = {"si_mean": SI[dataset][0], "si_sd": SI[dataset][1]}
    cases = {
        "parametric": para,
        "non_parametric": {"si_distr": si},
        "window14": {"si_distr": si, "window": 14},
        "custom": {"si_distr": si, "t_start": [2, 5, 10, 10, 20, n - 9]}
        | {"t_end": [4, 12, 10, 25, n, n]},
        "help": {"si_distr": si, "t_start": np.arange(HELP[dataset][0], HELP[dataset][1] + 1)}
        | {"t_end": np.arange(HELP[dataset][2], n + 1)},
        "prior": para | {"mean_prior": 2, "std_prior": 1},
    }
    if case == "imported":
        return estimate_rt(data["local"], imported=data["imported"], **para)
    return estimate_rt(data["I"].to_numpy(), **cases[case])


def _wt_case(dataset: str, case: str, **kwargs) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    data, si = _data(dataset)
    counts = data["I"].to_numpy()
    if case == "leading_zeros":
        counts = np.concatenate([[0, 0, 0], counts])
    if case == "parametric":
        w = discr_si(np.arange(counts.size), *SI[dataset])
        out = wallinga_teunis(counts, *SI[dataset], **kwargs)
    else:
        w = np.concatenate([si, np.zeros(max(0, counts.size - si.size))])[: counts.size]
        out = wallinga_teunis(counts, si_distr=si, **kwargs)
    return out, counts, w


def _assert_equal_r(mine: pd.DataFrame, ref: pd.DataFrame, columns: list[str]) -> None:
    np.testing.assert_array_equal(mine["t_start"], ref["t_start"])
    np.testing.assert_array_equal(mine["t_end"], ref["t_end"])
    for col in columns:
        np.testing.assert_allclose(mine[col], ref[col], rtol=RTOL, atol=0, err_msg=col)


@pytest.mark.parametrize("case", RT_CASES)
@pytest.mark.parametrize("dataset", DATASETS)
def test_estimate_rt_equals_epiestim(dataset, case):
    mine = _rt_case(dataset, case)
    ref = _ref("estimate_r", dataset, case)
    assert list(mine.columns) == RT_COLUMNS and len(mine) == len(ref) > 0
    _assert_equal_r(mine, ref, RT_COLUMNS[2:])


def test_fixtures_cover_early_windows_and_both_methods():
    est = _golden("estimate_r")
    assert est["mean"].isna().any() and est["mean"].notna().sum() > 1000
    assert set(est["case"]) == set(RT_CASES) and set(est["dataset"]) == set(DATASETS)


def test_discr_si_equals_epiestim():
    ref = pd.read_csv(FIXTURES / "discr_si.csv")
    mine = np.concatenate(
        [discr_si(g["k"], m, s) for (m, s), g in ref.groupby(["mean", "sd"], sort=False)]
    )
    # The tail of EpiEstim's formula is a difference of nearly equal terms (cancellation of
    # order 1e-13), so far-tail probabilities match absolutely, the body relatively.
    np.testing.assert_allclose(mine, ref["p"], rtol=0, atol=1e-12)
    body = ref["p"].to_numpy() > 1e-4
    np.testing.assert_allclose(mine[body], ref["p"][body], rtol=RTOL)


def test_dates_give_date_columns_and_same_numbers():
    data, si = _data("Flu2009")
    dates = pd.to_datetime(data["dates"])
    series = pd.Series(data["I"].to_numpy(), index=dates)
    out = estimate_rt(series, si_distr=si)
    assert list(out.columns[:4]) == ["t_start", "t_end", "date_start", "date_end"]
    assert out["date_start"].iloc[0] == dates[1] and out["date_end"].iloc[-1] == dates.iloc[-1]
    _assert_equal_r(out, _ref("estimate_r", "Flu2009", "non_parametric"), RT_COLUMNS[2:])
    # EpiEstim's own form of Flu2009: a data frame with `dates` and `I`
    frame = pd.DataFrame({"dates": data["dates"], "I": data["I"]})
    pd.testing.assert_frame_equal(estimate_rt(frame, si_distr=si), out)
    wt = wallinga_teunis(series, si_distr=si, n_sim=0)
    assert (wt["date_end"] - wt["date_start"] == pd.Timedelta(days=6)).all()


def test_imported_as_columns_equals_imported_argument():
    data, _ = _data("SARS2003")
    frame = data[["local", "imported"]]
    a = estimate_rt(frame, *SI["SARS2003"])
    b = estimate_rt(data["local"].to_numpy(), *SI["SARS2003"], imported=data["imported"])
    pd.testing.assert_frame_equal(a, b)
    # imported cases infect but are not infected: fewer local cases, lower R
    c = estimate_rt(data["I"].to_numpy(), *SI["SARS2003"])
    np.testing.assert_array_equal(a["mean"].isna(), c["mean"].isna())
    a, c = a["mean"].dropna(), c["mean"].dropna()
    assert (a <= c + 1e-12).all() and (a < c).any()


# --- Wallinga & Teunis -----------------------------------------------------------------------
# EpiEstim's wallinga_teunis gives a deterministic mean (each case's expected number of
# offspring, averaged over a window's cases) and std / 2.5% / 97.5% quantiles of n_sim
# transmission trees sampled with R's RNG, which numpy cannot reproduce. Those are checked
# statistically: in a sampled tree the number of a window's cases' offspring is a sum over days
# t of independent Binomial(I_t, P_t) (P_t: the chance that a day-t case's infector lies in the
# window), a distribution computed exactly below. R's (n_sim = 2000) and ours must both agree
# with it: the sample variance within 6 standard errors of the exact one, each sample quantile
# between the exact quantiles at p -/+ 6 sqrt(p (1 - p) / n_sim).


def _wt_exact(counts: np.ndarray, w: np.ndarray, starts, ends):
    """Exact pmf of the window's offspring count (and the window's case count) per window."""
    n = counts.size
    lam = np.convolve(counts, w)[:n]
    lag = np.arange(n)[:, None] - np.arange(n)[None, :]
    p = np.where(lag > 0, w[np.clip(lag, 0, n - 1)], 0.0) * counts[None, :]
    p = np.divide(p, lam[:, None], out=np.zeros_like(p), where=lam[:, None] > 0)
    out = []
    for s, e in zip(starts, ends, strict=True):
        chance = np.clip(p[:, s - 1 : e].sum(axis=1), 0, 1)
        pmf = np.ones(1)
        for t in np.flatnonzero((counts > 0) & (chance > 0)):
            k = int(counts[t])
            pmf = np.convolve(pmf, binom.pmf(np.arange(k + 1), k, chance[t]))
        out.append((pmf, counts[s - 1 : e].sum()))
    return out


def _check_sampled(table: pd.DataFrame, counts, w, n_sim: int) -> None:
    delta = 6 * np.sqrt(np.array([0.025, 0.975]) * 0.975 / n_sim)
    for row, (pmf, cases) in zip(
        table.itertuples(), _wt_exact(counts, w, table["t_start"], table["t_end"]), strict=True
    ):
        x = np.arange(pmf.size) / cases
        mu = pmf @ x
        var = pmf @ (x - mu) ** 2
        mu4 = pmf @ (x - mu) ** 4
        assert mu == pytest.approx(row.mean, rel=1e-9, abs=1e-12)
        se = np.sqrt(max(mu4 - var**2 * (n_sim - 3) / (n_sim - 1), 0) / n_sim)
        assert abs(row.std**2 - var) <= 6 * se + 1e-12, (row.t_start, row.std, np.sqrt(var))
        cdf = np.cumsum(pmf)
        for q, p, d in ((row.q025, 0.025, delta[0]), (row.q975, 0.975, delta[1])):
            lo = x[np.searchsorted(cdf, max(p - d, 0) - 1e-12)]
            hi = x[min(np.searchsorted(cdf, min(p + d, 1) - 1e-12), x.size - 1)]
            assert lo - 1e-12 <= q <= hi + 1e-12, (row.t_start, p, q, lo, hi)


@pytest.mark.parametrize("case", WT_CASES)
@pytest.mark.parametrize("dataset", DATASETS)
def test_wallinga_teunis_equals_epiestim(dataset, case):
    mine, counts, w = _wt_case(dataset, case, n_sim=2000, seed=7)
    ref = _ref("wallinga_teunis", dataset, case)
    _assert_equal_r(mine, ref, ["mean"])
    _check_sampled(ref, counts, w, int(ref["n_sim"].iloc[0]))
    _check_sampled(mine, counts, w, 2000)


def test_wallinga_teunis_seeded_and_without_simulation():
    a, _, _ = _wt_case("SARS2003", "parametric", n_sim=50, seed=3)
    b, _, _ = _wt_case("SARS2003", "parametric", n_sim=50, seed=3)
    pd.testing.assert_frame_equal(a, b)
    c, _, _ = _wt_case("SARS2003", "parametric", n_sim=0)
    np.testing.assert_array_equal(c["mean"], a["mean"])
    assert c[["std", "q025", "q975"]].isna().all().all()


def test_wallinga_teunis_constant_incidence_is_one():
    counts = np.full(200, 50)
    out = wallinga_teunis(counts, 5.0, 2.0, n_sim=0)
    # each case's infector is spread over the preceding days; away from the end every case
    # has exactly one expected offspring per infectee
    np.testing.assert_allclose(out["mean"].iloc[40:150], 1.0, rtol=1e-9)


# --- properties --------------------------------------------------------------------------------


def test_posterior_mean_falls_when_incidence_falls():
    data, si = _data("SARS2003")
    counts = data["I"].to_numpy().astype(float)
    base = estimate_rt(counts, si_distr=si)
    for end in (30, 60, 90):
        lower = counts.copy()
        lower[end - 1] = max(lower[end - 1] - 5, 0)  # fewer cases on the window's last day
        row = base["t_end"] == end
        assert estimate_rt(lower, si_distr=si)["mean"][row].item() < base["mean"][row].item()


def test_exponential_growth_gives_euler_lotka_r():
    days = np.arange(150)
    w = discr_si(days, 6.0, 2.5)
    for r in (0.08, -0.03):  # growth, then decline (still thousands of cases a day)
        out = estimate_rt(1e6 * np.exp(r * days), 6.0, 2.5)["mean"].iloc[-60:]
        expected = 1 / np.sum(w * np.exp(-r * days))  # Wallinga & Lipsitch 2007
        np.testing.assert_allclose(out, expected, rtol=1e-4)  # the prior weighs ~1e-5
        assert (out > 1).all() if r > 0 else (out < 1).all()


def test_window_sums_are_exact_after_a_large_peak():
    # a huge early wave then a few cases: cumulative sums would cancel; direct sums do not
    counts = np.concatenate([np.full(40, 1e9), np.zeros(30), np.ones(40)])
    w = np.array([0, 0.5, 0.5])
    out = estimate_rt(counts, si_distr=w)
    lam = np.array([sum(w[k] * counts[t - k] for k in range(1, min(t, 2) + 1)) for t in range(110)])
    for row in out.itertuples():
        b = 1 / (1 / 5 + lam[row.t_start - 1 : row.t_end].sum())
        a = 1 + counts[row.t_start - 1 : row.t_end].sum()
        assert row.mean == pytest.approx(a * b, rel=1e-12)


def test_nan_counts_are_zero_and_first_day_is_imported():
    counts = np.array([3, 2, np.nan, 4, 5, 6, 2, 3, 4, 1.0])
    a = estimate_rt(counts, 2.6, 1.5, window=3)
    b = estimate_rt(np.nan_to_num(counts), 2.6, 1.5, window=3)
    pd.testing.assert_frame_equal(a, b)
    frame = pd.DataFrame({"local": np.nan_to_num(counts), "imported": np.zeros(10)})
    pd.testing.assert_frame_equal(estimate_rt(frame, 2.6, 1.5, window=3), b)


# --- validation -------------------------------------------------------------------------------
FLU = _data("Flu2009")[0]["I"].to_numpy()
FLU_SI = _data("Flu2009")[1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"incidence": np.r_[FLU[:5], -1, FLU[6:]]}, r"incidence must be non-negative.*row 5"),
        ({"imported": -np.ones(FLU.size)}, r"imported must be non-negative"),
        ({"imported": np.ones(3)}, r"imported has 3 time steps"),
        ({"window": 40}, r"window \(40\) is longer than the data allow \(32"),
        ({"window": 0}, r"window must be a positive integer"),
        ({"si_distr": np.r_[FLU_SI, 0.1]}, r"si_distr must sum to 1"),
        ({"si_distr": np.r_[0.1, FLU_SI[1:] * 0.9]}, r"si_distr\[0\] must be 0"),
        ({"si_distr": -FLU_SI}, r"si_distr must be non-negative"),
        ({"si_distr": None}, r"missing serial interval"),
        ({"si_mean": 2.6}, r"si_distr, not both"),
        ({"si_distr": None, "si_mean": 2.6}, r"missing serial interval"),
        ({"si_distr": None, "si_mean": 1.0, "si_sd": 1.5}, r"si_mean must be > 1"),
        ({"si_distr": None, "si_mean": 2.6, "si_sd": 0}, r"si_sd must be > 0"),
        ({"t_start": [2, 3]}, r"both t_start and t_end"),
        ({"t_start": [1], "t_end": [5]}, r"t_start must be between 2 and"),
        ({"t_start": [2], "t_end": [33]}, r"t_end must be between 2 and the number.*\(32\)"),
        ({"t_start": [9], "t_end": [5]}, r"t_start must be <= t_end"),
        ({"t_start": [2.5], "t_end": [5]}, r"t_start must be integers"),
        ({"t_start": [2, 3], "t_end": [5]}, r"same length"),
        ({"mean_prior": 0}, r"mean_prior must be > 0"),
        ({"std_prior": -1}, r"std_prior must be > 0"),
        ({"incidence": FLU[:1]}, r"at least 2 time steps"),
    ],
)
def test_estimate_rt_rejects_bad_input(kwargs, match):
    args = {"incidence": FLU, "si_distr": FLU_SI} | kwargs
    with pytest.raises(ValueError, match=match):
        estimate_rt(**args)


def test_bad_dates_and_frames_are_rejected():
    dates = (
        pd.date_range("2020-01-01", periods=FLU.size)
        .delete(10)
        .append(pd.DatetimeIndex(["2021-01-01"]))
    )
    with pytest.raises(ValueError, match="dates must be increasing at a constant step"):
        estimate_rt(pd.Series(FLU, index=dates), si_distr=FLU_SI)
    with pytest.raises(ValueError, match="columns local and imported, or I"):
        estimate_rt(pd.DataFrame({"a": FLU, "b": FLU}), si_distr=FLU_SI)
    frame = pd.DataFrame({"local": FLU, "imported": FLU})
    with pytest.raises(ValueError, match="either as a column or as imported"):
        estimate_rt(frame, si_distr=FLU_SI, imported=FLU)


def test_wallinga_teunis_rejects_bad_input():
    with pytest.raises(ValueError, match=r"whole numbers of cases \(row 3\)"):
        wallinga_teunis(np.r_[FLU[:3], 1.5, FLU[4:]], 2.6, 1.5)
    with pytest.raises(ValueError, match="n_sim must be a non-negative integer"):
        wallinga_teunis(FLU, 2.6, 1.5, n_sim=-1)
    with pytest.raises(ValueError, match="missing serial interval"):
        wallinga_teunis(FLU)
    with pytest.raises(ValueError, match="no case before any window"):
        wallinga_teunis(np.r_[np.zeros(20), 1, 0], 2.6, 1.5, window=3)
    with pytest.raises(ValueError, match="si_distr must sum to 1"):
        wallinga_teunis(FLU, si_distr=FLU_SI * 2)


def test_sampled_check_rejects_wrong_spread():
    ref = _ref("wallinga_teunis", "SARS2003", "parametric")
    _, counts, w = _wt_case("SARS2003", "parametric", n_sim=0)
    for column, factor in (("std", 1.25), ("q975", 1.2), ("q025", 0.8)):
        wrong = ref.copy()
        wrong[column] *= factor
        with pytest.raises(AssertionError):
            _check_sampled(wrong, counts, w, 2000)
