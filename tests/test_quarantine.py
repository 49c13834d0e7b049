"""The quarantine workflow: list, show, retry (with a corrected mapping, or after the city
learns a facility), discard; on the command line and the JSON API."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from epiradar.cli import app
from epiradar.config import load_settings
from epiradar.ingest.mapping import Mapping
from epiradar.ingest.messages import MessagePipeline
from epiradar.ingest.mllp import read_message
from epiradar.model import Facility
from epiradar.store import Store
from epiradar.web.app import create_app
from test_mapping import BAD, TOML, cn_store  # noqa: F401 - fixture
from test_mllp import message
from web_support import authorize


def run(*args: object, code: int = 0):
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


@pytest.fixture(autouse=True)
def _secret(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("EPIRADAR_PSEUDONYM_KEY_FILE", str(tmp_path / "key"))


def open_ids(store: Store) -> list[int]:
    return sorted(q["id"] for q in store.quarantined(None, status="open"))


def test_retry_table_rows_with_a_corrected_mapping(cn_store: Store, tmp_path) -> None:  # noqa: F811
    db = cn_store.url
    run("ingest", BAD, "--mapping", TOML, "--db", db, "--no-progress")
    listed = json.loads(run("quarantine", "list", "--json", "--db", db).output)
    assert len(listed) == 3 and {q["field"] for q in listed} == {"性别", "就诊时间"}
    sex = next(q for q in listed if q["field"] == "性别")
    shown = run("quarantine", "show", sex["id"], "--db", db).output
    assert "未知X" in shown and "is not in the code list" in shown
    # the same mapping again: still rejected, stays open
    again = json.loads(run("quarantine", "retry", "--all", "--json", "--db", db).output)
    assert {r["status"] for r in again} == {"open"}
    assert len(open_ids(cn_store)) == 3
    corrected = Mapping.from_toml(TOML)
    corrected.values["sex"]["未知X"] = "U"
    corrected.formats["visit_time"] += ("%Y年%m月%d日 %H时%M分",)
    path = tmp_path / "corrected.toml"
    path.write_text(corrected.to_toml(), encoding="utf-8")
    result = json.loads(
        run("quarantine", "retry", "--all", "--mapping", path, "--json", "--db", db).output
    )
    by_status = {}
    for r in result:
        by_status.setdefault(r["status"], []).append(r)
    assert len(by_status["resolved"]) == 2  # the code list and the Chinese time format
    visits = cn_store.visits_frame(None, None).set_index("visit_id")
    assert visits.loc["MZ0102", "sex"] == "U"
    assert visits.loc["MZ0105", "visit_time"] == "2024-01-08T13:05:00"
    assert len(open_ids(cn_store)) == 1  # 2024/13/45 is no date under any mapping
    resolved = cn_store.quarantined(None, status="resolved")
    assert len(resolved) == 2 and all("accepted" in q["resolution"] for q in resolved)
    # the daily counts include the re-processed visits
    assert cn_store.daily_counts()["count"].sum() >= 4


def test_retry_a_message_once_the_city_knows_its_facility(city_store: Store, small_city) -> None:
    pipeline = MessagePipeline(city_store, secret=b"k", classifier=None)
    pipeline.classifier = _NoClassifier()
    [outcome] = pipeline.apply(
        [read_message(message("Q1", "VQ1", facility="F9").encode())], channel="mllp"
    )
    assert outcome.ack_code == "AR" and "unknown facility" in outcome.error.reason
    [record] = city_store.quarantined(None)
    assert record["format"] == "hl7" and record["source"] == "mllp:F9"
    db = city_store.url
    still = json.loads(run("quarantine", "retry", record["id"], "--json", "--db", db).output)
    assert still[0]["status"] == "open" and "unknown facility" in still[0]["detail"]
    facilities = [*small_city.facilities, Facility(id="F9", name="New clinic", region_id="R1")]
    city_store.load_city(small_city.regions, facilities, small_city.places, small_city.mobility)
    done = json.loads(run("quarantine", "retry", record["id"], "--json", "--db", db).output)
    assert done[0]["status"] == "resolved"
    assert city_store.visits_frame(None, None)["visit_id"].tolist() == ["VQ1"]
    assert [m["control_id"] for m in city_store.message_log("F9")] == ["Q1"]
    # a resolved record is left alone
    again = json.loads(run("quarantine", "retry", record["id"], "--json", "--db", db).output)
    assert again[0]["status"] == "resolved" and "not open" in again[0]["detail"]


def test_retry_a_canonical_csv_row(city_store: Store, small_city, tmp_path) -> None:
    db = city_store.url
    path = tmp_path / "visits.csv"
    path.write_text(
        "visit_id,facility_id,visit_time,chief_complaint\n"
        "v1,F1,2024-03-01T08:00:00,fever\n"
        "v2,F9,2024-03-01T09:00:00,cough\n",
        encoding="utf-8",
    )
    run("ingest", path, "--db", db, "--no-progress")
    [record] = city_store.quarantined(None, status="open")
    assert record["format"] == "csv" and record["record"] == "2"
    facilities = [*small_city.facilities, Facility(id="F9", name="New clinic")]
    city_store.load_city(small_city.regions, facilities, small_city.places, small_city.mobility)
    run("quarantine", "retry", "--all", "--db", db)
    assert sorted(city_store.visits_frame(None, None)["visit_id"]) == ["v1", "v2"]
    assert open_ids(city_store) == []


def test_discard_and_the_api(city_store: Store, tmp_path) -> None:
    db = city_store.url
    path = tmp_path / "visits.csv"
    path.write_text(
        "visit_id,facility_id,visit_time\nv1,F9,2024-03-01T08:00:00\nv2,F1,yesterday\n",
        encoding="utf-8",
    )
    run("ingest", path, "--db", db, "--no-progress", code=1)  # every row rejected
    first, second = open_ids(city_store)
    run("quarantine", "discard", first, "--reason", "test clinic, not real", "--db", db)
    client = authorize(TestClient(create_app(load_settings(db=db), city_store)), city_store)
    open_now = client.get("/api/quarantine", params={"status": "open"}).json()
    assert [q["id"] for q in open_now] == [second]
    assert open_now[0]["field"] == "visit_time" and open_now[0]["format"] == "csv"
    one = client.get(f"/api/quarantine/{first}").json()
    assert one["status"] == "discarded" and one["resolution"] == "test clinic, not real"
    assert client.get("/api/quarantine/999999").status_code == 404
    everything = client.get("/api/quarantine").json()
    assert len(everything) == 2
    listed = run("quarantine", "list", "--status", "discarded", "--db", db).output
    assert "F9" in listed


class _NoClassifier:
    version = "none"

    def classify_many(self, complaints, codes, temperatures):
        import numpy as np

        return np.zeros(len(complaints), dtype=np.int64)
