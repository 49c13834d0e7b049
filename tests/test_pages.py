"""The work pages on SQLite and PostgreSQL: work queue, investigations and their workspace,
timeliness dashboard, the paged alert list; alert ranking and the volume left by grouping and
muting."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from epiradar.config import Settings
from epiradar.detect.merge import group_signals
from epiradar.model import Alert, AlertStatus, Region, Severity, Signal, Syndrome
from epiradar.model.workflow import TransitionRequest
from epiradar.service import pages as svc
from epiradar.service import ranking
from epiradar.service import workflow as wf
from epiradar.store import Store
from epiradar.store.schema import alerts as alerts_table
from epiradar.web.app import create_app
from epiradar.web.audit import AGGREGATE_READS, PERSON_LEVEL_READS
from web_support import authorize

T0 = dt.datetime(2026, 3, 10, 8, 0)
NOW = T0 + dt.timedelta(hours=1)


def make_alert(
    alert_id: str,
    *,
    day: dt.date = dt.date(2026, 3, 9),
    syndrome: Syndrome = Syndrome.GASTROINTESTINAL,
    regions: list[str] | None = None,
    observed: float = 12,
    expected: float = 4,
    p_value: float = 1e-3,
    recurrence: float | None = None,
    status: AlertStatus = AlertStatus.NEW,
) -> Alert:
    return Alert(
        id=alert_id,
        syndrome=syndrome,
        region_ids=["R1"] if regions is None else regions,
        start_date=day - dt.timedelta(days=2),
        end_date=day,
        first_alarm_date=day,
        observed=observed,
        expected=expected,
        p_value=p_value,
        severity=Severity.MEDIUM,
        detector="ears_c2",
        status=status,
        n_signals=1,
        recurrence_interval=recurrence,
    )


def store_alerts(store: Store, alerts: list[Alert]) -> None:
    """Store alerts as detected (first stored) at ``T0``."""
    days = [a.first_alarm_date for a in alerts]
    store.replace_alerts(alerts, [], min(days), max(days))
    with store.engine.begin() as conn:
        conn.execute(update(alerts_table).values(created_at=T0.isoformat()))


@pytest.fixture
def pstore(city_store: Store) -> Store:
    regions = [
        Region(id=r.id, name=r.name, population=r.population, parent_id=parent)
        for r, parent in zip(city_store.regions(), ["D1", "D1", "D2", "D2"], strict=True)
    ]
    city_store.load_city(regions, city_store.facilities(), city_store.places(), [])
    return city_store


@pytest.fixture
def client(pstore: Store) -> Iterator[TestClient]:
    app = create_app(Settings(db=pstore.url), pstore)
    app.state.clock = lambda: NOW
    with TestClient(app) as c:
        yield authorize(c, pstore)


# ---------------------------------------------------------------------------------------------
# ranking and grouping


def test_rank_orders_by_evidence_size_and_novelty() -> None:
    old = make_alert("OLD", day=dt.date(2026, 3, 1), p_value=0.5, observed=5, expected=4)
    # same syndrome and region 8 days after OLD: not new
    repeat = make_alert("REPEAT", p_value=1e-3, observed=11, expected=4)  # 3 + 3 + 0 = 6
    # another syndrome: new
    fresh = make_alert(
        "FRESH", syndrome=Syndrome.RESPIRATORY, p_value=1e-2, observed=7, expected=4
    )  # 2 + 2 + 2 = 6, but later date ties... same day: id order after score and date
    strong = make_alert(
        "STRONG", syndrome=Syndrome.ILI, regions=["R2"], p_value=1e-9, observed=20, expected=4
    )
    weak = make_alert("WEAK", regions=["R3"], p_value=0.04, observed=5, expected=4.5)
    ranked = ranking.rank_alerts([repeat, fresh, strong, weak, old])
    ids = [a.id for a, _ in ranked]
    scores = {a.id: r for a, r in ranked}
    assert ids[0] == "STRONG"
    assert not scores["REPEAT"].novel and scores["FRESH"].novel and scores["WEAK"].novel
    assert scores["REPEAT"].score == pytest.approx(6.0)
    assert scores["FRESH"].score == pytest.approx(6.0)
    assert scores["STRONG"].score == pytest.approx(9 + math.log2(17) + 2)
    assert ids.index("WEAK") > ids.index("REPEAT")
    assert ids[-1] == "OLD"  # oldest and weakest


def test_evidence_uses_the_recurrence_interval_and_caps() -> None:
    assert ranking.evidence_points(0.01) == pytest.approx(2)
    assert ranking.evidence_points(0.5, recurrence_days=10_000) == pytest.approx(4)
    assert ranking.evidence_points(0.0) == ranking.EVIDENCE_CAP
    assert ranking.size_points(3, 10) == 0


def test_city_wide_alert_is_not_new_after_a_regional_one() -> None:
    regional = make_alert("A", day=dt.date(2026, 3, 1))
    city = make_alert("B", regions=[])
    far = make_alert("C", day=dt.date(2026, 5, 1))
    new = ranking.novelty([regional, city, far])
    assert new == {"A": True, "B": False, "C": True}


def _signal(day: int, region: str, syndrome: Syndrome = Syndrome.GASTROINTESTINAL) -> Signal:
    return Signal(
        date=dt.date(2026, 3, day),
        region_id=region,
        syndrome=syndrome,
        detector="ears_c2",
        observed=6,
        expected=2,
        upperbound=4,
        p_value=0.001,
    )


def test_grouping_and_muting_reduce_the_volume() -> None:
    neighbours = {"R1": {"R2"}, "R2": {"R1"}, "R3": set()}
    signals = [
        _signal(1, "R1"),
        _signal(1, "R2"),
        _signal(2, "R1"),  # one event in R1-R2 on days 1-2: 3 signals
        _signal(2, "R3"),  # R3 is not a neighbour: its own alert
        _signal(9, "R1"),
        _signal(10, "R2"),  # R1-R2 again a week later: the same event, muted
        _signal(9, "R1", Syndrome.RESPIRATORY),  # another syndrome
    ]
    groups = group_signals(signals, neighbours, gap_days=1)
    alerts = [a for a, _ in groups]
    assert len(alerts) == 4
    acted = ranking.needing_action(alerts, mute_days=14)
    assert len(acted) == 3  # the second R1-R2 alert arrives muted
    volume = ranking.alert_volume(len(signals), alerts, dt.date(2026, 3, 1), dt.date(2026, 3, 14))
    assert volume.weeks == 2
    assert volume.signals_per_week == 3.5
    assert volume.alerts_per_week == 2
    assert volume.action_per_week == 1.5
    assert volume.grouping_factor == pytest.approx(7 / 4)
    assert volume.total_factor == pytest.approx(7 / 3)
    assert len(ranking.needing_action(alerts, mute_days=3)) == 4  # the mute expired


# ---------------------------------------------------------------------------------------------
# pages: empty and with data


@pytest.mark.parametrize("path", ["/queue", "/investigations", "/timeliness", "/alerts"])
def test_pages_render_empty(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200, r.text
    assert 'class="empty"' in r.text


def test_work_queue_puts_overdue_first_then_rank(pstore: Store, client: TestClient) -> None:
    store_alerts(
        pstore,
        [
            make_alert("LOW", regions=["R3"], p_value=0.04, observed=5),
            make_alert("HIGH", regions=["R2"], syndrome=Syndrome.ILI, p_value=1e-8),
            make_alert("LATE", regions=["R4"], syndrome=Syndrome.RESPIRATORY, p_value=0.03),
            make_alert("DONE", status=AlertStatus.CLOSED),
        ],
    )
    # LATE was verified long ago: its stage limit (verifying, 48 h) is past
    wf.transition(pstore, "LATE", TransitionRequest(to="verifying"), actor="ann", now=T0)
    app_now = T0 + dt.timedelta(days=3)
    client.app.state.clock = lambda: app_now
    wf.transition(pstore, "HIGH", TransitionRequest(to="verifying"), actor="ann", now=app_now)
    wf.transition(pstore, "LOW", TransitionRequest(to="verifying"), actor="ann", now=app_now)
    html = client.get("/queue").text
    order = re.findall(r'data-alert="([A-Z]+)"', html)
    assert order == ["LATE", "HIGH", "LOW"]  # DONE is closed
    assert 'id="overdue-count">1<' in html
    page = svc.work_queue(
        pstore, Settings().workflow, actor="x", now=app_now, alerts=svc.Paging(2, 2)
    )
    assert [r.alert.id for r in page.alerts] == ["LOW"] and page.alert_page.total == 3


def test_api_queue_is_paged_in_the_page_order(pstore: Store, client: TestClient) -> None:
    store_alerts(
        pstore,
        [
            make_alert(f"Q{i}", regions=[["R1"], ["R2"], ["R3"]][i % 3], p_value=10.0 ** -(i % 7))
            for i in range(12)
        ],
    )
    later = T0 + dt.timedelta(days=3)  # Q5, verifying since T0, is overdue; the rest are not
    for i in range(12):
        at = T0 if i == 5 else later
        wf.transition(pstore, f"Q{i}", TransitionRequest(to="verifying"), actor="ann", now=at)
    client.app.state.clock = lambda: later
    page_order = re.findall(r'data-alert="(Q\d+)"', client.get("/queue?limit=500").text)
    assert len(page_order) == 12 and page_order[0] == "Q5"
    api_order, totals = [], set()
    for n in (1, 2, 3):
        body = client.get("/api/queue", params={"page": n, "limit": 5}).json()
        assert len(body["alerts"]) == (5 if n < 3 else 2)
        api_order += [row["alert"]["id"] for row in body["alerts"]]
        totals.add((body["alert_page"]["total"], body["overdue"]))
    assert api_order == page_order and totals == {(12, 1)}
    assert client.get("/api/queue", params={"page": 4, "limit": 5}).json()["alerts"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("task_page=x", "task_page"),
    ],
)
def test_api_queue_bad_paging_is_a_clear_422(client: TestClient, query: str, field: str) -> None:
    r = client.get(f"/api/queue?{query}")
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["query", field] and error["msg"]


def test_queue_hides_snoozed_and_muted_alerts(pstore: Store, client: TestClient) -> None:
    store_alerts(pstore, [make_alert("A1"), make_alert("A2", regions=["R2"])])
    wf.snooze(pstore, "A1", NOW + dt.timedelta(days=2), actor="ann", now=T0)
    html = client.get("/queue").text
    assert re.findall(r'data-alert="(A\d)"', html) == ["A2"]
    shown = client.get("/queue?hidden=true").text
    assert sorted(re.findall(r'data-alert="(A\d)"', shown)) == ["A1", "A2"]
    assert ">snoozed<" in shown


def test_my_tasks_follow_the_actor(pstore: Store, client: TestClient) -> None:
    store_alerts(pstore, [make_alert("A1")])
    inv = wf.create_investigation(pstore, "Outbreak", actor="ann", alert_ids=["A1"], now=T0)
    wf.add_task(pstore, inv.id, title="Swab the cooks", assignee="bob", actor="ann", now=T0)
    wf.add_task(pstore, inv.id, title="Call the school", assignee="ann", actor="ann", now=T0)
    bob = client.get("/queue", headers={"X-Epiradar-Actor": "bob"}).text
    assert "Swab the cooks" in bob and "Call the school" not in bob
    everyone = client.get("/queue?everyone=true", headers={"X-Epiradar-Actor": "bob"}).text
    assert "Swab the cooks" in everyone and "Call the school" in everyone


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/queue?page=0", "page"),
        ("/queue?limit=0", "limit"),
        ("/queue?limit=501", "limit"),
        ("/queue?task_page=abc", "task_page"),
        ("/investigations?limit=-1", "limit"),
        ("/investigations/1?case_page=0", "case_page"),
        ("/timeliness?page=0", "page"),
        ("/alerts?page=0", "page"),
        ("/alerts?limit=1000", "limit"),
    ],
)
def test_bad_paging_is_a_clear_422(client: TestClient, path: str, field: str) -> None:
    r = client.get(path)
    assert r.status_code == 422
    assert f"{field}:" in r.text


def test_paging_rules_in_the_service() -> None:
    with pytest.raises(Exception, match="page: must be 1 or more"):
        svc.Paging(0, 10)
    with pytest.raises(Exception, match="limit: must be between 1 and 500"):
        svc.Paging(1, 501)
    page = svc.Page(page=2, limit=10, total=25)
    assert (page.pages, page.first, page.last) == (3, 11, 20)


def test_alert_list_is_paged_in_order(pstore: Store, client: TestClient) -> None:
    store_alerts(
        pstore,
        [make_alert(f"A{i:02d}", day=dt.date(2026, 3, 1) + dt.timedelta(days=i)) for i in range(7)],
    )
    first = client.get("/alerts?limit=3").text
    assert re.findall(r'href="/alerts/(A\d\d)"', first) == ["A06", "A05", "A04"]
    assert "1–3 of 7" in first
    last = client.get("/alerts?limit=3&page=3").text
    assert re.findall(r'href="/alerts/(A\d\d)"', last) == ["A00"]
    by_p = client.get("/alerts?sort=id&order=asc&limit=2&page=2").text
    assert re.findall(r'href="/alerts/(A\d\d)"', by_p) == ["A02", "A03"]


def test_investigation_workspace_shows_tasks_hypotheses_contacts(
    pstore: Store, client: TestClient
) -> None:
    store_alerts(pstore, [make_alert("A1")])
    r = client.post(
        "/investigations", data={"title": "Canteen", "alert_id": "A1"}, follow_redirects=False
    )
    assert r.status_code == 303
    target = r.headers["location"]
    inv_id = int(target.rsplit("/", 1)[1])
    r = client.post(
        f"{target}/tasks",
        data={
            "title": "Inspect the kitchen",
            "assignee": "bob",
            "due_date": "2026-03-08",
            "checklist": ["site inspection", "sample collection"],
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and "error" not in r.headers["location"]
    wf.add_hypothesis(
        pstore,
        inv_id,
        kind="source",
        subject="Canteen P01",
        evidence={"odds_ratio": 7.5},
        actor="ann",
        now=T0,
    )
    r = client.post(
        f"{target}/contacts",
        data={"label": "Cook on shift", "exposure_date": "2026-02-20"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "error" not in r.headers["location"]
    html = client.get(target).text
    assert "Inspect the kitchen" in html and "overdue" in html  # due 8 March, now 10 March
    assert "Canteen P01" in html and "odds_ratio: 7.5" in html
    assert "Cook on shift" in html and "pending: 1" in html
    assert f'hx-get="/investigations/{inv_id}/graph"' in html
    # a bad contact status and a bad date come back named
    contact_id = svc.workspace(pstore, inv_id, now=NOW).contacts[0].id
    r = client.post(f"/contacts/{contact_id}/follow-up", data={"status": "gone"})
    assert r.status_code == 422 and "follow_up_status" in r.text
    r = client.post(
        f"{target}/contacts", data={"label": "X", "exposure_date": "soon"}, follow_redirects=False
    )
    assert "exposure_date" in r.headers["location"]
    r = client.post(
        f"/contacts/{contact_id}/follow-up",
        data={"status": "under follow-up"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "under follow-up: 1" in client.get(target).text
    # completing needs the checklist done
    task_id = svc.workspace(pstore, inv_id, now=NOW).investigation.tasks[0].id
    r = client.post(
        f"/tasks/{task_id}/complete",
        data={"done": ["site inspection"], "back": target},
        follow_redirects=False,
    )
    assert "error=" in r.headers["location"]
    r = client.post(
        f"/tasks/{task_id}/complete",
        data={"done": ["site inspection", "sample collection"], "back": target},
        follow_redirects=False,
        headers={"X-Epiradar-Actor": "bob"},
    )
    assert r.status_code == 303 and "error" not in r.headers["location"]
    done = wf.task(pstore, task_id, now=NOW)
    assert done.status == "done"
    entries = wf.investigation_timeline(pstore, inv_id)
    assert any(e.actor == "bob" for e in entries)
    assert 'data-status="done"' in client.get(target).text


def test_investigation_line_list_is_paged_on_a_simulated_city(tmp_path) -> None:
    from web_support import build_simulated

    data, _ = build_simulated(tmp_path)
    try:
        alert = max(data.store.alerts(), key=lambda a: a.observed)
        inv = wf.create_investigation(data.store, "Sim", actor="ann", alert_ids=[alert.id], now=T0)
        whole = svc.workspace(data.store, inv.id, now=NOW, cases=svc.Paging(1, 500))
        n = whole.case_page.total
        assert n > 10
        second = svc.workspace(data.store, inv.id, now=NOW, cases=svc.Paging(2, 5))
        assert [r.patient_key for r in second.cases] == [r.patient_key for r in whole.cases[5:10]]
        with TestClient(create_app(data.settings, data.store)) as c:
            authorize(c, data.store)
            html = c.get(f"/investigations/{inv.id}?case_limit=5&case_page=2").text
            assert f"6–10 of {n}" in html
            assert html.count("<tr>") >= 5
            graph = c.get(f"/investigations/{inv.id}/graph").text
            assert "transmission-graph-data-1" in graph or "infected" in graph
    finally:
        data.store.close()


def test_empty_workspace_and_unknown_investigation(pstore: Store, client: TestClient) -> None:
    inv = wf.create_investigation(pstore, "Nothing yet", actor="ann", now=T0)
    html = client.get(f"/investigations/{inv.id}").text
    for text in ("No alerts grouped", "No tasks yet", "No hypotheses yet", "No contacts listed"):
        assert text in html
    assert (
        "No alerts, so no transmission graph" in client.get(f"/investigations/{inv.id}/graph").text
    )
    assert client.get("/investigations/999").status_code == 404


def test_timeliness_dashboard_highlights_overdue(pstore: Store, client: TestClient) -> None:
    store_alerts(
        pstore,
        [make_alert("A1", regions=["R1"]), make_alert("A2", regions=["R3"])],
    )
    wf.transition(pstore, "A2", TransitionRequest(to="verifying"), actor="ann", now=T0)
    client.app.state.clock = lambda: T0 + dt.timedelta(days=3)
    html = client.get("/timeliness?start=2026-03-01&end=2026-03-31").text
    assert 'id="timeliness-chart"' in html
    rows = re.findall(r"<tr class=\"([^\"]*)\">\s*<td class=\"nowrap\">2026-03</td><td>(\w+)", html)
    assert rows == [("row-overdue", "D1"), ("", "D2")]
    assert "1 overdue" in html  # A1 never notified
    assert client.get("/timeliness?start=2026-03-31&end=2026-03-01").status_code == 422
    assert client.get("/timeliness?period=day").status_code == 422


def test_new_routes_are_classified_for_the_audit() -> None:
    for path in ("/investigations/{investigation_id}", "/investigations/{investigation_id}/graph"):
        assert path in PERSON_LEVEL_READS
    for path in ("/queue", "/investigations", "/timeliness"):
        assert path in AGGREGATE_READS


def test_workspace_read_is_audited(pstore: Store, client: TestClient) -> None:
    inv = wf.create_investigation(pstore, "Audited", actor="ann", now=T0)
    client.get(f"/investigations/{inv.id}", headers={"X-Epiradar-Actor": "carol"})
    entries = pstore.audit.entries()
    assert any(
        e.action == "investigation.page.read" and e.object_id == str(inv.id) for e in entries
    )
