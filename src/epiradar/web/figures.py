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

from epiradar.service.views import CountSeries, MapRegion, SourceRow

Figure = dict[str, Any]

LEVEL_COLOURS = {
    "none": "#dfe6ee",
    "low": "#f7d774",
    "medium": "#f0953a",
    "high": "#d63c3c",
}
LEVEL_LABELS = {"none": "No alert", "low": "Low", "medium": "Medium", "high": "High"}
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


def _polygon_xy(geometry: dict[str, Any] | None) -> tuple[list[float | None], list[float | None]]:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for ring in _rings(geometry):
        if xs:
            xs.append(None)
            ys.append(None)
        xs.extend(float(p[0]) for p in ring)
        ys.extend(float(p[1]) for p in ring)
    return xs, ys


def _label_point(geometry: dict[str, Any] | None) -> tuple[float, float] | None:
    """A point well inside the region for its label (shapely's representative point)."""
    if not geometry:
        return None
    point = shape(geometry).representative_point()
    return round(point.x, 6), round(point.y, 6)


def _mean_lat(regions: Sequence[MapRegion]) -> float:
    lats = [float(p[1]) for r in regions for ring in _rings(r.geometry) for p in ring]
    return sum(lats) / len(lats) if lats else 0.0


def _hover(region: MapRegion, syndrome_focus: str | None) -> str:
    lines = [
        f"<b>{region.name}</b>",
        f"Alert level: {LEVEL_LABELS[region.level]}",
        f"Visits, last 7 days: {region.recent_visits:,}",
    ]
    if syndrome_focus:
        lines.append(f"{syndrome_focus}: {region.recent_syndromic.get(syndrome_focus, 0):,}")
    top = sorted(region.recent_syndromic.items(), key=lambda kv: -kv[1])[:3]
    if top and not syndrome_focus:
        lines.append(", ".join(f"{k} {v:,}" for k, v in top))
    if region.alert_ids:
        lines.append(f"Open alerts: {', '.join(region.alert_ids)}")
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
        xs, ys = _polygon_xy(region.geometry)
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
    labels = [(r, _label_point(r.geometry)) for r in regions]
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
                    f"<b>#{c.rank} {c.name}</b><br>{source.kind_label}"
                    f"<br>OR {c.odds_ratio:.1f}<extra></extra>"
                ),
                "name": "Most likely source",
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
    ratio = 1 / max(math.cos(math.radians(_mean_lat(regions))), 0.1)
    axis = {"visible": False, "showgrid": False, "zeroline": False, "fixedrange": False}
    layout = {
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
        "annotations": annotations,
    }
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
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": dates,
            "y": counts,
            "name": "Daily visits",
            "marker": {"color": BAR},
            "hovertemplate": "%{x|%a %d %b %Y}: %{y:,} visits<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": dates,
            "y": _moving_average(counts),
            "name": "7-day mean",
            "line": {"color": TREND, "width": 2},
            "hovertemplate": "7-day mean %{y:.1f}<extra></extra>",
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
                "text": "alert",
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
    layout = {
        "height": height,
        "margin": {"l": 48, "r": 12, "t": 24, "b": 40},
        "bargap": 0.15,
        "xaxis": {"type": "date", "showgrid": False, "tickformat": "%d %b"},
        "yaxis": {"title": {"text": "visits / day"}, "rangemode": "tozero", "gridcolor": "#e7ebf0"},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom"},
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "x unified",
        "font": FONT,
        "shapes": shapes,
        "annotations": annotations,
    }
    return {"data": data, "layout": layout, "config": CONFIG}


def feed_volume(
    dates: Sequence[dt.date], series: dict[str, Sequence[int]], *, height: int = 280
) -> Figure:
    """New visits per day of arrival, one stacked bar trace per facility (``series``: facility
    label -> one count per date)."""
    x = [d.isoformat() for d in dates]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": x,
            "y": list(counts),
            "name": label,
            "hovertemplate": "%{fullData.name}<br>%{x|%a %d %b}: %{y:,} visits<extra></extra>",
        }
        for label, counts in series.items()
    ]
    layout = {
        "height": height,
        "barmode": "stack",
        "margin": {"l": 48, "r": 12, "t": 12, "b": 40},
        "bargap": 0.15,
        "xaxis": {"type": "date", "showgrid": False, "tickformat": "%d %b"},
        "yaxis": {
            "title": {"text": "new visits / day"},
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
