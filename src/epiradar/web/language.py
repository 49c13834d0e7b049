"""The language switcher: ``GET /lang/{locale}?next=/path`` stores the choice in a cookie and
returns to the page it came from."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse

from epiradar.web import i18n
from epiradar.web.deps import local_path

router = APIRouter(include_in_schema=False)


@router.get("/lang/{locale}", name="set_language")
def set_language(request: Request, locale: str, next: str | None = None) -> RedirectResponse:
    if locale not in i18n.LOCALES:
        raise HTTPException(
            status_code=404,
            detail=f"locale: unsupported {locale!r} (choose one of {', '.join(i18n.LOCALES)})",
        )
    response = RedirectResponse(local_path(next), status_code=303)
    response.set_cookie(
        i18n.COOKIE,
        locale,
        max_age=i18n.COOKIE_MAX_AGE,
        path="/",
        samesite="lax",
        httponly=True,
        secure=request.url.scheme == "https",
    )
    return response
