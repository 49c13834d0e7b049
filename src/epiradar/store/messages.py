"""Visits that arrive one message at a time (HL7 v2, FHIR): the message log that makes resends
no-ops, upserts of visits, the dates whose counts are stale, and facility API tokens.

A batch of messages is applied in one :class:`MessageTransaction`: read what is known, let the
caller merge, write everything, commit once (group commit). SQLite connections of this path
use ``synchronous=FULL``: a commit is on disk before a message is acknowledged.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from epiradar.store._sql import batched, now_iso
from epiradar.store.schema import (
    facility_tokens,
    inbound_messages,
    stale_count_dates,
)
from epiradar.store.visits import VISIT_COLUMNS

UPSERT_COLUMNS: tuple[str, ...] = VISIT_COLUMNS
"""Keys of one row for :meth:`MessageTransaction.upsert_visits` (``received_at``,
``updated_at`` and ``message_time`` included)."""

MESSAGE_COLUMNS = (
    "facility_id",
    "control_id",
    "channel",
    "event",
    "message_time",
    "received_at",
    "visit_id",
    "digest",
)

_KEY_BATCH = 400  # (a, b) pairs per IN list: 800 bind parameters


class MessageTransaction:
    """The reads and writes of one batch of messages, on one connection, one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self._mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        # The driver's own cursor, inside the SQLAlchemy transaction: a batch of a few
        # messages runs several statements, and the per-statement overhead above the driver
        # would cost more than the statements.
        self._cursor = conn.connection.driver_connection.cursor()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(sql, params)
        return self._cursor.fetchall() if self._cursor.description else []

    def _execute_many(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        if params:
            self._cursor.executemany(sql, params)

    def _pairs(self, sql: str, keys: Iterable[tuple[str, str]]) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` for the given key pairs: its ``{first}`` is a parameter for the first
        part of a key and ``{second}`` a list for the second ones, one statement per first part
        (``facility_id = ? AND visit_id IN (...)`` searches the unique index; a row-value
        ``IN (VALUES ...)`` would scan the table). Plain driver SQL: this runs once per message
        batch, where building statements would cost more than the queries."""
        by_first: dict[str, list[str]] = {}
        for first, second in set(keys):
            by_first.setdefault(first, []).append(second)
        out: list[tuple[Any, ...]] = []
        for first, seconds in sorted(by_first.items()):
            for batch in batched(sorted(seconds), _KEY_BATCH):
                marks = ", ".join([self._mark] * len(batch))
                text = sql.format(first=self._mark, second=marks)
                out += self._execute(text, (first, *batch))
        return out

    def known_messages(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """``(facility_id, control_id) -> digest`` of the given messages already applied."""
        rows = self._pairs(
            "SELECT facility_id, control_id, digest FROM inbound_messages "
            "WHERE facility_id = {first} AND control_id IN ({second})",
            keys,
        )
        return {(f, c): d for f, c, d in rows}

    def stored_visits(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """``(facility_id, visit_id) -> row`` (the :data:`UPSERT_COLUMNS`, list fields as JSON
        text) of the given visits already stored."""
        rows = self._pairs(
            f"SELECT {', '.join(UPSERT_COLUMNS)} FROM visits "
            "WHERE facility_id = {first} AND visit_id IN ({second})",
            keys,
        )
        out = {}
        for values in rows:
            row = dict(zip(UPSERT_COLUMNS, values, strict=True))
            out[(row["facility_id"], row["visit_id"])] = row
        return out

    def upsert_visits(
        self,
        rows: Sequence[dict[str, Any]],
        run_id: int | None = None,
        *,
        exposures_changed: Sequence[bool] | None = None,
    ) -> None:
        """Insert the visits, or replace every field of a stored one but its first arrival
        (``received_at``) and ingest run. Reported exposures follow the visit's new list (only
        for the rows flagged in ``exposures_changed``; default all)."""
        if not rows:
            return
        names = (*UPSERT_COLUMNS, "ingest_run_id")
        keep = {"facility_id", "visit_id", "received_at", "ingest_run_id"}
        sets = ", ".join(f"{n} = excluded.{n}" for n in names if n not in keep)
        sql = (
            f"INSERT INTO visits ({', '.join(names)}) "
            f"VALUES ({', '.join([self._mark] * len(names))}) "
            f"ON CONFLICT (facility_id, visit_id) DO UPDATE SET {sets}"
        )
        params = [tuple(row.get(n) for n in UPSERT_COLUMNS) + (run_id,) for row in rows]
        self._execute_many(sql, params)
        changed = (
            list(rows)
            if exposures_changed is None
            else [r for r, c in zip(rows, exposures_changed, strict=True) if c]
        )
        if changed:
            self._replace_exposures(changed)

    def _replace_exposures(self, rows: Sequence[dict[str, Any]]) -> None:
        """``visit_exposures`` of these visits rebuilt from their JSON lists, in the database."""
        keys = sorted({(r["facility_id"], r["visit_id"]) for r in rows})
        if self.sqlite:
            insert_sql = (
                "INSERT OR IGNORE INTO visit_exposures (visit_pk, place_id, exposure_date) "
                "SELECT v.id, json_extract(e.value, '$.place_id'), json_extract(e.value, '$.date') "
                "FROM visits AS v, json_each(v.exposures) AS e "
                "WHERE v.facility_id = {first} AND v.visit_id IN ({second}) AND v.exposures != '[]'"
            )
        else:
            insert_sql = (
                "INSERT INTO visit_exposures (visit_pk, place_id, exposure_date) "
                "SELECT v.id, e.value ->> 'place_id', e.value ->> 'date' "
                "FROM visits AS v, jsonb_array_elements(CAST(v.exposures AS jsonb)) AS e(value) "
                "WHERE v.facility_id = {first} AND v.visit_id IN ({second}) AND v.exposures != '[]' "
                "ON CONFLICT DO NOTHING"
            )
        self._pairs(
            "DELETE FROM visit_exposures WHERE visit_pk IN "
            "(SELECT id FROM visits WHERE facility_id = {first} AND visit_id IN ({second}))",
            keys,
        )
        self._pairs(insert_sql, keys)

    def log_messages(self, rows: Sequence[dict[str, Any]]) -> None:
        """Record applied messages (:data:`MESSAGE_COLUMNS`)."""
        if rows:
            marks = ", ".join([self._mark] * len(MESSAGE_COLUMNS))
            self._execute_many(
                f"INSERT INTO inbound_messages ({', '.join(MESSAGE_COLUMNS)}) VALUES ({marks})",
                [tuple(r[c] for c in MESSAGE_COLUMNS) for r in rows],
            )

    def mark_stale(self, dates: Iterable[str]) -> None:
        """Dates whose daily counts must be recomputed."""
        dates = sorted({d for d in dates if d})
        if not dates:
            return
        mark = self._mark
        if self.sqlite:
            sql = f"INSERT OR IGNORE INTO stale_count_dates (date) VALUES ({mark})"
        else:
            sql = f"INSERT INTO stale_count_dates (date) VALUES ({mark}) ON CONFLICT DO NOTHING"
        self._execute_many(sql, [(d,) for d in dates])


@contextmanager
def message_transaction(engine: Engine) -> Iterator[MessageTransaction]:
    """One transaction, committed durably on exit (rolled back on an exception).

    A SQLite connection that has run one is left in ``synchronous=FULL`` (every commit on disk,
    not only in the log): it is the server's writer connection, where that is the point.
    """
    with engine.connect() as conn:
        record = conn.connection
        if conn.dialect.name == "sqlite" and not record.info.get("durable"):
            record.driver_connection.execute("PRAGMA synchronous=FULL")  # outside a transaction
            record.info["durable"] = True
        with conn.begin():
            yield MessageTransaction(conn)


def take_stale_dates(engine: Engine) -> list[str]:
    """The dates marked stale, removed from the mark (the caller refreshes their counts)."""
    with engine.begin() as conn:
        dates = [d for (d,) in conn.execute(select(stale_count_dates.c.date)).all()]
        for batch in batched(dates):
            conn.execute(delete(stale_count_dates).where(stale_count_dates.c.date.in_(batch)))
    return sorted(dates)


def message_log(
    engine: Engine, facility_id: str | None = None, since: str | None = None
) -> list[dict[str, Any]]:
    """Applied messages, oldest first; optionally of one facility, received at or after ``since``."""
    stmt = select(inbound_messages).order_by(inbound_messages.c.id)
    if facility_id is not None:
        stmt = stmt.where(inbound_messages.c.facility_id == facility_id)
    if since is not None:
        stmt = stmt.where(inbound_messages.c.received_at >= since)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


# facility API tokens

TOKEN_PREFIX = "epr_"


def token_hash(token: str) -> str:
    """SHA-256 of a token: tokens are 256-bit random, so a fast hash suffices (no dictionary
    attack on random secrets); only the hash is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(engine: Engine, facility_id: str, label: str | None = None) -> str:
    """A new API token for ``facility_id``; returned once, stored hashed."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            insert(facility_tokens).values(
                facility_id=facility_id,
                token_hash=token_hash(token),
                label=label,
                created_at=now_iso(),
            )
        )
    return token


def token_facility(engine: Engine, token: str) -> str | None:
    """The facility a live (not revoked) token belongs to, or ``None``."""
    with engine.connect() as conn:
        return conn.execute(
            select(facility_tokens.c.facility_id).where(
                and_(
                    facility_tokens.c.token_hash == token_hash(token),
                    facility_tokens.c.revoked_at.is_(None),
                )
            )
        ).scalar_one_or_none()


def list_tokens(engine: Engine, facility_id: str | None = None) -> list[dict[str, Any]]:
    """Tokens (without their hashes), oldest first."""
    cols = [c for c in facility_tokens.c if c.name != "token_hash"]
    stmt = select(*cols).order_by(facility_tokens.c.id)
    if facility_id is not None:
        stmt = stmt.where(facility_tokens.c.facility_id == facility_id)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def revoke_token(engine: Engine, token_id: int) -> bool:
    with engine.begin() as conn:
        result = conn.execute(
            update(facility_tokens)
            .where(facility_tokens.c.id == token_id, facility_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now_iso())
        )
    return result.rowcount > 0
