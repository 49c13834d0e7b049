"""End to end through the command line: simulate a point-source outbreak, load the city, ingest,
detect prospectively and trace the alert back to the contaminated place."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from epiradar.cli import app

END = dt.date(2026, 6, 30)
START = END - dt.timedelta(days=14)


def _invoke(*args: str):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(autouse=True)
def _secret(monkeypatch, tmp_path):
    monkeypatch.setenv("EPIRADAR_PSEUDONYM_KEY_FILE", str(tmp_path / "key"))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12])
def test_point_source_outbreak_is_detected_and_traced(tmp_path, seed):
    data = tmp_path / "city"
    db = f"sqlite:///{tmp_path / 'e2e.db'}"
    _invoke(
        "simulate",
        "--scenario",
        "point-source",
        "--seed",
        str(seed),
        "--days",
        "365",
        "--end",
        END.isoformat(),
        "--outbreak-start",
        START.isoformat(),
        "--regions",
        "20",
        "--daily-visits",
        "250",
        "--syndrome",
        "gastrointestinal",
        "--out",
        str(data),
    )
    truth = json.loads((data / "truth.json").read_text())
    assert truth["source"]["kind"] == "place"
    _invoke("load-city", str(data), "--db", db)
    _invoke("ingest", str(data / "visits.csv"), "--db", db, "--no-progress")

    detected = _invoke(
        "detect",
        "--start",
        (START - dt.timedelta(days=30)).isoformat(),
        "--end",
        END.isoformat(),
        "--json",
        "--db",
        db,
    )
    alerts = json.loads(detected.stdout)
    affected = set(truth["affected_regions"])
    start = dt.date.fromisoformat(truth["start_date"])
    timely = [
        a
        for a in alerts
        if a["syndrome"] == "gastrointestinal"
        and affected & set(a["region_ids"])
        and start <= dt.date.fromisoformat(a["first_alarm_date"]) <= start + dt.timedelta(days=7)
    ]
    assert timely, f"no gastrointestinal alert in {sorted(affected)} within 7 days of {start}"
    for key in (
        "id",
        "syndrome",
        "region_ids",
        "start_date",
        "end_date",
        "first_alarm_date",
        "observed",
        "expected",
        "p_value",
        "severity",
        "detector",
    ):
        assert key in timely[0]

    best = min(timely, key=lambda a: a["p_value"])
    traced = json.loads(_invoke("trace", best["id"], "--json", "--db", db).stdout)
    assert traced["alert_id"] == best["id"]
    top = traced["sources"][0]
    assert top["rank"] == 1
    assert (top["kind"], top["id"]) == ("place", truth["source"]["id"])
    assert {"name", "score"} <= top.keys()


def test_detect_is_idempotent_and_replay_matches_truncated_history(tmp_path):
    """Re-running a period replaces its alerts; judging a day never looks at later days."""
    data = tmp_path / "city"
    db = f"sqlite:///{tmp_path / 'replay.db'}"
    end = dt.date(2026, 3, 31)
    _invoke(
        "simulate",
        "--scenario",
        "point-source",
        "--seed",
        "5",
        "--days",
        "120",
        "--end",
        end.isoformat(),
        "--regions",
        "9",
        "--daily-visits",
        "120",
        "--out",
        str(data),
    )
    _invoke("load-city", str(data), "--db", db)
    _invoke("ingest", str(data / "visits.csv"), "--db", db, "--no-progress")
    window = ("--start", (end - dt.timedelta(days=20)).isoformat())
    first = json.loads(
        _invoke("detect", *window, "--end", end.isoformat(), "--json", "--db", db).stdout
    )
    again = json.loads(
        _invoke("detect", *window, "--end", end.isoformat(), "--json", "--db", db).stdout
    )
    assert first == again
    # Alerts that started by day X are the same whether or not later days exist.
    cut = end - dt.timedelta(days=7)
    early = json.loads(
        _invoke("detect", *window, "--end", cut.isoformat(), "--json", "--db", db).stdout
    )
    full_started = {
        (a["syndrome"], a["start_date"], tuple(a["region_ids"]))
        for a in first
        if dt.date.fromisoformat(a["end_date"]) <= cut - dt.timedelta(days=2)
    }
    early_started = {(a["syndrome"], a["start_date"], tuple(a["region_ids"])) for a in early}
    assert full_started <= early_started
