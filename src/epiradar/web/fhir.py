"""FHIR R4 read API and Bulk Data export for authorised systems (docs/fhir-api.md).

Thin: parameters and headers in, ``service.fhir_api`` called, ``application/fhir+json`` out.
Permissions are in ``web/auth.py`` POLICY; person-level resources are filtered to the caller's
scope here (outside it: 404). Errors are OperationOutcome resources.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from epiradar.service import fhir_api as service
from epiradar.share import fhir_resources as fr
from epiradar.web.auth import current

router = APIRouter(prefix="/fhir", tags=["fhir"])

FHIR_JSON = "application/fhir+json"


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(fr.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


_ISSUE_CODES = {401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported"}


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    """An HTTP error of the layers around this router (401, 403 of ``web/auth.py``, 404 of an
    unknown path) as an OperationOutcome, for the app's error handler on ``/fhir/`` paths."""
    outcome = fr.operation_outcome(detail, code=_ISSUE_CODES.get(status, "processing"))
    return _json(outcome, status, headers)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _answer(call: Callable[[], Response]) -> Response:
    try:
        return call()
    except service.FhirError as exc:
        return _json(exc.outcome(), exc.status)


def _search(request: Request, resource_type: str) -> Response:
    app = request.app.state

    def run() -> Response:
        bundle = service.search(
            app.store,
            app.settings,
            resource_type,
            request.query_params.multi_items(),
            service.Scope.of(current(request)),
            base=_base(request),
            self_url=str(request.url),
        )
        return _json(bundle)

    return _answer(run)


def _read(request: Request, resource_type: str, resource_id: str) -> Response:
    app = request.app.state

    def run() -> Response:
        if request.query_params:
            name = next(iter(request.query_params))
            raise service.FhirError(400, f"{name}: a read takes no parameters", expression=name)
        found = service.read(
            app.store, app.settings, resource_type, resource_id, service.Scope.of(current(request))
        )
        return _json(found)

    return _answer(run)


@router.get("/metadata", summary="CapabilityStatement")
def metadata(request: Request) -> Response:
    return _json(service.capability(_base(request)))


def _kickoff(request: Request) -> Response:
    app = request.app.state

    def run() -> Response:
        job_id = service.kickoff(
            app.store,
            app.settings,
            who=current(request),
            actor=getattr(request.state, "actor", None) or current(request).actor,
            params=request.query_params.multi_items(),
            prefer=request.headers.get("prefer"),
            request_url=str(request.url),
        )
        outcome = fr.operation_outcome(
            f"bulk export {job_id} accepted", code="informational", severity="information"
        )
        return _json(outcome, 202, {"Content-Location": f"{_base(request)}/bulk/{job_id}"})

    return _answer(run)


@router.get("/$export", summary="Bulk Data export kick-off (system level)")
def export_all(request: Request) -> Response:
    return _kickoff(request)


@router.get("/Patient/$export", summary="Bulk Data export kick-off (all patients)")
def export_patients(request: Request) -> Response:
    return _kickoff(request)


@router.get("/bulk/{job_id}", summary="Bulk Data export status")
def bulk_status(request: Request, job_id: str) -> Response:
    app = request.app.state

    def run() -> Response:
        status, headers, body = service.job_status(
            app.store, app.settings, job_id, current(request), base=_base(request)
        )
        if status == 200 and body is not None:
            return Response(
                fr.dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"}
            )
        if body is None:
            return Response(status_code=status, headers=headers)
        return _json(body, status, headers)

    return _answer(run)


@router.delete("/bulk/{job_id}", summary="Cancel a Bulk Data export, or delete its files")
def bulk_delete(request: Request, job_id: str) -> Response:
    app = request.app.state

    def run() -> Response:
        service.cancel(app.store, app.settings, job_id, current(request))
        return Response(status_code=202)

    return _answer(run)


@router.get("/bulk/{job_id}/{file_name}", summary="One NDJSON file of a Bulk Data export")
def bulk_file(request: Request, job_id: str, file_name: str) -> Response:
    app = request.app.state

    def run() -> Response:
        path = service.job_file(app.store, app.settings, job_id, file_name, current(request))
        return FileResponse(path, media_type=service.NDJSON, filename=file_name)

    return _answer(run)


def _routes(resource_type: str) -> None:
    lower = resource_type.lower()

    def search_type(request: Request) -> Response:
        return _search(request, resource_type)

    def read_one(request: Request, resource_id: str) -> Response:
        return _read(request, resource_type, resource_id)

    router.add_api_route(
        f"/{resource_type}",
        search_type,
        methods=["GET"],
        name=f"fhir_{lower}_search",
        summary=f"Search {resource_type}",
    )
    router.add_api_route(
        f"/{resource_type}/{{resource_id}}",
        read_one,
        methods=["GET"],
        name=f"fhir_{lower}_read",
        summary=f"Read {resource_type}",
    )


for _type in (*fr.TYPES, "MeasureReport"):
    _routes(_type)
