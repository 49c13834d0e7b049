"""``epiradar export``: de-identified, k-anonymous line lists (docs/line-list-export.md).

Registered in ``cli.py`` as ``app.add_typer(export_app, name="export")``; the shared helpers of
``cli.py`` are imported inside the commands, so that the two modules do not import each other
at load time. ``export line-list`` is recorded twice in the audit log: by ``AuditedGroup`` (the
command) and by ``service.exports`` (what was released, with the file's SHA-256).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

export_app = typer.Typer(help="De-identified line-list exports.", no_args_is_help=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: EPIRADAR_DB or sqlite:///./epiradar.db)."),
]
StartOption = Annotated[
    str | None, typer.Option("--start", help="First visit date (YYYY-MM-DD; default: all).")
]
EndOption = Annotated[
    str | None, typer.Option("--end", help="Last visit date (YYYY-MM-DD; default: all).")
]
SyndromeOption = Annotated[
    str | None, typer.Option("--syndrome", help="Only visits with this syndrome.")
]
DistrictsOption = Annotated[
    list[str] | None,
    typer.Option("--districts", help="Only residents of these districts (repeat or a,b)."),
]
KOption = Annotated[int | None, typer.Option("--k", help="k of k-anonymity (default [export] k).")]
SuppressionOption = Annotated[
    float | None,
    typer.Option("--max-suppression", help="Share of visits that may be suppressed (0-1)."),
]
QiOption = Annotated[
    list[str] | None,
    typer.Option(
        "--qi", help="Quasi-identifiers to release: age sex visit onset district facility."
    ),
]
PseudonymOption = Annotated[
    bool | None,
    typer.Option(
        "--pseudonyms/--no-pseudonyms", help="A per-file patient pseudonym (salted HMAC)."
    ),
]


def _query(**given: Any):
    """The export query, or exit 2 naming the bad option."""
    from epiradar.cli import _fail
    from epiradar.service.exports import ExportQuery

    try:
        return ExportQuery.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in exc.errors()
        )
        raise _fail(problems, 2) from None


def _print_report(report) -> None:
    from epiradar.cli import _out, console

    a = report.anonymity
    table = Table(title="k-anonymity report", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    filters = report.filters
    table.add_row("period", f"{filters['start'] or '–'} – {filters['end'] or '–'}")
    table.add_row("syndrome", filters["syndrome"] or "all")
    table.add_row("districts", ", ".join(filters["districts"] or []) or "all")
    table.add_row("k requested / achieved", f"{a.k_requested} / {a.k_achieved or '–'}")
    table.add_row("levels", ", ".join(f"{q} {lvl}" for q, lvl in a.levels.items()) or "–")
    table.add_row("visits read", f"{a.records_in:,}")
    table.add_row("released", f"{a.records_released:,}")
    table.add_row(
        "suppressed",
        f"{a.records_suppressed:,} ({a.suppressed_share:.1%}; limit {a.max_suppression:.1%})",
    )
    table.add_row("classes", f"{a.classes:,}")
    table.add_row("syndrome l-diversity", str(a.l_diversity) if a.l_diversity else "–")
    table.add_row("columns", ", ".join(report.columns))
    _out().print(table)
    if not a.releasable:
        console.print(f"[bold red]not releasable:[/] {a.reason}", highlight=False)


@export_app.command("report")
def report_command(
    start: StartOption = None,
    end: EndOption = None,
    syndrome: SyndromeOption = None,
    districts: DistrictsOption = None,
    k: KOption = None,
    max_suppression: SuppressionOption = None,
    qi: QiOption = None,
    pseudonyms: PseudonymOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """The k-anonymity report of an export (counts only, no rows); exit 2 when not releasable."""
    from epiradar.cli import _fail, _settings, _store
    from epiradar.service import exports

    query = _query(
        start=start,
        end=end,
        syndrome=syndrome,
        districts=districts,
        k=k,
        max_suppression=max_suppression,
        qi=qi,
        pseudonyms=pseudonyms,
    )
    settings = _settings(db)
    try:
        found = exports.report(_store(settings), settings.export, query)
    except exports.ExportError as exc:
        raise _fail(str(exc), 2) from None
    if as_json:
        typer.echo(found.model_dump_json(indent=2))
    else:
        _print_report(found)
    if not found.anonymity.releasable:
        raise typer.Exit(2)


@export_app.command("line-list")
def line_list_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="The file to write (.csv or .parquet).")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv or parquet (default: from the file's suffix)."),
    ] = None,
    start: StartOption = None,
    end: EndOption = None,
    syndrome: SyndromeOption = None,
    districts: DistrictsOption = None,
    k: KOption = None,
    max_suppression: SuppressionOption = None,
    qi: QiOption = None,
    pseudonyms: PseudonymOption = None,
    db: DbOption = None,
) -> None:
    """Write a de-identified, k-anonymous line list after printing its report; refused (exit 2,
    nothing written) when k cannot be reached within the suppression limit."""
    from epiradar.cli import _fail, _settings, _store, console
    from epiradar.service import audit, exports

    chosen = fmt or {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(out.suffix.lower())
    if chosen not in ("csv", "parquet"):
        raise _fail(f"--format: give csv or parquet (the suffix of {out.name} says neither)", 2)
    query = _query(
        start=start,
        end=end,
        syndrome=syndrome,
        districts=districts,
        k=k,
        max_suppression=max_suppression,
        qi=qi,
        pseudonyms=pseudonyms,
    )
    settings = _settings(db)
    store = _store(settings)
    actor = ctx.find_root().params.get("actor") or audit.cli_actor()
    try:
        file = exports.export_line_list(
            store,
            settings.export,
            query,
            chosen,  # type: ignore[arg-type]
            actor=actor,
            channel="cli",
            remote_addr=audit.cli_host(),
        )
    except exports.ExportError as exc:
        if exc.field == "k":  # k not reachable: the report says why
            _print_report(exports.report(store, settings.export, query))
            raise typer.Exit(2) from None
        raise _fail(str(exc), 2) from None
    _print_report(file.report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(file.content)
    console.print(
        f"wrote {out} ({file.report.anonymity.records_released:,} rows, {chosen}, "
        f"sha256 {file.sha256})",
        highlight=False,
    )
