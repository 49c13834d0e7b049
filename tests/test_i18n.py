"""English and Simplified Chinese: complete catalogs, every template string extracted, the
language switcher, Accept-Language, and dates and numbers in the user's locale."""

from __future__ import annotations

import configparser
import datetime as dt
import gettext as stdlib_gettext
import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from epiradar.web import figures, i18n
from epiradar.web.app import create_app
from epiradar.web.templating import TEMPLATES_DIR, templates
from web_support import END, OUTBREAK_ALERT, Dataset, build_dataset

ROOT = Path(__file__).resolve().parents[1]
BABEL_CFG = ROOT / "babel.cfg"
PO = {loc: i18n.LOCALE_DIR / loc / "LC_MESSAGES" / "messages.po" for loc in i18n.LOCALES}
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|%%")
TAG = re.compile(r"</?[a-z][^>]*>")


def _catalog(locale: str):
    with PO[locale].open("rb") as fp:
        return read_po(fp, locale=locale)


def _strings(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


# ---------------------------------------------------------------------------------------------
# catalogs


def test_every_msgid_has_a_chinese_translation_with_its_placeholders() -> None:
    catalog = _catalog("zh_Hans")
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = _strings(message.id)
        translations = _strings(message.string)
        if message.fuzzy or not all(s.strip() for s in translations):
            problems.append(f"{ids[0]!r}: no translation")
            continue
        want = sorted(PLACEHOLDER.findall(ids[0]))
        want_tags = sorted(TAG.findall(ids[0]))
        for text in translations:
            if sorted(PLACEHOLDER.findall(text)) != want:
                problems.append(f"{ids[0]!r}: placeholders {want} became {text!r}")
            if sorted(TAG.findall(text)) != want_tags:
                problems.append(f"{ids[0]!r}: markup {want_tags} became {text!r}")
            if re.search(r"[\u4e00-\u9fff]", text) is None and text != ids[0]:
                problems.append(f"{ids[0]!r}: {text!r} has no Chinese")
        problems += [f"{ids[0]!r}: {err}" for err in message.check(catalog)]
    assert len(catalog) > 100
    assert problems == []


def test_english_catalog_holds_the_same_msgids() -> None:
    zh = {m.id for m in _catalog("zh_Hans") if m.id}
    en = {m.id for m in _catalog("en") if m.id}
    assert en == zh


def _extracted() -> set[str | tuple[str, ...]]:
    """What ``pybabel extract -F babel.cfg`` finds now (run in-process)."""
    cfg = configparser.RawConfigParser()
    cfg.read(BABEL_CFG)
    method_map = []
    options_map = {}
    for section in cfg.sections():
        method, pattern = (p.strip() for p in section.split(":", 1))
        method_map.append((pattern, method))
        options_map[pattern] = dict(cfg.items(section))
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        found.add(message)
    return found


def test_catalogs_hold_exactly_the_extracted_strings() -> None:
    """A string wrapped in ``_()`` or ``{% trans %}`` but not yet in the catalogs fails here
    until ``make translations`` is run and it is translated; so does a removed one."""
    extracted = _extracted()
    catalog = {m.id for m in _catalog("zh_Hans") if m.id}
    assert sorted(map(str, extracted - catalog)) == [], "new strings: run `make translations`"
    assert sorted(map(str, catalog - extracted)) == [], "strings no longer used: run it too"


ALLOWED_WORDS = {"epiradar", "API", "JSON", "Rt", "OR", "p", "q", "d", "h"}
WORD = re.compile(r"[A-Za-z][A-Za-z'’]+")
SHOWN_ATTRS = re.compile(r'\b(?:title|aria-label|placeholder|alt)="([^"]*)"')


def _unwrapped_words(source: str) -> list[str]:
    """English words a template shows outside ``_()`` and ``{% trans %}``: the literal text
    between tags and in shown attributes, with scripts, styles and SVG left out."""
    parts: list[str] = []
    in_trans = 0
    after_block = False
    for _line, kind, value in templates.env.lex(source):
        if kind == "whitespace":
            continue
        if kind == "block_begin":
            after_block = True
            parts.append("\x00")
            continue
        if kind == "name" and after_block:
            in_trans += {"trans": 1, "endtrans": -1}.get(value, 0)
        after_block = False
        if kind == "data" and not in_trans:
            parts.append(value)
        elif kind in ("variable_begin", "comment_begin"):
            parts.append("\x00")
    text = re.sub(r"(?s)<(script|style|svg|code|pre)\b.*?</\1>", "\x00", "".join(parts))
    words = [w for attr in SHOWN_ATTRS.findall(text) for w in WORD.findall(attr)]
    words += WORD.findall(re.sub(r"<[^>]*>", "\x00", text))
    return [w for w in words if w not in ALLOWED_WORDS]


@pytest.mark.parametrize(
    "name", sorted(str(p.relative_to(TEMPLATES_DIR)) for p in TEMPLATES_DIR.rglob("*.html"))
)
def test_template_shows_no_text_outside_gettext(name: str) -> None:
    source = (TEMPLATES_DIR / name).read_text(encoding="utf-8")
    assert _unwrapped_words(source) == [], f"wrap the text of {name} in _() or {{% trans %}}"
    # Jinja looks a variable-free {% trans %} up with "%%" but extraction records "%": the
    # translation would never be found, so such text goes in _('... %% ...') instead
    bare = re.findall(r"{%-?\s*trans\s*-?%}(.*?){%-?\s*endtrans", source, flags=re.S)
    assert [b for b in bare if "%" in b] == [], f"{name}: use _() for text with a % sign"


def test_the_text_scanner_finds_unwrapped_text() -> None:
    source = (
        '<h1 title="Plain hint">Hello {{ x }}</h1><style>.a { color: red }</style>'
        "{% trans n=1 %}Inside {{ n }}{% endtrans %}<p>{{ _('Wrapped') }} API</p>"
    )
    assert _unwrapped_words(source) == ["Plain", "hint", "Hello"]


def test_compiled_catalogs_agree_with_their_po_files() -> None:
    for po in PO.values():
        mo = po.with_suffix(".mo")
        assert mo.exists(), f"{mo} is missing: run `make translations`"
        with mo.open("rb") as fp:
            committed = stdlib_gettext.GNUTranslations(fp)._catalog  # type: ignore[attr-defined]
        fresh = stdlib_gettext.GNUTranslations(io.BytesIO(i18n.compile_po(po)))._catalog  # type: ignore[attr-defined]
        # the header names the Babel that compiled it: compare the messages
        committed.pop("", None)
        fresh.pop("", None)
        assert committed == fresh, f"{mo} is stale: run `make translations`"


@pytest.fixture
def fresh_catalogs() -> Iterator[None]:
    i18n.translations.cache_clear()
    yield
    i18n.translations.cache_clear()


def test_a_missing_mo_is_compiled_from_the_po(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_catalogs: None
) -> None:
    shutil.copytree(i18n.LOCALE_DIR, tmp_path / "locale")
    (tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "messages.mo").unlink()
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path / "locale")
    token = i18n.set_locale("zh_Hans")
    try:
        assert i18n.gettext("Alerts") == "预警"
    finally:
        i18n.reset_locale(token)


def test_an_untranslated_string_falls_back_to_english() -> None:
    token = i18n.set_locale("zh_Hans")
    try:
        assert i18n.gettext("Syndrome") == "症候群"
        assert i18n.gettext("A string nobody has translated") == "A string nobody has translated"
        assert i18n.tr("some stored word") == "some stored word"
        assert i18n.tr("investigating") == "调查中"
    finally:
        i18n.reset_locale(token)


def test_an_unsupported_locale_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="locale: unsupported 'fr'"):
        i18n.set_locale("fr")


# ---------------------------------------------------------------------------------------------
# formatting


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "en",
            {
                "date": "31 Mar 2026",
                "datetime": "31 Mar 2026 14:05",
                "short": "31 Mar 14:05",
                "num": "12,345.7",
                "p": "0.042",
                "days": "1 day",
                "interval": "2.7 years",
                "hours": "3.5 d",
            },
        ),
        (
            "zh_Hans",
            {
                "date": "2026年3月31日",
                "datetime": "2026年3月31日 14:05",
                "short": "3月31日 14:05",
                "num": "12,345.7",
                "p": "0.042",
                "days": "1 天",
                "interval": "2.7 年",
                "hours": "3.5 天",
            },
        ),
    ],
)
def test_dates_and_numbers_follow_the_locale(locale: str, expected: dict[str, str]) -> None:
    token = i18n.set_locale(locale)
    try:
        moment = dt.datetime(2026, 3, 31, 14, 5)
        got = {
            "date": i18n.fmt_date(moment.date()),
            "datetime": i18n.fmt_datetime(moment),
            "short": i18n.fmt_datetime(moment, year=False),
            "num": i18n.fmt_num(12345.678),
            "p": i18n.fmt_p(0.0421),
            "days": i18n.fmt_interval(1.2),
            "interval": i18n.fmt_interval(1000),
            "hours": i18n.fmt_hours(84),
        }
    finally:
        i18n.reset_locale(token)
    assert got == expected
    assert i18n.current_locale() == "en"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_Hans"),
        ("zh-Hans-SG", "zh_Hans"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR, zh;q=0.5", "zh_Hans"),
        ("de, en;q=0.1, zh;q=0.4", "zh_Hans"),
        ("zh-TW", None),
        ("zh-Hant-HK, fr", None),
        ("zh;q=0, en;q=0.2", "en"),
        ("fr", None),
        ("", None),
        ("zh;q=abc", None),
    ],
)
def test_accept_language_is_matched_to_a_supported_locale(
    header: str, expected: str | None
) -> None:
    assert i18n.parse_accept_language(header) == expected


def test_the_cookie_wins_over_accept_language() -> None:
    assert i18n.negotiate("epiradar_lang=en", "zh-CN") == "en"
    assert i18n.negotiate("epiradar_lang=xx", "zh-CN") == "zh_Hans"
    assert i18n.negotiate('bad"cookie', None) == "en"
    assert i18n.negotiate(None, None) == "en"


def test_figure_labels_follow_the_locale(dataset: Dataset) -> None:
    from epiradar.service import views

    series = views.count_series(dataset.store, syndrome=views.ALL_VISITS)
    token = i18n.set_locale("zh_Hans")
    try:
        fig = figures.epicurve(series)
    finally:
        i18n.reset_locale(token)
    assert fig["layout"]["yaxis"]["title"]["text"] == "就诊 / 天"
    assert [t["name"] for t in fig["data"]] == ["每日就诊", "7 日均值"]
    assert "月" in fig["layout"]["xaxis"]["tickformat"]
    assert figures.epicurve(series)["data"][0]["name"] == "Daily visits"


# ---------------------------------------------------------------------------------------------
# the pages


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    data = build_dataset(tmp_path_factory.mktemp("i18n"))
    yield data
    data.store.close()


@pytest.fixture(scope="module")
def app(dataset: Dataset):
    settings = dataset.settings
    if hasattr(settings, "auth"):  # a closed demo machine: every caller is an administrator
        settings = settings.model_copy(
            update={"auth": settings.auth.model_copy(update={"required": False})}
        )
    return create_app(settings, dataset.store)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', html)
    assert found, "no <html lang>"
    return found.group(1)


def test_pages_default_to_english(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert _lang(page.text) == "en"
    assert "City overview" in page.text and "31 Mar 2026" in page.text
    assert 'data-locale="en" aria-current="true"' in page.text


def test_switcher_sets_the_cookie_and_pages_render_in_chinese(client: TestClient) -> None:
    reply = client.get(
        "/lang/zh_Hans", params={"next": "/alerts?status=new"}, follow_redirects=False
    )
    assert reply.status_code == 303
    assert reply.headers["location"] == "/alerts?status=new"
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith("epiradar_lang=zh_Hans;") and "Max-Age=31536000" in cookie
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()

    overview = client.get("/")
    assert _lang(overview.text) == "zh-Hans"
    assert "全市总览" in overview.text and "全市流行曲线" in overview.text
    assert "数据截至 <strong>2026年3月31日</strong>" in overview.text
    assert 'data-locale="zh_Hans" aria-current="true"' in overview.text
    assert "City overview" not in overview.text

    alerts = client.get("/alerts")
    assert "症候群" in alerts.text and "严重程度" in alerts.text
    assert re.search(r"\d+ 条预警", alerts.text)

    detail = client.get(f"/alerts/{OUTBREAK_ALERT}")
    assert detail.status_code == 200
    for text in ("比值比（95% 置信区间）", "可能的传染源", "病例一览表", "再生数", "处置流程"):
        assert text in detail.text, text
    first = (END - dt.timedelta(days=12)).strftime("%Y年%-m月%-d日")
    assert first in detail.text  # dates in Chinese form

    back = client.get("/lang/en", params={"next": "/"}, follow_redirects=True)
    assert _lang(back.text) == "en" and "City overview" in back.text


def test_accept_language_is_the_fallback(app) -> None:
    with TestClient(app) as c:
        zh = c.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        assert _lang(zh.text) == "zh-Hans" and "全市总览" in zh.text
        en = c.get("/", headers={"Accept-Language": "fr-FR,en;q=0.5"})
        assert _lang(en.text) == "en" and "City overview" in en.text
        other = c.get("/", headers={"Accept-Language": "fr-FR"})
        assert _lang(other.text) == "en"
        c.cookies.set("epiradar_lang", "en")
        chosen = c.get("/", headers={"Accept-Language": "zh-CN"})
        assert _lang(chosen.text) == "en"


def test_error_pages_are_translated(app) -> None:
    with TestClient(app) as c:
        page = c.get("/no-such-page", headers={"Accept-Language": "zh-CN"})
        assert page.status_code == 404
        assert "<h1>未找到</h1>" in page.text and "返回总览" in page.text


def test_switcher_refuses_unknown_locales_and_foreign_targets(client: TestClient) -> None:
    unknown = client.get("/lang/fr", follow_redirects=False)
    assert unknown.status_code == 404 and "unsupported &#39;fr&#39;" in unknown.text
    for target in ("https://example.org/", "//example.org/x", "javascript:alert(1)", None):
        params = {"next": target} if target else {}
        reply = client.get("/lang/en", params=params, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"] == "/", target
