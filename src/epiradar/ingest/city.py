"""Read a city folder: ``regions.geojson``, ``facilities.csv``, ``places.csv``, ``mobility.csv``.

Any problem raises :class:`CityFormatError` with a one-line message naming the file, the
feature index (0-based, GeoJSON) or data row (1-based, header = row 0, CSV), the field and why.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape

from epiradar.model import Facility, MobilityFlow, Place, Region

REGIONS_FILE = "regions.geojson"
FACILITIES_FILE = "facilities.csv"
PLACES_FILE = "places.csv"
MOBILITY_FILE = "mobility.csv"


class CityFormatError(ValueError):
    """A city file is malformed; the message says where and why."""


@dataclass(frozen=True)
class City:
    regions: list[Region]
    facilities: list[Facility]
    places: list[Place]
    mobility: list[MobilityFlow]


def read_city(directory: Path | str) -> City:
    directory = Path(directory)
    regions = read_regions(directory / REGIONS_FILE)
    known = {r.id for r in regions}
    return City(
        regions=regions,
        facilities=read_facilities(directory / FACILITIES_FILE, known),
        places=read_places(directory / PLACES_FILE, known),
        mobility=read_mobility(directory / MOBILITY_FILE, known),
    )


def read_regions(path: Path) -> list[Region]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CityFormatError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CityFormatError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise CityFormatError(f"{path}: not a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list):
        raise CityFormatError(f"{path}: features: missing or not a list")
    regions: list[Region] = []
    for index, feature in enumerate(features):
        where = f"{path}: feature {index}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise CityFormatError(f"{where}: not a GeoJSON Feature")
        props = feature.get("properties")
        if not isinstance(props, dict):
            raise CityFormatError(f"{where}: properties: missing")
        for name in ("id", "name", "population"):
            if props.get(name) in (None, ""):
                raise CityFormatError(f"{where}: {name}: missing")
        population = _number(where, "population", props["population"], int)
        if population < 0:
            raise CityFormatError(f"{where}: population: negative ({population})")
        regions.append(
            Region(
                id=str(props["id"]),
                name=str(props["name"]),
                population=population,
                parent_id=str(props["parent_id"])
                if props.get("parent_id") not in (None, "")
                else None,
                parent_name=str(props["parent_name"])
                if props.get("parent_name") not in (None, "")
                else None,
                geometry=_geometry(where, feature.get("geometry")),
            )
        )
    ids = [r.id for r in regions]
    for index, region in enumerate(regions):
        if ids.count(region.id) > 1:
            raise CityFormatError(f"{path}: feature {index}: id: duplicate {region.id!r}")
        if region.parent_id == region.id:
            raise CityFormatError(f"{path}: feature {index}: parent_id: the region itself")
    return regions


def _geometry(where: str, geometry: Any) -> dict[str, Any]:
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise CityFormatError(f"{where}: geometry: expected a Polygon or MultiPolygon")
    try:
        geom = shape(geometry)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise CityFormatError(f"{where}: geometry: malformed coordinates ({exc})") from None
    if geom.is_empty or not geom.is_valid:
        reason = shapely.is_valid_reason(geom) if not geom.is_empty else "empty"
        raise CityFormatError(f"{where}: geometry: invalid polygon ({reason})")
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise CityFormatError(f"{where}: geometry: coordinates outside lon/lat range")
    return geometry


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str]]]:
    """``(where, row)`` of a CSV file with at least ``columns``."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise CityFormatError(f"{path}: file not found") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise CityFormatError(f"{path}: row 0: {', '.join(missing)}: missing column")
        for number, row in enumerate(reader, start=1):
            where = f"{path}: row {number}"
            if None in row or any(v is None for v in row.values()):
                raise CityFormatError(f"{where}: wrong number of fields")
            yield where, {k: v.strip() for k, v in row.items()}


def _number(where: str, name: str, value: Any, kind: Callable[[Any], Any]) -> Any:
    try:
        if kind is int and isinstance(value, str):
            number = float(value)
            if number != int(number):
                raise ValueError
            return int(number)
        if isinstance(value, bool):
            raise ValueError
        result = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise CityFormatError(f"{where}: {name}: not a number: {value!r}") from None
    if kind is float and result != result:
        raise CityFormatError(f"{where}: {name}: not a number: {value!r}")
    return result


def _required(where: str, row: dict[str, str], name: str) -> str:
    if not row[name]:
        raise CityFormatError(f"{where}: {name}: missing")
    return row[name]


def _optional_number(
    where: str, row: dict[str, str], name: str, kind: Callable[[Any], Any], low: float, high: float
) -> Any:
    if not row.get(name):
        return None
    value = _number(where, name, row[name], kind)
    if not low <= value <= high:
        raise CityFormatError(f"{where}: {name}: {value} outside [{low:g}, {high:g}]")
    return value


def _region_ref(
    where: str, row: dict[str, str], name: str, known: set[str], *, required: bool = False
) -> str | None:
    value = _required(where, row, name) if required else row.get(name) or None
    if value is not None and value not in known:
        raise CityFormatError(f"{where}: {name}: unknown region {value!r}")
    return value


_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


def read_facilities(path: Path, regions: set[str]) -> list[Facility]:
    out = []
    for where, row in _rows(
        path, ("id", "name", "region_id", "lat", "lon", "fever_clinic", "capacity")
    ):
        flag = row["fever_clinic"].lower()
        if flag not in _TRUE | _FALSE:
            raise CityFormatError(f"{where}: fever_clinic: not a boolean: {row['fever_clinic']!r}")
        out.append(
            Facility(
                id=_required(where, row, "id"),
                name=row["name"],
                region_id=_region_ref(where, row, "region_id", regions),
                lat=_optional_number(where, row, "lat", float, -90, 90),
                lon=_optional_number(where, row, "lon", float, -180, 180),
                fever_clinic=flag in _TRUE,
                capacity=_optional_number(where, row, "capacity", int, 0, float("inf")),
            )
        )
    return _unique(path, out)


def read_places(path: Path, regions: set[str]) -> list[Place]:
    out = []
    for where, row in _rows(path, ("id", "name", "kind", "region_id", "lat", "lon")):
        out.append(
            Place(
                id=_required(where, row, "id"),
                name=row["name"],
                kind=_required(where, row, "kind"),
                region_id=_region_ref(where, row, "region_id", regions),
                lat=_optional_number(where, row, "lat", float, -90, 90),
                lon=_optional_number(where, row, "lon", float, -180, 180),
            )
        )
    return _unique(path, out)


def read_mobility(path: Path, regions: set[str]) -> list[MobilityFlow]:
    out: dict[tuple[str, str], MobilityFlow] = {}
    for where, row in _rows(path, ("origin", "destination", "flow")):
        origin = _region_ref(where, row, "origin", regions, required=True)
        destination = _region_ref(where, row, "destination", regions, required=True)
        flow = _number(where, "flow", _required(where, row, "flow"), float)
        if flow < 0:
            raise CityFormatError(f"{where}: flow: negative ({flow})")
        assert origin is not None and destination is not None
        if (origin, destination) in out:
            raise CityFormatError(f"{where}: origin: duplicate flow {origin} -> {destination}")
        out[(origin, destination)] = MobilityFlow(origin=origin, destination=destination, flow=flow)
    return list(out.values())


def _unique(path: Path, items: list[Any]) -> list[Any]:
    seen: set[str] = set()
    for number, item in enumerate(items, start=1):
        if item.id in seen:
            raise CityFormatError(f"{path}: row {number}: id: duplicate {item.id!r}")
        seen.add(item.id)
    return items
