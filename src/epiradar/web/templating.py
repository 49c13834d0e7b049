"""The Jinja2 environment: template folder, the formatting filters the pages use (in the
request's locale, see :mod:`epiradar.web.i18n`) and gettext (``_()``, ``{% trans %}``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup

from epiradar.web import i18n
from epiradar.web.i18n import fmt_date, fmt_datetime, fmt_int, fmt_interval, fmt_num, fmt_p

TEMPLATES_DIR = Path(__file__).parent / "templates"


def short_key(value: str | None, length: int = 10) -> str:
    if not value:
        return "–"
    return value if len(value) <= length else value[:length] + "…"


def figure_json(figure: dict[str, Any]) -> Markup:
    """A figure as JSON safe to embed in ``<script type="application/json">``."""
    text = json.dumps(figure, separators=(",", ":"), allow_nan=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


@pass_context
def path_for(context: dict[str, Any], name: str, /, **params: Any) -> str:
    """The site-relative path of a named route or static file (``url_for`` gives absolute URLs,
    which break behind a proxy)."""
    return str(context["request"].app.url_path_for(name, **params))


@pass_context
def language_links(context: dict[str, Any]) -> list[dict[str, Any]]:
    """The header's language switcher: one link per locale, back to the current page."""
    request = context["request"]
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    current = i18n.current_locale()
    return [
        {
            "code": code,
            "label": label,
            "lang": i18n.HTML_LANG[code],
            "current": code == current,
            "href": str(request.app.url_path_for("set_language", locale=code))
            + "?"
            + urlencode({"next": here}),
        }
        for code, label in i18n.LOCALES.items()
    ]


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext, npgettext=i18n.npgettext
)
templates.env.filters.update(
    fmt_p=fmt_p,
    fmt_num=fmt_num,
    fmt_int=fmt_int,
    fmt_interval=fmt_interval,
    fmt_date=fmt_date,
    fmt_datetime=fmt_datetime,
    tr=i18n.tr,
    syndrome_name=i18n.syndrome_name,
    short_key=short_key,
    figure_json=figure_json,
)
templates.env.globals.update(
    path_for=path_for,
    html_lang=i18n.html_lang,
    current_locale=i18n.current_locale,
    language_links=language_links,
)
