"""Background fever-clinic visits: counts per day x region x syndrome, then the visits."""

from __future__ import annotations

import datetime as dt

import numpy as np

from epiradar.sim import clinical as cl
from epiradar.sim.layout import CityLayout
from epiradar.sim.visits import VisitBatch, synthesize

REGION_PROPENSITY_SD = 0.15  # lasting differences in clinic use between sub-districts
DAY_NOISE_SIZE = 150.0  # city-wide day-to-day variation (weather, events), gamma shape
P_REPEAT = 0.08  # share of visits by a patient seen shortly before
REPEAT_WINDOW = 200  # repeat patients are looked for among this many earlier visits nearby


def expected_counts(
    layout: CityLayout, start: dt.date, days: int, daily_visits: float, rng: np.random.Generator
) -> np.ndarray:
    """Expected visits (days, regions, syndromes): population x syndrome share x season x
    day of week x a shared daily factor."""
    dates = np.datetime64(start, "D") + np.arange(days)
    share = layout.population * rng.lognormal(0.0, REGION_PROPENSITY_SD, layout.n_regions)
    share = share / share.sum()
    season = cl.seasonality(dates, rng)
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    day_factor = cl.DOW[weekday] * rng.gamma(DAY_NOISE_SIZE, 1.0 / DAY_NOISE_SIZE, days)
    return (
        daily_visits
        * day_factor[:, None, None]
        * share[None, :, None]
        * (cl.BASE_SHARE[None, :] * season)[:, None, :]
    )


def sample_counts(mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Negative-binomial counts (gamma-Poisson mixture, size per syndrome) around ``mean``."""
    size = cl.NB_SIZE[None, None, :]
    return rng.poisson(mean * rng.gamma(size, 1.0 / size, mean.shape))


def baseline_visits(
    layout: CityLayout, start: dt.date, days: int, daily_visits: float, rng: np.random.Generator
) -> VisitBatch:
    """All background visits of ``days`` days from ``start``, in no particular order."""
    counts = sample_counts(expected_counts(layout, start, days, daily_visits, rng), rng)
    cell = np.repeat(np.arange(counts.size), counts.ravel())
    day, region, syndrome = np.unravel_index(cell, counts.shape)
    batch = synthesize(layout, rng, day=day, syndrome=syndrome, region=region)
    _repeat_patients(batch, rng)
    return batch


def _repeat_patients(b: VisitBatch, rng: np.random.Generator) -> None:
    """Make a share of visits return visits of an earlier patient of the same sub-district."""
    n = len(b)
    if n < 2:
        return
    order = np.lexsort((b.minute, b.day, b.region))
    repeat = rng.uniform(size=n) < P_REPEAT
    src_pos = np.arange(n) - rng.integers(1, REPEAT_WINDOW + 1, n)
    pos = np.flatnonzero(repeat & (src_pos >= 0))
    i, j = order[pos], order[src_pos[pos]]
    ok = (b.region[i] == b.region[j]) & (b.day[j] < b.day[i]) & ~repeat[order[src_pos[pos]]]
    i, j = i[ok], j[ok]
    b.patient[i] = b.patient[j]
    b.age[i] = b.age[j]
    b.sex[i] = b.sex[j]
    b.home[i] = b.home[j]
