"""Where should a patient go: the nearest fever clinics with capacity, by estimated travel
distance.

Travel distance is estimated as the great-circle (haversine) distance times a circuity factor:
road distance over straight-line distance averages about 1.2-1.4 across road networks (Ballou
RH, Rahardja H, Sakai N, 2002, Selected country circuity factors for road travel distance
estimation, Transportation Research Part A 36(9):843-848; Boscoe FP, Henry KA, Zdeb MS, 2012,
A nationwide comparison of driving distance versus straight-line distance to hospitals,
Professional Geographer 64(2):188-196, median 1.4 for short trips). 1.3 by default.

Ranking: clinics with capacity (a fresh report with open rooms and, where the clinic has beds,
a free bed) come first, nearest first; the others (stale, never reported, no open room, full)
follow, nearest first, each with the reason, or are left out (``include_without_capacity``).

Pure: plain values in, :class:`RankedClinic` out; no database, no web.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from shapely.geometry import shape

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG)."""


def haversine_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance in km between points given in degrees (broadcasting)."""
    p1, p2 = np.radians(np.asarray(lat1, float)), np.radians(np.asarray(lat2, float))
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def check_point(lat: float, lon: float) -> None:
    """Raise ``ValueError`` naming the coordinate unless it is a finite point on Earth."""
    if not (np.isfinite(lat) and -90 <= lat <= 90):
        raise ValueError(f"lat: must be between -90 and 90 degrees (got {lat})")
    if not (np.isfinite(lon) and -180 <= lon <= 180):
        raise ValueError(f"lon: must be between -180 and 180 degrees (got {lon})")


def region_point(geometry: dict[str, Any] | None) -> tuple[float, float]:
    """``(lat, lon)`` of a region's GeoJSON polygon: its centroid, or a point surely inside it
    when the centroid falls outside (a crescent-shaped region)."""
    if not geometry:
        raise ValueError("the region has no geometry")
    poly = shape(geometry)
    if poly.is_empty:
        raise ValueError("the region's geometry is empty")
    point = poly.centroid
    if not poly.contains(point):
        point = poly.representative_point()
    return float(point.y), float(point.x)


@dataclass(frozen=True)
class ClinicState:
    """A clinic as the finder sees it: where it is and whether it can take a patient now.
    ``reason`` says why it cannot (``never``, ``stale``, ``no_rooms``, ``full``); None = it can."""

    facility_id: str
    name: str
    lat: float
    lon: float
    reason: str | None = None
    free_rooms: int | None = None
    free_beds: int | None = None
    report_age_hours: float | None = None
    region_id: str | None = None

    @property
    def has_capacity(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class RankedClinic:
    rank: int
    clinic: ClinicState
    straight_km: float
    travel_km: float


def capacity_reason(
    *,
    reported: bool,
    stale: bool,
    rooms: int | None,
    beds_total: int | None,
    beds_free: int | None,
) -> str | None:
    """Why a clinic cannot take a patient now, or None: never reported, stale report, no open
    fever-clinic room, or full (it has beds and none is free)."""
    if not reported:
        return "never"
    if stale:
        return "stale"
    if not rooms:
        return "no_rooms"
    if beds_total and beds_free is not None and beds_free <= 0:
        return "full"
    return None


def nearest_clinics(
    lat: float,
    lon: float,
    clinics: Sequence[ClinicState],
    *,
    circuity: float = 1.3,
    limit: int = 5,
    include_without_capacity: bool = True,
) -> list[RankedClinic]:
    """The ``limit`` best clinics from ``(lat, lon)``: with capacity first, nearest first (by
    travel distance = great-circle distance x ``circuity``; ties by facility id); those without
    capacity after them, or left out when ``include_without_capacity`` is false."""
    check_point(lat, lon)
    if not circuity >= 1:
        raise ValueError(f"circuity must be at least 1 (got {circuity})")
    if int(limit) != limit or limit < 1:
        raise ValueError(f"limit must be a positive integer (got {limit})")
    shown = [c for c in clinics if include_without_capacity or c.has_capacity]
    if not shown:
        return []
    straight = haversine_km(
        lat, lon, np.array([c.lat for c in shown]), np.array([c.lon for c in shown])
    )
    order = sorted(
        range(len(shown)),
        key=lambda i: (not shown[i].has_capacity, float(straight[i]), shown[i].facility_id),
    )[: int(limit)]
    return [
        RankedClinic(
            rank=k + 1,
            clinic=shown[i],
            straight_km=float(straight[i]),
            travel_km=float(straight[i] * circuity),
        )
        for k, i in enumerate(order)
    ]
