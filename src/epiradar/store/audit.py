"""The audit log: append-only and hash-chained.

Each entry's ``hash`` is the SHA-256 of the canonical serialisation (:func:`canonical`) of its
fields, ``prev_hash`` (the hash of the entry before it; :data:`GENESIS_HASH` for the first)
included. ``id`` is the entry's position in the chain: 1, 2, 3, ... without gaps. The one row
of ``audit_head`` holds the last position and hash; :meth:`AuditLog.append` locks that row
before it reads it, so appends from any number of threads or processes form one chain on
SQLite (``BEGIN IMMEDIATE``) and PostgreSQL (the row lock of ``UPDATE``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine, func, select, update

from epiradar.store.schema import audit_head, audit_log

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first entry."""

HASHED_FIELDS = (
    "id",
    "at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "detail",
    "remote_addr",
    "prev_hash",
)

BreakKind = Literal["altered", "hash_altered", "deleted", "reordered", "broken_link"]


class AuditError(RuntimeError):
    """The audit log cannot be written (not migrated, or its chain head is gone)."""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    object_type: str | None
    object_id: str | None
    detail: str  # canonical JSON text, exactly as hashed
    remote_addr: str | None
    prev_hash: str
    hash: str

    @property
    def detail_data(self) -> dict[str, Any]:
        try:
            value = json.loads(self.detail)
        except ValueError:
            return {"unreadable": self.detail}
        return value if isinstance(value, dict) else {"value": value}


@dataclass(frozen=True)
class ChainBreak:
    """The first place the chain does not hold."""

    entry_id: int
    kind: BreakKind
    message: str


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    last_hash: str
    first_break: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.first_break is None


@dataclass(frozen=True)
class AuditFilter:
    """What :meth:`AuditLog.entries` returns; ``None`` = any. Times are UTC ISO strings."""

    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "*" ("web.read*")
    object_type: str | None = None
    object_id: str | None = None
    since: str | None = None  # inclusive
    until: str | None = None  # exclusive


def canonical(values: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed: the :data:`HASHED_FIELDS` as compact JSON with sorted keys."""
    return json.dumps(
        {name: values[name] for name in HASHED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def entry_hash(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(values)).hexdigest()


def canonical_detail(detail: Mapping[str, Any] | None) -> str:
    """``detail`` as canonical JSON object text; ``ValueError`` names what cannot be stored."""
    if detail is None:
        return "{}"
    if not isinstance(detail, Mapping):
        raise ValueError(f"detail: must be a mapping, not {type(detail).__name__}")
    try:
        return json.dumps(dict(detail), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"detail: not JSON-serialisable ({exc})") from None


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _utc_iso(value: dt.datetime | str | None, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not an ISO 8601 date or time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _text(value: Any, name: str, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise ValueError(f"{name}: required, got an empty value")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name}: must be text, not {type(value).__name__}")
    return value


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(**{name: row._mapping[name] for name in (*HASHED_FIELDS, "hash")})


class AuditLog:
    """The audit log of one database (``Store.audit``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def append(
        self,
        actor: str,
        action: str,
        *,
        object_type: str | None = None,
        object_id: str | int | None = None,
        detail: Mapping[str, Any] | None = None,
        remote_addr: str | None = None,
        at: dt.datetime | str | None = None,
    ) -> AuditEntry:
        """Append one entry and return it. The chain head is locked for the whole transaction,
        so concurrent appends queue up and each links to the one before it."""
        values: dict[str, Any] = {
            "at": _utc_iso(at, "at") if at is not None else utc_now(),
            "actor": _text(actor, "actor", required=True),
            "action": _text(action, "action", required=True),
            "object_type": _text(object_type, "object_type", required=False),
            "object_id": None
            if object_id is None
            else _text(str(object_id), "object_id", required=False),
            "detail": canonical_detail(detail),
            "remote_addr": _text(remote_addr, "remote_addr", required=False),
        }
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock before reading
            locked = conn.execute(
                update(audit_head)
                .where(audit_head.c.id == 1)
                .values(last_id=audit_head.c.last_id + 1)
            )
            if locked.rowcount != 1:
                conn.rollback()
                raise AuditError("the audit log's chain head is missing: run the migrations")
            last_id, prev_hash = conn.execute(
                select(audit_head.c.last_id, audit_head.c.last_hash).where(audit_head.c.id == 1)
            ).one()
            values["id"] = last_id
            values["prev_hash"] = prev_hash
            values["hash"] = entry_hash(values)
            conn.execute(audit_log.insert().values(**values))
            conn.execute(
                update(audit_head).where(audit_head.c.id == 1).values(last_hash=values["hash"])
            )
            conn.commit()
        return AuditEntry(**values)

    def _where(self, f: AuditFilter) -> list[Any]:
        c = audit_log.c
        clauses: list[Any] = []
        if f.actor is not None:
            clauses.append(c.actor == f.actor)
        if f.action is not None:
            if f.action.endswith("*"):
                clauses.append(c.action.startswith(f.action[:-1], autoescape=True))
            else:
                clauses.append(c.action == f.action)
        if f.object_type is not None:
            clauses.append(c.object_type == f.object_type)
        if f.object_id is not None:
            clauses.append(c.object_id == f.object_id)
        if f.since is not None:
            clauses.append(c.at >= _utc_iso(f.since, "since"))
        if f.until is not None:
            clauses.append(c.at < _utc_iso(f.until, "until"))
        return clauses

    def entries(
        self,
        filters: AuditFilter | None = None,
        *,
        limit: int | None = 100,
        offset: int = 0,
        newest_first: bool = True,
    ) -> list[AuditEntry]:
        """Entries matching ``filters``, newest first by default, ``limit`` at a time."""
        if limit is not None and limit < 1:
            raise ValueError(f"limit: must be at least 1, got {limit}")
        if offset < 0:
            raise ValueError(f"offset: must be 0 or more, got {offset}")
        query = (
            select(audit_log)
            .where(*self._where(filters or AuditFilter()))
            .order_by(audit_log.c.id.desc() if newest_first else audit_log.c.id)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def count(self, filters: AuditFilter | None = None) -> int:
        query = (
            select(func.count())
            .select_from(audit_log)
            .where(*self._where(filters or AuditFilter()))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def verify(self) -> VerifyReport:
        """Check every link of the chain; the report names the first broken one."""
        with self.engine.connect() as conn:
            rows = [_entry(r) for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]
            head = conn.execute(
                select(audit_head.c.last_id, audit_head.c.last_hash).where(audit_head.c.id == 1)
            ).one_or_none()
        return verify_entries(rows, head)


def _label(entry: AuditEntry) -> str:
    return f"entry {entry.id} ({entry.at}, {entry.actor}, {entry.action})"


def verify_entries(rows: list[AuditEntry], head: tuple[int, str] | None) -> VerifyReport:
    """The verification of ``rows`` (in ``id`` order) against the chain ``head``."""
    later = {row.hash: row.id for row in rows}
    prev_hash = GENESIS_HASH
    expected = 1

    def report(entry_id: int, kind: BreakKind, message: str) -> VerifyReport:
        return VerifyReport(len(rows), prev_hash, ChainBreak(entry_id, kind, message))

    for i, row in enumerate(rows):
        if row.id != expected:
            gone = f"entries {expected} to {row.id - 1} are" if row.id - 1 > expected else "it is"
            return report(
                expected,
                "deleted",
                f"entry {expected} was deleted: {gone} missing before {_label(row)}",
            )
        computed = entry_hash(row.__dict__)
        if row.prev_hash != prev_hash:
            j = later.get(row.prev_hash)
            if j is not None and j > row.id:
                return report(
                    row.id,
                    "reordered",
                    f"{_label(row)} is out of order: it continues entry {j}, which now comes "
                    "after it",
                )
            if computed == row.hash:
                return report(
                    row.id,
                    "broken_link",
                    f"{_label(row)} does not continue entry {row.id - 1}: an entry was deleted "
                    "or the chain rewritten before it",
                )
        if computed != row.hash:
            if i + 1 < len(rows):
                successor = rows[i + 1].prev_hash
            else:
                successor = head[1] if head is not None and head[0] == row.id else None
            if successor == computed:
                return report(row.id, "hash_altered", f"{_label(row)}: its stored hash was changed")
            return report(
                row.id, "altered", f"{_label(row)} was altered: its fields no longer match its hash"
            )
        prev_hash = row.hash
        expected += 1
    n = expected - 1
    if head is None:
        return report(n + 1, "deleted", "the chain head is missing: the log cannot be trusted")
    last_id, last_hash = head
    if last_id > n:
        return report(
            n + 1,
            "deleted",
            f"entry {n + 1} was deleted: the chain records {last_id} entries, the log holds {n}",
        )
    if last_id < n or last_hash != prev_hash:
        return report(
            n,
            "broken_link",
            f"the chain head ({last_id} entries) does not match entry {n}: the end of the log "
            "was rewritten",
        )
    return VerifyReport(n, prev_hash)
