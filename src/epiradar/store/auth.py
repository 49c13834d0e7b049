"""Accounts, sessions, API tokens and login attempts (``Store.auth``).

Only hashes are stored: argon2 for passwords (made by ``service.auth``), SHA-256 for session
ids and API tokens, which are 256-bit random and so need no slow hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, select, update

from epiradar.store._sql import now_iso
from epiradar.store.schema import api_tokens, auth_sessions, login_attempts, users


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _utc(at: dt.datetime | None = None) -> str:
    at = at or dt.datetime.now(dt.UTC)
    return at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _districts(raw: str | None) -> list[str] | None:
    return None if raw is None else list(json.loads(raw))


def _user(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    out["districts"] = _districts(out["districts"])
    out["active"] = bool(out["active"])
    return out


class AuthStore:
    """The account tables of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # users
    def add_user(
        self,
        username: str,
        password_hash: str,
        role: str,
        *,
        districts: list[str] | None = None,
        facility_id: str | None = None,
    ) -> dict[str, Any]:
        now = now_iso()
        row = {
            "username": username,
            "password_hash": password_hash,
            "role": role,
            "districts": None if districts is None else json.dumps(sorted(districts)),
            "facility_id": facility_id,
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(users).values(**row)).inserted_primary_key[0]
        return self.user(new_id)  # type: ignore[return-value]

    def user(self, user_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
        return _user(row) if row else None

    def user_by_name(self, username: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        return _user(row) if row else None

    def users(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.username)).all()
        return [_user(r) for r in rows]

    def update_user(self, user_id: int, **fields: Any) -> bool:
        """Set ``role``, ``districts``, ``facility_id``, ``active`` or ``password_hash``."""
        allowed = {"role", "districts", "facility_id", "active", "password_hash"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update user field(s) {sorted(unknown)}")
        if "districts" in fields and fields["districts"] is not None:
            fields["districts"] = json.dumps(sorted(fields["districts"]))
        with self.engine.begin() as conn:
            done = conn.execute(
                update(users).where(users.c.id == user_id).values(**fields, updated_at=now_iso())
            ).rowcount
            if fields.get("active") is False or "role" in fields or "password_hash" in fields:
                conn.execute(delete(auth_sessions).where(auth_sessions.c.user_id == user_id))
        return bool(done)

    # sessions
    def add_session(
        self, session_id: str, user_id: int, csrf_token: str, expires: dt.datetime, addr: str | None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(auth_sessions).values(
                    id_hash=sha256(session_id),
                    user_id=user_id,
                    csrf_token=csrf_token,
                    created_at=_utc(),
                    expires_at=_utc(expires),
                    remote_addr=addr,
                )
            )

    def session(self, session_id: str) -> dict[str, Any] | None:
        """The live session with its active user's fields, or ``None``."""
        query = (
            select(auth_sessions.c.csrf_token, auth_sessions.c.expires_at, users)
            .join(users, users.c.id == auth_sessions.c.user_id)
            .where(
                auth_sessions.c.id_hash == sha256(session_id),
                auth_sessions.c.expires_at > _utc(),
                users.c.active.is_(True),
            )
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _user(row) if row else None

    def end_session(self, session_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(auth_sessions).where(
                    (auth_sessions.c.id_hash == sha256(session_id))
                    | (auth_sessions.c.expires_at <= _utc())
                )
            )

    # API tokens
    def add_token(
        self,
        name: str,
        token: str,
        role: str,
        *,
        created_by: str,
        districts: list[str] | None = None,
        facility_id: str | None = None,
    ) -> int:
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    insert(api_tokens).values(
                        name=name,
                        token_hash=sha256(token),
                        role=role,
                        districts=None if districts is None else json.dumps(sorted(districts)),
                        facility_id=facility_id,
                        created_by=created_by,
                        created_at=now_iso(),
                    )
                ).inserted_primary_key[0]
            )

    def token(self, token: str) -> dict[str, Any] | None:
        """The live token's fields (and ``last_used_at`` set), or ``None``."""
        where = and_(api_tokens.c.token_hash == sha256(token), api_tokens.c.revoked_at.is_(None))
        with self.engine.begin() as conn:
            row = conn.execute(select(api_tokens).where(where)).first()
            if row is None:
                return None
            conn.execute(update(api_tokens).where(where).values(last_used_at=now_iso()))
        out = dict(row._mapping)
        out["districts"] = _districts(out["districts"])
        out.pop("token_hash")
        return out

    def tokens(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.id)).all()
        out = []
        for r in rows:
            d = dict(r._mapping)
            d.pop("token_hash")
            d["districts"] = _districts(d["districts"])
            out.append(d)
        return out

    def revoke_token(self, token_id: int) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now_iso())
                ).rowcount
            )

    # login attempts
    def record_attempt(self, username: str, addr: str | None, ok: bool) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(login_attempts).values(username=username, remote_addr=addr, at=_utc(), ok=ok)
            )

    def recent_failures(
        self, *, since: dt.datetime, username: str | None = None, addr: str | None = None
    ) -> tuple[int, str | None]:
        """Failed logins since ``since`` (after the last success for an account), and the time
        of the latest one (UTC ISO)."""
        cond = [login_attempts.c.at > _utc(since), login_attempts.c.ok.is_(False)]
        with self.engine.connect() as conn:
            if username is not None:
                cond.append(login_attempts.c.username == username)
                last_ok = conn.execute(
                    select(func.max(login_attempts.c.at)).where(
                        login_attempts.c.username == username, login_attempts.c.ok.is_(True)
                    )
                ).scalar()
                if last_ok:
                    cond.append(login_attempts.c.at > last_ok)
            if addr is not None:
                cond.append(login_attempts.c.remote_addr == addr)
            n, last = conn.execute(
                select(func.count(), func.max(login_attempts.c.at)).where(*cond)
            ).one()
        return int(n), last


def hypothesis_investigation(engine: Engine, hypothesis_id: int) -> int | None:
    """The investigation a hypothesis belongs to (for scope checks)."""
    from epiradar.store.schema import hypotheses

    with engine.connect() as conn:
        return conn.execute(
            select(hypotheses.c.investigation_id).where(hypotheses.c.id == hypothesis_id)
        ).scalar()
