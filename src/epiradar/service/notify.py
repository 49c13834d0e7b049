"""Notifications: subscribers and their subscriptions, alert messages queued when detection
stores alerts, delivery by e-mail (SMTP) and signed webhooks with retries, and the daily digest
(docs/notifications.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

import httpx

from epiradar import __version__
from epiradar.config import Settings
from epiradar.config_notify import NotifySettings, NotifySettingsError, check_http_url
from epiradar.config_workflow import WorkflowSettings
from epiradar.model import Alert, AlertStatus, Region, Severity, Syndrome
from epiradar.model.notify import (
    Channel,
    Delivery,
    DeliveryStatus,
    Subscriber,
    Subscription,
)
from epiradar.store import Store
from epiradar.store._sql import now_iso

SIGNATURE_HEADER = "X-Epiradar-Signature"
TIMESTAMP_HEADER = "X-Epiradar-Timestamp"
DELIVERY_HEADER = "X-Epiradar-Delivery"
EVENT_HEADER = "X-Epiradar-Event"
SIGNATURE_TOLERANCE_S = 300
"""Receivers should refuse a request whose timestamp is further than this from their clock."""

CLAIM_TIMEOUT_S = 3600
"""A delivery whose sending run last touched it this long ago (or twice the longest wait between
two tries, if longer) is taken to be abandoned by a crashed run, and is pending again."""
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")
Sleep = Callable[[float], None]
DONE_STATUSES = (AlertStatus.DISCARDED, AlertStatus.CLOSED)


class NotifyError(ValueError):
    """Bad subscriber or subscription input; the message names the field and the reason."""


class UnknownSubscriberError(LookupError):
    """No subscriber with that id or name."""


# ---------------------------------------------------------------------------------------------
# Signatures


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` over ``timestamp``, ``"."`` and the raw
    body, so neither the body nor the timestamp can be changed (or replayed later) unnoticed."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> bool:
    """Whether ``signature`` is ``body``'s under ``secret`` and ``timestamp`` is recent."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature or "")


# ---------------------------------------------------------------------------------------------
# Subscribers and subscriptions


def add_subscriber(
    store: Store,
    name: str,
    *,
    email: str | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    digest: bool = True,
) -> tuple[Subscriber, str | None]:
    """A new subscriber and its webhook secret (generated unless given; ``None`` without a
    webhook). The secret is shown only here: the receiver needs it to check signatures."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise NotifyError("name: must be 1 to 200 characters")
    email = _check_email(email)
    if webhook_url is not None:
        webhook_url = webhook_url.strip() or None
    if webhook_url is not None:
        try:
            check_http_url(webhook_url, "webhook_url")
        except ValueError as exc:
            raise NotifyError(str(exc)) from None
    if email is None and webhook_url is None:
        raise NotifyError("email, webhook_url: give an e-mail address, a webhook URL or both")
    if webhook_secret is not None and webhook_url is None:
        raise NotifyError("webhook_secret: only with a webhook_url")
    if webhook_secret is not None and len(webhook_secret) < 16:
        raise NotifyError("webhook_secret: at least 16 characters")
    if webhook_url is not None and webhook_secret is None:
        webhook_secret = secrets.token_urlsafe(32)
    if name.isdigit():
        raise NotifyError("name: must not be only digits (those are subscriber ids)")
    if store.notify.subscriber(name) is not None:
        raise NotifyError(f"name: a subscriber named {name!r} already exists")
    subscriber = store.notify.add_subscriber(
        name, email=email, webhook_url=webhook_url, webhook_secret=webhook_secret, digest=digest
    )
    return subscriber, webhook_secret


def _check_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    email = email.strip()
    if not _EMAIL.match(email) or len(email) > 254:
        raise NotifyError(f"email: {email!r} is not an e-mail address")
    return email


def get_subscriber(store: Store, ref: int | str) -> Subscriber:
    found = store.notify.subscriber(ref)
    if found is None:
        raise UnknownSubscriberError(f"no subscriber {ref!r}")
    return found


def remove_subscriber(store: Store, ref: int | str) -> Subscriber:
    """Remove a subscriber, its subscriptions and its delivery log."""
    subscriber = get_subscriber(store, ref)
    store.notify.remove_subscriber(subscriber.id)
    return subscriber


def subscribe(
    store: Store,
    ref: int | str,
    *,
    region_ids: Sequence[str] = (),
    syndromes: Sequence[str] = (),
    min_severity: str = Severity.LOW,
    escalations: bool = False,
) -> Subscription:
    """Add a subscription: alerts in ``region_ids`` (districts include their regions; empty:
    all) of ``syndromes`` (empty: all) at ``min_severity`` or above; with ``escalations``
    also the overdue alerts and tasks it covers."""
    subscriber = get_subscriber(store, ref)
    known = {r.id for r in store.regions()}
    regions = [r.strip() for r in region_ids if r and r.strip()]
    unknown = [r for r in regions if r not in known]
    if unknown:
        raise NotifyError(f"region_ids: unknown region {', '.join(map(repr, unknown))}")
    names = [str(s).strip() for s in syndromes if s and str(s).strip()]
    valid = {s.value for s in Syndrome}
    bad = [s for s in names if s not in valid]
    if bad:
        raise NotifyError(
            f"syndromes: unknown syndrome {', '.join(map(repr, bad))}; known: {', '.join(valid)}"
        )
    try:
        severity = Severity(str(min_severity))
    except ValueError:
        raise NotifyError(
            f"min_severity: {min_severity!r} is not one of low, medium, high"
        ) from None
    return store.notify.add_subscription(
        subscriber.id, sorted(set(regions)), sorted(set(names)), severity, escalations
    )


def unsubscribe(store: Store, ref: int | str, subscription_id: int) -> bool:
    subscriber = get_subscriber(store, ref)
    return store.notify.remove_subscription(subscription_id, subscriber.id)


def region_areas(regions: Iterable[Region]) -> dict[str, set[str]]:
    """Each region id -> itself and every region inside it (following ``parent_id``)."""
    regions = list(regions)
    children: dict[str, list[str]] = {}
    for r in regions:
        if r.parent_id:
            children.setdefault(r.parent_id, []).append(r.id)
    ids = {r.id for r in regions} | set(children)

    def below(region: str) -> set[str]:
        out, todo = {region}, [region]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in out:
                    out.add(child)
                    todo.append(child)
        return out

    return {region: below(region) for region in ids}


def matching_subscribers(
    store: Store, alert: Alert, *, areas: dict[str, set[str]] | None = None
) -> list[Subscriber]:
    """Active subscribers with a subscription that ``alert`` falls under."""
    areas = region_areas(store.regions()) if areas is None else areas
    by_subscriber: dict[int, list[Subscription]] = {}
    for s in store.notify.subscriptions():
        by_subscriber.setdefault(s.subscriber_id, []).append(s)
    return [
        sub
        for sub in store.notify.subscribers(active_only=True)
        if any(s.matches(alert, areas) for s in by_subscriber.get(sub.id, []))
    ]


# ---------------------------------------------------------------------------------------------
# Queueing


def _notify_settings(settings: Settings | NotifySettings) -> NotifySettings:
    return settings.notify if isinstance(settings, Settings) else settings


def alert_payload(
    alert: Alert, region_names: dict[str, str], base_url: str | None
) -> dict[str, Any]:
    """What an alert message carries (the webhook body; the e-mail is written from it)."""
    return {
        "event": "alert",
        "alert": json.loads(alert.model_dump_json()),
        "syndrome_label": alert.syndrome.label,
        "region_names": [region_names.get(r, r) for r in alert.region_ids],
        "url": f"{base_url}/alerts/{alert.id}" if base_url else None,
    }


def alert_subject(payload: dict[str, Any]) -> str:
    a = payload["alert"]
    where = ", ".join(payload["region_names"]) or "the whole city"
    return (
        f"[epiradar] {a['severity'].upper()} alert: {payload['syndrome_label']} in {where}, "
        f"first alarm {a['first_alarm_date']}"
    )


def queue_alert_notifications(
    store: Store,
    settings: Settings | NotifySettings,
    alerts: Sequence[Alert],
    *,
    as_of: dt.date | None = None,
) -> int:
    """Queue one delivery per alert x matching subscriber x channel not recorded before, so
    rerunning detection notifies nobody twice. With ``as_of`` (the end of the detection
    period), alerts whose last signal is ``max_age_days`` or more before it are skipped, and
    so are alerts already discarded or closed.
    Returns the number of deliveries queued."""
    cfg = _notify_settings(settings)
    if not cfg.enabled or not alerts:
        return 0
    subscribers = store.notify.subscribers(active_only=True)
    if not subscribers:
        return 0
    if as_of is not None:
        alerts = [a for a in alerts if (as_of - a.end_date).days < cfg.max_age_days]
    settled = {
        a.id for status in DONE_STATUSES for a in store.alerts(status=status)
    }  # a re-detected alert someone already discarded or closed is not news
    alerts = [a for a in alerts if a.id not in settled]
    regions = store.regions()
    areas = region_areas(regions)
    names = {r.id: r.name for r in regions}
    by_subscriber: dict[int, list[Subscription]] = {}
    for s in store.notify.subscriptions():
        by_subscriber.setdefault(s.subscriber_id, []).append(s)
    rows = []
    for alert in alerts:
        payload = alert_payload(alert, names, cfg.base_url)
        subject = alert_subject(payload)
        for sub in subscribers:
            if not any(s.matches(alert, areas) for s in by_subscriber.get(sub.id, [])):
                continue
            for channel in sub.channels:
                rows.append(
                    {
                        "key": f"alert:{alert.id}",
                        "kind": "alert",
                        "alert_id": alert.id,
                        "subscriber_id": sub.id,
                        "channel": channel,
                        "subject": subject,
                        "payload": payload,
                    }
                )
    return len(store.notify.queue(rows))


# ---------------------------------------------------------------------------------------------
# Sending


@dataclass
class SendReport:
    """What one sending run did."""

    sent: int = 0
    failed: int = 0
    attempts: int = 0
    deliveries: list[int] = field(default_factory=list)

    def add(self, other: SendReport) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.attempts += other.attempts
        self.deliveries += other.deliveries


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    retry: bool  # worth another try (5xx, timeout, connection, SMTP 4xx)


def send_pending(
    store: Store,
    settings: Settings | NotifySettings,
    *,
    ids: Iterable[int] | None = None,
    retry_failed: bool = False,
    sleep: Sleep = time.sleep,
    limit: int | None = None,
) -> SendReport:
    """Deliver the pending deliveries (only ``ids`` when given), oldest first. Each gets up to
    ``max_attempts`` tries with exponential backoff (``sleep`` waits); each try is logged.
    ``retry_failed`` first puts failed deliveries back to pending."""
    cfg = _notify_settings(settings)
    ids = None if ids is None else list(ids)
    if retry_failed:
        store.notify.retry_failed(ids)
    longest_wait = cfg.backoff_max_seconds + max(
        cfg.webhook_timeout_seconds, cfg.smtp.timeout_seconds
    )
    stale = dt.datetime.now() - dt.timedelta(seconds=max(CLAIM_TIMEOUT_S, 2 * longest_wait))
    store.notify.release_stale_claims(stale.isoformat(timespec="seconds"))
    pending = store.notify.deliveries(status=DeliveryStatus.PENDING, ids=ids, limit=limit)
    if any(d.channel == Channel.EMAIL for d in pending):
        _check_smtp(cfg)
    report = SendReport()
    for delivery in pending:
        if store.notify.claim(delivery.id):  # another run may be sending it already
            report.add(_deliver(store, cfg, delivery, sleep))
    return report


def _check_smtp(cfg: NotifySettings) -> None:
    if not cfg.smtp.host:
        raise NotifySettingsError(
            "[notify.smtp] host: not set, and e-mail deliveries are waiting (set it, or "
            "remove the e-mail address of the subscribers)"
        )
    cfg.smtp.password()  # refuses a login whose password is missing, before any try


def _deliver(store: Store, cfg: NotifySettings, delivery: Delivery, sleep: Sleep) -> SendReport:
    payload = store.notify.payload(delivery.id)
    report = SendReport(deliveries=[delivery.id])
    secret = (
        store.notify.webhook_secret(delivery.subscriber_id)
        if delivery.channel == Channel.WEBHOOK
        else None
    )
    subscriber = store.notify.subscriber(delivery.subscriber_id)
    for n in range(1, cfg.max_attempts + 1):
        started = now_iso()
        t0 = time.perf_counter()
        try:
            outcome = _try_once(cfg, subscriber, secret, delivery, payload)
        except Exception as exc:  # logged as the attempt's error rather than lost
            outcome = _Outcome(False, None, f"{type(exc).__name__}: {exc}", False)
        duration = (time.perf_counter() - t0) * 1000
        final = outcome.ok or not outcome.retry or n == cfg.max_attempts
        store.notify.record_attempt(
            delivery.id,
            started_at=started,
            duration_ms=round(duration, 3),
            ok=outcome.ok,
            status_code=outcome.status_code,
            error=outcome.error,
            final=final,
        )
        report.attempts += 1
        if outcome.ok:
            report.sent += 1
            return report
        if final:
            break
        sleep(cfg.backoff(n))
    report.failed += 1
    return report


def _try_once(
    cfg: NotifySettings,
    subscriber: Subscriber | None,
    secret: str | None,
    delivery: Delivery,
    payload: dict[str, Any],
) -> _Outcome:
    if subscriber is None:
        return _Outcome(False, None, "the subscriber was removed", False)
    if not subscriber.active:
        return _Outcome(False, None, "the subscriber is inactive", False)
    if delivery.channel == Channel.EMAIL:
        if not subscriber.email:
            return _Outcome(False, None, "the subscriber has no e-mail address now", False)
        return _send_email(cfg, subscriber.email, delivery, payload)
    if not (subscriber.webhook_url and secret):
        return _Outcome(False, None, "the subscriber has no webhook now", False)
    return _post_webhook(cfg, subscriber.webhook_url, secret, delivery, payload)


def webhook_body(delivery: Delivery, payload: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (the same on every try, so receivers can deduplicate)."""
    body = payload | {"delivery_id": delivery.id, "subscriber": delivery.subscriber_name}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _post_webhook(
    cfg: NotifySettings, url: str, secret: str, delivery: Delivery, payload: dict[str, Any]
) -> _Outcome:
    body = webhook_body(delivery, payload)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"epiradar/{__version__}",
        EVENT_HEADER: delivery.kind,
        DELIVERY_HEADER: str(delivery.id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    try:
        with httpx.Client(timeout=cfg.webhook_timeout_seconds, follow_redirects=False) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        return _Outcome(
            False, None, f"timeout after {cfg.webhook_timeout_seconds:g} s: {exc}", True
        )
    except httpx.HTTPError as exc:
        return _Outcome(False, None, f"{type(exc).__name__}: {exc}", True)
    code = response.status_code
    if 200 <= code < 300:
        return _Outcome(True, code, None, False)
    text = response.text[:200].strip()
    error = f"HTTP {code} {response.reason_phrase}" + (f": {text}" if text else "")
    return _Outcome(False, code, error, code >= 500 or code in (408, 425, 429))


def _send_email(
    cfg: NotifySettings, to: str, delivery: Delivery, payload: dict[str, Any]
) -> _Outcome:
    smtp = cfg.smtp
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = to
    message["Subject"] = delivery.subject
    message["Date"] = formatdate(localtime=True)
    domain = parseaddr(smtp.sender)[1].rsplit("@", 1)[-1]
    message["Message-ID"] = make_msgid(f"delivery{delivery.id}", domain=domain)
    if delivery.alert_id:
        message["X-Epiradar-Alert"] = delivery.alert_id
    message.set_content(_message_text(payload))
    try:
        context = ssl.create_default_context(cafile=smtp.ca_file)
        if smtp.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout_seconds, context=context
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=context)
            if smtp.username:
                client.login(smtp.username, smtp.password() or "")
            refused = client.send_message(message)
            if refused:
                code, text = next(iter(refused.values()))
                return _Outcome(False, code, f"recipient refused: {code} {text!r}", code < 500)
            code = 250
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        return _Outcome(False, code, f"recipient refused: {code} {_text(text)}", code < 500)
    except smtplib.SMTPResponseException as exc:
        return _Outcome(
            False,
            exc.smtp_code,
            f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}",
            exc.smtp_code < 500,
        )
    except (smtplib.SMTPException, OSError) as exc:
        return _Outcome(False, None, f"{type(exc).__name__}: {exc}", True)
    return _Outcome(True, code, None, False)


def _message_text(payload: dict[str, Any]) -> str:
    event = payload.get("event")
    if event == "alert":
        return alert_text(payload)
    if event == "escalation":
        from epiradar.service.escalation import escalation_text

        return escalation_text(payload)
    return digest_text(payload)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _alert_lines(a: dict[str, Any], names: list[str]) -> list[str]:
    where = ", ".join(names) or "the whole city"
    return [
        f"Syndrome:   {Syndrome(a['syndrome']).label}",
        f"Where:      {where}",
        f"Period:     {a['start_date']} to {a['end_date']} (first alarm {a['first_alarm_date']})",
        f"Visits:     {a['observed']:.0f} observed, {a['expected']:.1f} expected",
        f"Severity:   {a['severity']} (p = {a['p_value']:.1e}, {a['detector']})",
    ]


def alert_text(payload: dict[str, Any]) -> str:
    """The plain-text e-mail of an alert."""
    a = payload["alert"]
    lines = [f"epiradar raised alert {a['id']}.", ""]
    lines += _alert_lines(a, payload["region_names"])
    if payload.get("url"):
        lines.append(f"Open:       {payload['url']}")
    lines += ["", "You receive this because one of your subscriptions covers this alert."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Daily digest


def digest_payload(
    date: dt.date,
    alerts: Sequence[Alert],
    region_names: dict[str, str],
    base_url: str | None,
    escalations: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The day's alerts: ``new`` (first alarm that day) and ``ongoing`` (still alarming); and
    ``escalations``, the payloads of the items overdue at the end of the day."""

    def entry(alert: Alert) -> dict[str, Any]:
        return alert_payload(alert, region_names, base_url)

    ordered = sorted(alerts, key=lambda a: (a.p_value, a.id))
    return {
        "event": "digest",
        "date": date.isoformat(),
        "new": [entry(a) for a in ordered if a.first_alarm_date == date],
        "ongoing": [entry(a) for a in ordered if a.first_alarm_date != date],
        "escalations": list(escalations),
    }


def digest_subject(payload: dict[str, Any]) -> str:
    n_new, n_old = len(payload["new"]), len(payload["ongoing"])
    subject = f"[epiradar] Daily digest {payload['date']}: {n_new} new, {n_old} ongoing alerts"
    n_late = len(payload.get("escalations", []))
    return subject + (f", {n_late} overdue" if n_late else "")


def digest_text(payload: dict[str, Any]) -> str:
    """The plain-text digest e-mail."""
    lines = [f"epiradar daily digest for {payload['date']}", ""]
    for title, items in (("New alerts", payload["new"]), ("Ongoing alerts", payload["ongoing"])):
        lines.append(f"{title}: {len(items)}")
        for item in items:
            a = item["alert"]
            lines += ["", f"* {a['id']} ({a['status']})"]
            lines += [f"  {line}" for line in _alert_lines(a, item["region_names"])]
            if item.get("url"):
                lines.append(f"  Open:       {item['url']}")
        lines.append("")
    late = payload.get("escalations", [])
    if late:
        from epiradar.service.escalation import escalation_lines

        lines.append(f"Overdue at the end of the day: {len(late)}")
        for item in late:
            first, *rest = escalation_lines(item)
            lines += ["", f"* {first}"] + [f"  {line}" for line in rest]
        lines.append("")
    if not payload["new"] and not payload["ongoing"]:
        lines.append("No alert under your subscriptions was active that day.")
    return "\n".join(lines).rstrip() + "\n"


def active_alerts(store: Store, date: dt.date) -> list[Alert]:
    """Alerts alarming on ``date``: first alarm on or before it, last signal on or after it."""
    return [a for a in store.alerts() if a.first_alarm_date <= date <= a.end_date]


def send_digest(
    store: Store, settings: Settings | NotifySettings, date: dt.date, *, sleep: Sleep = time.sleep
) -> SendReport:
    """Queue and send ``date``'s digest e-mail to every active subscriber with an e-mail address
    and the digest on: the day's alerts under their subscriptions. Once per subscriber and day;
    a subscriber without such alerts gets none unless ``digest_when_empty``."""
    from epiradar.service.escalation import covers, overdue_items

    cfg = _notify_settings(settings)
    alerts = active_alerts(store, date)
    regions = store.regions()
    areas = region_areas(regions)
    names = {r.id: r.name for r in regions}
    by_subscriber: dict[int, list[Subscription]] = {}
    for s in store.notify.subscriptions():
        by_subscriber.setdefault(s.subscriber_id, []).append(s)
    late: list[Any] | None = None
    rows = []
    for sub in store.notify.subscribers(active_only=True):
        if not (sub.email and sub.digest):
            continue
        subs = by_subscriber.get(sub.id, [])
        mine = [a for a in alerts if any(s.matches(a, areas) for s in subs)]
        escalated = []
        if any(s.escalations for s in subs):
            if late is None:  # overdue at the end of the day, computed once
                flow = settings.workflow if isinstance(settings, Settings) else WorkflowSettings()
                end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time())
                late = overdue_items(store, flow, end, base_url=cfg.base_url)
            escalated = [i.payload for i in late if covers(subs, i, areas)]
        if not mine and not escalated and not cfg.digest_when_empty:
            continue
        payload = digest_payload(date, mine, names, cfg.base_url, escalated)
        rows.append(
            {
                "key": f"digest:{date.isoformat()}",
                "kind": "digest",
                "alert_id": None,
                "subscriber_id": sub.id,
                "channel": Channel.EMAIL,
                "subject": digest_subject(payload),
                "payload": payload,
            }
        )
    queued = store.notify.queue(rows)
    if not queued:
        return SendReport()
    return send_pending(store, cfg, ids=queued, sleep=sleep)
