"""FHIR Bulk Data export (https://hl7.org/fhir/uv/bulkdata/): kick-off, status polling, NDJSON
files validated with the R4B models, counts against the store within the caller's scope, a
round trip back through the FHIR ingest into a fresh store, cancel, other callers, expiry,
the audit entry, and the ``epiradar fhir export`` command. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from typer.testing import CliRunner

from epiradar.cli import app as cli_app
from epiradar.ingest.city import City
from epiradar.service import fhir_api
from epiradar.service.audit import iter_entries
from epiradar.service.auth import Principal
from epiradar.share import fhir_resources as fr
from epiradar.store import Store
from epiradar.store.audit import AuditFilter
from epiradar.web.app import create_app
from test_fhir_api import N_VISITS, app_settings, fill, ingest_bundles, stored_visits, validate
from web_support import authorize

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


@pytest.fixture
def filled(city_store: Store) -> Store:
    fill(city_store)
    return city_store


@pytest.fixture
def settings(filled: Store, tmp_path: Path):
    return app_settings(filled, tmp_path)


@pytest.fixture
def app(filled: Store, settings):
    return create_app(settings, filled)


def caller(app, store: Store, role: str, name: str, **scope: Any) -> TestClient:
    return authorize(TestClient(app), store, role, name=name, **scope)


def kick_off(client: TestClient, path: str = "/fhir/$export", **params: Any) -> str:
    response = client.get(path, params=params, headers=ASYNC)
    assert response.status_code == 202, response.text
    validate(response.json())
    return response.headers["Content-Location"]


def finish(client: TestClient, location: str) -> Response:
    """Poll a job's status until it is no longer 202 (the job runs in a thread)."""
    deadline = time.monotonic() + 120
    while True:
        response = client.get(location)
        if response.status_code != 202:
            return response
        assert response.headers["X-Progress"]
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.05)


def download(client: TestClient, manifest: dict) -> dict[str, list[dict[str, Any]]]:
    """Every file of a manifest, each line parsed and validated: resources by type."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in manifest["output"]:
        response = client.get(item["url"])
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/fhir+ndjson")
        lines = response.content.decode().splitlines()
        assert len(lines) == item["count"]
        for line in lines:
            resource = json.loads(line)
            assert resource["resourceType"] == item["type"]
            validate(resource)
            out[item["type"]].append(resource)
    return out


def expected_counts(visits: pd.DataFrame) -> dict[str, int]:
    """Resources per type the store holds for ``visits`` (the rows as stored)."""
    rows = visits.to_dict("records")
    keyed = visits["patient_key"].dropna()
    return {
        "Patient": int(keyed.nunique() + visits["patient_key"].isna().sum()),
        "Encounter": len(rows),
        "Condition": sum(fr.count_resources("Condition", r) for r in rows),
        "Observation": sum(fr.count_resources("Observation", r) for r in rows),
    }


def bundles_of(resources: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A collection Bundle per Encounter with its Patient, Conditions and Observations."""
    patients = {p["id"]: p for p in resources["Patient"]}
    linked: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for kind in ("Condition", "Observation"):
        for r in resources[kind]:
            linked[r["encounter"]["reference"]].append(r)
    bundles = []
    for enc in resources["Encounter"]:
        parts = [enc, patients[enc["subject"]["reference"].split("/")[1]]]
        parts += linked[f"Encounter/{enc['id']}"]
        bundles.append(fr.collection(parts, base="https://epiradar.example/fhir"))
    return bundles


def test_bulk_round_trip_into_a_fresh_store(
    app, filled: Store, small_city: City, tmp_path: Path
) -> None:
    client = caller(app, filled, "administrator", "bulk-admin")
    location = kick_off(client, _type="Patient,Encounter,Condition,Observation")
    assert location.startswith("http://testserver/fhir/bulk/")
    done = finish(client, location)
    assert done.status_code == 200
    manifest = done.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["error"] == []
    assert manifest["request"].startswith("http://testserver/fhir/$export?_type=")
    assert manifest["transactionTime"].endswith("Z")
    resources = download(client, manifest)
    visits = stored_visits(filled)
    counts = {t: len(resources[t]) for t in fr.TYPES}
    assert counts == expected_counts(visits)
    assert {o["type"] for o in manifest["output"]} == set(fr.TYPES)

    # the NDJSON, as Bundles, through the FHIR ingest into a fresh store: the same visits
    fresh = Store(f"sqlite:///{tmp_path / 'fresh.db'}")
    fresh.migrate()
    fresh.load_city(small_city.regions, small_city.facilities, small_city.places, [])
    assert ingest_bundles(fresh, bundles_of(resources)) == N_VISITS
    again = stored_visits(fresh)
    columns = ["facility_id", "visit_id", "visit_time", "residence_region", "syndrome_mask"]
    columns += ["sex", "temperature_c", "diagnosis_codes", "onset_date", "lab_result"]
    columns += ["patient_class", "discharge_time", "chief_complaint"]

    def table(frame: pd.DataFrame) -> list[tuple]:
        return sorted(tuple(str(v) for v in row) for row in frame[columns].itertuples(index=False))

    assert table(again) == table(visits)

    def cube(store: Store) -> pd.DataFrame:
        frame = store.daily_counts()
        return frame.sort_values(["date", "region_id", "syndrome"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(cube(fresh), cube(filled))
    fresh.close()

    # the export is in the audit log: what (types, counts, files, hashes) and to whom
    job_id = location.rsplit("/", 1)[1]
    entries = list(iter_entries(filled, AuditFilter(action="fhir.bulk.export")))
    assert len(entries) == 1
    entry = entries[0]
    assert entry.actor == "token:bulk-admin"
    assert entry.object_id == job_id
    detail = entry.detail_data
    assert detail["channel"] == "web"
    assert detail["counts"] == counts
    assert detail["scope"] == {"districts": None, "facility_id": None}
    for item in manifest["output"]:
        name = item["url"].rsplit("/", 1)[1]
        body = client.get(item["url"]).content
        assert detail["sha256"][name] == hashlib.sha256(body).hexdigest()
    assert sorted(detail["files"]) == sorted(detail["sha256"])
    # the middleware recorded the kick-off and each file read as well
    assert list(iter_entries(filled, AuditFilter(action="fhir.bulk.kickoff")))
    assert list(iter_entries(filled, AuditFilter(action="fhir.bulk.file.read")))


def test_export_keeps_the_scope_and_the_owner(app, filled: Store) -> None:
    visits = stored_visits(filled)
    epi = caller(app, filled, "epidemiologist", "epi-r1", districts=["R1"])
    location = kick_off(epi, "/fhir/Patient/$export", _type="Encounter,Patient")
    done = finish(epi, location)
    assert done.status_code == 200
    manifest = done.json()
    resources = download(epi, manifest)
    mine = visits[visits["residence_region"] == "R1"]
    assert {e["id"] for e in resources["Encounter"]} == {f"v{pk}" for pk in mine["id"]}
    assert all(p["address"][0]["district"] == "R1" for p in resources["Patient"])
    assert {t: len(resources[t]) for t in ("Encounter", "Patient")} == {
        t: expected_counts(mine)[t] for t in ("Encounter", "Patient")
    }
    # another caller, even with the same role, cannot see the job; an administrator can
    other = caller(app, filled, "epidemiologist", "epi-r2", districts=["R2"])
    file_url = manifest["output"][0]["url"]
    assert other.get(location).status_code == 404
    assert other.get(file_url).status_code == 404
    assert other.delete(location).status_code == 404
    outcome = validate(other.get(location).json())
    assert outcome.issue[0].code == "not-found"
    admin = caller(app, filled, "administrator", "admin")
    assert admin.get(location).status_code == 200
    # a hospital reporter's export holds its facility's visits only
    reporter = caller(app, filled, "hospital_reporter", "rep-f1", facility_id="F1")
    done = finish(reporter, kick_off(reporter, _type="Encounter"))
    got = download(reporter, done.json())["Encounter"]
    assert {e["id"] for e in got} == {
        f"v{pk}" for pk in visits[visits["facility_id"] == "F1"]["id"]
    }
    entries = list(iter_entries(filled, AuditFilter(action="fhir.bulk.export")))
    scopes = {e.actor: e.detail_data["scope"] for e in entries}
    assert scopes == {
        "token:epi-r1": {"districts": ["R1"], "facility_id": None},
        "token:rep-f1": {"districts": None, "facility_id": "F1"},
    }


def test_cancel_deletes_the_files(app, filled: Store, settings) -> None:
    client = caller(app, filled, "administrator", "admin")
    # cancelled at once (while queued or running, or just done: all end the same way)
    location = kick_off(client)
    assert client.delete(location).status_code == 202
    assert client.get(location).status_code == 404
    assert client.delete(location).status_code == 404
    # a finished job: its files are deleted
    location = kick_off(client, _type="Encounter")
    manifest = finish(client, location).json()
    job_id = location.rsplit("/", 1)[1]
    directory = fhir_api.bulk_dir(settings) / job_id
    assert any(directory.iterdir())
    assert client.delete(location).status_code == 202
    assert not directory.exists()
    assert client.get(manifest["output"][0]["url"]).status_code == 404
    assert client.get(location).status_code == 404


def test_expired_jobs_are_cleaned_up(app, filled: Store, settings) -> None:
    client = caller(app, filled, "administrator", "admin")
    location = kick_off(client, _type="Observation")
    manifest = finish(client, location).json()
    job_id = location.rsplit("/", 1)[1]
    directory = fhir_api.bulk_dir(settings) / job_id
    assert directory.is_dir()
    assert fhir_api.remove_expired(filled, settings) == 0  # not yet
    later = time.time() + (settings.fhir.bulk_retention_hours + 1) * 3600
    assert fhir_api.remove_expired(filled, settings, now=later) == 1
    assert not directory.exists()
    assert client.get(location).status_code == 404
    assert client.get(manifest["output"][0]["url"]).status_code == 404


def test_files_are_split_and_since_filters(filled: Store, tmp_path: Path) -> None:
    app = create_app(app_settings(filled, tmp_path, bulk_file_resources=7), filled)
    client = caller(app, filled, "administrator", "admin")
    manifest = finish(client, kick_off(client, _type="Encounter")).json()
    sizes = [o["count"] for o in manifest["output"]]
    assert sizes == [7] * (N_VISITS // 7) + [N_VISITS % 7]
    assert len({o["url"] for o in manifest["output"]}) == len(sizes)
    ids = [e["id"] for e in download(client, manifest)["Encounter"]]
    assert len(ids) == len(set(ids)) == N_VISITS
    # _since: visits changed at or after it
    future = finish(client, kick_off(client, _since="2999-01-01T00:00:00Z")).json()
    assert future["output"] == []
    past = finish(client, kick_off(client, _type="Encounter", _since="2000-01-01T00:00:00Z"))
    assert sum(o["count"] for o in past.json()["output"]) == N_VISITS


@pytest.mark.parametrize(
    ("params", "headers", "named"),
    [
        ({}, {}, "respond-async"),
        ({"_type": "Encounter,Medication"}, ASYNC, "Medication"),
        ({"_outputFormat": "text/csv"}, ASYNC, "text/csv"),
        ({"_typeFilter": "Encounter?status=finished"}, ASYNC, "_typeFilter"),
        ({"_since": "yesterday"}, ASYNC, "yesterday"),
        ({"patient": "Patient/pt-1"}, ASYNC, "patient"),
    ],
)
def test_kickoff_errors_are_outcomes(app, filled: Store, params, headers, named) -> None:
    client = caller(app, filled, "administrator", "admin")
    response = client.get("/fhir/$export", params=params, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert named in validate(response.json()).issue[0].diagnostics


def test_cli_export_writes_files_and_records_them(filled: Store, tmp_path: Path) -> None:
    out = tmp_path / "export"
    args = ["--actor", "analyst", "fhir", "export", "--types", "Patient,Encounter,Condition"]
    args += ["--districts", "R2,R3", "--out", str(out), "--db", filled.url]
    result = CliRunner().invoke(cli_app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    visits = stored_visits(filled)
    mine = visits[visits["residence_region"].isin(["R2", "R3"])]
    expected = expected_counts(mine)
    files = sorted(out.glob("*.ndjson"))
    got: dict[str, int] = defaultdict(int)
    for path in files:
        for line in path.read_text().splitlines():
            resource = json.loads(line)
            validate(resource)
            got[resource["resourceType"]] += 1
    assert dict(got) == {t: expected[t] for t in ("Patient", "Encounter", "Condition")}
    entries = [
        e
        for e in iter_entries(filled, AuditFilter(action="fhir.bulk.export"))
        if e.detail_data.get("channel") == "cli" and "counts" in e.detail_data
    ]
    assert len(entries) == 1
    detail = entries[0].detail_data
    assert entries[0].actor == "analyst"
    assert detail["scope"] == {"districts": ["R2", "R3"], "facility_id": None}
    assert detail["counts"] == dict(got)
    assert detail["sha256"] == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    bad = CliRunner().invoke(
        cli_app, ["fhir", "export", "--types", "Medication", "--out", str(out), "--db", filled.url]
    )
    assert bad.exit_code == 2 and "Medication" in bad.output


def test_too_many_running_exports_are_throttled(app, filled: Store, settings) -> None:
    client = caller(app, filled, "administrator", "busy")
    who = Principal(kind="token", name="busy", role="administrator")
    queued = [
        fhir_api.kickoff(
            filled,
            settings,
            who=who,
            actor="busy",
            params=[],
            prefer="respond-async",
            request_url="http://testserver/fhir/$export",
            start=False,  # stays queued
        )
        for _ in range(settings.fhir.bulk_max_active)
    ]
    response = client.get("/fhir/$export", headers=ASYNC)
    assert response.status_code == 429
    assert validate(response.json()).issue[0].code == "throttled"
    # another caller is not held up; cancelling one of them frees a place
    other = caller(app, filled, "administrator", "other")
    assert finish(other, kick_off(other, _type="Encounter")).status_code == 200
    assert client.delete(f"/fhir/bulk/{queued[0]}").status_code == 202
    assert finish(client, kick_off(client, _type="Encounter")).status_code == 200


def test_an_export_interrupted_by_a_restart_fails_instead_of_running_for_ever(
    app, filled: Store, settings
) -> None:
    from epiradar.store import fhir as q_store

    client = caller(app, filled, "administrator", "restarted")
    who = Principal(kind="token", name="restarted", role="administrator")
    stuck = [
        fhir_api.kickoff(
            filled,
            settings,
            who=who,
            actor="restarted",
            params=[],
            prefer="respond-async",
            request_url="http://testserver/fhir/$export",
            start=False,  # as if the server stopped before its thread ran
        )
        for _ in range(settings.fhir.bulk_max_active)
    ]
    assert client.get(f"/fhir/bulk/{stuck[0]}").status_code == 202  # alive a moment ago
    long_ago = time.time() - settings.fhir.bulk_stall_minutes * 60 - 1
    for job_id in stuck:
        q_store.update_job(filled.engine, job_id, {"heartbeat": long_ago})
    status = client.get(f"/fhir/bulk/{stuck[0]}")
    assert status.status_code == 500
    assert "interrupted" in validate(status.json()).issue[0].diagnostics
    # the stalled jobs no longer count against the caller's limit
    assert finish(client, kick_off(client, _type="Encounter")).status_code == 200
    assert q_store.job(filled.engine, stuck[1])["status"] == "failed"
