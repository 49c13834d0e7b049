"""The FHIR R4 read API (web/fhir.py, service/fhir_api.py, share/fhir_resources.py) on a store
filled through the real FHIR ingest path, on SQLite and PostgreSQL: every answer validated with
the fhir.resources R4B models, filters and paging, scope, strict parameters, pseudonyms."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import select

from epiradar.config import Settings
from epiradar.ingest import fhir as ingest_fhir
from epiradar.ingest.fhir import read_bundle
from epiradar.ingest.messages import ACCEPTED, MessagePipeline
from epiradar.ingest.syndromes import load_default_classifier
from epiradar.model import SYNDROMES, Syndrome
from epiradar.share import fhir_resources as fr
from epiradar.sim import fhir as sim_fhir
from epiradar.sim.fhir import fhir_bundles
from epiradar.store import Store
from epiradar.store.schema import visits
from epiradar.web.app import create_app
from web_support import authorize

COMPLAINTS = [
    "fever and cough",
    "diarrhoea and vomiting",
    "rash with fever",
    "sore throat and fever",
    "sprained ankle",
    "headache, stiff neck and fever",
    "cough and runny nose",
]
N_VISITS = 40
NO_REGION_VISIT = "V013"


def raw_patient(i: int) -> str:
    """The raw (hospital) patient id of visit ``i``; ``""`` for visits sent without one."""
    return "" if i % 7 == 3 else f"RAWPATIENT{i % 30:04d}"


def visit_rows() -> list[dict[str, str]]:
    """40 canonical visits over 5 days in R1..R4 at F1 and F2: repeat patients (visits i and
    i + 30), visits without a patient id, one without a residence region, ICD-10 codes,
    temperatures, lab results, onsets, patient classes and discharges."""
    rows = []
    for i in range(N_VISITS):
        day = 1 + i % 5
        time_ = f"2026-03-{day:02d}T{8 + i % 9:02d}:{i % 60:02d}:00"
        patient = raw_patient(i)
        region = f"R{1 + (i % 30) % 4}" if patient else f"R{1 + i % 4}"
        complaint = COMPLAINTS[i % len(COMPLAINTS)]
        codes = []
        if i % 5 == 0:
            codes.append("J06.9")
        if i % 11 == 0:
            codes += ["A09", "R50.9"]
        rows.append(
            {
                "facility_id": "F1" if i % 2 == 0 else "F2",
                "visit_id": f"V{i:03d}",
                "visit_time": time_,
                "patient_id": patient,
                "age": str(3 + (i * 7) % 85),
                "sex": ["M", "F", "M", "F", "U"][(i % 30) % 5] if i != 10 else "",
                "residence_region": "" if f"V{i:03d}" == NO_REGION_VISIT else region,
                "chief_complaint": complaint,
                "temperature_c": "38.6" if "fever" in complaint else ("37.2" if i % 3 else ""),
                "diagnosis_codes": ";".join(codes),
                "onset_date": f"2026-02-{20 + day:02d}" if i % 4 == 0 else "",
                "lab_result": "Influenza A PCR positive" if i % 6 == 0 else "",
                "patient_class": ["E", "O", "I", ""][i % 4],
                "discharge_time": f"2026-03-{day:02d}T{18 + i % 5:02d}:00:00" if i % 3 == 0 else "",
            }
        )
    return rows


def ingest_bundles(store: Store, bundles: list[dict[str, Any]]) -> int:
    """Apply Bundles through ``read_bundle`` and the message pipeline (the FHIR ingest path);
    the visits accepted. Refreshes the daily counts."""
    pipeline = MessagePipeline(
        store, secret=b"fhir-test-secret", classifier=load_default_classifier()
    )
    accepted = 0
    for bundle in bundles:
        result = read_bundle(json.dumps(bundle).encode())
        assert not result.errors, result.errors[:3]
        outcomes = pipeline.apply(result.visits, channel="fhir")
        assert all(o.status == ACCEPTED for o in outcomes), [o.error for o in outcomes][:3]
        accepted += len(outcomes)
    store.refresh_daily_counts()
    return accepted


def fill(store: Store) -> None:
    frame = pd.DataFrame(visit_rows())
    assert (
        ingest_bundles(store, fhir_bundles(frame, per_bundle=15, bundle_type="collection"))
        == N_VISITS
    )


def validate(resource: dict[str, Any]) -> Any:
    """The R4B model of ``resource`` (raises when it is not valid FHIR)."""
    model = get_fhir_model_class(resource["resourceType"])
    return model.model_validate(resource)


def app_settings(store: Store, tmp_path: Path, **fhir: Any) -> Settings:
    return Settings(
        db=store.url,
        pseudonym_key="test-key",
        fhir={"bulk_dir": str(tmp_path / "bulk"), **fhir},
    )


@pytest.fixture
def filled(city_store: Store) -> Store:
    fill(city_store)
    return city_store


@pytest.fixture
def app(filled: Store, tmp_path: Path):
    return create_app(app_settings(filled, tmp_path, max_count=7, default_count=5), filled)


@pytest.fixture
def client(app, filled: Store) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield authorize(c, filled, "administrator", name="fhir-admin")


def stored_visits(store: Store) -> pd.DataFrame:
    """The visits table as stored (text dates, JSON lists), by id."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(visits).order_by(visits.c.id)).all()
    frame = pd.DataFrame([dict(r._mapping) for r in rows])
    return frame.astype(object).where(frame.notna(), None)


def walk(
    client: TestClient, url: str, params: dict[str, Any] | None = None
) -> tuple[list[dict], list[dict]]:
    """Every page of a search, following next links: ``(bundles, resources)``."""
    bundles, resources = [], []
    response = client.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/fhir+json")
        bundle = response.json()
        validate(bundle)
        bundles.append(bundle)
        resources += [e["resource"] for e in bundle.get("entry", [])]
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        if "next" not in links:
            return bundles, resources
        response = client.get(links["next"])


# ---------------------------------------------------------------------------------------------
# pure parts


def test_codes_and_systems_are_those_of_the_fhir_ingest() -> None:
    assert fr.LOINC == ingest_fhir.LOINC
    assert fr.UCUM == ingest_fhir.UCUM
    assert fr.LOCAL_SYSTEM == ingest_fhir.LOCAL_SYSTEM
    assert fr.ACT_CODE == ingest_fhir.ACT_CODE
    assert fr.NULL_FLAVOR == ingest_fhir.NULL_FLAVOR
    assert fr.ICD10 in ingest_fhir.ICD10_SYSTEMS
    assert fr.VISIT_SYSTEM == sim_fhir.VISIT_SYSTEM
    assert fr.FACILITY_SYSTEM == sim_fhir.FACILITY_SYSTEM
    assert {v[0] for v in fr.CLASSES.values()} <= set(ingest_fhir.CLASS_CODES)


def test_code_system_lists_every_syndrome_and_validates() -> None:
    system = validate(fr.syndrome_code_system())
    codes = [c.code for c in system.concept]
    assert codes == [s.value for s in SYNDROMES] + ["all"]


def test_age_bands() -> None:
    assert fr.age_band(0.5, 5) == (0, 4)
    assert fr.age_band(34.9, 5) == (30, 34)
    assert fr.age_band(35, 10) == (30, 39)
    assert fr.age_band(93, 5) == (90, None)
    assert fr.age_band(None, 5) is None


def test_measure_report_ids_read_back() -> None:
    for args in [
        ("2026-03-01", None, "R1", "severe_respiratory"),
        ("2026-03-01", "2026-03-31", "", "all"),
    ]:
        made = fr.measure_report(*args, 3)
        validate(made)
        assert fr.parse_measure_report_id(made["id"]) == args
    assert fr.parse_measure_report_id("d.2026-03-01.R1.plague") is None


# ---------------------------------------------------------------------------------------------
# the API


def test_capability_statement_is_public_and_valid(app) -> None:
    with TestClient(app) as anonymous:
        response = anonymous.get("/fhir/metadata")
    assert response.status_code == 200
    statement = validate(response.json())
    assert statement.fhirVersion == "4.0.1"
    served = {r.type: r for r in statement.rest[0].resource}
    assert set(served) == {"Patient", "Encounter", "Condition", "Observation", "MeasureReport"}
    assert {p.name for p in served["Encounter"].searchParam} >= {
        "date",
        "region",
        "syndrome",
        "_count",
    }
    assert statement.rest[0].operation[0].name == "export"


def test_every_encounter_once_across_pages(client: TestClient, filled: Store) -> None:
    bundles, resources = walk(client, "/fhir/Encounter", {"_count": 3})
    visits = stored_visits(filled)
    assert len(bundles) == -(-len(visits) // 3)
    assert all(b["total"] == len(visits) for b in bundles)
    ids = [r["id"] for r in resources]
    assert sorted(ids) == sorted(f"v{pk}" for pk in visits["id"])
    by_id = {f"v{pk}": row for pk, row in zip(visits["id"], visits.itertuples(), strict=True)}
    for enc in resources:
        model = validate(enc)
        row = by_id[enc["id"]]
        assert model.identifier[0].value == row.visit_id
        assert enc["period"]["start"] == row.visit_time[:19] + "+08:00"
        assert enc["serviceProvider"]["identifier"]["value"] == row.facility_id
        assert enc["reasonCode"][0]["text"] == row.chief_complaint


def test_conditions_and_observations_page_within_visits(client: TestClient, filled: Store) -> None:
    visits = stored_visits(filled)
    for resource_type in ("Condition", "Observation"):
        bundles, resources = walk(client, f"/fhir/{resource_type}", {"_count": 4})
        ids = [r["id"] for r in resources]
        assert len(ids) == len(set(ids)) == bundles[0]["total"]
        assert all(len(b.get("entry", [])) <= 4 for b in bundles)
        expected = sum(fr.count_resources(resource_type, row) for row in visits.to_dict("records"))
        assert len(ids) == expected > 4
        for resource in resources:
            validate(resource)
    # the syndromes are Conditions of our CodeSystem, the ICD-10 codes Conditions of ICD-10
    _, conditions = walk(client, "/fhir/Condition", {"_count": 7})
    syndromes = {
        c["code"]["coding"][0]["code"]
        for c in conditions
        if c["code"]["coding"][0]["system"] == fr.SYNDROME_SYSTEM
    }
    assert {"ili", "gastrointestinal", "rash_fever"} <= syndromes
    icd = {
        c["code"]["coding"][0]["code"]
        for c in conditions
        if c["code"]["coding"][0]["system"] == fr.ICD10
    }
    assert icd == {"J06.9", "A09", "R50.9"}
    _, observations = walk(client, "/fhir/Observation", {"_count": 7})
    temps = [o for o in observations if o["code"]["coding"][0]["code"] == "8310-5"]
    assert temps and all(o["valueQuantity"]["code"] == "Cel" for o in temps)


def test_patients_are_pseudonymised(client: TestClient, filled: Store) -> None:
    bundles, patients = walk(client, "/fhir/Patient", {"_count": 4})
    visits = stored_visits(filled)
    keys = visits["patient_key"].dropna()
    expected = keys.nunique() + int(visits["patient_key"].isna().sum())
    assert len(patients) == len({p["id"] for p in patients}) == expected == bundles[0]["total"]
    for patient in patients:
        model = validate(patient)
        assert model.identifier is None and model.name is None and model.birthDate is None
        assert set(patient) <= {"resourceType", "id", "meta", "gender", "address"}
        for address in patient.get("address", []):
            assert set(address) <= {"use", "district"}
    # no raw patient id anywhere: search, read, every type
    seen = json.dumps(patients)
    for resource_type in ("Encounter", "Condition", "Observation"):
        seen += json.dumps(walk(client, f"/fhir/{resource_type}", {"_count": 7})[1])
    for i in range(N_VISITS):
        if raw_patient(i):
            assert raw_patient(i) not in seen
    one = client.get(f"/fhir/Patient/{patients[0]['id']}")
    assert one.status_code == 200 and one.json() == patients[0]


def test_read_each_type_and_404_outcome(client: TestClient) -> None:
    for resource_type in ("Encounter", "Condition", "Observation", "Patient", "MeasureReport"):
        first = client.get(f"/fhir/{resource_type}", params={"_count": 1}).json()["entry"][0]
        response = client.get(first["fullUrl"])
        assert response.status_code == 200
        assert response.json() == first["resource"]
        assert first["fullUrl"].endswith(f"/fhir/{resource_type}/{first['resource']['id']}")
    for path in (
        "/fhir/Encounter/v999999",
        "/fhir/Condition/v1",
        "/fhir/Patient/pt-nobody",
        "/fhir/Observation/x",
    ):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/fhir+json")
        outcome = validate(response.json())
        assert outcome.issue[0].code == "not-found"


def test_search_filters(client: TestClient, filled: Store) -> None:
    visits = stored_visits(filled)
    date = visits["visit_date"]

    def encounters(**params: Any) -> set[str]:
        return {r["id"] for r in walk(client, "/fhir/Encounter", {"_count": 7, **params})[1]}

    def expected(mask: pd.Series) -> set[str]:
        return {f"v{pk}" for pk in visits.loc[mask, "id"]}

    assert encounters(date="2026-03-02") == expected(date == "2026-03-02")
    both = encounters(date=["ge2026-03-02", "lt2026-03-04"])
    assert both == expected((date >= "2026-03-02") & (date < "2026-03-04"))
    assert encounters(date="gt2026-03-02") == expected(date > "2026-03-02")
    assert encounters(date="le2026-03-02") == expected(date <= "2026-03-02")
    assert encounters(date="2026-03") == expected(date >= "2026")
    assert encounters(date="ge2026-03-03T12:00") == expected(
        visits["visit_time"] >= "2026-03-03T12:00"
    )
    assert encounters(region="R2,R3") == expected(visits["residence_region"].isin(["R2", "R3"]))
    assert encounters(facility="F2") == expected(visits["facility_id"] == "F2")
    ili = visits["syndrome_mask"].astype(int) & Syndrome.ILI.bit != 0
    assert encounters(syndrome="ili") == expected(ili) != set()
    assert encounters(syndrome=f"{fr.SYNDROME_SYSTEM}|ili", region="R1") == expected(
        ili & (visits["residence_region"] == "R1")
    )
    # a patient's visits: the repeat patient has two
    key = visits["patient_key"].dropna().value_counts().index[0]
    assert visits["patient_key"].value_counts()[key] == 2
    mine = encounters(patient=f"Patient/pt-{key}")
    assert mine == expected(visits["patient_key"] == key)
    conditions = walk(client, "/fhir/Condition", {"patient": f"pt-{key}"})[1]
    assert {c["encounter"]["reference"] for c in conditions} <= {f"Encounter/{e}" for e in mine}
    patients = walk(client, "/fhir/Patient", {"region": "R4", "_count": 7})[1]
    assert patients and all(p["address"][0]["district"] == "R4" for p in patients)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"name": "x"}, "name"),
        ({"date": "2026-13-01"}, "2026-13-01"),
        ({"date": "sa2026-03-01"}, "sa"),
        ({"syndrome": "plague"}, "plague"),
        ({"_count": "-1"}, "-1"),
        ({"_cursor": "garbage"}, "garbage"),
        ({"patient": "Patient/12345"}, "Patient/12345"),
        ({"_count": ["1", "2"]}, "_count"),
    ],
)
def test_strict_parameters(client: TestClient, params: dict, named: str) -> None:
    response = client.get("/fhir/Encounter", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = validate(response.json())
    assert named in outcome.issue[0].diagnostics
    assert outcome.issue[0].severity == "error"


def test_count_is_capped_and_zero_gives_the_total(client: TestClient, filled: Store) -> None:
    bundle = client.get("/fhir/Encounter", params={"_count": 1000}).json()
    assert len(bundle["entry"]) == 7  # max_count
    zero = client.get("/fhir/Encounter", params={"_count": 0}).json()
    assert zero["total"] == N_VISITS and "entry" not in zero
    assert [link["relation"] for link in zero["link"]] == ["self"]
    conditions = client.get("/fhir/Condition", params={"_count": 0}).json()
    assert conditions["total"] > N_VISITS and len(conditions["link"]) == 1
    default = client.get("/fhir/Encounter").json()
    assert len(default["entry"]) == 5
    nxt = dict(parse_qsl(urlsplit(default["link"][1]["url"]).query))
    assert set(nxt) == {"_cursor"}


def test_measure_reports_from_daily_counts(client: TestClient, filled: Store) -> None:
    counts = filled.daily_counts()
    bundles, reports = walk(client, "/fhir/MeasureReport", {"_count": 7, "syndrome": "all"})
    expected = counts[counts["syndrome"] == "all"]
    assert len(reports) == len(expected) == bundles[0]["total"]
    got = {
        (r["period"]["start"], r.get("subject", {}).get("identifier", {}).get("value", "")): r[
            "group"
        ][0]["population"][0]["count"]
        for r in reports
    }
    assert got == {
        (str(d), reg): n
        for d, reg, n in zip(
            expected["date"], expected["region_id"], expected["count"], strict=True
        )
    }
    for report in reports:
        model = validate(report)
        assert model.type == "summary"
    totals = walk(
        client,
        "/fhir/MeasureReport",
        {"period": "total", "region": "R1", "date": ["ge2026-03-01", "le2026-03-05"]},
    )[1]
    r1 = counts[counts["region_id"] == "R1"].groupby("syndrome")["count"].sum().to_dict()
    assert {
        t["group"][0]["code"]["coding"][0]["code"]: t["group"][0]["population"][0]["count"]
        for t in totals
    } == r1
    again = client.get(f"/fhir/MeasureReport/{totals[0]['id']}").json()
    assert again["group"] == totals[0]["group"]
    assert (
        client.get("/fhir/MeasureReport", params={"date": "ge2026-03-01T10:00"}).status_code == 400
    )


# ---------------------------------------------------------------------------------------------
# scope


def _client(app, store: Store, role: str, name: str, **scope: Any) -> TestClient:
    return authorize(TestClient(app), store, role, name=name, **scope)


def test_district_epidemiologist_sees_its_residents_only(app, filled: Store) -> None:
    visits = stored_visits(filled)
    epi = _client(app, filled, "epidemiologist", "epi-r1", districts=["R1"])
    _, encounters = walk(epi, "/fhir/Encounter", {"_count": 7})
    mine = visits[visits["residence_region"] == "R1"]
    assert {e["id"] for e in encounters} == {f"v{pk}" for pk in mine["id"]}
    _, patients = walk(epi, "/fhir/Patient", {"_count": 7})
    assert patients and all(p["address"][0]["district"] == "R1" for p in patients)
    # outside the scope: 404, as if unknown (search filters cannot widen it)
    other = visits[visits["residence_region"] == "R2"]["id"].iloc[0]
    assert epi.get(f"/fhir/Encounter/v{other}").status_code == 404
    assert walk(epi, "/fhir/Encounter", {"region": "R2"})[1] == []


def test_hospital_reporter_sees_its_facility_only(app, filled: Store) -> None:
    visits = stored_visits(filled)
    reporter = _client(app, filled, "hospital_reporter", "rep-f2", facility_id="F2")
    _, encounters = walk(reporter, "/fhir/Encounter", {"_count": 7})
    assert {e["id"] for e in encounters} == {
        f"v{pk}" for pk in visits[visits["facility_id"] == "F2"]["id"]
    }
    _, observations = walk(reporter, "/fhir/Observation", {"_count": 7})
    assert {o["encounter"]["reference"][len("Encounter/") :] for o in observations} <= {
        e["id"] for e in encounters
    }
    f1 = visits[visits["facility_id"] == "F1"]["id"].iloc[0]
    assert reporter.get(f"/fhir/Encounter/v{f1}").status_code == 404
    assert reporter.get("/fhir/MeasureReport").status_code == 403


def test_viewer_reads_measure_reports_not_patients(app, filled: Store) -> None:
    viewer = _client(app, filled, "viewer", "viewer")
    assert viewer.get("/fhir/Patient").status_code == 403
    assert viewer.get("/fhir/Encounter/v1").status_code == 403
    assert viewer.get("/fhir/$export", headers={"Prefer": "respond-async"}).status_code == 403
    response = viewer.get("/fhir/MeasureReport", params={"_count": 2})
    assert response.status_code == 200
    validate(response.json())
