"""``epiradar fhir``: FHIR Bulk Data export to NDJSON files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

fhir_app = typer.Typer(help="FHIR Bulk Data export to NDJSON files.", no_args_is_help=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: EPIRADAR_DB or sqlite:///./epiradar.db)."),
]


@fhir_app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Directory to write the NDJSON files to.")],
    types: Annotated[
        str,
        typer.Option(
            "--types",
            help="Comma-separated resource types: Patient,Encounter,Condition,Observation.",
        ),
    ] = "Patient,Encounter,Condition,Observation",
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only visits changed at or after this instant (FHIR _since)."),
    ] = None,
    districts: Annotated[
        str | None, typer.Option("--districts", help="Only residents of these region ids (R1,R2).")
    ] = None,
    facility: Annotated[
        str | None, typer.Option("--facility", help="Only the visits of this facility.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Write Patient, Encounter, Condition and Observation resources as NDJSON files (as the
    FHIR $export does) and record the export in the audit log."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from epiradar.cli import _fail, _out, _settings, _store
    from epiradar.service import audit
    from epiradar.service import fhir_api as service

    if districts is not None and facility is not None:
        raise _fail("give --districts or --facility, not both", 2)
    try:
        wanted = service.parse_types([types])
        if since is not None:
            service.parse_since(since)
    except service.FhirError as exc:
        raise _fail(exc.diagnostics, 2) from None
    region_ids = None
    if districts is not None:
        region_ids = tuple(d.strip() for d in districts.split(",") if d.strip())
        if not region_ids:
            raise _fail("--districts: give at least one region id", 2)
    scope = service.Scope(districts=region_ids, facility_id=facility)
    root = ctx.find_root().params.get("actor")
    actor = audit.clean_actor(root) if root else audit.cli_actor()
    settings = _settings(db)
    store = _store(settings)
    with store:
        known = {r.id for r in store.regions()}
        unknown = sorted(set(region_ids or ()) - known)
        if unknown:
            raise _fail(f"--districts: unknown region ids {', '.join(unknown)}", 2)
        if facility is not None and facility not in {f.id for f in store.facilities()}:
            raise _fail(f"--facility: unknown facility {facility!r}", 2)
        console = _out()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=not console.is_terminal,
        ) as bar:
            tasks: dict[str, int] = {}

            def progress(resource_type: str, done: int, of: int) -> bool:
                if resource_type not in tasks:
                    tasks[resource_type] = bar.add_task(resource_type, total=of)
                bar.update(tasks[resource_type], completed=done)
                return True

            written = service.export_to_directory(
                store,
                settings,
                types=wanted,
                scope=scope,
                since=since,
                out=out,
                actor=actor,
                progress=progress,
            )
    for w in written:
        console.print(f"{w.file}: {w.count:,} {w.type} (sha256 {w.sha256[:12]}…)", highlight=False)
    console.print(f"{len(written)} file(s) in {out}", highlight=False)
