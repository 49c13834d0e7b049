"""Notifications: subscriptions by region, syndrome and severity; alerts queued once across
detection reruns; delivery to a real SMTP server (aiosmtpd) and a real HTTP receiver that
checks the HMAC signature; retries with backoff; the delivery log; the daily digest; settings
and input refused naming the entry. Store cases run on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import ssl
import subprocess
import threading
import time
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from epiradar.config import Settings, load_settings
from epiradar.config_notify import NotifySettings, NotifySettingsError
from epiradar.model import Alert, Region, Severity, Syndrome
from epiradar.model.notify import DeliveryStatus, Subscription
from epiradar.service import notify
from epiradar.store import Store
from web_support import authorize, free_port

DAY = dt.date(2026, 3, 10)


def no_retry(seconds: float) -> None:
    raise AssertionError(f"a retry (after {seconds} s) where none was expected")


# ---------------------------------------------------------------------------------------------
# Real servers


class Inbox:
    """An aiosmtpd handler keeping every message; the first ``fail_first`` get ``reply``."""

    def __init__(self, fail_first: int = 0, reply: str = "451 4.3.0 try again later") -> None:
        self.fail_first = fail_first
        self.reply = reply
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        if self.fail_first > 0:
            self.fail_first -= 1
            return self.reply
        self.messages.append(
            (list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


class SmtpServer:
    def __init__(
        self,
        inbox: Inbox,
        *,
        login: tuple[str, str] | None = None,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.inbox = inbox
        self.port = free_port()
        kwargs: dict = {}
        if starttls:
            kwargs = {"tls_context": starttls, "require_starttls": True}
        if implicit_tls:
            kwargs = {"ssl_context": implicit_tls}
        if login:

            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = (
                    isinstance(auth_data, LoginPassword)
                    and (
                        auth_data.login.decode(),
                        auth_data.password.decode(),
                    )
                    == login
                )
                return AuthResult(success=ok, handled=False)

            kwargs |= {"authenticator": authenticator, "auth_require_tls": False}
        self.controller = Controller(inbox, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.controller.stop()


class Receiver:
    """A webhook receiver in a thread. It checks the signature with ``secret`` as the docs
    tell receivers to (401 when wrong), answers ``fail_status`` to the first ``fail_first``
    requests, and waits ``delay_first`` seconds before answering the first one."""

    def __init__(
        self,
        secret: str,
        *,
        fail_first: int = 0,
        fail_status: int = 503,
        delay_first: float = 0.0,
    ) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.delay_first = delay_first
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server hook)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = self.headers.get("X-Epiradar-Timestamp", "")
                signature = self.headers.get("X-Epiradar-Signature", "")
                expected = hmac.new(
                    receiver.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                verified = hmac.compare_digest(f"sha256={expected}", signature) and (
                    abs(time.time() - int(timestamp)) <= 300
                )
                first = not receiver.requests
                receiver.requests.append(
                    {"headers": dict(self.headers), "body": body, "verified": verified}
                )
                if first and receiver.delay_first:
                    time.sleep(receiver.delay_first)
                if not verified:
                    status = 401
                elif receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    status = receiver.fail_status
                else:
                    status = 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def verified(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests if r["verified"]]


# ---------------------------------------------------------------------------------------------
# Data


def _regions() -> list[Region]:
    """District D1 holds R1 and R2; district D2 holds R3 and R4."""
    return [
        Region(id="D1", name="North district", population=3000),
        Region(id="D2", name="South district", population=7000),
        Region(id="R1", name="Harbour", population=1000, parent_id="D1"),
        Region(id="R2", name="Old town", population=2000, parent_id="D1"),
        Region(id="R3", name="Hills", population=3000, parent_id="D2"),
        Region(id="R4", name="Airport", population=4000, parent_id="D2"),
    ]


def _alert(
    id_: str,
    syndrome: Syndrome = Syndrome.GASTROINTESTINAL,
    regions: tuple[str, ...] = ("R1",),
    severity: Severity = Severity.HIGH,
    start: dt.date = DAY,
    end: dt.date = DAY,
) -> Alert:
    return Alert(
        id=id_,
        syndrome=syndrome,
        region_ids=list(regions),
        start_date=start,
        end_date=end,
        first_alarm_date=start,
        observed=24,
        expected=6.5,
        p_value={"high": 1e-6, "medium": 5e-4, "low": 5e-3}[severity],
        severity=severity,
        detector="C2",
    )


@pytest.fixture
def nstore(store: Store) -> Store:
    store.load_city(_regions(), [], [], [])
    return store


def _settings(**notify_fields) -> NotifySettings:
    base = {"backoff_seconds": 2.0, "backoff_max_seconds": 5.0, "max_attempts": 3}
    smtp = notify_fields.pop("smtp", {})
    return NotifySettings(**(base | notify_fields), smtp=smtp)


def _smtp(server: SmtpServer, **extra) -> dict:
    return {"host": "127.0.0.1", "port": server.port, "security": "none"} | extra


def _store_alerts(store: Store, alerts: list[Alert]) -> None:
    store.replace_alerts(alerts, [], DAY - dt.timedelta(days=30), DAY)


# ---------------------------------------------------------------------------------------------
# Matching


def _subscription(**kw) -> Subscription:
    return Subscription(id=1, subscriber_id=1, created_at="2026-01-01T00:00:00", **kw)


def test_subscription_matches_region_district_syndrome_and_severity():
    areas = notify.region_areas(_regions())
    assert areas["D1"] == {"D1", "R1", "R2"} and areas["R3"] == {"R3"}
    gi_r1 = _alert("a", regions=("R1",), severity=Severity.MEDIUM)
    assert _subscription().matches(gi_r1, areas)  # no filter: everything
    assert _subscription(region_ids=["R1"]).matches(gi_r1, areas)
    assert _subscription(region_ids=["D1"]).matches(gi_r1, areas)  # its district
    assert not _subscription(region_ids=["D2"]).matches(gi_r1, areas)
    assert not _subscription(region_ids=["R2"]).matches(gi_r1, areas)
    over_d1 = _alert("b", regions=("D1",))
    assert _subscription(region_ids=["R2"]).matches(over_d1, areas)  # the district covers R2
    city = _alert("c", regions=())
    assert _subscription(region_ids=["R4"]).matches(city, areas)  # the whole city covers all
    assert _subscription(syndromes=["gastrointestinal", "ili"]).matches(gi_r1, areas)
    assert not _subscription(syndromes=["ili"]).matches(gi_r1, areas)
    assert _subscription(min_severity="low").matches(gi_r1, areas)
    assert _subscription(min_severity="medium").matches(gi_r1, areas)
    assert not _subscription(min_severity="high").matches(gi_r1, areas)


def test_matching_subscribers_across_subscriptions(nstore):
    north, _ = notify.add_subscriber(nstore, "north team", email="north@example.org")
    notify.subscribe(nstore, north.id, region_ids=["D1"], min_severity="medium")
    ili, _ = notify.add_subscriber(nstore, "flu desk", email="flu@example.org")
    notify.subscribe(nstore, "flu desk", syndromes=["ili"])
    notify.subscribe(nstore, "flu desk", region_ids=["R4"], min_severity="high")
    idle, _ = notify.add_subscriber(nstore, "idle", email="idle@example.org")
    notify.subscribe(nstore, idle.id)
    nstore.notify.update_subscriber(idle.id, active=False)

    def names(alert: Alert) -> set[str]:
        return {s.name for s in notify.matching_subscribers(nstore, alert)}

    assert names(_alert("a", regions=("R2",), severity=Severity.MEDIUM)) == {"north team"}
    assert names(_alert("b", regions=("R2",), severity=Severity.LOW)) == set()
    assert names(_alert("c", Syndrome.ILI, regions=("R3",), severity=Severity.LOW)) == {"flu desk"}
    assert names(_alert("d", regions=("R4",), severity=Severity.HIGH)) == {"flu desk"}
    assert names(_alert("e", regions=("R4",), severity=Severity.MEDIUM)) == set()


# ---------------------------------------------------------------------------------------------
# Queue and send


def test_alerts_are_notified_once_by_email_and_signed_webhook(nstore):
    ops, secret = notify.add_subscriber(
        nstore, "ops", email="ops@example.org", webhook_url="http://placeholder.invalid/"
    )
    assert secret and len(secret) >= 32
    notify.subscribe(nstore, ops.id, region_ids=["D1"])
    other, _ = notify.add_subscriber(nstore, "south", email="south@example.org")
    notify.subscribe(nstore, other.id, region_ids=["D2"])
    alerts = [_alert("gi-1", regions=("R1", "R2")), _alert("gi-2", regions=("R3",))]
    _store_alerts(nstore, alerts)
    cfg = _settings(base_url="https://epiradar.example.org/")
    assert notify.queue_alert_notifications(nstore, cfg, alerts, as_of=DAY) == 3
    # detection reruns: the alerts are replaced, nobody is queued twice
    _store_alerts(nstore, alerts)
    assert notify.queue_alert_notifications(nstore, cfg, alerts, as_of=DAY) == 0
    pending = nstore.notify.deliveries(status="pending")
    assert sorted((d.alert_id, d.subscriber_name, d.channel) for d in pending) == [
        ("gi-1", "ops", "email"),
        ("gi-1", "ops", "webhook"),
        ("gi-2", "south", "email"),
    ]
    with Receiver(secret) as receiver, SmtpServer(Inbox()) as smtp:
        nstore.notify.update_subscriber(ops.id, webhook_url=receiver.url)
        cfg = _settings(base_url="https://epiradar.example.org", smtp=_smtp(smtp))
        report = notify.send_pending(nstore, cfg, sleep=no_retry)
        assert (report.sent, report.failed, report.attempts) == (3, 0, 3)
        assert notify.send_pending(nstore, cfg, sleep=no_retry).attempts == 0
        _store_alerts(nstore, alerts)
        assert notify.queue_alert_notifications(nstore, cfg, alerts, as_of=DAY) == 0
        assert notify.send_pending(nstore, cfg, sleep=no_retry).attempts == 0
    by_to = {to[0]: msg for to, msg in smtp.inbox.messages}
    assert sorted(by_to) == ["ops@example.org", "south@example.org"]
    mail = by_to["ops@example.org"]
    assert mail["Subject"] == (
        "[epiradar] HIGH alert: Gastrointestinal in Harbour, Old town, first alarm 2026-03-10"
    )
    assert mail["X-Epiradar-Alert"] == "gi-1" and mail["From"] == "epiradar <epiradar@localhost>"
    text = mail.get_payload(decode=True).decode()
    assert "24 observed, 6.5 expected" in text
    assert "https://epiradar.example.org/alerts/gi-1" in text
    assert "Hills" in by_to["south@example.org"]["Subject"]
    assert len(receiver.requests) == 1 and receiver.requests[0]["verified"]
    body = receiver.verified[0]
    assert body["event"] == "alert" and body["alert"]["id"] == "gi-1"
    assert body["region_names"] == ["Harbour", "Old town"] and body["subscriber"] == "ops"
    headers = receiver.requests[0]["headers"]
    assert headers["X-Epiradar-Event"] == "alert"
    assert int(headers["X-Epiradar-Delivery"]) == body["delivery_id"]
    log = nstore.notify.attempts()
    assert len(log) == 3 and all(a.ok and a.duration_ms >= 0 for a in log)
    assert sorted(a.status_code for a in log) == [204, 250, 250]
    assert {d.status for d in nstore.notify.deliveries()} == {DeliveryStatus.SENT}


def test_old_alerts_of_a_replay_and_disabled_notifications_queue_nothing(nstore):
    sub, _ = notify.add_subscriber(nstore, "all", email="all@example.org")
    notify.subscribe(nstore, sub.id)
    old = _alert("old", start=DAY - dt.timedelta(days=20), end=DAY - dt.timedelta(days=7))
    recent = _alert("recent", start=DAY - dt.timedelta(days=9), end=DAY - dt.timedelta(days=6))
    assert notify.queue_alert_notifications(nstore, _settings(enabled=False), [recent]) == 0
    assert notify.queue_alert_notifications(nstore, _settings(), [old, recent], as_of=DAY) == 1
    assert [d.alert_id for d in nstore.notify.deliveries()] == ["recent"]
    # a subscriber added later hears of an alert re-detected, unless it was discarded or closed
    late, _ = notify.add_subscriber(nstore, "late", email="late@example.org")
    notify.subscribe(nstore, late.id)
    done = _alert("done", start=DAY - dt.timedelta(days=2), end=DAY)
    _store_alerts(nstore, [recent, done])
    nstore.set_alert_status("done", "discarded")
    assert notify.queue_alert_notifications(nstore, _settings(), [recent, done], as_of=DAY) == 1
    assert {(d.subscriber_name, d.alert_id) for d in nstore.notify.deliveries()} == {
        ("all", "recent"),
        ("late", "recent"),
    }


def test_run_detection_queues_matching_subscribers_once(store):
    from epiradar.service.detection import run_detection
    from web_support import END, OUTBREAK_REGIONS, make_places, make_regions, make_visits

    regions = make_regions()
    store.load_city(regions, [], make_places(), [])
    run_id = store.start_ingest_run("visits", "csv")
    store.insert_visits(make_visits(regions, make_places()), run_id)
    store.refresh_daily_counts()
    gi, _ = notify.add_subscriber(store, "gi desk", email="gi@example.org")
    notify.subscribe(store, gi.id, region_ids=[OUTBREAK_REGIONS[0]], syndromes=["gastrointestinal"])
    far, _ = notify.add_subscriber(store, "respiratory desk", email="resp@example.org")
    notify.subscribe(store, far.id, syndromes=["respiratory"], min_severity="high")
    settings = Settings(
        db=store.url,
        pseudonym_key="k",
        detect={
            "methods": ["C2"],
            "by_syndrome": {},
            "syndromes": ["gastrointestinal", "respiratory"],
            "spacetime": {"enabled": False},
        },
        notify={"max_age_days": 30},
    )
    start = END - dt.timedelta(days=29)
    alerts = run_detection(store, settings, start=start, end=END)
    gi_alerts = {
        a.id
        for a in alerts
        if a.syndrome == Syndrome.GASTROINTESTINAL and set(a.region_ids) & set(OUTBREAK_REGIONS)
    }
    assert gi_alerts, "the outbreak raises an alert"
    queued = store.notify.deliveries(subscriber_id=gi.id)
    assert gi_alerts <= {d.alert_id for d in queued}
    assert store.notify.deliveries(subscriber_id=far.id) == []
    before = len(store.notify.deliveries())
    run_detection(store, settings, start=start, end=END)
    assert len(store.notify.deliveries()) == before


# ---------------------------------------------------------------------------------------------
# Retries and the delivery log


def _one_webhook(store: Store, *, secret: str | None = None, url: str = "http://x.invalid/"):
    sub, key = notify.add_subscriber(store, "hook", webhook_url=url, webhook_secret=secret)
    notify.subscribe(store, sub.id)
    alert = _alert("gi-9")
    _store_alerts(store, [alert])
    notify.queue_alert_notifications(store, _settings(), [alert])
    return sub, key


def test_webhook_is_retried_with_exponential_backoff(nstore):
    sub, secret = _one_webhook(nstore)
    with Receiver(secret, fail_first=2, fail_status=503) as receiver:
        nstore.notify.update_subscriber(sub.id, webhook_url=receiver.url)
        waits: list[float] = []
        report = notify.send_pending(nstore, _settings(max_attempts=4), sleep=waits.append)
    assert (report.sent, report.attempts) == (1, 3)
    assert waits == [2.0, 4.0]
    assert len(receiver.requests) == 3 and all(r["verified"] for r in receiver.requests)
    bodies = {r["body"] for r in receiver.requests}
    assert len(bodies) == 1  # the same body on every try
    log = sorted(nstore.notify.attempts(), key=lambda a: a.attempt)
    assert [(a.attempt, a.ok, a.status_code) for a in log] == [
        (1, False, 503),
        (2, False, 503),
        (3, True, 204),
    ]
    assert "HTTP 503" in log[0].error
    [delivery] = nstore.notify.deliveries()
    assert delivery.status == "sent" and delivery.attempts == 3 and delivery.error is None


def test_webhook_failing_every_try_is_logged_failed_and_can_be_retried(nstore):
    sub, secret = _one_webhook(nstore)
    with Receiver(secret, fail_first=10, fail_status=500) as receiver:
        nstore.notify.update_subscriber(sub.id, webhook_url=receiver.url)
        waits: list[float] = []
        report = notify.send_pending(
            nstore, _settings(max_attempts=4, backoff_max_seconds=5), sleep=waits.append
        )
        assert (report.sent, report.failed, report.attempts) == (0, 1, 4)
        assert waits == [2.0, 4.0, 5.0]  # doubling, capped at backoff_max_seconds
        [delivery] = nstore.notify.deliveries()
        assert delivery.status == "failed" and "HTTP 500" in delivery.error
        assert notify.send_pending(nstore, _settings(), sleep=waits.append).attempts == 0
        receiver.fail_first = 0
        report = notify.send_pending(nstore, _settings(), retry_failed=True, sleep=no_retry)
    assert report.sent == 1
    log = sorted(nstore.notify.attempts(delivery_id=delivery.id), key=lambda a: a.attempt)
    assert [a.status_code for a in log] == [500, 500, 500, 500, 204]
    assert [a.attempt for a in log] == [1, 2, 3, 4, 5]


def test_webhook_with_a_wrong_secret_fails_verification_and_is_not_retried(nstore):
    sub, _ = _one_webhook(nstore, secret="the-secret-epiradar-signs-with")
    with Receiver("another-secret-the-receiver-has") as receiver:
        nstore.notify.update_subscriber(sub.id, webhook_url=receiver.url)
        report = notify.send_pending(nstore, _settings(), sleep=no_retry)
    assert (report.failed, report.attempts) == (1, 1)  # 4xx: retrying cannot help
    assert [r["verified"] for r in receiver.requests] == [False]
    [attempt] = nstore.notify.attempts()
    assert attempt.status_code == 401 and not attempt.ok and "HTTP 401" in attempt.error


def test_webhook_timeouts_and_refused_connections_are_retried_and_logged(nstore):
    sub, secret = _one_webhook(nstore)
    with Receiver(secret, delay_first=2.0) as receiver:
        nstore.notify.update_subscriber(sub.id, webhook_url=receiver.url)
        waits: list[float] = []
        report = notify.send_pending(
            nstore, _settings(webhook_timeout_seconds=0.5), sleep=waits.append
        )
    assert (report.sent, report.attempts, waits) == (1, 2, [2.0])
    first, second = sorted(nstore.notify.attempts(), key=lambda a: a.attempt)
    assert "timeout" in first.error and first.status_code is None and second.ok
    # nothing listens on the port any more: connection refused, every try
    nstore.notify.update_subscriber(sub.id, webhook_url=f"http://127.0.0.1:{free_port()}/")
    alert = _alert("gi-10")
    _store_alerts(nstore, [alert])
    notify.queue_alert_notifications(nstore, _settings(), [alert])
    report = notify.send_pending(nstore, _settings(max_attempts=2), sleep=lambda s: None)
    assert (report.failed, report.attempts) == (1, 2)
    errors = [a.error for a in nstore.notify.attempts() if a.delivery_id != first.delivery_id]
    assert len(errors) == 2 and all("ConnectError" in e for e in errors)


def test_verify_signature_rejects_changed_body_wrong_secret_and_old_timestamp():
    body = b'{"event":"alert"}'
    now = 1_800_000_000
    sig = notify.sign("s" * 20, str(now), body)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert notify.verify_signature("s" * 20, str(now), body, sig, now=now + 10)
    assert not notify.verify_signature("s" * 20, str(now), body + b" ", sig, now=now)
    assert not notify.verify_signature("t" * 20, str(now), body, sig, now=now)
    assert not notify.verify_signature("s" * 20, str(now + 1), body, sig, now=now)
    assert not notify.verify_signature("s" * 20, str(now), body, sig, now=now + 301)


def test_smtp_temporary_failure_is_retried_and_permanent_refusal_is_not(nstore):
    sub, _ = notify.add_subscriber(nstore, "mail", email="mail@example.org")
    notify.subscribe(nstore, sub.id)
    alerts = [_alert("gi-1")]
    _store_alerts(nstore, alerts)
    notify.queue_alert_notifications(nstore, _settings(), alerts)
    with SmtpServer(Inbox(fail_first=1)) as smtp:
        waits: list[float] = []
        report = notify.send_pending(nstore, _settings(smtp=_smtp(smtp)), sleep=waits.append)
    assert (report.sent, report.attempts, waits) == (1, 2, [2.0])
    assert len(smtp.inbox.messages) == 1
    codes = [a.status_code for a in sorted(nstore.notify.attempts(), key=lambda a: a.id)]
    assert codes == [451, 250]
    alerts = [_alert("gi-2")]
    _store_alerts(nstore, alerts)
    notify.queue_alert_notifications(nstore, _settings(), alerts)
    with SmtpServer(Inbox(fail_first=5, reply="550 5.1.1 mailbox unavailable")) as smtp:
        report = notify.send_pending(nstore, _settings(smtp=_smtp(smtp)), sleep=no_retry)
    assert (report.failed, report.attempts) == (1, 1)
    [delivery] = nstore.notify.deliveries(alert_id="gi-2")
    assert delivery.status == "failed" and "550" in delivery.error


def test_smtp_login_takes_the_password_from_the_environment(nstore, monkeypatch):
    sub, _ = notify.add_subscriber(nstore, "mail", email="mail@example.org")
    notify.subscribe(nstore, sub.id)
    alerts = [_alert("gi-1")]
    _store_alerts(nstore, alerts)
    notify.queue_alert_notifications(nstore, _settings(), alerts)
    with SmtpServer(Inbox(), login=("epiradar", "right horse battery")) as smtp:
        cfg = _settings(smtp=_smtp(smtp, username="epiradar", password_env="TEST_SMTP_PW"))
        monkeypatch.delenv("TEST_SMTP_PW", raising=False)
        with pytest.raises(
            NotifySettingsError, match=r"\[notify.smtp\] password_env.*TEST_SMTP_PW"
        ):
            notify.send_pending(nstore, cfg, sleep=no_retry)
        monkeypatch.setenv("TEST_SMTP_PW", "wrong")
        report = notify.send_pending(nstore, cfg, sleep=no_retry)
        assert report.failed == 1  # 535: authentication failed, not retried
        assert nstore.notify.attempts()[0].status_code == 535
        monkeypatch.setenv("TEST_SMTP_PW", "right horse battery")
        report = notify.send_pending(nstore, cfg, retry_failed=True, sleep=no_retry)
    assert report.sent == 1 and len(smtp.inbox.messages) == 1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 (made by the openssl tool, which the PostgreSQL
    test dependency installs): its PEM path and a server context."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return str(cert), context


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_over_starttls_and_ssl_checks_the_servers_certificate(nstore, certificate, security):
    cert, context = certificate
    sub, _ = notify.add_subscriber(nstore, "mail", email="mail@example.org")
    notify.subscribe(nstore, sub.id)
    alerts = [_alert("gi-1")]
    notify.queue_alert_notifications(nstore, _settings(), alerts)
    tls = {"starttls": context} if security == "starttls" else {"implicit_tls": context}
    with SmtpServer(Inbox(), **tls) as smtp:
        # the system's CAs do not know the self-signed certificate: refused, nothing sent
        untrusted = _settings(max_attempts=1, smtp=_smtp(smtp, security=security))
        assert notify.send_pending(nstore, untrusted, sleep=no_retry).failed == 1
        assert "CERTIFICATE_VERIFY_FAILED" in nstore.notify.attempts()[0].error
        trusted = _settings(smtp=_smtp(smtp, security=security, ca_file=cert))
        report = notify.send_pending(nstore, trusted, retry_failed=True, sleep=no_retry)
    assert report.sent == 1 and len(smtp.inbox.messages) == 1


def test_a_delivery_being_sent_by_one_run_is_not_sent_by_another(nstore):
    sub, secret = _one_webhook(nstore)
    with Receiver(secret, fail_first=1) as receiver:
        nstore.notify.update_subscriber(sub.id, webhook_url=receiver.url)
        overlapping: list[notify.SendReport] = []

        def sleep_while_another_run_starts(seconds: float) -> None:
            overlapping.append(notify.send_pending(nstore, _settings(), sleep=no_retry))

        report = notify.send_pending(nstore, _settings(), sleep=sleep_while_another_run_starts)
        assert report.sent == 1 and [r.attempts for r in overlapping] == [0]
        assert len(receiver.requests) == 2
        # a run that died while sending: its claim is released after a while
        alert = _alert("gi-10")
        _store_alerts(nstore, [alert])
        [new_id] = nstore.notify.queue(
            [{"key": "alert:gi-10", "kind": "alert", "alert_id": "gi-10", "subscriber_id": sub.id,
              "channel": "webhook", "subject": "s", "payload": {"event": "alert"}}]
        )  # fmt: skip
        assert nstore.notify.claim(new_id) and not nstore.notify.claim(new_id)
        assert notify.send_pending(nstore, _settings(), sleep=no_retry).attempts == 0
        assert nstore.notify.release_stale_claims("9999-12-31T00:00:00") == 1
        assert notify.send_pending(nstore, _settings(), sleep=no_retry).sent == 1


def test_email_waiting_without_an_smtp_host_is_refused_naming_the_entry(nstore):
    sub, _ = notify.add_subscriber(nstore, "mail", email="mail@example.org")
    notify.subscribe(nstore, sub.id)
    alerts = [_alert("gi-1")]
    notify.queue_alert_notifications(nstore, _settings(), alerts)
    with pytest.raises(NotifySettingsError, match=r"\[notify.smtp\] host"):
        notify.send_pending(nstore, _settings(), sleep=no_retry)
    assert nstore.notify.attempts() == []


# ---------------------------------------------------------------------------------------------
# Digest


def test_daily_digest_lists_the_days_matching_alerts_once(nstore):
    north, _ = notify.add_subscriber(nstore, "north", email="north@example.org")
    notify.subscribe(nstore, north.id, region_ids=["D1"], syndromes=["gastrointestinal"])
    south, _ = notify.add_subscriber(nstore, "south", email="south@example.org")
    notify.subscribe(nstore, south.id, region_ids=["D2"])
    quiet, _ = notify.add_subscriber(nstore, "no digest", email="x@example.org", digest=False)
    notify.subscribe(nstore, quiet.id)
    alerts = [
        _alert("gi-new", regions=("R1",)),  # first alarm that day
        _alert("gi-ongoing", regions=("R2",), start=DAY - dt.timedelta(days=3), end=DAY),
        _alert("ili-r1", Syndrome.ILI, regions=("R1",)),  # another syndrome
        _alert(
            "gi-over",
            regions=("R1",),
            start=DAY - dt.timedelta(days=6),
            end=DAY - dt.timedelta(days=2),
        ),  # ended before the day
        _alert(
            "gi-next",
            regions=("R1",),
            start=DAY + dt.timedelta(days=1),
            end=DAY + dt.timedelta(days=1),
        ),
    ]
    _store_alerts(nstore, alerts)
    with SmtpServer(Inbox()) as smtp:
        cfg = _settings(smtp=_smtp(smtp), base_url="https://er.example.org")
        report = notify.send_digest(nstore, cfg, DAY, sleep=no_retry)
        assert report.sent == 1  # south has no alert that day, "no digest" wants none
        again = notify.send_digest(nstore, cfg, DAY, sleep=no_retry)
        assert again.attempts == 0
        empty = _settings(smtp=_smtp(smtp), digest_when_empty=True)
        assert notify.send_digest(nstore, empty, DAY, sleep=no_retry).sent == 1  # south
    [(to_north, mail), (to_south, empty_mail)] = smtp.inbox.messages
    assert to_north == ["north@example.org"] and to_south == ["south@example.org"]
    assert mail["Subject"] == "[epiradar] Daily digest 2026-03-10: 1 new, 1 ongoing alerts"
    text = mail.get_payload(decode=True).decode()
    assert "gi-new" in text and "gi-ongoing" in text
    assert text.index("New alerts: 1") < text.index("gi-new") < text.index("Ongoing alerts: 1")
    assert text.index("Ongoing alerts: 1") < text.index("gi-ongoing")
    for absent in ("ili-r1", "gi-over", "gi-next"):
        assert absent not in text
    assert "https://er.example.org/alerts/gi-new" in text
    assert "0 new, 0 ongoing" in empty_mail["Subject"]
    assert "No alert under your subscriptions" in empty_mail.get_payload(decode=True).decode()
    digests = nstore.notify.deliveries(kind="digest")
    assert {(d.subscriber_name, d.key, d.status) for d in digests} == {
        ("north", "digest:2026-03-10", "sent"),
        ("south", "digest:2026-03-10", "sent"),
    }


# ---------------------------------------------------------------------------------------------
# Bad settings and input


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[notify.smtp]\nport = 70000\n", "notify.smtp.port"),
        ('[notify.smtp]\nsecurity = "tls"\n', "notify.smtp.security"),
        ("[notify.smtp]\nhots = 'x'\n", "notify.smtp.hots"),
        (
            '[notify.smtp]\nhost = "smtp.example.org"\nsecurity = "none"\nusername = "u"\n',
            r'\[notify.smtp\] security: "none" would send the password',
        ),
        ('[notify.smtp]\nsender = "nobody"\n', r"\[notify.smtp\] sender: 'nobody'"),
        ('[notify.smtp]\npassword_env = "my password"\n', "notify.smtp.password_env"),
        ('[notify.smtp]\nca_file = "missing.pem"\n', r"\[notify.smtp\] ca_file: missing.pem"),
        ('[notify]\nbase_url = "ftp://example.org"\n', r"\[notify\] base_url"),
        ("[notify]\nbackoff_seconds = 10\nbackoff_max_seconds = 5\n", "backoff_max_seconds"),
        ("[notify]\nmax_attempts = 0\n", "notify.max_attempts"),
    ],
)
def test_bad_notify_settings_are_refused_naming_the_entry(tmp_path, monkeypatch, toml, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EPIRADAR_CONFIG", raising=False)
    (tmp_path / "epiradar.toml").write_text(toml)
    with pytest.raises(ValidationError, match=message):
        load_settings()


def test_notify_settings_from_toml_and_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EPIRADAR_CONFIG", raising=False)
    (tmp_path / "epiradar.toml").write_text(
        '[notify]\nbase_url = "https://er.example.org/"\nmax_attempts = 7\n'
        '[notify.smtp]\nhost = "smtp.example.org"\nport = 465\nsecurity = "ssl"\n'
        'username = "alerts"\nsender = "Alerts <alerts@example.org>"\n'
    )
    monkeypatch.setenv("EPIRADAR_NOTIFY__SMTP__PORT", "2465")
    cfg = load_settings().notify
    assert cfg.base_url == "https://er.example.org" and cfg.max_attempts == 7
    assert (cfg.smtp.host, cfg.smtp.port, cfg.smtp.security) == ("smtp.example.org", 2465, "ssl")
    monkeypatch.setenv("EPIRADAR_SMTP_PASSWORD", "from-env")
    assert cfg.smtp.password() == "from-env"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": " "}, "name: must be 1 to 200"),
        ({"name": "42", "email": "a@b.org"}, "name: must not be only digits"),
        ({"name": "a"}, "email, webhook_url: give"),
        ({"name": "a", "email": "not-an-address"}, "email: 'not-an-address'"),
        ({"name": "a", "webhook_url": "ftp://x.org/"}, "webhook_url: 'ftp://x.org/'"),
        (
            {"name": "a", "webhook_url": "http://x.org/", "webhook_secret": "short"},
            "webhook_secret",
        ),
        ({"name": "a", "email": "a@b.org", "webhook_secret": "s" * 20}, "webhook_secret: only"),
    ],
)
def test_bad_subscriber_input_is_refused_naming_the_field(nstore, kwargs, message):
    with pytest.raises(notify.NotifyError, match=message):
        notify.add_subscriber(nstore, **kwargs)
    assert nstore.notify.subscribers() == []


def test_bad_subscription_input_is_refused_naming_the_field(nstore):
    notify.add_subscriber(nstore, "a", email="a@example.org")
    with pytest.raises(notify.NotifyError, match="name: a subscriber named 'a' already exists"):
        notify.add_subscriber(nstore, "a", email="other@example.org")
    with pytest.raises(notify.NotifyError, match="region_ids: unknown region 'R9'"):
        notify.subscribe(nstore, "a", region_ids=["R1", "R9"])
    with pytest.raises(notify.NotifyError, match="syndromes: unknown syndrome 'flu'"):
        notify.subscribe(nstore, "a", syndromes=["flu"])
    with pytest.raises(notify.NotifyError, match="min_severity: 'urgent'"):
        notify.subscribe(nstore, "a", min_severity="urgent")
    with pytest.raises(notify.UnknownSubscriberError):
        notify.subscribe(nstore, "nobody")
    assert nstore.notify.subscriptions() == []


# ---------------------------------------------------------------------------------------------
# CLI and JSON API


def _cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(
        __import__("epiradar.cli", fromlist=["app"]).app, list(args), catch_exceptions=False
    )
    assert result.exit_code == code, result.output
    return result.output


def test_cli_subscribers_send_pending_digest_and_log(tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.chdir(tmp_path)
    with Store(db) as store:
        store.migrate()
        store.load_city(_regions(), [], [], [])
        _store_alerts(store, [_alert("gi-1", regions=("R1",))])
    with SmtpServer(Inbox()) as smtp, Receiver("k" * 24) as receiver:
        monkeypatch.setenv("EPIRADAR_NOTIFY__SMTP__HOST", "127.0.0.1")
        monkeypatch.setenv("EPIRADAR_NOTIFY__SMTP__PORT", str(smtp.port))
        monkeypatch.setenv("EPIRADAR_NOTIFY__SMTP__SECURITY", "none")
        out = _cli(
            "notify", "subscribers", "add", "north", "--email", "n@example.org",
            "--webhook", receiver.url, "--region", "D1", "--min-severity", "medium", "--db", db,
        )  # fmt: skip
        secret = out.split("webhook secret (shown once): ")[1].strip()
        receiver.secret = secret
        assert "Region 9" not in _cli(
            "notify", "subscribers", "add", "bad", "--email", "b@example.org",
            "--region", "R9", "--db", db, code=1,
        )  # fmt: skip
        listed = json.loads(_cli("notify", "subscribers", "list", "--json", "--db", db))
        assert [s["name"] for s in listed] == ["north"]
        assert listed[0]["subscriptions"][0]["region_ids"] == ["D1"]
        assert "webhook_secret" not in listed[0]
        with Store(db) as store:
            alerts = store.alerts()
            assert notify.queue_alert_notifications(store, load_settings(db=db), alerts) == 2
        sent = json.loads(_cli("notify", "send-pending", "--json", "--db", db))
        assert (sent["sent"], sent["failed"]) == (2, 0)
        digest = json.loads(_cli("notify", "digest", "--date", "2026-03-10", "--json", "--db", db))
        assert digest["sent"] == 1
        assert "not a date" in _cli("notify", "digest", "--date", "10.3.2026", "--db", db, code=1)
        log = json.loads(_cli("notify", "log", "--json", "--db", db))
        assert sorted(d["key"] for d in log) == ["alert:gi-1", "alert:gi-1", "digest:2026-03-10"]
        assert all(d["attempts_log"][0]["ok"] for d in log)
    assert len(smtp.inbox.messages) == 2 and receiver.requests[0]["verified"]
    assert "removed subscriber" in _cli("notify", "subscribers", "remove", "north", "--db", db)
    assert "no subscriber 'north'" in _cli(
        "notify", "subscribers", "remove", "north", "--db", db, code=1
    )


def test_json_api_subscribers_subscriptions_and_delivery_log(nstore):
    from epiradar.web.app import create_app

    settings = Settings(db=nstore.url, pseudonym_key="k")
    client = authorize(TestClient(create_app(settings, nstore)), nstore)
    created = client.post(
        "/api/notify/subscribers",
        json={
            "name": "ops",
            "email": "ops@example.org",
            "webhook_url": "http://127.0.0.1:9/hook",
            "subscriptions": [{"region_ids": ["D1"], "syndromes": ["ili"], "min_severity": "high"}],
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert len(body["webhook_secret"]) >= 32
    assert body["subscriptions"][0]["region_ids"] == ["D1"]
    assert (
        client.post("/api/notify/subscribers", json={"name": "ops", "email": "a@b.org"}).status_code
        == 409
    )
    bad = client.post(
        "/api/notify/subscribers",
        json={"name": "x", "email": "x@example.org", "subscriptions": [{"region_ids": ["R9"]}]},
    )
    assert bad.status_code == 422 and "subscriptions[0].region_ids: unknown region 'R9'" in bad.text
    assert (
        client.post("/api/notify/subscribers", json={"name": "y", "email": "nope"}).json()["detail"]
        == "email: 'nope' is not an e-mail address"
    )
    listed = client.get("/api/notify/subscribers").json()
    assert [s["subscriber"]["name"] for s in listed] == ["ops"]
    assert "webhook_secret" not in json.dumps(listed)
    added = client.post("/api/notify/subscribers/ops/subscriptions", json={"syndromes": ["fever"]})
    assert added.status_code == 201 and added.json()["syndromes"] == ["fever"]
    assert len(client.get("/api/notify/subscribers/ops").json()["subscriptions"]) == 2
    alert = _alert("ili-1", Syndrome.ILI, regions=("R2",))
    _store_alerts(nstore, [alert])
    notify.queue_alert_notifications(nstore, _settings(), [alert])
    notify.send_pending(
        nstore,
        _settings(
            max_attempts=2, smtp={"host": "127.0.0.1", "port": free_port(), "security": "none"}
        ),
        sleep=lambda s: None,
    )
    deliveries = client.get("/api/notify/deliveries", params={"subscriber": "ops"}).json()
    assert {(d["channel"], d["status"]) for d in deliveries} == {
        ("email", "failed"),
        ("webhook", "failed"),
    }
    one = client.get(f"/api/notify/deliveries/{deliveries[0]['id']}").json()
    assert len(one["attempts"]) == 2 and not one["attempts"][0]["ok"]
    assert one["attempts"][0]["error"]
    attempts = client.get("/api/notify/attempts").json()
    assert len(attempts) == 4
    assert client.get("/api/notify/deliveries", params={"status": "sent"}).json() == []
    assert client.get("/api/notify/deliveries/999").status_code == 404
    sub_id = added.json()["id"]
    assert client.delete(f"/api/notify/subscribers/ops/subscriptions/{sub_id}").status_code == 204
    assert client.delete(f"/api/notify/subscribers/ops/subscriptions/{sub_id}").status_code == 404
    assert client.delete("/api/notify/subscribers/ops").status_code == 204
    assert client.get("/api/notify/subscribers/ops").status_code == 404
    assert nstore.notify.attempts() == []
