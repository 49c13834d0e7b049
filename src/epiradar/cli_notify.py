"""``epiradar notify``: subscribers, sending queued notifications, the daily digest, the log.

Registered in ``cli.py`` as ``app.add_typer(notify_app, name="notify")``; the shared helpers of
``cli.py`` are imported inside the commands, so that the two modules do not import each other
at load time.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.table import Table

notify_app = typer.Typer(
    help="Notifications: subscribers, e-mail and webhook delivery, the daily digest.",
    no_args_is_help=True,
)
subscribers_app = typer.Typer(help="Who is notified, and of which alerts.", no_args_is_help=True)
notify_app.add_typer(subscribers_app, name="subscribers")

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: EPIRADAR_DB or sqlite:///./epiradar.db)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RegionOption = Annotated[
    list[str] | None,
    typer.Option("--region", help="Only alerts in this region or district (repeatable)."),
]
SyndromeOption = Annotated[
    list[str] | None, typer.Option("--syndrome", help="Only this syndrome (repeatable).")
]
SeverityOption = Annotated[
    str, typer.Option("--min-severity", help="Lowest severity notified: low, medium or high.")
]
EscalationsOption = Annotated[
    bool,
    typer.Option(
        "--escalations/--no-escalations",
        help="Also escalate the overdue alerts and tasks the subscription covers.",
    ),
]


@subscribers_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A unique name, e.g. a person or a team.")],
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    webhook: Annotated[str | None, typer.Option(help="Webhook URL (http or https).")] = None,
    secret: Annotated[
        str | None,
        typer.Option(help="Webhook signing secret (default: generated and printed once)."),
    ] = None,
    digest: Annotated[bool, typer.Option(help="Send the daily digest e-mail.")] = True,
    region: RegionOption = None,
    syndrome: SyndromeOption = None,
    min_severity: SeverityOption = "low",
    escalations: EscalationsOption = False,
    db: DbOption = None,
) -> None:
    """Add a subscriber with one subscription (no --region / --syndrome: every alert)."""
    from epiradar.cli import _fail, _settings, _store, console
    from epiradar.service.notify import NotifyError, add_subscriber, remove_subscriber, subscribe

    store = _store(_settings(db))
    try:
        subscriber, key = add_subscriber(
            store, name, email=email, webhook_url=webhook, webhook_secret=secret, digest=digest
        )
        try:
            subscription = subscribe(
                store,
                subscriber.id,
                region_ids=region or [],
                syndromes=syndrome or [],
                min_severity=min_severity,
                escalations=escalations,
            )
        except NotifyError:
            remove_subscriber(store, subscriber.id)
            raise
    except NotifyError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"added subscriber {subscriber.id} {subscriber.name!r}: {_describe(subscription)}",
        highlight=False,
    )
    if key and secret is None:
        typer.echo(f"webhook secret (shown once): {key}")


@subscribers_app.command("subscribe")
def subscribe_command(
    name: Annotated[str, typer.Argument(help="Subscriber name or id.")],
    region: RegionOption = None,
    syndrome: SyndromeOption = None,
    min_severity: SeverityOption = "low",
    escalations: EscalationsOption = False,
    db: DbOption = None,
) -> None:
    """Add another subscription to a subscriber."""
    from epiradar.cli import _fail, _settings, _store, console
    from epiradar.service.notify import NotifyError, UnknownSubscriberError, subscribe

    store = _store(_settings(db))
    try:
        subscription = subscribe(
            store,
            name,
            region_ids=region or [],
            syndromes=syndrome or [],
            min_severity=min_severity,
            escalations=escalations,
        )
    except (NotifyError, UnknownSubscriberError) as exc:
        raise _fail(str(exc).strip('"')) from None
    console.print(f"subscription {subscription.id}: {_describe(subscription)}", highlight=False)


def _describe(s) -> str:
    regions = ", ".join(s.region_ids) or "every region"
    syndromes = ", ".join(s.syndromes) or "every syndrome"
    escalated = ", with escalations" if getattr(s, "escalations", False) else ""
    return f"{syndromes} in {regions}, severity {s.min_severity} or above{escalated}"


@subscribers_app.command("list")
def list_command(as_json: JsonOption = False, db: DbOption = None) -> None:
    """Subscribers with their subscriptions."""
    from epiradar.cli import _out, _settings, _store

    store = _store(_settings(db))
    subscribers = store.notify.subscribers()
    subscriptions = store.notify.subscriptions()
    if as_json:
        rows = [
            s.model_dump()
            | {"subscriptions": [x.model_dump() for x in subscriptions if x.subscriber_id == s.id]}
            for s in subscribers
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"{len(subscribers)} subscribers")
    for col in ("id", "name", "e-mail", "webhook", "digest", "subscriptions"):
        table.add_column(col)
    for s in subscribers:
        mine = [f"#{x.id} {_describe(x)}" for x in subscriptions if x.subscriber_id == s.id]
        table.add_row(
            str(s.id),
            s.name + ("" if s.active else " (inactive)"),
            s.email or "–",
            s.webhook_url or "–",
            "yes" if s.digest else "no",
            "\n".join(mine) or "none",
        )
    _out().print(table)


@subscribers_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="Subscriber name or id.")],
    db: DbOption = None,
) -> None:
    """Remove a subscriber with its subscriptions and delivery log."""
    from epiradar.cli import _fail, _settings, _store, console
    from epiradar.service.notify import UnknownSubscriberError, remove_subscriber

    try:
        subscriber = remove_subscriber(_store(_settings(db)), name)
    except UnknownSubscriberError as exc:
        raise _fail(str(exc).strip('"')) from None
    console.print(f"removed subscriber {subscriber.id} {subscriber.name!r}", highlight=False)


def _report(report, as_json: bool, what: str) -> None:
    from epiradar.cli import console

    if as_json:
        typer.echo(
            json.dumps(
                {
                    "sent": report.sent,
                    "failed": report.failed,
                    "attempts": report.attempts,
                    "deliveries": report.deliveries,
                }
            )
        )
    else:
        console.print(
            f"{what}: {report.sent} sent, {report.failed} failed, {report.attempts} attempts",
            highlight=False,
        )
    if report.failed:
        raise typer.Exit(1)


@notify_app.command("send-pending")
def send_pending_command(
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Try failed deliveries again too.")
    ] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Send the queued notifications (run it from cron every few minutes). Exits 1 when a
    delivery failed after all its tries (see `epiradar notify log`)."""
    from epiradar.cli import _fail, _settings, _store
    from epiradar.service.notify import NotifySettingsError, send_pending

    settings = _settings(db)
    try:
        report = send_pending(_store(settings), settings, retry_failed=retry_failed)
    except NotifySettingsError as exc:
        raise _fail(str(exc)) from None
    _report(report, as_json, "notifications")


@notify_app.command("digest")
def digest_command(
    date: Annotated[
        str | None, typer.Option(help="The day summarised, YYYY-MM-DD (default: yesterday).")
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """E-mail each subscriber the day's alerts under their subscriptions (once per day)."""
    from epiradar.cli import _fail, _parse_date, _settings, _store
    from epiradar.service.notify import NotifySettingsError, send_digest

    day = _parse_date(date, "date") or dt.date.today() - dt.timedelta(days=1)
    settings = _settings(db)
    try:
        report = send_digest(_store(settings), settings, day)
    except NotifySettingsError as exc:
        raise _fail(str(exc)) from None
    _report(report, as_json, f"digest {day}")


@notify_app.command("escalate")
def escalate_command(
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Escalate overdue alerts and tasks to subscribers who asked for escalations, once per
    item and stage (run it from cron). Exits 1 when a delivery failed after all its tries."""
    from epiradar.cli import _fail, _settings, _store
    from epiradar.service.escalation import escalate
    from epiradar.service.notify import NotifySettingsError

    settings = _settings(db)
    try:
        report = escalate(_store(settings), settings)
    except NotifySettingsError as exc:
        raise _fail(str(exc)) from None
    _report(report, as_json, "escalations")


@notify_app.command("log")
def log_command(
    subscriber: Annotated[str | None, typer.Option(help="Subscriber name or id.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, sending, sent or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Deliveries, newest first, with their attempts."""
    from epiradar.cli import _fail, _out, _settings, _store
    from epiradar.model.notify import DeliveryStatus
    from epiradar.service.notify import UnknownSubscriberError, get_subscriber

    store = _store(_settings(db))
    try:
        who = get_subscriber(store, subscriber).id if subscriber else None
        state = DeliveryStatus(status) if status else None
    except UnknownSubscriberError as exc:
        raise _fail(str(exc).strip('"')) from None
    except ValueError:
        raise _fail(f"--status: {status!r} is not one of pending, sending, sent, failed") from None
    deliveries = store.notify.deliveries(status=state, subscriber_id=who, limit=limit)
    if as_json:
        rows = [
            d.model_dump()
            | {"attempts_log": [a.model_dump() for a in store.notify.attempts(delivery_id=d.id)]}
            for d in deliveries
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"{len(deliveries)} deliveries")
    for col in ("id", "what", "subscriber", "channel", "status", "tries", "last try", "error"):
        table.add_column(col)
    for d in deliveries:
        table.add_row(
            str(d.id),
            d.key,
            d.subscriber_name,
            d.channel,
            d.status,
            str(d.attempts),
            d.last_attempt_at or "–",
            d.error or "",
        )
    _out().print(table)
