"""Visits that arrive one message at a time (HL7 v2, FHIR): the message log that makes resends
no-ops, upserts of visits, the dates whose counts are stale, and facility API tokens.

A batch of messages is applied in one :class:`MessageTransaction`: read what is known, let the
caller merge, write everything, commit once (group commit). SQLite connections of this path
use ``synchronous=FULL``: a commit is on disk before a message is acknowledged.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, tuple_, update

from epiradar.store._sql import batched, now_iso
from epiradar.store.schema import (
    facility_tokens,
    inbound_messages,
    stale_count_dates,
    visit_exposures,
    visits,
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
        self._mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"

    def known_messages(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """``(facility_id, control_id) -> digest`` of the given messages already applied."""
        out: dict[tuple[str, str], str] = {}
        cols = (inbound_messages.c.facility_id, inbound_messages.c.control_id)
        for batch in batched(sorted(set(keys)), _KEY_BATCH):
            rows = self.conn.execute(
                select(*cols, inbound_messages.c.digest).where(tuple_(*cols).in_(batch))
            ).all()
            out.update({(f, c): d for f, c, d in rows})
        return out

    def stored_visits(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """``(facility_id, visit_id) -> row`` (the :data:`UPSERT_COLUMNS`, list fields as JSON
        text) of the given visits already stored."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        cols = (visits.c.facility_id, visits.c.visit_id)
        for batch in batched(sorted(set(keys)), _KEY_BATCH):
            rows = self.conn.execute(
                select(*(visits.c[c] for c in UPSERT_COLUMNS)).where(tuple_(*cols).in_(batch))
            ).mappings()
            out.update({(r["facility_id"], r["visit_id"]): dict(r) for r in rows})
        return out

    def upsert_visits(self, rows: Sequence[dict[str, Any]], run_id: int | None = None) -> None:
        """Insert the visits, or replace every field of a stored one but its first arrival
        (``received_at``) and ingest run; reported exposures follow the visit's new list."""
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
        self.conn.exec_driver_sql(sql, params)
        self._replace_exposures(rows)

    def _replace_exposures(self, rows: Sequence[dict[str, Any]]) -> None:
        keys = [(r["facility_id"], r["visit_id"]) for r in rows]
        pks: dict[tuple[str, str], int] = {}
        cols = (visits.c.facility_id, visits.c.visit_id)
        for batch in batched(sorted(set(keys)), _KEY_BATCH):
            found = self.conn.execute(
                select(*cols, visits.c.id).where(tuple_(*cols).in_(batch))
            ).all()
            pks.update({(f, v): pk for f, v, pk in found})
        for batch in batched(sorted(pks.values())):
            self.conn.execute(delete(visit_exposures).where(visit_exposures.c.visit_pk.in_(batch)))
        exposures: dict[tuple[int, str], str | None] = {}
        for row in rows:
            for item in json.loads(row.get("exposures") or "[]"):
                key = (pks[(row["facility_id"], row["visit_id"])], item["place_id"])
                exposures.setdefault(key, item.get("date"))
        if exposures:
            self.conn.execute(
                insert(visit_exposures),
                [
                    {"visit_pk": pk, "place_id": place, "exposure_date": day}
                    for (pk, place), day in exposures.items()
                ],
            )

    def log_messages(self, rows: Sequence[dict[str, Any]]) -> None:
        """Record applied messages (:data:`MESSAGE_COLUMNS`)."""
        if rows:
            self.conn.execute(insert(inbound_messages), [dict(r) for r in rows])

    def mark_stale(self, dates: Iterable[str]) -> None:
        """Dates whose daily counts must be recomputed."""
        dates = sorted({d for d in dates if d})
        if not dates:
            return
        mark = self._mark
        if self.conn.dialect.name == "sqlite":
            sql = f"INSERT OR IGNORE INTO stale_count_dates (date) VALUES ({mark})"
        else:
            sql = f"INSERT INTO stale_count_dates (date) VALUES ({mark}) ON CONFLICT DO NOTHING"
        self.conn.exec_driver_sql(sql, [(d,) for d in dates])


@contextmanager
def message_transaction(engine: Engine) -> Iterator[MessageTransaction]:
    """One transaction, committed durably on exit (rolled back on an exception)."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # on the driver connection: no SQLAlchemy transaction begins for a pragma
            conn.connection.driver_connection.execute("PRAGMA synchronous=FULL")
        try:
            with conn.begin():
                yield MessageTransaction(conn)
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA synchronous=NORMAL")


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
