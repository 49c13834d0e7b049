"""Accounts, roles with scopes, logins with limits, sessions and API tokens.

Roles (see docs/security.md):

- ``administrator``: everything.
- ``epidemiologist``: alerts, line lists, tracing and the workflow; city-wide, or limited to
  a list of districts (region ids).
- ``hospital_reporter``: its own facility's feed, quarantined input and visits.
- ``viewer``: aggregates only (counts, maps, alert summaries), never a line list.
- ``public``: the health endpoint and public pages only.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from epiradar.config_auth import AuthSettings
from epiradar.store import Store

ROLES = ("administrator", "epidemiologist", "hospital_reporter", "viewer", "public")

PERMISSIONS: dict[str, frozenset[str]] = {
    "administrator": frozenset(
        {
            "aggregate.read",
            "person.read",
            "visits.read",
            "workflow.read",
            "workflow.write",
            "feeds.read",
            "quarantine.read",
            "quarantine.write",
            "notify.admin",
            "users.read",
            "users.admin",
            "export.line_list",
            "bulletin.write",
            "bulletin.approve",
            "capacity.report",
        }
    ),
    "epidemiologist": frozenset(
        {
            "aggregate.read",
            "person.read",
            "visits.read",
            "workflow.read",
            "workflow.write",
            "feeds.read",
            "quarantine.read",
            "users.read",
            "export.line_list",
            "bulletin.write",
            "bulletin.approve",
        }
    ),
    "hospital_reporter": frozenset(
        {"visits.read", "feeds.read", "quarantine.read", "users.read", "capacity.report"}
    ),
    "viewer": frozenset({"aggregate.read", "feeds.read", "users.read"}),
    "public": frozenset(),
}
"""What each role may do; ``public`` (no login) is granted to everyone."""

SESSION_COOKIE = "epiradar_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
API_TOKEN_PREFIX = "ert_"
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class AuthError(ValueError):
    """A refused account operation; the message names the field and the reason."""


class LoginRefused(Exception):  # noqa: N818 - a refusal, not a bug
    """Wrong name or password, or too many failures (``locked`` then holds the reason)."""

    def __init__(self, message: str, *, locked: bool = False) -> None:
        super().__init__(message)
        self.locked = locked


@dataclass(frozen=True)
class Principal:
    """Who calls: a user (session), a machine (API token) or nobody (``public``)."""

    kind: str  # "user" | "token" | "anonymous"
    name: str
    role: str
    districts: tuple[str, ...] | None = None  # None = whole city
    facility_id: str | None = None
    user_id: int | None = None
    token_id: int | None = None
    csrf_token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def can(self, permission: str) -> bool:
        return permission == "public" or permission in PERMISSIONS.get(self.role, frozenset())

    @property
    def actor(self) -> str:
        """The name recorded in the audit log and the workflow timeline."""
        return f"token:{self.name}" if self.kind == "token" else self.name

    @property
    def city_wide(self) -> bool:
        return self.role == "administrator" or (
            self.role in ("epidemiologist", "viewer") and self.districts is None
        )

    def sees_regions(self, region_ids: Sequence[str]) -> bool:
        """Whether an alert of ``region_ids`` (``[]``: city-wide) touches this scope."""
        if self.city_wide:
            return True
        if self.districts is None:
            return False
        return not region_ids or bool(set(region_ids) & set(self.districts))


ANONYMOUS = Principal(kind="anonymous", name="anonymous", role="public")
DEMO_ADMIN = Principal(kind="user", name="demo", role="administrator")


# ---------------------------------------------------------------------------------------------
# accounts


def _check_scope(role: str, districts: list[str] | None, facility_id: str | None) -> None:
    if role not in ROLES:
        raise AuthError(f"role: unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "hospital_reporter" and not facility_id:
        raise AuthError("facility_id: a hospital reporter needs the facility it reports for")
    if role != "hospital_reporter" and facility_id:
        raise AuthError(f"facility_id: only a hospital reporter has a facility, not a {role}")
    if districts is not None and role not in ("epidemiologist", "viewer"):
        raise AuthError(f"districts: only an epidemiologist or viewer has districts, not a {role}")
    if districts is not None and not districts:
        raise AuthError("districts: give at least one region id, or none for the whole city")


def _check_districts(
    store: Store, districts: list[str] | None, facility_id: str | None = None
) -> None:
    if facility_id is not None and facility_id not in {f.id for f in store.facilities()}:
        raise AuthError(f"facility_id: unknown facility {facility_id!r}")
    if districts:
        known = {r.id for r in store.regions()}
        unknown = sorted(set(districts) - known)
        if unknown:
            raise AuthError(f"districts: unknown region id(s) {', '.join(unknown)}")


def _check_password(password: str, settings: AuthSettings) -> None:
    if len(password) < settings.min_password_length:
        raise AuthError(f"password: at least {settings.min_password_length} characters")


def add_user(
    store: Store,
    username: str,
    password: str,
    role: str,
    *,
    settings: AuthSettings,
    districts: list[str] | None = None,
    facility_id: str | None = None,
) -> dict[str, Any]:
    """A new active account; the password is stored as an argon2 hash."""
    if not USERNAME.match(username or ""):
        raise AuthError(
            "username: 2-64 letters, digits or . _ @ -, starting with a letter or digit"
        )
    _check_scope(role, districts, facility_id)
    _check_districts(store, districts, facility_id)
    _check_password(password, settings)
    if store.auth.user_by_name(username) is not None:
        raise AuthError(f"username: {username!r} is taken")
    return public_user(
        store.auth.add_user(
            username, _hasher.hash(password), role, districts=districts, facility_id=facility_id
        )
    )


def public_user(user: dict[str, Any]) -> dict[str, Any]:
    """An account without its password hash."""
    return {k: v for k, v in user.items() if k not in ("password_hash", "csrf_token", "expires_at")}


def user_named(store: Store, username: str) -> dict[str, Any]:
    found = store.auth.user_by_name(username)
    if found is None:
        raise LookupError(f"no user {username!r}")
    return found


def set_role(
    store: Store,
    username: str,
    role: str,
    *,
    districts: list[str] | None = None,
    facility_id: str | None = None,
) -> dict[str, Any]:
    """Change an account's role and scope; its sessions end."""
    user = user_named(store, username)
    _check_scope(role, districts, facility_id)
    _check_districts(store, districts, facility_id)
    store.auth.update_user(user["id"], role=role, districts=districts, facility_id=facility_id)
    return public_user(user_named(store, username))


def set_active(store: Store, username: str, active: bool) -> dict[str, Any]:
    """Disable (its sessions end) or enable an account."""
    user = user_named(store, username)
    store.auth.update_user(user["id"], active=active)
    return public_user(user_named(store, username))


def set_password(store: Store, username: str, password: str, *, settings: AuthSettings) -> None:
    user = user_named(store, username)
    _check_password(password, settings)
    store.auth.update_user(user["id"], password_hash=_hasher.hash(password))


def random_password() -> str:
    return secrets.token_urlsafe(15)


# ---------------------------------------------------------------------------------------------
# login and sessions


def _lock_message(last: str | None, window: dt.timedelta, what: str) -> str:
    if last is None:
        return f"too many failed logins for this {what}; try again later"
    until = dt.datetime.fromisoformat(last).replace(tzinfo=dt.UTC) + window
    minutes = max(1, int((until - dt.datetime.now(dt.UTC)).total_seconds() // 60) + 1)
    return f"too many failed logins for this {what}; try again in {minutes} minute(s)"


def login(
    store: Store, username: str, password: str, *, addr: str | None, settings: AuthSettings
) -> tuple[str, Principal]:
    """Check the password (within the per-account and per-address limits) and open a session;
    returns the session id (the cookie's value, shown once) and the principal."""
    window = dt.timedelta(minutes=settings.lockout_minutes)
    since = dt.datetime.now(dt.UTC) - window
    n, last = store.auth.recent_failures(since=since, addr=addr)
    if addr is not None and n >= settings.max_failures_per_address:
        raise LoginRefused(_lock_message(last, window, "address"), locked=True)
    n, last = store.auth.recent_failures(since=since, username=username)
    if n >= settings.max_failures_per_account:
        raise LoginRefused(_lock_message(last, window, "account"), locked=True)
    user = store.auth.user_by_name(username)
    ok = False
    try:
        ok = _hasher.verify(user["password_hash"] if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    ok = ok and user is not None and user["active"]
    store.auth.record_attempt(username, addr, ok)
    if not ok:
        raise LoginRefused("wrong username or password, or the account is disabled")
    assert user is not None
    if _hasher.check_needs_rehash(user["password_hash"]):
        store.auth.update_user(user["id"], password_hash=_hasher.hash(password))
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=settings.session_hours)
    store.auth.add_session(session_id, user["id"], csrf, expires, addr)
    return session_id, _user_principal(user, csrf)


def _user_principal(user: dict[str, Any], csrf: str | None) -> Principal:
    districts = user.get("districts")
    return Principal(
        kind="user",
        name=user["username"],
        role=user["role"],
        districts=tuple(districts) if districts is not None else None,
        facility_id=user.get("facility_id"),
        user_id=user["id"],
        csrf_token=csrf,
    )


def session_principal(store: Store, session_id: str) -> Principal | None:
    found = store.auth.session(session_id)
    return _user_principal(found, found["csrf_token"]) if found else None


def logout(store: Store, session_id: str) -> None:
    store.auth.end_session(session_id)


# ---------------------------------------------------------------------------------------------
# API tokens


def create_token(
    store: Store,
    name: str,
    role: str,
    *,
    created_by: str,
    districts: list[str] | None = None,
    facility_id: str | None = None,
) -> tuple[int, str]:
    """A new machine token: returned once, stored as SHA-256, scoped to ``role``."""
    if not (name or "").strip():
        raise AuthError("name: say what the token is for")
    _check_scope(role, districts, facility_id)
    _check_districts(store, districts, facility_id)
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = store.auth.add_token(
        name.strip(),
        token,
        role,
        created_by=created_by,
        districts=districts,
        facility_id=facility_id,
    )
    return token_id, token


def token_principal(store: Store, token: str) -> Principal | None:
    if not token.startswith(API_TOKEN_PREFIX):
        return None
    found = store.auth.token(token)
    if found is None:
        return None
    districts = found["districts"]
    return Principal(
        kind="token",
        name=found["name"],
        role=found["role"],
        districts=tuple(districts) if districts is not None else None,
        facility_id=found["facility_id"],
        token_id=found["id"],
    )


def revoke_token(store: Store, token_id: int) -> None:
    if not store.auth.revoke_token(token_id):
        raise LookupError(f"no live API token with id {token_id}")


# ---------------------------------------------------------------------------------------------
# scope filters


def visible_users(store: Store, who: Principal) -> list[dict[str, Any]]:
    """Administrators see every account; anyone else only their own."""
    if who.role == "administrator":
        return [public_user(u) for u in store.auth.users()]
    if who.user_id is None:
        return []
    found = store.auth.user(who.user_id)
    return [public_user(found)] if found else []


def filter_rows(who: Principal, rows: Iterable[Any], region_of: Any) -> list[Any]:
    """The rows whose regions (``region_of(row)`` -> list of ids) touch the caller's scope."""
    return [r for r in rows if who.sees_regions(region_of(r))]


def line_list_filter(who: Principal, rows: Iterable[Any]) -> list[Any]:
    """Visits of a line list within scope: a district epidemiologist sees its districts' visits
    (by residence), a hospital reporter its facility's visits."""
    if who.city_wide:
        return list(rows)
    if who.facility_id is not None:
        return [r for r in rows if getattr(r, "facility_id", None) == who.facility_id]
    allowed = set(who.districts or ())
    return [r for r in rows if getattr(r, "region_id", None) in allowed]
