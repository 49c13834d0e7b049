"""Point-source ranking accuracy on simulated cities: rank_sites against simple baselines.

    python benchmarks/accuracy/sites.py            # 2 scenarios x 200 outbreaks (~2 min, 2 cores)
    python benchmarks/accuracy/sites.py --quick    # 2 x 40 outbreaks (~25 s)

Cities: ``--cities`` cities of the product's simulator (``epiradar.sim.generate_city``, 40
sub-districts, 480 places each). Background: ``--background`` people drawn by sub-district
population, each reporting one place chosen as the simulator's visitors choose places
(popularity x exp(-d / 2.5 km), children favouring schools); ``fit_kernel`` learns the kernel and
the popularities from them once per city (the simulator's popularities are not given).

Outbreaks: ``epiradar.sim.outbreaks.point_source`` (a restaurant or market drawn by popularity
x population; homes at a gamma distance, mean 2 km, around it), spread over the cities. Recall:
each case's home is known with probability ``recall`` (at least one case known). Scenarios:
``varied`` (size log-uniform 10-200, recall uniform 0.3-0.9) and ``goal`` (size uniform 20-200,
recall 0.5: the issue's goal, top-1 >= 90 %). Two candidate sets, both in the same run: every
place of the city (``all``, 480: schools, offices, parks, ... too) and the food places
(``food``: restaurants and markets, about 200, what an investigation of a gastrointestinal
outbreak would list; the simulator's sources are of these kinds).

Methods, all in the same run: ``likelihood`` (rank_sites with the background-fitted kernel and
its default prior, proportional to the site's share of visits), ``likelihood, uniform prior``
(the same, ranked by the log-likelihood ratio alone), ``likelihood, no background`` (rank_sites
alone: empirical-Bayes kernel scale, equal popularities, the sites standing in for the
population), ``Rossmo profile`` (rank_sites' profile_rank; its area hit score too), ``nearest
to centroid`` (sites by distance from the known cases' mean home), ``most visited nearby`` (the
sites within the median case distance of the centroid by background visits, then the rest by
distance). Top-1 / top-3: the true source ranked first / in the first three; hit score: rank /
number of candidates (lower is better).
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from epiradar.sim import clinical as cl
from epiradar.sim import outbreaks as ob
from epiradar.sim.city import generate_city
from epiradar.sim.layout import CityLayout
from epiradar.trace.sites import fit_kernel, rank_sites

METHODS = (
    "likelihood",
    "likelihood, uniform prior",
    "likelihood, no background",
    "Rossmo profile",
    "nearest to centroid",
    "most visited nearby",
)


def background_visits(layout: CityLayout, rng: np.random.Generator, n: int) -> pd.DataFrame:
    region = rng.choice(layout.n_regions, n, p=layout.population / layout.population.sum())
    home = layout.random_homes(region, rng)
    child = rng.uniform(size=n) < 0.2
    place = layout.choose_places(home, child, 1, rng)[:, 0]
    return pd.DataFrame(
        {"x": home[:, 0], "y": home[:, 1], "site_id": layout.place_ids[place].tolist()}
    )


def truth_ranks(
    cases: pd.DataFrame, sites: pd.DataFrame, source: str, kernel, visits: pd.Series
) -> dict[str, tuple[int, float]]:
    """Rank of the true source and hit score under every method."""
    n = len(sites)
    with_bg = rank_sites(cases, sites, kernel=kernel).set_index("id")
    alone = rank_sites(cases, sites).set_index("id")
    xy = sites[["x", "y"]].to_numpy()
    centroid = cases[["x", "y"]].to_numpy().mean(0)
    dist = np.hypot(*(xy - centroid).T)
    near_rank = pd.Series(np.argsort(np.argsort(dist, kind="stable")) + 1, index=sites["id"])
    radius = max(float(np.median(np.hypot(*(cases[["x", "y"]].to_numpy() - centroid).T))), 0.5)
    count = visits.reindex(sites["id"]).fillna(0).to_numpy()
    key = np.where(dist <= radius, -count, np.inf)
    order = np.lexsort((dist, key))
    visit_rank = pd.Series(np.empty(n, dtype=int), index=sites["id"])
    visit_rank.iloc[order] = np.arange(1, n + 1)
    uniform = int((with_bg["llr"] > with_bg.loc[source, "llr"]).sum()) + 1
    out = {
        "likelihood": int(with_bg.loc[source, "rank"]),
        "likelihood, uniform prior": uniform,
        "likelihood, no background": int(alone.loc[source, "rank"]),
        "Rossmo profile": int(with_bg.loc[source, "profile_rank"]),
        "nearest to centroid": int(near_rank[source]),
        "most visited nearby": int(visit_rank[source]),
    }
    res = {m: (r, r / n) for m, r in out.items()}
    res["Rossmo area"] = (0, float(with_bg.loc[source, "profile_hit_score"]))
    return res


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--outbreaks", type=int, default=200, help="per scenario")
    parser.add_argument("--cities", type=int, default=4)
    parser.add_argument("--background", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n_out = 40 if args.quick else args.outbreaks
    n_cities = 2 if args.quick else args.cities
    console = Console(width=150)
    t0 = time.perf_counter()
    cities = []
    for c in range(n_cities):
        layout = CityLayout(generate_city(args.seed + c, n_regions=40))
        rng = np.random.default_rng([args.seed, c, 1])
        sites = pd.DataFrame(
            {
                "id": layout.place_ids.tolist(),
                "x": layout.place_xy[:, 0],
                "y": layout.place_xy[:, 1],
            }
        )
        food = sites[np.isin(layout.place_kind, ob.SOURCE_KINDS)].reset_index(drop=True)
        bg = background_visits(layout, rng, args.background)
        kernel = fit_kernel(bg, sites)
        cities.append((layout, {"all": sites, "food": food}, kernel, bg["site_id"].value_counts()))
        r = np.corrcoef(np.log(kernel.popularity.to_numpy()), np.log(layout.place_draw))[0, 1]
        console.print(
            f"city {c}: {len(sites)} places, {len(food)} food places; fitted kernel scale "
            f"{kernel.scale:.2f} km (simulator: 2.5 km), log popularity vs the simulator's "
            f"r = {r:.2f}"
        )
    t_fit = time.perf_counter() - t0

    rows = []
    for scenario in ("varied", "goal"):
        rng = np.random.default_rng([args.seed, 2, len(scenario)])
        for k in range(n_out):
            layout, site_sets, kernel, visits = cities[k % n_cities]
            if scenario == "varied":
                size = int(round(np.exp(rng.uniform(np.log(10), np.log(200)))))
                recall = float(rng.uniform(0.3, 0.9))
            else:
                size, recall = int(rng.integers(20, 201)), 0.5
            o = ob.point_source(
                layout, rng, start_day=0, last_day=10_000, size=size, syndrome=cl.GI, recall=1.0
            )
            known = rng.uniform(size=len(o)) < recall
            if not known.any():
                known[int(rng.integers(len(o)))] = True
            cases = pd.DataFrame({"x": o.home[known, 0], "y": o.home[known, 1]})
            source = str(layout.place_ids[o.source_place])
            for name, sites in site_sets.items():
                ranks = truth_ranks(cases, sites, source, kernel, visits)
                for method, (rank, hit) in ranks.items():
                    rows.append((scenario, name, size, recall, int(known.sum()), method, rank, hit))
    res = pd.DataFrame(
        rows, columns=["scenario", "sites", "size", "recall", "known", "method", "rank", "hit"]
    )
    elapsed = time.perf_counter() - t0

    for (scenario, label), sites in itertools.product(
        (
            ("varied", "size 10-200, recall 0.3-0.9"),
            ("goal", "size 20-200, recall 0.5 (goal: top-1 >= 90 %)"),
        ),
        ("all", "food"),
    ):
        sub = res[(res["scenario"] == scenario) & (res["sites"] == sites)]
        n = sub["size"].size // (len(METHODS) + 1)
        table = Table(title=f"Point source, {scenario}, {sites} sites: {n} outbreaks, {label}")
        for col in ("method", "top-1", "top-3", "mean hit score", "median rank"):
            table.add_column(col, justify="left" if col == "method" else "right")
        for method in METHODS:
            m = sub[sub["method"] == method]
            table.add_row(
                method,
                f"{(m['rank'] == 1).mean():.1%}",
                f"{(m['rank'] <= 3).mean():.1%}",
                f"{m['hit'].mean():.4f}",
                f"{m['rank'].median():.0f}",
            )
        area = sub[sub["method"] == "Rossmo area"]["hit"].mean()
        table.add_row("Rossmo profile (area)", "", "", f"{area:.4f}", "")
        console.print(table)
        if scenario == "varied":
            strata = Table(title=f"top-1 by known cases (varied, {sites} sites)")
            for col in ("known cases", "outbreaks", "likelihood", "no background", "nearest"):
                strata.add_column(col, justify="right")
            bins = pd.cut(sub["known"], [0, 5, 10, 20, 50, 200])
            for b, g in sub.groupby(bins, observed=True):
                top = {m: (g[g["method"] == m]["rank"] == 1).mean() for m in METHODS}
                strata.add_row(
                    str(b),
                    str(len(g) // (len(METHODS) + 1)),
                    f"{top['likelihood']:.1%}",
                    f"{top['likelihood, no background']:.1%}",
                    f"{top['nearest to centroid']:.1%}",
                )
            console.print(strata)
    console.print(f"kernel fits {t_fit:.1f} s; total {elapsed:.1f} s")


if __name__ == "__main__":
    main()
