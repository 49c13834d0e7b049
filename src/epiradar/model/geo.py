"""The city: regions, facilities, places and mobility between regions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Region(_Frozen):
    """An administrative area (district, sub-district) with its boundary as GeoJSON geometry."""

    id: str = Field(min_length=1)
    name: str
    population: int = Field(ge=0)
    parent_id: str | None = None  # the enclosing unit (e.g. district); need not be a region
    parent_name: str | None = None  # that unit's name, shown to people

    @property
    def district_id(self) -> str:
        """The district this region counts in: its parent, else the region itself."""
        return self.parent_id or self.id

    @property
    def district_name(self) -> str:
        """The district's name: the parent's name (else its id), or the region's own."""
        if self.parent_id:
            return self.parent_name or self.parent_id
        return self.name

    geometry: dict[str, Any] | None = None  # GeoJSON Polygon / MultiPolygon, lon-lat order


class Facility(_Frozen):
    """A hospital or clinic that reports visits."""

    id: str = Field(min_length=1)
    name: str
    region_id: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    fever_clinic: bool = False
    capacity: int | None = Field(default=None, ge=0)


class Place(_Frozen):
    """A place people gather at and may be exposed in: market, restaurant, school, mall..."""

    id: str = Field(min_length=1)
    name: str
    kind: str
    region_id: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class MobilityFlow(_Frozen):
    """Average daily number of people travelling from ``origin`` to ``destination``."""

    origin: str
    destination: str
    flow: float = Field(ge=0)
