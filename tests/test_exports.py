"""De-identified line-list export: the API, the page, scopes, files, audit and the CLI, on
SQLite and PostgreSQL (service.exports, web/exports.py, cli_export.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from epiradar.cli import app as cli_app
from epiradar.config import Settings
from epiradar.model import Facility, Region, Syndrome, mask_of
from epiradar.service import exports
from epiradar.share.deidentify import SYNDROME_COLUMNS
from epiradar.store import Store
from epiradar.store.schema import visits as visits_table
from epiradar.web.app import create_app
from web_support import authorize, fill_store

runner = CliRunner()


def _client(store: Store, role: str = "administrator", name: str = "tests", **scope):
    client = TestClient(create_app(Settings(db=store.url, pseudonym_key="k"), store))
    return authorize(client, store, role, name=name, **scope)


def _identifiers(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(visits_table.c.patient_key, visits_table.c.visit_id, visits_table.c.visit_time)
        ).all()
    return {v for row in rows for v in row if v}


def _entries(store: Store, action: str = exports.ACTION) -> list[dict]:
    return [
        {"actor": e.actor, "object_id": e.object_id, **e.detail_data}
        for e in store.audit.entries(newest_first=False, limit=1000)
        if e.action == action
    ]


@pytest.fixture
def filled(store: Store) -> Store:
    fill_store(store)
    return store


def test_admin_gets_the_report_then_csv_and_parquet_files(filled: Store) -> None:
    client = _client(filled)
    report = client.get("/api/exports/line-list/report", params={"k": 5}).json()
    a = report["anonymity"]
    assert a["releasable"] and a["k_requested"] == 5 and a["k_achieved"] >= 5
    assert a["records_released"] + a["records_suppressed"] == a["records_in"] > 5000
    assert report["scope"] is None and report["filters"]["start"] == "2025-12-02"
    assert set(a["levels"]) == {"age", "sex", "visit", "onset", "district"}

    reply = client.get("/api/exports/line-list", params={"k": 5, "format": "csv"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    assert "attachment" in reply.headers["content-disposition"]
    assert int(reply.headers["X-Epiradar-K"]) == a["k_achieved"]
    assert reply.headers["X-Epiradar-Records-Released"] == str(a["records_released"])
    csv = pd.read_csv(io.BytesIO(reply.content), dtype=str, keep_default_na=False)
    assert list(csv.columns) == report["columns"] and len(csv) == a["records_released"]
    assert (
        csv.groupby(["visit_period", "onset_period", "age_band", "sex", "district"]).size().min()
        >= 5
    )
    cells = set(csv.to_numpy().ravel())
    assert not cells & _identifiers(filled)
    assert not {"patient_key", "visit_id", "chief_complaint", "residence_lat"} & set(csv.columns)

    reply = client.get("/api/exports/line-list", params={"k": 5, "format": "parquet"})
    assert reply.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(reply.content))
    assert table.num_rows == a["records_released"]
    assert str(table.schema.field("syndrome_gastrointestinal").type) == "bool"
    assert str(table.schema.field("age_band").type) == "string"
    meta = table.schema.metadata
    assert meta[b"epiradar.schema_version"] == b"1"
    stored = json.loads(meta[b"epiradar.report"])
    assert stored["anonymity"] == a and stored["columns"] == report["columns"]
    frame = table.to_pandas()
    assert frame[list(SYNDROME_COLUMNS)].to_numpy().any()
    assert frame["syndrome_gastrointestinal"].sum() > 0

    # every file in the audit log: what, to whom, its SHA-256
    released = _entries(filled)
    assert [e["format"] for e in released] == ["csv", "parquet"]
    last = released[-1]
    assert last["actor"] == "token:tests" and last["channel"] == "web"
    assert last["sha256"] == hashlib.sha256(reply.content).hexdigest() == last["object_id"]
    assert last["rows_released"] == a["records_released"]
    assert last["rows_suppressed"] == a["records_suppressed"]
    assert last["k_requested"] == 5 and last["k_achieved"] == a["k_achieved"]
    assert last["levels"] == a["levels"] and last["columns"] == report["columns"]
    assert last["filters"]["start"] == "2025-12-02" and last["scope"] is None
    downloads = _entries(filled, "export.line_list.download")
    assert len(downloads) == 2 and downloads[0]["status"] == 200  # the middleware's own


def test_district_epidemiologist_exports_only_its_residents(filled: Store) -> None:
    epi = _client(filled, "epidemiologist", name="epi5", districts=["R05"])
    with filled.engine.connect() as conn:
        r05 = conn.execute(
            select(visits_table.c.id).where(visits_table.c.residence_region == "R05")
        ).all()
    report = epi.get("/api/exports/line-list/report", params={"k": 3}).json()
    assert report["scope"] == ["R05"] and report["anonymity"]["records_in"] == len(r05)
    reply = epi.get("/api/exports/line-list", params={"k": 3, "qi": "district,visit"})
    assert reply.status_code == 200, reply.text
    csv = pd.read_csv(io.BytesIO(reply.content), dtype=str, keep_default_na=False)
    assert set(csv["district"]) == {"R05"} and 0 < len(csv) <= len(r05)
    assert epi.get("/api/exports/line-list/report", params={"districts": "R06"}).status_code == 403
    refused = epi.get("/api/exports/line-list", params={"districts": ["R05", "R06"]})
    assert refused.status_code == 403 and "R06 outside your districts" in refused.json()["detail"]
    assert _entries(filled)[-1]["scope"] == ["R05"]
    # the whole city for a city-wide epidemiologist (visits of unknown residence too)
    city = _client(filled, "epidemiologist", name="epicity")
    everyone = city.get("/api/exports/line-list/report").json()["anonymity"]["records_in"]
    with filled.engine.connect() as conn:
        assert everyone == len(conn.execute(select(visits_table.c.id)).all())
    # roles without the permission
    for role, scope in (("viewer", {}), ("hospital_reporter", {"facility_id": "F1"})):
        other = _client(filled, role, name=f"x-{role}", **scope)
        for path in ("/api/exports/line-list/report", "/api/exports/line-list", "/exports"):
            assert other.get(path).status_code == 403, (role, path)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"k": 1}, "k"),
        ({"k": "many"}, "k"),
        ({"start": "2026-03-10", "end": "2026-03-01"}, "end"),
        ({"start": "yesterday"}, "start"),
        ({"qi": "age,postcode"}, "qi"),
        ({"syndrome": "plague"}, "syndrome"),
        ({"max_suppression": 1.5}, "max_suppression"),
        ({"format": "xlsx"}, "format"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_422_naming_the_field(filled: Store, params: dict, field: str) -> None:
    client = _client(filled)
    reply = client.get("/api/exports/line-list", params=params)
    assert reply.status_code == 422
    assert [e["loc"] for e in reply.json()["detail"]] == [["query", field]]
    assert _entries(filled) == []


def test_unknown_districts_and_unreachable_k_are_refused_and_recorded(filled: Store) -> None:
    client = _client(filled)
    reply = client.get("/api/exports/line-list/report", params={"districts": "R99"})
    assert (
        reply.status_code == 422 and reply.json()["detail"] == "districts: unknown district(s) R99"
    )
    few = {"start": "2026-03-01", "end": "2026-03-02", "k": 500}
    report = client.get("/api/exports/line-list/report", params=few).json()["anonymity"]
    assert not report["releasable"] and report["records_released"] == 0
    assert "k = 500 cannot be reached" in report["reason"]
    reply = client.get("/api/exports/line-list", params=few)
    assert reply.status_code == 422
    assert reply.json()["detail"].startswith("k: k = 500 cannot be reached")
    assert "lower k" in reply.json()["detail"]
    [refused] = _entries(filled)
    assert refused["outcome"] == "refused" and "cannot be reached" in refused["reason"]
    assert refused["k_requested"] == 500 and refused["rows_released"] == 0
    assert "sha256" not in refused and refused["object_id"] is None


def _city_with_districts(store: Store) -> None:
    regions = [
        Region(id=f"R{i}", name=f"Sub-district {i}", population=1000, parent_id=parent)
        for i, parent in ((1, "D1"), (2, "D1"), (3, "D2"), (4, None))
    ]
    facilities = [
        Facility(id="F1", name="North", region_id="R1"),
        Facility(id="F2", name="South", region_id="R3"),
    ]
    store.load_city(regions, facilities, [], [])
    rows = []
    day0 = dt.date(2026, 1, 5)
    for i in range(240):
        day = day0 + dt.timedelta(days=i % 14)
        rows.append(
            {
                "facility_id": "F1" if i % 2 else "F2",
                "visit_id": f"V{i:04d}",
                "visit_time": f"{day.isoformat()}T09:00:00",
                "patient_key": f"KEY{i % 80:05d}",
                "age": float(20 + i % 40),
                "sex": "F" if i % 3 else "M",
                "residence_region": f"R{i % 4 + 1}",
                "chief_complaint": "fever and cough",
                "temperature_c": 38.5,
                "onset_date": (day - dt.timedelta(days=2)).isoformat(),
                "syndrome_mask": mask_of([Syndrome.FEVER, Syndrome.ILI]) if i % 5 else 0,
                "lab_result": "influenza A" if i % 7 == 0 else None,
            }
        )
    run = store.start_ingest_run("visits.csv", "csv")
    store.insert_visits(rows, run)


def test_regions_with_parents_are_released_as_districts(store: Store) -> None:
    _city_with_districts(store)
    admin = _client(store)
    reply = admin.get(
        "/api/exports/line-list",
        params={"k": 5, "qi": ["district", "facility"], "pseudonyms": "true"},
    )
    assert reply.status_code == 200, reply.text
    csv = pd.read_csv(io.BytesIO(reply.content), dtype=str, keep_default_na=False)
    assert set(csv["district"]) == {"D1", "D2", "R4"}
    assert set(csv["facility"]) <= {"F1", "F2", "D1", "D2", "*"}
    assert csv["person"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert csv["person"].nunique() == 80 and not set(csv["person"]) & _identifiers(store)
    d1 = admin.get("/api/exports/line-list/report", params={"districts": "D1"}).json()
    assert d1["anonymity"]["records_in"] == 120  # R1 and R2
    # a district epidemiologist of R1: its residents, released under their district D1
    epi = _client(store, "epidemiologist", name="epi1", districts=["R1"])
    mine = epi.get("/api/exports/line-list", params={"k": 5, "qi": "district,visit"})
    assert mine.status_code == 200
    rows = pd.read_csv(io.BytesIO(mine.content), dtype=str)
    assert set(rows["district"]) == {"D1"} and len(rows) == 60
    assert epi.get("/api/exports/line-list/report", params={"districts": "D1"}).status_code == 403
    assert epi.get("/api/exports/line-list/report", params={"districts": "R1"}).status_code == 200


def test_exports_page_shows_the_report_before_the_download(filled: Store) -> None:
    client = _client(filled)
    page = client.get("/exports")
    assert page.status_code == 200 and 'id="export-form"' in page.text
    assert 'id="export-report"' not in page.text  # nothing computed before asking
    page = client.get("/exports", params={"k": 5, "qi": ["age", "visit"], "syndrome": ""})
    assert page.status_code == 200
    assert 'id="export-ok"' in page.text and 'id="download-csv"' in page.text
    assert "/api/exports/line-list?k=5&amp;qi=age&amp;qi=visit&amp;format=csv" in page.text
    refused = client.get("/exports", params={"k": 500, "start": "2026-03-01", "end": "2026-03-01"})
    assert 'id="export-refused"' in refused.text and 'id="download-csv"' not in refused.text
    bad = client.get("/exports", params={"k": "abc"})
    assert bad.status_code == 422 and 'id="export-errors"' in bad.text
    assert _entries(filled) == []  # the page releases nothing


def test_cli_writes_the_file_after_the_report_and_records_it(filled: Store, tmp_path: Path) -> None:
    out = tmp_path / "list.parquet"
    result = runner.invoke(
        cli_app,
        ["--actor", "dr.li", "export", "line-list", "--out", str(out), "--db", filled.url,
         "--k", "5", "--districts", "R05,R06", "--syndrome", "gastrointestinal"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "k-anonymity report" in result.output and f"wrote {out}" in result.output
    content = out.read_bytes()
    table = pq.read_table(out)
    assert set(table.column("district").to_pylist()) <= {"R05", "R06", "*"}
    assert all(table.column("syndrome_gastrointestinal").to_pylist())
    released = [e for e in _entries(filled) if "sha256" in e]
    assert len(released) == 1 and released[0]["actor"] == "dr.li"
    assert released[0]["channel"] == "cli" and released[0]["format"] == "parquet"
    assert released[0]["sha256"] == hashlib.sha256(content).hexdigest()
    assert released[0]["filters"]["districts"] == ["R05", "R06"]
    assert exports.parquet_report(content)["anonymity"]["records_released"] == table.num_rows

    result = runner.invoke(cli_app, ["export", "report", "--json", "--db", filled.url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["anonymity"]["releasable"] is True

    refused = tmp_path / "none.csv"
    result = runner.invoke(
        cli_app,
        ["export", "line-list", "--out", str(refused), "--db", filled.url, "--k", "900",
         "--start", "2026-03-01", "--end", "2026-03-01"],
    )  # fmt: skip
    assert result.exit_code == 2 and "cannot be reached" in result.output
    assert not refused.exists()
    result = runner.invoke(cli_app, ["export", "report", "--qi", "postcode", "--db", filled.url])
    assert result.exit_code == 2 and "--qi" in result.output
