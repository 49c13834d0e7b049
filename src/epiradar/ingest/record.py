"""``VisitRecord``: the pydantic schema of record of one input row, before pseudonymisation.

The pipeline validates whole chunks at once (``ingest.validate``) under the same rules
(``ingest.rules``); tests hold the two to agreement. Validate with the known ids as context::

    VisitRecord.model_validate(raw, context={"facilities": {...}, "regions": {...}})
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from epiradar.ingest import rules
from epiradar.model import Exposure, Sex, Visit, syndromes_of


class VisitRecord(BaseModel):
    """One raw row: text fields in, canonical values out; ``patient_id`` is still the raw id."""

    model_config = ConfigDict(extra="forbid")

    visit_id: str
    facility_id: str
    visit_time: dt.datetime
    patient_id: str | None = None
    age: float | None = None
    sex: Sex | None = None
    residence_region: str | None = None
    residence_lat: float | None = None
    residence_lon: float | None = None
    chief_complaint: str | None = None
    temperature_c: float | None = None
    diagnosis_codes: list[str] = []
    onset_date: dt.date | None = None
    exposures: list[dict[str, str | None]] = []
    contacts: list[str] = []
    lab_result: str | None = None
    patient_class: str | None = None
    disposition: str | None = None
    discharge_time: dt.datetime | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: Any, info: ValidationInfo) -> Any:
        """Strip text; empty is unknown; the typed parsers of ``rules`` decide the rest."""
        text = "" if value is None else str(value).strip()
        name = info.field_name
        if not text:
            if name in rules.REQUIRED:
                raise ValueError("required")
            return [] if name in rules.LIST_COLUMNS else None
        if name in rules.NUMBER_COLUMNS:
            return rules.parse_number(name, text)
        parsers: dict[str, Callable[[str], Any]] = {
            "visit_time": rules.parse_time,
            "discharge_time": rules.parse_time,
            "onset_date": rules.parse_date,
            "sex": rules.parse_sex,
            "diagnosis_codes": rules.parse_codes,
            "exposures": rules.parse_exposures,
            "contacts": rules.split_list,
        }
        return parsers[name](text) if name in parsers else text

    @field_validator("facility_id")
    @classmethod
    def _known_facility(cls, value: str, info: ValidationInfo) -> str:
        known = (info.context or {}).get("facilities")
        if known is not None and value not in known:
            raise ValueError(f"unknown facility {value!r}")
        return value

    @field_validator("residence_region")
    @classmethod
    def _known_region(cls, value: str | None, info: ValidationInfo) -> str | None:
        known = (info.context or {}).get("regions")
        if value is not None and known is not None and value not in known:
            raise ValueError(f"unknown region {value!r}")
        return value

    def to_visit(self, pseudonymize: Callable[[str], str], syndrome_mask: int = 0) -> Visit:
        """The canonical visit: patient and contact ids replaced by their pseudonyms."""
        data = self.model_dump(exclude={"patient_id", "exposures", "contacts"})
        return Visit(
            **data,
            patient_key=pseudonymize(self.patient_id) if self.patient_id else None,
            contacts=[pseudonymize(c) for c in self.contacts],
            exposures=[Exposure(place_id=e["place_id"], date=e["date"]) for e in self.exposures],
            syndromes=syndromes_of(syndrome_mask),
        )
