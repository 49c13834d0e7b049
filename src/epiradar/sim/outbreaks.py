"""Outbreak models laid over the baseline: a point source, person-to-person spread (a branching
process, Lloyd-Smith et al. 2005, Nature 438:355) and importation through a travel hub."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from epiradar.sim import clinical as cl
from epiradar.sim.layout import CityLayout

MISSING = np.iinfo(np.int64).min
SOURCE_KINDS = ("restaurant", "market")
P_EXPOSURE_DAY = np.array([0.35, 0.30, 0.20, 0.15])  # contamination lasts 4 days
P_VISIT_DELAY = np.array([0.30, 0.40, 0.20, 0.10])  # clinic visit 0-3 days after onset
HOME_KERNEL_KM = 2.0  # mean distance of point-source cases' homes from the source
P_EXPOSURE_DATE_RECALLED = 0.85
P_CONTACT_INFECTOR = 0.85
P_CONTACT_HOUSEHOLD = 0.8


@dataclass(frozen=True)
class Spread:
    """Person-to-person transmission: offspring ~ NegBin(mean R, dispersion k); generation
    interval ~ Gamma(mean, sd) days; where infectees live (household, community, mobility)."""

    r0: float
    dispersion: float
    gi_mean: float
    gi_sd: float
    p_household: float
    p_community: float  # the rest travel along mobility flows
    community_km: float = 1.5


ILI_SPREAD = Spread(
    r0=2.0, dispersion=2.0, gi_mean=3.0, gi_sd=1.5, p_household=0.35, p_community=0.35
)
IMPORTED_SPREAD = Spread(
    r0=1.8, dispersion=1.5, gi_mean=4.0, gi_sd=2.0, p_household=0.30, p_community=0.20
)


@dataclass
class Outbreak:
    """Observed outbreak cases (those whose clinic visit falls within the simulated days)."""

    syndrome: int
    onset: np.ndarray  # day index
    visit_day: np.ndarray
    home: np.ndarray  # (n, 2) km
    region: np.ndarray
    infector: np.ndarray  # case index, -1 for index / imported / point-source cases
    household: np.ndarray
    exposure_place: np.ndarray  # place index of the reported outbreak exposure, -1: none
    exposure_day: np.ndarray  # MISSING: not recalled
    source: dict[str, str]
    source_place: int = -1  # a point source: cases name it only when they recall the exposure

    def __len__(self) -> int:
        return len(self.onset)


def homes_near(
    layout: CityLayout,
    rng: np.random.Generator,
    centre: np.ndarray,
    n: int,
    mean_km: float,
    region: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` homes at gamma-distributed distances around ``centre`` (inside the city, or inside
    ``region``), thinned by the square root of population density."""
    xy_out, reg_out = np.empty((0, 2)), np.empty(0, dtype=np.int64)
    weight = np.sqrt(layout.density / layout.density.max())
    for _ in range(50):
        if len(xy_out) >= n:
            break
        m = 4 * (n - len(xy_out)) + 16
        r = rng.gamma(2.0, mean_km / 2.0, m)
        theta = rng.uniform(0, 2 * np.pi, m)
        xy = centre + np.column_stack([r * np.cos(theta), r * np.sin(theta)])
        reg = layout.locate(xy)
        ok = (reg >= 0) if region is None else (reg == region)
        ok &= rng.uniform(size=m) < weight[np.maximum(reg, 0)]
        xy_out, reg_out = np.vstack([xy_out, xy[ok]]), np.concatenate([reg_out, reg[ok]])
    if len(xy_out) < n:  # a remote centre: fall back on uniform homes in the nearest region
        fallback = region if region is not None else int(layout.locate(centre[None])[0])
        fallback = max(fallback, 0)
        extra = np.full(n - len(xy_out), fallback)
        xy_out = np.vstack([xy_out, layout.random_homes(extra, rng)])
        reg_out = np.concatenate([reg_out, extra])
    return xy_out[:n], reg_out[:n]


def point_source(
    layout: CityLayout,
    rng: np.random.Generator,
    *,
    start_day: int,
    last_day: int,
    size: int,
    syndrome: int,
    recall: float,
) -> Outbreak:
    """``size`` cases exposed at one restaurant or market over 4 days from ``start_day``."""
    kinds = np.isin(layout.place_kind, SOURCE_KINDS)
    if not kinds.any():
        kinds = np.ones(layout.n_places, dtype=bool)
    if not kinds.any():
        raise ValueError("the city has no places for a point source")
    place_region = layout.locate(layout.place_xy)
    w = np.where(kinds, layout.place_draw * layout.population[np.maximum(place_region, 0)], 0.0)
    place = int(rng.choice(layout.n_places, p=w / w.sum()))

    exp_day = start_day + rng.choice(4, size, p=P_EXPOSURE_DAY)
    median, sigma = cl.INCUBATION[syndrome]
    onset_t = exp_day + rng.uniform(0.45, 0.85, size) + rng.lognormal(np.log(median), sigma, size)
    onset = np.floor(onset_t).astype(np.int64)
    visit = onset + rng.choice(4, size, p=P_VISIT_DELAY)
    home, region = homes_near(layout, rng, layout.place_xy[place], size, HOME_KERNEL_KM)
    reported = rng.uniform(size=size) < recall
    dated = rng.uniform(size=size) < P_EXPOSURE_DATE_RECALLED
    keep = visit <= last_day
    return Outbreak(
        syndrome=syndrome,
        onset=onset[keep],
        visit_day=visit[keep],
        home=home[keep],
        region=region[keep],
        infector=np.full(int(keep.sum()), -1, dtype=np.int64),
        household=np.arange(int(keep.sum()), dtype=np.int64),
        exposure_place=np.where(reported, place, -1)[keep],
        exposure_day=np.where(reported & dated, exp_day, MISSING)[keep],
        source={"kind": "place", "id": str(layout.place_ids[place])},
        source_place=place,
    )


@dataclass
class _Seed:
    onset_t: float
    home: np.ndarray
    region: int
    exposure_place: int = -1
    exposure_day: int = MISSING


def branching(
    layout: CityLayout,
    rng: np.random.Generator,
    *,
    seeds: list[_Seed],
    last_day: int,
    size: int,
    syndrome: int,
    spread: Spread,
    source: dict[str, str],
    attempts: int = 30,
) -> Outbreak:
    """A branching process from ``seeds``, processed in onset order and capped at ``size``
    infections; re-run (up to ``attempts`` times) if it dies out early, keeping the largest."""
    best: Outbreak | None = None
    wanted = min(size, max(5, size // 4))
    for _ in range(attempts):
        ob = _branch_once(layout, rng, seeds, last_day, size, syndrome, spread, source)
        if best is None or len(ob) > len(best):
            best = ob
        if len(ob) >= wanted:
            break
    assert best is not None
    return best


def _branch_once(
    layout: CityLayout,
    rng: np.random.Generator,
    seeds: list[_Seed],
    last_day: int,
    size: int,
    syndrome: int,
    spread: Spread,
    source: dict[str, str],
) -> Outbreak:
    onset_t: list[float] = []
    home: list[np.ndarray] = []
    region: list[int] = []
    infector: list[int] = []
    household: list[int] = []
    exp_place: list[int] = []
    exp_day: list[int] = []

    def add(t: float, xy: np.ndarray, reg: int, parent: int, hh: int, place: int, day: int) -> int:
        onset_t.append(t)
        home.append(xy)
        region.append(reg)
        infector.append(parent)
        household.append(len(onset_t) - 1 if hh < 0 else hh)
        exp_place.append(place)
        exp_day.append(day)
        return len(onset_t) - 1

    heap: list[tuple[float, int]] = []
    for s in seeds:
        i = add(s.onset_t, s.home, s.region, -1, -1, s.exposure_place, s.exposure_day)
        heapq.heappush(heap, (s.onset_t, i))
    shape, scale = (spread.gi_mean / spread.gi_sd) ** 2, spread.gi_sd**2 / spread.gi_mean
    while heap and len(onset_t) < size:
        t, parent = heapq.heappop(heap)
        r_eff = spread.r0 * (1.0 - 0.5 * len(onset_t) / size)
        k = spread.dispersion
        n_off = int(rng.poisson(rng.gamma(k, r_eff / k)))
        for _ in range(n_off):
            if len(onset_t) >= size:
                break
            child_t = t + max(1.0, float(rng.gamma(shape, scale)))
            if child_t >= last_day + 1:
                continue
            xy, reg, hh = _infectee_home(
                layout, rng, home[parent], region[parent], household[parent], spread
            )
            i = add(child_t, xy, reg, parent, hh, -1, MISSING)
            heapq.heappush(heap, (child_t, i))

    n = len(onset_t)
    onset = np.floor(np.array(onset_t)).astype(np.int64)
    visit = onset + rng.choice(4, n, p=P_VISIT_DELAY)
    parent_arr = np.array(infector, dtype=np.int64)
    observed = visit <= last_day
    for i in range(n):  # parents come before children: drop descendants of unseen cases
        if parent_arr[i] >= 0 and not observed[parent_arr[i]]:
            observed[i] = False
    idx = np.flatnonzero(observed)
    new = np.full(n, -1, dtype=np.int64)
    new[idx] = np.arange(len(idx))
    parent_new = np.where(parent_arr[idx] >= 0, new[np.maximum(parent_arr[idx], 0)], -1)
    return Outbreak(
        syndrome=syndrome,
        onset=onset[idx],
        visit_day=visit[idx],
        home=np.array(home).reshape(-1, 2)[idx],
        region=np.array(region, dtype=np.int64)[idx],
        infector=parent_new,
        household=np.array(household, dtype=np.int64)[idx],
        exposure_place=np.array(exp_place, dtype=np.int64)[idx],
        exposure_day=np.array(exp_day, dtype=np.int64)[idx],
        source=source,
    )


def _infectee_home(
    layout: CityLayout,
    rng: np.random.Generator,
    xy: np.ndarray,
    region: int,
    household: int,
    spread: Spread,
) -> tuple[np.ndarray, int, int]:
    """Home, region and household of someone infected by a case living at ``xy``."""
    u = rng.uniform()
    if u < spread.p_household:
        return xy, region, household
    if u >= spread.p_household + spread.p_community:
        flows = layout.mobility[region]
        if flows.sum() > 0:
            dest = int(rng.choice(layout.n_regions, p=flows / flows.sum()))
            return layout.random_homes(np.array([dest]), rng)[0], dest, -1
    for _ in range(20):  # the community: neighbours, in this or an adjacent sub-district
        r, theta = rng.gamma(2.0, spread.community_km / 2.0), rng.uniform(0, 2 * np.pi)
        cand = xy + np.array([r * np.cos(theta), r * np.sin(theta)])
        reg = int(layout.locate(cand[None])[0])
        if reg >= 0:
            return cand, reg, -1
    return xy, region, -1


def person_to_person(
    layout: CityLayout,
    rng: np.random.Generator,
    *,
    start_day: int,
    last_day: int,
    size: int,
    syndrome: int,
) -> Outbreak:
    """An index case with onset on ``start_day`` in a sub-district drawn by population."""
    region = int(rng.choice(layout.n_regions, p=layout.population / layout.population.sum()))
    home = layout.random_homes(np.array([region]), rng)[0]
    seed = _Seed(onset_t=start_day + 0.5, home=home, region=region)
    ob = branching(
        layout,
        rng,
        seeds=[seed],
        last_day=last_day,
        size=size,
        syndrome=syndrome,
        spread=ILI_SPREAD,
        source={"kind": "patient", "id": ""},  # id: the index visit, later
    )
    return ob


def imported(
    layout: CityLayout,
    rng: np.random.Generator,
    *,
    start_day: int,
    last_day: int,
    size: int,
    syndrome: int,
) -> Outbreak:
    """Travellers falling ill after arriving through the station's sub-district over a week,
    then local spread that follows mobility flows."""
    stations = np.flatnonzero(layout.place_kind == "station")
    if len(stations):
        station = int(stations[0])
        centre = layout.place_xy[station]
        entry = int(layout.locate(centre[None])[0])
    else:
        station, entry = -1, int(np.argmax(layout.mobility.sum(1) + layout.mobility.sum(0)))
        centre = layout.centroid[entry]
    n_seed = max(3, round(0.15 * size))
    offsets = np.sort(rng.choice(7, n_seed, p=np.array([7, 6, 5, 4, 3, 2, 1]) / 28.0))
    offsets[0] = 0
    homes, _ = homes_near(layout, rng, centre, n_seed, 1.5, region=entry)
    seeds = []
    for k in range(n_seed):
        onset_t = start_day + offsets[k] + rng.uniform(0.0, 1.0)
        arrival = int(np.floor(onset_t)) - int(rng.integers(1, 6))
        travel = station >= 0 and rng.uniform() < 0.6
        seeds.append(
            _Seed(
                onset_t, homes[k], entry, station if travel else -1, arrival if travel else MISSING
            )
        )
    return branching(
        layout,
        rng,
        seeds=seeds,
        last_day=last_day,
        size=size,
        syndrome=syndrome,
        spread=IMPORTED_SPREAD,
        source={"kind": "region", "id": str(layout.region_ids[entry])},
    )
