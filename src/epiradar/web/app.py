"""The FastAPI application: JSON API, server-rendered pages, and every asset served locally."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from epiradar import __version__
from epiradar.config import Settings
from epiradar.ingest.messages import LoopMessageWriter, MessageWriter
from epiradar.store import Store
from epiradar.web import (
    admin,
    api,
    bulletins,
    capacity,
    exports,
    feeds,
    fhir,
    ingest,
    pages,
    public,
    work_pages,
)
from epiradar.web import auth as auth_web
from epiradar.web import language as language_pages
from epiradar.web import notify as notify_api
from epiradar.web import workflow as workflow_api
from epiradar.web.audit import AuditMiddleware
from epiradar.web.i18n import LocaleMiddleware, gettext
from epiradar.web.templating import templates

STATIC_DIR = Path(__file__).parent / "static"
ASSET_CACHE = "public, max-age=86400"


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` shipped inside the installed ``plotly`` Python package."""
    return Path(str(files("plotly") / "package_data" / "plotly.min.js"))


def create_app(
    settings: Settings,
    store: Store | None = None,
    *,
    writer: MessageWriter | LoopMessageWriter | None = None,
) -> FastAPI:
    """The web app over ``store`` (opened from ``settings.db`` when not given, and then closed
    when the app shuts down). ``writer`` takes the submitted messages; without one the app
    makes its own on the first submission and closes it at shutdown."""
    owned = store is None
    opened = Store(settings.db) if store is None else store

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if getattr(app.state, "owns_writer", False):
            app.state.writer.close()
        if owned:
            opened.close()

    app = FastAPI(
        title="epiradar",
        version=__version__,
        description="Early warning of epidemics from fever-clinic visits, with source tracing.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        dependencies=[Depends(auth_web.enforce)],  # every route: web/auth.py's policy table
    )
    app.state.settings = settings
    app.state.store = opened
    app.state.writer = writer
    app.add_middleware(AuditMiddleware)  # every write, every person-level read
    auth_web.install(app)  # login pages, accounts API, security headers
    app.add_middleware(LocaleMiddleware)  # the locale pages and figures are shown in

    plotly_js = plotly_js_path()

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_bundle() -> FileResponse:
        return FileResponse(
            plotly_js, media_type="text/javascript", headers={"Cache-Control": ASSET_CACHE}
        )

    @app.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            "api_docs.html",
            {
                "page": "api",
                "operations": _operations(app.openapi()),
            },
        )

    app.include_router(api.router)
    app.include_router(ingest.router)
    app.include_router(pages.router)
    app.include_router(feeds.router)
    app.include_router(notify_api.router)
    app.include_router(workflow_api.router)
    app.include_router(workflow_api.pages_router)
    app.include_router(work_pages.router)
    app.include_router(admin.router)
    app.include_router(language_pages.router)
    app.include_router(fhir.router)
    app.include_router(exports.router)
    app.include_router(public.router)
    app.include_router(bulletins.router)
    app.include_router(capacity.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/fhir/"):  # FHIR clients get an OperationOutcome
            return fhir.error_response(
                exc.status_code, str(exc.detail), getattr(exc, "headers", None)
            )
        if _wants_json(request):
            return JSONResponse(
                {"detail": exc.detail},
                status_code=exc.status_code,
                headers=getattr(exc, "headers", None),
            )
        return _error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": _jsonable_errors(exc)}, status_code=422)
        message = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
        )
        return _error_page(request, 422, message or "invalid request")

    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def _jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    titles = {404: "Not found", 422: "Invalid request"}
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "page": "",
            "status": status,
            "title": gettext(titles.get(status, "Error")),  # words in web/vocabulary.py
            "message": message,
        },
        status_code=status,
    )


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The OpenAPI operations as rows for the local documentation page."""
    out = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            response = op.get("responses", {}).get("200", {})
            ref = response.get("content", {}).get("application/json", {}).get("schema", {})
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "description": p.get("description", ""),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "returns": _schema_name(ref),
                }
            )
    return out


def _schema_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"list of {_schema_name(schema.get('items', {}))}"
    return schema.get("type", "")


def serve(settings: Settings) -> None:
    """Serve the app on ``settings.host:settings.port`` and, with ``settings.mllp_port``, the
    MLLP listener (blocks)."""
    from epiradar.service.messages import serve as serve_all

    serve_all(settings)
