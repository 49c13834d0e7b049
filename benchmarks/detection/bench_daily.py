"""Daily detection speed: epiradar ``ears``, ``cusum`` and ``glr_nb`` vs R surveillance 1.20.3.

    python benchmarks/detection/bench_daily.py [--series 10000] [--days 365] [--glr-subset 500]

Simulates ``--series`` daily count series (seeded; negative binomial, size 10, with a
day-of-week pattern and a series-specific level; an outbreak injected into every tenth series)
of ``--days + 56`` days, judges the last ``--days`` days with each method, times epiradar and
R (``benchmarks/detection/daily_speed.R``) on the same data in the same run, checks that the
alarms agree on the first 500 series, and prints a table. The goal is epiradar >= 10x faster.

Methods and their parameter mapping (R call -> epiradar call):

- EARS C1, C2, C3: ``earsC(sts, control = list(method, baseline = 7, range))`` (R's default
  alpha: 0.001 for C1/C2, 0.025 for C3) -> ``ears(counts, method, baseline=7, monitor)``;
  C3 with ``r_compatible=True`` (R's C3 bound, see ears.py). The "ears" row sums the three.
- CUSUM: ``algo.cusum(list(observed), control = list(range, k = 1.04, h = 2.26, m = NULL,
  trans = "standard"))`` -> ``cusum(counts, k=1.04, h=2.26, m=None, monitor)``.
- GLR NB: ``algo.glrnb(list(observed), control = list(range, mu0, alpha = 0.1, c.ARL = 5,
  M = 28, ret = "value"))`` -> ``glr_nb(counts, mu0, alpha=0.1, c_arl=5, m_window=28,
  monitor)``; ``mu0`` per series is the mean of the 56 days before the judged range.

R runs ``algo.cusum`` and ``algo.glrnb`` one series per call and ``earsC`` over the columns of
one ``sts``, all in time linear in the number of series; to keep the run short R is timed on
the first ``--ears-subset`` (default 2,000), ``--cusum-subset`` (default all) and
``--glr-subset`` (default 500) series and its time scaled linearly to every series (the output
says so). epiradar always runs on every series. The alarms are compared on the first 500
series (or fewer, the smallest subset). Without Rscript the R column is skipped.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from epiradar.detect.temporal import cusum, ears, glr_nb

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "daily_speed.R"
HISTORY = 56  # days before the judged range (EARS C3 needs 11, mu0/m use all of them)
GLR_M = 28
GLR_C_ARL = 5.0
GLR_ALPHA = 0.1
COMPARE = 500  # series whose alarms are compared with R's
GOAL = 10.0


def simulate(n_series: int, n_time: int, seed: int = 20261126) -> np.ndarray:
    """NB(size 10) daily counts with a day-of-week pattern; every tenth series an outbreak."""
    rng = np.random.default_rng(seed)
    level = np.exp(rng.normal(np.log(12.0), 0.8, size=n_series))
    dow = np.array([1.25, 1.15, 1.05, 1.0, 1.0, 0.75, 0.8])
    mu = level[:, None] * dow[np.arange(n_time) % 7][None, :]
    size = 10.0
    counts = rng.negative_binomial(size, size / (size + mu)).astype(float)
    hit = np.arange(0, n_series, 10)
    start = rng.integers(n_time - 300, n_time - 20, size=hit.size)
    shape = np.array([0.5, 1.0, 1.5, 2.0, 1.5, 1.0, 0.5])
    for j, s in zip(hit, start, strict=True):
        counts[j, s : s + 7] += rng.poisson(shape * 0.6 * level[j])
    return counts


def run_python(counts: np.ndarray, mu0: np.ndarray, monitor: np.ndarray) -> dict:
    """Seconds and alarms of each epiradar method (after a warm-up that compiles numba)."""
    small = counts[:2]
    ears(small, method="C1", monitor=monitor)
    cusum(small, monitor=monitor)
    glr_nb(small, mu0=mu0[:2], alpha=GLR_ALPHA, c_arl=GLR_C_ARL, m_window=GLR_M, monitor=monitor)
    calls = {
        "ears_C1": lambda: ears(counts, method="C1", baseline=7, monitor=monitor),
        "ears_C2": lambda: ears(counts, method="C2", baseline=7, monitor=monitor),
        "ears_C3": lambda: ears(
            counts, method="C3", baseline=7, monitor=monitor, r_compatible=True
        ),
        "cusum": lambda: cusum(counts, k=1.04, h=2.26, m=None, monitor=monitor),
        "glr_nb": lambda: glr_nb(
            counts,
            mu0=mu0,
            alpha=GLR_ALPHA,
            c_arl=GLR_C_ARL,
            m_window=GLR_M,
            monitor=monitor,
        ),
    }
    out = {}
    for name, call in calls.items():
        t0 = time.perf_counter()
        res = call()
        out[name] = (time.perf_counter() - t0, res.alarm)
    return out


def run_r(
    counts: np.ndarray,
    mu0: np.ndarray,
    days: int,
    glr_subset: int,
    cusum_subset: int,
    ears_subset: int,
) -> dict | None:
    """Seconds (scaled to every series), series timed and alarms of each R method."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("Rscript not found: skipping the R reference (epiradar times only)")
        return None
    with tempfile.TemporaryDirectory(prefix="epiradar-bench-daily-") as tmp:
        work = Path(tmp)
        np.savetxt(work / "counts.csv", counts, fmt="%d", delimiter=",")
        np.savetxt(work / "mu0.csv", mu0, fmt="%.17g")
        args = [
            rscript,
            str(R_SCRIPT),
            str(work / "counts.csv"),
            str(work / "mu0.csv"),
            str(days),
            str(glr_subset),
            str(cusum_subset),
            str(GLR_M),
            repr(GLR_C_ARL),
            repr(GLR_ALPHA),
            str(work),
            str(ears_subset),
        ]
        proc = subprocess.run(args, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
            raise SystemExit("the R reference failed")
        out = {}
        for line in proc.stdout.splitlines():
            if line.startswith("TIME "):
                _, name, n, secs = line.split()
                alarms = np.loadtxt(work / f"alarms_{name}.csv", delimiter=",", ndmin=2) > 0
                timed = int(n)
                out[name] = (float(secs) * counts.shape[0] / timed, timed, alarms)
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365, help="judged days (the last ones)")
    parser.add_argument(
        "--glr-subset", type=int, default=500, help="series R's algo.glrnb is timed on (0: all)"
    )
    parser.add_argument(
        "--cusum-subset", type=int, default=0, help="series R's algo.cusum is timed on (0: all)"
    )
    parser.add_argument(
        "--ears-subset", type=int, default=2000, help="series R's earsC is timed on (0: all)"
    )
    parser.add_argument("--no-r", action="store_true", help="time epiradar only")
    args = parser.parse_args(argv)
    if args.series < 1 or args.days < 1:
        parser.error("--series and --days must be positive")

    n_time = args.days + HISTORY
    counts = simulate(args.series, n_time)
    monitor = np.arange(HISTORY, n_time)
    mu0 = np.round(counts[:, :HISTORY].mean(axis=1), 3)
    mu0 = np.maximum(mu0, 0.5)  # a positive in-control mean
    print(f"{args.series:,} daily series x {n_time} days; judging the last {args.days} days")

    ours = run_python(counts, mu0, monitor)
    ref = None
    if not args.no_r:
        ref = run_r(counts, mu0, args.days, args.glr_subset, args.cusum_subset, args.ears_subset)

    rows = [
        ("ears", ["ears_C1", "ears_C2", "ears_C3"]),
        ("cusum", ["cusum"]),
        ("glr_nb", ["glr_nb"]),
    ]
    shape = f"{args.series:,} x {args.days}"
    header = f"{'method':<8} {'series x days':>16} {'epiradar s':>11} {'R s':>10} {'ratio':>8} goal"
    print(header)
    print("-" * len(header))
    notes = []
    ok = True
    for label, names in rows:
        py = sum(ours[n][0] for n in names)
        if ref is None:
            print(f"{label:<8} {shape:>16} {py:>11.3f} {'-':>10} {'-':>8} {GOAL:.0f}x")
            continue
        r = sum(ref[n][0] for n in names)
        ratio = r / py
        print(
            f"{label:<8} {shape:>16} {py:>11.3f} {r:>10.2f} {ratio:>7.1f}x {GOAL:.0f}x "
            + ("met" if ratio >= GOAL else "MISSED")
        )
        for n in names:
            _, timed, r_alarm = ref[n]
            if timed < args.series:
                notes.append(
                    f"R {n}: timed on the first {timed:,} series, scaled x{args.series / timed:.1f}"
                )
            k = r_alarm.shape[0]
            same = np.array_equal(ours[n][1][:k], r_alarm)
            ok &= same
            diff = int((ours[n][1][:k] != r_alarm).sum())
            notes.append(
                f"{n}: alarms on the first {k} series {'identical' if same else 'DIFFER'}"
                f" ({int(r_alarm.sum())} R alarms, {diff} differences)"
            )
    for note in notes:
        print("  " + note)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
