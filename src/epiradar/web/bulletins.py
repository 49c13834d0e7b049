"""Bulletins: generate, review, approve and publish (docs/bulletins.md).

Staff pages and JSON API (``bulletin.write`` to generate, list and preview; ``bulletin.approve``
to approve or reject; both city-wide, see ``web/auth.py`` POLICY), and the public side: the
published bulletins, in the visitor's language, with their PDFs, and their list as open data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field

from epiradar.config import Settings
from epiradar.service import bulletins as svc
from epiradar.share.bulletin_render import bulletin_css
from epiradar.share.bulletin_text import LANGS
from epiradar.store import Store
from epiradar.web import i18n
from epiradar.web.deps import get_settings, get_store
from epiradar.web.templating import templates

router = APIRouter()

StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Lang = Literal["en", "zh_Hans"]
LangQuery = Annotated[Lang | None, Query(description="en or zh_Hans; default: the visitor's")]
PageNo = Annotated[int, Query(ge=1, le=100_000)]


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Service errors as HTTP errors: unknown ids 404, four-eyes 403, not a draft any more 409,
    bad requests 422."""
    try:
        yield
    except svc.BulletinNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except svc.FourEyesError as exc:
        raise HTTPException(403, str(exc)) from None
    except svc.BulletinStateError as exc:
        raise HTTPException(409, str(exc)) from None
    except svc.BulletinError as exc:
        raise HTTPException(422, str(exc)) from None


def _actor(request: Request) -> str:
    return getattr(request.state, "actor", None) or svc.audit.ANONYMOUS


def _lang(lang: str | None) -> str:
    """The bulletin language: asked for, else the interface's."""
    return lang or (i18n.current_locale() if i18n.current_locale() in LANGS else "en")


def _pdf(data: bytes, record: svc.BulletinRecord, lang: str) -> Response:
    name = f"epiradar-bulletin-{record.kind}-{record.period_end}-{lang}.pdf"
    return Response(
        bytes(data),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


def _links(record: svc.BulletinRecord, *, public: bool) -> dict[str, Any]:
    base = f"/public/bulletins/{record.id}" if public else f"/bulletins/{record.id}"
    return {
        "html": {lang: f"{base}?lang={lang}" for lang in LANGS},
        "pdf": {lang: f"{base}/pdf?lang={lang}" for lang in LANGS},
    }


def _back(target: str, error: str | None = None) -> RedirectResponse:
    if error:
        sep = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{sep}{urlencode({'error': error})}", status_code=303)
    return RedirectResponse(target, status_code=303)


async def _form(request: Request) -> dict[str, str]:
    body = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {k: (v[0] if v else "").strip() for k, v in body.items()}


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise svc.BulletinError(f"date: {value!r} is not a date (YYYY-MM-DD)") from None


# ---------------------------------------------------------------------------------------------
# staff pages


@router.get("/bulletins", response_class=HTMLResponse, include_in_schema=False)
def bulletins_page(request: Request, store: StoreDep, page: PageNo = 1) -> HTMLResponse:
    limit = 50
    rows = svc.bulletins(store, limit=limit + 1, offset=(page - 1) * limit)
    return templates.TemplateResponse(
        request,
        "bulletins.html",
        {
            "page": "bulletins",
            "rows": rows[:limit],
            "page_no": page,
            "more": len(rows) > limit,
            "error": request.query_params.get("error"),
        },
    )


@router.post("/bulletins", include_in_schema=False)
async def bulletins_generate(
    request: Request, store: StoreDep, settings: SettingsDep
) -> RedirectResponse:
    form = await _form(request)
    try:
        kind = form.get("kind") or "weekly"
        if kind not in ("daily", "weekly"):
            raise svc.BulletinError(f"kind: {kind!r} is not daily or weekly")
        record = svc.generate(
            store, settings, kind=kind, end=_date(form.get("date")), actor=_actor(request)
        )  # type: ignore[arg-type]
    except svc.BulletinError as exc:
        return _back("/bulletins", str(exc))
    return _back(f"/bulletins/{record.id}")


@router.get("/bulletins/{bulletin_id}", response_class=HTMLResponse, include_in_schema=False)
def bulletin_page(request: Request, store: StoreDep, bulletin_id: int) -> HTMLResponse:
    with _errors():
        record = svc.get(store, bulletin_id)
        previews = {lang: Markup(svc.file(store, bulletin_id, "html", lang)) for lang in LANGS}
    return templates.TemplateResponse(
        request,
        "bulletin_detail.html",
        {
            "page": "bulletins",
            "b": record,
            "previews": previews,
            "links": _links(record, public=False),
            "is_author": _actor(request) == record.generated_by,
            "bulletin_css": bulletin_css(),
            "error": request.query_params.get("error"),
        },
    )


@router.get("/bulletins/{bulletin_id}/pdf", include_in_schema=False)
def bulletin_pdf(store: StoreDep, bulletin_id: int, lang: Lang = "en") -> Response:
    with _errors():
        record = svc.get(store, bulletin_id)
        return _pdf(svc.file(store, bulletin_id, "pdf", lang), record, lang)  # type: ignore[arg-type]


@router.post("/bulletins/{bulletin_id}/approve", include_in_schema=False)
def bulletin_approve(request: Request, store: StoreDep, bulletin_id: int) -> RedirectResponse:
    target = f"/bulletins/{bulletin_id}"
    try:
        svc.approve(store, bulletin_id, actor=_actor(request))
    except svc.BulletinNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except svc.BulletinError as exc:
        return _back(target, str(exc))
    return _back(target)


@router.post("/bulletins/{bulletin_id}/reject", include_in_schema=False)
async def bulletin_reject(request: Request, store: StoreDep, bulletin_id: int) -> RedirectResponse:
    form = await _form(request)
    target = f"/bulletins/{bulletin_id}"
    try:
        svc.reject(store, bulletin_id, actor=_actor(request), reason=form.get("reason", ""))
    except svc.BulletinNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except svc.BulletinError as exc:
        return _back(target, str(exc))
    return _back(target)


# ---------------------------------------------------------------------------------------------
# JSON API


class BulletinOut(BaseModel):
    id: int
    kind: str
    period_start: str
    period_end: str
    data_version: str
    status: str = Field(description="draft, published, rejected or superseded")
    generated_by: str
    generated_at: str
    reviewed_by: str | None
    reviewed_at: str | None
    reject_reason: str | None
    superseded_by: int | None
    links: dict[str, dict[str, str]]


class BulletinDetail(BulletinOut):
    content: dict[str, Any] = Field(description="the numbers and keys the bulletin shows")


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["daily", "weekly"] = "weekly"
    date: dt.date | None = Field(
        None, description="a day of the period; default: the newest complete day or ISO week"
    )


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


def _out(record: svc.BulletinRecord, *, public: bool = False) -> BulletinOut:
    return BulletinOut(**record.summary(), links=_links(record, public=public))


@router.get("/api/bulletins", response_model=list[BulletinOut], tags=["bulletins"])
def api_bulletins(
    store: StoreDep,
    status: Literal["draft", "published", "rejected", "superseded"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[BulletinOut]:
    return [_out(r) for r in svc.bulletins(store, status=status, limit=limit, offset=offset)]


@router.post("/api/bulletins", response_model=BulletinOut, status_code=201, tags=["bulletins"])
def api_generate(
    body: GenerateIn, request: Request, store: StoreDep, settings: SettingsDep
) -> BulletinOut:
    with _errors():
        return _out(
            svc.generate(store, settings, kind=body.kind, end=body.date, actor=_actor(request))
        )


@router.get("/api/bulletins/{bulletin_id}", response_model=BulletinDetail, tags=["bulletins"])
def api_bulletin(store: StoreDep, bulletin_id: int) -> BulletinDetail:
    with _errors():
        record = svc.get(store, bulletin_id)
    return BulletinDetail(
        **_out(record).model_dump(), content=svc.content_of(record).model_dump(mode="json")
    )


@router.post("/api/bulletins/{bulletin_id}/approve", response_model=BulletinOut, tags=["bulletins"])
def api_approve(request: Request, store: StoreDep, bulletin_id: int) -> BulletinOut:
    with _errors():
        return _out(svc.approve(store, bulletin_id, actor=_actor(request)))


@router.post("/api/bulletins/{bulletin_id}/reject", response_model=BulletinOut, tags=["bulletins"])
def api_reject(body: RejectIn, request: Request, store: StoreDep, bulletin_id: int) -> BulletinOut:
    with _errors():
        return _out(svc.reject(store, bulletin_id, actor=_actor(request), reason=body.reason))


# ---------------------------------------------------------------------------------------------
# public


@router.get("/public/bulletins", response_class=HTMLResponse, include_in_schema=False)
def public_bulletins_page(request: Request, store: StoreDep, page: PageNo = 1) -> HTMLResponse:
    limit = 50
    rows = svc.published(store, limit=limit + 1, offset=(page - 1) * limit)
    return templates.TemplateResponse(
        request,
        "public_bulletins.html",
        {
            "page": "public_bulletins",
            "rows": rows[:limit],
            "page_no": page,
            "more": len(rows) > limit,
        },
    )


@router.get("/public/bulletins/{bulletin_id}", response_class=HTMLResponse, include_in_schema=False)
def public_bulletin_page(
    request: Request, store: StoreDep, bulletin_id: int, lang: LangQuery = None
) -> HTMLResponse:
    shown = _lang(lang)
    with _errors():
        record = svc.public_get(store, bulletin_id)
        html = Markup(svc.public_file(store, bulletin_id, "html", shown))
    return templates.TemplateResponse(
        request,
        "public_bulletin.html",
        {
            "page": "public_bulletins",
            "b": record,
            "lang": shown,
            "bulletin_html": html,
            "bulletin_css": bulletin_css(),
            "links": _links(record, public=True),
        },
    )


@router.get("/public/bulletins/{bulletin_id}/pdf", include_in_schema=False)
def public_bulletin_pdf(store: StoreDep, bulletin_id: int, lang: LangQuery = None) -> Response:
    shown = _lang(lang)
    with _errors():
        record = svc.public_get(store, bulletin_id)
        return _pdf(svc.public_file(store, bulletin_id, "pdf", shown), record, shown)  # type: ignore[arg-type]


class OpenBulletin(BaseModel):
    id: int
    kind: str = Field(description="daily or weekly")
    period_start: str
    period_end: str
    data_version: str = Field(description="the last date with data when it was generated")
    published_at: str | None
    links: dict[str, dict[str, str]] = Field(description="html / pdf -> language -> path")


@router.get("/api/open/bulletins", response_model=list[OpenBulletin], tags=["open data"])
def open_bulletins(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[OpenBulletin]:
    """The bulletins in force (approved, not superseded), newest period first."""
    return [
        OpenBulletin(
            id=r.id,
            kind=r.kind,
            period_start=r.period_start,
            period_end=r.period_end,
            data_version=r.data_version,
            published_at=r.reviewed_at,
            links=_links(r, public=True),
        )
        for r in svc.published(store, limit=limit, offset=offset)
    ]
