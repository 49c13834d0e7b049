"""Plotly figure specifications (plain JSON-able dicts) built from the service read models.

Maps are drawn as filled scatter polygons on lon/lat axes with an equal-distance aspect, so they
render with no network: no topojson, no tiles.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from shapely.geometry import shape

from epiradar.model import ChainAnalysis, RtAnalysis, SiteAnalysis
from epiradar.service.views import CountSeries, MapRegion, SourceRow, syndrome_label
from epiradar.web.i18n import N_, fmt_date, fmt_num, plot_date_formats, tr
from epiradar.web.i18n import gettext as _

Figure = dict[str, Any]

LEVEL_COLOURS = {
    "none": "#dfe6ee",
    "low": "#f7d774",
    "medium": "#f0953a",
    "high": "#d63c3c",
}
LEVEL_LABELS = {
    "none": N_("No alert"),
    "low": N_("Low"),
    "medium": N_("Medium"),
    "high": N_("High"),
}
"""Map legend labels (English; shown through ``tr``)."""
MUTED_FILL = "#eef1f5"
OUTLINE = "#ffffff"
HIGHLIGHT_OUTLINE = "#1f2a44"
CLUSTER_OUTLINE = "#6d28d9"  # a space-time cluster's regions
CLUSTER_FILL = "rgba(109, 40, 217, 0.28)"
BAR = "#3b6ea8"
TREND = "#1f2a44"
WINDOW_FILL = "rgba(214, 60, 60, 0.13)"
SOURCE_MARKER = "#111827"
FONT = {
    "family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    "size": 12,
    "color": "#1f2a44",
}
CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
}


def _rings(geometry: dict[str, Any] | None) -> Iterator[list[list[float]]]:
    """Outer and inner rings of a GeoJSON Polygon or MultiPolygon."""
    if not geometry:
        return
    kind = geometry.get("type")
    coords = geometry.get("coordinates") or []
    if kind == "Polygon":
        yield from coords
    elif kind == "MultiPolygon":
        for polygon in coords:
            yield from polygon


def polygon_xy(geometry: dict[str, Any] | None) -> tuple[list[float | None], list[float | None]]:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for ring in _rings(geometry):
        if xs:
            xs.append(None)
            ys.append(None)
        xs.extend(float(p[0]) for p in ring)
        ys.extend(float(p[1]) for p in ring)
    return xs, ys


def label_point(geometry: dict[str, Any] | None) -> tuple[float, float] | None:
    """A point well inside the region for its label (shapely's representative point)."""
    if not geometry:
        return None
    point = shape(geometry).representative_point()
    return round(point.x, 6), round(point.y, 6)


def _mean_lat(regions: Sequence[Any]) -> float:
    lats = [float(p[1]) for r in regions for ring in _rings(r.geometry) for p in ring]
    return sum(lats) / len(lats) if lats else 0.0


def _syndrome_label(value: str) -> str:
    try:
        return syndrome_label(value)
    except ValueError:
        return value


def _hover(region: MapRegion, syndrome_focus: str | None) -> str:
    lines = [
        f"<b>{region.name}</b>",
        _("Alert level: %(level)s") % {"level": tr(LEVEL_LABELS[region.level])},
        _("Visits, last 7 days: %(n)s") % {"n": fmt_num(region.recent_visits, 0)},
    ]
    if syndrome_focus:
        n = fmt_num(region.recent_syndromic.get(syndrome_focus, 0), 0)
        lines.append(f"{tr(_syndrome_label(syndrome_focus))}: {n}")
    top = sorted(region.recent_syndromic.items(), key=lambda kv: -kv[1])[:3]
    if top and not syndrome_focus:
        lines.append(", ".join(f"{tr(_syndrome_label(k))} {fmt_num(v, 0)}" for k, v in top))
    if region.alert_ids:
        lines.append(_("Open alerts: %(ids)s") % {"ids": ", ".join(region.alert_ids)})
    return "<br>".join(lines)


def region_map(
    regions: Sequence[MapRegion],
    *,
    highlight_only: bool = False,
    cluster: Collection[str] = (),
    sources: Sequence[SourceRow] = (),
    syndrome_focus: str | None = None,
    show_labels: bool = True,
    height: int = 430,
) -> Figure:
    """One filled polygon trace per region (coloured by alert level) plus source markers.

    With ``highlight_only`` the highlighted regions keep their level colour (or the medium colour
    when they have no current alert) and the others are muted. The regions of a space-time
    ``cluster`` are filled and outlined in the cluster colour (``meta.cluster`` is true).
    """
    cluster = set(cluster)
    data: list[dict[str, Any]] = []
    for region in regions:
        xs, ys = polygon_xy(region.geometry)
        if not xs:
            continue
        in_cluster = region.id in cluster
        if in_cluster:
            colour = CLUSTER_FILL
        elif highlight_only:
            colour = (
                (LEVEL_COLOURS[region.level] if region.level != "none" else LEVEL_COLOURS["medium"])
                if region.highlighted
                else MUTED_FILL
            )
        else:
            colour = LEVEL_COLOURS[region.level]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": xs,
                "y": ys,
                "fill": "toself",
                "fillcolor": colour,
                "line": {
                    "color": CLUSTER_OUTLINE
                    if in_cluster
                    else HIGHLIGHT_OUTLINE
                    if region.highlighted
                    else OUTLINE,
                    "width": 3 if in_cluster else 2 if region.highlighted else 1,
                },
                "hoveron": "fills",
                "hoverinfo": "text",
                "text": _hover(region, syndrome_focus)
                + ("<br>In the space-time cluster" if in_cluster else ""),
                "name": region.name,
                "showlegend": False,
                "meta": {"region": region.id, "level": region.level, "cluster": in_cluster},
            }
        )
    labels = [(r, label_point(r.geometry)) for r in regions]
    labels = [(r, xy) for r, xy in labels if xy is not None]
    if show_labels and labels:
        data.append(
            {
                "type": "scatter",
                "mode": "text",
                "x": [xy[0] for _, xy in labels],
                "y": [xy[1] for _, xy in labels],
                "text": [r.name for r, _ in labels],
                "textfont": {"size": 10, "color": "#3d4a63"},
                "hoverinfo": "skip",
                "showlegend": False,
                "name": "labels",
            }
        )
    annotations: list[dict[str, Any]] = []
    located = [s for s in sources if s.candidate.lat is not None and s.candidate.lon is not None]
    for source in located[:1]:
        c = source.candidate
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [c.lon],
                "y": [c.lat],
                "marker": {
                    "symbol": "star",
                    "size": 20,
                    "color": SOURCE_MARKER,
                    "line": {"color": "#ffffff", "width": 1.5},
                },
                "hovertemplate": (
                    f"<b>#{c.rank} {c.name}</b><br>{tr(source.kind_label)}"
                    f"<br>OR {fmt_num(c.odds_ratio, 1)}<extra></extra>"
                ),
                "name": _("Most likely source"),
                "showlegend": False,
            }
        )
        annotations.append(
            {
                "x": c.lon,
                "y": c.lat,
                "xref": "x",
                "yref": "y",
                "text": f"#1 {c.name}",
                "showarrow": True,
                "arrowhead": 0,
                "arrowcolor": SOURCE_MARKER,
                "ax": 0,
                "ay": -34,
                "bgcolor": "#ffffff",
                "bordercolor": SOURCE_MARKER,
                "borderpad": 3,
                "font": {"size": 12, "color": SOURCE_MARKER},
            }
        )
    layout = map_layout(regions, height)
    layout["annotations"] = annotations
    return {"data": data, "layout": layout, "config": CONFIG}


def _moving_average(values: Sequence[int], window: int = 7) -> list[float | None]:
    out: list[float | None] = []
    total = 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(round(total / window, 2) if i >= window - 1 else None)
    return out


def epicurve(
    series: CountSeries,
    *,
    window: tuple[dt.date, dt.date] | None = None,
    first_alarm: dt.date | None = None,
    height: int = 320,
) -> Figure:
    """Daily counts as bars with a 7-day mean; ``window`` is shaded (the alert's days)."""
    dates = [p.date.isoformat() for p in series.points]
    counts = [p.count for p in series.points]
    fmt = plot_date_formats()
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": dates,
            "y": counts,
            "name": _("Daily visits"),
            "marker": {"color": BAR},
            "hovertemplate": f"%{{x|{fmt['day']}}}: "
            + _("%(n)s visits") % {"n": "%{y:,}"}
            + "<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": dates,
            "y": _moving_average(counts),
            "name": _("7-day mean"),
            "line": {"color": TREND, "width": 2},
            "hovertemplate": _("7-day mean %(n)s") % {"n": "%{y:.1f}"} + "<extra></extra>",
        },
    ]
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    if window is not None:
        start, end = window
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "layer": "below",
                "x0": f"{start.isoformat()} 00:00",
                "x1": f"{end.isoformat()} 23:59",
                "y0": 0,
                "y1": 1,
                "fillcolor": WINDOW_FILL,
                "line": {"width": 0},
            }
        )
        annotations.append(
            {
                "x": f"{start.isoformat()} 00:00",
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "text": _("alert"),
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "bottom",
                "font": {"size": 11, "color": LEVEL_COLOURS["high"]},
            }
        )
    if first_alarm is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": f"{first_alarm.isoformat()} 12:00",
                "x1": f"{first_alarm.isoformat()} 12:00",
                "y0": 0,
                "y1": 1,
                "line": {"color": LEVEL_COLOURS["high"], "width": 1.5, "dash": "dot"},
            }
        )
    layout = daily_layout(height)
    layout.update(shapes=shapes, annotations=annotations)
    return {"data": data, "layout": layout, "config": CONFIG}


def daily_layout(height: int, *, bottom: int = 40) -> dict[str, Any]:
    """The layout of a daily count chart: date axis in the page's language, visits per day from
    zero, legend on top."""
    return {
        "height": height,
        "margin": {"l": 48, "r": 12, "t": 24, "b": bottom},
        "bargap": 0.15,
        "xaxis": {"type": "date", "showgrid": False, "tickformat": plot_date_formats()["tick"]},
        "yaxis": {
            "title": {"text": _("visits / day")},
            "rangemode": "tozero",
            "gridcolor": "#e7ebf0",
        },
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom"},
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "x unified",
        "font": FONT,
    }


def feed_volume(
    dates: Sequence[dt.date], series: dict[str, Sequence[int]], *, height: int = 280
) -> Figure:
    """New visits per day of arrival, one stacked bar trace per facility (``series``: facility
    label -> one count per date)."""
    x = [d.isoformat() for d in dates]
    fmt = plot_date_formats()
    hover = (
        f"%{{fullData.name}}<br>%{{x|{fmt['short']}}}: "
        + _("%(n)s visits") % {"n": "%{y:,}"}
        + "<extra></extra>"
    )
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": x,
            "y": list(counts),
            "name": label,
            "hovertemplate": hover,
        }
        for label, counts in series.items()
    ]
    layout = {
        "height": height,
        "barmode": "stack",
        "margin": {"l": 48, "r": 12, "t": 12, "b": 40},
        "bargap": 0.15,
        "xaxis": {"type": "date", "showgrid": False, "tickformat": fmt["tick"]},
        "yaxis": {
            "title": {"text": _("new visits / day")},
            "rangemode": "tozero",
            "gridcolor": "#e7ebf0",
        },
        "legend": {"orientation": "h", "x": 0, "y": -0.18, "xanchor": "left", "yanchor": "top"},
        "showlegend": len(series) <= 20,
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "closest",
        "font": FONT,
    }
    return {"data": data, "layout": layout, "config": CONFIG}


# ---------------------------------------------------------------------------------------------
# tracing: candidate sites, the transmission graph and Rt

SITE_COLOURSCALE = "YlOrRd"
GENERATION_COLOURS = [
    "#1b4f9c",
    "#e07b1a",
    "#2a9d5b",
    "#c2334d",
    "#7b4fb0",
    "#8c6239",
    "#d4589e",
    "#5f6b7a",
    "#a8a21c",
    "#1aa2b8",
]
EDGE_BANDS = (
    (0.0, 0.25, 0.6, 0.25),
    (0.25, 0.5, 1.2, 0.45),
    (0.5, 0.75, 2.0, 0.7),
    (0.75, 1.01, 3.0, 0.9),
)
"""Infector links by probability: (from, to, line width, opacity)."""
RT_LINE = "#1f2a44"
RT_BAND = "rgba(47, 95, 152, 0.22)"


def _region_backdrop(regions: Sequence[MapRegion]) -> list[dict[str, Any]]:
    """Muted region polygons (the alert's regions outlined) under a map of points."""
    data = []
    for region in regions:
        xs, ys = polygon_xy(region.geometry)
        if not xs:
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": xs,
                "y": ys,
                "fill": "toself",
                "fillcolor": MUTED_FILL,
                "line": {
                    "color": HIGHLIGHT_OUTLINE if region.highlighted else OUTLINE,
                    "width": 2 if region.highlighted else 1,
                },
                "hoveron": "fills",
                "hoverinfo": "text",
                "text": region.name,
                "showlegend": False,
                "meta": {"region": region.id},
            }
        )
    return data


def map_layout(regions: Sequence[Any], height: int) -> dict[str, Any]:
    """The layout of a map of ``regions`` (anything with a GeoJSON ``geometry``): lon/lat axes
    hidden, the latitude's aspect ratio, pan to move."""
    ratio = 1 / max(math.cos(math.radians(_mean_lat(regions))), 0.1)
    axis = {"visible": False, "showgrid": False, "zeroline": False, "fixedrange": False}
    return {
        "height": height,
        "margin": {"l": 4, "r": 4, "t": 4, "b": 4},
        "xaxis": dict(axis),
        "yaxis": dict(axis, scaleanchor="x", scaleratio=ratio),
        "plot_bgcolor": "rgba(0,0,0,0)",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "closest",
        "dragmode": "pan",
        "font": FONT,
        "hoverlabel": {"bgcolor": "#ffffff", "bordercolor": "#c7d0dc", "font": FONT},
    }


def site_map(regions: Sequence[MapRegion], sites: SiteAnalysis, *, height: int = 420) -> Figure:
    """The candidate point sources on the region map: size and colour by score (the
    log-likelihood ratio of "the cases came from here"), the best as a star."""
    data = _region_backdrop(regions)
    shown = sites.sites
    if shown:
        scores = [s.score for s in shown]
        low, high = min(scores), max(scores)
        span = high - low or 1.0
        rel = [(v - low) / span for v in scores]
        hover = [
            f"<b>#{s.rank} {s.name}</b><br>{tr(s.place_kind or 'place')}"
            + "<br>"
            + _("score %(v)s") % {"v": fmt_num(s.score, 2)}
            + (
                "<br>" + _("probability %(v)s%%") % {"v": fmt_num(100 * s.probability, 1)}
                if s.probability is not None
                else ""
            )
            + (
                "<br>" + _("hit score %(v)s") % {"v": fmt_num(s.hit_score, 3)}
                if s.hit_score is not None
                else ""
            )
            + (
                "<br>" + _("profiling rank %(v)s") % {"v": s.profile_rank}
                if s.profile_rank is not None
                else ""
            )
            for s in shown
        ]
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [s.lon for s in shown],
                "y": [s.lat for s in shown],
                "text": hover,
                "hovertemplate": "%{text}<extra></extra>",
                "marker": {
                    "size": [7 + 17 * r for r in rel],
                    "color": scores,
                    "colorscale": SITE_COLOURSCALE,
                    "showscale": True,
                    "colorbar": {"title": {"text": _("score")}, "thickness": 10, "len": 0.6},
                    "line": {"color": "#ffffff", "width": 1},
                    "opacity": 0.9,
                },
                "name": _("Candidate sites"),
                "showlegend": False,
                "meta": {"kind": "sites", "ids": [s.id for s in shown]},
            }
        )
        best = shown[0]
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "x": [best.lon],
                "y": [best.lat],
                "text": [f"#1 {best.name}"],
                "textposition": "top center",
                "textfont": {"size": 12, "color": SOURCE_MARKER},
                "marker": {
                    "symbol": "star",
                    "size": 20,
                    "color": SOURCE_MARKER,
                    "line": {"color": "#ffffff", "width": 1.5},
                },
                "hoverinfo": "skip",
                "name": _("Best site"),
                "showlegend": False,
                "meta": {"kind": "best-site", "id": best.id},
            }
        )
    return {"data": data, "layout": map_layout(regions, height), "config": CONFIG}


def _tree_order(chains: ChainAnalysis) -> dict[str, int]:
    """A row per case so each infector's infectees sit just below it (depth-first, by onset)."""
    children: dict[str | None, list[Any]] = {}
    ids = {c.case_id for c in chains.cases}
    for c in chains.cases:
        parent = c.infector_id if c.infector_id in ids else None
        children.setdefault(parent, []).append(c)
    order: dict[str, int] = {}
    stack = sorted(children.get(None, []), key=lambda c: (c.onset, c.case_id), reverse=True)
    while stack:
        case = stack.pop()
        if case.case_id in order:
            continue
        order[case.case_id] = len(order)
        kids = sorted(children.get(case.case_id, []), key=lambda c: (c.onset, c.case_id))
        stack.extend(reversed(kids))
    for c in chains.cases:  # anything left (a cycle would be a bug upstream): at the end
        order.setdefault(c.case_id, len(order))
    return order


def transmission_graph(chains: ChainAnalysis, *, height: int = 460) -> Figure:
    """Cases by onset date (x) in tree order (y), coloured by generation; a line from each case
    to its most likely infector, wider and darker the more probable. Hover shows the ids and
    probabilities; superspreaders have a dark outline."""
    cases = chains.cases
    row = _tree_order(chains)
    by_id = {c.case_id: c for c in cases}
    data: list[dict[str, Any]] = []
    for lo, hi, width, opacity in EDGE_BANDS:
        xs: list[Any] = []
        ys: list[Any] = []
        for c in cases:
            src = by_id.get(c.infector_id or "")
            if src is None or not lo <= c.probability < hi:
                continue
            xs += [src.onset.isoformat(), c.onset.isoformat(), None]
            ys += [row[src.case_id], row[c.case_id], None]
        if xs:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": xs,
                    "y": ys,
                    "line": {"color": f"rgba(31, 42, 68, {opacity})", "width": width},
                    "hoverinfo": "skip",
                    "name": _("infector p %(lo)s-%(hi)s")
                    % {"lo": f"{lo:.2g}", "hi": f"{min(hi, 1):.2g}"},
                    "showlegend": False,
                    "meta": {"kind": "links"},
                }
            )
    linked = [c for c in cases if c.infector_id in by_id]
    if linked:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [
                    _mid_date(by_id[c.infector_id].onset, c.onset)  # type: ignore[index]
                    for c in linked
                ],
                "y": [(row[c.infector_id] + row[c.case_id]) / 2 for c in linked],  # type: ignore[index]
                "text": [
                    f"{c.infector_id} → {c.case_id}<br>p = {fmt_num(100 * c.probability, 0)}%"
                    for c in linked
                ],
                "hovertemplate": "%{text}<extra></extra>",
                "marker": {"size": 6, "color": "rgba(0,0,0,0)"},
                "showlegend": False,
                "name": _("links"),
                "meta": {"kind": "link-hover"},
            }
        )
    generations = sorted({c.generation for c in cases})
    for g in generations:
        members = [c for c in cases if c.generation == g]
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [c.onset.isoformat() for c in members],
                "y": [row[c.case_id] for c in members],
                "text": [_case_hover(c) for c in members],
                "hovertemplate": "%{text}<extra></extra>",
                "marker": {
                    "size": [min(7 + 3 * (c.expected_offspring or 0.0), 22) for c in members],
                    "color": GENERATION_COLOURS[g % len(GENERATION_COLOURS)],
                    "line": {
                        "color": ["#111827" if c.superspreader else "#ffffff" for c in members],
                        "width": [2.5 if c.superspreader else 0.8 for c in members],
                    },
                },
                "name": _("generation %(g)s") % {"g": g},
                "meta": {"kind": "cases", "generation": g},
            }
        )
    layout = {
        "height": height,
        "margin": {"l": 12, "r": 12, "t": 28, "b": 40},
        "xaxis": {
            "type": "date",
            "title": {"text": _("onset")},
            "tickformat": plot_date_formats()["tick"],
            "gridcolor": "#eef1f5",
        },
        "yaxis": {"visible": False, "autorange": "reversed", "zeroline": False},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom"},
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "closest",
        "dragmode": "pan",
        "font": FONT,
        "hoverlabel": {"bgcolor": "#ffffff", "bordercolor": "#c7d0dc", "font": FONT},
    }
    return {"data": data, "layout": layout, "config": CONFIG}


def _mid_date(a: dt.date, b: dt.date) -> str:
    mid = dt.datetime.combine(a, dt.time()) + (b - a) / 2
    return mid.isoformat(sep=" ")


def _case_hover(c: Any) -> str:
    lines = [
        f"<b>{c.case_id}</b>",
        (_("onset %(date)s (estimated)") if c.onset_imputed else _("onset %(date)s"))
        % {"date": fmt_date(c.onset)},
        _("generation %(g)s") % {"g": c.generation},
        _("infected by %(case)s (p = %(p)s%%)")
        % {"case": c.infector_id, "p": fmt_num(100 * c.probability, 0)}
        if c.infector_id
        else _("infected outside the data (p = %(p)s%%)") % {"p": fmt_num(100 * c.probability, 0)},
    ]
    if c.expected_offspring is not None:
        lines.append(_("expected infectees %(n)s") % {"n": fmt_num(c.expected_offspring, 2)})
    if c.superspreader:
        lines.append(_("possible superspreader"))
    return "<br>".join(lines)


def rt_curve(
    rt: RtAnalysis, *, window: tuple[dt.date, dt.date] | None = None, height: int = 320
) -> Figure:
    """Rt by the last day of each window: the posterior mean with its 95% credible band, a
    dashed line at 1 (above: growing), the alert's days shaded."""
    x = [p.date.isoformat() for p in rt.points]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": [round(p.q975, 4) for p in rt.points],
            "line": {"width": 0},
            "hoverinfo": "skip",
            "showlegend": False,
            "name": "97.5%",
            "meta": {"kind": "band-upper"},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": [round(p.q025, 4) for p in rt.points],
            "fill": "tonexty",
            "fillcolor": RT_BAND,
            "line": {"width": 0},
            "hoverinfo": "skip",
            "name": _("Credible interval (95%)"),
            "meta": {"kind": "band"},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": [round(p.mean, 4) for p in rt.points],
            "text": [
                f"{fmt_date(p.start)} – {fmt_date(p.date)}: "
                + _("Rt %(mean)s (95%% CrI %(low)s-%(high)s), %(cases)s cases")
                % {
                    "mean": fmt_num(p.mean, 2),
                    "low": fmt_num(p.q025, 2),
                    "high": fmt_num(p.q975, 2),
                    "cases": p.cases,
                }
                for p in rt.points
            ],
            "hovertemplate": "%{text}<extra></extra>",
            "line": {"color": RT_LINE, "width": 2},
            "name": _("Rt (posterior mean)"),
            "meta": {"kind": "rt"},
        },
    ]
    shapes: list[dict[str, Any]] = [
        {
            "type": "line",
            "xref": "paper",
            "yref": "y",
            "x0": 0,
            "x1": 1,
            "y0": 1,
            "y1": 1,
            "line": {"color": LEVEL_COLOURS["high"], "width": 1.5, "dash": "dash"},
        }
    ]
    if window is not None:
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "layer": "below",
                "x0": f"{window[0].isoformat()} 00:00",
                "x1": f"{window[1].isoformat()} 23:59",
                "y0": 0,
                "y1": 1,
                "fillcolor": WINDOW_FILL,
                "line": {"width": 0},
            }
        )
    layout = {
        "height": height,
        "margin": {"l": 48, "r": 12, "t": 24, "b": 40},
        "xaxis": {"type": "date", "showgrid": False, "tickformat": plot_date_formats()["tick"]},
        "yaxis": {"title": {"text": "Rt"}, "rangemode": "tozero", "gridcolor": "#e7ebf0"},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom"},
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "closest",
        "font": FONT,
        "shapes": shapes,
    }
    return {"data": data, "layout": layout, "config": CONFIG}
