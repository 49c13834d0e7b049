"""``epiradar audit``: verify, list and export the audit log; and :class:`AuditedGroup`, the
command line's one place of recording.

Registered in ``cli.py`` (``app = typer.Typer(cls=AuditedGroup, ...)`` and
``app.add_typer(audit_app, name="audit")``); the shared helpers of ``cli.py`` are imported
inside the commands, so that the two modules do not import each other at load time.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table
from typer._click.exceptions import UsageError
from typer.core import TyperGroup
from typer.exceptions import TyperException

audit_app = typer.Typer(
    help="The audit log: verify its hash chain, list entries, export FHIR AuditEvent.",
    no_args_is_help=True,
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: EPIRADAR_DB or sqlite:///./epiradar.db)."),
]


# ---------------------------------------------------------------------------------------------
# recording


@dataclass(frozen=True)
class Audited:
    """How a command is recorded: action, object type, the parameter naming the object."""

    action: str
    object_type: str | None = None
    object_param: str | None = None
    skip: Callable[[Mapping[str, Any]], bool] | None = None  # True: this call is not recorded


COMMANDS: dict[tuple[str, ...], Audited] = {
    # writes
    ("ingest",): Audited(
        "ingest.file.create", "ingest", "files", lambda p: p.get("infer") is not None
    ),
    ("load-city",): Audited("city.load", "city", "directory"),
    ("detect",): Audited("detection.run", "alert", None, lambda p: bool(p.get("replay"))),
    ("quarantine", "retry"): Audited("quarantine.retry", "quarantine", "ids"),
    ("quarantine", "discard"): Audited("quarantine.discard", "quarantine", "ids"),
    ("facility", "token", "create"): Audited("facility_token.create", "facility", "facility"),
    ("facility", "token", "revoke"): Audited("facility_token.revoke", "facility_token", "token_id"),
    ("feeds", "check"): Audited("feeds.check", "feeds"),
    ("alert", "transition"): Audited("alert.transition", "alert", "alert_id"),
    ("alert", "snooze"): Audited("alert.snooze", "alert", "alert_id"),
    ("alert", "wake"): Audited("alert.wake", "alert", "alert_id"),
    ("alert", "mute"): Audited("alert.mute", "alert", "alert_id"),
    ("alert", "unmute"): Audited("mute.delete", "mute", "mute_id"),
    ("investigation", "open"): Audited("investigation.create", "investigation", "title"),
    ("investigation", "task"): Audited("task.create", "investigation", "investigation_id"),
    ("investigation", "done"): Audited("task.update", "task", "task_id"),
    ("notify", "send-pending"): Audited("notification.send", "notification"),
    ("notify", "digest"): Audited("notification.digest", "notification", "date"),
    ("notify", "escalate"): Audited("notification.escalate", "notification"),
    ("notify", "subscribers", "add"): Audited("subscriber.create", "subscriber", "name"),
    ("notify", "subscribers", "subscribe"): Audited("subscription.create", "subscriber", "name"),
    ("notify", "subscribers", "remove"): Audited("subscriber.delete", "subscriber", "name"),
    ("users", "add"): Audited("user.create", "user", "username"),
    ("users", "disable"): Audited("user.disable", "user", "username"),
    ("users", "enable"): Audited("user.enable", "user", "username"),
    ("users", "set-role"): Audited("user.update", "user", "username"),
    ("users", "set-password"): Audited("user.password", "user", "username"),
    ("tokens", "create"): Audited("api_token.create", "api_token", "name"),
    ("tokens", "revoke"): Audited("api_token.revoke", "api_token", "token_id"),
    # reads of person-level data, and exports
    ("trace",): Audited("alert.trace.read", "alert", "alert_id"),
    ("quarantine", "list"): Audited("quarantine.list.read", "quarantine"),
    ("quarantine", "show"): Audited("quarantine.record.read", "quarantine", "record_id"),
    ("audit", "export"): Audited("audit_log.export", "audit_log"),
    ("fhir", "export"): Audited("fhir.bulk.export", "fhir_bulk"),
    ("export", "line-list"): Audited("export.line_list", "line_list"),
    # bulletins and capacity (writes)
    ("bulletin", "generate"): Audited("bulletin.create", "bulletin"),
    ("bulletin", "approve"): Audited("bulletin.approve", "bulletin", "bulletin_id"),
    ("bulletin", "reject"): Audited("bulletin.reject", "bulletin", "bulletin_id"),
    ("capacity", "report"): Audited("capacity.report", "facility", "facility"),
}
"""The recorded commands. A new command that writes or shows person-level data goes here."""

UNRECORDED: frozenset[tuple[str, ...]] = frozenset(
    {
        ("simulate",),  # writes files, not the database
        ("serve",),  # the web layer records its own calls
        ("demo",),  # a throw-away database of simulated people
        ("timeliness",),
        ("facility", "token", "list"),
        ("audit", "verify"),
        ("audit", "list"),
        ("feeds", "status"),
        ("feeds", "alerts"),
        ("notify", "log"),
        ("notify", "subscribers", "list"),
        ("alert", "show"),
        ("alert", "timeline"),
        ("alert", "queue"),
        ("investigation", "show"),
        ("users", "list"),  # staff accounts, no patient data
        ("tokens", "list"),
        ("export", "report"),  # the k-anonymity report: counts, no rows
        ("public", "aggregates"),  # suppressed aggregates
        ("bulletin", "list"),
        ("bulletin", "show"),
        ("bulletin", "render"),  # writes a bulletin's HTML or PDF (aggregates) to a file
        ("capacity", "list"),
        ("capacity", "forecast"),
        ("capacity", "nearest"),
    }
)
"""Commands that neither write nor show person-level data (a test keeps every command in one
of the two tables)."""

SECRET_PARAMS = frozenset({"secret", "password", "token", "pseudonym_key"})
"""Parameters whose values are never recorded."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _object_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or None
    return str(value)


class AuditedGroup(TyperGroup):
    """The root command group: records each command of :data:`COMMANDS` in the audit log
    after it ran, with its exit status and the root's ``--actor``."""

    def _leaf(self, ctx: Any, args: list[str]) -> tuple[tuple[str, ...], dict] | None:
        """The command path and parameters ``args`` will run, parsed leniently beforehand."""
        path: list[str] = []
        cmd: Any = self
        parent = ctx
        params: dict[str, Any] = {}
        try:
            while isinstance(cmd, TyperGroup):
                if not args:
                    return None
                name, sub, args = cmd.resolve_command(parent, args)
                if sub is None or name is None:
                    return None
                path.append(name)
                sub_ctx = sub.make_context(name, list(args), parent=parent, resilient_parsing=True)
                params = dict(sub_ctx.params)
                args = [*sub_ctx._protected_args, *sub_ctx.args]
                cmd, parent = sub, sub_ctx
        except (TyperException, typer.Exit, typer.Abort):
            return None
        return tuple(path), params

    def invoke(self, ctx: Any) -> Any:
        actor = ctx.params.get("actor")
        leaf = self._leaf(ctx, [*ctx._protected_args, *ctx.args])
        spec = COMMANDS.get(leaf[0]) if leaf else None
        if spec is None or leaf is None or (spec.skip and spec.skip(leaf[1])):
            return super().invoke(ctx)
        code = 1
        ran = True
        try:
            result = super().invoke(ctx)
            code = 0
            return result
        except typer.Exit as exc:
            code = exc.exit_code
            raise
        except UsageError:
            ran = False  # refused before it ran
            raise
        except TyperException as exc:
            code = exc.exit_code
            raise
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
            raise
        finally:
            if ran:  # the root's --actor, else a command's own --actor
                _record(spec, leaf[0], leaf[1], actor or leaf[1].get("actor"), code)


def _record(
    spec: Audited, path: tuple[str, ...], params: Mapping[str, Any], actor: str | None, code: int
) -> None:
    """Append the command's entry; a log that cannot be written fails the command."""
    from epiradar.cli import console
    from epiradar.config import load_settings
    from epiradar.service import audit
    from epiradar.store import Store

    try:
        store = Store.open_existing(load_settings(db=params.get("db")).db)
        if store is None:  # the command stopped before it made a database: nothing to record
            return
        with store:
            store.migrate()
            audit.record(
                store,
                actor or audit.cli_actor(),
                spec.action,
                channel="cli",
                object_type=spec.object_type,
                object_id=_object_id(params.get(spec.object_param)) if spec.object_param else None,
                detail={
                    "command": " ".join(path),
                    "exit_code": code,
                    "params": {
                        k: "***" if k in SECRET_PARAMS else _jsonable(v)
                        for k, v in params.items()
                        if k not in ("db", "actor") and v is not None
                    },
                },
                remote_addr=audit.cli_host(),
            )
    except Exception as exc:  # noqa: BLE001 - any failure to record is reported and fails
        console.print(f"[bold red]error:[/] the audit log could not be written: {exc}")
        sys.exit(1)


# ---------------------------------------------------------------------------------------------
# commands


def _filters(by, action, object_type, object_id, since, until):
    from epiradar.store.audit import AuditFilter

    return AuditFilter(
        actor=by,
        action=action,
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
    )


ByOption = Annotated[str | None, typer.Option("--by", help="Only this actor.")]
ActionOption = Annotated[
    str | None, typer.Option(help="Only this action; a trailing * matches a prefix (alert.*).")
]
TypeOption = Annotated[str | None, typer.Option("--object-type", help="Only this object type.")]
IdOption = Annotated[str | None, typer.Option("--object-id", help="Only this object id.")]
SinceOption = Annotated[
    str | None, typer.Option(help="From this UTC date or time (ISO 8601), inclusive.")
]
UntilOption = Annotated[str | None, typer.Option(help="Before this UTC date or time (ISO 8601).")]


def _open(db: str | None):
    """The existing database (migrated to the newest schema); exit 2 when there is none."""
    from sqlalchemy.engine import make_url

    from epiradar.cli import _fail, _settings
    from epiradar.store import Store

    settings = _settings(db)
    store = Store.open_existing(settings.db)
    if store is None:
        url = make_url(settings.db).render_as_string(hide_password=True)
        raise _fail(f"no epiradar database at {url} (--db, EPIRADAR_DB)", 2)
    store.migrate()
    return store


@audit_app.command("verify")
def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Check every link of the hash chain; exit 1 naming the first broken entry."""
    from epiradar.cli import _fail, console
    from epiradar.service import audit

    with _open(db) as store:
        report = audit.verify(store)
    if as_json:
        brk = report.first_break
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "entries": report.entries,
                    "first_break": None
                    if brk is None
                    else {"entry_id": brk.entry_id, "kind": brk.kind, "message": brk.message},
                },
                indent=2,
            )
        )
        if not report.ok:
            raise typer.Exit(1)
        return
    if report.first_break is not None:
        raise _fail(
            f"audit log broken at entry {report.first_break.entry_id} "
            f"({report.first_break.kind}): {report.first_break.message}"
        )
    console.print(
        f"audit log intact: {report.entries:,} entries, last hash {report.last_hash}",
        highlight=False,
    )


@audit_app.command("list")
def list_entries(
    by: ByOption = None,
    action: ActionOption = None,
    object_type: TypeOption = None,
    object_id: IdOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many (newest first).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    db: DbOption = None,
) -> None:
    """Entries, newest first."""
    from epiradar.cli import _fail, _out

    filters = _filters(by, action, object_type, object_id, since, until)
    with _open(db) as store:
        try:
            found = store.audit.entries(filters, limit=limit, offset=offset)
            total = store.audit.count(filters)
        except ValueError as exc:
            raise _fail(f"--{exc}", 2) from None
    if as_json:
        rows = [dict(e.__dict__, detail=e.detail_data) for e in found]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("id", "at (UTC)", "actor", "action", "object", "from", "detail")
    for e in found:
        detail = {k: v for k, v in e.detail_data.items() if k != "channel"}
        table.add_row(
            str(e.id),
            e.at[:19].replace("T", " "),
            e.actor,
            e.action,
            " ".join(x for x in (e.object_type, e.object_id) if x),
            e.remote_addr or "",
            json.dumps(detail, ensure_ascii=False)[:80],
        )
    out = _out()
    out.print(table)
    out.print(f"{len(found)} of {total:,} matching entries", highlight=False)


@audit_app.command("export")
def export(
    fmt: Annotated[
        Literal["fhir"], typer.Option("--format", help="fhir: FHIR R4 AuditEvent resources.")
    ] = "fhir",
    bundle: Annotated[
        bool, typer.Option("--bundle", help="One collection Bundle instead of NDJSON.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
    by: ByOption = None,
    action: ActionOption = None,
    object_type: TypeOption = None,
    object_id: IdOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    db: DbOption = None,
) -> None:
    """Export entries, oldest first, as FHIR R4 AuditEvent: NDJSON (one per line) or a Bundle."""
    from epiradar.cli import _fail, console
    from epiradar.service import audit

    filters = _filters(by, action, object_type, object_id, since, until)
    with _open(db) as store:
        try:
            store.audit.count(filters)  # checks the filters before anything is written
            entries = audit.iter_entries(store, filters)
            if bundle:
                chunks = [json.dumps(audit.fhir_bundle(entries), indent=2, ensure_ascii=False)]
                chunks.append("\n")
            else:
                chunks = audit.fhir_ndjson(entries)
            try:
                if output is None:
                    for chunk in chunks:
                        sys.stdout.write(chunk)
                    sys.stdout.flush()
                else:
                    with output.open("w", encoding="utf-8") as fh:
                        for chunk in chunks:
                            fh.write(chunk)
                    console.print(f"wrote {output}", highlight=False)
            except OSError as exc:
                raise _fail(f"--output {output}: {exc}") from None
        except ValueError as exc:
            raise _fail(f"--{exc}", 2) from None
