"""HTTP ingest against a real ``epiradar serve`` process: HL7 v2 batches and FHIR R4 Bundles,
with per-facility tokens, per-message results and the quarantine."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest

from epiradar.sim.fhir import fhir_bundles
from epiradar.store import Store
from server_support import Server
from test_mllp import message

pytestmark = pytest.mark.slow

FHIR_DATA = Path(__file__).parent / "data" / "fhir"


def test_http_hl7_batch_with_a_facility_token(server: Server, served_db_url: str) -> None:
    with Store(served_db_url) as store:
        token = store.create_token("F1", "test")
        other = store.create_token("F2")
    batch = "\n".join(message(f"H{i}", f"VH{i}") for i in range(5))
    url = f"{server.url}/api/ingest/hl7"
    assert httpx.post(url, content=batch).status_code == 401
    assert (
        httpx.post(url, content=batch, headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    reply = httpx.post(url, content=batch, headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200
    body = reply.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (5, 0, 0)
    # a facility cannot submit another facility's visits
    reply = httpx.post(
        url, content=message("X1", "VX1"), headers={"Authorization": f"Bearer {other}"}
    )
    assert reply.json()["results"][0]["ack_code"] == "AR"
    # ACKs on request
    reply = httpx.post(
        url,
        content=batch,
        headers={"Authorization": f"Bearer {token}", "Accept": "x-application/hl7-v2+er7"},
    )
    assert reply.text.count("MSA|AA|") == 5
    with Store(served_db_url) as store:
        assert len(store.visits_frame(None, None)) == 5


def _visits(n: int, facility: str = "F1") -> pd.DataFrame:
    rows = [
        {
            "visit_id": f"FV{i}",
            "facility_id": facility,
            "visit_time": f"2024-03-0{1 + i % 5}T10:{i % 60:02d}:00",
            "patient_id": f"PAT-{i}",
            "age": str(20 + i),
            "sex": "F" if i % 2 else "M",
            "residence_region": "R1" if i % 2 else "R3",
            "chief_complaint": "fever and cough" if i % 3 else "diarrhoea 腹泻",
            "temperature_c": "38.2",
            "diagnosis_codes": "J10.1" if i % 3 else "A09",
            "exposures": "P1@2024-02-28" if i % 4 == 0 else "",
        }
        for i in range(n)
    ]
    frame = pd.DataFrame(rows)
    for name in ("residence_lat", "residence_lon", "onset_date", "contacts", "lab_result"):
        frame[name] = ""
    return frame


def test_fhir_bundle_end_to_end(server: Server, served_db_url: str) -> None:
    with Store(served_db_url) as store:
        token = store.create_token("F1")
    [bundle] = fhir_bundles(_visits(12), per_bundle=12)
    url = f"{server.url}/api/fhir"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    assert httpx.post(url, content=json.dumps(bundle)).status_code == 401
    reply = httpx.post(url, content=json.dumps(bundle), headers=headers)
    assert reply.status_code == 200, reply.text
    outcome = reply.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert [i["severity"] for i in outcome["issue"]] == ["information"]
    assert "12 visits accepted" in outcome["issue"][0]["diagnostics"]
    with Store(served_db_url) as store:
        frame = store.visits_frame(None, None).set_index("visit_id")
        assert len(frame) == 12
        assert frame.loc["FV1", "chief_complaint"] == "fever and cough"
        assert frame.loc["FV0", "residence_region"] == "R3"
        assert frame.loc["FV0", "patient_key"] != "PAT-0"
        assert len(store.exposures_frame(frame["id"])) == 3
    # the same Bundle again changes nothing
    again = httpx.post(url, content=json.dumps(bundle), headers=headers)
    assert again.status_code == 200
    with Store(served_db_url) as store:
        assert len(store.message_log()) == 12


def test_fhir_bad_entries_are_named_and_quarantined(server: Server, served_db_url: str) -> None:
    with Store(served_db_url) as store:
        token = store.create_token("F1")
    [bundle] = fhir_bundles(_visits(3), per_bundle=3)
    encounters = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"]
    encounters[1]["resource"]["period"]["start"] = "2024-02-30T10:00:00+08:00"
    headers = {"Authorization": f"Bearer {token}"}
    reply = httpx.post(f"{server.url}/api/fhir", content=json.dumps(bundle), headers=headers)
    assert reply.status_code == 200
    issues = reply.json()["issue"]
    errors = [i for i in issues if i["severity"] == "error"]
    assert errors and any("period.start" in e["expression"][0] for e in errors)
    assert issues[-1]["diagnostics"] == "2 visits accepted"
    with Store(served_db_url) as store:
        assert len(store.visits_frame(None, None)) == 2
        kept = store.quarantined(source="fhir:F1")
        assert kept and all(q["format"] == "fhir" for q in kept)
    # not a Bundle at all
    reply = httpx.post(f"{server.url}/api/fhir", content=b"{not json", headers=headers)
    assert reply.status_code == 400
    assert reply.json()["issue"][0]["severity"] == "fatal"


def test_fhir_spec_example_bundle_is_read(server: Server, served_db_url: str) -> None:
    """The R4 specification's transaction example names no facility of ours: refused, named."""
    with Store(served_db_url) as store:
        token = store.create_token("F1")
    body = (FHIR_DATA / "bundle-transaction.json").read_bytes()
    reply = httpx.post(
        f"{server.url}/api/fhir", content=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status_code in (200, 400)
    assert reply.json()["resourceType"] == "OperationOutcome"
