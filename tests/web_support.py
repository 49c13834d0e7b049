"""A small, fully known dataset in a real store for the web tests, and a live-server helper.

Twelve square regions on a 4 x 3 grid, six places, 120 days of background visits and a
gastrointestinal outbreak in two neighbouring regions among people who ate at one market.
Alerts are written as the detection service would store them, so the pages have open, closed
and city-wide alerts to show.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import uvicorn
from fastapi import FastAPI

from epiradar.config import Settings
from epiradar.model import (
    Alert,
    AlertStatus,
    Facility,
    Place,
    Region,
    Severity,
    Signal,
    Syndrome,
    mask_of,
)
from epiradar.store import Store

END = dt.date(2026, 3, 31)
DAYS = 120
START = END - dt.timedelta(days=DAYS - 1)
OUTBREAK_START = END - dt.timedelta(days=12)
OUTBREAK_END = END - dt.timedelta(days=5)
OUTBREAK_REGIONS = ["R05", "R06"]
SOURCE_PLACE = "P01"
OUTBREAK_ALERT = "A-gi-0001"
CLOSED_ALERT = "A-ili-0002"
CITY_ALERT = "A-fever-0003"
N_REGIONS = 12
LON0, LAT0, STEP = 114.00, 22.50, 0.05

COMPLAINTS = {
    Syndrome.FEVER: "fever and headache",
    Syndrome.ILI: "fever, cough and sore throat",
    Syndrome.RESPIRATORY: "cough and runny nose",
    Syndrome.GASTROINTESTINAL: "diarrhoea and vomiting",
}


@dataclass(frozen=True)
class Dataset:
    store: Store
    settings: Settings
    regions: list[Region]
    places: list[Place]


def _square(col: int, row: int) -> dict:
    x0, y0 = LON0 + col * STEP, LAT0 + row * STEP
    ring = [[x0, y0], [x0 + STEP, y0], [x0 + STEP, y0 + STEP], [x0, y0 + STEP], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def make_regions() -> list[Region]:
    return [
        Region(
            id=f"R{i + 1:02d}",
            name=f"District {chr(ord('A') + i)}",
            population=50_000 + 1_000 * i,
            geometry=_square(i % 4, i // 4),
        )
        for i in range(N_REGIONS)
    ]


def make_places() -> list[Place]:
    kinds = ["market", "restaurant", "school", "mall", "restaurant", "park"]
    out = []
    for i, kind in enumerate(kinds):
        region = OUTBREAK_REGIONS[0] if i == 0 else f"R{(i * 2) % N_REGIONS + 1:02d}"
        idx = int(region[1:]) - 1
        out.append(
            Place(
                id=f"P{i + 1:02d}",
                name=f"{kind.title()} {i + 1}" if i else "Harbour Wet Market",
                kind=kind,
                region_id=region,
                lon=LON0 + (idx % 4) * STEP + STEP / 2,
                lat=LAT0 + (idx // 4) * STEP + STEP / 2,
            )
        )
    return out


def _visit(
    i: int,
    day: dt.date,
    region: Region,
    syndromes: list[Syndrome],
    exposures: list[str],
    rng: np.random.Generator,
) -> dict:
    main = syndromes[0] if syndromes else None
    return {
        "facility_id": f"F{int(region.id[1:]) % 3 + 1}",
        "visit_id": f"V{i:06d}",
        "visit_time": f"{day.isoformat()}T{9 + i % 8:02d}:15:00",
        "patient_key": f"{(i * 2654435761) % 2**64:016x}{i:08x}",
        "age": float(rng.integers(1, 90)),
        "sex": "F" if i % 2 else "M",
        "residence_region": region.id,
        "chief_complaint": COMPLAINTS.get(main, "check-up") if main else "sprained ankle",
        "syndrome_mask": mask_of(syndromes),
        "exposures": [
            {"place_id": p, "date": (day - dt.timedelta(days=2)).isoformat()} for p in exposures
        ],
    }


def make_visits(regions: list[Region], places: list[Place], seed: int = 7) -> list[dict]:
    rng = np.random.default_rng(seed)
    background = [Syndrome.FEVER, Syndrome.ILI, Syndrome.RESPIRATORY, Syndrome.GASTROINTESTINAL]
    rows: list[dict] = []
    for d in range(DAYS):
        day = START + dt.timedelta(days=d)
        for region in regions:
            for _ in range(int(rng.poisson(4))):
                pick = int(rng.integers(0, len(background) + 1))
                syndromes = [background[pick]] if pick < len(background) else []
                exposed = (
                    [places[int(rng.integers(0, len(places)))].id] if rng.random() < 0.3 else []
                )
                rows.append(_visit(len(rows), day, region, syndromes, exposed, rng))
            if region.id in OUTBREAK_REGIONS and OUTBREAK_START <= day <= OUTBREAK_END:
                for _ in range(6):
                    rows.append(
                        _visit(
                            len(rows),
                            day,
                            region,
                            [Syndrome.GASTROINTESTINAL, Syndrome.FEVER],
                            [SOURCE_PLACE],
                            rng,
                        )
                    )
    # a few visits of unknown residence: they count for the city, not for any region
    for d in range(0, DAYS, 10):
        row = _visit(len(rows), START + dt.timedelta(days=d), regions[0], [Syndrome.FEVER], [], rng)
        row["residence_region"] = None
        rows.append(row)
    return rows


def make_alerts() -> tuple[list[Alert], list[tuple[str, Signal]]]:
    gi = Alert(
        id=OUTBREAK_ALERT,
        syndrome=Syndrome.GASTROINTESTINAL,
        region_ids=OUTBREAK_REGIONS,
        start_date=OUTBREAK_START,
        end_date=OUTBREAK_END,
        first_alarm_date=OUTBREAK_START,
        observed=130,
        expected=14.2,
        p_value=1e-9,
        severity=Severity.HIGH,
        detector="C2",
        n_signals=2,
    )
    ili_day = START + dt.timedelta(days=40)
    ili = Alert(
        id=CLOSED_ALERT,
        syndrome=Syndrome.ILI,
        region_ids=["R11"],
        start_date=ili_day,
        end_date=ili_day,
        first_alarm_date=ili_day,
        observed=7,
        expected=1.1,
        p_value=4e-4,
        severity=Severity.MEDIUM,
        detector="C1",
        status=AlertStatus.CLOSED,
    )
    city = Alert(
        id=CITY_ALERT,
        syndrome=Syndrome.FEVER,
        region_ids=[],
        start_date=OUTBREAK_START,
        end_date=OUTBREAK_START,
        first_alarm_date=OUTBREAK_START,
        observed=60,
        expected=40,
        p_value=8e-4,
        severity=Severity.LOW,
        detector="C3",
    )
    signals = [
        (
            OUTBREAK_ALERT,
            Signal(
                date=OUTBREAK_START,
                region_id=r,
                syndrome=Syndrome.GASTROINTESTINAL,
                detector="C2",
                observed=7,
                expected=1.0,
                upperbound=4.0,
                p_value=1e-6,
            ),
        )
        for r in OUTBREAK_REGIONS
    ] + [
        (
            CLOSED_ALERT,
            Signal(
                date=ili_day,
                region_id="R11",
                syndrome=Syndrome.ILI,
                detector="C1",
                observed=7,
                expected=1.1,
                upperbound=5.0,
                p_value=4e-4,
            ),
        ),
        (
            CITY_ALERT,
            Signal(
                date=OUTBREAK_START,
                region_id=None,
                syndrome=Syndrome.FEVER,
                detector="C3",
                observed=60,
                expected=40,
                upperbound=58,
                p_value=8e-4,
            ),
        ),
    ]
    return [gi, ili, city], signals


def build_dataset(directory: Path) -> Dataset:
    """A migrated SQLite store in ``directory`` holding the whole dataset."""
    settings = Settings(db=f"sqlite:///{directory / 'web.db'}", pseudonym_key="test-key")
    store = Store(settings.db)
    store.migrate()
    regions, places = fill_store(store)
    return Dataset(store=store, settings=settings, regions=regions, places=places)


def fill_store(store: Store) -> tuple[list[Region], list[Place]]:
    """Load the whole dataset into the migrated ``store`` (SQLite or PostgreSQL)."""
    regions, places = make_regions(), make_places()
    facilities = [Facility(id=f"F{i}", name=f"Clinic {i}", fever_clinic=True) for i in (1, 2, 3)]
    store.load_city(regions, facilities, places, [])
    run_id = store.start_ingest_run("visits.csv", "csv")
    inserted, _ = store.insert_visits(make_visits(regions, places), run_id)
    store.quarantine(
        [
            {
                "source": "visits.csv",
                "record": "row 17",
                "field": "visit_time",
                "reason": "not a date-time: 'yesterday'",
                "raw": "F1,V9,yesterday,,,",
                "ingest_run_id": run_id,
            },
            {
                "source": "visits.csv",
                "record": "row 18",
                "field": "age",
                "reason": "age 212 is above 130",
                "raw": "F1,V10,2026-03-01T10:00,212,,",
                "ingest_run_id": run_id,
            },
        ]
    )
    store.finish_ingest_run(run_id, inserted, 0, 2)
    store.refresh_daily_counts()
    alerts, signals = make_alerts()
    store.replace_alerts(alerts, signals, START, END)
    return regions, places


def verify_outbreak(store: Store) -> None:
    """The outbreak alert as verified and under investigation: what the public pages and the
    bulletins show (they never show an unverified signal)."""
    store.set_alert_status(OUTBREAK_ALERT, AlertStatus.INVESTIGATING)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def build_simulated(directory: Path, *, seed: int = 11) -> tuple[Dataset, dict]:
    """A simulated point-source outbreak run through the services: simulate, load the city,
    ingest, detect over the last 30 days. Returns the dataset and the simulation's truth."""
    from epiradar.service.city import load_city
    from epiradar.service.detection import run_detection
    from epiradar.service.ingest import ingest_file
    from epiradar.sim.scenarios import simulate
    from epiradar.sim.writers import write_simulation

    settings = Settings(db=f"sqlite:///{directory / 'sim.db'}", pseudonym_key="test-key")
    store = Store(settings.db)
    store.migrate()
    sim = simulate(
        "point-source",
        seed=seed,
        days=DAYS,
        end_date=END,
        n_regions=N_REGIONS,
        daily_visits=150,
        syndrome="gastrointestinal",
    )
    city_dir = directory / "city"
    write_simulation(sim, city_dir)
    load_city(store, city_dir)
    ingest_file(store, city_dir / "visits.csv", settings, progress=False)
    run_detection(store, settings, start=END - dt.timedelta(days=29), end=END)
    data = Dataset(store=store, settings=settings, regions=store.regions(), places=store.places())
    return data, sim.truth


# ---------------------------------------------------------------------------------------------
# authentication: the app refuses anonymous calls ([auth] required = true)

TEST_PASSWORD = "correct horse battery"


def authorize(client, store: Store, role: str = "administrator", name: str = "tests", **scope):
    """Give ``client`` (a TestClient) an API token of ``role``: every call then carries it."""
    from epiradar.service import auth

    _, token = auth.create_token(store, name, role, created_by="tests", **scope)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def add_user(store: Store, username: str, role: str = "administrator", **scope) -> None:
    """An account with :data:`TEST_PASSWORD`."""
    from epiradar.config_auth import AuthSettings
    from epiradar.service import auth

    auth.add_user(store, username, TEST_PASSWORD, role, settings=AuthSettings(), **scope)


def session_cookie(
    store: Store, url: str, username: str = "admin", role: str = "administrator", **scope
) -> dict:
    """A logged-in session of a new account, as a Playwright cookie for the server at ``url``."""
    from epiradar.config_auth import AuthSettings
    from epiradar.service import auth

    add_user(store, username, role, **scope)
    session_id, _ = auth.login(
        store, username, TEST_PASSWORD, addr="127.0.0.1", settings=AuthSettings()
    )
    return {"name": auth.SESSION_COOKIE, "value": session_id, "url": url}
