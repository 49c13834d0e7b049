"""The ``epiradar`` command line. Each command is a thin call into ``epiradar.service``."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from epiradar.cli_audit import AuditedGroup
from epiradar.config import Settings, load_settings

app = typer.Typer(
    cls=AuditedGroup,  # --actor, and the audit log's record of each command
    help="epiradar: early warning of epidemics from fever clinics, with source tracing.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True, soft_wrap=True)  # messages stay on one line


@app.callback()
def _root(
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor",
            envvar="EPIRADAR_ACTOR",
            help="Who acts, as the audit log records it (default: the operating-system user).",
        ),
    ] = None,
) -> None:
    """epiradar: early warning of epidemics from fever clinics, with source tracing."""


def _out() -> Console:
    """Standard output; tables keep their columns readable when piped to a file."""
    return Console() if sys.stdout.isatty() else Console(width=160)


DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: EPIRADAR_DB or sqlite:///./epiradar.db)."),
]


def _settings(db: str | None, **overrides) -> Settings:
    return load_settings(db=db, **overrides)


def _store(settings: Settings):
    from epiradar.store import Store

    store = Store(settings.db)
    store.migrate()
    return store


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _parse_date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(f"--{name}: {value!r} is not a date (YYYY-MM-DD)") from None


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder for the city, visits and truth.")],
    scenario: Annotated[
        str, typer.Option(help="baseline | point-source | person-to-person | imported")
    ] = "point-source",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 0,
    days: Annotated[int, typer.Option(help="Days of visit history.")] = 730,
    end: Annotated[
        str | None, typer.Option(help="Last day (YYYY-MM-DD); default yesterday.")
    ] = None,
    regions: Annotated[int, typer.Option(help="Number of regions in the city.")] = 40,
    daily_visits: Annotated[float, typer.Option(help="Mean fever-clinic visits per day.")] = 500.0,
    outbreak_size: Annotated[int, typer.Option(help="Outbreak cases.")] = 80,
    outbreak_start: Annotated[
        str | None, typer.Option(help="Outbreak start; default end - 14 days.")
    ] = None,
    syndrome: Annotated[
        str | None, typer.Option(help="Outbreak syndrome (default per scenario).")
    ] = None,
    recall: Annotated[
        float, typer.Option(help="Probability a case reports the source place.")
    ] = 0.7,
    fmt: Annotated[str, typer.Option("--format", help="Visits file format: csv | jsonl.")] = "csv",
) -> None:
    """Generate a synthetic city with visit history and an outbreak with known ground truth."""
    from epiradar.sim.scenarios import simulate as run_simulation
    from epiradar.sim.writers import write_simulation

    try:
        with console.status(f"simulating {scenario} ({days} days, {regions} regions)"):
            sim = run_simulation(
                scenario,
                seed=seed,
                days=days,
                end_date=_parse_date(end, "end"),
                n_regions=regions,
                daily_visits=daily_visits,
                outbreak_size=outbreak_size,
                outbreak_start=_parse_date(outbreak_start, "outbreak-start"),
                syndrome=syndrome,
                recall=recall,
            )
            write_simulation(sim, out, fmt=fmt)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    truth = sim.truth
    console.print(
        f"wrote {len(sim.visits):,} visits, {len(sim.city.regions)} regions to {out}; "
        f"outbreak: {truth.get('scenario')} from {truth.get('start_date')}, "
        f"{len(truth.get('case_visit_ids', []))} cases"
    )


@app.command("load-city")
def load_city_command(
    directory: Annotated[
        Path,
        typer.Argument(
            help="Folder with regions.geojson, facilities.csv, places.csv, mobility.csv."
        ),
    ],
    db: DbOption = None,
) -> None:
    """Load (or replace) the city: regions, facilities, places and mobility."""
    from epiradar.service.city import load_city

    settings = _settings(db)
    try:
        summary = load_city(_store(settings), directory)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"loaded city: {summary}")


@app.command()
def ingest(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Visits files: canonical .csv / .jsonl, or with --mapping CSV or Excel tables."
        ),
    ] = None,
    db: DbOption = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping",
            help="TOML mapping of the tables' headers, formats and codes (docs/spreadsheets.md).",
        ),
    ] = None,
    infer: Annotated[
        Path | None,
        typer.Option(
            "--infer-mapping",
            help="Propose a mapping for this CSV / Excel file, print it (or -o) and stop.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="With --infer-mapping: write the mapping here."),
    ] = None,
) -> None:
    """Ingest visit files: validate, pseudonymise, classify, geocode, deduplicate."""
    from epiradar.ingest.mapping import Mapping, MappingError
    from epiradar.service.ingest import existing_store, infer_file_mapping, ingest_file

    settings = _settings(db)
    if infer is not None:
        if files:
            raise _fail("--infer-mapping reads one file and ingests nothing; drop FILES", 2)
        known = existing_store(settings)  # its hospital and district names, if any
        try:
            proposal = infer_file_mapping(infer, known)
        except (ValueError, OSError) as exc:
            raise _fail(str(exc), 2) from None
        finally:
            if known is not None:
                known.close()
        if output is None:
            typer.echo(proposal.to_toml(), nl=False)
        else:
            try:
                output.write_text(proposal.to_toml(), encoding="utf-8")
            except OSError as exc:
                raise _fail(str(exc)) from None
            console.print(f"wrote {output}", highlight=False)
        for note in proposal.notes:
            console.print(f"[yellow]check:[/] {note}", highlight=False)
        return
    if not files:
        raise _fail("no files given (epiradar ingest FILE..., or --infer-mapping FILE)", 2)
    table = None
    if mapping is not None:
        try:
            table = Mapping.from_toml(mapping)
        except MappingError as exc:
            raise _fail(str(exc), 2) from None
    store = _store(settings)
    accepted = 0
    mapping_failed = False
    for path in files:
        try:
            summary = ingest_file(store, path, settings, progress=progress, mapping=table)
        except MappingError as exc:
            mapping_failed = True
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            continue
        except (ValueError, OSError) as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            continue
        accepted += summary.accepted + summary.duplicates
        console.print(
            f"{path}: [green]{summary.accepted:,} accepted[/], {summary.duplicates:,} duplicates, "
            f"[{'red' if summary.rejected else 'green'}]{summary.rejected:,} rejected[/]"
            + (" (see quarantine)" if summary.rejected else ""),
            highlight=False,
        )
        if summary.rejected:
            _print_rejects(store, summary, path)
        if summary.rejected and not summary.accepted + summary.duplicates:
            console.print(f"[bold red]error:[/] {path}: every row was rejected")
    if mapping_failed:
        raise typer.Exit(2)
    if accepted == 0:
        raise typer.Exit(1)


MAX_REJECTS_SHOWN = 10


def _print_rejects(store, summary, path: Path) -> None:
    """One line per rejected record of this run: file, record, field and reason."""
    rejects = store.quarantined(MAX_REJECTS_SHOWN + 1, run_id=summary.run_id)[::-1]
    if not rejects:  # rejected again, already kept from an earlier run of the same file
        rejects = store.quarantined(MAX_REJECTS_SHOWN + 1, source=summary.source)[::-1]
    for q in rejects[:MAX_REJECTS_SHOWN]:
        field = f"{q['field']}: " if q["field"] else ""
        console.print(f"  {path}: row {q['record']}: {field}{q['reason']}", highlight=False)
    if summary.rejected > MAX_REJECTS_SHOWN:
        console.print(f"  ... and {summary.rejected - MAX_REJECTS_SHOWN:,} more in the quarantine")


def _alert_json(alert) -> dict:
    return json.loads(alert.model_dump_json(exclude={"status", "n_signals"}))


@app.command()
def detect(
    start: Annotated[
        str | None, typer.Option(help="First day to judge (default: 30 days before end).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Last day to judge (default: last day with data).")
    ] = None,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay",
            help="Rerun history (default: all of it) with the settings of --config beside the "
            "current ones and compare; stores nothing.",
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(help="With --replay: the TOML file of the proposed settings."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print alerts as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Replay detection day by day over a period (each day sees only data up to that day)."""
    from epiradar.service.detection import NoDataError, replay_detection, run_detection

    settings = _settings(db)
    if config is not None and not replay:
        raise _fail("--config goes with --replay (to run with other settings, set EPIRADAR_CONFIG)")
    try:
        first, last = _parse_date(start, "start"), _parse_date(end, "end")
        if replay:
            from epiradar.config import load_settings_file

            proposed = load_settings_file(config, db=db) if config else settings
            result = replay_detection(_store(settings), settings, proposed, start=first, end=last)
            alerts = result.proposed
        else:
            alerts = run_detection(_store(settings), settings, start=first, end=last)
    except (NoDataError, ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps([_alert_json(a) for a in alerts], indent=2, ensure_ascii=False))
        return
    if replay:
        _print_replay(result)
    table = Table(title=f"{len(alerts)} alerts" + (" (proposed settings)" if replay else ""))
    for col in (
        "id",
        "syndrome",
        "regions",
        "first alarm",
        "detector",
        "observed",
        "expected",
        "p",
        "severity",
    ):
        table.add_column(col)
    for a in sorted(alerts, key=lambda a: a.p_value)[:50]:
        table.add_row(
            a.id,
            a.syndrome,
            ",".join(a.region_ids) or "city",
            str(a.first_alarm_date),
            a.detector,
            f"{a.observed:.0f}",
            f"{a.expected:.1f}",
            f"{a.p_value:.1e}",
            a.severity,
        )
    _out().print(table)


def _print_replay(result) -> None:
    weekly = result.weekly()
    n_weeks = max(1, len(weekly))
    summary = Table(title=f"replay {result.start} .. {result.end}: alerts under each settings")
    for col in ("settings", "alerts", "per week", "busiest week", "high severity"):
        summary.add_column(col)
    for name, alerts in (("current", result.current), ("proposed", result.proposed)):
        summary.add_row(
            name,
            str(len(alerts)),
            f"{len(alerts) / n_weeks:.1f}",
            str(int(weekly[name].max()) if len(weekly) else 0),
            str(sum(a.severity == "high" for a in alerts)),
        )
    _out().print(summary)


@app.command()
def trace(
    alert_id: Annotated[str, typer.Argument(help="Alert id (see `epiradar detect`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print every analysis as JSON.")] = False,
    top: Annotated[int, typer.Option(help="Show this many rows of each ranking.")] = 10,
    db: DbOption = None,
) -> None:
    """Run every analysis the alert's data supports: exposure table, point-source sites, origin
    on the mobility network, transmission chains and Rt; each says what it used and how sure
    it is, or why it was skipped."""
    from epiradar.service.tracing import UnknownAlertError, trace_alert

    settings = _settings(db)
    store = _store(settings)
    try:
        with console.status(f"tracing alert {alert_id}") as status:
            result = trace_alert(
                store,
                alert_id,
                settings,
                progress=lambda name: status.update(
                    f"tracing alert {alert_id}: {_TRACE_TITLES[name].lower()}"
                ),
            )
    except UnknownAlertError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    out = _out()
    out.print(
        f"[bold]alert {alert_id}[/]: {result.n_cases} cases, {result.n_controls} controls",
        highlight=False,
    )
    for name in ("exposures", "sites", "origins", "chains", "rt"):
        analysis = getattr(result, name)
        _print_analysis_head(out, _TRACE_TITLES[name], analysis)
        if analysis.status != "done":
            continue
        table = _TRACE_TABLES[name](result, top)
        if table is not None:
            out.print(table)


_TRACE_TITLES = {
    "exposures": "Exposure table",
    "sites": "Candidate sites",
    "origins": "Origin on the mobility network",
    "chains": "Transmission chains",
    "rt": "Reproduction number (Rt)",
}


def _print_analysis_head(out: Console, title: str, analysis) -> None:
    out.print()
    if analysis.status != "done":
        out.print(f"[bold]{title}[/]: [yellow]skipped[/] - {analysis.reason}", highlight=False)
        if analysis.data:
            out.print(f"  data: {analysis.data}", highlight=False)
        return
    out.print(f"[bold]{title}[/] [dim]({analysis.method})[/]", highlight=False)
    out.print(f"  data: {analysis.data}", highlight=False)
    if analysis.certainty:
        out.print(f"  how sure: {analysis.certainty}", highlight=False)


def _exposure_table(result, top: int) -> Table:
    table = Table()
    for col in ("rank", "place", "cases exp.", "controls exp.", "OR (95% CI)", "p", "q"):
        table.add_column(col)
    for s in result.sources[:top]:
        table.add_row(
            str(s.rank),
            f"{s.name} ({s.id})",
            f"{s.cases_exposed}/{s.cases_total}",
            f"{s.controls_exposed}/{s.controls_total}",
            f"{s.odds_ratio:.1f} ({s.ci_low:.1f}-{s.ci_high:.1f})",
            f"{s.p_value:.1e}",
            f"{s.q_value:.1e}",
        )
    return table


def _site_table(result, top: int) -> Table:
    table = Table()
    for col in ("rank", "site", "kind", "score", "probability", "hit score", "profile rank"):
        table.add_column(col)
    for s in result.sites.sites[:top]:
        table.add_row(
            str(s.rank),
            f"{s.name} ({s.id})",
            s.place_kind or "-",
            f"{s.score:.2f}",
            "-" if s.probability is None else f"{s.probability:.1%}",
            "-" if s.hit_score is None else f"{s.hit_score:.3f}",
            "-" if s.profile_rank is None else str(s.profile_rank),
        )
    return table


def _origin_table(result, top: int) -> Table:
    table = Table()
    for col in ("rank", "region", "correlation", "reached", "cases", "Jordan", "rumor"):
        table.add_column(col)
    for o in result.origins.origins[:top]:
        table.add_row(
            str(o.rank),
            f"{o.name} ({o.region_id})",
            f"{o.score:.2f}",
            o.arrival.isoformat() if o.arrival else "-",
            str(o.cases),
            "-" if o.jordan_rank is None else str(o.jordan_rank),
            "-" if o.rumor_rank is None else str(o.rumor_rank),
        )
    return table


def _chain_table(result, top: int) -> Table:
    cases = result.chains.cases
    shown = sorted(cases, key=lambda c: -(c.expected_offspring or 0.0))[:top]
    table = Table(title=f"{len(cases)} cases; the {len(shown)} with most expected infectees")
    for col in ("case", "onset", "generation", "infector", "probability", "exp. infectees"):
        table.add_column(col)
    for c in shown:
        table.add_row(
            c.case_id + (" *" if c.superspreader else ""),
            c.onset.isoformat() + (" (est.)" if c.onset_imputed else ""),
            str(c.generation),
            c.infector_id or "outside the data",
            f"{c.probability:.0%}",
            "-" if c.expected_offspring is None else f"{c.expected_offspring:.2f}",
        )
    return table


def _rt_table(result, top: int) -> Table:
    points = result.rt.points[-top:]
    table = Table(title=f"the last {len(points)} of {len(result.rt.points)} windows")
    for col in ("window", "cases", "Rt mean", "95% CrI"):
        table.add_column(col)
    for p in points:
        table.add_row(
            f"{p.start.isoformat()} .. {p.date.isoformat()}",
            str(p.cases),
            f"{p.mean:.2f}",
            f"{p.q025:.2f}-{p.q975:.2f}",
        )
    return table


_TRACE_TABLES = {
    "exposures": _exposure_table,
    "sites": _site_table,
    "origins": _origin_table,
    "chains": _chain_table,
    "rt": _rt_table,
}


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    mllp_port: Annotated[
        int | None,
        typer.Option(
            "--mllp-port", help="Also listen for HL7 v2 over MLLP on this port (e.g. 2575)."
        ),
    ] = None,
) -> None:
    """Serve the dashboard, the JSON API and HTTP ingest; with --mllp-port also MLLP."""
    from epiradar.web.app import serve as serve_app

    settings = _settings(db, host=host, port=port, mllp_port=mllp_port)
    _store(settings).close()
    console.print(f"epiradar dashboard: [bold]http://{settings.host}:{settings.port}[/]")
    if settings.mllp_port is not None:
        console.print(f"HL7 v2 over MLLP: [bold]{settings.host}:{settings.mllp_port}[/]")
    serve_app(settings)


@app.command()
def demo(
    db: DbOption = None,
    data_dir: Annotated[
        Path, typer.Option("--data", help="Where to write the simulated city.")
    ] = Path("demo-data"),
    seed: Annotated[int, typer.Option(help="Random seed of the simulated city.")] = 2003,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the dashboard afterwards.")
    ] = True,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Simulate a city with a hidden outbreak, run the whole job on it and serve the dashboard.

    Without --db the demo keeps its own SQLite database inside the data folder and starts it
    afresh on every run, so it never mixes with real data.
    """
    from epiradar.service.demo import run_demo

    if db is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        for old in data_dir.glob("epiradar.db*"):
            old.unlink()
        db = f"sqlite:///{(data_dir / 'epiradar.db').resolve()}"
    settings = _settings(db, host=host, port=port)
    store = _store(settings)
    result = run_demo(store, settings, data_dir, seed=seed)
    console.print(
        f"{result.ingest.accepted:,} visits ingested, {len(result.alerts)} alerts "
        f"({sum(a.severity == 'high' for a in result.alerts)} high)"
    )
    if result.top_trace and result.top_trace.sources:
        best = result.top_trace.sources[0]
        console.print(
            f"strongest alert {result.top_trace.alert_id}: most likely source "
            f"[bold]{best.name}[/] ({best.id}), OR {best.odds_ratio:.1f}, q {best.q_value:.1e}"
        )
    console.print(
        f"{result.capacity_reports} capacity reports; weekly bulletin {result.bulletin_id} "
        "published on /public/bulletins"
    )
    _demo_admin(store, settings)
    if serve_after:
        url = f"http://{settings.host}:{settings.port}"
        console.print(f"epiradar dashboard: [bold]{url}[/]  (Ctrl+C to stop)")
        from epiradar.web.app import serve as serve_app

        serve_app(settings)


def _demo_admin(store, settings: Settings) -> None:
    """The demo's administrator ``admin`` with a fresh random password, printed once."""
    from epiradar.service import auth

    password = auth.random_password()
    if store.auth.user_by_name("admin") is None:
        auth.add_user(store, "admin", password, "administrator", settings=settings.auth)
    else:
        auth.set_password(store, "admin", password, settings=settings.auth)
    console.print(f"log in as [bold]admin[/] with password [bold]{password}[/]")


def _register_groups() -> None:
    from epiradar.cli_audit import audit_app
    from epiradar.cli_auth import tokens_app, users_app
    from epiradar.cli_bulletin import bulletin_app
    from epiradar.cli_capacity import capacity_app
    from epiradar.cli_export import export_app
    from epiradar.cli_facility import facility_app
    from epiradar.cli_feeds import feeds_app
    from epiradar.cli_fhir import fhir_app
    from epiradar.cli_notify import notify_app
    from epiradar.cli_public import public_app
    from epiradar.cli_quarantine import quarantine_app
    from epiradar.cli_workflow import alert_app, investigation_app, timeliness_command

    app.add_typer(facility_app, name="facility")
    app.add_typer(audit_app, name="audit")
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(quarantine_app, name="quarantine")
    app.add_typer(feeds_app, name="feeds")
    app.add_typer(notify_app, name="notify")
    app.add_typer(alert_app, name="alert")
    app.add_typer(investigation_app, name="investigation")
    app.command("timeliness")(timeliness_command)
    app.add_typer(fhir_app, name="fhir")
    app.add_typer(export_app, name="export")
    app.add_typer(public_app, name="public")
    app.add_typer(bulletin_app, name="bulletin")
    app.add_typer(capacity_app, name="capacity")


_register_groups()


def main() -> None:  # pragma: no cover
    sys.exit(app())
