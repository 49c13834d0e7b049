"""Administration pages (administrators only, ``users.admin`` in web/auth.py's policy table):
accounts, API tokens, facilities with their feed status and submission tokens, and the
effective settings with secrets masked. The forms post with the session's CSRF token; the audit
middleware records every write. New passwords and tokens are shown once, in the answer to
the form that made them, never in a URL."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from epiradar.config import Settings
from epiradar.service import admin as svc
from epiradar.service import auth, feeds
from epiradar.store import Store
from epiradar.web.auth import current
from epiradar.web.deps import get_settings, get_store
from epiradar.web.i18n import N_
from epiradar.web.templating import templates

router = APIRouter(include_in_schema=False)

StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

ROLE_LABELS: dict[str, str] = {
    "administrator": N_("administrator"),
    "epidemiologist": N_("epidemiologist"),
    "hospital_reporter": N_("hospital reporter"),
    "viewer": N_("viewer"),
    "public": N_("public"),
}
"""Each role's name as the pages show it (translated with ``tr``)."""
FEED_STATUS = {"ok": N_("sending"), "silent": N_("silent"), "never": N_("never sent")}


async def _form(request: Request) -> dict[str, str]:
    raw = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0].strip() for k, v in raw.items() if v}


def _back(path: str, error: str | None = None, done: str | None = None) -> RedirectResponse:
    query = {k: v for k, v in (("error", error), ("done", done)) if v}
    return RedirectResponse(path + (f"?{urlencode(query)}" if query else ""), status_code=303)


def _render(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    base = {
        "page": "admin",
        "roles": auth.ROLES,
        "role_labels": ROLE_LABELS,
        "error": request.query_params.get("error"),
        "done": request.query_params.get("done"),
    }
    return templates.TemplateResponse(request, name, base | context)


def _scope(form: dict[str, str]) -> tuple[str, list[str] | None, str | None]:
    role = form.get("role", "")
    if not role:
        raise auth.AuthError("role: choose a role")
    return role, svc.parse_districts(form.get("districts")), form.get("facility_id") or None


# ---------------------------------------------------------------------------------------------
# accounts


def _users_page(request: Request, store: Store, **extra: Any) -> HTMLResponse:
    return _render(
        request,
        "admin_users.html",
        {
            "admin_tab": "users",
            "users": auth.visible_users(store, current(request)),
            "facilities": store.facilities(),
            "me": current(request).name,
            "created": None,
            "reset": None,
        }
        | extra,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, store: StoreDep) -> HTMLResponse:
    return _users_page(request, store)


@router.post("/admin/users", response_model=None)
async def create_user_form(request: Request, store: StoreDep) -> Response:
    """A new account; without a password given, a random one, shown once on the answer."""
    form = await _form(request)
    password = form.get("password") or auth.random_password()
    try:
        role, districts, facility_id = _scope(form)
        user = auth.add_user(
            store,
            form.get("username", ""),
            password,
            role,
            settings=request.app.state.settings.auth,
            districts=districts,
            facility_id=facility_id,
        )
    except auth.AuthError as exc:
        return _back("/admin/users", str(exc))
    shown = password if not form.get("password") else None
    return _users_page(request, store, created={"username": user["username"], "password": shown})


def _not_self(request: Request, username: str, what: str) -> None:
    if current(request).name == username and current(request).kind == "user":
        raise auth.AuthError(f"username: you cannot {what} your own account")


@router.post("/admin/users/{username}/role")
async def set_role_form(request: Request, store: StoreDep, username: str) -> RedirectResponse:
    """Change an account's role and scope (its sessions end)."""
    form = await _form(request)
    try:
        role, districts, facility_id = _scope(form)
        if role != "administrator":
            _not_self(request, username, "demote")
        auth.set_role(store, username, role, districts=districts, facility_id=facility_id)
    except (auth.AuthError, LookupError) as exc:
        return _back("/admin/users", str(exc.args[0]))
    return _back("/admin/users", done=username)


@router.post("/admin/users/{username}/active")
async def set_active_form(request: Request, store: StoreDep, username: str) -> RedirectResponse:
    """Disable (``active=false``: its sessions end) or enable (``active=true``) an account."""
    form = await _form(request)
    value = form.get("active")
    try:
        if value not in ("true", "false"):
            raise auth.AuthError("active: true or false")
        if value == "false":
            _not_self(request, username, "disable")
        auth.set_active(store, username, value == "true")
    except (auth.AuthError, LookupError) as exc:
        return _back("/admin/users", str(exc.args[0]))
    return _back("/admin/users", done=username)


@router.post("/admin/users/{username}/password", response_model=None)
async def reset_password_form(request: Request, store: StoreDep, username: str) -> Response:
    """A new random password (shown once on the answer); the account's sessions end."""
    form = await _form(request)
    password = auth.random_password()
    try:
        if form.get("reset") != "yes":
            raise auth.AuthError("reset: confirm with reset=yes")
        auth.set_password(store, username, password, settings=request.app.state.settings.auth)
    except (auth.AuthError, LookupError) as exc:
        return _back("/admin/users", str(exc.args[0]))
    return _users_page(request, store, reset={"username": username, "password": password})


# ---------------------------------------------------------------------------------------------
# API tokens


def _tokens_page(request: Request, store: Store, created: Any = None) -> HTMLResponse:
    return _render(
        request,
        "admin_tokens.html",
        {
            "admin_tab": "tokens",
            "tokens": store.auth.tokens(),
            "facilities": store.facilities(),
            "created": created,
        },
    )


@router.get("/admin/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, store: StoreDep) -> HTMLResponse:
    return _tokens_page(request, store)


@router.post("/admin/tokens", response_model=None)
async def create_token_form(request: Request, store: StoreDep) -> Response:
    """A new API token, shown once on the answer."""
    form = await _form(request)
    try:
        role, districts, facility_id = _scope(form)
        token_id, token = auth.create_token(
            store,
            form.get("name", ""),
            role,
            created_by=current(request).actor,
            districts=districts,
            facility_id=facility_id,
        )
    except auth.AuthError as exc:
        return _back("/admin/tokens", str(exc))
    return _tokens_page(request, store, {"id": token_id, "name": form["name"], "token": token})


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token_form(store: StoreDep, token_id: int) -> RedirectResponse:
    try:
        auth.revoke_token(store, token_id)
    except LookupError as exc:
        return _back("/admin/tokens", str(exc.args[0]))
    return _back("/admin/tokens", done=str(token_id))


# ---------------------------------------------------------------------------------------------
# facilities: feed status and submission tokens


def _facilities_page(
    request: Request, store: Store, settings: Settings, created: Any = None
) -> HTMLResponse:
    quality = feeds.feed_quality(store, days=14, settings=settings.feeds)
    feed = {f.facility_id: f for f in quality.facilities}
    tokens: dict[str, list[dict[str, Any]]] = {}
    for t in store.tokens():
        tokens.setdefault(t["facility_id"], []).append(t)
    return _render(
        request,
        "admin_facilities.html",
        {
            "admin_tab": "facilities",
            "facilities": store.facilities(),
            "feed": feed,
            "feed_status": FEED_STATUS,
            "tokens": tokens,
            "created": created,
        },
    )


@router.get("/admin/facilities", response_class=HTMLResponse)
def facilities_page(request: Request, store: StoreDep, settings: SettingsDep) -> HTMLResponse:
    return _facilities_page(request, store, settings)


@router.post("/admin/facilities/{facility_id}/tokens", response_model=None)
async def create_facility_token_form(
    request: Request, store: StoreDep, settings: SettingsDep, facility_id: str
) -> Response:
    """A facility's submission token (HL7 v2, FHIR), shown once on the answer."""
    form = await _form(request)
    label = form.get("label")
    if facility_id not in {f.id for f in store.facilities()}:
        return _back("/admin/facilities", f"facility_id: unknown facility {facility_id!r}")
    if not label:
        return _back("/admin/facilities", "label: say what the token is for")
    token = store.create_token(facility_id, label)
    return _facilities_page(
        request, store, settings, {"facility_id": facility_id, "label": label, "token": token}
    )


@router.post("/admin/facilities/{facility_id}/tokens/{token_id}/revoke")
def revoke_facility_token_form(store: StoreDep, facility_id: str, token_id: int) -> Response:
    live = {t["id"] for t in store.tokens(facility_id) if not t["revoked_at"]}
    if token_id not in live or not store.revoke_token(token_id):
        return _back(
            "/admin/facilities", f"token_id: no live token {token_id} of facility {facility_id!r}"
        )
    return _back("/admin/facilities", done=str(token_id))


# ---------------------------------------------------------------------------------------------
# settings (read-only)


@router.get("/admin/settings", response_class=HTMLResponse)
def settings_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    rows = svc.effective_settings(settings)
    sections: dict[str, list[svc.SettingRow]] = {}
    for r in rows:
        sections.setdefault(r.section, []).append(r)
    return _render(request, "admin_settings.html", {"admin_tab": "settings", "sections": sections})
