"""Candidate zone orderings for the scan: circles around each centre, or a neighbour graph.

A scan's candidate zone sets are the prefixes of each centre's ordered neighbour list
(Kulldorff 1997). :func:`circle_neighbors` orders zones by distance exactly as SaTScan does
(ties by smaller x, then smaller y); :func:`graph_neighbors` orders them breadth-first on an
adjacency graph so that clusters can follow a river or a road (Duczmal & Assunção 2004 use the
same graph for irregular clusters).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

Metric = Literal["planar", "latlon"]
EARTH_RADIUS_KM = 6367.0  # SaTScan's sphere


@dataclass(frozen=True)
class Neighbors:
    """Ordered neighbour lists in CSR form: centre ``c``'s zones are
    ``index[indptr[c]:indptr[c + 1]]`` (the centre first), at ``distance`` from it."""

    indptr: npt.NDArray[np.int64]
    index: npt.NDArray[np.int64]
    distance: npt.NDArray[np.float64]

    @property
    def n_centres(self) -> int:
        return len(self.indptr) - 1

    def of(self, centre: int) -> npt.NDArray[np.int64]:
        return self.index[self.indptr[centre] : self.indptr[centre + 1]]

    @classmethod
    def from_lists(
        cls, lists: Sequence[Iterable[int]], distances: Sequence[Iterable[float]] | None = None
    ) -> Neighbors:
        """Explicit ordered lists (SaTScan's non-Euclidean neighbours file); distance = rank."""
        rows = [np.asarray(list(row), dtype=np.int64) for row in lists]
        if distances is None:
            dist = [np.arange(len(r), dtype=np.float64) for r in rows]
        else:
            dist = [np.asarray(list(d), dtype=np.float64) for d in distances]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(r) for r in rows])
        index = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        distance = np.concatenate(dist) if dist else np.zeros(0)
        return cls(indptr, index, distance)

    def validate(self, n_zones: int) -> None:
        if self.n_centres != n_zones:
            raise ValueError(
                f"neighbors: {self.n_centres} centre lists for {n_zones} zones; give one per zone"
            )
        if len(self.index) and (self.index.min() < 0 or self.index.max() >= n_zones):
            raise ValueError(f"neighbors: zone index outside 0..{n_zones - 1}")
        for c in range(self.n_centres):
            row = self.of(c)
            if len(np.unique(row)) != len(row):
                raise ValueError(f"neighbors: centre {c} lists a zone twice")


def points(coords: npt.ArrayLike, metric: Metric = "planar") -> npt.NDArray[np.float64]:
    """Cartesian points: planar (x, y) as given; (lat, lon) degrees on SaTScan's sphere (km)."""
    xy = np.asarray(coords, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"coords: expected shape (zones, 2), got {xy.shape}")
    if not np.isfinite(xy).all():
        bad = int(np.flatnonzero(~np.isfinite(xy).all(axis=1))[0])
        raise ValueError(f"coords: zone {bad} has a missing or infinite coordinate")
    if metric == "planar":
        return xy
    if metric == "latlon":
        if (np.abs(xy[:, 0]) > 90).any():
            bad = int(np.flatnonzero(np.abs(xy[:, 0]) > 90)[0])
            raise ValueError(f"coords: zone {bad} latitude {xy[bad, 0]} is outside -90..90")
        lat = xy[:, 0] * np.pi / 180.0
        lon = xy[:, 1] * np.pi / 180.0
        return np.column_stack(
            (
                EARTH_RADIUS_KM * np.cos(lat) * np.cos(lon),
                EARTH_RADIUS_KM * np.cos(lat) * np.sin(lon),
                EARTH_RADIUS_KM * np.sin(lat),
            )
        )
    raise ValueError(f"metric: {metric!r} is not 'planar' or 'latlon'")


def circle_neighbors(
    coords: npt.ArrayLike,
    *,
    metric: Metric = "planar",
    max_neighbors: int | None = None,
    max_radius: float | None = None,
    population: npt.ArrayLike | None = None,
    max_population: float | None = None,
) -> Neighbors:
    """Zones around each centre by distance, ties broken by smaller x then smaller y (then the
    centre before other zones at its own point, then index).

    ``max_radius`` is inclusive. With ``population``, a list stops before the first zone that
    would bring the running total above ``max_population`` (SaTScan's maximum cluster size).
    """
    pts = points(coords, metric)
    n = len(pts)
    if max_neighbors is not None and max_neighbors < 1:
        raise ValueError(f"max_neighbors: must be at least 1, got {max_neighbors}")
    if max_radius is not None and not max_radius >= 0:
        raise ValueError(f"max_radius: must be 0 or more, got {max_radius}")
    pop = None if population is None else np.asarray(population, dtype=np.float64)
    tree = cKDTree(pts)
    rows: list[np.ndarray] = []
    dists: list[np.ndarray] = []
    for c in range(n):
        if max_radius is not None:
            cand = np.asarray(tree.query_ball_point(pts[c], max_radius * (1 + 1e-9) + 1e-12))
        elif max_neighbors is not None and max_neighbors < n:
            # every zone as near as the k-th one, so ties at the edge are ordered correctly
            d_k, _ = tree.query(pts[c], k=max_neighbors)
            reach = float(np.max(d_k))
            cand = np.asarray(tree.query_ball_point(pts[c], reach * (1 + 1e-9) + 1e-12))
        else:
            cand = np.arange(n)
        diff = pts[cand] - pts[c]
        d = np.sqrt((diff * diff).sum(axis=1))
        if max_radius is not None:
            keep = d <= max_radius
            cand, d = cand[keep], d[keep]
        # zones sharing the centre's point: the centre first
        order = np.lexsort((cand, cand != c, pts[cand, 1], pts[cand, 0], d))
        cand, d = cand[order], d[order]
        if max_neighbors is not None:
            cand, d = cand[:max_neighbors], d[:max_neighbors]
        if pop is not None and max_population is not None:
            over = np.flatnonzero(np.cumsum(pop[cand]) > max_population)
            if len(over):
                cand, d = cand[: over[0]], d[: over[0]]
        rows.append(cand.astype(np.int64))
        dists.append(d)
    return Neighbors.from_lists(rows, dists)


def graph_neighbors(
    adjacency: Any,
    *,
    coords: npt.ArrayLike | None = None,
    metric: Metric = "planar",
    max_neighbors: int | None = None,
    max_hops: int | None = None,
) -> Neighbors:
    """Zones around each centre breadth-first on an adjacency graph.

    Zones at the same hop count are ordered by distance to the centre (with ``coords``), then
    by index. ``distance`` holds the hop count.
    """
    adj = _adjacency_lists(adjacency)
    n = len(adj)
    pts = None if coords is None else points(coords, metric)
    if pts is not None and len(pts) != n:
        raise ValueError(f"coords: {len(pts)} zones but the adjacency has {n}")
    rows, dists = [], []
    for c in range(n):
        hops = {c: 0}
        queue = deque([c])
        while queue:
            u = queue.popleft()
            if max_hops is not None and hops[u] >= max_hops:
                continue
            for v in adj[u]:
                if v not in hops:
                    hops[v] = hops[u] + 1
                    queue.append(v)
        zones = np.fromiter(hops, dtype=np.int64)
        h = np.array([hops[z] for z in zones], dtype=np.float64)
        if pts is not None:
            diff = pts[zones] - pts[c]
            d = np.sqrt((diff * diff).sum(axis=1))
        else:
            d = np.zeros(len(zones))
        order = np.lexsort((zones, d, h))
        zones, h = zones[order], h[order]
        if max_neighbors is not None:
            zones, h = zones[:max_neighbors], h[:max_neighbors]
        rows.append(zones)
        dists.append(h)
    return Neighbors.from_lists(rows, dists)


def _adjacency_lists(adjacency: Any) -> list[list[int]]:
    if hasattr(adjacency, "tocsr"):
        m = adjacency.tocsr()
        lists = [list(m.indices[m.indptr[i] : m.indptr[i + 1]]) for i in range(m.shape[0])]
    elif isinstance(adjacency, Mapping):
        n = max([int(k) for k in adjacency] + [int(v) for vs in adjacency.values() for v in vs]) + 1
        lists = [[] for _ in range(n)]
        for k, vs in adjacency.items():
            lists[int(k)] = [int(v) for v in vs]
    else:
        lists = [[int(v) for v in vs] for vs in adjacency]
    n = len(lists)
    sym: list[set[int]] = [set() for _ in range(n)]
    for i, vs in enumerate(lists):
        for v in vs:
            if not 0 <= v < n:
                raise ValueError(f"adjacency: zone {i} lists neighbour {v}, outside 0..{n - 1}")
            if v != i:
                sym[i].add(v)
                sym[v].add(i)
    return [sorted(s) for s in sym]
