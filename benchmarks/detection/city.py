"""Daily alarm evaluation on a simulated city: outbreaks caught, false alerts, alerts per week.

A synthetic city (``epiradar.sim``: sub-districts in districts, populations, seasonality,
day-of-week pattern, city-wide daily swings, negative-binomial noise per syndrome) gives one
year of history and one evaluated year of daily counts for every sub-district x syndrome.
Into the evaluated year ``--outbreaks`` outbreaks are injected, of varied size, shape and
extent (see ``inject_outbreaks``). The detection engine then judges every day of the evaluated
year prospectively, once per configuration, and signals are merged into alerts as the product
does. Scores:

- caught within 3 / 7 days: share of outbreaks with a signal of their syndrome whose area
  overlaps theirs (a sub-district, its district, or the city) no later than 2 / 6 days after
  their first case;
- false signals per 100 series-days: signals matching no outbreak (syndrome, area, and dates
  from the first case to 7 days after the last), per 100 judged sub-district x syndrome days;
- alerts per week: merged alerts in the evaluated year / 52, and how many of them are false
  (all their signals false).

Configurations: the product's detectors with each detector's own alarm (``burden="none"``) at
several per-test levels, flat FDR and hierarchical FDR at several levels, so the reduction in
alerts can be read at the same share of outbreaks caught.

Also ``--speed``: one day's prospective run of the default configuration on a city of 2,000
sub-districts x 8 syndromes with 2 years of daily history (goal < 5 s).

    .venv/bin/python benchmarks/detection/city.py            # evaluation, 400 sub-districts
    .venv/bin/python benchmarks/detection/city.py --speed    # the 2,000-region timing
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from epiradar.config import DetectSettings
from epiradar.detect import detect_signals, engine
from epiradar.detect.merge import group_signals
from epiradar.geo import region_adjacency
from epiradar.model import Syndrome
from epiradar.sim.baseline import expected_counts, sample_counts
from epiradar.sim.city import generate_city
from epiradar.sim.layout import CityLayout

SYNDROMES = list(Syndrome)
START = dt.date(2024, 1, 1)
HISTORY_DAYS = 365
EVAL_DAYS = 364
SHAPES = ("point", "growing", "plateau")


@dataclass(frozen=True)
class Outbreak:
    syndrome: int
    regions: tuple[int, ...]
    first_day: int  # index into the whole series
    last_day: int
    cases: int
    shape: str


def simulate_city(n_regions: int, seed: int, daily_visits: float):
    """Counts ``[day, region, syndrome]`` for history + evaluated year, and the city."""
    city = generate_city(seed, n_regions=n_regions)
    layout = CityLayout(city)
    rng = np.random.default_rng([seed, 2])
    days = HISTORY_DAYS + EVAL_DAYS
    mean = expected_counts(layout, START, days, daily_visits, rng)
    counts = sample_counts(mean, rng)[:, :, : len(SYNDROMES)].astype(float)
    return city, counts, mean[:, :, : len(SYNDROMES)]


def inject_outbreaks(
    counts: np.ndarray, mean: np.ndarray, city, n: int, seed: int
) -> list[Outbreak]:
    """Add ``n`` outbreaks to ``counts`` in place.

    Each outbreak: a syndrome drawn in proportion to its baseline volume (plus rare syndromes
    at a fixed 20%); an area of one sub-district (60%) or 2-5 sub-districts of one district;
    a shape: ``point`` (onset days lognormal, median 2 days, a single exposure), ``growing``
    (doubling every 3-5 days over 10-21 days) or ``plateau`` (flat over 7-14 days); a size
    of 2-8 x the standard deviation of the area's baseline over the outbreak's duration
    (at least 4 cases), as the Noufaily design sizes outbreaks in baseline SDs.
    """
    rng = np.random.default_rng([seed, 3])
    region_ids = [r.id for r in city.regions]
    district_of = np.array([r.parent_id for r in city.regions])
    volume = mean.sum(axis=(0, 1))
    weights = 0.8 * volume / volume.sum() + 0.2 / len(SYNDROMES)
    out: list[Outbreak] = []
    for _ in range(n):
        syndrome = int(rng.choice(len(SYNDROMES), p=weights / weights.sum()))
        home = int(rng.integers(len(region_ids)))
        if rng.random() < 0.6:
            regions = (home,)
        else:
            same = np.flatnonzero(district_of == district_of[home])
            k = int(min(len(same), rng.integers(2, 6)))
            regions = tuple(sorted({home, *rng.choice(same, size=k, replace=False).tolist()}))
        shape = str(rng.choice(SHAPES))
        if shape == "point":
            duration = 10
            onset = np.exp(rng.normal(np.log(2.0), 0.5, 10_000))
            profile = np.bincount(np.minimum(onset.astype(int), duration - 1), minlength=duration)
        elif shape == "growing":
            duration = int(rng.integers(10, 22))
            doubling = rng.uniform(3, 5)
            profile = 2 ** (np.arange(duration) / doubling)
        else:
            duration = int(rng.integers(7, 15))
            profile = np.ones(duration)
        first = HISTORY_DAYS + int(rng.integers(0, EVAL_DAYS - duration))
        window = mean[first : first + duration][:, list(regions), syndrome]
        sd = np.sqrt(window.sum() * (1 + window.sum() / 10))  # NB-like SD of the total
        cases = max(4, round(rng.uniform(2, 8) * sd))
        per_day = rng.multinomial(cases, profile / profile.sum())
        share = mean[first : first + duration][:, list(regions), syndrome].sum(axis=0)
        for d, c in enumerate(per_day):
            if c:
                where = rng.multinomial(c, share / share.sum())
                counts[first + d, list(regions), syndrome] += where
        days_with = np.flatnonzero(per_day)
        out.append(
            Outbreak(
                syndrome=syndrome,
                regions=regions,
                first_day=first + int(days_with[0]),
                last_day=first + int(days_with[-1]),
                cases=int(cases),
                shape=shape,
            )
        )
    return out


def cube(counts: np.ndarray, city):
    """The engine's input: ``[series, day]`` with keys (regions x syndromes, then the city)."""
    n_days, n_regions, n_syn = counts.shape
    keys = [(r.id, s) for s in SYNDROMES for r in city.regions] + [(None, s) for s in SYNDROMES]
    region_part = counts.transpose(2, 1, 0).reshape(n_syn * n_regions, n_days)
    city_part = counts.sum(axis=1).T
    dates = [START + dt.timedelta(days=i) for i in range(n_days)]
    return np.vstack([region_part, city_part]), keys, dates


def score(signals, alerts_groups, outbreaks, city, n_judged_series_days):
    """Caught within 3 / 7 days, false signals per 100 series-days, alerts and false alerts."""
    region_ids = [r.id for r in city.regions]
    members: dict[str, set[str]] = {}
    for r in city.regions:
        members.setdefault(r.parent_id, set()).add(r.id)
    first_date = [START + dt.timedelta(days=o.first_day) for o in outbreaks]
    last_date = [START + dt.timedelta(days=o.last_day) for o in outbreaks]
    areas = [{region_ids[i] for i in o.regions} for o in outbreaks]

    def footprint(region_id):
        if region_id is None:
            return None
        return members.get(region_id, {region_id})

    def matches(sig, k):
        o = outbreaks[k]
        if str(sig.syndrome) != str(SYNDROMES[o.syndrome]):
            return False
        fp = footprint(sig.region_id)
        return fp is None or not fp.isdisjoint(areas[k])

    by_syndrome: dict[str, list[int]] = {}
    for k, o in enumerate(outbreaks):
        by_syndrome.setdefault(str(SYNDROMES[o.syndrome]), []).append(k)
    delay = np.full(len(outbreaks), np.inf)
    false_signal = {}
    for sig in signals:
        true = False
        for k in by_syndrome.get(str(sig.syndrome), ()):
            if not matches(sig, k):
                continue
            lag = (sig.date - first_date[k]).days
            if lag >= 0 and sig.date <= last_date[k] + dt.timedelta(days=7):
                true = True
                delay[k] = min(delay[k], lag)
        false_signal[id(sig)] = not true
    n_false = sum(false_signal.values())
    false_alerts = sum(all(false_signal[id(s)] for s in group) for _, group in alerts_groups)
    return {
        "caught_3d": float(np.mean(delay <= 2)),
        "caught_7d": float(np.mean(delay <= 6)),
        "signals": len(signals),
        "false_per_100": 100 * n_false / n_judged_series_days,
        "alerts_per_week": len(alerts_groups) / (EVAL_DAYS / 7),
        "false_alerts_per_week": false_alerts / (EVAL_DAYS / 7),
    }


#: Each burden control at several levels, so the curves can be compared at equal detection.
CURVES: dict[str, list[tuple[str, dict]]] = {
    "own alarms": [
        (f"alpha {a:g}", {"burden": "none", "alpha": a})
        for a in (1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5)
    ],
    "flat FDR": [
        (f"q {q:g}", {"burden": "fdr", "fdr_level": q}) for q in (0.5, 0.3, 0.1, 0.03, 0.01)
    ],
    "hierarchical FDR": [
        (f"q {q:g}", {"burden": "hierarchical", "fdr_level": q})
        for q in (0.5, 0.3, 0.1, 0.03, 0.01)
    ],
}
DEFAULT = ("own alarms", "alpha 0.001")


def _methods(text: str):
    """``"nb_glm"`` (every syndrome) or ``"nb_glm;ili=ewma_regression"`` (per syndrome)."""
    default, *special = text.split(";")
    if not special:
        return default.split(",")
    chosen = {s: default.split(",") for s in SYNDROMES}
    for item in special:
        name, names = item.split("=")
        chosen[Syndrome(name)] = names.split(",")
    return chosen


def _reuse_detector_runs() -> dict:
    """Within one evaluation the counts never change: a detector run with the same arguments
    (only the burden control or its level differs) is taken from a cache instead of rerun."""
    original = engine._judge
    cache: dict = {}

    def judge(method, y, rows, start, alpha, overrides, weekday0, lead=0):
        key = (method, rows.tobytes(), start, alpha, tuple(sorted(overrides.items())), lead)
        if key not in cache:
            cache[key] = original(method, y, rows, start, alpha, overrides, weekday0, lead)
        one = cache[key]
        if one is None:
            return None
        return dataclasses.replace(one, pvalue=one.pvalue.copy(), alarm=one.alarm.copy())

    engine._judge = judge
    return cache


def evaluate(args, console: Console) -> list[dict]:
    t0 = time.perf_counter()
    city, counts, mean = simulate_city(args.regions, args.seed, args.daily_visits)
    outbreaks = inject_outbreaks(counts, mean, city, args.outbreaks, args.seed)
    y, keys, dates = cube(counts, city)
    console.print(
        f"city: {len(city.regions)} sub-districts in {len(city.districts)} districts, "
        f"{len(keys)} series x {len(dates)} days, {len(outbreaks)} outbreaks "
        f"({time.perf_counter() - t0:.1f} s to simulate)"
    )
    neighbours = region_adjacency(city.regions)
    areas = {r.id: r.parent_id for r in city.regions}
    members: dict[str, list[str]] = {}
    for r in city.regions:
        members.setdefault(r.parent_id, []).append(r.id)
    monitor_start = dates[HISTORY_DAYS]
    judged = len(city.regions) * len(SYNDROMES) * EVAL_DAYS
    runs = [
        (methods, windows, curve, name, cfg)
        for methods in args.methods
        for windows in args.windows
        for curve, points in CURVES.items()
        for name, cfg in points
    ]
    rows = []
    cache = _reuse_detector_runs()
    previous = None
    for methods, windows, curve, name, cfg in track(
        runs, description="configurations", console=console
    ):
        if methods != previous:
            cache.clear()
            previous = methods
        kwargs = {"alpha": 1e-3, "windows": [int(k) for k in windows.split(",")], **cfg}
        t = time.perf_counter()
        signals = detect_signals(
            y,
            keys,
            dates,
            methods=_methods(methods),
            monitor_start=monitor_start,
            areas=areas,
            **kwargs,
        )
        seconds = time.perf_counter() - t
        groups = group_signals(signals, neighbours, gap_days=1, areas=members)
        rows.append(
            {
                "methods": methods if windows == "1" else f"{methods} windows {windows}",
                "curve": curve,
                "level": name,
                "seconds": seconds,
                **score(signals, groups, outbreaks, city, judged),
            }
        )
    return rows


def at_equal_detection(rows: list[dict], target: float, key: str = "caught_7d") -> dict:
    """Alerts per week of each (methods, curve) interpolated at the share caught ``target``
    (linear in log alerts; NaN when the curve does not reach it)."""
    out = {}
    for methods, curve in dict.fromkeys((r["methods"], r["curve"]) for r in rows):
        pts = sorted(
            (r[key], r["alerts_per_week"])
            for r in rows
            if r["methods"] == methods and r["curve"] == curve
        )
        x = np.array([p[0] for p in pts])
        v = np.log(np.maximum([p[1] for p in pts], 1e-3))
        if target < x.min() or target > x.max():
            out[(methods, curve)] = float("nan")
            continue
        xs, idx = np.unique(x, return_index=True)
        out[(methods, curve)] = float(np.exp(np.interp(target, xs, v[idx])))
    return out


def speed(args, console: Console) -> dict:
    """One day's prospective run on 2,000 sub-districts x 8 syndromes, 2 years of history."""
    n_regions, n_days = args.speed_regions, 730
    rng = np.random.default_rng(args.seed)
    level = rng.lognormal(0.0, 1.0, (n_regions, len(SYNDROMES))) * 0.8
    dow = np.array([1.2, 1.1, 1.0, 1.0, 1.0, 0.8, 0.7])[np.arange(n_days) % 7]
    mean = level[:, :, None] * dow[None, None, :]
    counts = rng.poisson(mean * rng.gamma(10, 0.1, mean.shape)).astype(float)
    keys = [(f"R{i:04d}", s) for s in SYNDROMES for i in range(n_regions)]
    keys += [(None, s) for s in SYNDROMES]
    y = np.vstack([counts.transpose(1, 0, 2).reshape(-1, n_days), counts.sum(axis=0)])
    dates = [START + dt.timedelta(days=i) for i in range(n_days)]
    areas = {f"R{i:04d}": f"D{i // 8:03d}" for i in range(n_regions)}
    default = DetectSettings()
    configs = {
        "product default (nb_glm, ILI: ewma_regression; windows 1,3,7; FDR 0.1)": {
            "methods": default.methods_by_syndrome(),
            "windows": default.windows,
            "burden": default.burden,
            "fdr_level": default.fdr_level,
        },
        "the same, hierarchical FDR": {
            "methods": default.methods_by_syndrome(),
            "windows": default.windows,
            "burden": "hierarchical",
            "fdr_level": default.fdr_level,
        },
        "EARS C1, C2, C3, own alarms (the previous default)": {"methods": ["C1", "C2", "C3"]},
    }
    out = {}
    for name, cfg in configs.items():
        # warm up numba's compiled kernels (cached on disk after the first run ever)
        detect_signals(y[:50], keys[:50], dates, monitor_start=dates[-1], **cfg)
        t = time.perf_counter()
        signals = detect_signals(y, keys, dates, monitor_start=dates[-1], areas=areas, **cfg)
        out[name] = (time.perf_counter() - t, len(signals))
    table = Table(title=f"one day's run: {n_regions:,} sub-districts x 8 syndromes, 2 years")
    for col in ("configuration", "seconds", "signals", "goal"):
        table.add_column(col)
    for name, (seconds, n) in out.items():
        table.add_row(name, f"{seconds:.2f}", str(n), "< 5 s")
    console.print(table)
    return {k: v[0] for k, v in out.items()}


def main(argv: list[str] | None = None) -> list[dict] | dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=400)
    parser.add_argument("--outbreaks", type=int, default=250)
    parser.add_argument("--daily-visits", type=float, default=4000.0)
    parser.add_argument(
        "--methods",
        action="append",
        help="comma-separated detectors, repeatable (default: C1,C2,C3)",
    )
    parser.add_argument(
        "--windows",
        action="append",
        help="evidence windows in days, e.g. 1,3,7; repeatable (default: 1)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--speed", action="store_true", help="time one day's run only")
    parser.add_argument("--speed-regions", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    args.methods = args.methods or ["C1,C2,C3"]
    args.windows = args.windows or ["1"]
    console = Console(width=150)
    if args.speed:
        args.methods = args.methods[0]
        return speed(args, console)
    rows = evaluate(args, console)
    table = Table(title=f"daily city: {args.regions} sub-districts, {args.outbreaks} outbreaks")
    for col in (
        "detectors",
        "burden control",
        "level",
        "caught <=3 d",
        "caught <=7 d",
        "false / 100 series-days",
        "alerts / week",
        "false alerts / week",
        "seconds",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["methods"],
            r["curve"],
            r["level"],
            f"{r['caught_3d']:.0%}",
            f"{r['caught_7d']:.0%}",
            f"{r['false_per_100']:.3f}",
            f"{r['alerts_per_week']:.1f}",
            f"{r['false_alerts_per_week']:.1f}",
            f"{r['seconds']:.1f}",
        )
    console.print(table)
    reference = rows[0]["methods"]
    default = next(
        r for r in rows if r["methods"] == reference and (r["curve"], r["level"]) == DEFAULT
    )
    for key, label in (("caught_7d", "7 days"), ("caught_3d", "3 days")):
        target = default[key]
        matched = at_equal_detection(rows, target, key)
        summary = Table(
            title=f"alerts per week at the default's share caught within {label} ({target:.0%}): "
            f"{reference}, own alarms at alpha 0.001 = {default['alerts_per_week']:.1f}"
        )
        for col in ("detectors", "burden control", "alerts / week", "reduction"):
            summary.add_column(col)
        for (methods, curve), value in matched.items():
            summary.add_row(
                methods,
                curve,
                f"{value:.1f}",
                f"{default['alerts_per_week'] / value:.1f}x" if value == value else "-",
            )
        console.print(summary)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
