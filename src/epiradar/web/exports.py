"""De-identified line-list export with k-anonymity (docs/line-list-export.md): the report
``GET /api/exports/line-list/report``, the download ``GET /api/exports/line-list`` and the
``/exports`` page. Rows are limited to the caller's districts; every release is recorded by
``service.exports`` (what, to whom) besides the audit middleware's entry."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from epiradar.config import Settings
from epiradar.model import SYNDROMES
from epiradar.service import exports as service
from epiradar.service.exports import DownloadQuery, ExportError, ExportQuery, ExportReport
from epiradar.share import deidentify
from epiradar.store import Store
from epiradar.web.auth import current
from epiradar.web.deps import get_settings, get_store
from epiradar.web.i18n import N_
from epiradar.web.templating import templates

router = APIRouter()

StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

QI_LABELS = {
    "age": N_("Age"),
    "sex": N_("Sex"),
    "visit": N_("Visit date"),
    "onset": N_("Onset date"),
    "district": N_("District of residence"),
    "facility": N_("Facility"),
}
LEVEL_LABELS = {
    "5y": N_("5-year bands"),
    "10y": N_("10-year bands"),
    "20y": N_("20-year bands"),
    "sex": N_("kept"),
    "week": N_("ISO week"),
    "month": N_("month"),
    "district": N_("district"),
    "facility": N_("facility"),
    deidentify.SUPPRESSED: N_("suppressed"),
}
"""Words of the report's levels, translated on the page (``tr``)."""


def _scope(request: Request) -> list[str] | None:
    """The caller's districts; ``None`` for the whole city."""
    who = current(request)
    return None if who.city_wide else list(who.districts or ())


def _http(exc: ExportError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


@router.get(
    "/api/exports/line-list/report",
    response_model=ExportReport,
    tags=["api"],
    summary="The k-anonymity report of a de-identified line-list export (no rows)",
)
def line_list_report(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    query: Annotated[ExportQuery, Query()],
) -> ExportReport:
    try:
        return service.report(store, settings.export, query, scope=_scope(request))
    except ExportError as exc:
        raise _http(exc) from None


@router.get(
    "/api/exports/line-list",
    tags=["api"],
    summary="Download a de-identified, k-anonymous line list (CSV or Parquet)",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
            "description": "the file; X-Epiradar-* headers summarise the report",
        },
        422: {"description": "bad input, or k not reachable within the suppression limit"},
    },
)
def line_list_download(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    query: Annotated[DownloadQuery, Query()],
) -> Response:
    client = request.client
    try:
        file = service.export_line_list(
            store,
            settings.export,
            ExportQuery.model_validate(query.model_dump(exclude={"format"})),
            query.format,
            actor=getattr(request.state, "actor", None) or current(request).actor,
            channel="web",
            scope=_scope(request),
            remote_addr=client.host if client else None,
        )
    except ExportError as exc:
        raise _http(exc) from None
    headers = service.report_headers(file.report, file.sha256)
    headers["Content-Disposition"] = f'attachment; filename="{file.filename}"'
    return Response(file.content, media_type=file.media_type, headers=headers)


# ---------------------------------------------------------------------------------------------
# the page

_LISTS = ("districts", "qi")


def _districts(store: Store, scope: list[str] | None) -> list[tuple[str, str]]:
    """The districts a caller may pick: (id, label)."""
    out: dict[str, str] = {}
    for r in store.regions():
        if scope is not None and r.id not in scope and r.parent_id not in scope:
            continue
        out.setdefault(r.district_id, f"{r.district_id} · {r.district_name}")
    return sorted(out.items())


@router.get("/exports", response_class=HTMLResponse, include_in_schema=False)
def exports_page(request: Request, store: StoreDep, settings: SettingsDep) -> HTMLResponse:
    params = request.query_params
    raw: dict[str, Any] = {
        key: params.getlist(key) if key in _LISTS else params[key]
        for key in params
        if key in ExportQuery.model_fields
    }
    scope = _scope(request)
    errors: list[str] = []
    report: ExportReport | None = None
    query = ExportQuery()
    status = 200
    try:
        query = ExportQuery.model_validate(raw)
    except ValidationError as exc:
        errors = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        status = 422
    if raw and not errors:
        try:
            report = service.report(store, settings.export, query, scope=scope)
        except ExportError as exc:
            errors = [str(exc)]
            status = exc.status
    given = {k: v for k, v in query.model_dump(mode="json").items() if v not in (None, [])}
    link = urlencode(given, doseq=True)
    return templates.TemplateResponse(
        request,
        "exports.html",
        {
            "page": "exports",
            "query": query,
            "raw": raw,
            "errors": errors,
            "report": report,
            "download": (link + "&" if link else "") + "format=",
            "districts": _districts(store, scope),
            "scope": scope,
            "syndromes": SYNDROMES,
            "qis": list(deidentify.HIERARCHIES),
            "qi_chosen": query.qi if query.qi is not None else settings.export.quasi_identifiers,
            "qi_labels": QI_LABELS,
            "level_labels": LEVEL_LABELS,
            "defaults": settings.export,
            "schema": deidentify.SCHEMA,
        },
        status_code=status,
    )
