"""Point-in-region lookup of residence coordinates (shapely 2 STRtree, vectorised)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import shape

from epiradar.model import Region


class RegionLocator:
    """Finds the region whose boundary covers each (lon, lat) point."""

    def __init__(self, regions: Sequence[Region]) -> None:
        located = [r for r in regions if r.geometry]
        self._ids = np.array([r.id for r in located], dtype=object)
        self._tree = shapely.STRtree([shape(r.geometry) for r in located]) if located else None

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Region id per point (object array), ``None`` outside every region or for NaN input.

        A point on a shared border goes to the first of its regions in the given order.
        """
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        out = np.full(len(lon), None, dtype=object)
        valid = np.flatnonzero(~(np.isnan(lon) | np.isnan(lat)))
        if self._tree is None or not len(valid):
            return out
        points = shapely.points(lon[valid], lat[valid])
        point_idx, region_idx = self._tree.query(points, predicate="intersects")
        order = np.lexsort((region_idx, point_idx))
        point_idx, region_idx = point_idx[order], region_idx[order]
        first = np.unique(point_idx, return_index=True)[1]
        out[valid[point_idx[first]]] = self._ids[region_idx[first]]
        return out
