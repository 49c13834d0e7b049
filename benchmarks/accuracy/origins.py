"""Origin ranking accuracy on a simulated city's mobility network: rank_origins vs centrality.

    python benchmarks/accuracy/origins.py            # 3 scenarios x 300 outbreaks (~30 s)
    python benchmarks/accuracy/origins.py --quick    # 3 x 60 outbreaks (~5 s)

Network: the daily commuting flows between the 40 sub-districts of ``--cities`` simulated
cities (``epiradar.sim.generate_city``: a gravity model, flows of >= 50 people a day kept, so
85 % of the pairs are linked). Outbreaks, two scenarios:

- ``branching``: the product simulator's person-to-person outbreak
  (``epiradar.sim.outbreaks.person_to_person``: an index case in a sub-district drawn by
  population; negative-binomial offspring, R0 2; infectees in the household, the
  neighbourhood, or a sub-district drawn along the mobility flows), capped at a size drawn
  log-uniformly in 10-200 cases. The origin is the index case's sub-district; a
  sub-district's arrival is the first clinic-visit day of its cases whose location is known
  (each case with probability ``recall``, uniform 0.3-0.9).
- ``metapopulation``: first passage on the network (Brockmann & Helbing's setting): a local
  epidemic grows as ``exp(alpha t)`` after arrival (alpha uniform 0.15-0.35 a day); infected
  commuters from ``i`` reach ``j`` at rate ``rho eps_i P_ij exp(alpha t)`` (``eps_i``: the
  commuting share of ``i``, ``P_ij``: share of its commuters going to ``j``, ``rho = 0.3``), so
  the delay on an edge is ``log(1 + alpha E / (rho eps_i P_ij)) / alpha``, ``E ~ Exp(1)``;
  arrivals are first-passage times (Dijkstra on the random delays) plus a reporting delay of
  0-3 days, whole days. Observation stops when the outbreak (sum of the local epidemics)
  reaches a size drawn log-uniformly in 10-200 cases; a reached sub-district has
  ``1 + Poisson(exp(alpha (t_stop - t_i)) - 1)`` cases, each known with probability ``recall``
  (uniform 0.3-0.9), and its arrival is known when one of its cases is.
- ``hidden origin``: the same, with the origin's own arrival removed (an origin that does not
  report, as Guangdong before February 2003): arrival order cannot name it, the network can.

Outbreaks known in fewer than 2 sub-districts cannot be ranked and are redrawn (their number is
printed). Methods, all on the same outbreaks: effective distance (rank_origins) with its
defaults (unreached sub-districts right-censored after the last arrival, ranked by the fit's
residual), with the correlation criterion, and as Brockmann & Helbing (correlation, unreached
ignored); the baselines of rank_origins on the reached subgraph (Jordan
centre, rumor centrality, degree, closeness; ties by total flow: on this dense network most
reached sub-districts are one hop from each other), and ``earliest report`` (the first
sub-district to report, ties by total flow). Error distance: km between the true origin's centroid and the
top-ranked sub-district's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from scipy import sparse
from scipy.sparse import csgraph

from epiradar.sim import clinical as cl
from epiradar.sim import outbreaks as ob
from epiradar.sim.city import generate_city
from epiradar.sim.layout import CityLayout
from epiradar.trace.origins import rank_origins

METHODS = {  # (unreached, criterion, ranking)
    "effective distance (default: rmse, late)": ("late", "rmse", "effective_distance"),
    "effective distance (correlation, late)": ("late", "correlation", "effective_distance"),
    "effective distance (B&H: correlation, ignore)": (
        "ignore",
        "correlation",
        "effective_distance",
    ),
    "effective distance (rmse, late, hidden_origin)": ("hidden", "rmse", "effective_distance"),
    "Jordan centre": ("late", "rmse", "jordan"),
    "rumor centrality": ("late", "rmse", "rumor"),
    "degree": ("late", "rmse", "degree"),
    "closeness": ("late", "rmse", "closeness"),
    "earliest report": ("", "", "earliest"),
}
RHO = 0.3


def _size(rng: np.random.Generator) -> int:
    return int(round(np.exp(rng.uniform(np.log(10), np.log(200)))))


def branching(layout: CityLayout, rng: np.random.Generator):
    size, recall = _size(rng), float(rng.uniform(0.3, 0.9))
    o = ob.person_to_person(layout, rng, start_day=0, last_day=10_000, size=size, syndrome=cl.ILI)
    origin = int(o.region[np.flatnonzero(o.infector < 0)[0]])
    known = rng.uniform(size=len(o)) < recall
    first = pd.Series(o.visit_day[known]).groupby(o.region[known]).min()
    return origin, first, size, recall


def metapopulation(layout: CityLayout, rng: np.random.Generator):
    size, recall = _size(rng), float(rng.uniform(0.3, 0.9))
    n = layout.n_regions
    m = layout.mobility
    out = m.sum(1)
    eps = out / layout.population
    p = m / np.where(out > 0, out, 1)[:, None]
    alpha = float(rng.uniform(0.15, 0.35))
    i, j = np.nonzero(p)
    delay = np.log1p(alpha * rng.exponential(size=len(i)) / (RHO * eps[i] * p[i, j])) / alpha
    graph = sparse.csr_matrix((delay, (i, j)), shape=(n, n))
    origin = int(rng.choice(n, p=layout.population / layout.population.sum()))
    t = csgraph.dijkstra(graph, indices=origin)
    # stop when sum_i exp(alpha (t_stop - t_i)) reaches the size
    order = np.sort(t[np.isfinite(t)])
    stop = order[0]
    for k in range(1, len(order) + 1):
        stop = (
            order[k - 1] + np.log(size / np.exp(alpha * (order[k - 1] - order[:k])).sum()) / alpha
        )
        if k == len(order) or stop <= order[k]:
            break
    report = np.floor(t + rng.uniform(0, 4, n))
    reached = np.flatnonzero(t <= stop)
    cases = 1 + rng.poisson(np.exp(alpha * (stop - t[reached])) - 1)
    known = reached[rng.binomial(cases, recall) > 0]
    return origin, pd.Series(report[known], index=known), size, recall


def _earliest(arrivals: dict[str, float], names: list[str], strength: np.ndarray) -> pd.DataFrame:
    """The baseline "first to report": earliest arrival first, ties by total flow."""
    t = np.array([arrivals.get(n, np.inf) for n in names])
    order = np.lexsort((-strength, t))
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(1, len(names) + 1)
    return pd.DataFrame({"node": names, "earliest_rank": rank})


def hidden_origin(layout: CityLayout, rng: np.random.Generator):
    origin, first, size, recall = metapopulation(layout, rng)
    return origin, first.drop(origin, errors="ignore"), size, recall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--outbreaks", type=int, default=300, help="per scenario")
    parser.add_argument("--cities", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n_out = 60 if args.quick else args.outbreaks
    n_cities = 2 if args.quick else args.cities
    console = Console(width=150)
    t0 = time.perf_counter()
    cities = []
    for c in range(n_cities):
        layout = CityLayout(generate_city(args.seed + c, n_regions=40))
        names = [str(r) for r in layout.region_ids.tolist()]
        i, j = np.nonzero(layout.mobility)
        flows = pd.DataFrame(
            {
                "origin": np.array(names)[i],
                "destination": np.array(names)[j],
                "weight": layout.mobility[i, j],
            }
        )
        strength = layout.mobility.sum(0) + layout.mobility.sum(1)
        cities.append((layout, names, flows, strength))

    rows, redrawn = [], {"branching": 0, "metapopulation": 0, "hidden origin": 0}
    scenarios = (
        ("branching", branching),
        ("metapopulation", metapopulation),
        ("hidden origin", hidden_origin),
    )
    for scenario, simulate in scenarios:
        rng = np.random.default_rng([args.seed, 3, len(scenario)])
        for k in range(n_out):
            layout, names, flows, strength = cities[k % n_cities]
            while True:
                origin, first, size, recall = simulate(layout, rng)
                if len(first) >= 2:
                    break
                redrawn[scenario] += 1
            arrivals = {names[r]: float(v) for r, v in first.items()}
            cache = {}
            for method, (unreached, criterion, key) in METHODS.items():
                if key == "earliest":
                    ranked = _earliest(arrivals, names, strength)
                else:
                    if (unreached, criterion) not in cache:
                        cache[unreached, criterion] = rank_origins(
                            flows,
                            arrivals,
                            unreached="late" if unreached == "hidden" else unreached,
                            criterion=criterion,
                            hidden_origin=unreached == "hidden",
                        )
                    ranked = cache[unreached, criterion]
                col = f"{key}_rank"
                rank = int(ranked.loc[ranked["node"] == names[origin], col].iloc[0])
                top = ranked.loc[ranked[col] == 1, "node"].iloc[0]
                err = float(
                    np.hypot(*(layout.centroid[names.index(top)] - layout.centroid[origin]))
                )
                rows.append((scenario, size, recall, len(first), method, rank, err))
    res = pd.DataFrame(
        rows, columns=["scenario", "size", "recall", "known", "method", "rank", "error_km"]
    )
    elapsed = time.perf_counter() - t0

    for scenario in redrawn:
        sub = res[res["scenario"] == scenario]
        n = len(sub) // len(METHODS)
        table = Table(
            title=f"Origin, {scenario}: {n} outbreaks (size 10-200, recall 0.3-0.9; "
            f"{redrawn[scenario]} redrawn); 40 sub-districts; goal: top-3 >= 80 %"
        )
        for col in (
            "method",
            "top-1",
            "top-3",
            "mean rank",
            "error km (mean)",
            "error km (median)",
        ):
            table.add_column(col, justify="left" if col == "method" else "right")
        for method in METHODS:
            m = sub[sub["method"] == method]
            table.add_row(
                method,
                f"{(m['rank'] == 1).mean():.1%}",
                f"{(m['rank'] <= 3).mean():.1%}",
                f"{m['rank'].mean():.1f}",
                f"{m['error_km'].mean():.1f}",
                f"{m['error_km'].median():.1f}",
            )
        console.print(table)
        strata = Table(title=f"top-3 by sub-districts with a known arrival ({scenario})")
        for col in ("known sub-districts", "outbreaks", "ED default", "ED B&H", "earliest"):
            strata.add_column(col, justify="right")
        for b, g in sub.groupby(pd.cut(sub["known"], [1, 3, 6, 12, 40]), observed=True):
            top3 = {m: (g[g["method"] == m]["rank"] <= 3).mean() for m in METHODS}
            strata.add_row(
                str(b),
                str(len(g) // len(METHODS)),
                f"{top3['effective distance (default: rmse, late)']:.1%}",
                f"{top3['effective distance (B&H: correlation, ignore)']:.1%}",
                f"{top3['earliest report']:.1%}",
            )
        console.print(strata)
    console.print(f"total {elapsed:.1f} s")


if __name__ == "__main__":
    main()
