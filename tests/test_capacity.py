"""Facility capacity: nearest-clinic routing (pure), reports and their validation and scope,
stale flags, the demand forecast against capacity on a constructed outbreak, the JSON API, the
pages (staff and public), and the CLI; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from epiradar.cli_capacity import capacity_app
from epiradar.config import Settings
from epiradar.model import Facility, Region, Syndrome, mask_of
from epiradar.service import capacity as service
from epiradar.service.auth import Principal
from epiradar.share.routing import (
    EARTH_RADIUS_KM,
    ClinicState,
    capacity_reason,
    haversine_km,
    nearest_clinics,
    region_point,
)
from epiradar.store import Store
from epiradar.web.app import create_app
from web_support import authorize

NOW = service.utcnow().replace(minute=0, second=0, microsecond=0)
"""Reports are dated from the clock: the app judges staleness by it."""
END = dt.date(2026, 3, 31)  # the last day with visits
DAYS = 35
ADMIN = Principal(kind="user", name="admin", role="administrator")
F1_TOKEN = Principal(kind="facility", name="facility:F1", role="facility", facility_id="F1")
F1_REPORTER = Principal(kind="user", name="rep", role="hospital_reporter", facility_id="F1")
VIEWER = Principal(kind="user", name="v", role="viewer")


# ---------------------------------------------------------------------------------------------
# routing (pure)


def test_haversine_matches_hand_computed_distances() -> None:
    # one degree of latitude along a meridian: pi * R / 180
    assert haversine_km(0, 0, 1, 0) == pytest.approx(math.pi * EARTH_RADIUS_KM / 180)
    # one degree of longitude at 60 N: central angle 2 asin(cos 60 sin 0.5 deg)
    hand = 2 * EARTH_RADIUS_KM * math.asin(math.cos(math.radians(60)) * math.sin(math.radians(0.5)))
    assert haversine_km(60, 10, 60, 11) == pytest.approx(hand)
    # Shanghai People's Square to Pudong airport, about 43 km as the crow flies
    assert float(haversine_km(31.2304, 121.4737, 31.1443, 121.8083)) == pytest.approx(33.3, abs=0.5)
    assert haversine_km(10, 20, 10, 20) == 0
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_KM)


def _clinic(fid: str, lat: float, lon: float, reason: str | None = None) -> ClinicState:
    return ClinicState(facility_id=fid, name=fid, lat=lat, lon=lon, reason=reason)


def test_clinics_with_capacity_come_first_then_nearest() -> None:
    clinics = [
        _clinic("near-stale", 0.0, 0.01, "stale"),
        _clinic("far", 0.0, 0.2),
        _clinic("mid", 0.0, 0.1),
        _clinic("near-full", 0.0, 0.02, "full"),
    ]
    ranked = nearest_clinics(0.0, 0.0, clinics, circuity=1.3, limit=10)
    assert [r.clinic.facility_id for r in ranked] == ["mid", "far", "near-stale", "near-full"]
    assert [r.rank for r in ranked] == [1, 2, 3, 4]
    first = ranked[0]
    assert first.straight_km == pytest.approx(float(haversine_km(0, 0, 0, 0.1)))
    assert first.travel_km == pytest.approx(1.3 * first.straight_km)
    only = nearest_clinics(0.0, 0.0, clinics, include_without_capacity=False)
    assert [r.clinic.facility_id for r in only] == ["mid", "far"]
    assert len(nearest_clinics(0.0, 0.0, clinics, limit=1)) == 1
    assert nearest_clinics(0.0, 0.0, [], limit=3) == []


def test_ties_break_by_id_and_inputs_are_checked() -> None:
    ranked = nearest_clinics(0, 0, [_clinic("B", 0, 0.1), _clinic("A", 0, -0.1)])
    assert [r.clinic.facility_id for r in ranked] == ["A", "B"]
    with pytest.raises(ValueError, match="lat: must be between -90 and 90"):
        nearest_clinics(91, 0, [])
    with pytest.raises(ValueError, match="lon: must be between -180 and 180"):
        nearest_clinics(0, 200, [])
    with pytest.raises(ValueError, match="circuity must be at least 1"):
        nearest_clinics(0, 0, [], circuity=0.5)


def test_capacity_reason_rules() -> None:
    ok = {"reported": True, "stale": False, "rooms": 2, "beds_total": 10, "beds_free": 1}
    assert capacity_reason(**ok) is None
    assert capacity_reason(**{**ok, "reported": False}) == "never"
    assert capacity_reason(**{**ok, "stale": True}) == "stale"
    assert capacity_reason(**{**ok, "rooms": 0}) == "no_rooms"
    assert capacity_reason(**{**ok, "beds_free": 0}) == "full"
    assert capacity_reason(**{**ok, "beds_total": None, "beds_free": None}) is None


def test_region_point_is_the_centroid_or_inside() -> None:
    square = _square(0, 0)
    assert region_point(square) == pytest.approx((0.5, 0.5))
    # a U shape: its centroid lies in the notch, outside the polygon
    u_ring = [[0, 0], [3, 0], [3, 3], [2, 3], [2, 1], [1, 1], [1, 3], [0, 3], [0, 0]]
    lat, lon = region_point({"type": "Polygon", "coordinates": [u_ring]})
    from shapely.geometry import Point, Polygon

    assert Polygon(u_ring).contains(Point(lon, lat))
    with pytest.raises(ValueError, match="no geometry"):
        region_point(None)


# ---------------------------------------------------------------------------------------------
# a city with two districts and an outbreak in D1


def _square(x: float, y: float) -> dict:
    ring = [[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


REGIONS = [
    Region(id="R1", name="Riverside", population=50_000, parent_id="D1", geometry=_square(0, 0)),
    Region(id="R2", name="Harbour", population=40_000, parent_id="D1", geometry=_square(1, 0)),
    Region(id="R3", name="Hilltop", population=30_000, parent_id="D2", geometry=_square(0, 1)),
    Region(id="R4", name="Orchard", population=20_000, parent_id="D2", geometry=_square(1, 1)),
]
FACILITIES = [
    Facility(id="F1", name="Riverside Fever Clinic", region_id="R1", lat=0.5, lon=0.5,
             fever_clinic=True),
    Facility(id="F2", name="Harbour Hospital", region_id="R2", lat=0.5, lon=1.5,
             fever_clinic=True),
    Facility(id="F3", name="Orchard Fever Clinic", region_id="R4", lat=1.5, lon=1.7,
             fever_clinic=True),
    Facility(id="F4", name="Hilltop Clinic", region_id="R3", lat=1.6, lon=0.5, fever_clinic=True),
    Facility(id="F5", name="Records Office", region_id="R3"),
]  # fmt: skip


def outbreak_counts() -> dict[str, list[int]]:
    """Daily fever visits by residence: growing 6% a day in R1 (D1), 2 a day in R2, 1 a day in
    R3 (D2: too few for Rt), none in R4."""
    grow = [round(12 * 1.06**d) for d in range(DAYS)]
    return {"R1": grow, "R2": [2] * DAYS, "R3": [1] * DAYS}


def load(store: Store, counts: dict[str, list[int]] | None = None) -> Store:
    store.load_city(REGIONS, FACILITIES, [], [])
    rows = []
    start = END - dt.timedelta(days=DAYS - 1)
    for region, series in (counts or outbreak_counts()).items():
        for d, n in enumerate(series):
            day = start + dt.timedelta(days=d)
            for k in range(n):
                i = len(rows)
                rows.append(
                    {
                        "facility_id": "F1",
                        "visit_id": f"V{i:06d}",
                        "visit_time": f"{day.isoformat()}T{8 + k % 10:02d}:00:00",
                        "patient_key": f"{i:032x}",
                        "age": 30.0,
                        "sex": "F",
                        "residence_region": region,
                        "chief_complaint": "fever and cough",
                        "syndrome_mask": mask_of([Syndrome.FEVER, Syndrome.ILI]),
                        "exposures": [],
                    }
                )
    run_id = store.start_ingest_run("visits.csv", "csv")
    store.insert_visits(rows, run_id)
    store.finish_ingest_run(run_id, len(rows), 0, 0)
    store.refresh_daily_counts()
    return store


def report(store: Store, facility: str, hours_ago: float, who: Principal = ADMIN, **counts):
    data = {
        "facility_id": facility,
        "reported_at": (NOW - dt.timedelta(hours=hours_ago)).isoformat(),
        **counts,
    }
    return service.submit_report(store, data, who, source="api", now=NOW)


@pytest.fixture
def city(store: Store) -> Store:
    load(store)
    report(store, "F1", 2, fever_clinic_rooms=2, beds_total=20, beds_free=3, staff_on_duty=9)
    report(store, "F2", 3, fever_clinic_rooms=1, beds_total=40, beds_free=2)
    report(store, "F3", 1, fever_clinic_rooms=4, beds_total=60, beds_free=30)
    report(store, "F4", 40, fever_clinic_rooms=3, beds_total=10, beds_free=5)  # stale
    return store


SETTINGS = Settings(pseudonym_key="k")


# ---------------------------------------------------------------------------------------------
# reports: validation, scope, latest, stale


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"fever_clinic_rooms": 1}, "facility_id", "is required"),
        ({"facility_id": "F9", "fever_clinic_rooms": 1}, "facility_id", "unknown facility 'F9'"),
        ({"facility_id": "F1"}, "fever_clinic_rooms", "is required"),
        ({"facility_id": "F1", "fever_clinic_rooms": -1}, "fever_clinic_rooms", "must not be negative"),
        ({"facility_id": "F1", "fever_clinic_rooms": 1.5}, "fever_clinic_rooms", "whole number"),
        ({"facility_id": "F1", "fever_clinic_rooms": True}, "fever_clinic_rooms", "not true/false"),
        ({"facility_id": "F1", "fever_clinic_rooms": "many"}, "fever_clinic_rooms", "whole number"),
        (
            {"facility_id": "F1", "fever_clinic_rooms": 1, "beds_total": 5, "beds_free": 6},
            "beds_free",
            "6 free is more than the 5 in beds_total",
        ),
        (
            {"facility_id": "F1", "fever_clinic_rooms": 1, "icu_total": 0, "icu_free": 1},
            "icu_free",
            "1 free is more than the 0 in icu_total",
        ),
        (
            {"facility_id": "F1", "fever_clinic_rooms": 1, "reported_at": (NOW + dt.timedelta(hours=1)).isoformat()},
            "reported_at",
            "is in the future",
        ),
        (
            {"facility_id": "F1", "fever_clinic_rooms": 1, "reported_at": "yesterday"},
            "reported_at",
            "ISO 8601",
        ),
        ({"facility_id": "F1", "fever_clinic_rooms": 1, "beds": 3}, "beds", "unknown field"),
    ],
)  # fmt: skip
def test_validation_names_the_field_and_reason(data, field, reason) -> None:
    with pytest.raises(service.CapacityError) as err:
        service.validate_report(data, {"F1", "F2"}, now=NOW)
    assert any(p.field == field and reason in p.reason for p in err.value.problems), err.value
    assert field in str(err.value)


def test_validation_converts_zones_and_form_text() -> None:
    clean = service.validate_report(
        {"facility_id": "F1", "fever_clinic_rooms": " 3 ", "beds_total": "",
         "reported_at": (NOW + dt.timedelta(hours=8)).isoformat() + "+08:00"},
        {"F1"},
        now=NOW,
    )  # fmt: skip
    assert clean["fever_clinic_rooms"] == 3 and clean["beds_total"] is None
    assert clean["reported_at"] == NOW
    assert (
        service.validate_report({"facility_id": "F1", "fever_clinic_rooms": 0}, {"F1"}, now=NOW)[
            "reported_at"
        ]
        == NOW
    )


def test_scope_a_facility_reports_only_its_own(store: Store) -> None:
    load(store, {"R1": [1] * DAYS})
    saved = report(store, "F1", 1, F1_TOKEN, fever_clinic_rooms=2)
    assert saved["reported_by"] == "facility:F1" and saved["source"] == "api"
    report(store, "F1", 1, F1_REPORTER, fever_clinic_rooms=2)
    for who in (F1_TOKEN, F1_REPORTER, VIEWER):
        with pytest.raises(
            service.CapacityForbidden, match="may not report capacity for facility F2"
        ):
            report(store, "F2", 1, who, fever_clinic_rooms=2)
    report(store, "F2", 1, ADMIN, fever_clinic_rooms=2)
    assert [f.id for f in service.reportable_facilities(store, F1_TOKEN)] == ["F1"]
    assert {f.id for f in service.reportable_facilities(store, ADMIN)} == {f.id for f in FACILITIES}
    assert service.reportable_facilities(store, VIEWER) == []


def test_latest_report_per_facility_and_stale_flags(city: Store) -> None:
    # an older report arriving later does not replace the newer one
    report(city, "F1", 10, fever_clinic_rooms=7)
    latest = city.capacity.latest()
    assert latest["F1"]["fever_clinic_rooms"] == 2
    assert len(city.capacity.reports("F1")) == 2
    states = {s.facility_id: s for s in service.facility_states(city, SETTINGS, now=NOW)}
    assert set(states) == {"F1", "F2", "F3", "F4"}  # F5 is no fever clinic and never reported
    assert states["F1"].status == "fresh" and states["F1"].age_hours == pytest.approx(2)
    assert states["F1"].visits_per_day == 2 * SETTINGS.capacity.patients_per_room_per_day
    assert states["F4"].status == "stale" and states["F4"].reason == "stale"
    later = {
        s.facility_id: s
        for s in service.facility_states(city, SETTINGS, now=NOW + dt.timedelta(hours=23))
    }
    assert later["F1"].status == "stale"  # 25 h old
    assert later["F3"].status == "fresh"  # 24 h old: stale only when older
    store_settings = Settings(pseudonym_key="k", capacity={"stale_hours": 48})
    relaxed = {s.facility_id: s for s in service.facility_states(city, store_settings, now=NOW)}
    assert relaxed["F4"].status == "fresh"
    city.capacity.add_report(
        {"facility_id": "F5", "reported_at": NOW.isoformat(), "fever_clinic_rooms": 0,
         "reported_by": "x", "source": "api"}
    )  # fmt: skip
    overview = service.capacity_overview(city, SETTINGS, now=NOW)
    assert "F5" in {f.facility_id for f in overview.facilities}
    assert overview.counts["stale"] == 1 and overview.counts["never"] == 0


def test_never_reported_clinics_are_flagged(store: Store) -> None:
    load(store, {"R1": [1] * DAYS})
    states = service.facility_states(store, SETTINGS, now=NOW)
    assert {s.status for s in states} == {"never"}
    assert all(s.reason == "never" and s.reported_at is None for s in states)


# ---------------------------------------------------------------------------------------------
# forecast against capacity


def test_forecast_warns_where_demand_exceeds_capacity(city: Store) -> None:
    fc = service.forecast_capacity(city, SETTINGS, horizon=14, now=NOW)
    assert fc.last_data_date == END and fc.horizon == 14
    d1, d2 = (next(d for d in fc.districts if d.district_id == k) for k in ("D1", "D2"))
    assert d1.region_ids == ["R1", "R2"] and d2.region_ids == ["R3", "R4"]
    assert [p.count for p in d1.history[-3:]] == [c + 2 for c in outbreak_counts()["R1"][-3:]]
    assert d1.method == "renewal" and d1.rt_mean > 1.05
    assert d1.rooms == 3 and d1.visit_capacity == 3 * 48 and d1.beds_free == 5
    assert d1.days[0].date == END + dt.timedelta(days=1) and len(d1.days) == 14
    assert d1.days[-1].median > d1.days[0].median > d1.history[-1].count * 0.9
    assert d1.warning and d1.exceeds_on is not None
    first = next(d for d in d1.days if d.median > d1.visit_capacity)
    assert d1.exceeds_on == first.date > END + dt.timedelta(days=1)
    assert d1.beds_exceed_on is not None
    # D2: flat, few cases (trend), capacity from F3 and the stale F4 (flagged)
    assert d2.method == "trend" and "Rt needs at least" in d2.reason
    assert d2.clinics == 2 and d2.clinics_stale == 1 and d2.rooms == 7
    assert not d2.warning and not d2.watch and d2.exceeds_on is None
    assert d2.peak_ratio < 0.1
    assert [d.district_id for d in fc.warnings] == ["D1"]
    assert fc.admission_share == SETTINGS.capacity.admission_share
    assert fc.admission_share_source == "setting"


def test_forecast_horizon_and_capacity_unknown(store: Store) -> None:
    load(store)
    fc = service.forecast_capacity(store, SETTINGS, horizon=7, now=NOW)
    assert all(len(d.days) == 7 for d in fc.districts)
    assert all(d.visit_capacity is None and not d.warning for d in fc.districts)
    with pytest.raises(ValueError, match="horizon: must be 7 to 14 days"):
        service.forecast_capacity(store, SETTINGS, horizon=21)


def test_nearest_clinics_from_a_region_and_a_point(city: Store) -> None:
    found = service.nearest_clinics(city, SETTINGS, region_id="R3", now=NOW)
    assert (found.origin_lat, found.origin_lon) == (1.5, 0.5)
    ids = [c.facility_id for c in found.clinics]
    # F4 sits in R3 but its report is stale: it comes after the clinics with capacity
    assert ids == ["F1", "F3", "F2", "F4"]
    assert [c.has_capacity for c in found.clinics] == [True, True, True, False]
    assert found.clinics[-1].reason == "stale"
    hand = float(haversine_km(1.5, 0.5, 0.5, 0.5)) * 1.3
    assert found.clinics[0].travel_km == pytest.approx(hand, abs=0.01)
    point = service.nearest_clinics(city, SETTINGS, lat=1.4, lon=1.6, limit=1, now=NOW)
    assert [c.facility_id for c in point.clinics] == ["F3"]
    with pytest.raises(service.UnknownRegion, match="region: unknown region 'R9'"):
        service.nearest_clinics(city, SETTINGS, region_id="R9")


def test_seed_demo_capacity_makes_one_district_short(store: Store) -> None:
    load(store)
    written = service.seed_demo_capacity(store, SETTINGS, now=NOW)
    assert written == 4  # the fever clinics
    states = service.facility_states(store, SETTINGS, now=NOW)
    assert all(s.status != "never" for s in states)
    fc = service.forecast_capacity(store, SETTINGS, now=NOW)
    assert [d.district_id for d in fc.districts if d.warning] == ["D1"]


# ---------------------------------------------------------------------------------------------
# web


@pytest.fixture
def app(city: Store):
    return create_app(Settings(db=city.url, pseudonym_key="k"), city)


def _client(app, store: Store, role: str | None = None, **scope) -> TestClient:
    client = TestClient(app)
    if role:
        authorize(client, store, role, name=f"{role}-{len(scope)}-{id(client)}", **scope)
    return client


def test_api_report_scope_and_validation(app, city: Store) -> None:
    token = city.create_token("F1", "capacity")
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {token}"
    ok = client.post("/api/capacity", json={"facility_id": "F1", "fever_clinic_rooms": 5})
    assert ok.status_code == 201, ok.text
    assert ok.json()["reported_by"] == "facility:F1" and ok.json()["source"] == "api"
    other = client.post("/api/capacity", json={"facility_id": "F2", "fever_clinic_rooms": 5})
    assert other.status_code == 403 and "F2" in other.json()["detail"]
    bad = client.post(
        "/api/capacity",
        json={"facility_id": "F1", "fever_clinic_rooms": -1, "beds_total": 2, "beds_free": 3},
    )
    assert bad.status_code == 422
    assert {p["field"] for p in bad.json()["detail"]} == {"fever_clinic_rooms", "beds_free"}
    reporter = _client(app, city, "hospital_reporter", facility_id="F2")
    assert (
        reporter.post(
            "/api/capacity", json={"facility_id": "F2", "fever_clinic_rooms": 1}
        ).status_code
        == 201
    )
    assert (
        reporter.post(
            "/api/capacity", json={"facility_id": "F1", "fever_clinic_rooms": 1}
        ).status_code
        == 403
    )
    viewer = _client(app, city, "viewer")
    assert (
        viewer.post(
            "/api/capacity", json={"facility_id": "F1", "fever_clinic_rooms": 1}
        ).status_code
        == 403
    )
    assert TestClient(app).post("/api/capacity", json={}).status_code == 401
    from epiradar.store.audit import AuditFilter

    recorded = city.audit.entries(AuditFilter(actor="facility:F1"))
    assert len(recorded) == 3  # every write, refused or not, is in the audit log


def test_api_capacity_and_forecast(app, city: Store) -> None:
    viewer = _client(app, city, "viewer")
    body = viewer.get("/api/capacity").json()
    by_id = {f["facility_id"]: f for f in body["facilities"]}
    assert by_id["F1"]["lat"] == 0.5 and by_id["F1"]["fever_clinic_rooms"] == 2
    assert body["stale_hours"] == 24
    fc = viewer.get("/api/capacity/forecast", params={"horizon": 7, "syndrome": ["fever", "ili"]})
    assert fc.status_code == 200
    data = fc.json()
    assert data["syndromes"] == ["fever", "ili"] and data["horizon"] == 7
    d1 = next(d for d in data["districts"] if d["district_id"] == "D1")
    assert len(d1["days"]) == 7 and {"median", "lower", "upper", "capacity"} <= set(d1["days"][0])
    assert d1["rt_lower"] < d1["rt_mean"] < d1["rt_upper"]
    assert viewer.get("/api/capacity/forecast", params={"horizon": 30}).status_code == 422
    assert viewer.get("/api/capacity/forecast", params={"syndrome": "flu"}).status_code == 422
    assert (
        _client(app, city, "hospital_reporter", facility_id="F1").get("/api/capacity").status_code
        == 403
    )
    assert TestClient(app).get("/api/capacity").status_code == 401


def test_staff_page_shows_map_forecasts_and_warnings(app, city: Store) -> None:
    page = _client(app, city, "viewer").get("/capacity")
    assert page.status_code == 200
    html = page.text
    assert 'id="capacity-map"' in html and 'id="chart-D1"' in html and 'id="chart-D2"' in html
    assert 'data-district="D1"' in html.split('id="capacity-warnings"')[1].split("</ul>")[0]
    assert 'data-facility="F4" data-status="stale"' in html
    figure = json.loads(html.split('id="capacity-map-data">')[1].split("</script>")[0])
    markers = [t for t in figure["data"] if t.get("meta", {}).get("kind") == "facilities"]
    assert sorted(i for t in markers for i in t["meta"]["ids"]) == ["F1", "F2", "F3", "F4"]
    districts = [t for t in figure["data"] if t.get("meta", {}).get("kind") == "district"]
    assert {t["meta"]["district"]: t["meta"]["warning"] for t in districts} == {
        "D1": True,
        "D2": False,
    }
    chart = json.loads(html.split('id="chart-D1-data">')[1].split("</script>")[0])
    kinds = [t["meta"]["kind"] for t in chart["data"]]
    assert kinds == ["history", "band", "median", "capacity"]
    assert chart["data"][3]["y"] == [144, 144]


def test_report_form_prefills_validates_and_saves(app, city: Store) -> None:
    client = _client(app, city, "hospital_reporter", facility_id="F1")
    form = client.get("/capacity/report")
    assert form.status_code == 200
    assert (
        'name="beds_free" value="3"' in form.text and 'name="facility_id" value="F1"' in form.text
    )
    assert "Harbour Hospital" not in form.text  # only its own facility
    bad = client.post(
        "/capacity/report",
        data={"facility_id": "F1", "fever_clinic_rooms": "2", "beds_total": "4", "beds_free": "9"},
    )
    assert bad.status_code == 422
    assert 'data-field="beds_free"' in bad.text and "9 free is more than the 4" in bad.text
    assert 'name="beds_free" value="9"' in bad.text  # what was typed stays
    saved = client.post(
        "/capacity/report",
        data={"facility_id": "F1", "fever_clinic_rooms": "6", "beds_total": "4", "beds_free": "1"},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"].startswith(
        "/capacity/report?facility=F1"
    )
    assert service.last_report(city, "F1")["fever_clinic_rooms"] == 6
    assert service.last_report(city, "F1")["source"] == "form"
    assert 'id="capacity-saved"' in client.get(saved.headers["location"]).text
    other = client.post("/capacity/report", data={"facility_id": "F2", "fever_clinic_rooms": "1"})
    assert other.status_code == 403


def test_public_clinic_finder_is_open_to_anonymous(app, city: Store) -> None:
    anonymous = TestClient(app)
    api = anonymous.get("/api/open/clinics", params={"region": "R3"})
    assert api.status_code == 200
    clinics = api.json()["clinics"]
    assert clinics[0]["facility_id"] == "F1" and clinics[0]["has_capacity"]
    assert clinics[-1]["facility_id"] == "F4" and clinics[-1]["reason"] == "stale"
    assert set(clinics[0]) >= {"free_rooms", "free_beds", "report_age_hours", "travel_km"}
    near = anonymous.get("/api/open/clinics", params={"lat": 1.4, "lon": 1.6, "limit": 2}).json()
    assert [c["facility_id"] for c in near["clinics"]] == ["F3", "F2"]
    assert anonymous.get("/api/open/clinics").status_code == 422
    assert anonymous.get("/api/open/clinics", params={"lat": 95, "lon": 0}).status_code == 422
    assert anonymous.get("/api/open/clinics", params={"region": "R9"}).status_code == 404
    page = anonymous.get("/public/clinics", params={"region": "R3"})
    assert page.status_code == 200
    listed = page.text.split('id="clinic-list"')[1]
    assert listed.index("Riverside Fever Clinic") < listed.index("Hilltop Clinic")
    assert 'data-facility="F4" data-capacity="no"' in listed
    empty = anonymous.get("/public/clinics")
    assert empty.status_code == 200 and 'id="clinic-region"' in empty.text
    assert anonymous.get("/public/clinics", params={"region": "R9"}).status_code == 404


# ---------------------------------------------------------------------------------------------
# CLI


@pytest.fixture
def db_url(tmp_path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cap.db'}"
    with Store(url) as store:
        store.migrate()
        load(store)
    yield url


def _run(*args: str):
    return CliRunner().invoke(capacity_app, list(args), catch_exceptions=False)


def test_cli_report_list_forecast_nearest(db_url: str) -> None:
    done = _run("report", "--facility", "F1", "--rooms", "2", "--beds-total", "20",
                "--beds-free", "3", "--db", db_url)  # fmt: skip
    assert done.exit_code == 0 and "stored for F1" in done.output
    refused = _run("report", "--facility", "F1", "--rooms", "1", "--beds-total", "2",
                   "--beds-free", "5", "--db", db_url)  # fmt: skip
    assert refused.exit_code == 1
    unknown = _run("report", "--facility", "F9", "--rooms", "1", "--db", db_url)
    assert unknown.exit_code == 1
    listed = _run("list", "--json", "--db", db_url)
    states = {f["facility_id"]: f["status"] for f in json.loads(listed.output)["facilities"]}
    assert states == {"F1": "fresh", "F2": "never", "F3": "never", "F4": "never"}
    table = _run("list", "--db", db_url)
    assert "Riverside Fever Clinic" in table.output and "never" in table.output
    fc = _run("forecast", "--horizon", "7", "--db", db_url)
    assert fc.exit_code == 0 and "D1" in fc.output and "renewal" in fc.output
    fc_json = json.loads(_run("forecast", "--json", "--syndrome", "fever", "--db", db_url).output)
    assert fc_json["syndromes"] == ["fever"] and fc_json["horizon"] == 14
    assert _run("forecast", "--syndrome", "flu", "--db", db_url).exit_code == 1
    near = _run("nearest", "--lat", "0.4", "--lon", "0.4", "--db", db_url)
    assert near.exit_code == 0 and "F1" in near.output
    near_json = json.loads(_run("nearest", "--region", "R4", "--json", "--db", db_url).output)
    assert near_json["clinics"][0]["facility_id"] == "F1"  # the only one with capacity
    assert _run("nearest", "--db", db_url).exit_code == 1


def test_demand_takes_the_largest_overlapping_syndrome_not_the_sum(store: Store) -> None:
    load(store, {"R1": [5] * DAYS})
    fc = service.forecast_capacity(
        store, SETTINGS, syndromes=[Syndrome.FEVER, Syndrome.ILI], horizon=7, now=NOW
    )
    d1 = next(d for d in fc.districts if d.district_id == "D1")
    assert {p.count for p in d1.history[-DAYS:]} == {5}  # each visit is fever and ILI: counted once
    assert np.isfinite(d1.days[0].median)


def test_cli_report_through_the_root_records_the_actor(db_url: str) -> None:
    from epiradar.cli import app as root
    from epiradar.store.audit import AuditFilter

    done = CliRunner().invoke(
        root, ["--actor", "li.wei", "capacity", "report", "--facility", "F3", "--rooms", "2",
               "--db", db_url],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    with Store(db_url) as store:
        assert service.last_report(store, "F3")["reported_by"] == "li.wei"
        entry = store.audit.entries(AuditFilter(action="capacity.report"))[0]
        assert (entry.actor, entry.object_id) == ("li.wei", "F3")
