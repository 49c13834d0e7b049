"""Tracing an alert in the product: the service runs every analysis the data supports, each says
what it used and how sure it is (or why it was skipped); the CLI prints them, the API returns
them and the alert page draws them. Simulated outbreaks from the project's simulator, with the
alert set over the outbreak's regions and days (detection is tested elsewhere)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from epiradar.cli import app as cli_app
from epiradar.config import DEFAULT_SERIAL_INTERVALS, Settings, load_settings
from epiradar.model import Alert, Severity, Syndrome, TraceResult
from epiradar.service.city import load_city
from epiradar.service.ingest import ingest_file
from epiradar.service.tracing import trace_alert
from epiradar.sim.scenarios import simulate
from epiradar.sim.writers import write_simulation
from epiradar.store import Store
from epiradar.web.app import create_app
from web_support import OUTBREAK_ALERT, authorize, build_dataset

END = dt.date(2026, 3, 31)
ANALYSES = ("exposures", "sites", "origins", "chains", "rt")


@dataclass
class Traced:
    settings: Settings
    store: Store
    truth: dict
    alert: Alert
    result: TraceResult


def _simulated(directory: Path, scenario: str, *, seed: int, days_before_end: int) -> Traced:
    """Simulate, load the city, ingest, then store one alert over the outbreak's regions from
    three days after it began (when a detector would have fired) to the last day."""
    settings = Settings(db=f"sqlite:///{directory / 'sim.db'}", pseudonym_key="test-key")
    store = Store(settings.db)
    store.migrate()
    sim = simulate(
        scenario,
        seed=seed,
        days=90,
        end_date=END,
        n_regions=16,
        daily_visits=120,
        outbreak_size=150,
        outbreak_start=END - dt.timedelta(days=days_before_end),
    )
    city = directory / "city"
    write_simulation(sim, city)
    load_city(store, city)
    ingest_file(store, city / "visits.csv", settings, progress=False)
    truth = sim.truth
    first = dt.date.fromisoformat(truth["start_date"]) + dt.timedelta(days=3)
    alert = Alert(
        id=f"A-{scenario}",
        syndrome=truth["syndrome"],
        region_ids=truth["affected_regions"],
        start_date=first,
        end_date=END,
        first_alarm_date=first,
        observed=40,
        expected=10,
        p_value=1e-8,
        severity=Severity.HIGH,
        detector="C2",
    )
    store.replace_alerts([alert], [], first, first)
    return Traced(settings, store, truth, alert, trace_alert(store, alert.id, settings))


@pytest.fixture(scope="module")
def point_source(tmp_path_factory) -> Iterator[Traced]:
    traced = _simulated(tmp_path_factory.mktemp("ps"), "point-source", seed=3, days_before_end=14)
    yield traced
    traced.store.close()


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Iterator[Traced]:
    traced = _simulated(tmp_path_factory.mktemp("imp"), "imported", seed=3, days_before_end=21)
    yield traced
    traced.store.close()


@pytest.fixture(scope="module")
def person_to_person(tmp_path_factory) -> Iterator[Traced]:
    traced = _simulated(
        tmp_path_factory.mktemp("p2p"), "person-to-person", seed=3, days_before_end=28
    )
    yield traced
    traced.store.close()


def _check_reported(result: TraceResult) -> None:
    """Every analysis either ran and says what it used and how sure it is, or says why not."""
    for name in ANALYSES:
        analysis = getattr(result, name)
        assert analysis.method, name
        if analysis.done:
            assert analysis.data and analysis.certainty and analysis.used, name
            assert analysis.reason is None, name
        else:
            assert analysis.reason and analysis.reason != "not run", name


# ---------------------------------------------------------------------------------------------
# service


def test_point_source_every_analysis_reports_and_the_source_ranks_first(point_source) -> None:
    result, truth = point_source.result, point_source.truth
    _check_reported(result)
    source = truth["source"]["id"]
    assert result.exposures.done and result.sources[0].id == source
    assert result.exposures.used["cases_reporting_exposures"] > 0

    sites = result.sites
    assert sites.done and sites.n_sites == len(point_source.store.places())
    assert source in [s.id for s in sites.sites[:3]]
    assert sites.used["cases_with_location"] <= sites.used["cases"] == result.n_cases
    assert sites.used["background_visits"] > 0  # the visiting kernel was learned
    assert [s.rank for s in sites.sites] == sorted(s.rank for s in sites.sites)

    # one affected region: too few arrivals for an origin on the mobility network
    assert not result.origins.done and "at least 3 regions" in result.origins.reason

    assert result.chains.done and len(result.chains.cases) == result.n_cases
    assert result.chains.serial_interval_mean == DEFAULT_SERIAL_INTERVALS["gastrointestinal"].mean

    rt = result.rt
    assert rt.done and rt.window_days == 7 and rt.points
    assert all(p.q025 <= p.median <= p.q975 for p in rt.points)
    during = [p for p in rt.points if point_source.alert.start_date <= p.date]
    assert max(p.mean for p in during) > 1  # the outbreak grew
    json.loads(result.model_dump_json())  # serialisable


def test_imported_outbreak_origin_is_the_entry_region(imported) -> None:
    result, truth = imported.result, imported.truth
    _check_reported(result)
    origins = result.origins
    assert origins.done, origins.reason
    assert origins.used["regions_reached"] >= 3
    ranks = {o.region_id: o.rank for o in origins.origins}
    assert ranks[truth["source"]["id"]] <= 3
    assert len(origins.origins) == origins.used["regions"]
    reached = [o for o in origins.origins if o.arrival is not None]
    assert len(reached) == origins.used["regions_reached"]


def test_person_to_person_chains_recover_true_infectors(person_to_person) -> None:
    result, truth = person_to_person.result, person_to_person.truth
    _check_reported(result)
    chains = result.chains
    assert chains.done
    assert chains.used["contact_pairs"] > 0 and chains.used["shared_homes"] > 0
    cases = {c.case_id: c for c in chains.cases}
    pairs = [(a, b) for a, b in truth["transmission"] if b in cases]
    assert len(pairs) > 50
    recovered = sum(cases[b].infector_id == a for a, b in pairs)
    assert recovered / len(pairs) >= 0.3
    assert {c.generation for c in chains.cases} >= {0, 1, 2}
    roots = [c for c in chains.cases if c.infector_id is None]
    assert roots and all(c.generation == 0 for c in roots)


def test_missing_data_skips_with_reasons(tmp_path) -> None:
    """The web dataset has no home coordinates and no mobility; a neurological alert has no
    serial interval; an alert without visits skips everything."""
    data = build_dataset(tmp_path)
    try:
        result = trace_alert(data.store, OUTBREAK_ALERT, data.settings)
        _check_reported(result)
        assert result.exposures.done
        assert "home coordinates" in result.sites.reason
        assert "no mobility flows" in result.origins.reason
        assert result.chains.done and result.rt.done
        assert result.chains.used["onsets_imputed"] == result.n_cases  # no onsets recorded

        day = dt.date(2026, 3, 20)
        quiet = Alert(
            id="A-quiet",
            syndrome=Syndrome.HAEMORRHAGIC,
            region_ids=["R05"],
            start_date=day,
            end_date=day,
            first_alarm_date=day,
            observed=3,
            expected=0.5,
            p_value=1e-4,
            severity=Severity.LOW,
            detector="C1",
        )
        data.store.replace_alerts([quiet], [], day, day)
        empty = trace_alert(data.store, "A-quiet", data.settings)
        assert empty.n_cases == 0 and empty.sources == []
        for name in ANALYSES:
            assert "no visits" in getattr(empty, name).reason
    finally:
        data.store.close()


def test_no_serial_interval_for_the_syndrome_skips_chains_and_rt(point_source) -> None:
    """Neurological syndromes have no default serial interval; one set in [trace] is used."""
    store = point_source.store
    day = point_source.alert.first_alarm_date + dt.timedelta(days=1)  # keeps the other alert
    alert = point_source.alert.model_copy(
        update={
            "id": "A-neuro",
            "syndrome": Syndrome.NEUROLOGICAL,
            "region_ids": [],
            "first_alarm_date": day,
        }
    )
    store.replace_alerts([alert], [], day, day)
    result = trace_alert(store, "A-neuro", point_source.settings)
    assert result.n_cases > 0
    for name in ("chains", "rt"):
        analysis = getattr(result, name)
        assert not analysis.done and "[trace.serial_intervals.neurological]" in analysis.reason
    configured = Settings(
        db=point_source.settings.db,
        pseudonym_key="test-key",
        trace={"serial_intervals": {"neurological": {"mean": 5.0, "sd": 2.0}}},
    )
    again = trace_alert(store, "A-neuro", configured)
    assert again.chains.done and again.chains.serial_interval_mean == 5.0
    assert again.rt.serial_interval_mean == 5.0
    assert again.rt.done or "needs at least" in again.rt.reason


# ---------------------------------------------------------------------------------------------
# CLI and API


def test_cli_prints_every_analysis_and_json_has_them(point_source, monkeypatch) -> None:
    monkeypatch.setenv("EPIRADAR_PSEUDONYM_KEY", "test-key")
    runner = CliRunner()
    db = point_source.settings.db
    alert_id = point_source.alert.id
    text = runner.invoke(cli_app, ["trace", alert_id, "--db", db, "--top", "3"])
    assert text.exit_code == 0, text.output
    for title in (
        "Exposure table",
        "Candidate sites",
        "Origin on the mobility network",
        "Transmission chains",
        "Reproduction number",
    ):
        assert title in text.stdout
    assert "how sure:" in text.stdout and "skipped" in text.stdout  # origins: one region
    as_json = runner.invoke(cli_app, ["trace", alert_id, "--db", db, "--json"])
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.stdout)
    assert {name: body[name]["status"] for name in ANALYSES} == {
        name: getattr(point_source.result, name).status for name in ANALYSES
    }
    assert body["sources"][0]["id"] == point_source.truth["source"]["id"]


def test_api_trace_returns_everything_and_the_page_draws_it(imported) -> None:
    with TestClient(create_app(imported.settings, imported.store)) as client:
        authorize(client, imported.store)
        alert_id = imported.alert.id
        body = client.get(f"/api/alerts/{alert_id}/trace").json()
        assert all(body[name]["status"] == "done" for name in ANALYSES)
        assert body["origins"]["origins"][0]["rank"] == 1
        assert body["rt"]["points"][0].keys() >= {"date", "mean", "q025", "q975"}
        assert client.get("/api/alerts/nope/trace").status_code == 404
        schema = client.get("/api/openapi.json").json()
        assert "/api/alerts/{alert_id}/trace" in schema["paths"]
        html = client.get(f"/alerts/{alert_id}").text
        for element in (
            'id="site-map"',
            'id="sites"',
            'id="origins"',
            'id="transmission-graph"',
            'id="rt-curve"',
            'id="chains-note"',
        ):
            assert element in html


# ---------------------------------------------------------------------------------------------
# settings


def test_trace_settings_defaults_and_overrides(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EPIRADAR_CONFIG", raising=False)
    trace = load_settings().trace
    assert (trace.rt_window_days, trace.rt_mean_prior, trace.rt_std_prior) == (7, 5.0, 5.0)
    assert trace.serial_interval("ili").mean == 2.6 and trace.serial_interval("ili").sd == 1.5
    assert trace.serial_interval("neurological") is None
    assert all(si.source for si in DEFAULT_SERIAL_INTERVALS.values())
    (tmp_path / "epiradar.toml").write_text(
        "[trace]\nrt_window_days = 14\n[trace.serial_intervals.ili]\nmean = 3.0\nsd = 1.2\n"
    )
    trace = load_settings().trace
    assert trace.rt_window_days == 14 and trace.serial_interval("ili").mean == 3.0
    assert trace.serial_interval("fever").mean == 2.6  # the other defaults stay


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[trace.serial_intervals.ili]\nmean = 0.5\nsd = 1.0\n", r"serial_intervals\.ili\] mean"),
        ("[trace.serial_intervals.flu]\nmean = 3.0\nsd = 1.0\n", r"serial_intervals\.flu\]"),
        ("[trace.serial_intervals.ili]\nmean = 3.0\n", r"serial_intervals\.ili\] sd"),
        ("[trace.serial_intervals.ili]\nmean = 3.0\nsd = 1.0\nsdd = 2\n", "sdd"),
        ("[trace]\nrt_window_days = 0\n", "rt_window_days"),
    ],
)
def test_bad_trace_settings_are_refused_naming_the_entry(
    tmp_path, monkeypatch, text, message
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EPIRADAR_CONFIG", raising=False)
    (tmp_path / "epiradar.toml").write_text(text)
    with pytest.raises(ValidationError, match=message):
        load_settings()
