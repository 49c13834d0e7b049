"""Public aggregates: cold computation, warm page and CSV times, and suppression of a big table.

    python benchmarks/sharing/public_speed.py [--visits 100000] [--requests 20]

1. Cold: ``service.public.aggregates`` after ``clear_cache()``: every published syndrome's
   district x ISO-week table with the city's daily counts, primary and complementary
   suppression and the linear-programming audit (``share.suppression.suppress_with_daily``).
2. Warm: ``GET /public`` and ``GET /api/open/aggregates.csv`` through FastAPI's TestClient
   (authentication off), ``--requests`` requests each after one warm-up: median and 95th
   percentile, against the 300 ms goal (ratio = goal / p95). Timed twice: with the benchmark's
   heap as it is (the simulated city and the export's leftovers make every third request pay
   for a full garbage collection) and after ``gc.freeze()``, as ``workflow/page_speed.py`` does,
   since a server's heap holds none of that.
3. ``share.suppression.suppress`` on a 50 x 60 table with many small cells (negative binomial,
   mean 12, about half the cells under 10) and on one with few (mean 60, complementary
   suppression needed), its own audit included; then, on the first, unless
   ``--no-audit``, the separate ``audit()`` of the result (the exact interval of every hidden
   cell, two LPs each: what ``violations()`` and the tests run).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

GOAL_MS = 300.0
console = Console(width=160)


def _times(client, path: str, n: int) -> tuple[list[float], int]:
    first = client.get(path)
    if first.status_code != 200:
        raise SystemExit(f"GET {path}: HTTP {first.status_code} {first.text[:300]}")
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    return sorted(times), len(first.content)


def _p95(times: list[float]) -> float:
    return times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def big_table(mean: float = 12.0, seed: int = 5) -> pd.DataFrame:
    """50 x 60 negative binomial counts (size 1.5) of ``mean``."""
    rng = np.random.default_rng(seed)
    values = rng.negative_binomial(1.5, 1.5 / (1.5 + mean), size=(50, 60))
    return pd.DataFrame(
        values, index=[f"D{i:02d}" for i in range(50)], columns=[f"W{j:02d}" for j in range(60)]
    )


def run(city, *, requests: int = 20, separate_audit: bool = True) -> dict:
    from fastapi.testclient import TestClient

    from epiradar.service import public
    from epiradar.share.suppression import audit, suppress
    from epiradar.web.app import create_app

    store, settings = city.store, city.settings
    public.clear_cache()
    t0 = time.perf_counter()
    agg = public.aggregates(store, settings)
    cold = time.perf_counter() - t0
    cells = hidden = 0
    for s in agg.syndromes.values():
        st = s.published.weekly.status
        cells += st.size + len(s.published.daily_status)
        hidden += int((st != "shown").to_numpy().sum()) + int(
            (s.published.daily_status != "shown").sum()
        )
    t0 = time.perf_counter()
    public.aggregates(store, settings)
    cached = time.perf_counter() - t0

    app = create_app(settings, store)
    client = TestClient(app)
    pages = {}
    for frozen in (False, True):
        if frozen:  # what building the city left behind would not be in a server's heap
            gc.collect()
            gc.freeze()
        for path in ("/public", "/api/open/aggregates.csv"):
            times, size = _times(client, path, requests)
            pages[(path, frozen)] = {
                "median": statistics.median(times),
                "p95": _p95(times),
                "bytes": size,
            }
    gc.unfreeze()
    client.close()

    tables = []
    for mean in (12.0, 60.0):
        big = big_table(mean)
        t0 = time.perf_counter()
        result = suppress(big)
        seconds = time.perf_counter() - t0
        t_audit = None
        if separate_audit and mean == 12.0:
            t0 = time.perf_counter()
            audit(big, result)
            t_audit = time.perf_counter() - t0
        status = result.status.to_numpy()
        tables.append(
            {
                "mean": mean,
                "small": int(((big.to_numpy() > 0) & (big.to_numpy() < 10)).sum()),
                "seconds": seconds,
                "primary": int((status == "primary").sum()),
                "complementary": int((status == "complementary").sum()),
                "audit_seconds": t_audit,
            }
        )
    return {
        "visits": city.n_visits,
        "cold": cold,
        "cached": cached,
        "syndromes": len(agg.syndromes),
        "weeks": len(agg.weeks) if hasattr(agg, "weeks") else None,
        "districts": len(agg.districts),
        "cells": cells,
        "hidden": hidden,
        "pages": pages,
        "requests": requests,
        "tables": tables,
    }


def table(res: dict) -> Table:
    t = Table(title=f"public aggregates, {res['visits']:,} visits (goal {GOAL_MS:.0f} ms)")
    for col in ("benchmark", "epiradar", "reference", "ratio"):
        t.add_column(col)
    t.add_row(
        f"cold: all published tables ({res['syndromes']} syndromes, {res['districts']} "
        f"districts x {res['weeks']} weeks + city days; suppression and LP audit)",
        f"{res['cold'] * 1000:,.0f} ms ({res['cells']:,} numbers, {res['hidden']:,} hidden); "
        f"cached: {res['cached'] * 1000:.0f} ms",
        "",
        "",
    )
    for (path, frozen), p in res["pages"].items():
        heap = "heap frozen (gc.freeze)" if frozen else "as is"
        t.add_row(
            f"warm GET {path} ({p['bytes']:,} bytes), {res['requests']} requests, {heap}",
            f"median {p['median']:.0f} ms, p95 {p['p95']:.0f} ms",
            f"goal {GOAL_MS:.0f} ms",
            f"{GOAL_MS / p['p95']:.1f}x {'✓' if p['p95'] <= GOAL_MS else '✗'}",
        )
    for b in res["tables"]:
        t.add_row(
            f"suppress a 50 x 60 table with totals, mean {b['mean']:.0f} "
            f"({b['small']:,} cells of 1-9)",
            f"{b['seconds'] * 1000:,.0f} ms (hidden: {b['primary']:,} primary, "
            f"{b['complementary']:,} complementary cells)"
            + (
                f"; separate audit() of the result {b['audit_seconds'] * 1000:,.0f} ms"
                if b["audit_seconds"] is not None
                else ""
            ),
            "",
            "",
        )
    return t


def main(argv: list[str] | None = None, city=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument(
        "--no-audit", action="store_true", help="skip the separate audit() of the 50 x 60 table"
    )
    args = parser.parse_args(argv)
    if city is None:
        import city as city_module

        with tempfile.TemporaryDirectory(prefix="epiradar-sharing-") as tmp:
            built = city_module.build(Path(tmp), args.visits)
            res = run(built, requests=args.requests, separate_audit=not args.no_audit)
            built.store.close()
    else:
        res = run(city, requests=args.requests, separate_audit=not args.no_audit)
    console.print(table(res))
    return res


if __name__ == "__main__":
    main()
