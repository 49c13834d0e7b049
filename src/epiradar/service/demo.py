"""The demo: a simulated city with a hidden point-source outbreak, ingested, detected and traced."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from epiradar.config import Settings
from epiradar.model import Alert, AlertStatus, TraceResult
from epiradar.model.workflow import Level, TransitionRequest
from epiradar.service.bulletins import demo_bulletin
from epiradar.service.capacity import seed_demo_capacity
from epiradar.service.city import load_city
from epiradar.service.detection import run_detection
from epiradar.service.ingest import IngestSummary, ingest_file
from epiradar.service.tracing import trace_alert
from epiradar.service.workflow import transition
from epiradar.sim.scenarios import simulate
from epiradar.sim.writers import write_simulation
from epiradar.store import Store

DEMO_DAYS = 730
DETECT_DAYS = 60


@dataclass
class DemoResult:
    data_dir: Path
    ingest: IngestSummary
    alerts: list[Alert]
    top_trace: TraceResult | None
    truth: dict
    capacity_reports: int = 0
    bulletin_id: int | None = None


def run_demo(
    store: Store,
    settings: Settings,
    data_dir: Path,
    *,
    seed: int = 2003,
    scenario: str = "point-source",
    end_date: dt.date | None = None,
    days: int = DEMO_DAYS,
    progress: bool = True,
) -> DemoResult:
    """Simulate two years of fever-clinic visits with an outbreak in the last weeks, then run
    the whole job on them: load the city, ingest, detect over the last 60 days, trace the
    strongest alert, report the clinics' capacity, publish the week's bulletin."""
    sim = simulate(scenario, seed=seed, days=days, end_date=end_date)
    write_simulation(sim, data_dir)
    load_city(store, data_dir)
    summary = ingest_file(store, data_dir / "visits.csv", settings, progress=progress)
    last = store.visit_date_range()[1]
    alerts = run_detection(
        store, settings, start=last - dt.timedelta(days=DETECT_DAYS - 1), end=last
    )
    top = strongest_regional_alert(alerts)
    top_trace = trace_alert(store, top.id, settings) if top else None
    if top is not None:
        _investigate(store, top.id)
    truth = json.loads((data_dir / "truth.json").read_text())
    reports = seed_demo_capacity(store, settings, seed=seed)
    bulletin = demo_bulletin(store, settings)
    return DemoResult(data_dir, summary, alerts, top_trace, truth, reports, bulletin.id)


def _investigate(store: Store, alert_id: str) -> None:
    """The demo's epidemiologist verifies the strongest alert and opens its investigation, so
    that the public pages and the bulletin (which show verified events only) have one."""
    actor = "demo-epidemiologist"
    transition(store, alert_id, TransitionRequest(to=AlertStatus.VERIFYING), actor=actor)
    verified = TransitionRequest(
        to=AlertStatus.INVESTIGATING,
        verification_note="Line list checked with the clinics: a cluster of real cases.",
        likelihood=Level.HIGH,
        impact=Level.MODERATE,
    )
    transition(store, alert_id, verified, actor=actor)


def strongest_regional_alert(alerts: list[Alert]) -> Alert | None:
    """The alert with most evidence: smallest p-value, then most cases."""
    regional = [a for a in alerts if a.region_ids] or alerts
    if not regional:
        return None
    return min(regional, key=lambda a: (a.p_value, -a.observed))
