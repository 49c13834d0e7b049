"""Bulletin records: the content, both languages' HTML and PDF, and the approval decision."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, insert, select, update

from epiradar.store.schema import bulletins

STATUSES = ("draft", "published", "rejected", "superseded")
FILE_COLUMNS = {
    ("html", "en"): "html_en",
    ("html", "zh_Hans"): "html_zh_hans",
    ("pdf", "en"): "pdf_en",
    ("pdf", "zh_Hans"): "pdf_zh_hans",
}
"""(format, language) -> column."""

_META = [c for c in bulletins.c if c.name not in set(FILE_COLUMNS.values())]


@dataclass(frozen=True)
class BulletinRecord:
    """A stored bulletin without its files (``content`` is the JSON text)."""

    id: int
    kind: str
    period_start: str
    period_end: str
    data_version: str
    status: str
    content: str
    generated_by: str
    generated_at: str
    reviewed_by: str | None
    reviewed_at: str | None
    reject_reason: str | None
    superseded_by: int | None

    def summary(self) -> dict[str, Any]:
        """The record without its content, as JSON-ready values."""
        return {k: v for k, v in self.__dict__.items() if k != "content"}


def _record(row: Any) -> BulletinRecord:
    return BulletinRecord(**{c.name: row[c.name] for c in _META})


class BulletinStore:
    """The ``bulletins`` table of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        *,
        kind: str,
        period_start: str,
        period_end: str,
        data_version: str,
        content: str,
        files: dict[tuple[str, str], str | bytes],
        generated_by: str,
        generated_at: str,
    ) -> int:
        """Store a new draft; ``files`` maps every (format, language) of
        :data:`FILE_COLUMNS` to its text (HTML) or bytes (PDF). Returns its id."""
        missing = set(FILE_COLUMNS) - set(files)
        if missing:
            raise ValueError(f"bulletin files missing: {sorted(missing)}")
        row = {
            "kind": kind,
            "period_start": period_start,
            "period_end": period_end,
            "data_version": data_version,
            "status": "draft",
            "content": content,
            "generated_by": generated_by,
            "generated_at": generated_at,
            **{FILE_COLUMNS[key]: value for key, value in files.items()},
        }
        with self.engine.begin() as conn:
            return int(conn.execute(insert(bulletins).values(**row)).inserted_primary_key[0])

    def get(self, bulletin_id: int) -> BulletinRecord | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(*_META).where(bulletins.c.id == bulletin_id)).mappings().first()
            )
        return _record(row) if row else None

    def file(self, bulletin_id: int, fmt: str, lang: str) -> str | bytes | None:
        """The HTML text or PDF bytes of one language (None: no such bulletin)."""
        column = bulletins.c[FILE_COLUMNS[(fmt, lang)]]
        with self.engine.connect() as conn:
            value = conn.execute(select(column).where(bulletins.c.id == bulletin_id)).scalar()
        return bytes(value) if isinstance(value, memoryview) else value

    def list(
        self,
        *,
        statuses: Iterable[str] | None = None,
        kind: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[BulletinRecord]:
        """Newest period first, then newest bulletin first."""
        stmt = select(*_META).order_by(bulletins.c.period_end.desc(), bulletins.c.id.desc())
        if statuses is not None:
            stmt = stmt.where(bulletins.c.status.in_(list(statuses)))
        if kind is not None:
            stmt = stmt.where(bulletins.c.kind == kind)
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(stmt).mappings()]

    def reject(self, bulletin_id: int, *, reviewer: str, at: str, reason: str) -> bool:
        """Draft -> rejected; False when it is not a draft (any more)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(bulletins)
                .where(and_(bulletins.c.id == bulletin_id, bulletins.c.status == "draft"))
                .values(
                    status="rejected", reviewed_by=reviewer, reviewed_at=at, reject_reason=reason
                )
            )
        return result.rowcount == 1

    def publish(self, bulletin_id: int, *, reviewer: str, at: str) -> list[int]:
        """Draft -> published, in one transaction with marking the bulletins published before
        for the same kind and period as superseded by it. Returns the ids superseded; raises
        LookupError when the bulletin is not a draft (any more)."""
        with self.engine.begin() as conn:
            row = (
                conn.execute(
                    select(bulletins.c.kind, bulletins.c.period_start, bulletins.c.period_end)
                    .where(and_(bulletins.c.id == bulletin_id, bulletins.c.status == "draft"))
                    .with_for_update()
                )
                .mappings()
                .first()
            )
            if row is None:
                raise LookupError(f"bulletin {bulletin_id} is not a draft")
            done = conn.execute(
                update(bulletins)
                .where(and_(bulletins.c.id == bulletin_id, bulletins.c.status == "draft"))
                .values(status="published", reviewed_by=reviewer, reviewed_at=at)
            )
            if done.rowcount != 1:
                raise LookupError(f"bulletin {bulletin_id} is not a draft")
            same = and_(
                bulletins.c.kind == row["kind"],
                bulletins.c.period_start == row["period_start"],
                bulletins.c.period_end == row["period_end"],
                bulletins.c.status == "published",
                bulletins.c.id != bulletin_id,
            )
            older = [r for (r,) in conn.execute(select(bulletins.c.id).where(same))]
            if older:
                conn.execute(
                    update(bulletins)
                    .where(bulletins.c.id.in_(older))
                    .values(status="superseded", superseded_by=bulletin_id)
                )
        return older
