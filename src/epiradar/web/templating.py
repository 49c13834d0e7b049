"""The Jinja2 environment: template folder and the formatting filters the pages use."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup

TEMPLATES_DIR = Path(__file__).parent / "templates"


def fmt_p(value: float | None) -> str:
    """A p- or q-value: three decimals, scientific below 0.001."""
    if value is None or math.isnan(value):
        return "–"
    if value < 0.001:
        return f"{value:.1e}"
    return f"{value:.3f}"


def fmt_num(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞"
    return f"{value:,.{digits}f}"


def fmt_interval(days: float | None) -> str:
    """A recurrence interval: days below a year, then years (SaTScan's convention)."""
    if days is None or math.isnan(days):
        return "–"
    if days < 365:
        return f"{days:,.0f} day{'' if round(days) == 1 else 's'}"
    years = days / 365
    if years < 10:
        return f"{years:.1f} years"
    if years < 1e6:
        return f"{years:,.0f} years"
    return "over a million years"


def fmt_date(value: dt.date | None) -> str:
    return value.strftime("%d %b %Y") if value else "–"


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


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters.update(
    fmt_p=fmt_p,
    fmt_num=fmt_num,
    fmt_interval=fmt_interval,
    fmt_date=fmt_date,
    short_key=short_key,
    figure_json=figure_json,
)
templates.env.globals["path_for"] = path_for
