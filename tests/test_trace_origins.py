"""Effective distance, rank_origins and its baselines; the SARS 2003 check on OpenFlights."""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from epiradar.trace.origins import (
    censored_fit,
    effective_distance,
    rank_origins,
    rumor_centrality_bfs,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _flows(edges: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(edges, columns=["origin", "destination", "weight"])


def _undirected(edges: list[tuple[str, str]]) -> pd.DataFrame:
    return _flows([(a, b, 1.0) for a, b in edges] + [(b, a, 1.0) for a, b in edges])


def test_effective_distance_by_hand():
    flows = _flows(
        [("A", "B", 3), ("A", "C", 1), ("B", "C", 2), ("B", "A", 2), ("C", "A", 5), ("A", "A", 9)]
    )
    d = effective_distance(flows)
    ab = 1 - math.log(3 / 4)
    assert d.loc["A", "B"] == pytest.approx(ab)
    # direct A->C: 1 - log(1/4) = 2.386 beats A->B->C: 1.288 + (1 - log(1/2)) = 2.981
    assert d.loc["A", "C"] == pytest.approx(min(1 - math.log(1 / 4), ab + 1 - math.log(1 / 2)))
    assert d.loc["B", "C"] == pytest.approx(1 - math.log(1 / 2))
    assert d.loc["C", "B"] == pytest.approx(1.0 + ab)  # C->A (P = 1), then A->B
    assert (np.diag(d) == 0).all()
    chain = effective_distance(_flows([("A", "B", 1), ("B", "C", 4), ("B", "D", 4)]))
    assert chain.loc["A", "C"] == pytest.approx(1.0 + 1 - math.log(0.5))  # two hops
    assert chain.loc["C", "A"] == np.inf


def _network(seed: int, n: int = 30):
    """A gravity-model network on random points: flows ~ m_i m_j / (d + 1)^2."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50, (n, 2))
    mass = rng.lognormal(0, 1, n)
    d = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    f = mass[:, None] * mass[None] / (d + 1.0) ** 2
    np.fill_diagonal(f, 0)
    f[f < np.quantile(f, 0.5)] = 0  # sparse-ish
    names = [f"N{i:02d}" for i in range(n)]
    i, j = np.nonzero(f)
    flows = pd.DataFrame({"origin": np.array(names)[i], "destination": np.array(names)[j]})
    flows["weight"] = f[i, j]
    return rng, names, flows


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_origin_of_simulated_spread_ranks_first(seed: int):
    rng, names, flows = _network(seed)
    d = effective_distance(flows)
    origin = d.index[int(rng.integers(len(d)))]
    arrival = 4.0 * d.loc[origin] + rng.normal(0, 1.0, len(d))
    arrival = arrival[np.isfinite(arrival)]
    reached = arrival[arrival <= arrival.quantile(0.7)]
    ranked = rank_origins(flows, reached.to_dict(), unreached="ignore")
    assert ranked.iloc[0]["node"] == origin
    assert ranked.iloc[0]["correlation"] > 0.8
    assert ranked.iloc[0]["slope"] == pytest.approx(4.0, rel=0.3)
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    late = rank_origins(flows, reached.to_dict())  # unreached right-censored: the default
    assert late.iloc[0]["node"] == origin
    for criterion in ("correlation", "rmse"):
        other = rank_origins(flows, reached.to_dict(), criterion=criterion, unreached="ignore")
        assert other.iloc[0]["node"] == origin
    # whole days as dates: the same ranking as the day numbers
    days = np.round(reached - reached.min()).astype(int)
    start = dt.date(2024, 3, 1)
    dates = {k: start + dt.timedelta(days=int(v)) for k, v in days.items()}
    by_day = rank_origins(flows, days + 100)
    by_date = rank_origins(flows, dates)
    assert by_date["node"].tolist() == by_day["node"].tolist()
    np.testing.assert_allclose(by_date["correlation"], by_day["correlation"], atol=1e-9)


def test_censored_fit():
    d = np.array([[0.0, 1, 2, 3, 4, 5]])
    t = 2.0 * d[0] + 1.0
    none = np.zeros(6, dtype=bool)
    a, b, r, rmse = censored_fit(d, t, none, none)
    assert rmse[0] == pytest.approx(0.0, abs=1e-9)
    assert (a[0], b[0], r[0]) == pytest.approx((1.0, 2.0, 1.0))
    # the three earliest only known to be <= 5: still the same line
    censored = t.copy()
    censored[:3] = 5.0
    a, b, r, _ = censored_fit(d, censored, censored <= 5.0, none)
    assert (a[0], b[0], r[0]) == pytest.approx((1.0, 2.0, 1.0), abs=1e-6)
    # without censoring the flat start bends the fit
    a2, b2, _, _ = censored_fit(d, censored, none, none)
    assert b2[0] < 1.9
    # right-censored: the last two only known to be >= 7
    late = t.copy()
    late[4:] = 7.0
    a, b, r, _ = censored_fit(d, late, none, late >= 7.0)
    assert (a[0], b[0]) == pytest.approx((1.0, 2.0), abs=1e-6)


def test_jordan_centre_and_rumor_centrality_on_a_path():
    n = 7
    names = [f"v{i}" for i in range(n)]
    flows = _undirected([(names[i], names[i + 1]) for i in range(n - 1)])
    adj = sparse.diags([np.ones(n - 1), np.ones(n - 1)], [1, -1])
    rumor = rumor_centrality_bfs(adj)
    expected = [math.log(math.comb(n - 1, k)) for k in range(n)]  # R(v_k) = C(n-1, k)
    np.testing.assert_allclose(rumor, expected)
    ranked = rank_origins(flows, dict.fromkeys(names, 0.0), method="jordan")
    assert ranked.iloc[0]["node"] == "v3" and ranked.iloc[0]["score"] == -3
    top = ranked.set_index("node")
    assert top.loc["v3", "rumor_rank"] == 1 and top.loc["v3", "closeness_rank"] == 1
    assert {top.loc["v0", "jordan_rank"], top.loc["v6", "jordan_rank"]} == {6, 7}


def test_rumor_centrality_on_a_star():
    n = 6
    names = ["hub"] + [f"leaf{i}" for i in range(1, n)]
    flows = _undirected([("hub", leaf) for leaf in names[1:]])
    ranked = rank_origins(flows, dict.fromkeys(names, 1), method="rumor").set_index("node")
    assert ranked.loc["hub", "score"] == pytest.approx(math.log(math.factorial(n - 1)))
    assert ranked.loc["leaf1", "score"] == pytest.approx(math.log(math.factorial(n - 2)))
    assert ranked.loc["hub", "rank"] == 1 and ranked.loc["hub", "degree_rank"] == 1
    assert ranked.loc["hub", "jordan_rank"] == 1


def test_baselines_only_score_the_reached_component():
    flows = _undirected([("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"), ("x", "y")])
    ranked = rank_origins(flows, {"a": 0, "b": 1, "c": 2, "x": 3}, method="degree")
    top = ranked.set_index("node")
    assert top.loc["b", "rank"] == 1 and top.loc["b", "jordan_rank"] == 1
    assert np.isnan(top.loc["x", "score"]) and np.isnan(top.loc["e", "score"])
    assert top.loc["x", "rank"] > 3
    # effective distance: unreachable reached nodes (x from a, b, c) leave no finite fit
    assert np.isnan(top.loc["a", "correlation"])


def test_bad_input():
    flows = _undirected([("a", "b"), ("b", "c")])
    with pytest.raises(ValueError, match="flows needs a weight"):
        rank_origins(flows.drop(columns="weight"), {"a": 0, "b": 1})
    with pytest.raises(ValueError, match=r"non-negative \(row 0\)"):
        effective_distance(flows.assign(weight=[-1.0, 1, 1, 1]))
    with pytest.raises(ValueError, match="'z' is not in flows"):
        rank_origins(flows, {"a": 0, "z": 1})
    with pytest.raises(ValueError, match="at least 2 reached"):
        rank_origins(flows, {"a": 0})
    with pytest.raises(ValueError, match="unknown method"):
        rank_origins(flows, {"a": 0, "b": 1}, method="pagerank")
    with pytest.raises(ValueError, match="'b' is not finite"):
        rank_origins(flows, {"a": 0, "b": np.nan})
    with pytest.raises(ValueError, match="day numbers or dates"):
        rank_origins(flows, {"a": 0, "b": "soon"})
    with pytest.raises(ValueError, match="observed_until"):
        rank_origins(flows, {"a": 0, "b": 5}, unreached="late", observed_until=2)
    with pytest.raises(ValueError, match="criterion"):
        rank_origins(flows, {"a": 0, "b": 5}, criterion="r2")
    with pytest.raises(ValueError, match="unreached"):
        rank_origins(flows, {"a": 0, "b": 5}, unreached="drop")
    with pytest.raises(ValueError, match="more than once"):
        rank_origins(flows, pd.DataFrame({"node": ["a", "a"], "time": [0, 1]}))


# -- SARS 2003 on OpenFlights (benchmarks/accuracy/sars2003.py) -------------------------------
def _sars_module():
    path = ROOT / "benchmarks" / "accuracy" / "sars2003.py"
    spec = importlib.util.spec_from_file_location("sars2003_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not (SHARED / "data" / "openflights").is_dir(),
    reason="../shared/data (OpenFlights, WHO SARS 2003) is absent: the SARS check needs it",
)
def test_sars_2003_origin_on_openflights():
    sars = _sars_module()
    arrivals = sars.who_arrivals(SHARED)
    assert len(arrivals) == 37 and (arrivals <= sars.START).sum() == 7
    ranked = sars.run(SHARED).set_index("node")
    # documented in benchmarks/accuracy/README.md: with the defaults (fit residual, countries
    # without cases right-censored at 2003-07-11) Hong Kong ranks first of 225 countries, narrowly
    # ahead of Japan (rmse 28.02 vs 28.17 days), China fourth; by the correlation criterion of
    # Brockmann & Helbing, Japan first, Hong Kong second, China third.
    assert len(ranked) == 225
    assert ranked.loc["Hong Kong", "rank"] == 1
    assert ranked.loc["China", "rank"] == 4
    by_correlation = sars.run(SHARED, criterion="correlation").set_index("node")
    assert by_correlation.loc["Hong Kong", "rank"] == 2
    assert by_correlation.loc["China", "rank"] == 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hidden_origin(seed: int):
    """An origin that never reported: absent from arrivals, yet found by its network position
    once its silence is not read as a late arrival."""
    rng, _, flows = _network(seed)
    d = effective_distance(flows)
    origin = d.index[int(rng.integers(len(d)))]
    arrival = (4.0 * d.loc[origin] + rng.normal(0, 1.0, len(d)))[lambda s: np.isfinite(s)]
    reached = arrival[arrival <= arrival.quantile(0.7)].drop(origin)
    hidden = rank_origins(flows, reached.to_dict(), hidden_origin=True).set_index("node")
    silent = rank_origins(flows, reached.to_dict()).set_index("node")
    assert hidden.loc[origin, "rank"] <= 2
    assert silent.loc[origin, "rank"] > hidden.loc[origin, "rank"]
