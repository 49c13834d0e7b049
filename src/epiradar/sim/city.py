"""A synthetic city: sub-districts tiling the city limits, hospitals, places and mobility."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Polygon

from epiradar.model import Facility, MobilityFlow, Place, Region
from epiradar.sim import names
from epiradar.sim.geo import PolygonSampler, Projection, city_boundary, cvt_seeds, voronoi_cells

CENTRE_LAT = 31.23
CENTRE_LON = 121.47
RADIUS_X_KM = 21.0
RADIUS_Y_KM = 18.0
CORE_KM = 8.0  # e-folding distance of the population density from the centre

PLACE_KINDS: tuple[str, ...] = (
    "restaurant",
    "market",
    "supermarket",
    "school",
    "office",
    "mall",
    "park",
    "gym",
    "cinema",
)
PLACE_KIND_SHARE = np.array([0.32, 0.10, 0.10, 0.13, 0.11, 0.05, 0.08, 0.06, 0.05])
# How many people an average place of each kind draws (relative); a station draws the most.
KIND_DRAW: dict[str, float] = {
    "restaurant": 1.0,
    "market": 3.0,
    "supermarket": 2.0,
    "school": 1.5,
    "office": 1.5,
    "mall": 3.0,
    "park": 1.5,
    "gym": 0.7,
    "cinema": 1.0,
    "station": 4.0,
}
COMMUTE_SHARE = 0.15  # share of residents travelling to another sub-district on a day


@dataclass
class City:
    """Regions (sub-districts), fever-clinic facilities, places and daily mobility flows."""

    regions: list[Region]
    facilities: list[Facility]
    places: list[Place]
    mobility: list[MobilityFlow]
    name: str = names.CITY_NAME
    districts: dict[str, str] = field(default_factory=dict)  # parent_id -> district name
    place_popularity: dict[str, float] = field(default_factory=dict)  # place id -> draw


def generate_city(
    seed: int,
    *,
    n_regions: int = 40,
    n_facilities: int | None = None,
    n_places: int | None = None,
) -> City:
    """A deterministic synthetic city of ``n_regions`` sub-districts around 31.23 N, 121.47 E.

    Sub-districts are the cells of a density-adapted centroidal Voronoi tessellation clipped to
    a convex city boundary about 42 x 36 km, so they tile the city without overlap and are
    smaller (and denser) in the centre. Mobility follows a gravity model.
    """
    if n_regions < 2:
        raise ValueError("n_regions must be at least 2")
    n_fac = n_facilities if n_facilities is not None else max(4, round(0.4 * n_regions))
    n_pl = n_places if n_places is not None else 12 * n_regions
    proj = Projection(CENTRE_LAT, CENTRE_LON)
    rng = np.random.default_rng([seed, 1])
    boundary = city_boundary(rng, RADIUS_X_KM, RADIUS_Y_KM)
    seeds = cvt_seeds(rng, boundary, n_regions, CORE_KM)
    band = np.sqrt(boundary.area / n_regions)
    order = np.lexsort((seeds[:, 0], -np.round(seeds[:, 1] / band)))  # north to south, west to east
    seeds = seeds[order]
    cells = voronoi_cells(seeds, boundary)
    centroids = np.array([[c.centroid.x, c.centroid.y] for c in cells])

    populations = _populations(rng, cells, centroids)
    district_of, districts = _districts(rng, centroids, max(2, round(n_regions / 8)))
    area_names = names.unique_pairs(names.AREA_NAMES, n_regions, rng)
    region_ids = [f"R{i + 1:03d}" for i in range(n_regions)]
    regions = [
        Region(
            id=region_ids[i],
            name=names.area_label(*area_names[i]),
            population=int(populations[i]),
            parent_id=district_of[i],
            parent_name=districts.get(district_of[i]),
            geometry=proj.polygon_to_geojson(cells[i]),
        )
        for i in range(n_regions)
    ]
    polys = [proj.geojson_to_polygon(r.geometry) for r in regions]  # as written, after rounding
    sampler = PolygonSampler(polys)
    labels = [py for py, _ in area_names]
    facilities = _facilities(
        rng, proj, sampler, polys, region_ids, labels, populations, centroids, n_fac
    )
    places, popularity = _places(
        rng, proj, sampler, polys, region_ids, labels, populations, centroids, n_pl
    )
    mobility = _mobility(region_ids, populations, centroids)
    return City(
        regions, facilities, places, mobility, districts=districts, place_popularity=popularity
    )


def _populations(
    rng: np.random.Generator, cells: list[Polygon], centroids: np.ndarray
) -> np.ndarray:
    area = np.array([c.area for c in cells])
    r = np.hypot(centroids[:, 0], centroids[:, 1])
    density = 24_000.0 * np.exp(-r / CORE_KM) * rng.lognormal(0.0, 0.25, len(cells))
    return np.round(np.clip(area * density, 30_000, 500_000), -1).astype(np.int64)


def _districts(
    rng: np.random.Generator, centroids: np.ndarray, k: int
) -> tuple[list[str], dict[str, str]]:
    centres = centroids[rng.choice(len(centroids), k, replace=False)]
    for _ in range(20):
        label = ((centroids[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        for j in range(k):
            if (label == j).any():
                centres[j] = centroids[label == j].mean(0)
    used = list(dict.fromkeys(label.tolist()))  # first appearance order = region order
    ids = {old: f"D{new + 1:02d}" for new, old in enumerate(used)}
    pool = names.unique_pairs(names.DISTRICT_NAMES, len(used), rng)
    districts = {
        ids[old]: f"{pool[new][0]} District ({pool[new][1]}区)" for new, old in enumerate(used)
    }
    return [ids[j] for j in label.tolist()], districts


def _points_in(
    rng: np.random.Generator,
    proj: Projection,
    sampler: PolygonSampler,
    polys: list[Polygon],
    region: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Rounded lon/lat points strictly inside their regions (resampling the rare misses)."""
    lon = np.empty(len(region))
    lat = np.empty(len(region))
    todo = np.arange(len(region))
    while len(todo):
        xy = sampler.sample(region[todo], rng)
        lo, la = proj.to_lonlat(xy[:, 0], xy[:, 1])
        lon[todo], lat[todo] = np.round(lo, 6), np.round(la, 6)
        x, y = proj.to_xy(lon[todo], lat[todo])
        inside = np.array(
            [
                shapely.contains_xy(polys[r], xi, yi)
                for r, xi, yi in zip(region[todo], x, y, strict=True)
            ]
        )
        todo = todo[~inside]
    return lon, lat


def _facilities(
    rng: np.random.Generator,
    proj: Projection,
    sampler: PolygonSampler,
    polys: list[Polygon],
    region_ids: list[str],
    labels: list[str],
    pop: np.ndarray,
    centroids: np.ndarray,
    n: int,
) -> list[Facility]:
    r = np.hypot(centroids[:, 0], centroids[:, 1])
    w = pop * np.exp(-r / (2 * CORE_KM))
    region = rng.choice(len(pop), n, p=w / w.sum())
    lon, lat = _points_in(rng, proj, sampler, polys, region)
    capacity = np.round(np.clip(rng.lognormal(np.log(700), 0.6, n), 100, 3000), -1).astype(int)
    fever = rng.uniform(size=n) < 0.85
    fever[np.argsort(-capacity, kind="stable")[: min(3, n)]] = True
    out = []
    for i in range(n):
        if i < len(names.HOSPITAL_STEMS):
            name = names.HOSPITAL_STEMS[i]
        else:
            name = f"{labels[region[i]]} Community Health Centre {i + 1}"
        out.append(
            Facility(
                id=f"H{i + 1:02d}",
                name=name,
                region_id=region_ids[region[i]],
                lat=float(lat[i]),
                lon=float(lon[i]),
                fever_clinic=bool(fever[i]),
                capacity=int(capacity[i]),
            )
        )
    return out


def _places(
    rng: np.random.Generator,
    proj: Projection,
    sampler: PolygonSampler,
    polys: list[Polygon],
    region_ids: list[str],
    labels: list[str],
    pop: np.ndarray,
    centroids: np.ndarray,
    n: int,
) -> tuple[list[Place], dict[str, float]]:
    n_reg = len(pop)
    base = min(3, n // n_reg)
    w = pop.astype(float) ** 0.8
    per_region = base + rng.multinomial(n - base * n_reg, w / w.sum())
    region = np.repeat(np.arange(n_reg), per_region)
    kinds = np.array(PLACE_KINDS)[rng.choice(len(PLACE_KINDS), n, p=PLACE_KIND_SHARE)]
    # The railway station (entry point of travellers) lies in a mid-ring sub-district.
    angle = rng.uniform(0, 2 * np.pi)
    target = 0.45 * np.array([RADIUS_X_KM * np.cos(angle), RADIUS_Y_KM * np.sin(angle)])
    order = np.argsort(((centroids - target) ** 2).sum(1))
    station_region = next(int(i) for i in order if per_region[i] > 0)
    kinds[np.flatnonzero(region == station_region)[0]] = "station"
    lon, lat = _points_in(rng, proj, sampler, polys, region)
    draw = rng.lognormal(0.0, 0.6, n) * np.array([KIND_DRAW[k] for k in kinds])
    places, popularity = [], {}
    for i in range(n):
        pid = f"P{i + 1:04d}"
        kind = str(kinds[i])
        places.append(
            Place(
                id=pid,
                name=names.place_name(kind, labels[region[i]], rng),
                kind=kind,
                region_id=region_ids[region[i]],
                lat=float(lat[i]),
                lon=float(lon[i]),
            )
        )
        popularity[pid] = round(float(draw[i]), 4)
    return places, popularity


def _mobility(region_ids: list[str], pop: np.ndarray, centroids: np.ndarray) -> list[MobilityFlow]:
    """Gravity model ``T_ij ∝ P_i P_j^0.8 / (d_ij + 2 km)^2`` scaled to the commuting share
    (Zipf 1946; Erlander & Stewart 1990), keeping flows of at least 50 people a day."""
    d = np.sqrt(((centroids[:, None] - centroids[None]) ** 2).sum(-1))
    p = pop.astype(float)
    raw = p[:, None] * p[None, :] ** 0.8 / (d + 2.0) ** 2
    np.fill_diagonal(raw, 0.0)
    flow = raw * (COMMUTE_SHARE * p.sum() / raw.sum())
    out = []
    for i, j in zip(*np.nonzero(flow >= 50.0), strict=True):
        out.append(
            MobilityFlow(
                origin=region_ids[i], destination=region_ids[j], flow=round(float(flow[i, j]), 1)
            )
        )
    return out
