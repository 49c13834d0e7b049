"""Geometry of the city's regions: adjacency from polygons (shapely)."""

from __future__ import annotations

from collections.abc import Sequence

from shapely import STRtree
from shapely.geometry import shape

from epiradar.model import Region


def region_adjacency(regions: Sequence[Region], *, tolerance: float = 1e-7) -> dict[str, set[str]]:
    """Neighbours of each region: polygons that share a boundary (or lie within ``tolerance``)."""
    with_geometry = [r for r in regions if r.geometry]
    neighbours: dict[str, set[str]] = {r.id: set() for r in regions}
    if not with_geometry:
        return neighbours
    geoms = [shape(r.geometry).buffer(tolerance) for r in with_geometry]
    tree = STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i != j:
            neighbours[with_geometry[i].id].add(with_geometry[j].id)
    return neighbours
