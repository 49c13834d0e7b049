"""Planar geometry for the simulator: a local projection, tessellation and point sampling.

Everything is computed in kilometres on a local equirectangular projection (accurate to well
under 1 % over a 40 km city) and converted to lon/lat only at the edges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Polygon, mapping, shape

KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQUATOR = 111.320


@dataclass(frozen=True)
class Projection:
    """Local equirectangular projection centred on (``lat0``, ``lon0``), in km."""

    lat0: float
    lon0: float

    @property
    def kx(self) -> float:
        return KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(self.lat0))

    def to_xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(lon) - self.lon0) * self.kx, (
            np.asarray(lat) - self.lat0
        ) * KM_PER_DEG_LAT

    def to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(x) / self.kx + self.lon0, np.asarray(y) / KM_PER_DEG_LAT + self.lat0

    def polygon_to_geojson(self, poly: Polygon, digits: int = 6) -> dict[str, Any]:
        """GeoJSON geometry in lon/lat of a polygon given in km."""
        lonlat = shapely.transform(
            poly, lambda xy: np.column_stack(self.to_lonlat(xy[:, 0], xy[:, 1]))
        )
        geom = shapely.set_precision(lonlat, 10.0**-digits)
        out = mapping(geom)
        return {"type": out["type"], "coordinates": _lists(out["coordinates"])}

    def geojson_to_polygon(self, geometry: dict[str, Any]) -> Polygon:
        """The km-plane polygon of a GeoJSON geometry (a MultiPolygon keeps its largest part)."""
        geom = shape(geometry)
        if geom.geom_type == "MultiPolygon":
            geom = max(geom.geoms, key=lambda g: g.area)
        return shapely.transform(geom, lambda xy: np.column_stack(self.to_xy(xy[:, 0], xy[:, 1])))


def _lists(obj: Any) -> Any:
    if isinstance(obj, tuple | list):
        return [_lists(o) for o in obj]
    return float(obj)


def city_boundary(rng: np.random.Generator, rx: float, ry: float, n: int = 32) -> Polygon:
    """A convex, slightly irregular ellipse: the city limits."""
    theta = np.sort(rng.uniform(0, 2 * np.pi, n))
    wobble = 1.0 + 0.08 * rng.standard_normal(n)
    pts = np.column_stack([rx * wobble * np.cos(theta), ry * wobble * np.sin(theta)])
    return MultiPoint(pts).convex_hull


def cvt_seeds(
    rng: np.random.Generator, boundary: Polygon, n: int, core_km: float, iters: int = 25
) -> np.ndarray:
    """Seeds of a density-adapted centroidal Voronoi tessellation (k-means on samples).

    The sample density falls off as ``exp(-r / core_km)``, so central cells come out smaller,
    as sub-districts of a dense city centre do (Du, Faber & Gunzburger 1999, SIAM Review).
    """
    minx, miny, maxx, maxy = boundary.bounds
    m = max(40 * n, 2000)
    pts = np.empty((0, 2))
    while len(pts) < m:
        cand = rng.uniform([minx, miny], [maxx, maxy], size=(2 * m, 2))
        r = np.hypot(cand[:, 0], cand[:, 1])
        keep = rng.uniform(size=len(cand)) < 0.25 + 0.75 * np.exp(-r / core_km)
        cand = cand[keep & shapely.contains_xy(boundary, cand[:, 0], cand[:, 1])]
        pts = np.vstack([pts, cand])
    pts = pts[:m]
    centres = pts[rng.choice(m, n, replace=False)]
    for _ in range(iters):
        d2 = ((pts[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
        label = d2.argmin(1)
        counts = np.bincount(label, minlength=n)
        sums = np.stack([np.bincount(label, pts[:, k], minlength=n) for k in range(2)], 1)
        empty = counts == 0
        centres = np.where(empty[:, None], centres, sums / np.maximum(counts, 1)[:, None])
    return centres


def voronoi_cells(seeds: np.ndarray, boundary: Polygon) -> list[Polygon]:
    """Voronoi cells of ``seeds`` clipped to the (convex) boundary, in the order of ``seeds``."""
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=boundary, ordered=True)
    out = []
    for cell in cells.geoms:
        clipped = cell.intersection(boundary)
        if clipped.geom_type != "Polygon":  # pragma: no cover - convex ∩ convex is a polygon
            clipped = max(clipped.geoms, key=lambda g: g.area)
        out.append(clipped)
    return out


class PolygonSampler:
    """Uniform random points inside polygons, vectorised over many points and polygons.

    Polygons are split into triangles (constrained Delaunay); a point picks a triangle of its
    polygon with probability proportional to area, then a uniform point in it, pulled 10 %
    towards the triangle's centroid so that rounding never moves it across an edge.
    """

    def __init__(self, polygons: Sequence[Polygon]) -> None:
        tris, owner = [], []
        for i, poly in enumerate(polygons):
            for tri in shapely.constrained_delaunay_triangles(poly).geoms:
                tris.append(np.asarray(tri.exterior.coords)[:3])
                owner.append(i)
        self.tri = np.asarray(tris)
        owner_arr = np.asarray(owner)
        a, b, c = self.tri[:, 0], self.tri[:, 1], self.tri[:, 2]
        area = 0.5 * np.abs(
            (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
        )
        n = len(polygons)
        self.start = np.searchsorted(owner_arr, np.arange(n))
        self.count = np.bincount(owner_arr, minlength=n)
        cum = np.zeros(len(area))
        for i in range(n):
            s, k = self.start[i], self.count[i]
            w = np.cumsum(area[s : s + k])
            cum[s : s + k] = w / w[-1]
            cum[s + k - 1] = 1.0
        self._search = cum + np.repeat(np.arange(n), self.count)

    def sample(self, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One uniform point (km) inside polygon ``region[i]`` for each i; shape (n, 2)."""
        region = np.asarray(region, dtype=np.int64)
        n = len(region)
        u = rng.uniform(size=(n, 3))
        # The triangle: first in the polygon's block whose cumulative area exceeds u.
        k = np.searchsorted(self._search, region + u[:, 0], side="right")
        k = np.clip(k, self.start[region], self.start[region] + self.count[region] - 1)
        s, t = u[:, 1], u[:, 2]
        flip = s + t > 1
        s, t = np.where(flip, 1 - s, s), np.where(flip, 1 - t, t)
        a, b, c = self.tri[k, 0], self.tri[k, 1], self.tri[k, 2]
        p = a + s[:, None] * (b - a) + t[:, None] * (c - a)
        centre = (a + b + c) / 3.0
        return centre + 0.9 * (p - centre)


def locate(polygons: Sequence[Polygon], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the polygon containing each point, -1 when none does."""
    out = np.full(len(x), -1, dtype=np.int64)
    for i, poly in enumerate(polygons):
        hit = (out < 0) & shapely.contains_xy(poly, x, y)
        out[hit] = i
    return out


def row_cdf(weights: np.ndarray) -> np.ndarray:
    """Row-wise cumulative distribution of non-negative ``weights`` (rows need a positive sum),
    offset by the row index so that :func:`choose_in_rows` can search all rows at once."""
    cum = np.cumsum(weights, axis=1)
    cum = cum / cum[:, -1:]
    cum[:, -1] = 1.0
    return (cum + np.arange(len(weights))[:, None]).ravel()


def choose_in_rows(
    flat_cdf: np.ndarray, n_cols: int, rows: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Column drawn from the distribution of ``rows[i]`` with uniform ``u[i]``, vectorised."""
    rows = np.asarray(rows, dtype=np.int64)
    idx = np.searchsorted(flat_cdf, rows + u, side="right") - rows * n_cols
    return np.clip(idx, 0, n_cols - 1)
