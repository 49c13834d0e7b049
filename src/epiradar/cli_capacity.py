"""``epiradar capacity``: Facility capacity: report, list, forecast, nearest clinic.

Registered in ``cli.py``; the shared helpers of ``cli.py`` are imported inside the commands, so
that the two modules do not import each other at load time (docs/capacity.md).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

capacity_app = typer.Typer(
    help="Facility capacity: report, list, forecast, nearest clinic.", no_args_is_help=True
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: EPIRADAR_DB or sqlite:///./epiradar.db)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Count = Annotated[int | None, typer.Option(min=0)]


def _num(value: float | int | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


@capacity_app.command("report")
def report(
    ctx: typer.Context,
    facility: Annotated[str, typer.Option("--facility", help="Facility id.")],
    rooms: Annotated[int, typer.Option("--rooms", min=0, help="Open fever-clinic rooms.")],
    beds_total: Annotated[int | None, typer.Option("--beds-total", min=0)] = None,
    beds_free: Annotated[int | None, typer.Option("--beds-free", min=0)] = None,
    icu_total: Annotated[int | None, typer.Option("--icu-total", min=0)] = None,
    icu_free: Annotated[int | None, typer.Option("--icu-free", min=0)] = None,
    staff: Annotated[int | None, typer.Option("--staff", min=0, help="Staff on duty.")] = None,
    test_kits: Annotated[int | None, typer.Option("--test-kits", min=0)] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="When the counts held (ISO 8601, UTC); default now.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Record a facility's capacity (as an administrator of this installation; the report is
    by the root's ``--actor``, else the operating-system user)."""
    from epiradar.cli import _fail, _settings, _store
    from epiradar.service import audit, capacity
    from epiradar.service.auth import Principal

    settings = _settings(db)
    actor = ctx.find_root().params.get("actor")
    who = Principal(kind="user", name=actor or audit.cli_actor(), role="administrator")
    data = {
        "facility_id": facility,
        "reported_at": at,
        "fever_clinic_rooms": rooms,
        "beds_total": beds_total,
        "beds_free": beds_free,
        "icu_total": icu_total,
        "icu_free": icu_free,
        "staff_on_duty": staff,
        "test_kits": test_kits,
    }
    try:
        saved = capacity.submit_report(_store(settings), data, who, source="cli")
    except capacity.CapacityError as exc:
        raise _fail(f"report refused: {exc}") from None
    typer.echo(
        f"report {saved['id']} stored for {saved['facility_id']} at {saved['reported_at']} UTC"
    )


@capacity_app.command("list")
def list_capacity(as_json: JsonOption = False, db: DbOption = None) -> None:
    """The latest report of every fever clinic (and reporting facility), stale ones flagged."""
    from epiradar.cli import _out, _settings, _store
    from epiradar.service.capacity import capacity_overview

    settings = _settings(db)
    overview = capacity_overview(_store(settings), settings)
    if as_json:
        typer.echo(overview.model_dump_json(indent=2))
        return
    table = Table(
        title=f"{len(overview.facilities)} facilities; stale after {overview.stale_hours:g} h"
    )
    for col in ("facility", "district", "status", "age h", "rooms", "beds free", "icu free"):
        table.add_column(col, justify="right" if col in ("age h", "rooms") else "left")
    table.add_column("staff", justify="right")
    table.add_column("kits", justify="right")
    table.add_column("can take patients")
    styles = {"fresh": "green", "stale": "yellow", "never": "dim"}
    for f in overview.facilities:
        table.add_row(
            f"{f.facility_id} {f.name}",
            f.district_id or "–",
            f"[{styles[f.status]}]{f.status}[/]",
            _num(f.age_hours, 1),
            _num(f.fever_clinic_rooms),
            f"{_num(f.beds_free)}/{_num(f.beds_total)}",
            f"{_num(f.icu_free)}/{_num(f.icu_total)}",
            _num(f.staff_on_duty),
            _num(f.test_kits),
            "yes" if f.reason is None else f"no: {f.reason}",
        )
    _out().print(table)


@capacity_app.command("forecast")
def forecast(
    syndrome: Annotated[
        list[str] | None, typer.Option("--syndrome", help="Syndromes of the demand (repeat).")
    ] = None,
    horizon: Annotated[int | None, typer.Option("--horizon", min=7, max=14)] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Demand forecast per district against capacity, with the districts warned."""
    from epiradar.cli import _fail, _out, _settings, _store
    from epiradar.model import Syndrome
    from epiradar.service.capacity import forecast_capacity

    settings = _settings(db)
    try:
        chosen = [Syndrome(s) for s in syndrome] if syndrome else None
    except ValueError as exc:
        raise _fail(f"--syndrome: {exc}") from None
    result = forecast_capacity(_store(settings), settings, syndromes=chosen, horizon=horizon)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    table = Table(
        title=(
            f"Demand ({', '.join(s.value for s in result.syndromes)}) after "
            f"{result.last_data_date}, {result.horizon} days"
        )
    )
    for col in ("district", "method", "Rt (90%)", "last 7 d", "day 1", "last day (90%)"):
        table.add_column(col, justify="left" if col in ("district", "method") else "right")
    for col in ("capacity/day", "beds free", "over from", "warning"):
        table.add_column(col, justify="right" if col != "warning" else "left")
    for d in result.districts:
        last = d.days[-1]
        rt = (
            f"{d.rt_mean:.2f} ({d.rt_lower:.2f}-{d.rt_upper:.2f})" if d.rt_mean is not None else "–"
        )
        over = d.exceeds_on or d.beds_exceed_on
        flag = "[bold red]over[/]" if d.warning else "[yellow]watch[/]" if d.watch else ""
        table.add_row(
            d.district_id,
            d.method,
            rt,
            _num(sum(p.count for p in d.history[-7:])),
            _num(d.days[0].median),
            f"{_num(last.median)} ({_num(last.lower)}-{_num(last.upper)})",
            _num(d.visit_capacity),
            _num(d.beds_free),
            str(over) if over else "–",
            flag,
        )
    _out().print(table)


@capacity_app.command("nearest")
def nearest(
    lat: Annotated[float | None, typer.Option("--lat", min=-90, max=90)] = None,
    lon: Annotated[float | None, typer.Option("--lon", min=-180, max=180)] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="From a region's centroid.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, max=50)] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The nearest fever clinics with capacity from a point or a region."""
    from epiradar.cli import _fail, _out, _settings, _store
    from epiradar.service.capacity import UnknownRegion, nearest_clinics

    settings = _settings(db)
    if region is None and (lat is None or lon is None):
        raise _fail("give --lat and --lon, or --region")
    try:
        found = nearest_clinics(
            _store(settings), settings, lat=lat, lon=lon, region_id=region, limit=limit
        )
    except (UnknownRegion, ValueError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(found.model_dump_json(indent=2))
        return
    table = Table(title=f"Nearest fever clinics from {found.origin_lat}, {found.origin_lon}")
    for col in ("#", "clinic", "km by road", "rooms", "beds free", "report age h", "capacity"):
        table.add_column(col, justify="left" if col in ("clinic", "capacity") else "right")
    for c in found.clinics:
        table.add_row(
            str(c.rank),
            f"{c.facility_id} {c.name}",
            f"{c.travel_km:.1f}",
            _num(c.free_rooms),
            _num(c.free_beds),
            _num(c.report_age_hours, 1),
            "yes" if c.has_capacity else f"no: {c.reason}",
        )
    _out().print(table)
