"""rank_sites: the source of clustered cases ranks first; the kernel fit recovers its scale;
hit scores, lat/lon input, work places and Rossmo's profile behave; bad input is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from epiradar.sim.geo import Projection
from epiradar.trace.sites import VisitKernel, fit_kernel, rank_sites

SCALE_KM = 2.5


def _city(seed: int = 1, n_sites: int = 250):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-15, 15, (n_sites, 2))
    weight = rng.lognormal(0.0, 0.6, n_sites)
    sites = pd.DataFrame(
        {"id": [f"S{i:03d}" for i in range(n_sites)], "x": xy[:, 0], "y": xy[:, 1]}
    )
    return rng, sites, weight


def _background(rng, sites: pd.DataFrame, weight: np.ndarray, n: int = 3000) -> pd.DataFrame:
    """People uniform over the area visiting sites by popularity x exp(-d / 2.5 km)."""
    home = rng.uniform(-15, 15, (n, 2))
    sxy = sites[["x", "y"]].to_numpy()
    d = np.sqrt(((home[:, None] - sxy[None]) ** 2).sum(-1))
    p = weight * np.exp(-d / SCALE_KM)
    cdf = np.cumsum(p / p.sum(1, keepdims=True), 1)
    pick = (cdf < rng.uniform(size=(n, 1))).sum(1).clip(0, len(sxy) - 1)
    return pd.DataFrame({"x": home[:, 0], "y": home[:, 1], "site_id": sites["id"].to_numpy()[pick]})


def _cases_around(rng, centre: np.ndarray, n: int, mean_km: float = 2.0) -> pd.DataFrame:
    r = rng.gamma(2.0, mean_km / 2.0, n)
    theta = rng.uniform(0, 2 * np.pi, n)
    xy = centre + np.column_stack([r * np.cos(theta), r * np.sin(theta)])
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]})


@pytest.mark.parametrize("with_background", [False, True])
def test_true_site_ranks_first(with_background: bool):
    rng, sites, weight = _city()
    kernel = fit_kernel(_background(rng, sites, weight), sites) if with_background else None
    wins = 0
    for k, src in enumerate([5, 60, 123, 200]):
        cases = _cases_around(rng, sites.loc[src, ["x", "y"]].to_numpy(float), 30 + 5 * k)
        ranked = rank_sites(cases, sites, kernel=kernel)
        wins += ranked.iloc[0]["id"] == sites.loc[src, "id"]
        assert ranked.set_index("id").loc[sites.loc[src, "id"], "rank"] <= 3
    assert wins >= 3
    assert ranked["score"].is_monotonic_decreasing
    assert ranked["probability"].sum() == pytest.approx(1.0)
    assert ranked.attrs["kernel"]["scale"] > 0


def test_kernel_fit_recovers_scale_and_popularity():
    rng, sites, weight = _city(2)
    background = _background(rng, sites, weight, 4000)
    known = fit_kernel(background, sites.assign(weight=weight))
    assert known.scale == pytest.approx(SCALE_KM, rel=0.1)
    fitted = fit_kernel(background, sites)
    assert fitted.scale == pytest.approx(SCALE_KM, rel=0.1)
    assert np.corrcoef(np.log(fitted.popularity.to_numpy()), np.log(weight))[0, 1] > 0.7
    assert fitted.share.sum() == pytest.approx(1.0)
    power = fit_kernel(background, sites.assign(weight=weight), kind="power")
    # exponential data: the power law drifts towards its exponential limit (large scale, alpha)
    assert power.kind == "power" and power.alpha > 5 and power.scale > 5
    # a fitted kernel is reusable without the background
    cases = _cases_around(rng, sites.loc[10, ["x", "y"]].to_numpy(float), 40)
    a = rank_sites(cases, sites, background)
    b = rank_sites(cases, sites, kernel=fitted)
    assert a.attrs["kernel"]["scale"] == pytest.approx(fitted.scale)
    pd.testing.assert_frame_equal(a, b)


def test_hit_scores():
    rng, sites, _ = _city(3, 120)
    cases = _cases_around(rng, np.array([2.0, -3.0]), 25)
    ranked = rank_sites(cases, sites, grid=60)
    n = len(sites)
    assert len(ranked) == n and set(ranked["id"]) == set(sites["id"])
    assert ranked["rank"].tolist() == list(range(1, n + 1))
    np.testing.assert_allclose(ranked["hit_score"], ranked["rank"] / n)
    assert ranked["hit_score"].iloc[-1] == 1.0
    assert sorted(ranked["profile_rank"]) == list(range(1, n + 1))
    assert ranked["profile_hit_score"].between(0, 1).all()
    by_profile = ranked.sort_values("profile_rank")
    assert by_profile["profile_hit_score"].is_monotonic_increasing
    assert by_profile["profile_score"].is_monotonic_decreasing


def test_lat_lon_equals_planar_on_a_small_area():
    rng, sites, weight = _city(4, 80)
    cases = _cases_around(rng, sites.loc[7, ["x", "y"]].to_numpy(float), 20)
    cases["work_x"] = np.where(np.arange(20) % 3 == 0, rng.uniform(-15, 15, 20), np.nan)
    cases["work_y"] = np.where(np.arange(20) % 3 == 0, rng.uniform(-15, 15, 20), np.nan)
    proj = Projection(31.23, 121.47)

    def to_deg(df: pd.DataFrame, prefix: str = "") -> pd.DataFrame:
        lon, lat = proj.to_lonlat(df[f"{prefix}x"].to_numpy(), df[f"{prefix}y"].to_numpy())
        return df.drop(columns=[f"{prefix}x", f"{prefix}y"]).assign(
            **{f"{prefix}lat": lat, f"{prefix}lon": lon}
        )

    planar = rank_sites(cases, sites, scale=1.5)
    degrees = rank_sites(to_deg(to_deg(cases), "work_"), to_deg(sites), scale=1.5)
    assert degrees["id"].head(10).tolist() == planar["id"].head(10).tolist()
    a, b = degrees.set_index("id"), planar.set_index("id").loc[degrees["id"]]
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(a["profile_score"], b["profile_score"], rtol=1e-3)


def test_work_places_count():
    rng, sites, _ = _city(5, 150)
    src = sites.loc[42, ["x", "y"]].to_numpy(float)
    home = rng.uniform(-15, 15, (20, 2))  # homes all over; work places around the source
    cases = pd.DataFrame({"x": home[:, 0], "y": home[:, 1]})
    near = _cases_around(rng, src, 20, 0.6)
    cases["work_x"], cases["work_y"] = near["x"].to_numpy(), near["y"].to_numpy()
    with_work = rank_sites(cases, sites, scale=1.0)
    home_only = rank_sites(cases[["x", "y"]], sites, scale=1.0)
    assert with_work.iloc[0]["id"] == "S042"
    assert home_only.set_index("id").loc["S042", "rank"] > 10


def test_profile_peaks_near_the_centroid():
    angle = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    cases = pd.DataFrame({"x": 3 * np.cos(angle), "y": 3 * np.sin(angle)})
    sites = pd.DataFrame(
        {"id": ["centre", "east", "far", "north"], "x": [0.2, 6.5, 12, 0], "y": [0.1, 0, 12, 7]}
    )
    ranked = rank_sites(cases, sites).set_index("id")
    assert ranked.loc["centre", "profile_rank"] == 1
    assert ranked.loc["far", "profile_rank"] == 4
    assert ranked.loc["centre", "profile_hit_score"] < 0.2
    assert ranked.loc["centre", "rank"] == 1


def test_visit_kernel_shapes():
    d = np.array([0.0, 1.0, 4.0])
    np.testing.assert_allclose(VisitKernel("exponential", 2.0).log_f(d), -d / 2.0)
    np.testing.assert_allclose(VisitKernel("power", 2.0, 3.0).log_f(d), -3.0 * np.log1p(d / 2.0))


def test_bad_input():
    _, sites, _ = _city(6, 20)
    cases = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})
    with pytest.raises(ValueError, match="cases is empty"):
        rank_sites(cases.iloc[:0], sites)
    with pytest.raises(ValueError, match="sites needs an id"):
        rank_sites(cases, sites.drop(columns="id"))
    with pytest.raises(ValueError, match="x, y"):
        rank_sites(cases, sites.drop(columns="x"))
    with pytest.raises(ValueError, match="cases needs x, y"):
        rank_sites(cases.rename(columns={"x": "lon"}), sites)
    with pytest.raises(ValueError, match="appears more than once"):
        rank_sites(cases, sites.assign(id="S1"))
    with pytest.raises(ValueError, match=r"cases\.y is not finite in row 1"):
        rank_sites(cases.assign(y=[0.0, np.nan]), sites)
    with pytest.raises(ValueError, match=r"sites\.weight must be positive"):
        rank_sites(cases, sites.assign(weight=-1.0))
    with pytest.raises(ValueError, match="unknown kernel"):
        rank_sites(cases, sites, kernel="gaussian")
    with pytest.raises(ValueError, match="scale must be"):
        rank_sites(cases, sites, scale=0.0)
    with pytest.raises(ValueError, match="work_share"):
        rank_sites(cases, sites, work_share=1.5)
    background = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 0.0], "site_id": ["S001", "nope"]})
    with pytest.raises(ValueError, match=r"background\.site_id in row 1"):
        rank_sites(cases, sites, background)
    with pytest.raises(ValueError, match="site_id column"):
        fit_kernel(background.drop(columns="site_id"), sites)


def test_prior_follows_visits():
    sites = pd.DataFrame(
        {"id": ["quiet", "busy", "far"], "x": [0.0, 0.0, 9.0], "y": [0.0, 0.0, 9.0]}
    ).assign(weight=[1.0, 5.0, 1.0])
    cases = pd.DataFrame({"x": [0.5, -0.3, 0.2], "y": [0.1, 0.4, -0.6]})
    uniform = rank_sites(cases, sites, scale=2.0, prior="uniform").set_index("id")
    # same place: popularity cancels in the likelihood ratio
    assert uniform.loc["quiet", "llr"] == pytest.approx(uniform.loc["busy", "llr"])
    np.testing.assert_allclose(uniform["score"], uniform["llr"])
    visits = rank_sites(cases, sites, scale=2.0).set_index("id")
    assert visits.loc["busy", "rank"] == 1 and visits.loc["far", "rank"] == 3
    assert visits.loc["busy", "score"] - visits.loc["quiet", "score"] == pytest.approx(np.log(5))
    assert visits.loc["busy", "probability"] == pytest.approx(
        5 * visits.loc["quiet", "probability"]
    )
    with pytest.raises(ValueError, match="prior"):
        rank_sites(cases, sites, prior="flat")


def test_work_share_extremes():
    rng, sites, _ = _city(7, 60)
    cases = _cases_around(rng, sites.loc[3, ["x", "y"]].to_numpy(float), 10)
    cases["work_x"], cases["work_y"] = cases["x"] + 5.0, cases["y"]
    home_only = rank_sites(cases[["x", "y"]], sites, scale=1.0)
    pd.testing.assert_frame_equal(rank_sites(cases, sites, scale=1.0, work_share=0.0), home_only)
    moved = cases.assign(x=cases["work_x"])[["x", "y"]]
    work_only = rank_sites(cases, sites, scale=1.0, work_share=1.0)
    expected = rank_sites(moved, sites, scale=1.0)
    assert work_only["id"].head(5).tolist() == expected["id"].head(5).tolist()
    np.testing.assert_allclose(
        work_only["llr"], expected.set_index("id").loc[work_only["id"], "llr"]
    )
