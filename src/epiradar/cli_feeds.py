"""``epiradar feeds``: per-facility feed quality and the silent-feed check.

Registered in ``cli.py`` as ``app.add_typer(feeds_app, name="feeds")``; the shared helpers of
``cli.py`` are imported inside the commands, so that the two modules do not import each other
at load time.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

feeds_app = typer.Typer(
    help="Hospital feeds: what each facility sends, and alerts when one goes silent.",
    no_args_is_help=True,
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: EPIRADAR_DB or sqlite:///./epiradar.db)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
LOW_COMPLETENESS = 0.8


def _hours(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 24:.1f} d" if abs(value) >= 48 else f"{value:.1f} h"


def _low_fields(completeness: dict[str, float | None]) -> str:
    low = [(k, v) for k, v in completeness.items() if v is not None and v < LOW_COMPLETENESS]
    if not completeness or all(v is None for v in completeness.values()):
        return "–"
    return ", ".join(f"{k} {v:.0%}" for k, v in low) or "all ≥ 80%"


@feeds_app.command("status")
def status(
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of arrivals to summarise.")] = 14,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Per facility: status, last arrival, volume, completeness of key fields, delay."""
    from epiradar.cli import _out, _settings, _store
    from epiradar.service.feeds import feed_quality

    settings = _settings(db)
    quality = feed_quality(_store(settings), days=days, settings=settings.feeds)
    if as_json:
        typer.echo(quality.model_dump_json(indent=2))
        return
    styles = {"silent": "bold red", "never": "dim", "ok": "green"}
    table = Table(title=f"{len(quality.facilities)} facilities, last {days} days")
    for col in ("facility", "status", "last arrival", "ago", "visits", "msgs", "rejected"):
        table.add_column(
            col, justify="right" if col in ("ago", "visits", "msgs", "rejected") else "left"
        )
    table.add_column("completeness below 80%")
    table.add_column("delay p50", justify="right")
    table.add_column("p90", justify="right")
    table.add_column("open alerts", justify="right")
    for f in quality.facilities:
        table.add_row(
            f.facility_id if f.name == f.facility_id else f"{f.facility_id} {f.name}",
            f"[{styles[f.status]}]{f.status}[/]",
            f.last_arrival.strftime("%Y-%m-%d %H:%M") if f.last_arrival else "–",
            _hours(f.hours_since),
            f"{f.visits:,}",
            f"{f.messages:,}",
            f"{f.rejected:,}",
            _low_fields(f.completeness),
            _hours(f.delay_p50_h),
            _hours(f.delay_p90_h),
            str(len(f.open_alerts)),
        )
    _out().print(table)


@feeds_app.command("check")
def check(as_json: JsonOption = False, db: DbOption = None) -> None:
    """Run the silent-feed check once (the server runs it every few minutes).

    Raises an alert for each silent facility and resolves those of facilities that send again.
    """
    from epiradar.cli import _settings, _store, console
    from epiradar.service.feeds import check_silent_feeds

    settings = _settings(db)
    changes = check_silent_feeds(_store(settings), settings.feeds)
    if as_json:
        typer.echo(json.dumps([c.model_dump() for c in changes], indent=2, ensure_ascii=False))
        return
    for c in changes:
        colour = "red" if c.change == "raised" else "green"
        console.print(
            f"[{colour}]{c.change}[/] {c.kind} {c.facility_id}: {c.detail}", highlight=False
        )
    if not changes:
        console.print("no change in feed alerts")


@feeds_app.command("alerts")
def alerts(
    all_alerts: Annotated[bool, typer.Option("--all", help="Resolved ones too.")] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Feed alerts: open ones (with --all, resolved ones too)."""
    from epiradar.cli import _out, _settings, _store
    from epiradar.service.feeds import feed_alerts

    settings = _settings(db)
    rows = feed_alerts(_store(settings), open_only=not all_alerts)
    if as_json:
        typer.echo(json.dumps([json.loads(a.model_dump_json()) for a in rows], indent=2))
        return
    table = Table(title=f"{len(rows)} feed alerts")
    for col in ("id", "facility", "kind", "raised", "resolved", "detail"):
        table.add_column(col)
    for a in rows:
        table.add_row(
            str(a.id),
            a.facility_id,
            a.kind,
            a.raised_at.strftime("%Y-%m-%d %H:%M"),
            a.resolved_at.strftime("%Y-%m-%d %H:%M") if a.resolved_at else "open",
            a.detail,
        )
    _out().print(table)
