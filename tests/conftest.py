"""Shared fixtures. Store fixtures run on SQLite and on PostgreSQL (``EPIRADAR_TEST_PG_URL``).

Without ``EPIRADAR_TEST_PG_URL`` the PostgreSQL cases are skipped, except under ``CI`` where
they fail: CI must test both databases. Each PostgreSQL case gets its own schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from epiradar.ingest.city import City
from epiradar.model import Facility, MobilityFlow, Place, Region, Syndrome
from epiradar.store import Store

PG_URL_ENV = "EPIRADAR_TEST_PG_URL"


def _postgres_url() -> str:
    url = os.environ.get(PG_URL_ENV)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{PG_URL_ENV} is not set: CI must run the PostgreSQL tests")
    pytest.skip(
        f"PostgreSQL case: set {PG_URL_ENV}, e.g. "
        "postgresql+psycopg://epiradar:epiradar@127.0.0.1:5432/epiradar_test"
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'epiradar.db'}"
        return
    url = _postgres_url()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def empty_store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    yield store
    store.close()


@pytest.fixture
def store(empty_store: Store) -> Store:
    """A migrated, empty store."""
    empty_store.migrate()
    return empty_store


def _square(x: float, y: float) -> dict:
    ring = [[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture
def small_city() -> City:
    """Four unit-square regions R1 (0..1, 0..1), R2 (1..2, 0..1), R3 (0..1, 1..2), R4 (1..2, 1..2)."""
    regions = [
        Region(
            id=f"R{i + 1}",
            name=f"Region {i + 1}",
            population=1000 * (i + 1),
            geometry=_square(x, y),
        )
        for i, (x, y) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)])
    ]
    facilities = [
        Facility(
            id="F1",
            name="North clinic",
            region_id="R1",
            lat=0.5,
            lon=0.5,
            fever_clinic=True,
            capacity=50,
        ),
        Facility(id="F2", name="South hospital", region_id="R2", lat=0.5, lon=1.5),
    ]
    places = [
        Place(id="P1", name="Market", kind="market", region_id="R1", lat=0.2, lon=0.2),
        Place(id="P2", name="School", kind="school", region_id="R4"),
    ]
    mobility = [MobilityFlow(origin="R1", destination="R2", flow=120.5)]
    return City(regions, facilities, places, mobility)


@pytest.fixture
def city_store(store: Store, small_city: City) -> Store:
    """A migrated store holding :func:`small_city`."""
    store.load_city(
        small_city.regions, small_city.facilities, small_city.places, small_city.mobility
    )
    return store


class KeywordClassifier:
    """A tiny deterministic classifier: fever (>= 38 C or "fever"), respiratory ("cough")."""

    version = "test-keywords-1"

    def classify_many(self, complaints, diagnosis_codes, temperatures) -> np.ndarray:
        out = np.zeros(len(complaints), dtype=np.int64)
        for i, (complaint, temp) in enumerate(zip(complaints, temperatures, strict=True)):
            text_ = (complaint or "").lower()
            if temp >= 38 or "fever" in text_:
                out[i] |= Syndrome.FEVER.bit
            if "cough" in text_:
                out[i] |= Syndrome.RESPIRATORY.bit
        return out


@pytest.fixture
def keyword_classifier() -> KeywordClassifier:
    return KeywordClassifier()


@pytest.fixture
def served_db_url(tmp_path: Path, small_city: City) -> str:
    """A SQLite database file holding :func:`small_city`, for a served process."""
    url = f"sqlite:///{tmp_path / 'epiradar.db'}"
    with Store(url) as store:
        store.migrate()
        store.load_city(
            small_city.regions, small_city.facilities, small_city.places, small_city.mobility
        )
    return url


@pytest.fixture
def server(served_db_url: str, tmp_path: Path):
    """``epiradar serve`` (HTTP and MLLP) on :func:`served_db_url`, in its own process."""
    from server_support import running_server

    with running_server(served_db_url, tmp_path / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium through Playwright, one per test module (tests/browser_support.py)."""
    from playwright import sync_api

    from browser_support import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (set EPIRADAR_CHROMIUM)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
