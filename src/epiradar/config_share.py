"""Settings of data sharing and public communication: ``[fhir]``, ``[export]``, ``[public]``,
``[bulletin]`` and ``[capacity]`` (docs/sharing.md, docs/open-data.md, docs/bulletins.md,
docs/capacity.md). Parts of :class:`epiradar.config.Settings`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FhirSettings(BaseModel):
    """``[fhir]``: the FHIR R4 read API and Bulk Data export."""

    model_config = ConfigDict(extra="forbid")


class ExportSettings(BaseModel):
    """``[export]``: de-identified line-list exports."""

    model_config = ConfigDict(extra="forbid")


class PublicSettings(BaseModel):
    """``[public]``: the public dashboard and open data (small-count suppression)."""

    model_config = ConfigDict(extra="forbid")


class BulletinSettings(BaseModel):
    """``[bulletin]``: generated bulletins and their approval."""

    model_config = ConfigDict(extra="forbid")


class CapacitySettings(BaseModel):
    """``[capacity]``: facility capacity reports, demand forecast, nearest clinic."""

    model_config = ConfigDict(extra="forbid")
