"""The user interface in English and Simplified Chinese: gettext catalogs, the per-request
locale, and locale-aware formatting of dates and numbers.

- Catalogs: ``web/locale/<locale>/LC_MESSAGES/messages.po`` (``make translations`` extracts,
  updates and compiles them). The compiled ``.mo`` is read when it is at least as new as its
  ``.po``; otherwise the ``.po`` is compiled in memory, so a fresh checkout works either way.
- Locale of a request: the ``epiradar_lang`` cookie (set by the header's language switcher),
  else the best match in ``Accept-Language``, else English. :class:`LocaleMiddleware` stores
  it in a context variable that the templates, filters and figure builders read.
- A string without a translation shows in English (gettext's fallback).
"""

from __future__ import annotations

import datetime as dt
import io
import math
from contextvars import ContextVar
from functools import cache
from gettext import NullTranslations
from http.cookies import SimpleCookie
from pathlib import Path

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from starlette.types import ASGIApp, Receive, Scope, Send

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_LOCALE = "en"
LOCALES: dict[str, str] = {"en": "EN", "zh_Hans": "中文"}
"""Supported locales and the label of each in the language switcher."""
HTML_LANG = {"en": "en", "zh_Hans": "zh-Hans"}
COOKIE = "epiradar_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

_PATTERNS = {
    # (date, date and time, day and time without the year)
    "en": ("dd MMM y", "dd MMM y HH:mm", "dd MMM HH:mm"),
    "zh_Hans": ("y年M月d日", "y年M月d日 HH:mm", "M月d日 HH:mm"),
}

_current: ContextVar[str] = ContextVar("epiradar_locale", default=DEFAULT_LOCALE)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a string for extraction without translating it (translate it where shown)."""
    return message


def current_locale() -> str:
    return _current.get()


def set_locale(locale: str) -> object:
    """Make ``locale`` the current one; returns the token for :func:`reset_locale`."""
    if locale not in LOCALES:
        raise ValueError(f"locale: unsupported {locale!r} (choose one of {', '.join(LOCALES)})")
    return _current.set(locale)


def reset_locale(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def html_lang() -> str:
    return HTML_LANG[current_locale()]


@cache
def translations(locale: str) -> NullTranslations:
    """The catalog of ``locale`` (English and unknown locales: the untranslated strings)."""
    if locale == DEFAULT_LOCALE or locale not in LOCALES:
        return NullTranslations()
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fp:
            return Translations(fp, domain=DOMAIN)
    if not po.exists():
        return NullTranslations()
    return Translations(io.BytesIO(compile_po(po)), domain=DOMAIN)


def compile_po(po: Path) -> bytes:
    """The ``.mo`` bytes of a ``.po`` file (fuzzy entries left out, as ``pybabel compile``)."""
    with po.open("rb") as fp:
        catalog = read_po(fp)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def gettext(message: str) -> str:
    return translations(current_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(current_locale()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return translations(current_locale()).npgettext(context, singular, plural, n)


# ---------------------------------------------------------------------------------------------
# choosing the locale


def parse_accept_language(header: str | None) -> str | None:
    """The supported locale the ``Accept-Language`` header prefers most, if any. Chinese in
    traditional script (``zh-Hant``, ``zh-TW``, ``zh-HK``, ``zh-MO``) is not matched."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        match = _match_tag(tag.strip())
        if match and q > 0:
            ranked.append((-q, i, match))
    return min(ranked)[2] if ranked else None


def _match_tag(tag: str) -> str | None:
    parts = [p.lower() for p in tag.replace("_", "-").split("-") if p]
    if not parts:
        return None
    if parts[0] == "en":
        return "en"
    if parts[0] == "zh":
        if any(p in {"hant", "tw", "hk", "mo"} for p in parts[1:]):
            return None
        return "zh_Hans"
    return None


def cookie_locale(cookie_header: str | None) -> str | None:
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:  # a malformed cookie header means no choice was stored
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel and morsel.value in LOCALES else None


def negotiate(cookie_header: str | None, accept_language: str | None) -> str:
    """The locale for a request: the stored choice, else the browser's, else English."""
    return cookie_locale(cookie_header) or parse_accept_language(accept_language) or DEFAULT_LOCALE


class LocaleMiddleware:
    """Sets the request's locale (see :func:`negotiate`) for everything that renders it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        locale = negotiate(headers.get("cookie"), headers.get("accept-language"))
        scope.setdefault("state", {})["locale"] = locale
        token = _current.set(locale)
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)


# ---------------------------------------------------------------------------------------------
# formatting in the current locale

DASH = "–"


def _missing(value: float | None) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(value)
    except TypeError:
        return False


def fmt_p(value: float | None) -> str:
    """A p- or q-value: three decimals, scientific below 0.001."""
    if _missing(value):
        return DASH
    if value < 0.001:
        return f"{value:.1e}"
    return format_decimal(value, "0.000", locale=current_locale())


def fmt_num(value: float | None, digits: int = 1) -> str:
    """A number with grouping and ``digits`` decimals."""
    if _missing(value):
        return DASH
    if math.isinf(value):
        return "∞"
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(value, pattern, locale=current_locale())


def fmt_int(value: int | None) -> str:
    return fmt_num(value, 0)


def fmt_interval(days: float | None) -> str:
    """A recurrence interval: days below a year, then years (SaTScan's convention)."""
    if _missing(days):
        return DASH
    if days < 365:
        n = round(days)
        return ngettext("%(num)s day", "%(num)s days", n) % {"num": fmt_num(days, 0)}
    years = days / 365
    if years < 10:
        return gettext("%(num)s years") % {"num": fmt_num(years, 1)}
    if years < 1e6:
        return gettext("%(num)s years") % {"num": fmt_num(years, 0)}
    return gettext("over a million years")


def fmt_date(value: dt.date | None) -> str:
    if value is None:
        return DASH
    return format_date(value, _PATTERNS[current_locale()][0], locale=current_locale())


def fmt_datetime(value: dt.datetime | None, *, year: bool = True) -> str:
    """A moment to the minute; ``year=False`` leaves the year out."""
    if value is None:
        return DASH
    pattern = _PATTERNS[current_locale()][1 if year else 2]
    return format_datetime(value, pattern, locale=current_locale())


def fmt_hours(value: float | None) -> str:
    """Hours as ``3.2 h``, or days above two days."""
    if _missing(value):
        return DASH
    if abs(value) >= 48:
        return gettext("%(num)s d") % {"num": fmt_num(value / 24, 1)}
    return gettext("%(num)s h") % {"num": fmt_num(value, 1)}


_PLOT_DATES = {
    # Plotly (d3) date formats: axis ticks, a day in a hover, a day without the year
    "en": {"tick": "%d %b", "day": "%a %d %b %Y", "short": "%a %d %b"},
    "zh_Hans": {"tick": "%-m月%-d日", "day": "%Y年%-m月%-d日", "short": "%-m月%-d日"},
}


def plot_date_formats() -> dict[str, str]:
    """Plotly's date formats in the current locale (Plotly's own month names are English)."""
    return _PLOT_DATES[current_locale()]


def syndrome_name(value: str) -> str:
    """A syndrome code (``gastrointestinal``) as its label in the current locale."""
    from epiradar.model import Syndrome

    try:
        return gettext(Syndrome(value).label)
    except ValueError:
        return value


def tr(value: object) -> str:
    """A vocabulary word shown as it is stored (a status, a severity, a label), translated
    when the catalog has it (see :mod:`epiradar.web.vocabulary`)."""
    if value is None:
        return DASH
    text = str(getattr(value, "value", value))
    return gettext(text) if text else text
