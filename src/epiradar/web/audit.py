"""The web layer's audit: one ASGI middleware records every write and every read of
person-level data, before the response is sent (no entry, no response).

- Writes: every matched route called with POST, PUT, PATCH or DELETE. Known routes get the
  action named in :data:`WRITES`; any other gets ``api.<endpoint name>``, so new write
  endpoints are recorded without further code.
- Reads of person-level data: the GET routes listed in :data:`PERSON_LEVEL_READS`. A new
  endpoint or page that shows visits, patient keys or raw input must be added there.

Who: the authenticated caller (web/auth.py): the user of the session, ``token:<name>`` for
an API token (or the person it names in ``X-Epiradar-Actor``, with ``via`` in the detail),
``facility:<id>`` for a facility token, ``anonymous`` otherwise. From where: the client
address of the connection.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from epiradar.service import audit

_PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

PERSON_LEVEL_READS: dict[str, tuple[str, str, str | None]] = {
    # route path: (action, object type, path parameter holding the object id)
    "/api/alerts/{alert_id}/visits": ("alert.line_list.read", "alert", "alert_id"),
    "/api/alerts/{alert_id}/trace": ("alert.trace.read", "alert", "alert_id"),
    "/api/alerts/{alert_id}/sources": ("alert.trace.read", "alert", "alert_id"),
    "/api/facilities/{facility_id}/visits": ("facility.visits.read", "facility", "facility_id"),
    "/api/quarantine": ("quarantine.list.read", "quarantine", None),
    "/api/quarantine/{record_id}": ("quarantine.record.read", "quarantine", "record_id"),
    "/alerts/{alert_id}": ("alert.page.read", "alert", "alert_id"),  # line list and trace
    "/quarantine": ("quarantine.page.read", "quarantine", None),  # raw rejected input
    # work pages: the workspace shows the line list and contacts, the graph the case ids
    "/investigations/{investigation_id}": (
        "investigation.page.read",
        "investigation",
        "investigation_id",
    ),
    "/investigations/{investigation_id}/graph": (
        "investigation.graph.read",
        "investigation",
        "investigation_id",
    ),
    # FHIR read API (web/fhir.py): pseudonymised patients, encounters, conditions, observations
    "/fhir/Patient": ("fhir.patient.search", "fhir", None),
    "/fhir/Patient/{resource_id}": ("fhir.patient.read", "fhir", "resource_id"),
    "/fhir/Encounter": ("fhir.encounter.search", "fhir", None),
    "/fhir/Encounter/{resource_id}": ("fhir.encounter.read", "fhir", "resource_id"),
    "/fhir/Condition": ("fhir.condition.search", "fhir", None),
    "/fhir/Condition/{resource_id}": ("fhir.condition.read", "fhir", "resource_id"),
    "/fhir/Observation": ("fhir.observation.search", "fhir", None),
    "/fhir/Observation/{resource_id}": ("fhir.observation.read", "fhir", "resource_id"),
    # exports: the service records what each one released as well
    "/fhir/$export": ("fhir.bulk.kickoff", "fhir_bulk", None),
    "/fhir/Patient/$export": ("fhir.bulk.kickoff", "fhir_bulk", None),
    "/fhir/bulk/{job_id}/{file_name}": ("fhir.bulk.file.read", "fhir_bulk", "job_id"),
    "/api/exports/line-list": ("export.line_list.download", "line_list", None),
}

AGGREGATE_READS: frozenset[str] = frozenset(
    {
        "/api/openapi.json",
        "/api/docs",
        "/static/vendor/plotly.min.js",
        "/api/health",
        "/api/regions",
        "/api/counts",
        "/api/alerts",
        "/api/alerts/{alert_id}",
        "/api/feeds",
        "/api/feeds/alerts",
        "/",
        "/partials/epicurve",
        "/alerts",
        "/feeds",
        # work pages: alerts, tasks and 7-1-7 counts (no visits or patient keys)
        "/queue",
        "/investigations",
        "/timeliness",
        "/lang/{locale}",  # the language switcher (sets a cookie, redirects)
        # workflow: states, timers, investigations and tasks (no visits or patient keys)
        "/api/alerts/{alert_id}/workflow",
        "/api/alerts/{alert_id}/timeline",
        "/api/mutes",
        "/api/queue",
        "/api/timeliness",
        "/api/investigations",
        "/api/investigations/{investigation_id}",
        "/api/investigations/{investigation_id}/timeline",
        "/api/tasks",
        "/api/tasks/{task_id}",
        # notifications: staff subscriptions and the delivery log
        "/api/notify/subscribers",
        "/api/notify/subscribers/{ref}",
        "/api/notify/deliveries",
        "/api/notify/deliveries/{delivery_id}",
        "/api/notify/attempts",
        # accounts: staff names and roles, never patient data
        "/login",
        "/api/me",
        "/api/users",
        "/api/tokens",
        # administration pages: accounts, tokens (never the secret), facilities, settings
        "/admin/users",
        "/admin/tokens",
        "/admin/facilities",
        "/admin/settings",
        # sharing: the FHIR server's statement, aggregate measure reports, bulk job status
        "/fhir/metadata",
        "/fhir/MeasureReport",
        "/fhir/MeasureReport/{resource_id}",
        "/fhir/bulk/{job_id}",
        # line-list export: the form and the k-anonymity report (counts, no rows)
        "/exports",
        "/api/exports/line-list/report",
        # public dashboard and open data: suppressed aggregates
        "/public",
        "/api/open",
        "/api/open/regions",
        "/api/open/aggregates",
        "/api/open/aggregates.csv",
        "/api/open/risk",
        # bulletins: aggregates with small counts suppressed
        "/bulletins",
        "/bulletins/{bulletin_id}",
        "/bulletins/{bulletin_id}/pdf",
        "/api/bulletins",
        "/api/bulletins/{bulletin_id}",
        "/public/bulletins",
        "/public/bulletins/{bulletin_id}",
        "/public/bulletins/{bulletin_id}/pdf",
        "/api/open/bulletins",
        # capacity: facility resources, forecasts, nearest clinics
        "/capacity/report",
        "/api/capacity",
        "/api/capacity/forecast",
        "/capacity",
        "/api/open/clinics",
        "/public/clinics",
    }
)
"""GET routes that show no person-level data, hence are not recorded (a test keeps every GET
route in this set or in :data:`PERSON_LEVEL_READS`)."""

WRITES: dict[tuple[str, str], tuple[str, str, str | None]] = {
    ("POST", "/api/ingest/hl7"): ("ingest.hl7.create", "ingest", None),
    ("POST", "/api/fhir"): ("ingest.fhir.create", "ingest", None),
    ("POST", "/login"): ("session.create", "session", None),
    ("POST", "/logout"): ("session.delete", "session", None),
    ("POST", "/api/users"): ("user.create", "user", None),
    ("PATCH", "/api/users/{username}"): ("user.update", "user", "username"),
    ("POST", "/api/tokens"): ("api_token.create", "api_token", None),
    ("DELETE", "/api/tokens/{token_id}"): ("api_token.revoke", "api_token", "token_id"),
    ("POST", "/admin/users"): ("user.create", "user", None),
    ("POST", "/admin/users/{username}/role"): ("user.update", "user", "username"),
    ("POST", "/admin/users/{username}/active"): ("user.update", "user", "username"),
    ("POST", "/admin/users/{username}/password"): ("user.password_reset", "user", "username"),
    ("POST", "/admin/tokens"): ("api_token.create", "api_token", None),
    ("POST", "/admin/tokens/{token_id}/revoke"): ("api_token.revoke", "api_token", "token_id"),
    ("POST", "/admin/facilities/{facility_id}/tokens"): (
        "facility_token.create",
        "facility",
        "facility_id",
    ),
    ("POST", "/admin/facilities/{facility_id}/tokens/{token_id}/revoke"): (
        "facility_token.revoke",
        "facility_token",
        "token_id",
    ),
}


def audited(method: str, route: Any) -> tuple[str, str | None, str | None] | None:
    """``(action, object type, id parameter)`` of a matched route, or ``None`` when the call
    is not recorded."""
    path = getattr(route, "path", None)
    if path is None:
        return None
    if method in WRITE_METHODS:
        known = WRITES.get((method, path))
        if known is not None:
            return known
        found = _PATH_PARAM.search(path)
        before = path[: found.start()] if found else path
        words = [p for p in before.split("/") if p and p != "api"]
        return (
            f"api.{getattr(route, 'name', 'write')}",
            _singular(words[-1]) if words else None,
            found.group(1) if found else None,
        )
    if method in ("GET", "HEAD"):
        return PERSON_LEVEL_READS.get(path)
    return None


def _singular(word: str) -> str:
    """``alerts`` -> ``alert``, ``hypotheses`` -> ``hypothesis``: the object type of a path."""
    if word.endswith("ses"):
        return word[:-3] + "sis"
    return word[:-1] if word.endswith("s") else word


class AuditMiddleware:
    """Pure ASGI middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        recorded = False

        async def write(status: int) -> None:
            nonlocal recorded
            recorded = True
            found = audited(scope["method"], scope.get("route"))
            if found is None:
                return
            action, object_type, id_param = found
            params = scope.get("path_params", {})
            state = scope.get("state", {})
            actor = state.get("actor")  # the authenticated caller (web/auth.py)
            facility = state.get("facility_id")
            if facility and not actor:
                actor = f"facility:{facility}"
            detail: dict[str, Any] = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
            }
            if scope.get("query_string"):
                detail["query"] = scope["query_string"].decode("latin-1")
            if facility:
                detail["facility_id"] = facility
            if state.get("auth_via"):
                detail["via"] = state["auth_via"]  # a machine token acting for ``actor``
            client = scope.get("client")
            store = scope["app"].state.store
            await anyio.to_thread.run_sync(
                lambda: audit.record(
                    store,
                    actor,
                    action,
                    channel="web",
                    object_type=object_type,
                    object_id=params.get(id_param) if id_param else None,
                    detail=detail,
                    remote_addr=client[0] if client else None,
                )
            )

        async def send_after_record(message: Message) -> None:
            if message["type"] == "http.response.start" and not recorded:
                await write(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_after_record)
        except Exception:
            if not recorded:
                await write(500)
            raise
