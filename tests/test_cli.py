"""The command line: every command with --db, on SQLite and PostgreSQL; bad input gives one
clear line naming file, record and field, and a non-zero exit only when nothing could be done."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from epiradar.cli import app
from epiradar.store import Store

END = dt.date(2026, 2, 28)


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


@pytest.fixture(autouse=True)
def _secret(monkeypatch, tmp_path):
    monkeypatch.setenv("EPIRADAR_PSEUDONYM_KEY_FILE", str(tmp_path / "key"))


@pytest.fixture(scope="module")
def city_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("city")
    run(
        "simulate",
        "--scenario",
        "point-source",
        "--seed",
        "3",
        "--days",
        "90",
        "--end",
        END.isoformat(),
        "--regions",
        "8",
        "--daily-visits",
        "80",
        "--out",
        out,
    )
    return out


def test_simulate_writes_the_documented_files(city_dir):
    for name in (
        "regions.geojson",
        "facilities.csv",
        "places.csv",
        "mobility.csv",
        "visits.csv",
        "truth.json",
    ):
        assert (city_dir / name).stat().st_size > 0
    truth = json.loads((city_dir / "truth.json").read_text())
    assert truth["scenario"] == "point-source" and truth["case_visit_ids"]
    header = (city_dir / "visits.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["visit_id", "facility_id", "visit_time"] and header[-1] == "lab_result"


def test_whole_chain_on_each_database(city_dir, store_url, tmp_path):
    run("load-city", city_dir, "--db", store_url)
    visits = city_dir / "visits.csv"
    n_rows = len(visits.read_text().splitlines()) - 1
    first = run("ingest", visits, "--db", store_url, "--no-progress")
    assert f"{n_rows:,} accepted" in first.output
    again = run("ingest", visits, "--db", store_url, "--no-progress")
    assert "0 accepted" in again.output and f"{n_rows:,} duplicates" in again.output
    alerts = json.loads(run("detect", "--end", END.isoformat(), "--json", "--db", store_url).stdout)
    assert isinstance(alerts, list)
    store = Store(store_url)
    try:
        assert len(store.visits_frame(None, None)) == n_rows
        stored = {a.id for a in store.alerts()}
    finally:
        store.close()
    assert stored == {a["id"] for a in alerts}
    if alerts:
        traced = json.loads(run("trace", alerts[0]["id"], "--json", "--db", store_url).stdout)
        assert traced["alert_id"] == alerts[0]["id"]
        assert [s["rank"] for s in traced["sources"]] == sorted(
            s["rank"] for s in traced["sources"]
        )


def test_bad_rows_are_named_and_quarantined_good_rows_kept(city_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'bad.db'}"
    run("load-city", city_dir, "--db", db)
    lines = (city_dir / "visits.csv").read_text().splitlines()
    header = lines[0].split(",")
    bad = lines[1].split(",")
    bad[header.index("visit_id")] = "bad-1"
    bad[header.index("visit_time")] = "yesterday"
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join([lines[0], lines[1], ",".join(bad), lines[2]]) + "\n")
    result = run("ingest", path, "--db", db, "--no-progress")
    assert "2 accepted" in result.output and "1 rejected" in result.output
    assert f"{path}: row 2: visit_time:" in result.output
    again = run("ingest", path, "--db", db, "--no-progress")
    assert "1 rejected" in again.output and "row 2: visit_time" in again.output
    store = Store(db)
    try:
        [kept] = store.quarantined()  # not kept twice
    finally:
        store.close()
    assert kept["raw"] == ",".join(bad) and kept["field"] == "visit_time"


def test_whole_file_errors_exit_non_zero_with_one_line(city_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'err.db'}"
    run("load-city", city_dir, "--db", db)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("visit_id,facility_id,visit_time,colour\n1,H01,2026-01-01T08:00:00,red\n")
    result = run("ingest", unknown, "--db", db, "--no-progress", code=1)
    assert "unknown.csv: unknown column(s) 'colour'" in result.output
    assert "unknown alert 'nope'" in run("trace", "nope", "--db", db, code=1).output
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    assert "no visits" in run("detect", "--db", empty, code=1).output
    assert "not a date" in run("detect", "--end", "31/12/2026", "--db", db, code=1).output


def test_malformed_city_is_refused_naming_file_feature_and_field(city_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in city_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    regions = json.loads((broken / "regions.geojson").read_text())
    del regions["features"][2]["properties"]["population"]
    (broken / "regions.geojson").write_text(json.dumps(regions))
    result = run("load-city", broken, "--db", f"sqlite:///{tmp_path / 'c.db'}", code=1)
    assert "regions.geojson: feature 2: population: missing" in result.output


def test_detect_replay_compares_settings_and_stores_nothing(city_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'replay.db'}"
    run("load-city", city_dir, "--db", db)
    run("ingest", city_dir / "visits.csv", "--db", db, "--no-progress")
    proposed = tmp_path / "proposed.toml"
    proposed.write_text(
        '[detect]\nmethods = ["C2", "ewma", "farrington"]\nby_syndrome = {}\n'
        'burden = "hierarchical"\nfdr_level = 0.01\n',
        encoding="utf-8",
    )
    out = run("detect", "--replay", "--config", proposed, "--db", db).output
    assert "replay" in out and "current" in out and "proposed" in out
    as_json = json.loads(
        run("detect", "--replay", "--config", proposed, "--json", "--db", db).stdout
    )
    names = {d.split(":")[0] for a in as_json for d in a["detector"].split(",")}
    assert names <= {"C2", "ewma", "farrington", "spacetime"}  # scans stay on by default
    store = Store(db)
    try:
        assert store.alerts() == []  # a replay stores nothing
    finally:
        store.close()
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[detect]\nmethods = ["C9"]\n', encoding="utf-8")
    assert "C9" in run("detect", "--replay", "--config", wrong, "--db", db, code=1).output
    missing = run("detect", "--replay", "--config", tmp_path / "none.toml", "--db", db, code=1)
    assert "does not exist" in missing.output
    assert "--replay" in run("detect", "--config", proposed, "--db", db, code=1).output
