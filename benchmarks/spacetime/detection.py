"""Point-source outbreaks on a simulated city: the space-time permutation scan vs per-region EARS.

    python benchmarks/spacetime/detection.py            # the full design (~3 min on 2 cores)
    python benchmarks/spacetime/detection.py --quick    # a smoke run (~20 s)

The city and its counts come from the product's simulator (``epiradar.sim``): ``--regions``
sub-districts (density-adapted Voronoi cells of a ~42 x 36 km city; centroids in km are the
scan's planar coordinates), background gastrointestinal (GI) fever-clinic visits per
sub-district and day from ``expected_counts`` / ``sample_counts`` (population x lasting
sub-district propensity x season x day of week x a city-wide daily factor, negative-binomial
noise), ``--daily-visits`` visits a day over all syndromes (GI is about 8% of them).

Outbreaks: ``--outbreaks`` point sources from ``epiradar.sim.outbreaks.point_source`` (one
restaurant or market drawn by popularity x population, so the place varies over the city;
exposures over 4 days; GI incubation; clinic visit 0-3 days after onset; homes at a gamma
distance of mean 2 km around the source, so the cases fall in several sub-districts). Size:
log-uniform in ``--sizes`` (default 10-80 cases); start: uniform over the evaluated year.
Each outbreak is added alone to the same background (outbreaks never overlap).

For each outbreak the scan runs prospectively on every day from its first case (lag 0) to 6
days later (lag 6; the analysis day is the last column of the ``--study-days`` days ending on
it), ``max_days=7``, ``max_radius=--max-radius`` km, 50% of cases, min 2 cases,
``n_sim=--n-sim`` replications; an outbreak is detected at a lag when a reported cluster with
p < ``--alpha`` shares a sub-district with the outbreak's cases seen by that day (once
detected the later lags are not scanned: they cannot change the scores). "Detected within 3 /
7 days": at lag <= 2 / <= 6 (as ``benchmarks/detection/city.py``).

The same outbreaks are judged by EARS C1, C2 and C3 (``epiradar.detect.temporal.ears``,
7-day baseline, their default alpha: 0.001, 0.001, 0.025) on each sub-district's own series:
detected at a lag when any sub-district holding the outbreak's cases seen by that day alarms
that day ("C1-C3": any of the three).

False alarms: ``--baseline-days`` days spread over the evaluated year, background only. For
the scan: days with at least one cluster at p < alpha, and such clusters, per 100 days; for
EARS: days with at least one alarming sub-district, and alarming sub-districts, per 100 days.
"Chance": the detection rule applied to the same days and sub-districts without the outbreak's
cases (how much of "detected" a detector gets from noise alone; for the scan it doubles the
scans, ``--no-scan-chance`` skips it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from epiradar.detect.spacetime import permutation_scan
from epiradar.detect.temporal import DEFAULT_ALPHA, ears
from epiradar.sim import clinical as cl
from epiradar.sim import outbreaks as ob
from epiradar.sim.baseline import expected_counts, sample_counts
from epiradar.sim.city import generate_city
from epiradar.sim.layout import CityLayout

START = dt.date(2024, 1, 1)
EVAL_DAYS = 365
TAIL = 40  # days after the evaluated year, so late outbreaks run their course
LAGS = 7  # lags 0..6
EARS_METHODS = ("C1", "C2", "C3")


@dataclass
class Outbreak:
    size: int
    first: int  # day index of the first case's visit
    region: np.ndarray  # per case
    day: np.ndarray  # per case (clinic visit)


def simulate(args) -> tuple[np.ndarray, CityLayout, int]:
    """Background GI counts ``[region, day]``, centroids (km) and the first evaluated day."""
    city = generate_city(args.seed, n_regions=args.regions)
    layout = CityLayout(city)
    first_eval = args.study_days
    days = first_eval + EVAL_DAYS + TAIL
    rng = np.random.default_rng([args.seed, 2])
    mean = expected_counts(layout, START, days, args.daily_visits, rng)
    counts = sample_counts(mean, rng)[:, :, cl.GI].T.astype(np.int64)
    return counts, layout, first_eval


def make_outbreaks(layout: CityLayout, first_eval: int, n_days: int, args) -> list[Outbreak]:
    rng = np.random.default_rng([args.seed, 3])
    lo, hi = args.sizes
    out = []
    while len(out) < args.outbreaks:
        size = int(round(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
        start = first_eval + int(rng.integers(0, EVAL_DAYS - 10))
        o = ob.point_source(
            layout,
            rng,
            start_day=start,
            last_day=n_days - 1,
            size=size,
            syndrome=cl.GI,
            recall=0.7,
        )
        if len(o) == 0:
            continue
        out.append(
            Outbreak(
                size=len(o),
                first=int(o.visit_day.min()),
                region=o.region.astype(np.int64),
                day=o.visit_day.astype(np.int64),
            )
        )
    return out


def seen_regions(o: Outbreak, day: int) -> np.ndarray:
    return np.unique(o.region[o.day <= day])


def scan(counts: np.ndarray, coords: np.ndarray, day: int, seed, args):
    window = counts[:, day - args.study_days + 1 : day + 1]
    return permutation_scan(
        window,
        coords,
        max_radius=args.max_radius,
        max_days=7,
        max_fraction=0.5,
        min_cases=2,
        n_sim=args.n_sim,
        seed=seed,
    )


def significant(result, alpha: float) -> list:
    return [c for c in result.clusters if c.p_value is not None and c.p_value < alpha]


def first_scan_detection(counts, coords, o: Outbreak, k: int, args) -> tuple[int | None, int]:
    """The first lag (0..6) at which a significant cluster meets the outbreak; scans run."""
    for lag in range(LAGS):
        day = o.first + lag
        res = scan(counts, coords, day, (args.seed * 1000 + k) * 10 + lag, args)
        seen = seen_regions(o, day)
        for c in significant(res, args.alpha):
            if np.isin(c.zones, seen).any():
                return lag, lag + 1
    return None, LAGS


def false_alarms(counts, coords, days, args, console) -> tuple[int, int, np.ndarray]:
    """Days with a significant cluster, significant clusters, and each day's most likely
    cluster's p-value, over background ``days``."""
    n_days = n_clusters = 0
    mlc_p = []
    for day in track(days, description="background days", console=console):
        res = scan(counts, coords, int(day), args.seed * 100_000 + 99_000 + int(day), args)
        sig = significant(res, args.alpha)
        n_days += bool(sig)
        n_clusters += len(sig)
        if res.most_likely is not None and res.most_likely.p_value is not None:
            mlc_p.append(res.most_likely.p_value)
    return n_days, n_clusters, np.asarray(mlc_p)


def ears_alarms(counts: np.ndarray, rows: np.ndarray, days: np.ndarray) -> dict[str, np.ndarray]:
    """``alarm[row, day]`` of C1, C2, C3 at their default alpha on the given rows and days."""
    y = counts[rows].astype(float)
    return {m: ears(y, method=m, baseline=7, monitor=days).alarm for m in EARS_METHODS}


def first_ears_detection(counts, o: Outbreak) -> dict[str, int | None]:
    days = o.first + np.arange(LAGS)
    rows = seen_regions(o, int(days[-1]))
    alarms = ears_alarms(counts, rows, days)
    seen = np.array([[np.any((o.region == r) & (o.day <= d)) for d in days] for r in rows])
    out = {}
    for m, a in alarms.items():
        hit = np.flatnonzero((a & seen).any(axis=0))
        out[m] = int(hit[0]) if hit.size else None
    any_hit = np.flatnonzero(np.logical_or.reduce([alarms[m] & seen for m in EARS_METHODS]).any(0))
    out["C1-C3"] = int(any_hit[0]) if any_hit.size else None
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=400)
    parser.add_argument("--outbreaks", type=int, default=200)
    parser.add_argument(
        "--baseline-days", type=int, default=365, help="background days scanned (of 365)"
    )
    parser.add_argument("--n-sim", type=int, default=999)
    parser.add_argument("--sizes", type=int, nargs=2, default=(10, 80), metavar=("MIN", "MAX"))
    parser.add_argument("--study-days", type=int, default=90, help="days in each scan")
    parser.add_argument("--max-radius", type=float, default=3.0, help="km")
    parser.add_argument("--alpha", type=float, default=0.01, help="the scan's p threshold")
    parser.add_argument("--daily-visits", type=float, default=4000.0, help="all syndromes")
    parser.add_argument("--threads", type=int, default=2, help="numba threads")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-scan-chance",
        dest="scan_chance",
        action="store_false",
        help="skip the scan's chance row (the outbreak days scanned again without the outbreak)",
    )
    parser.add_argument(
        "--no-poisson-background",
        dest="poisson_background",
        action="store_false",
        help="skip the scan's false alarms on a Poisson background (its exact null)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="30 outbreaks, 30 background days, 199 replications"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.outbreaks, args.baseline_days, args.n_sim = 30, 30, 199
    console = Console(width=150)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    t0 = time.perf_counter()
    counts, layout, first_eval = simulate(args)
    coords = layout.centroid
    outbreaks = make_outbreaks(layout, first_eval, counts.shape[1], args)
    console.print(
        f"city: {args.regions} sub-districts, GI visits {counts[:, first_eval:].mean():.2f} per "
        f"sub-district-day ({counts[:, first_eval:].sum(0).mean():.0f} a day); "
        f"{len(outbreaks)} point sources of {min(o.size for o in outbreaks)}-"
        f"{max(o.size for o in outbreaks)} cases in "
        f"{int(np.median([np.unique(o.region).size for o in outbreaks]))} sub-districts "
        f"(median); {time.perf_counter() - t0:.1f} s to simulate"
    )
    scan(counts, coords, first_eval + 10, 0, args)  # compile

    # -- outbreaks -----------------------------------------------------------------------
    scan_lag: list[int | None] = []
    chance_lag: list[int | None] = []
    ears_lag: dict[str, list] = {m: [] for m in (*EARS_METHODS, "C1-C3")}
    ears_chance: dict[str, list] = {m: [] for m in (*EARS_METHODS, "C1-C3")}
    n_scans = n_chance = 0
    t_scan = t_ears = t_chance = 0.0
    for k, o in enumerate(track(outbreaks, description="outbreaks", console=console)):
        with_outbreak = counts.copy()
        np.add.at(with_outbreak, (o.region, o.day), 1)
        t = time.perf_counter()
        lag, runs = first_scan_detection(with_outbreak, coords, o, k, args)
        t_scan += time.perf_counter() - t
        n_scans += runs
        scan_lag.append(lag)
        if args.scan_chance:
            t = time.perf_counter()
            lag, runs = first_scan_detection(counts, coords, o, k, args)
            t_chance += time.perf_counter() - t
            n_chance += runs
            chance_lag.append(lag)
        t = time.perf_counter()
        for m, v in first_ears_detection(with_outbreak, o).items():
            ears_lag[m].append(v)
        t_ears += time.perf_counter() - t
        for m, v in first_ears_detection(counts, o).items():
            ears_chance[m].append(v)

    # -- background days -----------------------------------------------------------------
    base_days = np.linspace(first_eval, first_eval + EVAL_DAYS - 1, args.baseline_days)
    base_days = np.unique(base_days.round().astype(int))
    t = time.perf_counter()
    scan_false_days, scan_false_clusters, mlc_p = false_alarms(
        counts, coords, base_days, args, console
    )
    t_base = time.perf_counter() - t
    poisson = None
    if args.poisson_background:
        # the same zone and day totals in expectation, Poisson noise only: the permutation
        # scan's own null (no space-time interaction at all)
        rng = np.random.default_rng([args.seed, 4])
        mu = counts.sum(1, keepdims=True) * counts.sum(0, keepdims=True) / counts.sum()
        poisson = false_alarms(rng.poisson(mu), coords, base_days, args, console)
    alarms = ears_alarms(counts, np.arange(counts.shape[0]), base_days)
    alarms["C1-C3"] = np.logical_or.reduce([alarms[m] for m in EARS_METHODS])
    per100 = 100.0 / len(base_days)

    def share_detected(lags, idx):
        return float(np.mean([lags[i] is not None for i in idx])) if len(idx) else float("nan")

    def median_lag(lags):
        hit = [v for v in lags if v is not None]
        return float(np.median(hit)) if hit else float("nan")

    def shares(lags):
        lags = [np.inf if v is None else v for v in lags]
        a = np.asarray(lags, dtype=float)
        return float(np.mean(a <= 2)), float(np.mean(a <= 6))

    sizes = np.array([o.size for o in outbreaks])
    bands = [(10, 19), (20, 39), (40, 80)] if tuple(args.sizes) == (10, 80) else []

    def band_index(a, b):
        return np.flatnonzero((sizes >= a) & (sizes <= b))

    rows = []
    scan_name = (
        f"space-time permutation scan (p < {args.alpha:g}, {args.n_sim} replications, "
        f"radius {args.max_radius:g} km)"
    )
    rows.append(
        {
            "method": scan_name,
            "detected": shares(scan_lag),
            "median_lag": median_lag(scan_lag),
            "by_size": [share_detected(scan_lag, band_index(a, b)) for a, b in bands],
            "chance": shares(chance_lag) if chance_lag else None,
            "false_days": scan_false_days * per100,
            "false_alarms": scan_false_clusters * per100,
            "seconds": t_scan + t_base,
        }
    )
    if poisson is not None:
        rows.append(
            {
                "method": "the scan on a Poisson background with the same zone and day totals "
                "expected (its exact null)",
                "detected": (float("nan"), float("nan")),
                "median_lag": float("nan"),
                "by_size": [float("nan") for _ in bands],
                "chance": None,
                "false_days": poisson[0] * per100,
                "false_alarms": poisson[1] * per100,
                "seconds": None,
            }
        )
    for m in (*EARS_METHODS, "C1-C3"):
        alpha = f"alpha {DEFAULT_ALPHA[m]:g}" if m in DEFAULT_ALPHA else "any of C1, C2, C3"
        rows.append(
            {
                "method": f"EARS {m} per sub-district ({alpha})",
                "detected": shares(ears_lag[m]),
                "median_lag": median_lag(ears_lag[m]),
                "by_size": [share_detected(ears_lag[m], band_index(a, b)) for a, b in bands],
                "chance": shares(ears_chance[m]),
                "false_days": float(alarms[m].any(axis=0).sum()) * per100,
                "false_alarms": float(alarms[m].sum()) * per100,
                "seconds": t_ears if m == "C1" else None,
            }
        )

    table = Table(
        title=f"{len(outbreaks)} point-source GI outbreaks, {args.regions} sub-districts; "
        f"false alarms on {len(base_days)} background days ({args.threads} threads)"
    )
    for col in (
        "detector",
        "detected <= 3 d",
        "detected <= 7 d",
        "median lag (days)",
        "chance <= 3 / 7 d",
        "days with a false alarm / 100 days",
        "false clusters or region alarms / 100 days",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["method"],
            "-" if r["detected"][0] != r["detected"][0] else f"{r['detected'][0]:.0%}",
            "-" if r["detected"][1] != r["detected"][1] else f"{r['detected'][1]:.0%}",
            "-" if r["median_lag"] != r["median_lag"] else f"{r['median_lag']:g}",
            "-" if r["chance"] is None else f"{r['chance'][0]:.0%} / {r['chance'][1]:.0%}",
            f"{r['false_days']:.1f}",
            f"{r['false_alarms']:.1f}",
        )
    console.print(table)
    if bands:
        t2 = Table(title="detected <= 7 d by outbreak size (cases)")
        t2.add_column("detector")
        for a, b in bands:
            n = int(((sizes >= a) & (sizes <= b)).sum())
            t2.add_column(f"{a}-{b} (n={n})")
        for r in rows:
            if r["detected"][0] != r["detected"][0]:
                continue
            t2.add_row(r["method"], *("-" if v != v else f"{v:.0%}" for v in r["by_size"]))
        console.print(t2)
    calib = [("simulated background", mlc_p)]
    if poisson is not None:
        calib.append(("Poisson background", poisson[2]))
    for name, ps in calib:
        if len(ps):
            console.print(
                f"most likely cluster's p on the {len(ps)} {name} days: mean {ps.mean():.3f} "
                f"(0.5 if calibrated), < 0.01 on {int((ps < 0.01).sum())}, < 0.05 on "
                f"{int((ps < 0.05).sum())} (expected {0.01 * len(ps):.1f}, {0.05 * len(ps):.1f}; "
                "the days' study periods overlap, so these counts are correlated)"
            )
    total = time.perf_counter() - t0
    console.print(
        f"scans: {n_scans} on outbreak days ({t_scan:.0f} s, {t_scan / max(n_scans, 1):.3f} s "
        f"each) + {len(base_days)} background days ({t_base:.0f} s) + {n_chance} without the "
        f"outbreaks ({t_chance:.0f} s); EARS {t_ears:.1f} s; "
        f"total {total:.0f} s"
    )
    out = {
        "args": {k: v for k, v in vars(args).items() if k != "json"},
        "rows": rows,
        "scans": n_scans,
        "total_seconds": total,
    }
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return out


if __name__ == "__main__":
    main()
    sys.exit(0)
