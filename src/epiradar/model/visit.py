"""The canonical visit record: every wire format is converted into this at the ingest edge."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from epiradar.model.syndrome import Syndrome

Sex = Literal["M", "F", "U"]

VISIT_COLUMNS: tuple[str, ...] = (
    "visit_id",
    "facility_id",
    "visit_time",
    "patient_id",
    "age",
    "sex",
    "residence_region",
    "residence_lat",
    "residence_lon",
    "chief_complaint",
    "temperature_c",
    "diagnosis_codes",
    "onset_date",
    "exposures",
    "contacts",
    "lab_result",
    "patient_class",
    "disposition",
    "discharge_time",
)
"""The columns of the canonical visits file (CSV header; JSON Lines keys), in order."""


class Exposure(BaseModel):
    """A reported exposure: a place id (or free text) and, when known, the date of the visit to it."""

    model_config = ConfigDict(frozen=True)

    place_id: str = Field(min_length=1)
    date: dt.date | None = None


class Visit(BaseModel):
    """One fever-clinic / emergency visit, pseudonymised and classified.

    Unknown is ``None`` (or an empty list), never a made-up default.
    """

    model_config = ConfigDict(extra="forbid")

    visit_id: str = Field(min_length=1)
    facility_id: str = Field(min_length=1)
    visit_time: dt.datetime
    patient_key: str | None = None  # HMAC-SHA256 pseudonym, never the raw id
    age: float | None = Field(default=None, ge=0, le=130)
    sex: Sex | None = None
    residence_region: str | None = None
    residence_lat: float | None = Field(default=None, ge=-90, le=90)
    residence_lon: float | None = Field(default=None, ge=-180, le=180)
    chief_complaint: str | None = None
    temperature_c: float | None = Field(default=None, ge=25, le=45)
    diagnosis_codes: list[str] = Field(default_factory=list)
    onset_date: dt.date | None = None
    exposures: list[Exposure] = Field(default_factory=list)
    contacts: list[str] = Field(default_factory=list)  # patient keys
    lab_result: str | None = None
    patient_class: str | None = None  # E emergency, O outpatient, I inpatient (HL7 table 0004)
    disposition: str | None = None  # discharge disposition code or text
    discharge_time: dt.datetime | None = None  # when the visit closed (HL7 A03)
    syndromes: list[Syndrome] = Field(default_factory=list)
