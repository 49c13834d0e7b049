"""``epiradar quarantine``: browse rejected input, re-process it, or discard it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

quarantine_app = typer.Typer(
    help="Rejected input kept verbatim: list, show, retry, discard.", no_args_is_help=True
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: EPIRADAR_DB or sqlite:///./epiradar.db)."),
]
Status = Annotated[
    str | None, typer.Option(help="open | resolved | discarded (default: every status).")
]


def _open(db: str | None):
    from epiradar.cli import _settings, _store

    settings = _settings(db)
    return settings, _store(settings)


def _dump(record: dict) -> dict:
    return {k: v for k, v in record.items()}


@quarantine_app.command("list")
def list_records(
    status: Status = "open",
    source: Annotated[
        str | None, typer.Option(help="Only this source (file, mllp:F1, ...).")
    ] = None,
    facility: Annotated[str | None, typer.Option(help="Only this facility.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    db: DbOption = None,
) -> None:
    """Quarantined records, newest first (open ones by default)."""
    from epiradar.cli import _out

    _, store = _open(db)
    with store:
        found = store.quarantined(limit, source=source, status=status, facility_id=facility)
        total = store.quarantine_count("open")
    if as_json:
        typer.echo(json.dumps([_dump(r) for r in found], indent=2, ensure_ascii=False))
        return
    table = Table("id", "received", "status", "source", "record", "field", "reason", "raw")
    for r in found:
        raw = r["raw"] if r.get("raw_encoding") is None else f"<{r['raw_encoding']}>"
        table.add_row(
            str(r["id"]),
            (r["received_at"] or "")[:16],
            r["status"],
            r["source"],
            r["record"] or "",
            r["field"] or "",
            r["reason"],
            raw.replace("\r", "⏎")[:60],
        )
    out = _out()
    out.print(table)
    out.print(f"{total:,} open in all; `epiradar quarantine show ID` for a whole record")


@quarantine_app.command("show")
def show(
    record_id: Annotated[int, typer.Argument(help="Quarantine id (from list).")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    db: DbOption = None,
) -> None:
    """One record in full: where it came from, why it was rejected, the input verbatim."""
    from epiradar.cli import _fail

    _, store = _open(db)
    with store:
        found = store.quarantined(1, ids=[record_id])
    if not found:
        raise _fail(f"no quarantined record {record_id}", 2)
    record = found[0]
    if as_json:
        typer.echo(json.dumps(_dump(record), indent=2, ensure_ascii=False))
        return
    for key in (
        "id",
        "status",
        "received_at",
        "source",
        "format",
        "facility_id",
        "record",
        "field",
        "reason",
        "resolved_at",
        "resolution",
    ):
        if record.get(key) is not None:
            typer.echo(f"{key:12} {record[key]}")
    typer.echo("raw" + (f" ({record['raw_encoding']})" if record.get("raw_encoding") else "") + ":")
    typer.echo(str(record["raw"]).replace("\r", "\n"))


@quarantine_app.command("retry")
def retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Quarantine ids.")] = None,
    all_open: Annotated[
        bool, typer.Option("--all", help="Every open record (with --source: of that source).")
    ] = False,
    source: Annotated[str | None, typer.Option(help="With --all: only this source.")] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(help="A corrected mapping (TOML) for rows of a mapped spreadsheet."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    db: DbOption = None,
) -> None:
    """Re-process records; those now accepted are marked resolved."""
    from rich.progress import track

    from epiradar.cli import _fail, _out, console
    from epiradar.ingest.mapping import Mapping, MappingError
    from epiradar.service import quarantine

    settings, store = _open(db)
    with store:
        chosen = list(ids or [])
        if all_open:
            chosen += [r["id"] for r in store.quarantined(None, source=source, status="open")]
        if not chosen:
            raise _fail("give quarantine ids, or --all", 2)
        loaded = None
        if mapping is not None:
            try:
                loaded = Mapping.from_toml(mapping)
            except (OSError, MappingError) as exc:
                raise _fail(f"--mapping {mapping}: {exc}", 2) from None
        results = []
        for chunk_start in track(
            range(0, len(chosen), 200), description="retry", console=console, transient=True
        ):
            results += quarantine.retry(
                store, settings, chosen[chunk_start : chunk_start + 200], mapping=loaded
            )
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in results], indent=2, ensure_ascii=False))
        return
    table = Table("id", "now", "detail")
    for r in results:
        table.add_row(str(r.id), r.status, r.detail)
    _out().print(table)
    resolved = sum(r.status == "resolved" for r in results)
    console.print(f"{resolved} of {len(results)} accepted")


@quarantine_app.command("discard")
def discard(
    ids: Annotated[list[int], typer.Argument(help="Quarantine ids.")],
    reason: Annotated[str, typer.Option(help="Why (kept with the record).")] = "discarded",
    db: DbOption = None,
) -> None:
    """Close records that will not be re-processed (kept, marked discarded)."""
    from epiradar.cli import console

    _, store = _open(db)
    with store:
        done = store.resolve_quarantine(ids, "discarded", reason)
    console.print(f"{done} record(s) discarded")
