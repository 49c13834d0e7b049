"""farrington_flexible vs R surveillance::farringtonFlexible (1.20.3): speed and agreement.

    python benchmarks/detection/bench_farrington.py [--series 200] [--weeks 52] [--seed 7]

Simulates weekly negative-binomial series with seasonality (and a few outbreaks in the
monitored weeks), long enough for ``b = 5`` (``5 * 52 + 3 + weeks`` weeks), writes them to a
CSV and runs both implementations on the last ``weeks`` weeks of every series with the
improved (Noufaily) and the original (Farrington) preset: R through
``benchmarks/detection/farrington_speed.R`` (its own ``system.time`` of ``farringtonFlexible``,
R's start-up excluded), epiradar in this process (the first call, which loads or compiles the
numba kernel, and the best of ``--repeat`` warm calls). Prints the times, the speed-up over R,
whether the alarms are identical and the largest relative difference of ``upperbound`` and
``expected``. Without ``Rscript`` only epiradar is timed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from epiradar.detect.temporal import (
    FARRINGTON_IMPROVED,
    FARRINGTON_ORIGINAL,
    farrington_flexible,
)

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "farrington_speed.R"
FREQ, B, W = 52, 5, 3
PRESETS = {"improved": FARRINGTON_IMPROVED, "original": FARRINGTON_ORIGINAL}
console = Console(width=160)


def simulate(n_series: int, n_weeks: int, seed: int) -> np.ndarray:
    """``[n_series, n_time]`` weekly counts: negative binomial (size 1..10) around a seasonal
    mean (baseline 0.5..60, yearly harmonic, mild trend), outbreaks in 10% of the series."""
    rng = np.random.default_rng(seed)
    n_time = B * FREQ + W + n_weeks
    t = np.arange(n_time)
    base = np.exp(rng.uniform(np.log(0.5), np.log(60), n_series))[:, None]
    amp = rng.uniform(0, 1, n_series)[:, None]
    phase = rng.uniform(0, 2 * np.pi, n_series)[:, None]
    slope = rng.normal(0, 0.1, n_series)[:, None]  # per year
    mu = base * np.exp(amp * np.sin(2 * np.pi * t / FREQ + phase) + slope * t / FREQ)
    size = rng.uniform(1, 10, n_series)[:, None]
    counts = rng.negative_binomial(size, size / (size + mu)).astype(float)
    for j in rng.choice(n_series, max(1, n_series // 10), replace=False):
        start = rng.integers(n_time - n_weeks, n_time - 3)
        counts[j, start : start + 4] += rng.poisson(3 * mu[j, start] + 5, min(4, n_time - start))
    return counts


def write_counts(counts: np.ndarray, path: Path) -> None:
    frame = pd.DataFrame(counts.T.astype(int), columns=[f"s{j}" for j in range(len(counts))])
    frame.insert(0, "time", np.arange(1, counts.shape[1] + 1))
    frame.to_csv(path, index=False)


def run_r(csv: Path, preset: str, weeks: int, out: Path) -> tuple[float, pd.DataFrame]:
    """R's seconds (its ``system.time``) and results."""
    proc = subprocess.run(
        ["Rscript", str(R_SCRIPT), str(csv), preset, str(weeks), str(out)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"Rscript failed:\n{proc.stderr[-4000:]}")
    return float(proc.stdout.strip().splitlines()[-1]), pd.read_csv(out)


def run_ours(counts: np.ndarray, preset: str, weeks: int, repeat: int):
    """(first-call seconds, best warm seconds, its CPU seconds (all threads), result)."""
    monitor = np.arange(counts.shape[1] - weeks, counts.shape[1])
    kwargs = {"b": B, "w": W, "freq": FREQ, "monitor": monitor, **PRESETS[preset]}
    t0 = time.perf_counter()
    result = farrington_flexible(counts, **kwargs)
    first = time.perf_counter() - t0
    warm, cpu = np.inf, np.nan
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = farrington_flexible(counts, **kwargs)
        wall = time.perf_counter() - t0
        if wall < warm:
            warm, cpu = wall, time.process_time() - c0
    return first, warm, cpu, result


def compare(result, frame: pd.DataFrame, n_series: int) -> dict:
    """Alarms identical? Largest relative differences of upperbound and expected (where both
    are defined; R's 0 expected of a point without a converged model is NaN here)."""
    shape = (n_series, -1)
    r_alarm = frame["alarm"].fillna(0).to_numpy(dtype=int).reshape(shape).astype(bool)
    out = {"alarms_identical": bool(np.array_equal(result.alarm, r_alarm))}
    out["alarms"] = int(result.alarm.sum())
    out["r_alarms"] = int(r_alarm.sum())
    no_model = (frame["pvalue"].isna() & (frame["expected"] == 0)).to_numpy().reshape(shape)
    for name in ("upperbound", "expected"):
        ref = frame[name].to_numpy(dtype=float).reshape(shape)
        if name == "expected":
            ref = np.where(no_model, np.nan, ref)
        ours = getattr(result, name)
        both = np.isfinite(ref) & np.isfinite(ours)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.abs(ours[both] - ref[both]) / np.maximum(np.abs(ref[both]), 1e-300)
        out[f"{name}_max_rel"] = float(rel.max()) if rel.size else 0.0
        out[f"{name}_same_nan"] = bool(np.array_equal(np.isnan(ours), np.isnan(ref)))
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--weeks", type=int, default=52, help="monitored weeks per series")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="warm epiradar runs (best kept)")
    parser.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=list(PRESETS))
    parser.add_argument("--no-r", action="store_true", help="time epiradar only")
    args = parser.parse_args(argv)
    counts = simulate(args.series, args.weeks, args.seed)
    have_r = not args.no_r and shutil.which("Rscript") is not None
    if not have_r:
        console.print(
            "[yellow]Rscript not found (or --no-r): timing epiradar only, no R reference[/]"
        )
    rows = []
    with tempfile.TemporaryDirectory(prefix="epiradar-farrington-") as tmp:
        csv = Path(tmp) / "counts.csv"
        write_counts(counts, csv)
        for preset in args.presets:
            first, warm, cpu, result = run_ours(counts, preset, args.weeks, args.repeat)
            row = {"preset": preset, "first_seconds": first, "seconds": warm, "cpu_seconds": cpu}
            if have_r:
                console.print(f"R farringtonFlexible, {preset} preset ...")
                r_seconds, frame = run_r(csv, preset, args.weeks, Path(tmp) / f"r_{preset}.csv")
                row |= {"r_seconds": r_seconds, **compare(result, frame, args.series)}
            rows.append(row)
    table = Table(
        title=f"farringtonFlexible, {args.series} weekly series x {args.weeks} monitored weeks "
        f"(b={B}, w={W}; {os.cpu_count()} cores, numba {numba.get_num_threads()} threads)"
    )
    for col in (
        "method",
        "epiradar (warm)",
        "epiradar (1st call)",
        "R 1.20.3",
        "ratio",
        "alarms identical",
        "max rel diff upperbound / expected",
    ):
        table.add_column(col)
    for row in rows:
        r = row.get("r_seconds")
        table.add_row(
            f"{row['preset']} ({'nbPlugin' if row['preset'] == 'improved' else 'delta'})",
            f"{row['seconds']:.3f} s (CPU {row['cpu_seconds']:.3f} s)",
            f"{row['first_seconds']:.3f} s",
            f"{r:.2f} s" if r is not None else "n/a",
            f"{r / row['seconds']:.0f}x faster" if r is not None else "n/a",
            (
                f"{'yes' if row['alarms_identical'] else 'NO'} "
                f"({row['alarms']} vs R {row['r_alarms']})"
                if r is not None
                else "n/a"
            ),
            (
                f"{row['upperbound_max_rel']:.1e} / {row['expected_max_rel']:.1e}"
                if r is not None
                else "n/a"
            ),
        )
    console.print(table)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
