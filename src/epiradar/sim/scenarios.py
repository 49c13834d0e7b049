"""Scenarios: a baseline history of fever-clinic visits with an optional hidden outbreak."""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from epiradar.model import Syndrome
from epiradar.sim import clinical as cl
from epiradar.sim import outbreaks as ob
from epiradar.sim.baseline import baseline_visits
from epiradar.sim.city import City, generate_city
from epiradar.sim.layout import CityLayout
from epiradar.sim.visits import P_ONSET_MISSING, VisitBatch, assemble, synthesize

SCENARIOS: tuple[str, ...] = ("baseline", "point-source", "person-to-person", "imported")
DEFAULT_SYNDROME: dict[str, Syndrome] = {
    "point-source": Syndrome.GASTROINTESTINAL,
    "person-to-person": Syndrome.ILI,
    # A novel respiratory pathogen brought in by travellers: rare at baseline, so a small
    # cluster stands out, as with MERS-CoV or avian influenza importations.
    "imported": Syndrome.SEVERE_RESPIRATORY,
}
OUTBREAK_KEY_BASE = 1 << 40  # patient keys of outbreak cases, apart from background patients


@dataclass
class Simulation:
    """A synthetic city, its visit table (canonical columns, sorted by time) and the truth."""

    city: City
    visits: pd.DataFrame
    truth: dict[str, Any]


def daily_visits_for(rows: int, days: int = 730) -> float:
    """The ``daily_visits`` that yields about ``rows`` background visits over ``days`` days."""
    return rows / days


def simulate(
    scenario: str,
    *,
    seed: int = 0,
    days: int = 730,
    end_date: dt.date | None = None,
    n_regions: int = 40,
    daily_visits: float = 500.0,
    outbreak_size: int = 80,
    outbreak_start: dt.date | None = None,
    syndrome: str | None = None,
    recall: float = 0.7,
    city: City | None = None,
) -> Simulation:
    """Simulate ``days`` days of visits ending on ``end_date`` (default yesterday) with the
    outbreak of ``scenario`` starting on ``outbreak_start`` (default 14 days before the end).

    ``outbreak_size`` is exact for a point source (unless the outbreak runs past ``end_date``)
    and a cap for the branching scenarios. The same arguments give the same output.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    if days < 1:
        raise ValueError("days must be positive")
    if not 0.0 <= recall <= 1.0:
        raise ValueError("recall must be between 0 and 1")
    end = end_date or dt.date.today() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    city = city or generate_city(seed, n_regions=n_regions)
    layout = CityLayout(city)
    batch = baseline_visits(layout, start, days, daily_visits, np.random.default_rng([seed, 10]))

    outbreak: ob.Outbreak | None = None
    syn: Syndrome | None = None
    first = None
    if scenario != "baseline":
        syn = Syndrome(syndrome) if syndrome else DEFAULT_SYNDROME[scenario]
        first = outbreak_start or end - dt.timedelta(days=14)
        if not start <= first <= end:
            raise ValueError(f"outbreak_start {first} is outside the simulated {start}..{end}")
        rng = np.random.default_rng([seed, 20, zlib.crc32(scenario.encode())])
        outbreak = _outbreak(
            layout,
            rng,
            scenario,
            (first - start).days,
            days - 1,
            outbreak_size,
            cl.KEYS.index(str(syn)),
            recall,
        )
        cases = _case_visits(layout, rng, outbreak, len(batch))
        batch = VisitBatch.concat([batch, cases])

    visits, order = assemble(batch, layout, start)
    truth = _truth(
        scenario,
        seed,
        start,
        end,
        visits,
        batch.case[order],
        batch.region[order],
        outbreak,
        syn,
        first,
        outbreak_size,
        layout,
    )
    return Simulation(city=city, visits=visits, truth=truth)


def _outbreak(
    layout: CityLayout,
    rng: np.random.Generator,
    scenario: str,
    start_day: int,
    last_day: int,
    size: int,
    syndrome: int,
    recall: float,
) -> ob.Outbreak:
    kw = {"start_day": start_day, "last_day": last_day, "size": size, "syndrome": syndrome}
    if scenario == "point-source":
        return ob.point_source(layout, rng, recall=recall, **kw)
    if scenario == "person-to-person":
        return ob.person_to_person(layout, rng, **kw)
    return ob.imported(layout, rng, **kw)


def _case_visits(
    layout: CityLayout, rng: np.random.Generator, outbreak: ob.Outbreak, key_offset: int
) -> VisitBatch:
    """Visits of the outbreak cases: clinical details of the outbreak syndrome, the outbreak
    exposure in the first exposure slot, and contacts (infector, household co-cases)."""
    n = len(outbreak)
    keys = OUTBREAK_KEY_BASE + key_offset + np.arange(n, dtype=np.int64)
    b = synthesize(
        layout,
        rng,
        day=outbreak.visit_day,
        syndrome=np.full(n, outbreak.syndrome),
        region=outbreak.region,
        home=outbreak.home,
        patient=keys,
    )
    b.onset = np.where(rng.uniform(size=n) < P_ONSET_MISSING, ob.MISSING, outbreak.onset)
    b.exp_place[:, 0] = outbreak.exposure_place
    b.exp_day[:, 0] = np.where(outbreak.exposure_place >= 0, outbreak.exposure_day, ob.MISSING)
    named = outbreak.exposure_place[:, None]
    if outbreak.source_place >= 0:
        named = np.full((n, 1), outbreak.source_place)
    background = b.exp_place[:, 1:]
    background[background == named] = -1
    b.case = np.arange(n, dtype=np.int64)
    if outbreak.syndrome in cl.OUTBREAK_LABS:
        p, pool = cl.OUTBREAK_LABS[outbreak.syndrome]
        has = rng.uniform(size=n) < p
        lab = cl.outbreak_lab_offset(outbreak.syndrome) + rng.integers(0, len(pool), n)
        b.lab = np.where(has, lab, b.lab)
    for i in range(n):
        contacts: list[int] = []
        parent = int(outbreak.infector[i])
        if parent >= 0 and rng.uniform() < ob.P_CONTACT_INFECTOR:
            contacts.append(int(keys[parent]))
        same = np.flatnonzero(
            (outbreak.household == outbreak.household[i])
            & (outbreak.onset <= outbreak.visit_day[i])
        )
        for j in same.tolist():
            if j != i and j != parent and rng.uniform() < ob.P_CONTACT_HOUSEHOLD:
                contacts.append(int(keys[j]))
        if contacts:
            b.contacts[i] = contacts
    return b


def _truth(
    scenario: str,
    seed: int,
    start: dt.date,
    end: dt.date,
    visits: pd.DataFrame,
    case: np.ndarray,
    region: np.ndarray,
    outbreak: ob.Outbreak | None,
    syn: Syndrome | None,
    first: dt.date | None,
    size: int,
    layout: CityLayout,
) -> dict[str, Any]:
    truth: dict[str, Any] = {
        "scenario": scenario,
        "seed": seed,
        "syndrome": str(syn) if syn else None,
        "source": None,
        "start_date": first.isoformat() if first else None,
        "end_date": end.isoformat(),
        "first_date": start.isoformat(),
        "outbreak_size": size if outbreak is not None else 0,
        "n_cases": 0,
        "affected_regions": [],
        "case_visit_ids": [],
        "transmission": [],
    }
    if outbreak is None:
        return truth
    rows = np.flatnonzero(case >= 0)
    visit_of_case = np.empty(len(outbreak), dtype=object)
    visit_of_case[case[rows]] = visits["visit_id"].to_numpy()[rows]
    source = dict(outbreak.source)
    if source["kind"] == "patient":
        roots = np.flatnonzero(outbreak.infector < 0)
        source["id"] = str(visit_of_case[roots[0]]) if len(roots) else ""
    truth["source"] = source
    truth["n_cases"] = len(outbreak)
    truth["affected_regions"] = sorted({str(r) for r in layout.region_ids[region[rows]]})
    truth["case_visit_ids"] = [str(v) for v in visits["visit_id"].to_numpy()[rows]]
    pairs = [
        (int(outbreak.infector[c]), int(c))
        for c in case[rows].tolist()
        if outbreak.infector[c] >= 0
    ]
    truth["transmission"] = [[str(visit_of_case[a]), str(visit_of_case[b])] for a, b in pairs]
    return truth
