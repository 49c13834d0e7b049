"""Page speed of the closed loop's pages with 100,000 cases and 10,000 alerts.

    python benchmarks/workflow/page_speed.py [--visits 100000] [--alerts 10000] [--requests 30]
        [--only /api/queue]

Builds a database: a simulated city with ``--visits`` visits over one year (simulated, written
as CSV and ingested through the product), ``--alerts`` alerts spread over the year (stored with
``Store.replace_alerts`` in one call; a third open, the rest closed, workflow records for the
handled ones), 300 investigations of 1 to 3 alerts each with tasks, hypotheses and contacts.
Then serves the app (no login: ``[auth] required = false``) and times each page through
FastAPI's TestClient: ``--requests`` requests per page after one warm-up, the median and the
95th percentile of the time from request to the full response, against the 300 ms goal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

warnings.filterwarnings("ignore", category=DeprecationWarning)

GOAL_MS = 300.0
console = Console()


def build(directory: Path, n_visits: int, n_alerts: int, seed: int = 7):
    """The database, its settings and ids to ask for."""
    from epiradar.config import Settings
    from epiradar.config_auth import AuthSettings
    from epiradar.model import Alert, AlertStatus, Severity, Signal, Syndrome
    from epiradar.service.city import load_city
    from epiradar.service.ingest import ingest_file
    from epiradar.sim.scenarios import simulate
    from epiradar.sim.writers import write_simulation
    from epiradar.store import Store
    from epiradar.store.schema import alert_workflow, investigation_contacts

    settings = Settings(
        db=f"sqlite:///{directory / 'pages.db'}",
        pseudonym_key="bench-key",
        auth=AuthSettings(required=False),
    )
    store = Store(settings.db)
    store.migrate()
    end = dt.date(2026, 3, 31)
    t0 = time.perf_counter()
    sim = simulate(
        "point-source",
        seed=seed,
        days=365,
        end_date=end,
        n_regions=40,
        daily_visits=n_visits / 365,
        syndrome="gastrointestinal",
    )
    write_simulation(sim, directory / "city")
    load_city(store, directory / "city")
    ingest_file(store, directory / "city" / "visits.csv", settings, progress=False)
    t_visits = time.perf_counter() - t0

    t0 = time.perf_counter()
    rng = random.Random(seed)
    regions = [r.id for r in store.regions() if r.geometry]
    syndromes = list(Syndrome)
    alerts: list[Alert] = []
    members: list[tuple[str, Signal]] = []
    for i in range(n_alerts):
        first = end - dt.timedelta(days=rng.randrange(365))
        start = first - dt.timedelta(days=rng.randrange(0, 5))
        syndrome = rng.choice(syndromes)
        chosen = sorted(rng.sample(regions, rng.choice((1, 1, 2, 3))))
        expected = rng.uniform(1, 20)
        observed = expected + rng.uniform(1, 25)
        p = 10 ** -rng.uniform(1.5, 8)
        status = (
            AlertStatus.CLOSED
            if rng.random() < 0.67
            else rng.choice(
                [
                    AlertStatus.NEW,
                    AlertStatus.VERIFYING,
                    AlertStatus.INVESTIGATING,
                    AlertStatus.MONITORING,
                ]
            )
        )
        alert = Alert(
            id=f"{syndrome.value}-{first:%Y%m%d}-{chosen[0]}-{i}",
            syndrome=syndrome,
            region_ids=chosen,
            start_date=start,
            end_date=first,
            first_alarm_date=first,
            observed=round(observed),
            expected=expected,
            p_value=p,
            severity=rng.choice(list(Severity)),
            detector="ears_c2",
            status=status,
            n_signals=1,
        )
        alerts.append(alert)
        members.append(
            (
                alert.id,
                Signal(
                    date=first,
                    region_id=chosen[0],
                    syndrome=syndrome,
                    detector="ears_c2",
                    observed=alert.observed,
                    expected=expected,
                    upperbound=expected * 2,
                    p_value=p,
                ),
            )
        )
    store.replace_alerts(alerts, members, end - dt.timedelta(days=400), end)
    now = dt.datetime(2026, 4, 1, 9, 0)
    records = []
    for a in alerts:
        if a.status == AlertStatus.NEW:
            continue
        detected = dt.datetime.combine(a.first_alarm_date, dt.time(8))
        records.append(
            {
                "alert_id": a.id,
                "state_since": (detected + dt.timedelta(hours=5)).isoformat(),
                "notified_at": (detected + dt.timedelta(hours=rng.uniform(1, 40))).isoformat(),
                "responded_at": (detected + dt.timedelta(days=rng.uniform(1, 9))).isoformat()
                if a.status in (AlertStatus.CLOSED, AlertStatus.MONITORING)
                else None,
                "risk": rng.choice(["low", "moderate", "high", "very high"]),
            }
        )
    with store.engine.begin() as conn:
        conn.execute(insert(alert_workflow), records)

    from epiradar.service import workflow as wf

    investigated = [a for a in alerts if a.status == AlertStatus.INVESTIGATING]
    inv_ids = []
    contacts = []
    for k in range(min(300, len(investigated))):
        group = [investigated[k].id] + [a.id for a in rng.sample(investigated, rng.randrange(0, 3))]
        inv = wf.create_investigation(
            store, f"Cluster {k}", actor="bench", alert_ids=group, now=now
        )
        inv_ids.append(inv.id)
        for j in range(3):
            wf.add_task(
                store,
                inv.id,
                title=f"Task {j}",
                assignee=rng.choice(["ana", "bo", "chen"]),
                due_date=end + dt.timedelta(days=rng.randrange(-5, 10)),
                checklist=["sample collection", "site inspection"],
                actor="bench",
                now=now,
            )
        wf.add_hypothesis(
            store,
            inv.id,
            kind="source",
            subject="P01",
            evidence={"odds_ratio": 4.2, "cases_exposed": 12},
            actor="bench",
            now=now,
        )
        for c in range(20):
            contacts.append(
                {
                    "investigation_id": inv.id,
                    "label": f"Contact {k}-{c}",
                    "case_key": None,
                    "exposure_date": (end - dt.timedelta(days=rng.randrange(20))).isoformat(),
                    "follow_up_until": end.isoformat(),
                    "follow_up_status": rng.choice(["pending", "under follow-up", "completed"]),
                    "created_at": now.isoformat(),
                    "actor": "bench",
                }
            )
    with store.engine.begin() as conn:
        conn.execute(insert(investigation_contacts), contacts)
    t_alerts = time.perf_counter() - t0
    n_cases = store.visit_date_range()
    return settings, store, now, alerts, inv_ids, t_visits, t_alerts, n_cases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--only", help="time only the pages whose path contains this")
    args = parser.parse_args(argv)

    from fastapi.testclient import TestClient

    from epiradar.model import AlertStatus
    from epiradar.web.app import create_app

    with tempfile.TemporaryDirectory(prefix="epiradar-pages-") as tmp:
        settings, store, now, alerts, inv_ids, t_visits, t_alerts, _ = build(
            Path(tmp), args.visits, args.alerts
        )
        from sqlalchemy import func, select

        from epiradar.store.schema import visits

        with store.engine.connect() as conn:
            n_visits = conn.execute(select(func.count()).select_from(visits)).scalar_one()
        console.print(
            f"database: {n_visits:,} visits (simulated, ingested in {t_visits:.1f} s), "
            f"{len(alerts):,} alerts, {len(inv_ids)} investigations "
            f"(stored in {t_alerts:.1f} s); SQLite"
        )
        open_alert = next(a for a in alerts if a.status == AlertStatus.INVESTIGATING)
        del alerts
        gc.collect()
        gc.freeze()  # what building left behind would not be in a server's heap
        app = create_app(settings, store)
        app.state.clock = lambda: now
        client = TestClient(app)
        inv = inv_ids[0] if inv_ids else 1
        pages = [
            ("work queue", "/queue"),
            ("work queue, page 20", "/queue?page=20"),
            ("work queue, everyone's tasks", "/queue?everyone=true"),
            ("alert list", "/alerts"),
            ("alert list, page 100", "/alerts?page=100"),
            ("alert list, open, by p", "/alerts?status=investigating&sort=p_value"),
            ("investigations", "/investigations"),
            ("investigation workspace", f"/investigations/{inv}"),
            ("workspace, cases page 3", f"/investigations/{inv}?case_page=3&case_limit=50"),
            ("transmission graph (after the page)", f"/investigations/{inv}/graph"),
            ("timeliness, 6 months", "/timeliness"),
            ("timeliness, year by week", "/timeliness?start=2025-04-01&end=2026-03-31&period=week"),
            ("alert page (line list, trace)", f"/alerts/{open_alert.id}"),
            ("API: work queue (JSON, 50 a page)", "/api/queue"),
            ("API: work queue, page 20", "/api/queue?page=20"),
        ]
        if args.only:
            pages = [(n, p) for n, p in pages if args.only in p]
        table = Table(
            title=f"server time per page, {args.requests} requests each (goal {GOAL_MS:.0f} ms)"
        )
        for col in ("page", "path", "bytes", "median ms", "p95 ms", "goal"):
            table.add_column(col, justify="left" if col in ("page", "path") else "right")
        for name, path in pages:
            first = client.get(path)
            if first.status_code != 200:
                table.add_row(name, path, "-", f"HTTP {first.status_code}", "", "✗")
                continue
            times = []
            for _ in range(args.requests):
                t = time.perf_counter()
                r = client.get(path)
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200
            times.sort()
            med = statistics.median(times)
            p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
            table.add_row(
                name,
                path if len(path) < 48 else path[:45] + "…",
                f"{len(first.content):,}",
                f"{med:.0f}",
                f"{p95:.0f}",
                "✓" if p95 <= GOAL_MS else "✗",
            )
        console.print(table)
        client.close()
        store.close()


if __name__ == "__main__":
    sys.exit(main())
