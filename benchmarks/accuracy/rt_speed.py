"""Speed of epiradar.trace.rt against EpiEstim 2.2-4 on a 3-year daily series, same run.

    python benchmarks/accuracy/rt_speed.py [--days 1096] [--reps 5]

A seasonal Poisson series (seeded, about 70,000 cases); weekly sliding windows; estimate_R
with a parametric and a non-parametric serial interval, wallinga_teunis without sampled trees
(its mean only) and with 10 (EpiEstim's default). Times: the median of ``--reps`` calls inside
each language (R's start-up and package loading excluded; EpiEstim's sampled trees take about
20 s, so once). The table also gives the largest relative difference of the means from
EpiEstim's. Without ``Rscript`` (or EpiEstim) only epiradar is timed. About 45 s in all.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from epiradar.trace.rt import discr_si, estimate_rt, wallinga_teunis

SI_MEAN, SI_SD = 6.0, 2.5
R_SCRIPT = r"""
suppressPackageStartupMessages(library(EpiEstim))
args <- commandArgs(TRUE)
I <- read.csv(args[1])$I
reps <- as.integer(args[2])
T <- length(I)
w <- discr_si(0:30, 6.0, 2.5); w <- w / sum(w)
tw <- list(t_start = 2:(T - 6), t_end = 8:T)
calls <- list(
  parametric = function() estimate_R(I, method = "parametric_si",
    config = make_config(c(tw, list(mean_si = 6.0, std_si = 2.5))))$R,
  non_parametric = function() estimate_R(I, method = "non_parametric_si",
    config = make_config(c(tw, list(si_distr = w))))$R,
  wallinga_teunis = function() wallinga_teunis(I, method = "parametric_si",
    config = c(tw, list(mean_si = 6.0, std_si = 2.5, n_sim = 0)))$R,
  wallinga_teunis_sim10 = function() wallinga_teunis(I, method = "parametric_si",
    config = c(tw, list(mean_si = 6.0, std_si = 2.5, n_sim = 10)))$R
)
times <- list()
for (name in names(calls)) {
  n <- if (name == "wallinga_teunis_sim10") 1 else reps  # about 20 s a call
  el <- numeric(n)
  for (i in seq_len(n)) {
    t0 <- proc.time()[["elapsed"]]
    res <- suppressWarnings(suppressMessages(calls[[name]]()))
    el[i] <- proc.time()[["elapsed"]] - t0
  }
  times[[name]] <- median(el)
  write.csv(res[, 3], file.path(args[3], paste0(name, ".csv")), row.names = FALSE)
}
cat(sprintf("{%s}\n", paste(sprintf('"%s": %.6f', names(times), unlist(times)), collapse = ", ")))
"""


def _series(days: int) -> np.ndarray:
    rng = np.random.default_rng(20130501)
    t = np.arange(days)
    return rng.poisson(60 + 45 * np.sin(2 * np.pi * t / 365.25) + 0.01 * t).astype(float)


def _median_time(fn, reps: int) -> tuple[float, pd.DataFrame]:
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1096)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    counts = _series(args.days)
    w = discr_si(np.arange(31), SI_MEAN, SI_SD)
    w = w / w.sum()
    calls = {
        "parametric": lambda: estimate_rt(counts, SI_MEAN, SI_SD),
        "non_parametric": lambda: estimate_rt(counts, si_distr=w),
        "wallinga_teunis": lambda: wallinga_teunis(counts, SI_MEAN, SI_SD, n_sim=0),
        "wallinga_teunis_sim10": lambda: wallinga_teunis(counts, SI_MEAN, SI_SD, n_sim=10, seed=1),
    }
    mine = {name: _median_time(fn, args.reps) for name, fn in calls.items()}

    ref_times: dict[str, float] = {}
    ref_means: dict[str, np.ndarray] = {}
    console = Console(width=120)
    if shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            pd.DataFrame({"I": counts}).to_csv(Path(tmp) / "I.csv", index=False)
            script = Path(tmp) / "rt_speed.R"
            script.write_text(R_SCRIPT)
            proc = subprocess.run(
                ["Rscript", str(script), str(Path(tmp) / "I.csv"), str(args.reps), tmp],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if proc.returncode == 0:
                ref_times = json.loads(proc.stdout.strip().splitlines()[-1])
                for name in calls:
                    ref_means[name] = pd.read_csv(Path(tmp) / f"{name}.csv").iloc[:, 0].to_numpy()
            else:
                console.print(f"[yellow]EpiEstim failed, epiradar only:[/]\n{proc.stderr[-2000:]}")
    else:
        console.print("[yellow]Rscript not found: timing epiradar only[/]")

    table = Table(
        title=f"Rt on a {args.days}-day daily series, weekly windows (median of {args.reps})"
    )
    for col in ("method", "epiradar s", "EpiEstim s", "EpiEstim / epiradar", "max rel diff (mean)"):
        table.add_column(col, justify="right" if col != "method" else "left")
    for name, (seconds, out) in mine.items():
        ref = ref_times.get(name)
        diff = "-"
        if name in ref_means:
            a, b = out["mean"].to_numpy(), ref_means[name]
            ok = ~np.isnan(b)
            same_na = np.array_equal(np.isnan(a), np.isnan(b))
            diff = f"{np.max(np.abs(a[ok] - b[ok]) / np.abs(b[ok])):.1e}" + (
                "" if same_na else " (NaN!)"
            )
        table.add_row(
            name,
            f"{seconds:.4f}",
            "-" if ref is None else f"{ref:.4f}",
            "-" if ref is None else f"{ref / seconds:.0f}x",
            diff,
        )
    console.print(table)


if __name__ == "__main__":
    main()
