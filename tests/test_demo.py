"""The demo's whole job on a shorter simulated history: what `make demo` shows is there."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from epiradar.config import Settings
from epiradar.model import AlertStatus
from epiradar.service import public
from epiradar.service.demo import run_demo
from epiradar.store import Store
from epiradar.web.app import create_app


@pytest.mark.slow
def test_demo_runs_the_whole_job_and_fills_the_public_site(tmp_path: Path) -> None:
    settings = Settings(db=f"sqlite:///{tmp_path / 'demo.db'}", pseudonym_key="demo-key")
    with Store(settings.db) as store:
        store.migrate()
        result = run_demo(
            store,
            settings,
            tmp_path / "data",
            days=200,
            end_date=dt.date(2026, 3, 31),
            progress=False,
        )
        assert result.ingest.accepted > 50_000 and result.alerts
        assert result.top_trace is not None and result.top_trace.sources
        # the strongest alert is verified and investigated: the public hears of it
        top = store.alert(result.top_trace.alert_id)
        assert top is not None and top.status == AlertStatus.INVESTIGATING
        levels = {r.assessment.level for r in public.risk(store, settings).districts}
        assert levels & {"high", "very_high"}
        # district names from the simulated city, capacity reports, a published bulletin
        names = [d.name for d in public.districts(store.regions(), settings.public)]
        assert all(n.endswith(")") and "District" in n for n in names), names
        assert result.capacity_reports >= 10
        assert store.bulletins.get(result.bulletin_id).status == "published"
        with TestClient(create_app(settings, store)) as anonymous:
            assert anonymous.get("/public").status_code == 200
            listed = anonymous.get("/api/open/bulletins").json()
            assert [b["id"] for b in listed] == [result.bulletin_id]
            clinics = anonymous.get("/api/open/clinics", params={"region": "R001"}).json()
            assert clinics["clinics"] and clinics["clinics"][0]["has_capacity"]
