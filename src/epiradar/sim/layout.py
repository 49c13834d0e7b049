"""Numeric view of a :class:`City` for vectorised simulation: km coordinates, samplers and
precomputed choice kernels (which clinic, which places) on a 1 km grid of home cells."""

from __future__ import annotations

import numpy as np

from epiradar.sim.city import KIND_DRAW, City
from epiradar.sim.geo import PolygonSampler, Projection, choose_in_rows, locate, row_cdf

CELL_KM = 1.0
CLINIC_DECAY_KM = 4.0  # distance decay of the choice of fever clinic
PLACE_DECAY_KM = 2.5  # distance decay of the places people frequent
ADULT, CHILD = 0, 1
# Kind factors by age group: children go to schools, adults to offices.
_KIND_FACTOR = {
    ADULT: {"school": 0.15, "office": 1.5},
    CHILD: {"school": 6.0, "office": 0.0, "gym": 0.3},
}


class CityLayout:
    """Arrays derived from a :class:`City`, shared by the baseline and the outbreak models."""

    def __init__(self, city: City) -> None:
        self.city = city
        geoms = [r.geometry for r in city.regions]
        if any(g is None for g in geoms):
            raise ValueError("every region needs a geometry to simulate visits")
        lons, lats = [], []
        for g in geoms:
            ring = np.asarray(
                g["coordinates"][0] if g["type"] == "Polygon" else g["coordinates"][0][0]
            )
            lons.append(ring[:, 0])
            lats.append(ring[:, 1])
        lon_all, lat_all = np.concatenate(lons), np.concatenate(lats)
        self.proj = Projection(
            float((lat_all.min() + lat_all.max()) / 2), float((lon_all.min() + lon_all.max()) / 2)
        )
        self.polygons = [self.proj.geojson_to_polygon(g) for g in geoms]
        self.region_ids = np.array([r.id for r in city.regions], dtype=np.dtypes.StringDType())
        self.region_index = {r.id: i for i, r in enumerate(city.regions)}
        self.population = np.array([r.population for r in city.regions], dtype=float)
        self.area = np.array([p.area for p in self.polygons])
        self.density = self.population / self.area
        self.centroid = np.array([[p.centroid.x, p.centroid.y] for p in self.polygons])
        self.sampler = PolygonSampler(self.polygons)
        self.n_regions = len(city.regions)
        self._grid()
        self._clinics()
        self._places()
        self._mobility()

    # -- geometry ---------------------------------------------------------------------------
    def _grid(self) -> None:
        xy = np.vstack([np.asarray(p.exterior.coords) for p in self.polygons])
        self.x0, self.y0 = xy.min(0) - CELL_KM
        x1, y1 = xy.max(0) + CELL_KM
        self.nx = int(np.ceil((x1 - self.x0) / CELL_KM))
        self.ny = int(np.ceil((y1 - self.y0) / CELL_KM))
        ix, iy = np.meshgrid(np.arange(self.nx), np.arange(self.ny), indexing="ij")
        self.cell_xy = np.column_stack(
            [self.x0 + (ix.ravel() + 0.5) * CELL_KM, self.y0 + (iy.ravel() + 0.5) * CELL_KM]
        )

    def cell_of(self, xy: np.ndarray) -> np.ndarray:
        ix = np.clip(((xy[:, 0] - self.x0) / CELL_KM).astype(np.int64), 0, self.nx - 1)
        iy = np.clip(((xy[:, 1] - self.y0) / CELL_KM).astype(np.int64), 0, self.ny - 1)
        return ix * self.ny + iy

    def locate(self, xy: np.ndarray) -> np.ndarray:
        """Region index of each km point, -1 outside the city."""
        return locate(self.polygons, xy[:, 0], xy[:, 1])

    def to_lonlat(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.proj.to_lonlat(xy[:, 0], xy[:, 1])

    def _distances(self, xy: np.ndarray) -> np.ndarray:
        return np.sqrt(((self.cell_xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))

    # -- choice kernels ---------------------------------------------------------------------
    def _clinics(self) -> None:
        fac = [
            f
            for f in self.city.facilities
            if f.fever_clinic and f.lat is not None and f.lon is not None
        ]
        if not fac:
            fac = [f for f in self.city.facilities if f.lat is not None and f.lon is not None]
        if not fac:
            raise ValueError("the city has no facility with coordinates")
        self.facility_ids = np.array([f.id for f in fac], dtype=np.dtypes.StringDType())
        x, y = self.proj.to_xy(np.array([f.lon for f in fac]), np.array([f.lat for f in fac]))
        cap = np.array([f.capacity or 500 for f in fac], dtype=float)
        w = cap[None, :] * np.exp(-self._distances(np.column_stack([x, y])) / CLINIC_DECAY_KM)
        self._clinic_cdf = row_cdf(w + 1e-300)
        self.n_clinics = len(fac)

    def _places(self) -> None:
        places = [p for p in self.city.places if p.lat is not None and p.lon is not None]
        self.place_ids = np.array([p.id for p in places], dtype=np.dtypes.StringDType())
        self.place_index = {p.id: i for i, p in enumerate(places)}
        self.place_kind = np.array([p.kind for p in places])
        x, y = self.proj.to_xy(np.array([p.lon for p in places]), np.array([p.lat for p in places]))
        self.place_xy = np.column_stack([x, y])
        pop = self.city.place_popularity
        self.place_draw = np.array([pop.get(p.id, KIND_DRAW.get(p.kind, 1.0)) for p in places])
        self.n_places = len(places)
        if not places:
            self._place_cdf = {}
            return
        decay = np.exp(-self._distances(self.place_xy) / PLACE_DECAY_KM)
        self._place_cdf = {}
        for group, factors in _KIND_FACTOR.items():
            f = np.array([factors.get(k, 1.0) for k in self.place_kind])
            self._place_cdf[group] = row_cdf(decay * (self.place_draw * f)[None, :] + 1e-300)

    def _mobility(self) -> None:
        m = np.zeros((self.n_regions, self.n_regions))
        for f in self.city.mobility:
            i, j = self.region_index.get(f.origin), self.region_index.get(f.destination)
            if i is not None and j is not None:
                m[i, j] += f.flow
        self.mobility = m

    def choose_clinic(self, xy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Fever clinic of each home, by gravity (capacity x distance decay)."""
        return choose_in_rows(
            self._clinic_cdf, self.n_clinics, self.cell_of(xy), rng.uniform(size=len(xy))
        )

    def choose_places(
        self, xy: np.ndarray, child: np.ndarray, k: int, rng: np.random.Generator
    ) -> np.ndarray:
        """``k`` places per home (n, k), by popularity x distance decay; -1 if the city has none."""
        n = len(xy)
        if not self.n_places:
            return np.full((n, k), -1, dtype=np.int64)
        cell = self.cell_of(xy)
        out = np.empty((n, k), dtype=np.int64)
        u = rng.uniform(size=(n, k))
        for group in (ADULT, CHILD):
            sel = np.flatnonzero(child == bool(group))
            for j in range(k):
                out[sel, j] = choose_in_rows(
                    self._place_cdf[group], self.n_places, cell[sel], u[sel, j]
                )
        return out

    def random_homes(self, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Uniform home locations (km) inside the given regions."""
        return self.sampler.sample(region, rng)
