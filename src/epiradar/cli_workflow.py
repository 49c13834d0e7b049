"""``epiradar alert ...``, ``epiradar investigation ...`` and ``epiradar timeliness``: the alert
workflow on the command line (thin calls into ``epiradar.service.workflow``)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from typing import Annotated, Any

import typer
from rich.table import Table

alert_app = typer.Typer(
    help="Alert workflow: move alerts through their states, timeline, snooze, mute, work queue.",
    no_args_is_help=True,
)
investigation_app = typer.Typer(
    help="Investigations: group alerts, hypotheses, tasks.", no_args_is_help=True
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: EPIRADAR_DB or sqlite:///./epiradar.db)."),
]


def _who(ctx: typer.Context, actor: str | None) -> str:
    """The command's ``--actor``, else the root's ``epiradar --actor`` (or ``EPIRADAR_ACTOR``),
    else the OS user name."""
    root = ctx.find_root().params.get("actor")
    if actor or root:
        return str(actor or root)
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return "anonymous"


ActorOption = Annotated[
    str | None,
    typer.Option("--actor", help="Who acts (default: epiradar --actor, else the OS user name)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]


def _open(db: str | None):
    from epiradar.cli import _settings, _store

    settings = _settings(db)
    return settings, _store(settings)


def _echo_json(value: Any) -> None:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _run(fn, *args, **kwargs):
    """Call a service function; its errors become one clear line and exit code 1."""
    from epiradar.cli import _fail
    from epiradar.model.workflow import WorkflowError

    try:
        return fn(*args, **kwargs)
    except (LookupError, WorkflowError, ValueError) as exc:
        raise _fail(str(exc.args[0]) if exc.args else str(exc)) from None


def _when(value: str, name: str) -> dt.datetime:
    from epiradar.cli import _fail

    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"--{name}: {value!r} is not a date or time (YYYY-MM-DD[THH:MM])") from None


@alert_app.command("transition")
def transition_command(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="Alert id.")],
    to: Annotated[
        str,
        typer.Argument(
            help="new state: verifying | discarded | monitoring | investigating | closed"
        ),
    ],
    note: Annotated[
        str | None, typer.Option("--verification-note", help="What verification found.")
    ] = None,
    likelihood: Annotated[
        str | None, typer.Option(help="low | moderate | high | very high")
    ] = None,
    impact: Annotated[str | None, typer.Option(help="low | moderate | high | very high")] = None,
    reason: Annotated[str | None, typer.Option("--closure-reason", help="Why it closes.")] = None,
    outcome: Annotated[
        str | None,
        typer.Option(help="confirmed outbreak | not an outbreak | data error"),
    ] = None,
    remark: Annotated[str | None, typer.Option("--note", help="A remark for the timeline.")] = None,
    investigation: Annotated[
        int | None,
        typer.Option(help="To investigating: join this investigation (default: a new one)."),
    ] = None,
    actor: ActorOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Move an alert to another state with the fields the move requires (docs/workflow.md)."""
    from pydantic import ValidationError

    from epiradar.cli import _fail
    from epiradar.model.workflow import TransitionRequest
    from epiradar.service import workflow as wf

    try:
        request = TransitionRequest(
            to=to,
            verification_note=note,
            likelihood=likelihood,
            impact=impact,
            closure_reason=reason,
            outcome=outcome,
            note=remark,
            investigation_id=investigation,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _fail(problems) from None
    _, store = _open(db)
    with store:
        flow = _run(wf.transition, store, alert_id, request, actor=_who(ctx, actor))
    if as_json:
        _echo_json(flow)
        return
    risk = f", risk {flow.risk}" if flow.risk else ""
    typer.echo(
        f"alert {alert_id}: {flow.status}{risk}; next: "
        f"{', '.join(flow.legal_targets) or 'none (final)'}"
    )


@alert_app.command("show")
def show_command(
    alert_id: Annotated[str, typer.Argument(help="Alert id.")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The alert's workflow state, 7-1-7 timers and timeline."""
    from epiradar.cli import _out
    from epiradar.service import workflow as wf

    settings, store = _open(db)
    with store:
        view = _run(wf.alert_workflow_view, store, alert_id, settings.workflow)
        flow, timers = view.workflow, view.timers
        entries = wf.timeline(store, alert_id)
    if as_json:
        _echo_json(
            {
                "workflow": flow.model_dump(mode="json"),
                "timers": timers.model_dump(mode="json"),
                "timeline": [e.model_dump(mode="json") for e in entries],
            }
        )
        return
    out = _out()
    out.print(
        f"[bold]alert {alert_id}[/]: {flow.status}"
        + (f", risk {flow.risk}" if flow.risk else "")
        + (" [red]OVERDUE[/]" if timers.overdue else ""),
        highlight=False,
    )
    out.print(f"next: {', '.join(flow.legal_targets) or 'none (final)'}", highlight=False)
    _print_timeline(entries)


def _print_timeline(entries) -> None:
    from epiradar.cli import _out

    table = Table("at", "actor", "action", "from", "to", "fields", title="timeline")
    for e in entries:
        table.add_row(
            e.at.isoformat(sep=" ", timespec="minutes"),
            e.actor,
            e.action,
            e.from_state or "",
            e.to_state or "",
            json.dumps(e.fields, ensure_ascii=False)[:80],
        )
    _out().print(table)


@alert_app.command("timeline")
def timeline_command(
    alert_id: Annotated[str, typer.Argument(help="Alert id.")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Every action on the alert and its investigations, oldest first."""
    from epiradar.service import workflow as wf

    _, store = _open(db)
    with store:
        entries = _run(wf.timeline, store, alert_id)
    if as_json:
        _echo_json(entries)
        return
    _print_timeline(entries)


@alert_app.command("snooze")
def snooze_command(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="Alert id.")],
    until: Annotated[str, typer.Option(help="When it comes back (YYYY-MM-DD[THH:MM]).")],
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Take an open alert out of the work queue until a time."""
    from epiradar.service import workflow as wf

    settings, store = _open(db)
    with store:
        flow = _run(
            wf.snooze,
            store,
            alert_id,
            _when(until, "until"),
            actor=_who(ctx, actor),
            reason=reason,
            settings=settings.workflow,
        )
    typer.echo(f"alert {alert_id} snoozed until {flow.snoozed_until}")


@alert_app.command("wake")
def wake_command(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="Alert id.")],
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """End an alert's snooze now."""
    from epiradar.service import workflow as wf

    _, store = _open(db)
    with store:
        _run(wf.wake, store, alert_id, actor=_who(ctx, actor))
    typer.echo(f"alert {alert_id} is back in the work queue")


@alert_app.command("mute")
def mute_command(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="Alert id of the known event.")],
    until: Annotated[str, typer.Option(help="When the mute expires (YYYY-MM-DD[THH:MM]).")],
    reason: Annotated[str, typer.Option(help="The known ongoing event.")],
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Mute a known ongoing event: alerts of its syndrome in its regions leave the queue."""
    from epiradar.service import workflow as wf

    settings, store = _open(db)
    with store:
        m = _run(
            wf.mute,
            store,
            alert_id,
            _when(until, "until"),
            reason,
            actor=_who(ctx, actor),
            settings=settings.workflow,
        )
    typer.echo(
        f"mute {m.id}: {m.syndrome} in {', '.join(m.region_ids) or 'the whole city'} until {m.until}"
    )


@alert_app.command("unmute")
def unmute_command(
    ctx: typer.Context,
    mute_id: Annotated[int, typer.Argument(help="Mute id.")],
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Lift a mute now."""
    from epiradar.service import workflow as wf

    _, store = _open(db)
    with store:
        _run(wf.lift_mute, store, mute_id, actor=_who(ctx, actor))
    typer.echo(f"mute {mute_id} lifted")


@alert_app.command("queue")
def queue_command(
    all_: Annotated[bool, typer.Option("--all", help="Also snoozed and muted alerts.")] = False,
    assignee: Annotated[str | None, typer.Option(help="Only this person's tasks.")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The work queue: open alerts, overdue first, and open tasks."""
    from epiradar.cli import _out
    from epiradar.service import workflow as wf

    settings, store = _open(db)
    with store:
        queue = wf.work_queue(store, settings.workflow, include_hidden=all_, assignee=assignee)
    if as_json:
        _echo_json(queue)
        return
    table = Table("alert", "syndrome", "regions", "status", "risk", "severity", "overdue", "hidden")
    for item in queue.alerts:
        a = item.alert
        table.add_row(
            a.id,
            a.syndrome,
            ",".join(a.region_ids) or "city",
            a.status,
            item.workflow.risk or "",
            a.severity,
            "yes" if item.overdue else "",
            item.hidden or "",
        )
    out = _out()
    out.print(table)
    tasks = Table("task", "investigation", "title", "assignee", "due", "overdue")
    for t in queue.tasks:
        tasks.add_row(
            str(t.id),
            str(t.investigation_id),
            t.title,
            t.assignee or "",
            t.due_date.isoformat() if t.due_date else "",
            "yes" if t.overdue else "",
        )
    out.print(tasks)
    if queue.hidden and not all_:
        out.print(f"{queue.hidden} snoozed or muted alerts not shown (--all shows them)")


# ---------------------------------------------------------------------------------------------
# investigations


@investigation_app.command("open")
def open_command(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="Title.")],
    alert: Annotated[list[str] | None, typer.Option("--alert", help="Alert id (repeat).")] = None,
    line_list_ref: Annotated[
        str | None, typer.Option(help="Where the case line list is kept.")
    ] = None,
    actor: ActorOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Open an investigation grouping alerts."""
    from epiradar.service import workflow as wf

    _, store = _open(db)
    with store:
        inv = _run(
            wf.create_investigation,
            store,
            title,
            actor=_who(ctx, actor),
            alert_ids=alert or [],
            line_list_ref=line_list_ref,
        )
    if as_json:
        _echo_json(inv)
        return
    typer.echo(f"investigation {inv.id}: {inv.title} ({', '.join(inv.alert_ids) or 'no alerts'})")


@investigation_app.command("show")
def show_investigation(
    investigation_id: Annotated[int, typer.Argument(help="Investigation id.")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """An investigation with its alerts, hypotheses and tasks."""
    from epiradar.cli import _out
    from epiradar.service import workflow as wf

    _, store = _open(db)
    with store:
        inv = _run(wf.investigation, store, investigation_id)
    if as_json:
        _echo_json(inv)
        return
    out = _out()
    out.print(f"[bold]investigation {inv.id}[/]: {inv.title} ({inv.status})", highlight=False)
    out.print(f"alerts: {', '.join(inv.alert_ids) or 'none'}", highlight=False)
    for h in inv.hypotheses:
        out.print(f"hypothesis {h.id}: {h.kind} {h.subject} ({h.status})", highlight=False)
    for t in inv.tasks:
        items = ", ".join(f"{c.item}{' ✓' if c.done else ''}" for c in t.checklist)
        out.print(
            f"task {t.id}: {t.title} [{t.status}] {t.assignee or ''} "
            f"{t.due_date or ''}{' OVERDUE' if t.overdue else ''} {items}",
            highlight=False,
        )


@investigation_app.command("task")
def task_command(
    ctx: typer.Context,
    investigation_id: Annotated[int, typer.Argument(help="Investigation id.")],
    title: Annotated[str, typer.Argument(help="What to do.")],
    assignee: Annotated[str | None, typer.Option(help="Who does it.")] = None,
    due: Annotated[str | None, typer.Option(help="Due date (YYYY-MM-DD).")] = None,
    item: Annotated[
        list[str] | None,
        typer.Option(
            "--item",
            help="Checklist item (repeat): sample collection | site inspection | "
            "contact tracing | closure of a place",
        ),
    ] = None,
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Add a task to an investigation."""
    from epiradar.cli import _parse_date
    from epiradar.service import workflow as wf

    _, store = _open(db)
    with store:
        t = _run(
            wf.add_task,
            store,
            investigation_id,
            title=title,
            assignee=assignee,
            due_date=_parse_date(due, "due"),
            checklist=item or [],
            actor=_who(ctx, actor),
        )
    typer.echo(f"task {t.id} added to investigation {investigation_id}")


@investigation_app.command("done")
def done_command(
    ctx: typer.Context,
    task_id: Annotated[int, typer.Argument(help="Task id.")],
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Tick every checklist item of a task and mark it done."""
    from epiradar.service import workflow as wf

    _, store = _open(db)
    with store:
        current = _run(wf.task, store, task_id)
        t = _run(
            wf.update_task,
            store,
            task_id,
            actor=_who(ctx, actor),
            checklist=[{"item": c.item, "done": True} for c in current.checklist],
            status="done",
        )
    typer.echo(f"task {t.id} done")


# ---------------------------------------------------------------------------------------------
# timeliness


def timeliness_command(
    start: Annotated[str, typer.Option(help="First day of first alarms (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option(help="Last day of first alarms (YYYY-MM-DD).")],
    period: Annotated[str, typer.Option(help="week | month")] = "month",
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Alerts against 7-1-7 (detect 7 days, notify 1, respond 7) per district and period."""
    from epiradar.cli import _out, _parse_date
    from epiradar.service import workflow as wf

    first, last = _parse_date(start, "start"), _parse_date(end, "end")
    settings, store = _open(db)
    with store:
        report = _run(
            wf.timeliness_report,
            store,
            settings.workflow,
            start=first,
            end=last,
            period=period,
        )
    if as_json:
        _echo_json(report)
        return
    table = Table(
        "period",
        "district",
        "alerts",
        "detect met",
        "notify met/late/overdue",
        "median notify h",
        "respond met/late/overdue",
        "median respond d",
        "stage overdue",
        title=f"timeliness {report.start} .. {report.end} (targets "
        f"{report.targets['detect_days']:g}-{report.targets['notify_days']:g}-"
        f"{report.targets['respond_days']:g} days)",
    )
    for r in [*report.rows, report.total]:
        table.add_row(
            r.period,
            r.district_name,
            str(r.alerts),
            f"{r.detect_met}/{r.alerts}",
            f"{r.notify_met}/{r.notify_late}/{r.notify_overdue}",
            "-" if r.notify_median_hours is None else f"{r.notify_median_hours:.1f}",
            f"{r.respond_met}/{r.respond_late}/{r.respond_overdue}",
            "-" if r.respond_median_days is None else f"{r.respond_median_days:.1f}",
            str(r.stage_overdue),
        )
    _out().print(table)
