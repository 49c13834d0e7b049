"""How the space-time permutation scan's run time grows: zones, days, radius, replications.

    python benchmarks/spacetime/scaling.py [--repeats 3] [--threads 2] [--quick]

Synthetic cities on a 1 km grid (planar x, y; ``wb``'s density of 0.27 cases per zone-day),
seeded Poisson counts with a lognormal zone effect (sd 0.5) and a day-of-week effect, no
injected cluster. One factor varies at a time around a ``wb``-sized base (2,000 zones on a
50 x 40 grid, 365 days, max radius 4, 999 replications, max 30 days, 50% of cases, min 2
cases):

- zones: 500 (25 x 20), 1,000 (40 x 25), 2,000 (50 x 40), 4,000 (80 x 50);
- days: 90, 180, 365, 730;
- max radius: 2, 4, 6 (grid units = km; 13, 49, 113 zones in a full circle);
- replications: 99, 499, 999.

Each configuration runs once untimed (compilation and caches), then ``--repeats`` times; the
table gives the median, the number of cylinders scanned per replication (centre x zone-prefix
pairs within the radius x ``max_days`` window lengths) and nanoseconds per cylinder and
scan (``n_sim + 1`` scans: the data and each replication).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numba
import numpy as np
from rich.console import Console
from rich.table import Table

from epiradar.detect.spacetime import circle_neighbors, permutation_scan

DENSITY = 0.27  # cases per zone-day, as wb (199,897 / 2,000 / 365)
GRIDS = {500: (25, 20), 1000: (40, 25), 2000: (50, 40), 4000: (80, 50)}
BASE = {"zones": 2000, "days": 365, "max_radius": 4.0, "n_sim": 999}
FACTORS = {
    "zones": [500, 1000, 2000, 4000],
    "days": [90, 180, 365, 730],
    "max_radius": [2.0, 4.0, 6.0],
    "n_sim": [99, 499, 999],
}
QUICK_FACTORS = {
    "zones": [500, 1000, 2000],
    "days": [90, 365],
    "max_radius": [2.0, 4.0],
    "n_sim": [99, 999],
}
MAX_DAYS = 30
DOW = np.array([1.2, 1.05, 1.0, 1.0, 0.95, 0.9, 0.9])


def city(zones: int, days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``counts[zone, day]`` (int64) and grid coordinates of a synthetic city."""
    nx, ny = GRIDS[zones]
    x, y = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")
    coords = np.column_stack([x.ravel(), y.ravel()]).astype(float)
    rng = np.random.default_rng([seed, zones, days])
    zone = rng.lognormal(0.0, 0.5, zones)
    zone /= zone.mean()
    dow = DOW[np.arange(days) % 7] / DOW.mean()
    counts = rng.poisson(DENSITY * zone[:, None] * dow[None, :])
    return counts.astype(np.int64), coords


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="numba threads")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--quick", action="store_true", help="fewer points, one repeat")
    args = parser.parse_args(argv)
    console = Console(width=150)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    factors = QUICK_FACTORS if args.quick else FACTORS
    repeats = 1 if args.quick else args.repeats
    configs = []
    for factor, values in factors.items():
        for v in values:
            cfg = {**BASE, factor: v}
            configs.append((factor, cfg))
    # the base appears once per factor: measure it once and reuse
    measured: dict[tuple, dict] = {}
    rows = []
    t_all = time.perf_counter()
    for factor, cfg in configs:
        key = tuple(sorted(cfg.items()))
        if key not in measured:
            counts, coords = city(cfg["zones"], cfg["days"], args.seed)
            nb = circle_neighbors(coords, max_radius=cfg["max_radius"])
            prefixes = int(nb.indptr[-1])
            cylinders = prefixes * min(MAX_DAYS, cfg["days"])

            def run(counts=counts, coords=coords, cfg=cfg):
                return permutation_scan(
                    counts,
                    coords,
                    max_radius=cfg["max_radius"],
                    max_days=MAX_DAYS,
                    max_fraction=0.5,
                    min_cases=2,
                    n_sim=cfg["n_sim"],
                    seed=args.seed,
                )

            t = time.perf_counter()
            run()
            first = time.perf_counter() - t
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                run()
                times.append(time.perf_counter() - t)
            med = statistics.median(times)
            measured[key] = {
                "cases": int(counts.sum()),
                "cylinders": cylinders,
                "first": first,
                "seconds": med,
                "range": (min(times), max(times)),
                "ns": 1e9 * med / (cylinders * (cfg["n_sim"] + 1)),
                "load": os.getloadavg()[0],
            }
            console.print(
                f"{cfg}: {med:.3f} s (runs {', '.join(f'{x:.3f}' for x in times)}; "
                f"load {measured[key]['load']:.2f})"
            )
        rows.append({"factor": factor, **cfg, **measured[key]})

    table = Table(
        title=f"permutation_scan scaling, {args.threads} numba threads, median of {repeats} "
        f"(max {MAX_DAYS} days, 50% of cases, min 2 cases; base: 2,000 zones, 365 days, "
        "radius 4, 999 replications)"
    )
    for col in (
        "varied",
        "zones",
        "days",
        "max radius",
        "replications",
        "cases",
        "cylinders / scan",
        "seconds (range)",
        "ns / cylinder / scan",
    ):
        table.add_column(col, justify="right")
    previous = None
    for r in rows:
        if previous is not None and r["factor"] != previous:
            table.add_section()
        previous = r["factor"]
        table.add_row(
            r["factor"],
            f"{r['zones']:,}",
            str(r["days"]),
            f"{r['max_radius']:g}",
            str(r["n_sim"]),
            f"{r['cases']:,}",
            f"{r['cylinders']:,}",
            f"{r['seconds']:.3f} ({r['range'][0]:.3f}-{r['range'][1]:.3f})",
            f"{r['ns']:.2f}",
        )
    console.print(table)
    console.print(f"whole table: {time.perf_counter() - t_all:.0f} s")
    return rows


if __name__ == "__main__":
    main()
    sys.exit(0)
