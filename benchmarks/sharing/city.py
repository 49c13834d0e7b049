"""The database the sharing benchmarks read: a simulated city, ingested through the product.

``build(directory, n_visits)`` simulates one year (365 days ending 2026-03-31, 40 regions, a
point-source outbreak) with ``n_visits`` visits, writes it as CSV and ingests it with
``service.ingest.ingest_file`` (validation, pseudonyms, syndromes, daily counts) into SQLite,
exactly as ``epiradar load-city`` + ``epiradar ingest`` do. Authentication is off
(``AuthSettings(required=False)``) so the web benchmarks need no token.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

warnings.filterwarnings("ignore", category=DeprecationWarning)

END = dt.date(2026, 3, 31)


@dataclass
class City:
    settings: object  # epiradar.config.Settings
    store: object  # epiradar.store.Store
    directory: Path
    n_visits: int
    seconds: float


def build(directory: Path, n_visits: int, seed: int = 7) -> City:
    from sqlalchemy import func, select

    from epiradar.config import Settings
    from epiradar.config_auth import AuthSettings
    from epiradar.service.city import load_city
    from epiradar.service.ingest import ingest_file
    from epiradar.sim.scenarios import simulate
    from epiradar.sim.writers import write_simulation
    from epiradar.store import Store
    from epiradar.store.schema import visits

    directory.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        db=f"sqlite:///{directory / 'sharing.db'}",
        pseudonym_key="bench-key",
        auth=AuthSettings(required=False),
    )
    store = Store(settings.db)
    store.migrate()
    t0 = time.perf_counter()
    sim = simulate(
        "point-source",
        seed=seed,
        days=365,
        end_date=END,
        n_regions=40,
        daily_visits=n_visits / 365,
        syndrome="gastrointestinal",
    )
    write_simulation(sim, directory / "city")
    load_city(store, directory / "city")
    ingest_file(store, directory / "city" / "visits.csv", settings, progress=False)
    seconds = time.perf_counter() - t0
    with store.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(visits)).scalar_one()
    return City(settings, store, directory, int(n), seconds)
