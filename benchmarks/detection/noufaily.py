"""Weekly detectors on the Noufaily et al. (2013) simulation design, side by side with R.

    .venv/bin/python benchmarks/detection/noufaily.py [--replicates 100] [--r-replicates N]
        [--scenarios 1-6,13] [--alpha 0.005] [--seed 2013] [--work DIR] [--no-r]

Noufaily A, Enki DG, Farrington P, Garthwaite P, Andrews N, Charlett A (2013). An improved
algorithm for outbreak detection in multiple surveillance systems. Statistics in Medicine
32(7):1206-1222.

Design (each choice and its source; the README has the same table):

- 42 scenarios: 7 parameter sets ``(theta, beta, gamma1, gamma2, phi)`` x trend (``beta`` or
  0) x ``m = 0, 1, 2`` harmonics (``gamma1 = gamma2 = 0`` when ``m = 0``). Numbered as the
  paper: six per set, ``(no trend; m = 0, 1, 2)`` then ``(trend; m = 0, 1, 2)``, so scenario
  14 is ``theta = 1.5, beta = 0, m = 1, gamma = (0.2, -0.4), phi = 1``. The values
  (:data:`PARAMETER_SETS`) are those of Noufaily et al.'s Table 1 as transcribed by the
  replication in github.com/telkamp7/AEDDO (``src/simulation/simulation.R``); set 3 is
  confirmed by the "Scenario 14" default of github.com/tearne/Sampler
  (``GenerationParams(1.5, 0, 1, 0.2, -0.4, 1)``). The paper itself was not at hand; the
  "scenario4" ``c(1.6, 0, 0.4, 0.5, 2)`` of ``surveillance::sts_creation``'s help example
  matches none of these (another numbering?): check against the paper's Table 1.
- Baseline: 624 weeks, ``t = 1..624``, ``mu(t) = exp(theta + beta t + sum_{j=1..m} [gamma1
  cos(2 pi j t / 52) + gamma2 sin(2 pi j t / 52)])``; counts negative binomial with mean
  ``mu`` and variance ``phi mu`` (size ``mu / (phi - 1)``, prob ``1 / phi``; Poisson for
  ``phi = 1``), as the authors' own code does (Noufaily et al.'s R simulation code, e.g. as
  reused in github.com/hannapalya/syndromic_anomaly ``generate_data.r``).
- Outbreak sizes: Poisson with mean ``k sd(t0)``, ``sd(t0) = sqrt(phi mu(t0))`` the baseline
  standard deviation at the start week ``t0``; a draw under 2 is redrawn (the authors' code:
  ``while (soutbk < 2)``), so every outbreak has at least two cases. Cases are spread over
  the weeks ``t0 + floor(X)``, ``X ~ lognormal(meanlog 0, sdlog 0.5)`` (the authors' code:
  ``rlnorm`` binned by week from ``t0``).
- Past outbreaks: 4 per series, start weeks drawn without replacement from weeks 313..575
  (the 5 baseline years that ``b = 5`` reaches), ``k`` drawn from {2, 3, 5, 10} with
  replacement (the AEDDO replication's reading of the paper; Bedubourg and Le Strat 2017,
  reusing the design, fix one past amplitude ``k1`` in {0, 2, 3, 5, 10} per series instead).
- Current outbreak: 1 per series, start week uniform in the scored weeks 576..624, ``k``
  uniform in 1..10 (same source). Cases that fall after week 624 are dropped (not observed).
- Scoring, on the last 49 weeks (576..624) of each series: FPR = alarms / scored weeks that
  hold no outbreak case at all (neither the current outbreak nor the tail of a past one),
  pooled over the series of a scenario (or of all scenarios); POD = share of current
  outbreaks with an alarm in at least one week that holds current-outbreak cases. A
  detector's missing result (NaN) counts as no alarm.
- Detector settings: ``b = 5``, ``w = 3``, ``limit54 = (5, 4)`` (R's default) and one
  ``alpha`` for every method, by default 0.005: the one-sided 99.5% bound, i.e. the two-sided
  ``alpha = 0.01`` of Farrington et al. (1996) (``farringtonFlexible``'s ``alpha`` is
  one-sided, its help page says) and the ``alphaStateOfTheArt = 0.005`` of the AEDDO
  replication. ``FARRINGTON_ORIGINAL`` / ``FARRINGTON_IMPROVED`` are the presets of the
  ``farringtonFlexible`` help page and the monitoringCounts vignette, run on the same series
  by R (benchmarks/detection/noufaily_farrington.R) and by epiradar.
- Other epiradar detectors (:func:`default_methods`), set for weekly data as follows:

  - ``holt_winters``: period 52, ``alpha = 0.1`` (level), no trend (``beta = False``),
    ``gamma = 0.1`` (season), ``alpha_level`` = the common ``alpha``; the filter starts at
    week 1 and its residual SD uses every earlier week (past outbreaks included).
  - ``glr_nb``: the negative binomial GLR chart (Hoehle and Paul 2008) with ``mu0`` an NB
    log-linear GLM (trend + 2 harmonics, period 52) fitted once on weeks 1..575; its
    dispersion ``alpha`` (variance ``mu + alpha mu^2``) the moment estimate of a Poisson fit of
    the same model, per series; ``c_arl = 5`` (R's default), ``M = -1``.
  - ``nb_glm`` (``epiradar.detect.temporal.nb_glm``, the negative binomial GLM), if that
    module exists: with the product registry's weekly entry for it if there is one, else
    :data:`NB_GLM_WEEKLY`: no within-week factor, trend + 2 harmonics of period 52, a
    260-week window (Farrington's ``b = 5`` years) ending 26 weeks before the judged week
    (Noufaily et al.'s ``pastWeeksNotIncluded = 26``), reweighting at 2.58, refitted weekly,
    the common ``alpha``.

  More methods: add a ``name -> callable(counts[n_series, 624]) -> alarm[n_series, 49]``
  entry to the mapping :func:`default_methods` returns (or pass your own to :func:`run`).

Output (in ``--work``, a fresh temporary folder by default): ``series.csv`` (the counts, one
series per line, as R reads them), ``truth.csv`` (per series: scenario, replicate, ``k`` and
start of the current outbreak), ``r_<preset>.csv`` (R's alarms) and its log,
``per_scenario.csv`` (FPR, POD per scenario and method), ``summary.md`` and ``pod_fpr.html``
(POD against FPR, plotly, self-contained). Rscript missing: a message, and epiradar's
detectors only.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import inspect
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from epiradar.detect.temporal import (
    FARRINGTON_IMPROVED,
    FARRINGTON_ORIGINAL,
    farrington_flexible,
    glr_nb,
    holt_winters,
)

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "noufaily_farrington.R"

N_WEEKS = 624
N_SCORED = 49
FIRST_SCORED = N_WEEKS - N_SCORED  # 0-based index of week 576
MONITOR = np.arange(FIRST_SCORED, N_WEEKS)
PAST_WEEKS = (313, 575)  # 1-based, inclusive: the start weeks of past outbreaks
PAST_K = (2, 3, 5, 10)
N_PAST = 4
CURRENT_K = tuple(range(1, 11))
B, W, FREQ = 5, 3, 52
LIMIT54 = (5, 4)
DEFAULT_ALPHA = 0.005

#: ``(theta, beta, gamma1, gamma2, phi)`` of the 7 parameter sets (Noufaily et al. 2013,
#: Table 1, as transcribed by github.com/telkamp7/AEDDO src/simulation/simulation.R).
PARAMETER_SETS: tuple[tuple[float, float, float, float, float], ...] = (
    (0.1, 0.0025, 0.6, 0.6, 1.5),
    (-2.0, 0.005, 0.1, 0.3, 2.0),
    (1.5, 0.003, 0.2, -0.4, 1.0),
    (0.5, 0.002, 0.5, 0.5, 5.0),
    (2.5, 0.001, 1.0, 0.1, 3.0),
    (3.75, 0.001, 0.1, -0.1, 1.1),
    (5.0, 0.0001, 0.05, 0.01, 1.2),
)

R_PRESETS = ("original", "improved")
R_NAMES = {p: f"R farringtonFlexible {p}" for p in R_PRESETS}
OURS_FOR_R = {"original": "farrington original", "improved": "farrington improved"}

console = Console(width=150)

Method = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.bool_]]


@dataclass(frozen=True)
class Scenario:
    id: int
    theta: float
    beta: float
    gamma1: float
    gamma2: float
    m: int
    phi: float

    def mean(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        eta = self.theta + self.beta * t
        for j in range(1, self.m + 1):
            arg = 2 * np.pi * j * t / 52
            eta = eta + self.gamma1 * np.cos(arg) + self.gamma2 * np.sin(arg)
        return np.exp(eta)


def scenarios() -> list[Scenario]:
    """The 42 scenarios, numbered 1..42 (six per parameter set: no trend m = 0, 1, 2, then
    trend m = 0, 1, 2)."""
    out = []
    for theta, beta, g1, g2, phi in PARAMETER_SETS:
        for b in (0.0, beta):
            for m in (0, 1, 2):
                out.append(
                    Scenario(len(out) + 1, theta, b, g1 if m else 0.0, g2 if m else 0.0, m, phi)
                )
    return out


@dataclass
class Simulation:
    counts: npt.NDArray[np.float64]  # [n, 624]
    scenario: npt.NDArray[np.intp]  # [n], 1-based scenario id
    replicate: npt.NDArray[np.intp]  # [n], 0-based
    current: npt.NDArray[np.int64]  # [n, 49] current-outbreak cases in the scored weeks
    past: npt.NDArray[np.int64]  # [n, 49] past-outbreak cases in the scored weeks
    k: npt.NDArray[np.intp]  # [n] the current outbreak's k
    start: npt.NDArray[np.intp]  # [n] its 1-based start week


def _outbreak(
    into: npt.NDArray[np.int64], start: int, mean_size: float, rng: np.random.Generator
) -> None:
    """Add an outbreak starting at 1-based week ``start`` to ``into`` (in place)."""
    size = 0
    while size < 2:
        size = int(rng.poisson(mean_size))
    weeks = start - 1 + np.floor(rng.lognormal(0.0, 0.5, size)).astype(np.intp)
    np.add.at(into, weeks[weeks < into.size], 1)


def simulate_series(
    sc: Scenario, rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], int, int]:
    """One series: ``(baseline, past-outbreak cases, current-outbreak cases, k, start)``."""
    t = np.arange(1, N_WEEKS + 1, dtype=float)
    mu = sc.mean(t)
    # variance phi mu: NB size mu / (phi - 1), prob 1 / phi; Poisson when phi = 1
    nb = sc.phi != 1
    base = rng.negative_binomial(mu / (sc.phi - 1), 1 / sc.phi) if nb else rng.poisson(mu)
    sd = np.sqrt(sc.phi * mu)
    past = np.zeros(N_WEEKS, dtype=np.int64)
    starts = rng.choice(np.arange(PAST_WEEKS[0], PAST_WEEKS[1] + 1), N_PAST, replace=False)
    for s, k in zip(starts, rng.choice(PAST_K, N_PAST), strict=True):
        _outbreak(past, int(s), k * sd[s - 1], rng)
    current = np.zeros(N_WEEKS, dtype=np.int64)
    k = int(rng.choice(CURRENT_K))
    start = int(rng.integers(FIRST_SCORED + 1, N_WEEKS + 1))
    _outbreak(current, start, k * sd[start - 1], rng)
    return base.astype(np.int64), past, current, k, start


def simulate(chosen: Sequence[Scenario], replicates: int, seed: int) -> Simulation:
    """Every chosen scenario x ``replicates``; series ``(scenario, r)`` has its own stream
    ``default_rng([seed, scenario, r])``, so a subset run reproduces the same series."""
    rows = [(sc, r) for sc in chosen for r in range(replicates)]
    n = len(rows)
    counts = np.empty((n, N_WEEKS))
    current = np.empty((n, N_SCORED), dtype=np.int64)
    past = np.empty((n, N_SCORED), dtype=np.int64)
    k = np.empty(n, dtype=np.intp)
    start = np.empty(n, dtype=np.intp)
    for i, (sc, r) in enumerate(rows):
        base, p, c, k[i], start[i] = simulate_series(sc, np.random.default_rng([seed, sc.id, r]))
        counts[i] = base + p + c
        current[i] = c[FIRST_SCORED:]
        past[i] = p[FIRST_SCORED:]
    return Simulation(
        counts,
        np.array([sc.id for sc, _ in rows], dtype=np.intp),
        np.array([r for _, r in rows], dtype=np.intp),
        current,
        past,
        k,
        start,
    )


# --- detectors ---------------------------------------------------------------------------


def _farrington(preset: Mapping[str, object], alpha: float) -> Method:
    def run(counts):
        res = farrington_flexible(
            counts, freq=FREQ, b=B, w=W, alpha=alpha, limit54=LIMIT54, monitor=MONITOR, **preset
        )
        return res.alarm

    return run


def _holt_winters(alpha: float) -> Method:
    def run(counts):
        res = holt_winters(
            counts,
            alpha=0.1,
            beta=False,
            gamma=0.1,
            period=FREQ,
            alpha_level=alpha,
            monitor=MONITOR,
        )
        return res.alarm

    return run


def _design(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    cols = [np.ones_like(t), t]
    for j in (1, 2):
        cols += [np.cos(2 * np.pi * j * t / FREQ), np.sin(2 * np.pi * j * t / FREQ)]
    return np.column_stack(cols)


def _nb_dispersion(y: npt.NDArray[np.float64]) -> float:
    """Moment estimate of ``alpha`` (variance ``mu + alpha mu^2``) around a Poisson log-linear
    fit (trend + 2 harmonics) of one series' weeks 1..575; at least 0.01."""
    x = _design(np.arange(1, y.size + 1, dtype=float))
    x[:, 1] /= y.size  # scale the trend column for the IRLS
    mu = np.full(y.size, max(y.mean(), 0.1))
    eta = np.log(mu)
    for _ in range(30):
        z = eta + (y - mu) / mu
        beta, *_ = np.linalg.lstsq(x * np.sqrt(mu)[:, None], z * np.sqrt(mu), rcond=None)
        eta = np.clip(x @ beta, -30, 30)
        mu_new = np.exp(eta)
        if np.max(np.abs(mu_new - mu) / (mu + 0.1)) < 1e-8:
            mu = mu_new
            break
        mu = mu_new
    alpha = float(np.sum((y - mu) ** 2 - y) / np.sum(mu**2))
    return max(alpha, 0.01)


def _glr_nb(counts):
    alarm = np.zeros((counts.shape[0], N_SCORED), dtype=bool)
    for i, y in enumerate(counts):
        disp = _nb_dispersion(y[:FIRST_SCORED])
        try:
            res = glr_nb(
                y,
                mu0=None,
                alpha=disp,
                c_arl=5.0,
                m_window=-1,
                monitor=MONITOR,
                freq=FREQ,
                mu0_trend=True,
                mu0_harmonics=2,
            )
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            continue  # no model: no alarm
        alarm[i] = res.alarm[0]
    return alarm


#: ``nb_glm`` on weekly counts when the product registry has no weekly entry for it: no
#: within-week factor, 2 harmonics of period 52 and a trend (the simulated model), a 260-week
#: (5-year, Farrington's ``b = 5``) window ending 26 weeks before the judged week (Noufaily et
#: al.'s ``pastWeeksNotIncluded = 26``), Farrington reweighting at 2.58, refitted every week.
NB_GLM_WEEKLY: dict[str, object] = {
    "freq": None,
    "period": 52.0,
    "harmonics": 2,
    "trend": True,
    "baseline": 260,
    "guard": 26,
    "reweight": True,
    "weights_threshold": 2.58,
    "refit_every": 1,
}


def _nb_glm(alpha: float) -> tuple[str, Method] | None:
    """``epiradar.detect.temporal.nb_glm`` if it exists: the product's weekly registry entry
    for it if there is one (its defaults, the common ``alpha``), else :data:`NB_GLM_WEEKLY`."""
    try:
        module = importlib.import_module("epiradar.detect.temporal.nb_glm")
    except ImportError:
        return None
    fn = getattr(module, "nb_glm", None)
    if fn is None:
        return None
    from epiradar.detect.temporal import registry

    entries = [
        d
        for d in getattr(registry, "DETECTORS", {}).values()
        if getattr(d, "function", None) is fn and getattr(d, "frequency", None) == "weekly"
    ]
    if entries:
        name, kw = f"nb_glm ({entries[0].name} registry defaults)", entries[0].arguments(alpha)
    else:
        name, kw = "nb_glm (weekly, NB_GLM_WEEKLY)", {**NB_GLM_WEEKLY, "alpha": alpha}
    params = inspect.signature(fn).parameters
    kw = {k: v for k, v in {**kw, "monitor": MONITOR}.items() if k in params}

    def run(counts):
        return np.asarray(fn(counts, **kw).alarm, dtype=bool)

    return name, run


def default_methods(alpha: float = DEFAULT_ALPHA) -> dict[str, Method]:
    """epiradar's weekly detectors for this benchmark, by name (see the module docstring)."""
    methods: dict[str, Method] = {
        OURS_FOR_R["original"]: _farrington(FARRINGTON_ORIGINAL, alpha),
        OURS_FOR_R["improved"]: _farrington(FARRINGTON_IMPROVED, alpha),
        "holt_winters (52, 0.1, -, 0.1)": _holt_winters(alpha),
        "glr_nb (c_arl 5)": _glr_nb,
    }
    nb = _nb_glm(alpha)
    if nb is not None:
        methods[nb[0]] = nb[1]
    return methods


# --- R ------------------------------------------------------------------------------------


def run_r(
    counts: npt.NDArray[np.float64], work: Path, alpha: float, path: Path | None = None
) -> dict[str, tuple[npt.NDArray[np.bool_], float]]:
    """R's two presets, as two Rscript processes side by side: ``preset -> (alarm, seconds)``
    (``seconds``: R's own time in ``farringtonFlexible``). ``path``: a CSV already holding
    ``counts`` (else ``series_r.csv`` is written)."""
    if path is None:
        path = work / "series_r.csv"
        np.savetxt(path, counts, fmt="%d", delimiter=",")
    procs = {}
    for preset in R_PRESETS:
        log = (work / f"r_{preset}.log").open("w")
        cmd = [
            "Rscript",
            str(R_SCRIPT),
            str(path),
            str(N_WEEKS),
            preset,
            repr(alpha),
            str(B),
            str(W),
            str(FIRST_SCORED + 1),
            str(N_WEEKS),
            str(work / f"r_{preset}.csv"),
        ]
        procs[preset] = (subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True), log)
    out = {}
    for preset, (proc, log) in procs.items():
        stdout, _ = proc.communicate()
        log.close()
        if proc.returncode != 0:
            tail = (work / f"r_{preset}.log").read_text()[-2000:]
            raise RuntimeError(f"Rscript ({preset}) failed:\n{tail}")
        seconds = float(stdout.strip().splitlines()[-1].split()[1])
        raw = np.genfromtxt(work / f"r_{preset}.csv", delimiter=",", ndmin=2)
        out[preset] = (np.nan_to_num(raw, nan=0.0) > 0, seconds)
    return out


# --- scoring ------------------------------------------------------------------------------


@dataclass
class Score:
    false_alarms: int
    clean_weeks: int
    detected: int
    outbreaks: int

    @property
    def fpr(self) -> float:
        return self.false_alarms / self.clean_weeks if self.clean_weeks else float("nan")

    @property
    def pod(self) -> float:
        return self.detected / self.outbreaks if self.outbreaks else float("nan")


def score(
    alarm: npt.NDArray[np.bool_], current: npt.NDArray[np.int64], past: npt.NDArray[np.int64]
) -> Score:
    """FPR and POD of ``alarm[n, 49]`` against the outbreak cases of the same series."""
    clean = (current == 0) & (past == 0)
    in_outbreak = current > 0
    has = in_outbreak.any(axis=1)
    return Score(
        int((alarm & clean).sum()),
        int(clean.sum()),
        int((alarm & in_outbreak).any(axis=1)[has].sum()),
        int(has.sum()),
    )


# --- the run -----------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    alarm: npt.NDArray[np.bool_]  # [n_rows, 49]
    rows: npt.NDArray[np.intp]  # which simulated series these are
    seconds: float


def _parse_scenarios(text: str | None) -> list[Scenario]:
    every = scenarios()
    if not text:
        return every
    ids: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        ids.update(range(int(lo), int(hi or lo) + 1))
    if not ids <= {sc.id for sc in every}:
        raise SystemExit(f"scenarios must lie in 1..{len(every)}")
    return [sc for sc in every if sc.id in ids]


def run(
    chosen: Sequence[Scenario],
    replicates: int,
    r_replicates: int | None,
    alpha: float,
    seed: int,
    work: Path,
    methods: Mapping[str, Method] | None = None,
    use_r: bool = True,
) -> tuple[Simulation, list[Result]]:
    methods = default_methods(alpha) if methods is None else methods
    t0 = time.perf_counter()
    sim = simulate(chosen, replicates, seed)
    console.print(
        f"simulated {len(sim.counts):,} series ({len(chosen)} scenarios x {replicates}) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    np.savetxt(work / "series.csv", sim.counts, fmt="%d", delimiter=",")
    with (work / "truth.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["row", "scenario", "replicate", "k", "start_week", "current_cases"])
        for i in range(len(sim.counts)):
            out.writerow(
                [
                    i,
                    sim.scenario[i],
                    sim.replicate[i],
                    sim.k[i],
                    sim.start[i],
                    int(sim.current[i].sum()),
                ]
            )

    every = np.arange(len(sim.counts))
    results = []
    for name, method in methods.items():
        with np.errstate(all="ignore"):
            method(sim.counts[:1])  # warm-up: JIT compilation and caches out of the timing
            t0 = time.perf_counter()
            alarm = np.asarray(method(sim.counts), dtype=bool)
        seconds = time.perf_counter() - t0
        results.append(Result(name, alarm, every, seconds))
        console.print(f"  {name}: {seconds:.1f} s")

    n_r = replicates if r_replicates is None else min(r_replicates, replicates)
    if use_r and n_r > 0:
        if shutil.which("Rscript") is None:
            console.print(
                "[yellow]Rscript not found: R's farringtonFlexible is skipped, "
                "epiradar's detectors only[/yellow]"
            )
        else:
            rows = every[sim.replicate < n_r]
            console.print(
                f"R farringtonFlexible on {rows.size:,} series, two Rscript processes "
                f"(log: {work}/r_*.log) ..."
            )
            same = work / "series.csv" if rows.size == len(sim.counts) else None
            for preset, (alarm, seconds) in run_r(sim.counts[rows], work, alpha, same).items():
                results.append(Result(R_NAMES[preset], alarm, rows, seconds))
                console.print(f"  {R_NAMES[preset]}: {seconds:.1f} s (R's own time)")
    return sim, results


def disagreements(results: Sequence[Result]) -> dict[str, int]:
    """R vs epiradar Farrington: alarm weeks that differ, on the series R ran."""
    by = {r.name: r for r in results}
    out = {}
    for preset in R_PRESETS:
        r, ours = by.get(R_NAMES[preset]), by.get(OURS_FOR_R[preset])
        if r is not None and ours is not None:
            pos = np.searchsorted(ours.rows, r.rows)
            out[preset] = int((ours.alarm[pos] != r.alarm).sum())
    return out


def report(sim: Simulation, results: Sequence[Result], work: Path, alpha: float) -> str:
    ids = sorted(set(sim.scenario.tolist()))
    per: dict[tuple[str, int], Score] = {}
    overall: dict[str, Score] = {}
    for res in results:
        cur, past, scen = sim.current[res.rows], sim.past[res.rows], sim.scenario[res.rows]
        overall[res.name] = score(res.alarm, cur, past)
        for s in ids:
            sel = scen == s
            if sel.any():
                per[(res.name, s)] = score(res.alarm[sel], cur[sel], past[sel])
    diff = disagreements(results)

    with (work / "per_scenario.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(
            [
                "scenario",
                "theta",
                "beta",
                "gamma1",
                "gamma2",
                "m",
                "phi",
                "method",
                "series",
                "fpr",
                "pod",
                "false_alarms",
                "clean_weeks",
                "detected",
                "outbreaks",
            ]
        )
        by_id = {sc.id: sc for sc in scenarios()}
        for (name, s), sc_score in per.items():
            sc = by_id[s]
            n = int((sim.scenario[next(r.rows for r in results if r.name == name)] == s).sum())
            out.writerow(
                [
                    s,
                    sc.theta,
                    sc.beta,
                    sc.gamma1,
                    sc.gamma2,
                    sc.m,
                    sc.phi,
                    name,
                    n,
                    f"{sc_score.fpr:.5f}",
                    f"{sc_score.pod:.4f}",
                    sc_score.false_alarms,
                    sc_score.clean_weeks,
                    sc_score.detected,
                    sc_score.outbreaks,
                ]
            )

    table = Table(title=f"Noufaily et al. (2013) design, alpha = {alpha}, scored weeks 576-624")
    for col in ("method", "series", "FPR", "POD", "seconds", "alarm diffs vs R"):
        table.add_column(col, justify="left" if col == "method" else "right")
    lines = [
        "| method | series | FPR | POD | seconds | alarm diffs vs R |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        sc_ = overall[res.name]
        d = ""
        for preset in R_PRESETS:
            if preset in diff and res.name in (R_NAMES[preset], OURS_FOR_R[preset]):
                d = str(diff[preset])
        row = [
            res.name,
            f"{res.rows.size:,}",
            f"{sc_.fpr:.4f}",
            f"{sc_.pod:.3f}",
            f"{res.seconds:.1f}",
            d,
        ]
        table.add_row(*row)
        lines.append("| " + " | ".join(row) + " |")
    console.print(table)

    names = [r.name for r in results]
    md = [
        "# Noufaily et al. (2013) simulation design",
        "",
        f"{len(ids)} scenarios, {int(sim.replicate.max()) + 1} replicates, 624 weeks, the last 49 "
        f"scored; alpha = {alpha}, b = {B}, w = {W}, limit54 = {LIMIT54}. FPR: alarms / scored "
        "weeks without outbreak cases; POD: current outbreaks with an alarm in a week of their "
        "cases. Seconds: epiradar in-process wall time; R: its own time in farringtonFlexible "
        "(two Rscript processes side by side). Alarm diffs: alarm weeks where R and epiradar "
        "differ, on the series R ran.",
        "",
        *lines,
        "",
        "## Per scenario (FPR / POD)",
        "",
        "| scenario | theta | beta | m | phi | " + " | ".join(names) + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(names),
    ]
    by_id = {sc.id: sc for sc in scenarios()}
    for s in ids:
        sc = by_id[s]
        cells = []
        for name in names:
            v = per.get((name, s))
            cells.append("" if v is None else f"{v.fpr:.4f} / {v.pod:.2f}")
        md.append(
            f"| {s} | {sc.theta} | {sc.beta} | {sc.m} | {sc.phi} | " + " | ".join(cells) + " |"
        )
    md += [
        "",
        "## POD by the current outbreak's k (outbreak cases ~ Poisson(k sd))",
        "",
        "| method | " + " | ".join(f"k={k}" for k in CURRENT_K) + " |",
        "|---|" + "---:|" * len(CURRENT_K),
    ]
    for res in results:
        kk = sim.k[res.rows]
        cells = []
        for k in CURRENT_K:
            sel = kk == k
            v = score(res.alarm[sel], sim.current[res.rows][sel], sim.past[res.rows][sel])
            cells.append(f"{v.pod:.2f}" if v.outbreaks else "")
        md.append(f"| {res.name} | " + " | ".join(cells) + " |")
    text = "\n".join(md) + "\n"
    (work / "summary.md").write_text(text)
    _plot(per, overall, names, work)
    return "\n".join(lines)


def _plot(per, overall, names, work: Path) -> None:
    import plotly.graph_objects as go

    fig = go.Figure()
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]
    for i, name in enumerate(names):
        color = palette[i % len(palette)]
        pts = [(s, v) for (n, s), v in per.items() if n == name]
        fig.add_trace(
            go.Scatter(
                x=[v.fpr for _, v in pts],
                y=[v.pod for _, v in pts],
                mode="markers",
                marker={"size": 6, "color": color, "opacity": 0.35},
                legendgroup=name,
                name=f"{name} (per scenario)",
                text=[f"scenario {s}" for s, _ in pts],
                hovertemplate="%{text}<br>FPR %{x:.4f}<br>POD %{y:.3f}",
            )
        )
        o = overall[name]
        fig.add_trace(
            go.Scatter(
                x=[o.fpr],
                y=[o.pod],
                mode="markers+text",
                text=[name],
                textposition="top center",
                legendgroup=name,
                name=f"{name} (overall)",
                marker={
                    "size": 14,
                    "color": color,
                    "symbol": "diamond",
                    "line": {"width": 1, "color": "black"},
                },
            )
        )
    fig.update_layout(
        title="POD against FPR, Noufaily et al. (2013) design",
        xaxis_title="false positive rate (scored weeks without outbreak cases)",
        yaxis_title="probability of detection (current outbreak)",
        template="plotly_white",
        width=1100,
        height=700,
    )
    fig.write_html(work / "pod_fpr.html", include_plotlyjs=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicates", type=int, default=100)
    ap.add_argument(
        "--r-replicates",
        type=int,
        default=None,
        help="how many of the replicates of each scenario R also runs (default: all)",
    )
    ap.add_argument("--scenarios", default=None, help="e.g. 1-6,13 (default: all 42)")
    ap.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    ap.add_argument("--seed", type=int, default=2013)
    ap.add_argument("--work", type=Path, default=None, help="output folder (default: a temp dir)")
    ap.add_argument("--no-r", action="store_true", help="skip R")
    args = ap.parse_args(argv)
    if args.replicates < 1:
        raise SystemExit("--replicates must be >= 1")
    work = args.work or Path(tempfile.mkdtemp(prefix="noufaily-"))
    work.mkdir(parents=True, exist_ok=True)
    console.print(f"work dir: {work}")
    chosen = _parse_scenarios(args.scenarios)
    sim, results = run(
        chosen,
        args.replicates,
        args.r_replicates,
        args.alpha,
        args.seed,
        work,
        use_r=not args.no_r,
    )
    report(sim, results, work, args.alpha)
    console.print(f"wrote {work}/per_scenario.csv, summary.md, pod_fpr.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
