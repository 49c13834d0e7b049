"""Space-time scans against a plain-Python brute force written from the spec.

The brute force below enumerates every candidate cylinder the way SaTScan does for a prospective
analysis (see ``shared/data/satscan/README.md``): for each centre, every prefix of the zones sorted
by distance (ties by smaller x, then smaller y, then index), within ``max_radius`` (inclusive) and
``max_neighbors``, stopping at the first zone that would push the prefix's total (cases for the
permutation scan, baseline for the Poisson scan) above ``max_fraction`` of the whole; every window
ends on the last day and lasts 1..``max_days`` days; only cylinders with observed > expected and
observed >= ``min_cases`` count.  It uses loops and ``math`` only: nothing is shared with the
implementation but the spec.

On tiny random grids the implementation must find the same most likely cluster (same zones, start
and end), the same LLR (1e-9 absolute), observed and expected; every secondary cluster must be the
best cylinder of its own centre, share no zone with an earlier cluster, and come in decreasing LLR.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp

from epiradar.detect.spacetime import (
    Neighbors,
    circle_neighbors,
    graph_neighbors,
    permutation_scan,
    poisson_scan,
)

EARTH_RADIUS_KM = 6367.0
TIE = 1e-9  # two cylinders whose statistics differ by less than this are a tie


# --------------------------------------------------------------------------------------------
# brute-force neighbour lists
# --------------------------------------------------------------------------------------------


def _points(coords: list[tuple[float, float]], metric: str) -> list[tuple[float, ...]]:
    """Planar (x, y) as given; (lat, lon) degrees -> SaTScan's 3-D points on a 6367 km sphere."""
    if metric == "planar":
        return [(float(x), float(y)) for x, y in coords]
    out = []
    for lat, lon in coords:
        la, lo = math.radians(lat), math.radians(lon)
        out.append(
            (
                EARTH_RADIUS_KM * math.cos(la) * math.cos(lo),
                EARTH_RADIUS_KM * math.cos(la) * math.sin(lo),
                EARTH_RADIUS_KM * math.sin(la),
            )
        )
    return out


def _dist(p: tuple[float, ...], q: tuple[float, ...]) -> float:
    return math.sqrt(sum((a - b) ** 2 for a, b in zip(p, q, strict=True)))


def bf_circle(coords, metric="planar", max_neighbors=None, max_radius=None):
    """Per centre: [(zone, distance), ...] in SaTScan's order, centre first."""
    pts = _points([tuple(c) for c in np.asarray(coords, dtype=float).tolist()], metric)
    lists = []
    for c, pc in enumerate(pts):
        keyed = sorted(
            ((_dist(pc, pj), pj[0], pj[1], j) for j, pj in enumerate(pts)),
        )
        order = [(j, d) for d, _x, _y, j in keyed]
        if max_radius is not None:
            order = [(j, d) for j, d in order if d <= max_radius]
        if max_neighbors is not None:
            order = order[:max_neighbors]
        assert order[0][0] == c  # the test data never put two zones at one point
        lists.append(order)
    return lists


def bf_graph(adjacency, coords=None, metric="planar", max_neighbors=None, max_hops=None):
    """Breadth-first from each centre; same hop count ordered by distance (if coords), index."""
    z = len(adjacency)
    pts = None
    if coords is not None:
        pts = _points([tuple(c) for c in np.asarray(coords, dtype=float).tolist()], metric)
    lists = []
    for c in range(z):
        hops = {c: 0}
        queue = deque([c])
        while queue:
            u = queue.popleft()
            for v in adjacency[u]:
                if v not in hops:
                    hops[v] = hops[u] + 1
                    queue.append(v)
        dist = {j: (_dist(pts[c], pts[j]) if pts is not None else 0.0) for j in hops}
        order = sorted(hops, key=lambda j: (hops[j], dist[j], j))
        if max_hops is not None:
            order = [j for j in order if hops[j] <= max_hops]
        if max_neighbors is not None:
            order = order[:max_neighbors]
        lists.append([(j, dist[j]) for j in order])
    return lists


# --------------------------------------------------------------------------------------------
# brute-force scans
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cand:
    llr: float
    centre: int
    zones: tuple[int, ...]
    start: int
    observed: float
    expected: float
    radius: float

    @property
    def key(self) -> tuple[frozenset[int], int]:
        return frozenset(self.zones), self.start


def _enumerate(counts, lists, weights, cap, max_days, min_cases, stat):
    """Every admissible cylinder: (centre, prefix of its list, window ending on the last day)."""
    z_count = len(counts)
    t_count = len(counts[0])
    days = min(max_days, t_count)
    # tail[z][w] = cases of zone z in the last w days
    tail = []
    for z in range(z_count):
        row = [0.0]
        for w in range(1, days + 1):
            row.append(row[-1] + counts[z][t_count - w])
        tail.append(row)
    out = []
    for c, order in enumerate(lists):
        acc = 0.0
        zones: list[int] = []
        for j, d in order:
            if acc + weights[j] > cap:
                break  # the first zone that would exceed max_fraction ends the prefixes
            acc += weights[j]
            zones.append(j)
            for w in range(1, days + 1):
                n = 0.0
                for zz in zones:
                    n += tail[zz][w]
                res = stat(n, acc, zones, w)
                if res is None:
                    continue
                llr, e = res
                if n >= min_cases and n > e:
                    out.append(Cand(llr, c, tuple(zones), t_count - w, n, e, d))
    return out


def bf_permutation(counts, lists, *, max_fraction=0.5, max_days=7, min_cases=2):
    counts = [[float(v) for v in row] for row in np.asarray(counts).tolist()]
    t_count = len(counts[0])
    total = sum(sum(r) for r in counts)
    zone_total = [sum(r) for r in counts]
    window_total = [0.0]
    for w in range(1, t_count + 1):
        window_total.append(window_total[-1] + sum(r[t_count - w] for r in counts))

    def stat(n, zsum, zones, w):
        e = zsum * window_total[w] / total
        if not (n > e):
            return None
        llr = n * math.log(n / e)
        if total > n:
            llr += (total - n) * math.log((total - n) / (total - e))
        return llr, e

    return _enumerate(
        counts, lists, zone_total, max_fraction * total, max_days, min_cases, stat
    ), total


def bf_poisson(counts, baseline, lists, *, max_fraction=0.5, max_days=7, min_cases=2):
    counts = [[float(v) for v in row] for row in np.asarray(counts).tolist()]
    base = [[float(v) for v in row] for row in np.asarray(baseline).tolist()]
    t_count = len(counts[0])
    zone_base = [sum(r) for r in base]
    btail = []
    for r in base:
        row = [0.0]
        for w in range(1, t_count + 1):
            row.append(row[-1] + r[t_count - w])
        btail.append(row)

    def stat(n, zsum, zones, w):
        b = sum(btail[z][w] for z in zones)
        if not (n > b):
            return None
        return n * math.log(n / b) + b - n, b

    total = sum(sum(r) for r in counts)
    return _enumerate(
        counts, lists, zone_base, max_fraction * sum(zone_base), max_days, min_cases, stat
    ), total


# --------------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------------


def _ties(cands: list[Cand], value: float) -> list[Cand]:
    return [c for c in cands if abs(c.llr - value) <= TIE]


def check_result(
    result,
    cands: list[Cand],
    total: float,
    t_count: int,
    max_clusters: int | None = None,
    radius: bool = True,
) -> None:
    """``radius``: compare Cluster.radius with the distance of the prefix's last zone (circles
    only: explicit lists and graphs have no distance in the spec)."""
    assert result.total == pytest.approx(total, rel=1e-12, abs=1e-12)
    if not cands:
        assert result.most_likely is None
        assert result.clusters == []
        return
    best = max(c.llr for c in cands)
    mlc = result.most_likely
    assert mlc is not None
    assert result.clusters[0] is mlc
    assert mlc.llr == pytest.approx(best, abs=TIE)
    _check_cluster(mlc, _ties(cands, best), t_count, radius)

    by_centre: dict[int, list[Cand]] = {}
    for c in cands:
        by_centre.setdefault(c.centre, []).append(c)
    centre_best = {c: max(x.llr for x in xs) for c, xs in by_centre.items()}

    used = set(int(z) for z in mlc.zones)
    prev = mlc.llr
    for cl in result.clusters[1:]:
        assert cl.llr <= prev + TIE, "clusters are not sorted by decreasing LLR"
        prev = cl.llr
        assert cl.centre in centre_best
        assert cl.llr == pytest.approx(centre_best[cl.centre], abs=TIE), (
            f"secondary cluster at centre {cl.centre} is not the best cylinder of its centre"
        )
        _check_cluster(cl, _ties(by_centre[cl.centre], centre_best[cl.centre]), t_count, radius)
        zs = set(int(z) for z in cl.zones)
        assert not (zs & used), f"secondary cluster at centre {cl.centre} overlaps an earlier one"
        used |= zs

    # completeness: a centre whose best cylinder is not reported must overlap a reported
    # cluster at least as strong, unless reporting stopped (p = 1 or max_clusters) before it
    reported = {cl.centre for cl in result.clusters}
    last = result.clusters[-1].llr
    stopped = result.n_sim > 0 or max_clusters is not None
    for c, value in centre_best.items():
        if c in reported or (stopped and value <= last + TIE):
            continue
        blockers = [cl for cl in result.clusters if cl.llr >= value - TIE]
        assert any(
            set(v.zones) & set(int(z) for z in cl.zones)
            for v in _ties(by_centre[c], value)
            for cl in blockers
        ), f"centre {c}'s best cluster (LLR {value}) is missing from the secondary clusters"


def _check_cluster(cl, tied: list[Cand], t_count: int, radius: bool) -> None:
    assert cl.end == t_count - 1
    key = (frozenset(int(z) for z in cl.zones), int(cl.start))
    match = [c for c in tied if c.key == key and c.centre == cl.centre]
    assert match, (
        f"cluster zones={sorted(key[0])} start={key[1]} llr={cl.llr!r} is not among the "
        f"brute-force best: {[(sorted(c.key[0]), c.start, c.llr) for c in tied]}"
    )
    assert len(cl.zones) == len(key[0]), "a zone is repeated in the cluster"
    m = match[0]
    # zones in cylinder order: the centre's prefix (centre first)
    assert tuple(int(z) for z in cl.zones) == m.zones
    assert int(cl.zones[0]) == cl.centre
    if radius:
        assert cl.radius == pytest.approx(m.radius, rel=1e-12, abs=1e-9)
    assert cl.observed == pytest.approx(m.observed, rel=1e-12, abs=1e-12)
    assert cl.expected == pytest.approx(m.expected, rel=1e-12, abs=1e-12)
    assert cl.llr == pytest.approx(m.llr, abs=TIE)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def grid_coords(nx: int, ny: int, *, perm=None, jitter=0.0, rng=None) -> np.ndarray:
    """Zone i at (col, row) of an nx-by-ny grid, 1 unit apart (many equal distances).

    Row-major indices, so ordering equidistant zones by x then y differs from index order.
    ``perm`` relabels zones so that index order is unrelated to position.
    """
    xy = np.array([(i % nx, i // nx) for i in range(nx * ny)], dtype=float)
    if jitter:
        xy = xy + rng.uniform(-jitter, jitter, size=xy.shape)
    if perm is not None:
        xy = xy[perm]
    return xy


def make_counts(rng, z, t, *, rate=2.0, cluster=None, zero_zones=0, risk=4.0, days=3):
    zone_eff = rng.gamma(4.0, 0.25, size=z)
    day_eff = rng.gamma(8.0, 0.125, size=t)
    lam = rate * np.outer(zone_eff, day_eff)
    if cluster is not None:
        lam[np.asarray(cluster), t - days :] *= risk
    counts = rng.poisson(lam)
    if zero_zones:
        counts[rng.choice(z, size=zero_zones, replace=False)] = 0
    return counts.astype(np.int64)


def make_baseline(rng, counts) -> np.ndarray:
    """A positive expected-count surface, roughly the scale of the counts (not fitted)."""
    z, t = counts.shape
    zone_eff = rng.gamma(4.0, 0.25, size=z)
    day_eff = rng.gamma(8.0, 0.125, size=t)
    scale = max(counts.mean(), 0.5)
    return scale * np.outer(zone_eff, day_eff) + 0.01


@dataclass(frozen=True)
class Case:
    name: str
    nx: int
    ny: int
    t: int
    seed: int
    metric: str = "planar"
    max_radius: float | None = None
    max_neighbors: int | None = None
    max_fraction: float = 0.5
    max_days: int = 7
    min_cases: int = 2
    cluster: bool = False
    zero_zones: int = 0
    rate: float = 2.0
    permute: bool = False
    jitter: float = 0.0


def _cases() -> list[Case]:
    out = []
    seed = 100
    geoms = [
        dict(nx=4, ny=4, t=10),
        dict(nx=5, ny=5, t=14),
        dict(nx=6, ny=6, t=20),
        dict(nx=5, ny=4, t=12, permute=True),
        dict(nx=6, ny=5, t=16, jitter=0.3),
    ]
    limits = [
        dict(max_radius=1.5),
        dict(max_radius=2.0),  # integer-grid distances hit the radius exactly: inclusive
        dict(max_neighbors=5),
        dict(max_neighbors=9, max_radius=2.3),
        dict(),  # only max_fraction limits the prefixes
    ]
    fractions_days_min = [
        (0.5, 7, 2),
        (0.2, 3, 3),
        (0.5, 1, 2),
        (0.2, 7, 2),
        (0.5, 3, 3),
    ]
    data = [
        dict(),
        dict(cluster=True),
        dict(zero_zones=4),
        dict(rate=0.4),
        dict(cluster=True, zero_zones=3),
    ]
    for gi, g in enumerate(geoms):
        for li, lim in enumerate(limits):
            # a Latin-square pairing keeps the number of cases modest while covering every
            # geometry x limit x (fraction, days, min_cases) x data combination pairwise
            f, d, m = fractions_days_min[(gi + li) % 5]
            dat = data[(gi + 2 * li) % 5]
            seed += 1
            out.append(
                Case(
                    name=f"g{g['nx']}x{g['ny']}-{'-'.join(f'{k}{v}' for k, v in lim.items()) or 'frac'}"
                    f"-f{f}-d{d}-m{m}-{'-'.join(f'{k}{v}' for k, v in dat.items()) or 'plain'}",
                    seed=seed,
                    max_fraction=f,
                    max_days=d,
                    min_cases=m,
                    **g,
                    **lim,
                    **dat,
                )
            )
    # latitude/longitude: random points (no exact ties), radius in km
    for i, (lim, f, d, m, dat) in enumerate(
        [
            (dict(max_radius=25.0), 0.5, 7, 2, dict(cluster=True)),
            (dict(max_neighbors=6), 0.2, 3, 3, dict()),
            (dict(max_radius=40.0, max_neighbors=8), 0.5, 1, 2, dict(zero_zones=3)),
            (dict(), 0.2, 7, 2, dict(rate=0.5)),
            (dict(max_radius=15.0), 0.5, 3, 3, dict(cluster=True, zero_zones=2)),
        ]
    ):
        out.append(
            Case(
                name=f"latlon{i}-f{f}-d{d}-m{m}",
                nx=5,
                ny=5 + i % 2,
                t=10 + 2 * i,
                seed=500 + i,
                metric="latlon",
                max_fraction=f,
                max_days=d,
                min_cases=m,
                **lim,
                **dat,
            )
        )
    return out


CASES = _cases()


def build(case: Case):
    rng = np.random.default_rng(case.seed)
    z = case.nx * case.ny
    if case.metric == "latlon":
        # about 60 km x 60 km around New York; no two distances from a centre are equal
        lat = rng.uniform(40.4, 40.95, size=z)
        lon = rng.uniform(-74.2, -73.5, size=z)
        coords = np.column_stack([lat, lon])
    else:
        perm = rng.permutation(z) if case.permute else None
        coords = grid_coords(case.nx, case.ny, perm=perm, jitter=case.jitter, rng=rng)
    cluster = None
    if case.cluster:
        if case.metric == "latlon":
            centre = int(rng.integers(z))
            d = [
                _dist(p, _points([tuple(coords[centre])], "latlon")[0])
                for p in _points([tuple(c) for c in coords], "latlon")
            ]
            cluster = list(np.argsort(d)[:4])
        else:
            # a 2x2 block of the grid
            x0, y0 = int(rng.integers(case.nx - 1)), int(rng.integers(case.ny - 1))
            cluster = [
                i
                for i in range(z)
                if round(coords[i][0]) in (x0, x0 + 1) and round(coords[i][1]) in (y0, y0 + 1)
            ]
    counts = make_counts(
        rng, z, case.t, rate=case.rate, cluster=cluster, zero_zones=case.zero_zones
    )
    baseline = make_baseline(rng, counts)
    return coords, counts, baseline


def _kw(case: Case) -> dict:
    return dict(
        max_fraction=case.max_fraction,
        max_days=case.max_days,
        min_cases=case.min_cases,
    )


# --------------------------------------------------------------------------------------------
# tests: neighbour lists
# --------------------------------------------------------------------------------------------


def _as_lists(nb: Neighbors) -> list[list[int]]:
    ip = np.asarray(nb.indptr)
    ix = np.asarray(nb.index)
    return [ix[ip[i] : ip[i + 1]].tolist() for i in range(len(ip) - 1)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_circle_neighbors_order(case: Case) -> None:
    coords, _, _ = build(case)
    nb = circle_neighbors(
        coords,
        metric=case.metric,
        max_neighbors=case.max_neighbors,
        max_radius=case.max_radius,
    )
    want = bf_circle(coords, case.metric, case.max_neighbors, case.max_radius)
    assert len(nb.indptr) == len(coords) + 1
    assert nb.indptr[0] == 0
    assert _as_lists(nb) == [[j for j, _ in lst] for lst in want]
    np.testing.assert_allclose(
        np.asarray(nb.distance, dtype=float),
        [d for lst in want for _, d in lst],
        rtol=1e-12,
        atol=1e-9,
    )


def test_circle_neighbors_tie_rule_and_inclusive_radius() -> None:
    # centre (1, 1) of a 3x3 grid, row-major indices: the four zones at distance 1 are
    # (0,1)=3, (1,0)=1, (1,2)=7, (2,1)=5 -> by x then y: 3, 1, 7, 5 (index order would be 1,3,5,7)
    coords = grid_coords(3, 3)
    nb = circle_neighbors(coords, max_radius=1.0)
    assert _as_lists(nb)[4] == [4, 3, 1, 7, 5]
    nb = circle_neighbors(coords, max_radius=math.sqrt(2.0))
    assert _as_lists(nb)[4] == [4, 3, 1, 7, 5, 0, 6, 2, 8]
    nb = circle_neighbors(coords, max_radius=0.999)
    assert _as_lists(nb)[4] == [4]


def test_latlon_chord_distance() -> None:
    # two points on the equator 1 degree apart: chord = 2 R sin(0.5 deg)
    coords = np.array([[0.0, 10.0], [0.0, 11.0], [60.0, 10.0]])
    nb = circle_neighbors(coords, metric="latlon")
    lists = _as_lists(nb)
    dist = np.asarray(nb.distance, dtype=float)
    ip = np.asarray(nb.indptr)
    d01 = dist[ip[0] + lists[0].index(1)]
    assert d01 == pytest.approx(2 * EARTH_RADIUS_KM * math.sin(math.radians(0.5)), rel=1e-12)
    d02 = dist[ip[0] + lists[0].index(2)]
    assert d02 == pytest.approx(2 * EARTH_RADIUS_KM * math.sin(math.radians(30.0)), rel=1e-12)


def test_latlon_tie_rule_uses_cartesian_x_then_y() -> None:
    # four points 1 degree from (0, 0), all at exactly the same chord distance. In SaTScan's
    # 3-D coordinates they share x = R cos(1 deg); y = -R sin(1 deg) for lon -1, 0 for
    # lat +-1, +R sin(1 deg) for lon +1 -> order lon -1, then lat +1 / lat -1 by index,
    # then lon +1.
    coords = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, 0.0], [0.0, -1.0]])
    nb = circle_neighbors(coords, metric="latlon")
    assert _as_lists(nb)[0] == [0, 4, 2, 3, 1]
    assert [j for j, _ in bf_circle(coords, "latlon")[0]] == [0, 4, 2, 3, 1]


def _grid_adjacency(nx: int, ny: int) -> list[list[int]]:
    adj = []
    for i in range(nx * ny):
        x, y = i % nx, i // nx
        nbrs = []
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            if 0 <= x + dx < nx and 0 <= y + dy < ny:
                nbrs.append((y + dy) * nx + x + dx)
        adj.append(sorted(nbrs, reverse=True))  # order of the input lists must not matter
    return adj


GRAPH_CASES = [
    dict(coords=False, max_neighbors=None, max_hops=None),
    dict(coords=True, max_neighbors=None, max_hops=2),
    dict(coords=True, max_neighbors=7, max_hops=None),
    dict(coords=False, max_neighbors=6, max_hops=1),
    dict(coords=True, max_neighbors=10, max_hops=3),
]


@pytest.mark.parametrize("gc", GRAPH_CASES, ids=lambda g: "-".join(f"{k}{v}" for k, v in g.items()))
def test_graph_neighbors_order(gc: dict) -> None:
    rng = np.random.default_rng(7)
    coords = grid_coords(5, 4, jitter=0.2, rng=rng)
    adj = _grid_adjacency(5, 4)
    want = bf_graph(
        adj,
        coords if gc["coords"] else None,
        max_neighbors=gc["max_neighbors"],
        max_hops=gc["max_hops"],
    )
    kw = dict(max_neighbors=gc["max_neighbors"], max_hops=gc["max_hops"])
    if gc["coords"]:
        kw["coords"] = coords
    rows, cols = zip(*[(i, j) for i, js in enumerate(adj) for j in js], strict=True)
    sparse = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(20, 20))
    for form in (adj, {i: set(js) for i, js in enumerate(adj)}, sparse):
        nb = graph_neighbors(form, **kw)
        assert _as_lists(nb) == [[j for j, _ in lst] for lst in want]


# --------------------------------------------------------------------------------------------
# tests: scans against the brute force
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_permutation_scan_matches_bruteforce(case: Case) -> None:
    coords, counts, _ = build(case)
    lists = bf_circle(coords, case.metric, case.max_neighbors, case.max_radius)
    cands, total = bf_permutation(counts, lists, **_kw(case))
    res = permutation_scan(
        counts,
        coords,
        metric=case.metric,
        max_neighbors=case.max_neighbors,
        max_radius=case.max_radius,
        n_sim=0,
        **_kw(case),
    )
    assert res.model == "permutation"
    assert res.n_sim == 0
    assert len(res.null_llr) == 0
    check_result(res, cands, total, counts.shape[1])
    for cl in res.clusters:
        assert cl.p_value is None and cl.recurrence_interval is None
    if case.cluster and case.max_fraction == 0.5:
        assert res.most_likely is not None


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_poisson_scan_matches_bruteforce(case: Case) -> None:
    coords, counts, baseline = build(case)
    lists = bf_circle(coords, case.metric, case.max_neighbors, case.max_radius)
    cands, total = bf_poisson(counts, baseline, lists, **_kw(case))
    res = poisson_scan(
        counts,
        baseline,
        coords,
        metric=case.metric,
        max_neighbors=case.max_neighbors,
        max_radius=case.max_radius,
        n_sim=0,
        **_kw(case),
    )
    assert res.model == "poisson"
    check_result(res, cands, total, counts.shape[1])


@pytest.mark.parametrize("case", CASES[::4], ids=lambda c: c.name)
def test_neighbors_object_and_explicit_lists(case: Case) -> None:
    """A Neighbors object or explicit index lists override coords/metric/radius/neighbours."""
    coords, counts, baseline = build(case)
    nb = circle_neighbors(
        coords, metric=case.metric, max_neighbors=case.max_neighbors, max_radius=case.max_radius
    )
    lists = bf_circle(coords, case.metric, case.max_neighbors, case.max_radius)
    cands, total = bf_permutation(counts, lists, **_kw(case))
    res = permutation_scan(counts, neighbors=nb, n_sim=0, **_kw(case))
    check_result(res, cands, total, counts.shape[1])
    # coords and other limits given too: the Neighbors override them
    other = "planar" if case.metric == "latlon" else "latlon"
    res = permutation_scan(
        counts, coords, metric=other, max_neighbors=1, max_radius=0.0, neighbors=nb, n_sim=0,
        **_kw(case),
    )  # fmt: skip
    check_result(res, cands, total, counts.shape[1])
    res = permutation_scan(
        counts, neighbors=[[j for j, _ in lst] for lst in lists], n_sim=0, **_kw(case)
    )
    check_result(res, cands, total, counts.shape[1], radius=False)
    pcands, ptotal = bf_poisson(counts, baseline, lists, **_kw(case))
    res = poisson_scan(counts, baseline, neighbors=nb, n_sim=0, **_kw(case))
    check_result(res, pcands, ptotal, counts.shape[1])


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_scans_with_arbitrary_explicit_lists(seed: int) -> None:
    """Explicit per-centre lists in an arbitrary (not geometric) order are scanned as given."""
    rng = np.random.default_rng(seed)
    z, t = 16, 12
    counts = make_counts(rng, z, t, cluster=[1, 2, 5], zero_zones=seed % 3)
    baseline = make_baseline(rng, counts)
    lists = []
    for c in range(z):
        others = [j for j in rng.permutation(z).tolist() if j != c]
        lists.append([c, *others[: int(rng.integers(0, 8))]])
    bf_lists = [[(j, 0.0) for j in lst] for lst in lists]
    for frac, days, mc in ((0.5, 7, 2), (0.2, 3, 3), (1.0, 1, 2)):
        kw = dict(max_fraction=frac, max_days=days, min_cases=mc)
        cands, total = bf_permutation(counts, bf_lists, **kw)
        res = permutation_scan(counts, neighbors=lists, n_sim=0, **kw)
        check_result(res, cands, total, t, radius=False)
        cands, total = bf_poisson(counts, baseline, bf_lists, **kw)
        res = poisson_scan(counts, baseline, neighbors=lists, n_sim=0, **kw)
        check_result(res, cands, total, t, radius=False)


@pytest.mark.parametrize("gc", GRAPH_CASES, ids=lambda g: "-".join(f"{k}{v}" for k, v in g.items()))
def test_scans_with_graph_neighbors(gc: dict) -> None:
    rng = np.random.default_rng(31)
    nx, ny, t = 5, 5, 14
    coords = grid_coords(nx, ny, jitter=0.2, rng=rng)
    counts = make_counts(rng, nx * ny, t, cluster=[6, 7, 11, 12], zero_zones=2)
    baseline = make_baseline(rng, counts)
    adj = _grid_adjacency(nx, ny)
    kw = dict(max_neighbors=gc["max_neighbors"], max_hops=gc["max_hops"])
    if gc["coords"]:
        kw["coords"] = coords
    nb = graph_neighbors(adj, **kw)
    lists = bf_graph(
        adj,
        coords if gc["coords"] else None,
        max_neighbors=gc["max_neighbors"],
        max_hops=gc["max_hops"],
    )
    for frac, days, mc in ((0.5, 7, 2), (0.2, 3, 3)):
        skw = dict(max_fraction=frac, max_days=days, min_cases=mc)
        cands, total = bf_permutation(counts, lists, **skw)
        res = permutation_scan(counts, neighbors=nb, n_sim=0, **skw)
        check_result(res, cands, total, t, radius=False)
        cands, total = bf_poisson(counts, baseline, lists, **skw)
        res = poisson_scan(counts, baseline, neighbors=nb, n_sim=0, **skw)
        check_result(res, cands, total, t, radius=False)


def test_max_fraction_stops_at_first_zone_over_the_cap() -> None:
    """A heavy zone ends a centre's prefixes even though later (lighter) zones would fit."""
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])  # one row of 4 zones
    counts = np.array(
        [
            [1, 1, 1, 4],  # total 7, spike today
            [9, 9, 9, 9],  # total 36: over the cap on its own
            [1, 1, 1, 4],  # total 7, spike today
            [2, 2, 2, 0],  # total 6
        ]
    )
    # N = 56, cap = 0.3 * 56 = 16.8. Centre 0's list is 0, 1, 2, 3: zone 1 ends it, so {0, 2}
    # (both spikes, total 14 <= cap) is NOT a candidate; centre 2's list is 2, 1 (x=1 before
    # x=3 at equal distance), 3, 0: also ended by zone 1. Skipping zone 1 instead of stopping
    # would make {0, 2} (today 8 vs 4.25 expected) the most likely cluster.
    lists = bf_circle(coords)
    cands, total = bf_permutation(counts, lists, max_fraction=0.3, max_days=2)
    assert all(set(c.zones) != {0, 2} for c in cands)
    res = permutation_scan(counts, coords, max_fraction=0.3, max_days=2, n_sim=0)
    check_result(res, cands, total, 4)
    assert len(res.most_likely.zones) == 1
    for cl in res.clusters:
        assert set(int(z) for z in cl.zones) != {0, 2}


def test_max_fraction_cap_is_inclusive() -> None:
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    counts = np.array([[0, 0, 1, 3], [0, 0, 1, 3], [5, 5, 5, 5], [1, 1, 1, 1]])
    # N = 32, zone totals 4, 4, 20, 4; cap = 0.25 * 32 = 8 exactly: centre 0 scans {0} and
    # {0, 1} (total 8 == cap, allowed). Today: {0, 1} has 6 vs 3 expected (LLR 1.32) and beats
    # {0} alone (3 vs 1.5, LLR 0.62).
    cands, total = bf_permutation(counts, bf_circle(coords), max_fraction=0.25, max_days=1)
    res = permutation_scan(counts, coords, max_fraction=0.25, max_days=1, n_sim=0)
    check_result(res, cands, total, 4)
    assert set(int(z) for z in res.most_likely.zones) == {0, 1}
    assert res.most_likely.observed == 6
    assert res.most_likely.expected == pytest.approx(3.0)


def test_no_admissible_cluster() -> None:
    # all cases in one zone: every prefix exceeds max_fraction -> no cluster at all
    counts = np.zeros((9, 10), dtype=int)
    counts[4] = 3
    coords = grid_coords(3, 3)
    res = permutation_scan(counts, coords, n_sim=9, seed=1)
    assert res.most_likely is None
    assert res.clusters == []
    assert len(res.null_llr) == 9
    np.testing.assert_array_equal(res.null_llr, 0.0)
    # no case at all
    res = poisson_scan(np.zeros((9, 10), dtype=int), np.ones((9, 10)), coords, n_sim=0)
    assert res.most_likely is None


def test_min_cases_excludes_single_case_clusters() -> None:
    # one case on the last day, in a quiet zone: n=1 > e but n < min_cases=2
    rng = np.random.default_rng(3)
    counts = rng.poisson(1.0, size=(16, 10))
    counts[:, -1] = 0
    counts[5, -1] = 1
    coords = grid_coords(4, 4)
    lists = bf_circle(coords, max_radius=1.0)
    for mc in (1, 2, 3):
        cands, total = bf_permutation(counts, lists, max_days=1, min_cases=mc)
        res = permutation_scan(counts, coords, max_radius=1.0, max_days=1, min_cases=mc, n_sim=0)
        check_result(res, cands, total, 10)
        if mc == 1:
            assert res.most_likely is not None and res.most_likely.observed == 1
        else:
            assert res.most_likely is None


# --------------------------------------------------------------------------------------------
# tests: Monte Carlo bookkeeping
# --------------------------------------------------------------------------------------------


def _cluster_tuple(cl) -> tuple:
    return (
        cl.centre,
        tuple(int(z) for z in cl.zones),
        cl.start,
        cl.end,
        cl.observed,
        cl.expected,
        cl.llr,
        cl.p_value,
        cl.recurrence_interval,
    )


def _p_from_null(llr: float, null: np.ndarray) -> float:
    return (1 + int(np.sum(null >= llr))) / (len(null) + 1)


@pytest.mark.parametrize("model", ["permutation", "poisson"])
def test_seed_reproducibility_and_p_values(model: str) -> None:
    case = next(c for c in CASES if c.cluster and c.metric == "planar" and c.max_fraction == 0.5)
    coords, counts, baseline = build(case)
    kw = dict(max_radius=case.max_radius, max_neighbors=case.max_neighbors, **_kw(case))

    def run(seed, n_sim=49, **extra):
        if model == "permutation":
            return permutation_scan(counts, coords, n_sim=n_sim, seed=seed, **kw, **extra)
        return poisson_scan(counts, baseline, coords, n_sim=n_sim, seed=seed, **kw, **extra)

    a, b, c = run(2024), run(2024), run(2025)
    assert a.n_sim == 49 and len(a.null_llr) == 49
    np.testing.assert_array_equal(a.null_llr, b.null_llr)
    assert [_cluster_tuple(x) for x in a.clusters] == [_cluster_tuple(x) for x in b.clusters]
    assert not np.array_equal(a.null_llr, c.null_llr)
    # the scan itself does not depend on the seed
    assert [x.llr for x in a.clusters][:1] == [x.llr for x in c.clusters][:1]
    for res in (a, c):
        null = np.asarray(res.null_llr, dtype=float)
        assert np.all(np.isfinite(null)) and np.all(null >= 0)
        assert res.clusters, "an injected cluster must be found"
        for cl in res.clusters:
            assert cl.p_value == pytest.approx(_p_from_null(cl.llr, null), abs=1e-12)
            assert cl.recurrence_interval == pytest.approx(365.0 / (cl.p_value * 365.0))
        # reporting stops where p would be 1
        assert all(cl.p_value < 1.0 for cl in res.clusters[1:])
        ps = [cl.p_value for cl in res.clusters]
        assert ps == sorted(ps)
    # recurrence interval scales with analyses per year
    d = run(2024, analyses_per_year=52.0)
    for cl in d.clusters:
        assert cl.recurrence_interval == pytest.approx(365.0 / (cl.p_value * 52.0))
    # n_sim = 0: no p-values
    e = run(2024, n_sim=0)
    assert len(e.null_llr) == 0
    assert all(cl.p_value is None and cl.recurrence_interval is None for cl in e.clusters)
    assert e.most_likely.llr == pytest.approx(a.most_likely.llr, abs=1e-12)
    # a frame, one row per cluster
    frame = a.to_frame()
    assert len(frame) == len(a.clusters)


@pytest.mark.parametrize("model", ["permutation", "poisson"])
def test_strong_cluster_gets_the_smallest_p(model: str) -> None:
    rng = np.random.default_rng(77)
    coords = grid_coords(6, 6)
    counts = make_counts(rng, 36, 20, rate=3.0)
    block = [14, 13, 8, 20, 15]  # zone 14 at (2, 2) and the four zones 1 unit away
    counts[block, -3:] += 12
    baseline = np.full(counts.shape, counts[:, :-3].mean())
    if model == "permutation":
        res = permutation_scan(counts, coords, max_radius=1.5, n_sim=39, seed=5)
    else:
        res = poisson_scan(counts, baseline, coords, max_radius=1.5, n_sim=39, seed=5)
    mlc = res.most_likely
    assert set(int(z) for z in mlc.zones) == set(block)
    assert mlc.p_value == pytest.approx(1 / 40)
    assert np.all(np.asarray(res.null_llr) < mlc.llr)


# --------------------------------------------------------------------------------------------
# tests: bad parameters
# --------------------------------------------------------------------------------------------


def _ok():
    rng = np.random.default_rng(0)
    coords = grid_coords(3, 3)
    counts = rng.poisson(2.0, size=(9, 8))
    return coords, counts, np.full((9, 8), 2.0)


_BAD = [
    (dict(counts="negative"), "counts"),
    (dict(counts="fraction"), "counts"),
    (dict(counts="1d"), "counts"),
    (dict(counts="3d"), "counts"),
    (dict(coords="rows"), "coords"),
    (dict(coords="cols"), "coords"),
    (dict(max_fraction=0.0), "max_fraction"),
    (dict(max_fraction=-0.1), "max_fraction"),
    (dict(max_fraction=1.5), "max_fraction"),
    (dict(max_days=0), "max_days"),
    (dict(max_days=-2), "max_days"),
    (dict(metric="manhattan"), "metric"),
    (dict(max_radius=-1.0), "max_radius"),
    (dict(max_neighbors=0), "max_neighbors"),
    (dict(min_cases=0), "min_cases"),
    (dict(n_sim=-1), "n_sim"),
    (dict(coords="missing"), "coords"),
    (dict(neighbors="short"), "neighbors"),
    (dict(neighbors="out_of_range"), "neighbors"),
]
_BAD_CASES = [("permutation", c, p) for c, p in _BAD] + [
    ("poisson", c, p)
    for c, p in [
        *_BAD,
        (dict(baseline="shape"), "baseline"),
        (dict(baseline="negative"), "baseline"),
    ]
]


@pytest.mark.parametrize(
    "model, change, param",
    _BAD_CASES,
    ids=[f"{m}-" + "-".join(f"{k}={v}" for k, v in c.items()) for m, c, _ in _BAD_CASES],
)
def test_bad_parameters(model: str, change: dict, param: str) -> None:
    coords, counts, baseline = _ok()
    kw: dict = {}
    for k, v in change.items():
        if k == "counts":
            counts = {
                "negative": np.where(np.arange(72).reshape(9, 8) == 5, -1, counts),
                "fraction": np.where(np.arange(72).reshape(9, 8) == 5, 0.5, counts),
                "1d": counts.ravel(),
                "3d": counts.reshape(9, 8, 1),
            }[v]
        elif k == "coords":
            coords = {
                "rows": coords[:-1],
                "cols": np.column_stack([coords, coords[:, 0]]),
                "missing": None,
            }[v]
        elif k == "neighbors":
            coords = None
            kw["neighbors"] = {
                "short": [[i] for i in range(8)],
                "out_of_range": [[i, (i + 1) % 9 if i else 9] for i in range(9)],
            }[v]
        elif k == "baseline":
            baseline = {"shape": baseline[:, :-1], "negative": baseline - 3.0}[v]
        else:
            kw[k] = v
    kw.setdefault("n_sim", 0)
    with pytest.raises(ValueError, match=param):
        if model == "permutation":
            permutation_scan(counts, coords, **kw)
        else:
            poisson_scan(counts, baseline, coords, **kw)


def test_good_parameter_edges_are_accepted() -> None:
    coords, counts, baseline = _ok()
    permutation_scan(counts, coords, max_fraction=1.0, max_days=1, n_sim=0)
    poisson_scan(counts, baseline, coords, max_fraction=1.0, max_days=1, n_sim=0)
    with pytest.raises(ValueError, match="metric"):
        circle_neighbors(coords, metric="manhattan")


@pytest.mark.parametrize("case", [CASES[i] for i in (1, 7, 12, 24, 26)], ids=lambda c: c.name)
@pytest.mark.parametrize("model", ["permutation", "poisson"])
def test_reporting_stops_at_p_one_and_max_clusters(model: str, case: Case) -> None:
    """Secondary clusters: the n_sim=0 list, cut before the first (after the most likely
    cluster) whose p would be 1, or after ``max_clusters``."""
    coords, counts, baseline = build(case)
    lists = bf_circle(coords, case.metric, case.max_neighbors, case.max_radius)
    kw = dict(
        metric=case.metric, max_neighbors=case.max_neighbors, max_radius=case.max_radius,
        **_kw(case),
    )  # fmt: skip
    if model == "permutation":
        cands, total = bf_permutation(counts, lists, **_kw(case))

        def run(**extra):
            return permutation_scan(counts, coords, **kw, **extra)
    else:
        cands, total = bf_poisson(counts, baseline, lists, **_kw(case))

        def run(**extra):
            return poisson_scan(counts, baseline, coords, **kw, **extra)

    t = counts.shape[1]
    full = run(n_sim=0)
    check_result(full, cands, total, t)
    assert len(full.clusters) >= 3, "test data should give several secondary clusters"
    sims = run(n_sim=19, seed=3)
    check_result(sims, cands, total, t)
    null = np.asarray(sims.null_llr)
    want = [full.clusters[0]]
    for cl in full.clusters[1:]:
        if np.sum(null >= cl.llr) == len(null):
            break
        want.append(cl)
    assert [_cluster_tuple(c)[:7] for c in sims.clusters] == [_cluster_tuple(c)[:7] for c in want]
    for k in (1, 2):
        capped = run(n_sim=0, max_clusters=k)
        check_result(capped, cands, total, t, max_clusters=k)
        assert [_cluster_tuple(c) for c in capped.clusters] == [
            _cluster_tuple(c) for c in full.clusters[:k]
        ]


def test_all_zero_counts() -> None:
    """No case at all: no cluster, and every replicate's maximum is 0 (null_llr has n_sim
    entries, as the spec says)."""
    coords = grid_coords(3, 3)
    res = permutation_scan(np.zeros((9, 10), dtype=int), coords, n_sim=9, seed=1)
    assert res.most_likely is None and res.clusters == []
    assert res.n_sim == 9
    assert len(res.null_llr) == 9
    np.testing.assert_array_equal(res.null_llr, 0.0)
    res = poisson_scan(np.zeros((9, 10), dtype=int), np.ones((9, 10)), coords, n_sim=9, seed=1)
    assert res.most_likely is None and res.clusters == []
    assert len(res.null_llr) == 9


@pytest.mark.parametrize("max_days", [4, 7, 30])
def test_max_days_longer_than_the_data(max_days: int) -> None:
    """Windows are capped at the whole period."""
    rng = np.random.default_rng(max_days)
    coords = grid_coords(4, 4)
    counts = make_counts(rng, 16, 4, cluster=[5, 6], days=2)
    baseline = make_baseline(rng, counts)
    lists = bf_circle(coords, max_radius=1.5)
    kw = dict(max_fraction=0.5, max_days=max_days, min_cases=2)
    cands, total = bf_permutation(counts, lists, **kw)
    check_result(permutation_scan(counts, coords, max_radius=1.5, n_sim=0, **kw), cands, total, 4)
    cands, total = bf_poisson(counts, baseline, lists, **kw)
    res = poisson_scan(counts, baseline, coords, max_radius=1.5, n_sim=0, **kw)
    check_result(res, cands, total, 4)
    assert res.most_likely is not None


@pytest.mark.parametrize("model", ["permutation", "poisson"])
def test_replicate_maxima_consistent_across_cylinder_sets(model: str) -> None:
    """The replicate scan keeps every cylinder (its pruning must be exact).

    The replicate data depend on the counts (or baseline), the seed, max_days and n_sim, not on
    the candidate cylinders, so with one seed: (1) splitting the centres' lists into two
    structures, A (even centres keep their circles, odd centres only themselves) and B (the
    other way round), whose cylinders together are exactly the full structure's, gives
    ``null(full) == max(null(A), null(B))`` replicate by replicate; (2) more cylinders (a wider
    radius, a lower min_cases, a larger max_fraction) never lower a replicate's maximum.
    """
    rng = np.random.default_rng(2718)
    nx, ny, t = 6, 6, 15
    coords = grid_coords(nx, ny)
    counts = make_counts(rng, nx * ny, t, rate=1.5, zero_zones=2)
    baseline = make_baseline(rng, counts)

    def run(neighbors=None, **kw):
        base = dict(n_sim=60, seed=99, max_days=5, min_cases=2, max_fraction=0.5)
        base.update(kw)
        if neighbors is None:
            base["coords"] = coords
        if model == "permutation":
            res = permutation_scan(counts, neighbors=neighbors, **base)
        else:
            res = poisson_scan(counts, baseline, neighbors=neighbors, **base)
        return np.asarray(res.null_llr, dtype=float)

    full = circle_neighbors(coords, max_radius=2.5)
    lists = _as_lists(full)
    a = [lst if c % 2 == 0 else [c] for c, lst in enumerate(lists)]
    b = [lst if c % 2 == 1 else [c] for c, lst in enumerate(lists)]
    n_full = run(neighbors=full)
    n_a, n_b = run(neighbors=a), run(neighbors=b)
    assert np.all(n_full > 0)
    np.testing.assert_allclose(n_full, np.maximum(n_a, n_b), rtol=0, atol=1e-9)
    assert np.any(n_a != n_b)

    small = run(max_radius=1.5)
    wide = run(max_radius=2.5)
    np.testing.assert_allclose(wide, n_full, rtol=0, atol=1e-9)
    assert np.all(wide >= small - 1e-9) and np.any(wide > small + 1e-9)
    loose = run(max_radius=2.5, min_cases=1)
    strict = run(max_radius=2.5, min_cases=10)
    assert np.all(loose >= wide - 1e-9) and np.all(wide >= strict - 1e-9)
    assert np.any(wide > strict + 1e-9)
    big = run(max_radius=2.5, max_fraction=0.9)
    tiny = run(max_radius=2.5, max_fraction=0.05)
    assert np.all(big >= wide - 1e-9) and np.all(wide >= tiny - 1e-9)


def test_centre_first_among_zones_sharing_its_point() -> None:
    nb = circle_neighbors([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    assert [list(nb.of(c)) for c in range(3)] == [[0, 1, 2], [1, 0, 2], [2, 0, 1]]
