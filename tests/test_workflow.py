"""The alert workflow on SQLite and PostgreSQL: the whole transition table with its required
fields, the risk matrix, the timeline, detection reruns, investigations and tasks, 7-1-7 timers
and stage limits with fixed clocks, the timeliness report, snooze and mute expiry, the JSON API
on a real app, the command line and the alert page."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import update
from typer.testing import CliRunner

from epiradar.cli import app as cli_app
from epiradar.config import Settings, load_settings_file
from epiradar.config_workflow import WorkflowSettings
from epiradar.model import Alert, AlertStatus, Region, Severity, Syndrome
from epiradar.model.workflow import (
    RISK_MATRIX,
    TRANSITIONS,
    IllegalTransitionError,
    Level,
    MissingFieldsError,
    TransitionRequest,
    WorkflowError,
    risk_level,
)
from epiradar.service import workflow as wf
from epiradar.store import Store
from epiradar.store.schema import alerts as alerts_table
from epiradar.store.workflow import StaleStateError
from epiradar.web.app import create_app
from web_support import authorize

S = AlertStatus
T0 = dt.datetime(2026, 3, 10, 8, 0)  # when the test alerts were detected (stored)

FULL = {
    "verification_note": "cases confirmed by phone with both clinics",
    "likelihood": "high",
    "impact": "moderate",
    "closure_reason": "no new cases for two incubation periods",
    "outcome": "not an outbreak",
}
"""Every field any transition needs (each move takes the ones it requires)."""

PATHS: dict[AlertStatus, list[AlertStatus]] = {
    S.NEW: [],
    S.VERIFYING: [S.VERIFYING],
    S.DISCARDED: [S.VERIFYING, S.DISCARDED],
    S.MONITORING: [S.VERIFYING, S.MONITORING],
    S.INVESTIGATING: [S.VERIFYING, S.INVESTIGATING],
    S.CLOSED: [S.VERIFYING, S.INVESTIGATING, S.CLOSED],
}
"""How to reach each state from new."""


def make_alert(
    alert_id: str,
    *,
    syndrome: Syndrome = Syndrome.GASTROINTESTINAL,
    regions: list[str] | None = None,
    start: dt.date = dt.date(2026, 3, 5),
    first_alarm: dt.date = dt.date(2026, 3, 9),
    severity: Severity = Severity.HIGH,
) -> Alert:
    return Alert(
        id=alert_id,
        syndrome=syndrome,
        region_ids=["R1"] if regions is None else regions,
        start_date=start,
        end_date=first_alarm,
        first_alarm_date=first_alarm,
        observed=20,
        expected=4.0,
        p_value=1e-6,
        severity=severity,
        detector="C2",
    )


def store_alerts(store: Store, alerts: list[Alert], detected: dt.datetime = T0) -> None:
    """Store alerts as a run detecting the days of their first alarms would, at ``detected``."""
    days = [a.first_alarm_date for a in alerts]
    store.replace_alerts(alerts, [], min(days), max(days))
    with store.engine.begin() as conn:
        conn.execute(
            update(alerts_table)
            .where(alerts_table.c.id.in_([a.id for a in alerts]))
            .values(created_at=detected.isoformat())
        )


def request(to: AlertStatus, **fields) -> TransitionRequest:
    return TransitionRequest(to=to, **fields)


def full_request(frm: AlertStatus, to: AlertStatus) -> TransitionRequest:
    """The move with exactly the fields it requires."""
    need = TRANSITIONS.get((frm, to), ())
    return request(to, **{k: v for k, v in FULL.items() if k in need})


def walk(store: Store, alert_id: str, target: AlertStatus, at: dt.datetime = T0) -> None:
    frm = S.NEW
    for step in PATHS[target]:
        wf.transition(store, alert_id, full_request(frm, step), actor="setup", now=at)
        frm = step


@pytest.fixture
def wstore(city_store: Store) -> Store:
    """The small city (R1..R4) with districts: R1, R2 in D1; R3, R4 in D2."""
    regions = [
        Region(id=r.id, name=r.name, population=r.population, parent_id=parent)
        for r, parent in zip(city_store.regions(), ["D1", "D1", "D2", "D2"], strict=True)
    ]
    city_store.load_city(regions, city_store.facilities(), city_store.places(), [])
    return city_store


# ---------------------------------------------------------------------------------------------
# rules


EXPECTED_RISK = {
    # likelihood: (impact low, moderate, high, very high)
    "low": ("low", "low", "moderate", "moderate"),
    "moderate": ("low", "moderate", "moderate", "high"),
    "high": ("moderate", "moderate", "high", "very high"),
    "very high": ("moderate", "high", "very high", "very high"),
}


def test_risk_matrix_has_every_documented_cell() -> None:
    impacts = ["low", "moderate", "high", "very high"]
    assert len(RISK_MATRIX) == 16
    for likelihood, row in EXPECTED_RISK.items():
        for impact, risk in zip(impacts, row, strict=True):
            assert risk_level(likelihood, impact) == Level(risk), (likelihood, impact)
            assert RISK_MATRIX[(Level(likelihood), Level(impact))] == Level(risk)


def test_risk_levels_outside_the_scale_are_refused() -> None:
    with pytest.raises(ValidationError, match="likelihood"):
        TransitionRequest(to=S.MONITORING, likelihood="extreme")


def test_the_transition_table_is_the_documented_one() -> None:
    assert set(TRANSITIONS) == {
        (S.NEW, S.VERIFYING),
        (S.VERIFYING, S.DISCARDED),
        (S.VERIFYING, S.MONITORING),
        (S.VERIFYING, S.INVESTIGATING),
        (S.MONITORING, S.INVESTIGATING),
        (S.MONITORING, S.CLOSED),
        (S.INVESTIGATING, S.CLOSED),
    }


# ---------------------------------------------------------------------------------------------
# transitions on a real store


def test_every_legal_transition_is_accepted_with_its_fields(wstore: Store) -> None:
    pairs = sorted(TRANSITIONS)
    store_alerts(wstore, [make_alert(f"A{i}") for i in range(len(pairs))])
    at = T0 + dt.timedelta(hours=3)
    for i, (frm, to) in enumerate(pairs):
        alert_id = f"A{i}"
        walk(wstore, alert_id, frm)
        before = len(wf.timeline(wstore, alert_id))
        flow = wf.transition(wstore, alert_id, full_request(frm, to), actor="ann", now=at)
        assert flow.status == to
        assert wstore.alert(alert_id).status == to
        assert flow.state_since == at
        entries = wf.timeline(wstore, alert_id)
        moves = [e for e in entries[before:] if e.action == "transition"]
        assert len(moves) == 1
        move = moves[0]
        assert (move.from_state, move.to_state, move.actor, move.at) == (frm, to, "ann", at)
        for name in TRANSITIONS[(frm, to)]:
            assert move.fields[name] == FULL[name]
            assert getattr(flow, name) == FULL[name]
        if "likelihood" in TRANSITIONS[(frm, to)]:
            assert move.fields["risk"] == "moderate"  # high x moderate
            assert flow.risk == Level.MODERATE


def test_every_illegal_transition_is_refused_with_a_message_naming_it(wstore: Store) -> None:
    illegal = [(f, t) for f in S for t in S if (f, t) not in TRANSITIONS]
    assert len(illegal) == 36 - 7
    store_alerts(wstore, [make_alert(f"A{i}") for i in range(len(illegal))])
    for i, (frm, to) in enumerate(illegal):
        alert_id = f"A{i}"
        walk(wstore, alert_id, frm)
        before = wf.timeline(wstore, alert_id)
        with pytest.raises(IllegalTransitionError) as err:
            wf.transition(wstore, alert_id, request(to, **FULL), actor="ann", now=T0)
        message = str(err.value)
        assert f"illegal transition {frm} -> {to}" in message
        allowed = [t for (f, t) in TRANSITIONS if f == frm]
        for target in allowed:
            assert str(target) in message.split("may move to:")[1]
        if not allowed:
            assert "none (it is final)" in message
        assert wstore.alert(alert_id).status == frm
        assert wf.timeline(wstore, alert_id) == before


def test_missing_or_blank_required_fields_are_refused_by_name(wstore: Store) -> None:
    store_alerts(wstore, [make_alert("A1")])
    for (frm, to), required in sorted(TRANSITIONS.items()):
        for name in required:
            given = {k: v for k, v in FULL.items() if k in required and k != name}
            for blank in (None, "  "):
                fields = dict(given)
                if blank is not None and name in ("verification_note", "closure_reason"):
                    fields[name] = blank
                req = request(to, **fields)
                with pytest.raises(MissingFieldsError) as err:
                    req.check(frm)
                assert name in err.value.fields
                assert f"{frm} -> {to} requires" in str(err.value)
                assert name in str(err.value)
    walk(wstore, "A1", S.VERIFYING)
    with pytest.raises(MissingFieldsError, match="verification_note, likelihood, impact"):
        wf.transition(wstore, "A1", request(S.INVESTIGATING), actor="ann", now=T0)
    assert wstore.alert("A1").status == S.VERIFYING


def test_discarding_a_confirmed_outbreak_is_refused(wstore: Store) -> None:
    store_alerts(wstore, [make_alert("A1")])
    walk(wstore, "A1", S.VERIFYING)
    with pytest.raises(WorkflowError, match="outcome: a discarded alert must be"):
        wf.transition(
            wstore,
            "A1",
            request(S.DISCARDED, verification_note="x", outcome="confirmed outbreak"),
            actor="ann",
            now=T0,
        )
    flow = wf.transition(
        wstore,
        "A1",
        request(S.DISCARDED, verification_note="duplicate feed", outcome="data error"),
        actor="ann",
        now=T0,
    )
    assert flow.outcome == "data error" and flow.legal_targets == []


def test_unknown_alert_is_a_lookup_error(wstore: Store) -> None:
    with pytest.raises(wf.UnknownAlertError):
        wf.transition(wstore, "nope", request(S.VERIFYING), actor="ann", now=T0)


def test_a_stale_state_is_not_overwritten(wstore: Store) -> None:
    store_alerts(wstore, [make_alert("A1")])
    walk(wstore, "A1", S.VERIFYING)
    with pytest.raises(StaleStateError):
        wstore.workflow.transition("A1", S.NEW, S.VERIFYING, {}, actor="bob", at=T0)
    assert wstore.alert("A1").status == S.VERIFYING
    assert [e.actor for e in wf.timeline(wstore, "A1")] == ["setup"]


def test_timeline_keeps_actor_time_fields_and_the_remark(wstore: Store) -> None:
    store_alerts(wstore, [make_alert("A1")])
    t1, t2 = T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=5)
    wf.transition(
        wstore, "A1", request(S.VERIFYING, note="calling the clinic"), actor="ann", now=t1
    )
    wf.transition(
        wstore,
        "A1",
        request(
            S.MONITORING, verification_note="  real rise  ", likelihood="low", impact="very high"
        ),
        actor="bob",
        now=t2,
    )
    entries = wf.timeline(wstore, "A1")
    assert [(e.actor, e.at, e.from_state, e.to_state) for e in entries] == [
        ("ann", t1, S.NEW, S.VERIFYING),
        ("bob", t2, S.VERIFYING, S.MONITORING),
    ]
    assert entries[0].fields == {"note": "calling the clinic"}
    assert entries[1].fields == {
        "verification_note": "real rise",
        "likelihood": "low",
        "impact": "very high",
        "risk": "moderate",
    }
    with pytest.raises(WorkflowError, match="actor"):
        wf.transition(wstore, "A1", request(S.CLOSED, **FULL), actor=" ", now=t2)


def test_detection_rerun_keeps_the_status_record_timeline_and_detection_time(
    wstore: Store,
) -> None:
    store_alerts(wstore, [make_alert("A1"), make_alert("A2")])
    walk(wstore, "A1", S.INVESTIGATING)
    before = wf.timeline(wstore, "A1")
    # the next run finds the same alerts again, both "new" as detection makes them
    wstore.replace_alerts(
        [make_alert("A1"), make_alert("A2")], [], dt.date(2026, 1, 1), dt.date(2026, 12, 31)
    )
    assert wstore.alert("A1").status == S.INVESTIGATING
    assert wstore.alert("A2").status == S.NEW
    flow = wf.alert_workflow(wstore, "A1")
    assert flow.risk == Level.MODERATE and flow.detected_at == T0
    assert wf.timeline(wstore, "A1") == before
    assert [i.alert_ids for i in wf.investigations(wstore, alert_id="A1")] == [["A1"]]
    # a run that no longer finds them drops the untouched alert, not the one being investigated
    wstore.replace_alerts([], [], dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert wstore.alert("A2") is None
    assert wstore.alert("A1").status == S.INVESTIGATING
    assert wf.timeline(wstore, "A1") == before


# ---------------------------------------------------------------------------------------------
# investigations, hypotheses, tasks


def test_investigating_opens_an_investigation_and_others_can_join(wstore: Store) -> None:
    store_alerts(wstore, [make_alert("A1"), make_alert("A2", regions=["R2"])])
    walk(wstore, "A1", S.INVESTIGATING)
    (inv,) = wf.investigations(wstore, alert_id="A1")
    assert inv.status == "open" and "gastrointestinal" in inv.title
    walk(wstore, "A2", S.VERIFYING)
    with pytest.raises(WorkflowError, match="investigation_id: no investigation 999"):
        wf.transition(
            wstore,
            "A2",
            full_request(S.VERIFYING, S.INVESTIGATING).model_copy(update={"investigation_id": 999}),
            actor="ann",
            now=T0,
        )
    assert wstore.alert("A2").status == S.VERIFYING  # rolled back with the failed link
    wf.transition(
        wstore,
        "A2",
        full_request(S.VERIFYING, S.INVESTIGATING).model_copy(update={"investigation_id": inv.id}),
        actor="ann",
        now=T0,
    )
    assert wf.investigation(wstore, inv.id).alert_ids == ["A1", "A2"]
    assert len(wf.investigations(wstore)) == 1
    with pytest.raises(WorkflowError, match="investigation_id: only a move to investigating"):
        request(S.MONITORING, investigation_id=inv.id, **FULL).check(S.VERIFYING)


def test_hypotheses_hold_trace_evidence_and_can_be_judged(wstore: Store) -> None:
    store_alerts(wstore, [make_alert("A1")])
    inv = wf.create_investigation(wstore, "Market cluster", actor="ann", alert_ids=["A1"], now=T0)
    evidence = {"analysis": "exposures", "odds_ratio": 14.2, "q_value": 1e-8, "cases_exposed": 31}
    hyp = wf.add_hypothesis(
        wstore, inv.id, kind="source", subject="P1", evidence=evidence, actor="ann", now=T0
    )
    assert hyp.evidence == evidence and hyp.status == "open"
    judged = wf.set_hypothesis_status(wstore, hyp.id, "supported", actor="bob", now=T0)
    assert judged.status == "supported"
    assert wf.investigation(wstore, inv.id).hypotheses[0].status == "supported"
    with pytest.raises(WorkflowError, match="kind: 'rumour'"):
        wf.add_hypothesis(wstore, inv.id, kind="rumour", subject="P1", actor="ann", now=T0)
    with pytest.raises(WorkflowError, match="subject: must not be empty"):
        wf.add_hypothesis(wstore, inv.id, kind="source", subject=" ", actor="ann", now=T0)
    with pytest.raises(wf.UnknownItemError):
        wf.add_hypothesis(wstore, 999, kind="source", subject="P1", actor="ann", now=T0)
    with pytest.raises(wf.UnknownAlertError):
        wf.create_investigation(wstore, "x", actor="ann", alert_ids=["nope"], now=T0)
    actions = [e.action for e in wf.timeline(wstore, "A1")]
    assert actions == [
        "investigation opened",
        "alert linked",
        "hypothesis added",
        "hypothesis updated",
    ]


def test_tasks_checklists_due_dates_and_completion(wstore: Store) -> None:
    store_alerts(wstore, [make_alert("A1")])
    inv = wf.create_investigation(wstore, "Market cluster", actor="ann", alert_ids=["A1"], now=T0)
    due = dt.date(2026, 3, 12)
    task = wf.add_task(
        wstore,
        inv.id,
        title="Inspect the market",
        assignee="li.wei",
        due_date=due,
        checklist=["site inspection", "sample collection"],
        actor="ann",
        now=T0,
    )
    assert [(c.item, c.done) for c in task.checklist] == [
        ("site inspection", False),
        ("sample collection", False),
    ]
    assert not wf.task(wstore, task.id, now=dt.datetime(2026, 3, 12, 23)).overdue
    assert wf.task(wstore, task.id, now=dt.datetime(2026, 3, 13, 0, 1)).overdue
    with pytest.raises(WorkflowError, match="checklist items are open: site inspection, sample"):
        wf.update_task(wstore, task.id, status="done", actor="li.wei", now=T0)
    with pytest.raises(WorkflowError, match=r"checklist\[0\]: 'disinfection'"):
        wf.add_task(wstore, inv.id, title="x", checklist=["disinfection"], actor="ann", now=T0)
    with pytest.raises(WorkflowError, match="title: must not be empty"):
        wf.add_task(wstore, inv.id, title="", actor="ann", now=T0)
    later = dt.datetime(2026, 3, 13, 9)
    done = wf.update_task(
        wstore,
        task.id,
        checklist=[
            {"item": "site inspection", "done": True},
            {"item": "sample collection", "done": True},
        ],
        status="done",
        actor="li.wei",
        now=later,
    )
    assert done.status == "done" and done.done_at == later and not done.overdue
    moved = wf.update_task(wstore, task.id, assignee=None, title="Inspect market A", actor="ann")
    assert moved.assignee is None and moved.title == "Inspect market A"
    assert len(moved.checklist) == 2  # a rename keeps the checklist
    other = wf.add_task(wstore, inv.id, title="Trace contacts", actor="ann", now=T0)
    assert [t.id for t in wf.tasks(wstore, status="open")] == [other.id]
    wf.delete_task(wstore, other.id, actor="ann", now=T0)
    with pytest.raises(wf.UnknownItemError):
        wf.task(wstore, other.id)
    assert [t.id for t in wf.investigation(wstore, inv.id).tasks] == [task.id]
    closed = wf.update_investigation(wstore, inv.id, status="closed", actor="ann", now=later)
    assert closed.status == "closed"
    with pytest.raises(WorkflowError, match="status: 'paused'"):
        wf.update_investigation(wstore, inv.id, status="paused", actor="ann")


# ---------------------------------------------------------------------------------------------
# timers


def test_7_1_7_timers_and_stage_limits_with_a_fixed_clock(wstore: Store) -> None:
    settings = WorkflowSettings()
    store_alerts(
        wstore,
        [make_alert("A1", start=dt.date(2026, 3, 1), first_alarm=dt.date(2026, 3, 9))],
        detected=T0,
    )
    alert = wstore.alert("A1")

    def timers(now: dt.datetime) -> wf.AlertTimers:
        return wf.alert_timers(alert, wf.alert_workflow(wstore, "A1"), now, settings)

    t = timers(T0 + dt.timedelta(hours=23))
    assert t.detect_days == 8 and t.detect_met is False  # 8 days from emergence: late
    assert t.notify_due == T0 + dt.timedelta(days=1)
    assert not t.notify_overdue and not t.stage_overdue and not t.overdue
    t = timers(T0 + dt.timedelta(hours=24, minutes=1))
    assert t.notify_overdue and t.stage_overdue and t.overdue  # new: 24 h
    notified = T0 + dt.timedelta(hours=26)
    wf.transition(wstore, "A1", request(S.VERIFYING), actor="ann", now=notified)
    alert = wstore.alert("A1")
    t = timers(notified + dt.timedelta(hours=1))
    assert t.notify_met is False and t.notify_hours == 26 and not t.notify_overdue
    assert t.respond_due == notified + dt.timedelta(days=7)
    assert t.stage_due == notified + dt.timedelta(hours=48) and not t.stage_overdue
    assert timers(notified + dt.timedelta(hours=49)).stage_overdue
    wf.transition(
        wstore, "A1", full_request(S.VERIFYING, S.INVESTIGATING), actor="ann", now=notified
    )
    alert = wstore.alert("A1")
    t = timers(notified + dt.timedelta(days=7, minutes=1))
    assert t.respond_overdue and t.stage_overdue  # investigating: 168 h
    closed_at = notified + dt.timedelta(days=8)
    wf.transition(wstore, "A1", full_request(S.INVESTIGATING, S.CLOSED), actor="ann", now=closed_at)
    alert = wstore.alert("A1")
    t = timers(closed_at + dt.timedelta(days=30))
    assert t.respond_met is False and t.respond_days == 8
    assert not t.overdue  # closed: nothing is due any more


def test_stage_limits_come_from_the_settings(wstore: Store) -> None:
    store_alerts(wstore, [make_alert("A1")])
    settings = WorkflowSettings(stage_hours={"new": 2}, notify_days=3)
    flow = wf.alert_workflow(wstore, "A1")
    alert = wstore.alert("A1")
    t = wf.alert_timers(alert, flow, T0 + dt.timedelta(hours=3), settings)
    assert t.stage_overdue and not t.notify_overdue
    walk(wstore, "A1", S.VERIFYING)
    t = wf.alert_timers(
        wstore.alert("A1"), wf.alert_workflow(wstore, "A1"), T0 + dt.timedelta(days=300), settings
    )
    assert t.stage_due is None and not t.stage_overdue  # no limit for verifying


def test_workflow_settings_are_validated_with_the_field_named(tmp_path) -> None:
    with pytest.raises(
        ValidationError, match=r"\[workflow.stage_hours\] closed: not an open state"
    ):
        WorkflowSettings(stage_hours={"closed": 5})
    with pytest.raises(ValidationError, match=r"\[workflow.stage_hours\] new: must be a positive"):
        WorkflowSettings(stage_hours={"new": -1})
    with pytest.raises(ValidationError, match="notify_days"):
        WorkflowSettings(notify_days=0)
    with pytest.raises(ValidationError, match="typo"):
        WorkflowSettings(typo=3)
    path = tmp_path / "epiradar.toml"
    path.write_text("[workflow]\nrespond_days = 5\n[workflow.stage_hours]\nverifying = 12\n")
    settings = load_settings_file(path)
    assert settings.workflow.respond_days == 5
    assert settings.workflow.stage_hours == {"verifying": 12}


def test_work_queue_puts_overdue_alerts_and_tasks_first(wstore: Store) -> None:
    store_alerts(
        wstore,
        [
            make_alert("A1", severity=Severity.LOW),
            make_alert("A2", severity=Severity.HIGH, regions=["R3"]),
            make_alert("A3"),
        ],
    )
    wf.transition(wstore, "A3", request(S.VERIFYING), actor="ann", now=T0)
    wf.transition(
        wstore,
        "A3",
        full_request(S.VERIFYING, S.MONITORING).model_copy(update={"likelihood": "very high"}),
        actor="ann",
        now=T0,
    )
    (inv,) = [wf.create_investigation(wstore, "x", actor="ann", alert_ids=["A1"], now=T0)]
    late = wf.add_task(
        wstore, inv.id, title="late", due_date=dt.date(2026, 3, 9), actor="ann", now=T0
    )
    wf.add_task(wstore, inv.id, title="later", due_date=dt.date(2026, 4, 1), actor="ann", now=T0)
    with wstore.engine.begin() as conn:  # A1 was detected long ago: overdue
        conn.execute(
            update(alerts_table)
            .where(alerts_table.c.id == "A1")
            .values(created_at=(T0 - dt.timedelta(days=3)).isoformat())
        )
    queue = wf.work_queue(wstore, now=T0 + dt.timedelta(hours=2))
    assert [i.alert.id for i in queue.alerts] == ["A1", "A3", "A2"]
    assert [i.overdue for i in queue.alerts] == [True, False, False]
    assert [(t.title, t.overdue) for t in queue.tasks] == [("late", True), ("later", False)]
    assert late.id == queue.tasks[0].id


# ---------------------------------------------------------------------------------------------
# timeliness report


def test_timeliness_report_per_district_and_period(wstore: Store) -> None:
    day = dt.timedelta(days=1)
    store_alerts(
        wstore,
        [
            # D1, March: detected in 4 days, notified in 2 h, responded in 3 days
            make_alert(
                "M1", regions=["R1"], start=dt.date(2026, 3, 1), first_alarm=dt.date(2026, 3, 5)
            ),
            # D1 and D2, March: detected in 9 days (late), notified in 30 h (late), open
            make_alert(
                "M2",
                regions=["R2", "R3"],
                start=dt.date(2026, 3, 1),
                first_alarm=dt.date(2026, 3, 10),
            ),
            # city-wide, April: never notified
            make_alert(
                "M3", regions=[], start=dt.date(2026, 4, 1), first_alarm=dt.date(2026, 4, 2)
            ),
        ],
        detected=T0,
    )
    wf.transition(wstore, "M1", request(S.VERIFYING), actor="a", now=T0 + dt.timedelta(hours=2))
    wf.transition(
        wstore,
        "M1",
        full_request(S.VERIFYING, S.MONITORING),
        actor="a",
        now=T0 + dt.timedelta(hours=2) + 3 * day,
    )
    wf.transition(wstore, "M2", request(S.VERIFYING), actor="a", now=T0 + dt.timedelta(hours=30))
    now = T0 + 10 * day
    report = wf.timeliness_report(
        wstore, start=dt.date(2026, 3, 1), end=dt.date(2026, 4, 30), period="month", now=now
    )
    rows = {(r.period, r.district): r for r in report.rows}
    assert set(rows) == {("2026-03", "D1"), ("2026-03", "D2"), ("2026-04", "city")}
    d1 = rows[("2026-03", "D1")]
    assert (d1.alerts, d1.detect_met, d1.detect_late) == (2, 1, 1)
    assert (d1.notify_met, d1.notify_late, d1.notify_overdue) == (1, 1, 0)
    assert d1.notify_median_hours == 16.0  # median of 2 h and 30 h
    assert (d1.respond_met, d1.respond_overdue, d1.respond_pending) == (1, 1, 0)
    assert d1.respond_median_days == 3.0
    d2 = rows[("2026-03", "D2")]
    assert (d2.alerts, d2.detect_late, d2.notify_late, d2.respond_overdue) == (1, 1, 1, 1)
    city = rows[("2026-04", "city")]
    assert (city.alerts, city.notify_overdue, city.stage_overdue) == (1, 1, 1)
    total = report.total
    assert total.alerts == 3  # M2 counts once in the total
    assert (total.notify_met, total.notify_late, total.notify_overdue) == (1, 1, 1)
    weekly = wf.timeliness_report(
        wstore, start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31), period="week", now=now
    )
    assert {r.period for r in weekly.rows} == {"2026-03-02", "2026-03-09"}  # Mondays
    assert weekly.total.alerts == 2
    with pytest.raises(WorkflowError, match="end: 2026-02-01 is before start"):
        wf.timeliness_report(wstore, start=dt.date(2026, 3, 1), end=dt.date(2026, 2, 1))


# ---------------------------------------------------------------------------------------------
# snooze and mute


def test_snoozed_alerts_leave_the_queue_until_expiry(wstore: Store) -> None:
    store_alerts(wstore, [make_alert("A1"), make_alert("A2", regions=["R4"])])
    until = T0 + dt.timedelta(days=2)
    flow = wf.snooze(wstore, "A1", until, actor="ann", reason="waiting for lab", now=T0)
    assert flow.snoozed_until == until

    def ids(now: dt.datetime, **kw) -> list[str]:
        return sorted(i.alert.id for i in wf.work_queue(wstore, now=now, **kw).alerts)

    assert ids(until - dt.timedelta(minutes=1)) == ["A2"]
    queue = wf.work_queue(wstore, now=T0, include_hidden=True)
    assert {i.alert.id: i.hidden for i in queue.alerts} == {"A1": "snoozed", "A2": None}
    assert wf.work_queue(wstore, now=T0).hidden == 1
    assert ids(until) == ["A1", "A2"]  # expired
    wf.snooze(wstore, "A1", until, actor="ann", now=T0)
    wf.wake(wstore, "A1", actor="bob", now=T0 + dt.timedelta(hours=1))
    assert ids(T0 + dt.timedelta(hours=2)) == ["A1", "A2"]
    actions = [(e.action, e.actor) for e in wf.timeline(wstore, "A1")]
    assert actions == [("snooze", "ann"), ("snooze", "ann"), ("wake", "bob")]
    with pytest.raises(WorkflowError, match="until: .* is not in the future"):
        wf.snooze(wstore, "A1", T0 - dt.timedelta(hours=1), actor="ann", now=T0)
    with pytest.raises(WorkflowError, match="until: a snooze lasts at most 30 days"):
        wf.snooze(wstore, "A1", T0 + dt.timedelta(days=31), actor="ann", now=T0)
    walk(wstore, "A2", S.DISCARDED)
    with pytest.raises(WorkflowError, match="only open alerts can be snoozed"):
        wf.snooze(wstore, "A2", until, actor="ann", now=T0)


def test_a_muted_event_hides_its_alerts_and_later_ones_until_expiry(wstore: Store) -> None:
    store_alerts(
        wstore,
        [
            make_alert("A1", regions=["R1"]),
            make_alert("A3", regions=["R3"]),  # same syndrome elsewhere
            make_alert("A4", regions=["R1"], syndrome=Syndrome.ILI),  # other syndrome
        ],
    )
    until = T0 + dt.timedelta(days=5)
    with pytest.raises(WorkflowError, match="reason: a mute needs a reason"):
        wf.mute(wstore, "A1", until, " ", actor="ann", now=T0)
    m = wf.mute(wstore, "A1", until, "known norovirus outbreak at school", actor="ann", now=T0)
    assert (m.syndrome, m.region_ids, m.until) == ("gastrointestinal", ["R1"], until)
    # a later detection run finds the event spreading to R2 (touching R1): muted as well
    store_alerts(wstore, [make_alert("A2", regions=["R1", "R2"], first_alarm=dt.date(2026, 3, 11))])

    def ids(now: dt.datetime) -> list[str]:
        return sorted(i.alert.id for i in wf.work_queue(wstore, now=now).alerts)

    assert ids(T0 + dt.timedelta(days=1)) == ["A3", "A4"]
    hidden = wf.work_queue(wstore, now=T0, include_hidden=True).alerts
    assert {i.alert.id: (i.hidden, i.muted_by) for i in hidden if i.hidden} == {
        "A1": ("muted", m.id),
        "A2": ("muted", m.id),
    }
    assert ids(until) == ["A1", "A2", "A3", "A4"]
    assert [x.id for x in wf.mutes(wstore, active_at=T0)] == [m.id]
    wf.lift_mute(wstore, m.id, actor="bob", now=T0 + dt.timedelta(hours=1))
    assert ids(T0 + dt.timedelta(hours=2)) == ["A1", "A2", "A3", "A4"]
    assert wf.mutes(wstore, active_at=T0 + dt.timedelta(hours=2)) == []
    assert [e.action for e in wf.timeline(wstore, "A1")] == ["mute", "unmute"]
    with pytest.raises(wf.UnknownItemError):
        wf.lift_mute(wstore, 999, actor="bob")
    with pytest.raises(WorkflowError, match="until: a mute lasts at most 90 days"):
        wf.mute(wstore, "A1", T0 + dt.timedelta(days=91), "x", actor="ann", now=T0)


# ---------------------------------------------------------------------------------------------
# JSON API on a real app


@pytest.fixture
def client(wstore: Store) -> Iterator[TestClient]:
    app = create_app(Settings(db=wstore.url), wstore)
    app.state.clock = lambda: T0 + dt.timedelta(hours=1)
    with TestClient(app) as c:
        yield authorize(c, wstore)


def test_api_moves_an_alert_through_the_whole_loop(wstore: Store, client: TestClient) -> None:
    store_alerts(wstore, [make_alert("A1")])
    ann = {"X-Epiradar-Actor": "ann"}
    body = client.get("/api/alerts/A1/workflow").json()
    assert body["workflow"]["status"] == "new"
    assert body["workflow"]["legal_targets"] == ["verifying"]
    assert body["timers"]["notify_due"] == "2026-03-11T08:00:00"

    r = client.post("/api/alerts/A1/transition", json={"to": "closed"}, headers=ann)
    assert r.status_code == 409
    assert r.json()["detail"].startswith("illegal transition new -> closed")
    r = client.post("/api/alerts/A1/transition", json={"to": "verifying"}, headers=ann)
    assert r.status_code == 200 and r.json()["status"] == "verifying"
    r = client.post("/api/alerts/A1/transition", json={"to": "investigating"}, headers=ann)
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "verifying -> investigating requires verification_note, likelihood, impact"
    )
    r = client.post(
        "/api/alerts/A1/transition", json={"to": "monitoring", "likelihood": "huge"}, headers=ann
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "likelihood"]
    r = client.post(
        "/api/alerts/A1/transition",
        json={
            "to": "investigating",
            "verification_note": "real",
            "likelihood": "very high",
            "impact": "high",
        },
        headers={"X-Epiradar-Actor": "bob"},
    )
    assert r.status_code == 200 and r.json()["risk"] == "very high"
    (inv,) = client.get("/api/investigations", params={"alert_id": "A1"}).json()

    r = client.post(
        f"/api/investigations/{inv['id']}/hypotheses",
        json={"kind": "source", "subject": "P1", "evidence": {"odds_ratio": 12.5}},
        headers=ann,
    )
    assert r.status_code == 201 and r.json()["evidence"] == {"odds_ratio": 12.5}
    r = client.patch(f"/api/hypotheses/{r.json()['id']}", json={"status": "supported"})
    assert r.json()["status"] == "supported"
    r = client.post(
        f"/api/investigations/{inv['id']}/tasks",
        json={
            "title": "Sample the market",
            "assignee": "li.wei",
            "due_date": "2026-03-09",
            "checklist": ["sample collection"],
        },
        headers=ann,
    )
    assert r.status_code == 201 and r.json()["overdue"] is True  # the clock says 10 March
    task_id = r.json()["id"]
    r = client.patch(f"/api/tasks/{task_id}", json={"status": "done"})
    assert r.status_code == 422 and "sample collection" in r.json()["detail"]
    r = client.patch(
        f"/api/tasks/{task_id}",
        json={"checklist": [{"item": "sample collection", "done": True}], "status": "done"},
        headers={"X-Epiradar-Actor": "li.wei"},
    )
    assert r.status_code == 200 and r.json()["status"] == "done" and not r.json()["overdue"]
    assert client.get("/api/tasks", params={"status": "open"}).json() == []
    r = client.post(f"/api/investigations/{inv['id']}/tasks", json={"title": "tmp"})
    assert client.delete(f"/api/tasks/{r.json()['id']}").status_code == 204
    assert client.get(f"/api/tasks/{r.json()['id']}").status_code == 404
    r = client.post(f"/api/investigations/{inv['id']}/tasks", json={"title": "x", "colour": 1})
    assert r.status_code == 422

    r = client.post(
        "/api/alerts/A1/transition",
        json={
            "to": "closed",
            "closure_reason": "market closed, no new cases",
            "outcome": "confirmed outbreak",
        },
        headers=ann,
    )
    assert r.status_code == 200 and r.json()["legal_targets"] == []
    r = client.patch(f"/api/investigations/{inv['id']}", json={"status": "closed"})
    assert r.json()["status"] == "closed"

    timeline = client.get("/api/alerts/A1/timeline").json()
    moves = [
        (e["actor"], e["from_state"], e["to_state"])
        for e in timeline
        if e["action"] == "transition"
    ]
    assert moves == [
        ("ann", "new", "verifying"),
        ("bob", "verifying", "investigating"),
        ("ann", "investigating", "closed"),
    ]
    assert {e["action"] for e in timeline} >= {
        "investigation opened",
        "alert linked",
        "hypothesis added",
        "task added",
        "task updated",
        "task deleted",
        "investigation updated",
    }
    assert all(e["at"] == "2026-03-10T09:00:00" for e in timeline)
    assert [e["actor"] for e in timeline if e["action"] == "task updated"] == ["li.wei"]
    assert client.get(f"/api/investigations/{inv['id']}/timeline").status_code == 200
    assert client.get("/api/alerts/nope/timeline").status_code == 404
    r = client.post("/api/alerts/nope/transition", json={"to": "verifying"})
    assert r.status_code == 404


def test_api_snooze_mute_queue_and_timeliness(wstore: Store, client: TestClient) -> None:
    store_alerts(wstore, [make_alert("A1"), make_alert("A2", regions=["R3"])])
    r = client.post("/api/alerts/A1/snooze", json={"until": "2026-03-11T08:00:00", "reason": "lab"})
    assert r.status_code == 200 and r.json()["snoozed_until"] == "2026-03-11T08:00:00"
    assert [i["alert"]["id"] for i in client.get("/api/queue").json()["alerts"]] == ["A2"]
    assert client.delete("/api/alerts/A1/snooze").status_code == 200
    r = client.post("/api/alerts/A2/mute", json={"until": "2026-03-20T00:00:00", "reason": "known"})
    assert r.status_code == 200
    mute_id = r.json()["id"]
    queue = client.get("/api/queue").json()
    assert [i["alert"]["id"] for i in queue["alerts"]] == ["A1"] and queue["hidden"] == 1
    hidden = client.get("/api/queue", params={"include_hidden": True}).json()["alerts"]
    assert {i["alert"]["id"]: i["hidden"] for i in hidden} == {"A1": None, "A2": "muted"}
    assert [m["id"] for m in client.get("/api/mutes", params={"active": True}).json()] == [mute_id]
    assert client.delete(f"/api/mutes/{mute_id}").status_code == 204
    assert client.delete(f"/api/mutes/{mute_id + 1}").status_code == 404
    r = client.post("/api/alerts/A1/snooze", json={"until": "2026-03-01T00:00:00"})
    assert r.status_code == 422 and "until" in r.json()["detail"]

    report = client.get(
        "/api/timeliness", params={"start": "2026-03-01", "end": "2026-03-31", "period": "week"}
    ).json()
    assert report["total"]["alerts"] == 2
    assert {r["district"] for r in report["rows"]} == {"D1", "D2"}
    assert report["targets"] == {"detect_days": 7.0, "notify_days": 1.0, "respond_days": 7.0}
    r = client.get("/api/timeliness", params={"start": "2026-03-31", "end": "2026-03-01"})
    assert r.status_code == 422 and r.json()["detail"].startswith("end:")
    r = client.get(
        "/api/timeliness", params={"start": "2026-03-01", "end": "2026-03-31", "period": "day"}
    )
    assert r.status_code == 422


def test_api_investigations_group_alerts(wstore: Store, client: TestClient) -> None:
    store_alerts(wstore, [make_alert("A1"), make_alert("A2", regions=["R2"])])
    r = client.post(
        "/api/investigations",
        json={"title": "GI cluster", "alert_ids": ["A1"], "line_list_ref": "shared/gi.xlsx"},
    )
    assert r.status_code == 201
    inv = r.json()
    assert (inv["alert_ids"], inv["line_list_ref"], inv["actor"]) == (
        ["A1"],
        "shared/gi.xlsx",
        "token:tests",  # the caller's API token
    )
    r = client.post(f"/api/investigations/{inv['id']}/alerts", json={"alert_id": "A2"})
    assert r.status_code == 200 and r.json()["alert_ids"] == ["A1", "A2"]
    r = client.post(f"/api/investigations/{inv['id']}/alerts", json={"alert_id": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    assert client.get("/api/investigations/999").status_code == 404
    r = client.post("/api/investigations", json={"title": "  "})
    assert r.status_code == 422 and r.json()["detail"] == "title: must not be empty"
    assert [i["id"] for i in client.get("/api/investigations?status=open").json()] == [inv["id"]]
    assert client.get("/api/investigations?status=closed").json() == []
    body = client.get("/api/alerts/A2/workflow").json()
    assert [i["id"] for i in body["investigations"]] == [inv["id"]]
    actions = [e["action"] for e in client.get("/api/alerts/A2/timeline").json()]
    assert actions == ["investigation opened", "alert linked", "alert linked"]


def test_api_files_a_source_from_the_trace_analysis_with_its_evidence(tmp_path) -> None:
    """On the web dataset (SQLite; hypotheses themselves are stored on both databases above):
    the outbreak's market is the best-ranked source."""
    from web_support import OUTBREAK_ALERT, SOURCE_PLACE, authorize, build_dataset

    data = build_dataset(tmp_path)
    try:
        with TestClient(create_app(data.settings, data.store)) as c:
            authorize(c, data.store)
            inv = c.post("/api/investigations", json={"title": "GI", "alert_ids": [OUTBREAK_ALERT]})
            url = f"/api/investigations/{inv.json()['id']}/hypotheses/from-trace"
            r = c.post(url, json={"alert_id": OUTBREAK_ALERT}, headers={"X-Epiradar-Actor": "ann"})
            assert r.status_code == 201, r.text
            hyp = r.json()
            assert (hyp["kind"], hyp["subject"], hyp["actor"]) == ("source", SOURCE_PLACE, "ann")
            candidate = hyp["evidence"]["candidate"]
            assert candidate["rank"] == 1 and candidate["odds_ratio"] > 5
            assert candidate["q_value"] < 0.001
            assert hyp["evidence"]["n_cases"] >= candidate["cases_total"] > 0
            assert "odds ratio" in hyp["description"]
            r = c.post(url, json={"alert_id": OUTBREAK_ALERT, "place_id": "P-none"})
            assert r.status_code == 422 and r.json()["detail"].startswith("place_id: P-none")
            r = c.post(url, json={"alert_id": "A-ili-0002"})
            assert r.status_code == 422
            assert r.json()["detail"].startswith("alert_id: alert A-ili-0002 is not part")
            saved = c.get(f"/api/investigations/{inv.json()['id']}").json()["hypotheses"]
            assert [h["evidence"] for h in saved] == [hyp["evidence"]]
    finally:
        data.store.close()


def test_alert_page_offers_the_legal_moves_and_shows_the_timeline(
    wstore: Store, client: TestClient
) -> None:
    store_alerts(wstore, [make_alert("A1")])
    page = client.get("/alerts/A1").text
    assert 'id="workflow"' in page
    assert 'value="verifying"' in page and 'value="closed"' not in page
    r = client.post(
        "/alerts/A1/transition",
        data={"to": "verifying", "note": "on it"},
        headers={"X-Epiradar-Actor": "ann"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert 'value="investigating"' in page and 'value="verifying"' not in page
    assert "on it" in page and "ann" in page
    r = client.post("/alerts/A1/transition", data={"to": "investigating"}, follow_redirects=True)
    assert "requires verification_note, likelihood, impact" in r.text
    assert wstore.alert("A1").status == S.VERIFYING


# ---------------------------------------------------------------------------------------------
# command line


def test_cli_transition_timeline_queue_and_timeliness(wstore: Store) -> None:
    store_alerts(wstore, [make_alert("A1", first_alarm=dt.date(2026, 3, 9))])
    db = wstore.url

    def run(*args: str, code: int = 0):
        result = CliRunner().invoke(cli_app, [*args, "--db", db], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    out = run("alert", "transition", "A1", "closed", "--actor", "ann", code=1).output
    assert "illegal transition new -> closed" in out
    run("alert", "transition", "A1", "verifying", "--actor", "ann")
    out = run("alert", "transition", "A1", "monitoring", "--actor", "ann", code=1).output
    assert "requires verification_note, likelihood, impact" in out
    out = run(
        "alert",
        "transition",
        "A1",
        "monitoring",
        "--verification-note",
        "real",
        "--likelihood",
        "moderate",
        "--impact",
        "very high",
        "--actor",
        "bob",
    ).output
    assert "monitoring, risk high" in out
    entries = json.loads(run("alert", "timeline", "A1", "--json").output)
    assert [(e["actor"], e["to_state"]) for e in entries] == [
        ("ann", "verifying"),
        ("bob", "monitoring"),
    ]
    out = run("investigation", "open", "Check", "--alert", "A1", "--json", "--actor", "ann").output
    inv = json.loads(out)
    run(
        "investigation",
        "task",
        str(inv["id"]),
        "Swab",
        "--item",
        "sample collection",
        "--due",
        "2026-03-20",
    )
    out = run("investigation", "task", str(inv["id"]), "x", "--item", "dancing", code=1).output
    assert "checklist[0]" in out
    queue = json.loads(run("alert", "queue", "--json").output)
    assert [i["alert"]["id"] for i in queue["alerts"]] == ["A1"]
    assert [t["title"] for t in queue["tasks"]] == ["Swab"]
    run("investigation", "done", str(queue["tasks"][0]["id"]))
    report = json.loads(
        run("timeliness", "--start", "2026-03-01", "--end", "2026-03-31", "--json").output
    )
    assert report["total"]["alerts"] == 1 and report["rows"][0]["district"] == "D1"
    out = run("timeliness", "--start", "2026-03-01", "--end", "2026-03-31").output
    assert "D1" in out
    # the root's --actor names who acts when the command has none
    run("--actor", "carol", "alert", "snooze", "A1", "--until", "2099-01-01", code=1)  # too long
    until = (dt.datetime.now() + dt.timedelta(days=2)).date().isoformat()
    run("--actor", "carol", "alert", "snooze", "A1", "--until", until)
    entries = json.loads(run("alert", "timeline", "A1", "--json").output)
    assert (entries[-1]["action"], entries[-1]["actor"]) == ("snooze", "carol")
