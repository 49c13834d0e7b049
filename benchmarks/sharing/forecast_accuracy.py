"""Demand forecast accuracy on simulated renewal epidemics, and its speed on the city.

    python benchmarks/sharing/forecast_accuracy.py [--runs 1000] [--history 42] [--seed 1]

Each run: a renewal epidemic ``I_t ~ Poisson(R * sum_s w_s I_{t-s})`` with ``w`` the default
influenza-like-illness serial interval (mean 2.6, sd 1.5 days, discretised as EpiEstim), R at
1 from the start (seeded with 20-100 cases a day for a week), then, 14 days before the forecast,
changing to one of 0.7, 0.9, 1.1, 1.3, 1.5 (runs spread evenly) and staying there; ``--history``
days are observed, the next 14 are the truth.

epiradar: ``trace.forecast.forecast_counts`` as the capacity forecast calls it (renewal from the
Rt posterior of the last 7 days; the log-linear trend when fewer than 10 cases), 1,000 paths,
90% band. References, same runs: the mean of the last 7 days carried forward (its band: the
Poisson 5-95% quantiles of that mean) and ``trend_forecast`` alone (the log-linear fallback).
Scores on the 7th and 14th day ahead: mean absolute error (ratio = reference MAE / epiradar
MAE, above 1 = epiradar closer) and the share of true counts inside the 90% band.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.stats import poisson

console = Console(width=160)
R_VALUES = (0.7, 0.9, 1.1, 1.3, 1.5)
HORIZONS = (7, 14)
CHANGE_BEFORE = 14  # R moves from 1 to the run's value this many days before the forecast


def epidemic(
    r: float, days: int, change: int, w: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Daily counts: seeded for a week, R = 1 until day ``change``, then ``r``."""
    x = np.zeros(days)
    x[:7] = rng.poisson(rng.uniform(20, 100), 7)
    k = w.size - 1
    for t in range(7, days):
        lo = max(0, t - k)
        lam = (r if t >= change else 1.0) * float(x[lo:t][::-1] @ w[1 : 1 + t - lo])
        x[t] = rng.poisson(lam)
    return x


def run(runs: int = 1000, history: int = 42, seed: int = 1) -> dict:
    from epiradar.config import DEFAULT_SERIAL_INTERVALS
    from epiradar.model import Syndrome
    from epiradar.trace.forecast import forecast_counts, serial_interval_weights, trend_forecast

    si = DEFAULT_SERIAL_INTERVALS[Syndrome.ILI]
    w = serial_interval_weights(si.mean, si.sd)
    rng = np.random.default_rng(seed)
    horizon = max(HORIZONS)
    rows = []
    t_ours = t_trend = 0.0
    methods = {"renewal": 0, "trend": 0}
    for i in range(runs):
        r = R_VALUES[i % len(R_VALUES)]
        series = epidemic(r, history + horizon, history - CHANGE_BEFORE, w, rng)
        past, future = series[:history], series[history:]
        t0 = time.perf_counter()
        fc = forecast_counts(past, si_mean=si.mean, si_sd=si.sd, horizon=horizon, seed=i)
        t_ours += time.perf_counter() - t0
        methods[fc.method] += 1
        t0 = time.perf_counter()
        tr = trend_forecast(past, horizon=horizon, seed=i)
        t_trend += time.perf_counter() - t0
        naive = past[-7:].mean()
        n_lo, n_hi = poisson.ppf([0.05, 0.95], naive) if naive > 0 else (0.0, 0.0)
        for h in HORIZONS:
            y = future[h - 1]
            rows.append(
                {
                    "r": r,
                    "h": h,
                    "truth": y,
                    "ours": abs(fc.median[h - 1] - y),
                    "ours_in": fc.lower[h - 1] <= y <= fc.upper[h - 1],
                    "naive": abs(naive - y),
                    "naive_in": n_lo <= y <= n_hi,
                    "trend": abs(tr.median[h - 1] - y),
                    "trend_in": tr.lower[h - 1] <= y <= tr.upper[h - 1],
                }
            )
    return {
        "rows": rows,
        "runs": runs,
        "history": history,
        "methods": methods,
        "seconds_per_forecast": t_ours / runs,
        "trend_seconds": t_trend / runs,
    }


def scores(rows: list[dict], *, r: float | None, h: int) -> dict:
    sel = [x for x in rows if x["h"] == h and (r is None or x["r"] == r)]
    out = {"n": len(sel), "truth": float(np.mean([x["truth"] for x in sel]))}
    for k in ("ours", "naive", "trend"):
        out[k] = float(np.mean([x[k] for x in sel]))
        out[k + "_in"] = float(np.mean([x[k + "_in"] for x in sel]))
    return out


def table(res: dict) -> Table:
    t = Table(
        title=f"forecast accuracy: {res['runs']} renewal epidemics (ILI serial interval, "
        f"{res['history']} days observed), MAE and 90% band coverage"
    )
    for col in (
        "R",
        "ahead",
        "mean truth",
        "epiradar MAE",
        "last-7-day mean MAE",
        "ratio",
        "trend MAE",
        "ratio",
        "coverage: epiradar / mean / trend",
    ):
        t.add_column(col, justify="right")
    for r in (*R_VALUES, None):
        for h in HORIZONS:
            s = scores(res["rows"], r=r, h=h)
            t.add_row(
                "all" if r is None else f"{r:.1f}",
                f"{h} d",
                f"{s['truth']:,.0f}",
                f"{s['ours']:,.1f}",
                f"{s['naive']:,.1f}",
                f"{s['naive'] / s['ours']:.1f}x",
                f"{s['trend']:,.1f}",
                f"{s['trend'] / s['ours']:.1f}x",
                f"{s['ours_in']:.0%} / {s['naive_in']:.0%} / {s['trend_in']:.0%}",
            )
    return t


def footer(res: dict) -> str:
    m = res["methods"]
    return (
        f"forecast_counts used the renewal projection in {m['renewal']} runs and the trend in "
        f"{m['trend']}; {res['seconds_per_forecast'] * 1000:.1f} ms per 14-day forecast "
        f"(1,000 paths), trend alone {res['trend_seconds'] * 1000:.1f} ms"
    )


def city_speed(city) -> dict:
    """``service.capacity.forecast_capacity`` on the simulated city: every district."""
    from epiradar.service.capacity import forecast_capacity

    forecast_capacity(city.store, city.settings, horizon=14)  # warm-up (imports, caches)
    t0 = time.perf_counter()
    fc = forecast_capacity(city.store, city.settings, horizon=14)
    seconds = time.perf_counter() - t0
    methods = {}
    for d in fc.districts:
        methods[d.method] = methods.get(d.method, 0) + 1
    return {"seconds": seconds, "districts": len(fc.districts), "methods": methods}


def city_table(res: dict, visits: int) -> Table:
    t = Table(title=f"demand forecast of every district, {visits:,} visits")
    for col in ("benchmark", "epiradar"):
        t.add_column(col)
    methods = ", ".join(f"{k} {v}" for k, v in sorted(res["methods"].items()))
    t.add_row(
        f"service.capacity.forecast_capacity, 14 days, {res['districts']} districts ({methods})",
        f"{res['seconds'] * 1000:,.0f} ms ({res['seconds'] * 1000 / max(res['districts'], 1):.0f} "
        "ms per district)",
    )
    return t


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--history", type=int, default=42)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    res = run(args.runs, args.history, args.seed)
    console.print(table(res))
    console.print(footer(res))
    return res


if __name__ == "__main__":
    main()
