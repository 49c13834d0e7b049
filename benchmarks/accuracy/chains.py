"""Who infected whom: infectors recovered by ``reconstruct_chains`` vs the serial interval alone.

    python benchmarks/accuracy/chains.py            # 1,000 outbreaks per design (~1 min, 2 cores)
    python benchmarks/accuracy/chains.py --quick    # 200 outbreaks per design (~10 s)

Design "simulator": outbreaks from the product's simulator,
``epiradar.sim.outbreaks.person_to_person`` on a ``--regions``-sub-district city from
``generate_city`` (the branching process of the "person-to-person" scenario, whose truth.json
``transmission`` pairs are its ``infector`` array): one index case; offspring ~ NegBin(mean
R = 2, k = 2) damped as the outbreak nears its cap; generation interval Gamma(mean 3, sd 1.5)
days, at least 1 day, onsets floored to days; an infectee lives in the infector's household
(35%), within a Gamma(2, 0.75 km) distance (35%) or anywhere in a sub-district reached along
the mobility flows (30%). Cap: log-uniform in ``--sizes`` (10-200); outbreaks that stay under
10 cases are redrawn. Cases whose clinic visit falls after ``--days`` are unseen, with their
descendants. The simulator has no groups (schools, workplaces).

Design "groups": a branching process written here with the same offspring, generation
interval and caps, where cases also belong to groups: ``--sizes``-capped, a city of 20 x 20
km, cap // 6 groups (at least 3), a case in a group with probability 0.8. An infectee is in
the infector's household and home (30%; its group drawn afresh), in the infector's group (35%,
when it has one; new household, home anywhere) or in the community (the rest: new household,
home at a Gamma(2, 0.75 km) distance, group drawn afresh). All cases are observed.

Recorded contacts, at a recall drawn uniformly in ``--recall`` (0.3-0.9) per outbreak, as the
simulator's scenario records them (there with fixed 0.85 / 0.8): each case names its infector
with probability = recall and each other case of its household with probability = recall (so
co-cases that did not infect each other are named too); in the groups design each other
member of its group too, with probability 0.2 x recall.

Every outbreak is reconstructed with the documented defaults of ``reconstruct_chains`` and the
serial interval (3, 1.5) given as ``(mean, sd)`` (EpiEstim's discretised gamma; the
simulated onset interval is close to it, not equal): with all the evidence, with parts of it,
and the baseline, onsets only (the serial interval alone, Wallinga & Teunis 2004). A case's
infector is recovered when the most likely tree (``most_likely_tree``) names its true
infector; the share is over all cases with an infector in the data, pooled over outbreaks (95%
CI: bootstrap over outbreaks). "p(true)": the mean probability given to the true infector;
"p(chosen)": the mean probability of the chosen one (calibration: it should match the share
recovered).
"""

from __future__ import annotations

import argparse
import heapq
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from epiradar.sim import clinical as cl
from epiradar.sim import outbreaks as ob
from epiradar.sim.city import generate_city
from epiradar.sim.layout import CityLayout
from epiradar.trace.chains import most_likely_tree, reconstruct_chains

SI = (3.0, 1.5)
BASELINE = "baseline: onsets only (serial interval)"
FULL = "all evidence"
DESIGNS = {
    "simulator": {
        FULL + " (onsets, contacts, households, homes)": ("contacts", "household", "xy"),
        "onsets + contacts": ("contacts",),
        "onsets + households + homes": ("household", "xy"),
        BASELINE: (),
    },
    "groups": {
        FULL + " (onsets, contacts, households, groups, homes)": (
            "contacts",
            "household",
            "group",
            "xy",
        ),
        "all but groups": ("contacts", "household", "xy"),
        "onsets + groups": ("group",),
        BASELINE: (),
    },
}
RECALL_BANDS = [(0.3, 0.5), (0.5, 0.7), (0.7, 0.9)]
SIZE_BANDS = [(10, 29), (30, 79), (80, 200)]
GROUP_ROUTES = (0.30, 0.35, 0.35)  # household, group, community
P_IN_GROUP = 0.8
P_NAME_GROUP_MATE = 0.2  # x recall: a classmate / colleague named who is not the infector


def simulator_outbreaks(args) -> tuple[list[dict], int]:
    layout = CityLayout(generate_city(args.seed, n_regions=args.regions))
    rng = np.random.default_rng([args.seed, 1])
    lo, hi = args.sizes
    out, redrawn = [], 0
    while len(out) < args.outbreaks:
        cap = int(round(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
        o = ob.person_to_person(
            layout, rng, start_day=0, last_day=args.days, size=cap, syndrome=cl.KEYS.index("ili")
        )
        if len(o) < lo:
            redrawn += 1
            continue
        recall = float(rng.uniform(*args.recall))
        n = len(o)
        rows = [(i, int(o.infector[i])) for i in range(n) if o.infector[i] >= 0]
        named = [(a, b) for a, b in rows if rng.uniform() < recall]
        hh = o.household
        for i in range(n):
            for j in np.flatnonzero(hh == hh[i]).tolist():
                if j != i and j != o.infector[i] and rng.uniform() < recall:
                    named.append((i, j))
        cases = pd.DataFrame(
            {
                "case_id": np.arange(n),
                "onset": o.onset,
                "household": o.household,
                "x": o.home[:, 0],
                "y": o.home[:, 1],
            }
        )
        contacts = pd.DataFrame(named, columns=["case_a", "case_b"], dtype=np.int64)
        out.append({"cases": cases, "contacts": contacts, "infector": o.infector, "recall": recall})
    return out, redrawn


def grouped_outbreaks(args) -> tuple[list[dict], int]:
    """The documented branching process with households, groups and homes (see the top)."""
    rng = np.random.default_rng([args.seed, 3])
    lo, hi = args.sizes
    shape, scale = (SI[0] / SI[1]) ** 2, SI[1] ** 2 / SI[0]
    out, redrawn = [], 0
    while len(out) < args.outbreaks:
        cap = int(round(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
        n_groups = max(3, cap // 6)

        def new_group(n_groups=n_groups):
            return int(rng.integers(0, n_groups)) if rng.uniform() < P_IN_GROUP else -1

        onset_t, parent, hh, grp = [0.5], [-1], [0], [new_group()]
        home = [rng.uniform(0, 20, 2)]
        heap = [(0.5, 0)]
        while heap and len(onset_t) < cap:
            t, j = heapq.heappop(heap)
            r_eff = 2.0 * (1.0 - 0.5 * len(onset_t) / cap)
            for _ in range(int(rng.poisson(rng.gamma(2.0, r_eff / 2.0)))):
                if len(onset_t) >= cap:
                    break
                u = rng.uniform()
                if u < GROUP_ROUTES[0]:
                    h, g, xy = hh[j], new_group(), home[j]
                elif u < GROUP_ROUTES[0] + GROUP_ROUTES[1] and grp[j] >= 0:
                    h, g, xy = len(onset_t), grp[j], rng.uniform(0, 20, 2)
                else:
                    r, a = rng.gamma(2.0, 0.75), rng.uniform(0, 2 * np.pi)
                    xy = home[j] + r * np.array([np.cos(a), np.sin(a)])
                    h, g = len(onset_t), new_group()
                child_t = t + max(1.0, float(rng.gamma(shape, scale)))
                heapq.heappush(heap, (child_t, len(onset_t)))
                onset_t.append(child_t)
                parent.append(j)
                hh.append(h)
                grp.append(g)
                home.append(xy)
        n = len(onset_t)
        if n < lo:
            redrawn += 1
            continue
        recall = float(rng.uniform(*args.recall))
        infector = np.array(parent, dtype=np.int64)
        hh_a, grp_a = np.array(hh), np.array(grp)
        named = [(i, int(infector[i])) for i in range(n) if infector[i] >= 0]
        named = [pair for pair in named if rng.uniform() < recall]
        for i in range(n):
            mates = np.flatnonzero(hh_a == hh_a[i])
            p_mate = np.full(len(mates), recall)
            if grp_a[i] >= 0:
                group_mates = np.setdiff1d(np.flatnonzero(grp_a == grp_a[i]), mates)
                mates = np.concatenate([mates, group_mates])
                p_mate = np.concatenate(
                    [p_mate, np.full(len(group_mates), recall * P_NAME_GROUP_MATE)]
                )
            for j, p in zip(mates.tolist(), p_mate.tolist(), strict=True):
                if j != i and j != infector[i] and rng.uniform() < p:
                    named.append((i, j))
        xy = np.array(home)
        cases = pd.DataFrame(
            {
                "case_id": np.arange(n),
                "onset": np.floor(onset_t).astype(np.int64),
                "household": hh_a,
                "group": pd.Series(grp_a).where(grp_a >= 0),
                "x": xy[:, 0],
                "y": xy[:, 1],
            }
        )
        contacts = pd.DataFrame(named, columns=["case_a", "case_b"], dtype=np.int64)
        out.append({"cases": cases, "contacts": contacts, "infector": infector, "recall": recall})
    return out, redrawn


def evaluate(o: dict, uses: tuple[str, ...]) -> tuple[int, int, float, float]:
    """(hits, cases with an infector in the data, sum p(true), sum p(chosen))."""
    cases = o["cases"][["case_id", "onset"]].copy()
    if "household" in uses:
        cases["household"] = o["cases"]["household"]
    if "group" in uses:
        cases["group"] = o["cases"]["group"]
    if "xy" in uses:
        cases[["x", "y"]] = o["cases"][["x", "y"]]
    contacts = o["contacts"] if "contacts" in uses else None
    pairs = reconstruct_chains(cases, SI, contacts)
    tree = most_likely_tree(pairs).set_index("case_id").reindex(cases["case_id"])
    true = o["infector"]
    has = true >= 0
    pred = tree["infector_id"].fillna(-1).to_numpy(dtype=np.int64)
    key = pairs["case_id"].to_numpy() * len(true) + pairs["infector_id"].fillna(-1).to_numpy(
        dtype=np.int64
    )
    p_of = dict(zip(key.tolist(), pairs["probability"].tolist(), strict=True))
    idx = np.flatnonzero(has)
    p_true = sum(p_of.get(int(i * len(true) + true[i]), 0.0) for i in idx)
    p_chosen = float(tree["probability"].to_numpy()[idx].sum())
    return int((pred[has] == true[has]).sum()), int(has.sum()), p_true, p_chosen


def share_ci(hits: np.ndarray, n: np.ndarray, rng, reps: int = 2000) -> tuple[float, float, float]:
    if n.sum() == 0:
        return float("nan"), float("nan"), float("nan")
    pick = rng.integers(0, len(n), (reps, len(n)))
    boot = hits[pick].sum(1) / np.maximum(n[pick].sum(1), 1)
    return float(hits.sum() / n.sum()), *np.quantile(boot, [0.025, 0.975]).tolist()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outbreaks", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs=2, default=(10, 200), metavar=("MIN", "MAX"))
    parser.add_argument("--recall", type=float, nargs=2, default=(0.3, 0.9), metavar=("LO", "HI"))
    parser.add_argument("--regions", type=int, default=120)
    parser.add_argument("--days", type=int, default=60, help="last simulated day")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--designs", nargs="+", choices=list(DESIGNS), default=list(DESIGNS), help="which designs"
    )
    parser.add_argument("--quick", action="store_true", help="200 outbreaks per design")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.outbreaks = 200
    console = Console(width=190)
    t0 = time.perf_counter()
    summary = {}
    for design in args.designs:
        make = simulator_outbreaks if design == "simulator" else grouped_outbreaks
        t = time.perf_counter()
        outbreaks, redrawn = make(args)
        sizes = np.array([len(o["infector"]) for o in outbreaks])
        what = "simulator (epiradar.sim)" if design == "simulator" else "households + groups"
        console.print(
            f"[bold]{what}[/]: {len(outbreaks)} outbreaks of {sizes.min()}-{sizes.max()} cases "
            f"(median {int(np.median(sizes))}; {redrawn} redrawn under {args.sizes[0]}), "
            f"recall {args.recall[0]:g}-{args.recall[1]:g}; "
            f"{time.perf_counter() - t:.1f} s to simulate"
        )
        summary[design] = run_design(design, outbreaks, args, console)
    console.print(f"{time.perf_counter() - t0:.1f} s in all")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return summary


def run_design(design: str, outbreaks: list[dict], args, console: Console) -> dict:
    sizes = np.array([len(o["infector"]) for o in outbreaks])
    recalls = np.array([o["recall"] for o in outbreaks])
    rng = np.random.default_rng([args.seed, 2])
    results = {}
    for name, uses in DESIGNS[design].items():
        t = time.perf_counter()
        got = np.array([evaluate(o, uses) for o in outbreaks])
        seconds = time.perf_counter() - t
        hits, n = got[:, 0], got[:, 1]

        def band(mask, hits=hits, n=n):
            return float(hits[mask].sum() / max(n[mask].sum(), 1))

        results[name] = {
            "recovered": share_ci(hits, n, rng),
            "p_true": float(got[:, 2].sum() / n.sum()),
            "p_chosen": float(got[:, 3].sum() / n.sum()),
            "by_recall": [band((recalls >= a) & (recalls < b + 1e-9)) for a, b in RECALL_BANDS],
            "by_size": [band((sizes >= a) & (sizes <= b)) for a, b in SIZE_BANDS],
            "cases": int(n.sum()),
            "seconds": seconds,
        }

    table = Table(title=f"Infectors recovered, {design} design (most likely = true infector)")
    table.add_column("method", min_width=34)
    table.add_column("recovered % (95% CI)", justify="right")
    table.add_column("p(true)", justify="right")
    table.add_column("p(chosen)", justify="right")
    for a, b in RECALL_BANDS:
        table.add_column(f"recall {a:g}-{b:g}", justify="right")
    for a, b in SIZE_BANDS:
        table.add_column(f"{a}-{b} cases", justify="right")
    table.add_column("s", justify="right")
    for name, r in results.items():
        share, lo, hi = r["recovered"]
        table.add_row(
            name,
            f"{100 * share:.1f} ({100 * lo:.1f}-{100 * hi:.1f})",
            f"{r['p_true']:.3f}",
            f"{r['p_chosen']:.3f}",
            *[f"{100 * v:.1f}" for v in r["by_recall"]],
            *[f"{100 * v:.1f}" for v in r["by_size"]],
            f"{r['seconds']:.1f}",
        )
    console.print(table)
    full = next(k for k in results if k.startswith(FULL))
    gain = 100 * (results[full]["recovered"][0] - results[BASELINE]["recovered"][0])
    met = "met" if gain >= 30 else "NOT met"
    console.print(
        f"{results[full]['cases']} cases with an infector in the data; all evidence vs onsets "
        f"only: {gain:+.1f} points (goal >= +30: {met})"
    )
    return {
        "outbreaks": len(outbreaks),
        "sizes": [int(sizes.min()), int(np.median(sizes)), int(sizes.max())],
        "gain_points": gain,
        "goal_met": gain >= 30,
        "methods": results,
    }


if __name__ == "__main__":
    main()
