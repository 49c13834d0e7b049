"""Escalations of overdue alerts and tasks: once per item and stage, only after the limit, only
to subscribers who asked for them and whose subscriptions cover the item, by e-mail to a real
SMTP server (aiosmtpd) and by signed webhook to a real HTTP receiver; in the daily digest; from
the command line. A fixed clock throughout; store cases run on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import update
from typer.testing import CliRunner

from epiradar.cli import app as cli_app
from epiradar.config import Settings
from epiradar.model import Severity, Syndrome
from epiradar.model.workflow import TransitionRequest
from epiradar.service import escalation, notify
from epiradar.service import workflow as wf
from epiradar.store import Store
from epiradar.store.schema import alerts as alerts_table
from test_notify import DAY, Inbox, Receiver, SmtpServer, _alert, _regions, no_retry

T0 = dt.datetime(2026, 3, 10, 8, 0)  # when the alerts were first stored
HOUR = dt.timedelta(hours=1)


def _settings(smtp: SmtpServer | None = None) -> Settings:
    notify_cfg = {"backoff_seconds": 0.01, "backoff_max_seconds": 0.02, "max_attempts": 2}
    if smtp is not None:
        notify_cfg["smtp"] = {"host": "127.0.0.1", "port": smtp.port, "security": "none"}
    return Settings(notify=notify_cfg)


def _store_alerts(store: Store, alerts) -> None:
    store.load_city(_regions(), [], [], [])
    store.replace_alerts(alerts, [], DAY - dt.timedelta(days=30), DAY)
    with store.engine.begin() as conn:
        conn.execute(update(alerts_table).values(created_at=T0.isoformat()))


def _escalations(store: Store) -> list:
    return store.notify.deliveries(kind="escalation", limit=None)


def test_overdue_alert_escalates_once_per_stage_after_its_limit(store: Store) -> None:
    _store_alerts(store, [_alert("gi-1", regions=("R1",))])
    with SmtpServer(Inbox()) as smtp, Receiver("s" * 24) as receiver:
        north, _ = notify.add_subscriber(
            store, "north", email="north@example.org", webhook_url=receiver.url,
            webhook_secret="s" * 24,
        )  # fmt: skip
        notify.subscribe(store, north.id, region_ids=["D1"], escalations=True)
        plain, _ = notify.add_subscriber(store, "plain", email="plain@example.org")
        notify.subscribe(store, plain.id, region_ids=["D1"])  # alerts, no escalations
        south, _ = notify.add_subscriber(store, "south", email="south@example.org")
        notify.subscribe(store, south.id, region_ids=["D2"], escalations=True)
        settings = _settings(smtp)

        # new for 23 hours: within notify_days = 1 and new = 24 h
        report = escalation.escalate(store, settings, now=T0 + 23 * HOUR, sleep=no_retry)
        assert report.sent == 0 and _escalations(store) == []

        report = escalation.escalate(store, settings, now=T0 + 25 * HOUR, sleep=no_retry)
        assert (report.sent, report.failed) == (2, 0)
        [(rcpt, message)] = smtp.inbox.messages
        assert rcpt == ["north@example.org"]
        assert message["Subject"].startswith("[epiradar] OVERDUE alert gi-1 (new)")
        body = message.get_content()
        assert "not taken up: notification was due 2026-03-11 08:00" in body
        assert message["X-Epiradar-Alert"] == "gi-1"
        [hook] = receiver.verified
        assert (hook["event"], hook["item"], hook["stage"]) == ("escalation", "alert", "new")
        assert hook["alert"]["id"] == "gi-1" and hook["subscriber"] == "north"
        assert receiver.requests[0]["headers"]["X-Epiradar-Event"] == "escalation"

        # again later, still overdue in the same stage: nobody hears twice
        report = escalation.escalate(store, settings, now=T0 + 30 * HOUR, sleep=no_retry)
        assert report.sent == 0 and len(smtp.inbox.messages) == 1 and len(receiver.requests) == 1

        # taken up: verifying (48 h) is a new stage, escalated once it is overdue too
        taken = T0 + 30 * HOUR
        wf.transition(store, "gi-1", TransitionRequest(to="verifying"), actor="ann", now=taken)
        report = escalation.escalate(store, settings, now=taken + 47 * HOUR, sleep=no_retry)
        assert report.sent == 0
        report = escalation.escalate(store, settings, now=taken + 49 * HOUR, sleep=no_retry)
        assert report.sent == 2
        assert "gi-1 (verifying)" in smtp.inbox.messages[-1][1]["Subject"]
        keys = sorted({d.key for d in _escalations(store)})
        assert keys == ["escalation:alert:gi-1:new", "escalation:alert:gi-1:verifying"]
        assert {d.subscriber_name for d in _escalations(store)} == {"north"}
        assert all(d.status == "sent" for d in _escalations(store))


def test_closed_snoozed_and_unmatched_alerts_do_not_escalate(store: Store) -> None:
    _store_alerts(
        store,
        [
            _alert("gi-low", regions=("R1",), severity=Severity.LOW),
            _alert("ili-1", syndrome=Syndrome.ILI, regions=("R2",)),
            _alert("gi-snoozed", regions=("R1",)),
            _alert("gi-done", regions=("R1",)),
            _alert("gi-city", regions=()),  # the whole city covers every region
        ],
    )
    wf.transition(store, "gi-done", TransitionRequest(to="verifying"), actor="ann", now=T0)
    wf.transition(
        store, "gi-done",
        TransitionRequest(to="discarded", verification_note="duplicate", outcome="data error"),
        actor="ann", now=T0,
    )  # fmt: skip
    wf.snooze(store, "gi-snoozed", T0 + 100 * HOUR, actor="ann", now=T0)
    with Receiver("s" * 24) as receiver:
        team, _ = notify.add_subscriber(
            store, "team", webhook_url=receiver.url, webhook_secret="s" * 24
        )
        notify.subscribe(
            store, team.id, region_ids=["R1"], syndromes=["gastrointestinal"],
            min_severity="medium", escalations=True,
        )  # fmt: skip
        report = escalation.escalate(store, _settings(), now=T0 + 50 * HOUR, sleep=no_retry)
        assert report.sent == 1
        assert [b["alert"]["id"] for b in receiver.verified] == ["gi-city"]


def test_overdue_task_escalates_and_a_done_one_does_not(store: Store) -> None:
    _store_alerts(store, [_alert("gi-1", regions=("R3",))])
    inv = wf.create_investigation(store, "Harbour", actor="ann", alert_ids=["gi-1"], now=T0)
    due = T0.date() + dt.timedelta(days=1)
    late = wf.add_task(store, inv.id, title="Swab", assignee="bob", due_date=due, actor="ann")
    done = wf.add_task(store, inv.id, title="Call", assignee="bob", due_date=due, actor="ann")
    wf.update_task(store, done.id, status="done", actor="bob", now=T0)
    with Receiver("s" * 24) as receiver:
        south, _ = notify.add_subscriber(
            store, "south", webhook_url=receiver.url, webhook_secret="s" * 24
        )
        notify.subscribe(store, south.id, region_ids=["D2"], escalations=True)
        north, _ = notify.add_subscriber(
            store, "north", webhook_url=receiver.url, webhook_secret="s" * 24
        )
        notify.subscribe(store, north.id, region_ids=["D1"], escalations=True)
        on_due_day = dt.datetime.combine(due, dt.time(23, 0))
        escalation.escalate(store, _settings(), now=on_due_day, sleep=no_retry)
        assert not [d for d in _escalations(store) if d.key.startswith("escalation:task")]
        for _ in range(2):
            escalation.escalate(store, _settings(), now=on_due_day + 2 * HOUR, sleep=no_retry)
        tasks = [d for d in _escalations(store) if d.key.startswith("escalation:task")]
        assert [(d.key, d.subscriber_name) for d in tasks] == [
            (f"escalation:task:{late.id}:due", "south")
        ]
        [body] = [b for b in receiver.verified if b["item"] == "task"]
        assert body["task"]["title"] == "Swab" and body["alert_ids"] == ["gi-1"]
        assert body["investigation"] == {"id": inv.id, "title": "Harbour"}


def test_digest_lists_what_is_overdue_at_the_end_of_the_day(store: Store) -> None:
    _store_alerts(store, [_alert("gi-1", regions=("R1",))])
    with SmtpServer(Inbox()) as smtp:
        north, _ = notify.add_subscriber(store, "north", email="north@example.org")
        notify.subscribe(store, north.id, region_ids=["D1"], escalations=True)
        plain, _ = notify.add_subscriber(store, "plain", email="plain@example.org")
        notify.subscribe(store, plain.id, region_ids=["D1"])
        # stored at 08:00 on the 10th: not yet overdue at the end of the 10th
        notify.send_digest(store, _settings(smtp), DAY, sleep=no_retry)
        assert len(smtp.inbox.messages) == 2
        assert all("overdue" not in m.get_content().lower() for _, m in smtp.inbox.messages)
        notify.send_digest(store, _settings(smtp), DAY + dt.timedelta(days=1), sleep=no_retry)
        by_rcpt = {r[0]: m for r, m in smtp.inbox.messages[2:]}
        assert by_rcpt["north@example.org"]["Subject"].endswith(", 1 overdue")
        text = by_rcpt["north@example.org"].get_content()
        assert "Overdue at the end of the day: 1" in text and "Alert gi-1 is overdue" in text
        # the alert stopped alarming on the 10th: without escalations, no digest for the 11th
        assert list(by_rcpt) == ["north@example.org"]


def test_cli_escalate(tmp_path, monkeypatch) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.chdir(tmp_path)
    with Store(db) as store:
        store.migrate()
        _store_alerts(store, [_alert("gi-1", regions=("R1",))])  # stored long ago: overdue
    with Receiver("s" * 24) as receiver:
        runner = CliRunner()
        added = runner.invoke(
            cli_app,
            ["notify", "subscribers", "add", "north", "--webhook", receiver.url,
             "--secret", "s" * 24, "--escalations", "--db", db],
        )  # fmt: skip
        assert added.exit_code == 0 and "with escalations" in added.output, added.output
        for expected in (1, 0):
            result = runner.invoke(cli_app, ["notify", "escalate", "--json", "--db", db])
            assert result.exit_code == 0, result.output
            assert json.loads(result.output)["sent"] == expected
    assert [b["alert"]["id"] for b in receiver.verified] == ["gi-1"]
