"""Load a city folder into the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from epiradar.ingest.city import read_city
from epiradar.store import Store


@dataclass(frozen=True)
class CitySummary:
    regions: int
    facilities: int
    places: int
    mobility: int


def load_city(store: Store, directory: Path | str) -> CitySummary:
    """Read and check the city files, then replace the stored city with them."""
    city = read_city(directory)
    store.load_city(city.regions, city.facilities, city.places, city.mobility)
    return CitySummary(
        len(city.regions), len(city.facilities), len(city.places), len(city.mobility)
    )
