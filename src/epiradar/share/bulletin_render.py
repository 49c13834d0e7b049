"""A bulletin's HTML (Jinja2, charts as inline SVG) and PDF (reportlab Platypus, charts drawn
with ``reportlab.graphics``), in English or Simplified Chinese.

Both are rendered from :class:`~epiradar.share.bulletin.BulletinContent` alone, so the same
content gives the same bytes (the PDF is written with reportlab's ``invariant`` mode: no
creation time or random document id). Chinese PDF text uses reportlab's built-in CID font
``STSong-Light`` (Adobe's Asian font packs, which PDF readers provide): no font file is
embedded or shipped. Hidden counts read ``<10`` (the suppression threshold), in words and
charts alike: a chart draws a grey mark for them, never a bar of their height.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from epiradar.share.bulletin import RT_LEVEL, BulletinContent, RtEstimate, SyndromeSection
from epiradar.share.bulletin_text import HTML_LANG, check_lang, phrase, syndrome_name

TEMPLATES = Path(__file__).parent / "templates"
CJK_FONT = "STSong-Light"
LEVEL_COLOURS = {None: "#dfe6ee", "low": "#f7d774", "medium": "#f0953a", "high": "#d63c3c"}
BAR = "#2f6f9f"
HIDDEN = "#b8c2cc"


# ---------------------------------------------------------------------------------------------
# words shared by both formats


def count_text(value: int | None, content: BulletinContent, lang: str) -> str:
    """A count as published: the number, or ``<10`` when hidden."""
    if value is None:
        return phrase("suppressed", lang, min=content.min_count)
    return f"{value:,}" if lang == "en" else str(value)


def change_text(change: float | None) -> str:
    if change is None:
        return "–"
    return f"{change:+.0f}%"


def period_text(content: BulletinContent, lang: str) -> str:
    p = content.period
    return phrase(
        f"period.{p.kind}", lang, start=p.start.isoformat(), end=p.end.isoformat(), week=p.label
    )


def summary_sentences(section: SyndromeSection, content: BulletinContent, lang: str) -> str:
    """The short text of one syndrome: its count, the change from the previous period, and the
    districts with most visits."""
    kind = content.kind
    name = syndrome_name(section.syndrome, lang)
    count = (
        phrase("suppressed.long", lang, min=content.min_count)
        if section.current is None
        else count_text(section.current, content, lang)
    )
    first = phrase(
        f"summary.visits.{kind}",
        lang,
        syndrome=name,
        count=count,
        date=content.period.start.isoformat(),
        week=content.period.label,
    )
    if section.change_pct is None:
        second = phrase("summary.no_trend", lang)
    else:
        second = phrase(
            f"summary.trend.{kind}",
            lang,
            trend=phrase(f"trend.{section.trend}", lang),
            change=change_text(section.change_pct),
            previous=count_text(section.previous, content, lang),
        )
    sep = "; " if lang == "en" else "，"
    text = first + sep + second
    if section.top_areas:
        areas = phrase("list.sep", lang).join(
            a.name if a.count is None else f"{a.name} ({count_text(a.count, content, lang)})"
            for a in section.top_areas
        )
        text += " " + phrase("summary.top", lang, areas=areas)
    return text


def rt_number(value: float) -> str:
    """An Rt value as published: two decimals (``1.12``), never read as a count."""
    return f"{value:.2f}"


def rt_cell(rt: RtEstimate | None) -> str:
    """The summary table's Rt: ``1.12 (1.05–1.19)``, or a dash when not estimated."""
    if rt is None:
        return "–"
    return f"{rt_number(rt.mean)} ({rt_number(rt.lower)}–{rt_number(rt.upper)})"


def rt_sentence(section: SyndromeSection, lang: str) -> str:
    """The Rt sentence of a syndrome (empty when Rt was not estimated)."""
    rt = section.rt
    if rt is None:
        return ""
    return phrase(
        "summary.rt",
        lang,
        mean=rt_number(rt.mean),
        lower=rt_number(rt.lower),
        upper=rt_number(rt.upper),
        level=RT_LEVEL,
        start=rt.start.isoformat(),
        end=rt.end.isoformat(),
        verdict=phrase(f"rt.{rt.verdict}", lang),
    )


def has_rt(content: BulletinContent) -> bool:
    return any(s.rt is not None for s in content.syndromes)


def alert_areas(areas: Sequence[str], lang: str) -> str:
    return phrase("list.sep", lang).join(areas) if areas else phrase("whole_city", lang)


def title_text(content: BulletinContent, lang: str) -> str:
    return phrase(f"title.{content.kind}", lang)


# ---------------------------------------------------------------------------------------------
# charts: geometry shared by SVG and reportlab


def nice_step(top: int) -> int:
    """A y-axis step that is a multiple of ten (so no axis label reads like a hidden count)."""
    step = 10
    while top / step > 4:
        step *= 5 if str(step).startswith("1") else 2
    return step


def _bars(section: SyndromeSection, width: float, height: float, min_count: int):
    """Per point: (x, y, w, h, hidden) in a box with the origin at the bottom left."""
    values = [p.count for p in section.curve]
    top = max([v for v in values if v is not None] + [min_count])
    step = nice_step(top)
    y_max = step * math.ceil(top / step)
    n = len(values)
    slot = width / n
    bars = []
    for i, v in enumerate(values):
        x = i * slot + slot * 0.12
        w = slot * 0.76
        if v is None:
            h = max(2.0, height * 0.03)
            bars.append((x, 0.0, w, h, True))
        else:
            bars.append((x, 0.0, w, height * v / y_max, False))
    return bars, y_max, step


def _project(content: BulletinContent, width: float, height: float):
    """Region rings projected into a ``width`` x ``height`` box (equirectangular, the x scale
    shrunk by cos(latitude)); origin at the bottom left. Returns [(area, [rings])]."""
    shapes = []
    for area in content.map:
        g = area.geometry or {}
        polys = (
            [g.get("coordinates", [])]
            if g.get("type") == "Polygon"
            else g.get("coordinates", [])
            if g.get("type") == "MultiPolygon"
            else []
        )
        rings = [ring for poly in polys for ring in poly[:1] if len(ring) >= 3]
        if rings:
            shapes.append((area, rings))
    points = [pt for _, rings in shapes for ring in rings for pt in ring]
    if not points:
        return []
    lon0, lon1 = min(p[0] for p in points), max(p[0] for p in points)
    lat0, lat1 = min(p[1] for p in points), max(p[1] for p in points)
    kx = math.cos(math.radians((lat0 + lat1) / 2))
    span_x, span_y = max((lon1 - lon0) * kx, 1e-9), max(lat1 - lat0, 1e-9)
    scale = min(width / span_x, height / span_y)
    off_x = (width - span_x * scale) / 2
    off_y = (height - span_y * scale) / 2
    return [
        (
            area,
            [
                [(off_x + (x - lon0) * kx * scale, off_y + (y - lat0) * scale) for x, y in ring]
                for ring in rings
            ],
        )
        for area, rings in shapes
    ]


# ---------------------------------------------------------------------------------------------
# HTML


def epicurve_svg(section: SyndromeSection, content: BulletinContent, lang: str) -> Markup:
    width, height, left, bottom, top_pad = 560.0, 150.0, 40.0, 22.0, 8.0
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    bars, y_max, step = _bars(section, plot_w, plot_h, content.min_count)
    name = syndrome_name(section.syndrome, lang)
    out = [
        f'<svg class="epicurve" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} '
        f'{height:.0f}" role="img" aria-label="{escape(name)}" data-syndrome="{section.syndrome}">'
    ]
    base = height - bottom
    for tick in range(0, y_max + 1, step):
        y = base - plot_h * tick / y_max
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="#e3e8ee"/>'
            f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end" font-size="9" '
            f'fill="#5b6b7a">{tick}</text>'
        )
    for (x, _, w, h, hidden), point in zip(bars, section.curve, strict=True):
        label = f"{point.label}: {count_text(point.count, content, lang)}"
        cls = "bar hidden" if hidden else "bar"
        fill = HIDDEN if hidden else BAR
        out.append(
            f'<rect class="{cls}" x="{left + x:.1f}" y="{base - h:.1f}" width="{w:.1f}" '
            f'height="{h:.1f}" fill="{fill}"><title>{escape(label)}</title></rect>'
        )
    first, last = section.curve[0].label, section.curve[-1].label
    out.append(
        f'<text x="{left}" y="{height - 6}" font-size="9" fill="#5b6b7a">{first}</text>'
        f'<text x="{width - 8}" y="{height - 6}" font-size="9" fill="#5b6b7a" '
        f'text-anchor="end">{last}</text></svg>'
    )
    return Markup("".join(out))


def map_svg(content: BulletinContent, lang: str) -> Markup:
    width, height = 420.0, 300.0
    shapes = _project(content, width, height)
    out = [
        f'<svg class="bulletin-map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} '
        f'{height:.0f}" role="img" aria-label="{escape(phrase("heading.map", lang))}">'
    ]
    for area, rings in shapes:
        d = " ".join(
            "M" + " L".join(f"{x:.1f},{height - y:.1f}" for x, y in ring) + " Z" for ring in rings
        )
        level = area.level
        word = phrase(f"severity.{level}", lang) if level else phrase("chart.map.none", lang)
        out.append(
            f'<path class="area" data-region="{escape(area.region_id)}" '
            f'data-level="{level or "none"}" d="{d}" fill="{LEVEL_COLOURS[level]}" '
            f'stroke="#ffffff" stroke-width="1"><title>{escape(area.name)}: {escape(word)}'
            "</title></path>"
        )
    out.append("</svg>")
    return Markup("".join(out))


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        phrase=phrase,
        syndrome_name=syndrome_name,
        count_text=count_text,
        change_text=change_text,
        period_text=period_text,
        summary_sentences=summary_sentences,
        rt_cell=rt_cell,
        rt_sentence=rt_sentence,
        has_rt=has_rt,
        alert_areas=alert_areas,
        title_text=title_text,
        epicurve_svg=epicurve_svg,
        map_svg=map_svg,
        level_colours=LEVEL_COLOURS,
    )
    return env


@cache
def bulletin_css() -> Markup:
    """The bulletin's styles (also inlined in a standalone document)."""
    return Markup((TEMPLATES / "bulletin.css").read_text(encoding="utf-8"))


def render_html(content: BulletinContent, lang: str, *, standalone: bool = False) -> str:
    """The bulletin in ``lang`` as an HTML ``<article>`` (to place in a page), or a whole
    document with its own styles (``standalone``: a file to publish anywhere)."""
    check_lang(lang)
    name = "bulletin_document.html.j2" if standalone else "bulletin.html.j2"
    return _environment().get_template(name).render(c=content, lang=lang, html_lang=HTML_LANG[lang])


# ---------------------------------------------------------------------------------------------
# PDF


@cache
def _register_cjk() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def _fonts(lang: str) -> tuple[str, str]:
    """(body font, bold font) of ``lang``."""
    if lang == "zh_Hans":
        font = _register_cjk()
        return font, font
    return "Helvetica", "Helvetica-Bold"


_LATIN_RUN = re.compile(r"[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*")


def _p(text: str, zh: bool = False) -> str:
    """Paragraph markup of ``text``. In Chinese, runs of ASCII (numbers, dates, names) are set
    in Helvetica: readers that stand in for ``STSong-Light`` with another font do not all have
    its Latin glyphs."""
    if not zh:
        return xml_escape(text)
    out, last = [], 0
    for m in _LATIN_RUN.finditer(text):
        out.append(xml_escape(text[last : m.start()]))
        out.append(f'<font name="Helvetica">{xml_escape(m.group())}</font>')
        last = m.end()
    out.append(xml_escape(text[last:]))
    return "".join(out)


def _epicurve_drawing(section: SyndromeSection, content: BulletinContent, font: str):
    from reportlab.graphics.shapes import Drawing, Line, Rect, String
    from reportlab.lib import colors

    width, height, left, bottom, top_pad = 460.0, 110.0, 32.0, 16.0, 6.0
    plot_w, plot_h = width - left - 4, height - bottom - top_pad
    bars, y_max, step = _bars(section, plot_w, plot_h, content.min_count)
    d = Drawing(width, height)
    for tick in range(0, y_max + 1, step):
        y = bottom + plot_h * tick / y_max
        d.add(Line(left, y, width - 4, y, strokeColor=colors.HexColor("#e3e8ee"), strokeWidth=0.5))
        d.add(String(left - 3, y - 2.5, str(tick), fontName="Helvetica", fontSize=7,
                     textAnchor="end", fillColor=colors.HexColor("#5b6b7a")))  # fmt: skip
    for x, _, w, h, hidden in bars:
        d.add(Rect(left + x, bottom, w, h, strokeColor=None,
                   fillColor=colors.HexColor(HIDDEN if hidden else BAR)))  # fmt: skip
    grey = colors.HexColor("#5b6b7a")
    d.add(String(left, 3, section.curve[0].label, fontName="Helvetica", fontSize=7, fillColor=grey))
    d.add(String(width - 4, 3, section.curve[-1].label, fontName="Helvetica", fontSize=7,
                 textAnchor="end", fillColor=grey))  # fmt: skip
    return d


def _map_drawing(content: BulletinContent, lang: str, font: str):
    from reportlab.graphics.shapes import Drawing, Polygon, Rect, String
    from reportlab.lib import colors

    width, height = 300.0, 210.0
    legend_h = 16.0
    d = Drawing(width, height + legend_h)
    for area, rings in _project(content, width, height):
        fill = colors.HexColor(LEVEL_COLOURS[area.level])
        for ring in rings:
            flat = [v for x, y in ring for v in (x, y + legend_h)]
            d.add(Polygon(flat, fillColor=fill, strokeColor=colors.white, strokeWidth=0.6))
    x = 0.0
    for level in (None, "low", "medium", "high"):
        word = phrase(f"severity.{level}", lang) if level else phrase("chart.map.none", lang)
        d.add(Rect(x, 3, 9, 9, fillColor=colors.HexColor(LEVEL_COLOURS[level]), strokeColor=None))
        d.add(String(x + 12, 4, word, fontName=font, fontSize=7))
        x += 16 + 5.5 * len(word) * (1.6 if lang == "zh_Hans" else 1.0)
    return d


def render_pdf(content: BulletinContent, lang: str) -> bytes:
    """The bulletin in ``lang`` as an A4 PDF (same content, same bytes)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    check_lang(lang)
    font, bold = _fonts(lang)
    zh = lang == "zh_Hans"
    leading = 1.45 if zh else 1.3
    body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=9.5 * leading,
                          wordWrap="CJK" if zh else None, spaceAfter=4)  # fmt: skip
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=8 * leading,
                           textColor=colors.HexColor("#5b6b7a"))  # fmt: skip
    h1 = ParagraphStyle("h1", parent=body, fontName=bold, fontSize=17, leading=22, spaceAfter=2)
    h2 = ParagraphStyle("h2", parent=body, fontName=bold, fontSize=12.5, leading=17,
                        spaceBefore=8, spaceAfter=4, keepWithNext=1)  # fmt: skip
    h3 = ParagraphStyle("h3", parent=body, fontName=bold, fontSize=10.5, leading=14,
                        spaceBefore=6, keepWithNext=1)  # fmt: skip

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(_p(text, zh), style)

    kind = content.kind
    story: list = [
        para(phrase("publisher", lang), small),
        para(title_text(content, lang), h1),
        para(
            period_text(content, lang)
            + " · "
            + phrase("data_version", lang, date=content.data_version.isoformat()),
            small,
        ),  # fmt: skip
        para(phrase("heading.summary", lang), h2),
        para(
            phrase(
                f"summary.lead.{kind}",
                lang,
                date=content.period.start.isoformat(),
                week=content.period.label,
            )
        ),  # fmt: skip
    ]
    rows = [
        [
            para(phrase("col.syndrome", lang), small),
            para(phrase(f"col.current.{kind}", lang), small),
            para(phrase(f"col.previous.{kind}", lang), small),
            para(phrase("col.change", lang), small),
            para(phrase("col.trend", lang), small),
            para(phrase("col.rt", lang), small),
        ]
    ]
    for s in content.syndromes:
        rows.append(
            [
                para(syndrome_name(s.syndrome, lang)),
                para(count_text(s.current, content, lang)),
                para(count_text(s.previous, content, lang)),
                para(change_text(s.change_pct)),
                para(phrase(f"trend.{s.trend}", lang)),
                para(rt_cell(s.rt)),
            ]
        )
    table = Table(
        rows, colWidths=[42 * mm, 20 * mm, 20 * mm, 17 * mm, 35 * mm, 40 * mm], repeatRows=1
    )
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor("#5b6b7a")),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#d5dce3")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story.append(table)

    story.append(para(phrase("heading.alerts", lang), h2))
    if content.alerts:
        alert_rows = [
            [
                para(phrase(k, lang), small)
                for k in ("col.syndrome", "col.areas", "col.severity", "col.since")
            ]
        ]
        for a in content.alerts:
            alert_rows.append(
                [
                    para(syndrome_name(a.syndrome, lang)),
                    para(alert_areas(a.areas, lang)),
                    para(phrase(f"severity.{a.severity}", lang)),
                    para(a.since.isoformat()),
                ]
            )
        alerts = Table(alert_rows, colWidths=[45 * mm, 70 * mm, 22 * mm, 27 * mm])
        alerts.setStyle(
            TableStyle(
                [
                    ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor("#5b6b7a")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(alerts)
    else:
        story.append(para(phrase("summary.no_alerts", lang)))
    story.append(
        KeepTogether([para(phrase("heading.map", lang), h3), _map_drawing(content, lang, font)])
    )

    story.append(para(phrase("heading.syndromes", lang), h2))
    n = len(content.syndromes[0].curve) if content.syndromes else 0
    for s in content.syndromes:
        parts = [
            para(syndrome_name(s.syndrome, lang), h3),
            para(summary_sentences(s, content, lang)),
        ]
        if s.rt is not None:
            parts.append(para(rt_sentence(s, lang)))
        if s.has_visits:
            parts += [
                para(phrase(f"chart.epicurve.{kind}", lang, n=n), small),
                _epicurve_drawing(s, content, font),
            ]
        story.append(KeepTogether(parts))
    story.append(para(phrase("chart.suppressed", lang, min=content.min_count), small))
    story.append(Spacer(1, 6))
    story.append(para(phrase("heading.notes", lang), h2))
    for key in ("note.source", "note.suppression", "note.alerts"):
        story.append(para(phrase(key, lang, min=content.min_count), small))
    if has_rt(content):
        story.append(para(phrase("note.rt", lang, min=content.rt_min_cases), small))

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"{title_text(content, lang)} {content.period.label}",
        author="epiradar",
        subject=period_text(content, lang),
        lang=HTML_LANG[lang],
        invariant=1,
    )
    doc.build(story)
    return buffer.getvalue()


RENDERERS: dict[str, Callable[[BulletinContent, str], bytes]] = {
    "html": lambda c, lang: render_html(c, lang, standalone=True).encode("utf-8"),
    "pdf": render_pdf,
}
"""Format -> renderer of a whole file."""
