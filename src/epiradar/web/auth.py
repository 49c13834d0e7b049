"""Who may call what: authentication, the policy table, CSRF, security headers, and the login,
logout, account and token endpoints.

Every route of the app runs :func:`enforce` (an app-wide dependency). It finds the caller (a
session cookie, an API token, a facility token, or nobody), looks the matched route up in
:data:`POLICY` (route -> required permission and scope filter), refuses with 401 (nobody) or
403 (not allowed, or outside the caller's scope), and checks the CSRF token of writes made with
a session. A route missing from :data:`POLICY` is open to administrators only, and a test fails
until it is listed.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

import anyio
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import pass_context
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from epiradar.service import auth as service
from epiradar.service.auth import ANONYMOUS, DEMO_ADMIN, Principal
from epiradar.store import Store
from epiradar.store.auth import hypothesis_investigation
from epiradar.web.deps import get_store, local_path
from epiradar.web.templating import templates

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ACTOR_HEADER = "X-Epiradar-Actor"


@dataclass(frozen=True)
class Rule:
    """A route's requirement: a permission, and the object its path names, checked against the
    caller's scope (``alert``, ``investigation``, ``task``, ``hypothesis``, ``quarantine``)."""

    permission: str
    scope: str | None = None


PUBLIC = Rule("public")
AGG = Rule("aggregate.read")
ALERT_AGG = Rule("aggregate.read", "alert")
PERSON_ALERT = Rule("person.read", "alert")
WF_READ = Rule("workflow.read")
WF_WRITE = Rule("workflow.write")
ADMIN_NOTIFY = Rule("notify.admin")
USERS_ADMIN = Rule("users.admin")
VISITS = Rule("visits.read")  # rows filtered to the caller's districts or facility
EXPORT = Rule("export.line_list")  # rows filtered to the caller's districts
BULLETIN_WRITE = Rule("bulletin.write", "city")
BULLETIN_APPROVE = Rule("bulletin.approve", "city")
CAPACITY_REPORT = Rule("capacity.report")  # a facility reports its own capacity

POLICY: dict[tuple[str, str], Rule] = {
    # public: health, docs, assets, login
    ("GET", "/api/health"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,  # the API's description (no data)
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/static/vendor/plotly.min.js"): PUBLIC,
    ("GET", "/lang/{locale}"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,  # ends the caller's own session (CSRF-checked)
    # aggregates: counts, maps, alert summaries (alert lists are filtered to the scope)
    ("GET", "/api/regions"): AGG,
    ("GET", "/api/counts"): AGG,
    ("GET", "/api/alerts"): AGG,
    ("GET", "/api/alerts/{alert_id}"): ALERT_AGG,
    ("GET", "/"): AGG,
    ("GET", "/partials/epicurve"): AGG,
    ("GET", "/alerts"): AGG,
    ("GET", "/alerts/{alert_id}"): ALERT_AGG,  # the line list and tracing need person.read
    ("GET", "/api/timeliness"): AGG,
    # person-level: line lists, tracing, raw rejected input
    ("GET", "/api/alerts/{alert_id}/visits"): PERSON_ALERT,
    ("GET", "/api/alerts/{alert_id}/trace"): PERSON_ALERT,
    ("GET", "/api/alerts/{alert_id}/sources"): PERSON_ALERT,
    ("GET", "/api/facilities/{facility_id}/visits"): Rule("visits.read", "own_facility"),
    ("GET", "/api/quarantine"): Rule("quarantine.read", "facility"),
    ("GET", "/api/quarantine/{record_id}"): Rule("quarantine.read", "quarantine"),
    ("GET", "/quarantine"): Rule("quarantine.read", "facility"),
    # feeds: a hospital reporter sees its own facility's
    ("GET", "/api/feeds"): Rule("feeds.read"),  # filtered to a reporter's facility
    ("GET", "/api/feeds/alerts"): Rule("feeds.read"),
    ("GET", "/feeds"): Rule("feeds.read"),
    # ingest: facility tokens only
    ("POST", "/api/ingest/hl7"): Rule("ingest"),
    ("POST", "/api/fhir"): Rule("ingest"),
    # workflow
    ("GET", "/api/alerts/{alert_id}/workflow"): Rule("workflow.read", "alert"),
    ("GET", "/api/alerts/{alert_id}/timeline"): Rule("workflow.read", "alert"),
    ("POST", "/api/alerts/{alert_id}/transition"): Rule("workflow.write", "alert"),
    ("POST", "/alerts/{alert_id}/transition"): Rule("workflow.write", "alert"),
    ("POST", "/api/alerts/{alert_id}/snooze"): Rule("workflow.write", "alert"),
    ("DELETE", "/api/alerts/{alert_id}/snooze"): Rule("workflow.write", "alert"),
    ("POST", "/api/alerts/{alert_id}/mute"): Rule("workflow.write", "alert"),
    ("GET", "/api/mutes"): WF_READ,
    ("DELETE", "/api/mutes/{mute_id}"): Rule("workflow.write", "city"),
    ("GET", "/api/queue"): WF_READ,
    ("POST", "/api/investigations"): WF_WRITE,
    ("GET", "/api/investigations"): WF_READ,
    ("GET", "/api/investigations/{investigation_id}"): Rule("workflow.read", "investigation"),
    ("PATCH", "/api/investigations/{investigation_id}"): Rule("workflow.write", "investigation"),
    ("POST", "/api/investigations/{investigation_id}/alerts"): Rule(
        "workflow.write", "investigation"
    ),
    ("GET", "/api/investigations/{investigation_id}/timeline"): Rule(
        "workflow.read", "investigation"
    ),
    ("POST", "/api/investigations/{investigation_id}/hypotheses"): Rule(
        "workflow.write", "investigation"
    ),
    ("POST", "/api/investigations/{investigation_id}/hypotheses/from-trace"): Rule(
        "workflow.write", "investigation"
    ),
    ("PATCH", "/api/hypotheses/{hypothesis_id}"): Rule("workflow.write", "hypothesis"),
    ("POST", "/api/investigations/{investigation_id}/tasks"): Rule(
        "workflow.write", "investigation"
    ),
    ("GET", "/api/tasks"): WF_READ,
    ("GET", "/api/tasks/{task_id}"): Rule("workflow.read", "task"),
    ("PATCH", "/api/tasks/{task_id}"): Rule("workflow.write", "task"),
    ("DELETE", "/api/tasks/{task_id}"): Rule("workflow.write", "task"),
    # work pages: queue, investigation workspace (line list, contacts), timeliness
    ("GET", "/queue"): WF_READ,
    ("GET", "/investigations"): WF_READ,
    ("GET", "/investigations/{investigation_id}"): Rule("person.read", "investigation"),
    ("GET", "/investigations/{investigation_id}/graph"): Rule("person.read", "investigation"),
    ("GET", "/timeliness"): AGG,
    ("POST", "/investigations"): WF_WRITE,
    ("POST", "/investigations/{investigation_id}/tasks"): Rule("workflow.write", "investigation"),
    ("POST", "/tasks/{task_id}/complete"): Rule("workflow.write", "task"),
    ("POST", "/investigations/{investigation_id}/contacts"): Rule(
        "workflow.write", "investigation"
    ),
    ("POST", "/contacts/{contact_id}/follow-up"): Rule("workflow.write", "city"),
    # notifications: administrators
    ("GET", "/api/notify/subscribers"): ADMIN_NOTIFY,
    ("POST", "/api/notify/subscribers"): ADMIN_NOTIFY,
    ("GET", "/api/notify/subscribers/{ref}"): ADMIN_NOTIFY,
    ("DELETE", "/api/notify/subscribers/{ref}"): ADMIN_NOTIFY,
    ("POST", "/api/notify/subscribers/{ref}/subscriptions"): ADMIN_NOTIFY,
    ("DELETE", "/api/notify/subscribers/{ref}/subscriptions/{subscription_id}"): ADMIN_NOTIFY,
    ("GET", "/api/notify/deliveries"): ADMIN_NOTIFY,
    ("GET", "/api/notify/deliveries/{delivery_id}"): ADMIN_NOTIFY,
    ("GET", "/api/notify/attempts"): ADMIN_NOTIFY,
    # accounts and tokens (user lists are scoped: others see only themselves)
    ("GET", "/api/me"): Rule("users.read"),
    ("GET", "/api/users"): Rule("users.read"),
    ("POST", "/api/users"): USERS_ADMIN,
    ("PATCH", "/api/users/{username}"): USERS_ADMIN,
    ("GET", "/api/tokens"): USERS_ADMIN,
    ("POST", "/api/tokens"): USERS_ADMIN,
    ("DELETE", "/api/tokens/{token_id}"): USERS_ADMIN,
    # administration pages (web/admin.py): administrators only
    ("GET", "/admin/users"): USERS_ADMIN,
    ("POST", "/admin/users"): USERS_ADMIN,
    ("POST", "/admin/users/{username}/role"): USERS_ADMIN,
    ("POST", "/admin/users/{username}/active"): USERS_ADMIN,
    ("POST", "/admin/users/{username}/password"): USERS_ADMIN,
    ("GET", "/admin/tokens"): USERS_ADMIN,
    ("POST", "/admin/tokens"): USERS_ADMIN,
    ("POST", "/admin/tokens/{token_id}/revoke"): USERS_ADMIN,
    ("GET", "/admin/facilities"): USERS_ADMIN,
    ("POST", "/admin/facilities/{facility_id}/tokens"): USERS_ADMIN,
    ("POST", "/admin/facilities/{facility_id}/tokens/{token_id}/revoke"): USERS_ADMIN,
    ("GET", "/admin/settings"): USERS_ADMIN,
    # FHIR R4 read API and Bulk Data export (web/fhir.py): person-level resources filtered to
    # the caller's districts (epidemiologists) or facility (hospital reporters)
    ("GET", "/fhir/metadata"): PUBLIC,  # the CapabilityStatement (no data)
    ("GET", "/fhir/Patient"): VISITS,
    ("GET", "/fhir/Patient/{resource_id}"): VISITS,
    ("GET", "/fhir/Encounter"): VISITS,
    ("GET", "/fhir/Encounter/{resource_id}"): VISITS,
    ("GET", "/fhir/Condition"): VISITS,
    ("GET", "/fhir/Condition/{resource_id}"): VISITS,
    ("GET", "/fhir/Observation"): VISITS,
    ("GET", "/fhir/Observation/{resource_id}"): VISITS,
    ("GET", "/fhir/MeasureReport"): AGG,
    ("GET", "/fhir/MeasureReport/{resource_id}"): AGG,
    ("GET", "/fhir/$export"): VISITS,
    ("GET", "/fhir/Patient/$export"): VISITS,
    ("GET", "/fhir/bulk/{job_id}"): VISITS,  # the caller's own jobs only
    ("DELETE", "/fhir/bulk/{job_id}"): VISITS,
    ("GET", "/fhir/bulk/{job_id}/{file_name}"): VISITS,
    # de-identified line lists (web/exports.py)
    ("GET", "/exports"): EXPORT,
    ("GET", "/api/exports/line-list/report"): EXPORT,
    ("GET", "/api/exports/line-list"): EXPORT,
    # the public dashboard and open data (web/public.py): suppressed aggregates only
    ("GET", "/public"): PUBLIC,
    ("GET", "/api/open"): PUBLIC,
    ("GET", "/api/open/regions"): PUBLIC,
    ("GET", "/api/open/aggregates"): PUBLIC,
    ("GET", "/api/open/aggregates.csv"): PUBLIC,
    ("GET", "/api/open/risk"): PUBLIC,
    # bulletins (web/bulletins.py): drafted and approved by city-wide staff, published openly
    ("GET", "/bulletins"): BULLETIN_WRITE,
    ("POST", "/bulletins"): BULLETIN_WRITE,
    ("GET", "/bulletins/{bulletin_id}"): BULLETIN_WRITE,
    ("GET", "/bulletins/{bulletin_id}/pdf"): BULLETIN_WRITE,
    ("POST", "/bulletins/{bulletin_id}/approve"): BULLETIN_APPROVE,
    ("POST", "/bulletins/{bulletin_id}/reject"): BULLETIN_APPROVE,
    ("GET", "/api/bulletins"): BULLETIN_WRITE,
    ("POST", "/api/bulletins"): BULLETIN_WRITE,
    ("GET", "/api/bulletins/{bulletin_id}"): BULLETIN_WRITE,
    ("POST", "/api/bulletins/{bulletin_id}/approve"): BULLETIN_APPROVE,
    ("POST", "/api/bulletins/{bulletin_id}/reject"): BULLETIN_APPROVE,
    ("GET", "/public/bulletins"): PUBLIC,  # published (approved) bulletins only
    ("GET", "/public/bulletins/{bulletin_id}"): PUBLIC,
    ("GET", "/public/bulletins/{bulletin_id}/pdf"): PUBLIC,
    ("GET", "/api/open/bulletins"): PUBLIC,
    # capacity (web/capacity.py)
    ("POST", "/api/capacity"): CAPACITY_REPORT,
    ("GET", "/capacity/report"): CAPACITY_REPORT,
    ("POST", "/capacity/report"): CAPACITY_REPORT,
    ("GET", "/api/capacity"): AGG,
    ("GET", "/api/capacity/forecast"): AGG,
    ("GET", "/capacity"): AGG,
    ("GET", "/api/open/clinics"): PUBLIC,  # nearest fever clinics with capacity
    ("GET", "/public/clinics"): PUBLIC,
}
"""Route (method, path template) -> :class:`Rule`. Every route of the app is listed."""

UNLISTED = Rule("unlisted route")
"""The rule of a route missing from :data:`POLICY`: administrators only."""


def rule_for(method: str, path: str) -> Rule:
    return POLICY.get((method, path), UNLISTED)


# ---------------------------------------------------------------------------------------------
# who calls


class LoginRequired(Exception):  # noqa: N818 - control flow to the login page
    """A page asked for without a login: answered with a redirect to ``/login``."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _authenticate(request: Request, store: Store) -> Principal:
    settings = request.app.state.settings.auth
    token = _bearer(request)
    if token is not None:
        found = service.token_principal(store, token)
        if found is None:
            facility = store.token_facility(token)
            if facility is not None:
                found = Principal(
                    kind="facility",
                    name=f"facility:{facility}",
                    role="facility",
                    facility_id=facility,
                )
        if found is None:
            raise HTTPException(
                401, "the API token is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
            )
        return found
    session_id = request.cookies.get(service.SESSION_COOKIE)
    if session_id:
        found = service.session_principal(store, session_id)
        if found is not None:
            return found
    return ANONYMOUS if settings.required else DEMO_ADMIN


def current(request: Request) -> Principal:
    """The caller of this request (set by :func:`enforce`)."""
    return getattr(request.state, "principal", None) or ANONYMOUS


def _can(who: Principal, permission: str) -> bool:
    if permission == "ingest":
        return who.kind == "facility"
    if permission == "capacity.report" and who.kind == "facility":
        return True  # a facility token reports its own facility's capacity
    return who.role == "administrator" or who.can(permission)


async def _csrf_ok(request: Request, who: Principal) -> bool:
    expected = who.csrf_token or ""
    given = request.headers.get(service.CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        body = (await request.body()).decode("utf-8", "replace")
        given = (parse_qs(body).get(service.CSRF_FIELD) or [None])[0]
    return bool(expected) and bool(given) and hmac.compare_digest(expected, given or "")


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _in_scope(store: Store, who: Principal, rule: Rule, params: dict[str, Any]) -> bool:
    """Whether the object named by the path lies in the caller's scope (unknown objects pass:
    the endpoint answers 404)."""
    if rule.scope is None or who.role == "administrator":
        return True
    if rule.scope == "city":
        return who.city_wide
    if rule.scope == "facility":
        return who.city_wide or who.facility_id is not None
    if rule.scope == "own_facility":  # others see the visits of their scope (rows filtered)
        return who.facility_id is None or who.facility_id == params["facility_id"]
    if rule.scope == "quarantine":
        if who.city_wide:
            return True
        if who.facility_id is None:
            return False
        from epiradar.service import views

        found = views.quarantine(store, 1, ids=[int(params["record_id"])])
        return not found or found[0].facility_id == who.facility_id
    if who.facility_id is not None:
        return False  # hospital reporters see no alerts or investigations
    if rule.scope == "alert":
        alert = store.alert(str(params["alert_id"]))
        return alert is None or who.sees_regions(alert.region_ids)
    investigation_id: int | None = None
    if rule.scope == "investigation":
        investigation_id = int(params["investigation_id"])
    elif rule.scope == "task":
        task = store.workflow.task(int(params["task_id"]))
        if task is None:
            return True
        investigation_id = int(task["investigation_id"])
    elif rule.scope == "hypothesis":
        investigation_id = hypothesis_investigation(store.engine, int(params["hypothesis_id"]))
        if investigation_id is None:
            return True
    if investigation_id is None:
        return who.city_wide
    return investigation_visible(store, who, investigation_id)


def investigation_visible(store: Store, who: Principal, investigation_id: int) -> bool:
    """An investigation is in scope when one of its alerts is (one without alerts: city-wide
    callers only)."""
    if who.city_wide:
        return True
    found = store.workflow.investigation(investigation_id)
    if found is None:
        return True
    alerts = [store.alert(a) for a in found.get("alert_ids", [])]
    return any(a is not None and who.sees_regions(a.region_ids) for a in alerts)


async def enforce(request: Request) -> None:
    """The app-wide guard (see the module docstring)."""
    store: Store = request.app.state.store
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    rule = rule_for(request.method, path)
    who = await anyio.to_thread.run_sync(_authenticate, request, store)
    request.state.principal = who
    actor = who.actor
    if who.kind == "token":
        on_behalf = (request.headers.get(ACTOR_HEADER) or "").strip()
        if on_behalf:
            actor = on_behalf
        request.state.auth_via = f"token:{who.name}"
    request.state.actor = actor
    if not _can(who, rule.permission):
        if who.kind == "anonymous":
            if request.method == "GET" and not path.startswith(("/api", "/fhir")):
                raise LoginRequired(
                    request.url.path + (f"?{request.url.query}" if request.url.query else "")
                )
            raise HTTPException(
                401,
                "log in or send an API token (Authorization: Bearer ...)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        raise HTTPException(
            403, f"a {who.role} may not use {request.method} {path} (needs {rule.permission})"
        )
    session_write = request.method in WRITE_METHODS and who.kind == "user" and path != "/login"
    if session_write and who.csrf_token is not None:
        if not _same_origin(request):
            raise HTTPException(403, "cross-origin write refused (Origin does not match Host)")
        if not await _csrf_ok(request, who):
            raise HTTPException(
                403,
                f"CSRF token missing or wrong: send the {service.CSRF_HEADER} header or the "
                f"{service.CSRF_FIELD} form field of this session",
            )
    if request.method == "POST" and path == "/login" and not _same_origin(request):
        raise HTTPException(403, "cross-origin login refused (Origin does not match Host)")
    params = dict(request.path_params)
    allowed = await anyio.to_thread.run_sync(_in_scope, store, who, rule, params)
    if not allowed:
        raise HTTPException(403, f"{path} with {params} is outside your scope")


Caller = Annotated[Principal, Depends(current)]
StoreDep = Annotated[Store, Depends(get_store)]


# ---------------------------------------------------------------------------------------------
# scope filters for list endpoints


def scoped_alerts(request: Request, alerts: list[Any], get: Any = lambda a: a) -> list[Any]:
    """The alerts (``get(row)`` -> Alert) within the caller's scope."""
    who = current(request)
    return [r for r in alerts if who.sees_regions(get(r).region_ids)]


def scoped_investigations(request: Request, store: Store, rows: list[Any]) -> list[Any]:
    """The investigations (with ``id``) within the caller's scope."""
    who = current(request)
    if who.city_wide:
        return rows
    return [r for r in rows if investigation_visible(store, who, int(r.id))]


def scoped_tasks(request: Request, store: Store, rows: list[Any]) -> list[Any]:
    """The tasks whose investigation is within the caller's scope."""
    who = current(request)
    if who.city_wide:
        return rows
    seen: dict[int, bool] = {}
    out = []
    for r in rows:
        inv = int(r.investigation_id)
        if inv not in seen:
            seen[inv] = investigation_visible(store, who, inv)
        if seen[inv]:
            out.append(r)
    return out


def scoped_line_list(request: Request, rows: list[Any]) -> list[Any]:
    return service.line_list_filter(current(request), rows)


def scoped_facility(request: Request, facility_id: str | None) -> str | None:
    """The facility filter a list must use: a hospital reporter's own, else ``facility_id``."""
    who = current(request)
    return who.facility_id if who.facility_id is not None else facility_id


# ---------------------------------------------------------------------------------------------
# security headers


class SecurityHeadersMiddleware:
    """CSP, nosniff, frame denial, referrer policy on every response; HSTS over https;
    ``Cache-Control: no-store`` on API answers that set no caching, except the open data and
    the public pages: the same for everyone, so shared caches may keep them a few minutes
    (what keeps a public site up when an outbreak sends everyone to it)."""

    CSP = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
        "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = {
                    b"content-security-policy": self.CSP.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"x-frame-options": b"DENY",
                    b"referrer-policy": b"same-origin",
                    b"cross-origin-opener-policy": b"same-origin",
                }
                if scope.get("scheme") == "https":
                    extra[b"strict-transport-security"] = b"max-age=31536000; includeSubDomains"
                path = scope["path"]
                if path.startswith("/api/open"):
                    extra[b"cache-control"] = b"public, max-age=0, s-maxage=300"
                elif path.startswith("/api/"):
                    extra[b"cache-control"] = b"no-store"
                elif path == "/public" or path.startswith("/public/"):
                    extra[b"cache-control"] = b"public, max-age=0, s-maxage=60"
                    extra[b"vary"] = b"Accept-Language, Cookie"  # the page's language
                headers += [(k, v) for k, v in extra.items() if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---------------------------------------------------------------------------------------------
# templates: the caller, CSRF fields


@pass_context
def _principal(context: dict[str, Any]) -> Principal:
    return current(context["request"])


@pass_context
def _can_in_template(context: dict[str, Any], permission: str) -> bool:
    return _can(current(context["request"]), permission)


@pass_context
def csrf_input(context: dict[str, Any]) -> Markup:
    """The hidden form field carrying this session's CSRF token."""
    token = current(context["request"]).csrf_token or ""
    return Markup(f'<input type="hidden" name="{service.CSRF_FIELD}" value="{escape(token)}">')


templates.env.globals.update(principal=_principal, can=_can_in_template, csrf_input=csrf_input)


# ---------------------------------------------------------------------------------------------
# login and logout pages

pages_router = APIRouter(include_in_schema=False)


def _login_page(request: Request, error: str | None, status: int, username: str = "") -> Response:
    return templates.TemplateResponse(
        request,
        "login.html",
        {
            "page": "login",
            "error": error,
            "username": username,
            "next": local_path(request.query_params.get("next")),
        },
        status_code=status,
    )


@pages_router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _login_page(request, None, 200)


def _secure(request: Request) -> bool:
    mode = request.app.state.settings.auth.secure_cookies
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


@pages_router.post("/login")
async def login_submit(request: Request, store: StoreDep) -> Response:
    """Check the form's username and password; on success set the session cookie and go on."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    username = (form.get("username") or [""])[0].strip()
    password = (form.get("password") or [""])[0]
    target = local_path((form.get("next") or ["/"])[0])
    settings = request.app.state.settings.auth
    addr = request.client.host if request.client else None
    try:
        session_id, who = await anyio.to_thread.run_sync(
            lambda: service.login(store, username, password, addr=addr, settings=settings)
        )
    except service.LoginRefused as exc:
        request.state.actor = username or "anonymous"
        page = _login_page(request, str(exc), 429 if exc.locked else 401, username)
        return page
    request.state.actor = who.actor
    reply = RedirectResponse(target, status_code=303)
    reply.set_cookie(
        service.SESSION_COOKIE,
        session_id,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    return reply


@pages_router.post("/logout")
def logout(request: Request, store: StoreDep) -> Response:
    session_id = request.cookies.get(service.SESSION_COOKIE)
    if session_id:
        service.logout(store, session_id)
    reply = RedirectResponse("/login", status_code=303)
    reply.delete_cookie(service.SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return reply


# ---------------------------------------------------------------------------------------------
# accounts and tokens (JSON)

router = APIRouter(prefix="/api", tags=["accounts"])


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    districts: list[str] | None
    facility_id: str | None
    active: bool
    created_at: str
    updated_at: str


class Me(BaseModel):
    name: str
    kind: Literal["user", "token", "facility", "anonymous"]
    role: str
    districts: list[str] | None
    facility_id: str | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserIn(_Body):
    username: str
    password: str = Field(description="at least the configured minimum length")
    role: Literal["administrator", "epidemiologist", "hospital_reporter", "viewer", "public"]
    districts: list[str] | None = Field(None, description="region ids; none = whole city")
    facility_id: str | None = None


class UserPatch(_Body):
    role: Literal["administrator", "epidemiologist", "hospital_reporter", "viewer", "public"]
    districts: list[str] | None = None
    facility_id: str | None = None
    active: bool | None = None


class TokenIn(_Body):
    name: str = Field(description="what the token is for")
    role: Literal["administrator", "epidemiologist", "hospital_reporter", "viewer", "public"]
    districts: list[str] | None = None
    facility_id: str | None = None


class TokenOut(BaseModel):
    id: int
    name: str
    role: str
    districts: list[str] | None
    facility_id: str | None
    created_by: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class TokenCreated(BaseModel):
    id: int
    token: str = Field(description="shown once; only its SHA-256 is kept")


def _refused(exc: service.AuthError) -> HTTPException:
    return HTTPException(422, str(exc))


@router.get("/me", response_model=Me, summary="The caller: name, role and scope")
def me(who: Caller) -> Me:
    return Me(
        name=who.name,
        kind=who.kind,  # type: ignore[arg-type]
        role=who.role,
        districts=list(who.districts) if who.districts is not None else None,
        facility_id=who.facility_id,
    )


@router.get("/users", response_model=list[UserOut], summary="Accounts (others: only your own)")
def list_users(store: StoreDep, who: Caller) -> list[dict[str, Any]]:
    return service.visible_users(store, who)


@router.post("/users", response_model=UserOut, status_code=201, summary="Create an account")
def create_user(body: UserIn, store: StoreDep, request: Request) -> dict[str, Any]:
    try:
        return service.add_user(
            store,
            body.username,
            body.password,
            body.role,
            settings=request.app.state.settings.auth,
            districts=body.districts,
            facility_id=body.facility_id,
        )
    except service.AuthError as exc:
        raise _refused(exc) from None


@router.patch("/users/{username}", response_model=UserOut, summary="Set role, scope, active")
def patch_user(username: str, body: UserPatch, store: StoreDep) -> dict[str, Any]:
    try:
        found = service.set_role(
            store, username, body.role, districts=body.districts, facility_id=body.facility_id
        )
        if body.active is not None:
            found = service.set_active(store, username, body.active)
        return found
    except LookupError as exc:
        raise HTTPException(404, str(exc.args[0])) from None
    except service.AuthError as exc:
        raise _refused(exc) from None


@router.get("/tokens", response_model=list[TokenOut], summary="API tokens (never the secret)")
def list_tokens(store: StoreDep) -> list[dict[str, Any]]:
    return store.auth.tokens()


@router.post("/tokens", response_model=TokenCreated, status_code=201, summary="Create a token")
def create_token(body: TokenIn, store: StoreDep, who: Caller) -> TokenCreated:
    try:
        token_id, token = service.create_token(
            store,
            body.name,
            body.role,
            created_by=who.actor,
            districts=body.districts,
            facility_id=body.facility_id,
        )
    except service.AuthError as exc:
        raise _refused(exc) from None
    return TokenCreated(id=token_id, token=token)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token")
def revoke_token(token_id: int, store: StoreDep) -> Response:
    try:
        service.revoke_token(store, token_id)
    except LookupError as exc:
        raise HTTPException(404, str(exc.args[0])) from None
    return Response(status_code=204)


# ---------------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Add the login pages, the account API, the security headers and the login redirect to
    ``app`` (the guard itself is the app's dependency :func:`enforce`)."""
    app.include_router(pages_router)
    app.include_router(router)
    app.add_middleware(SecurityHeadersMiddleware)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        from urllib.parse import urlencode

        return RedirectResponse(f"/login?{urlencode({'next': exc.next_path})}", status_code=303)
