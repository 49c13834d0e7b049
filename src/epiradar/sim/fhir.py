"""Simulated visits as FHIR R4 Bundles, the way a clinic's system would send them.

The mapping is the one ``ingest.fhir.read_bundle`` reads (``docs/fhir.md``): per visit an
Encounter (https://hl7.org/fhir/R4/encounter.html), its Patient, one Condition per ICD-10
code and Observations for the temperature, onset (when no Condition carries it), a non-whole
age, exposures, contacts and the lab result; per Bundle one Organization per facility.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pandas as pd

from epiradar.ingest import rules
from epiradar.ingest.fhir import ACT_CODE, GEOLOCATION, LOCAL_SYSTEM, LOINC, NULL_FLAVOR, UCUM

VISIT_SYSTEM = "urn:epiradar:visit-id"
PATIENT_SYSTEM = "urn:epiradar:patient-id"
FACILITY_SYSTEM = "urn:epiradar:facility-id"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
CLASSES = {"E": ("EMER", "emergency"), "O": ("AMB", "ambulatory"), "I": ("IMP", "inpatient")}
GENDERS = {"M": "male", "F": "female", "U": "unknown"}
_NAMESPACE = uuid.UUID("5b0f3c1e-8a43-4c39-9a53-2b8f0e6f1d2a")


def _uuid(kind: str, key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{kind}/{key}')}"


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _birth_date(visit_time: str, age: str) -> str | None:
    """A birth date giving exactly ``age`` whole years at the visit, if ``age`` is whole."""
    try:
        years = float(age)
        visit = dt.date.fromisoformat(visit_time[:10])
    except ValueError:
        return None
    if not years.is_integer() or years < 0:
        return None
    year = visit.year - int(years)
    day = visit.day
    while True:
        try:
            return dt.date(year, visit.month, day).isoformat()
        except ValueError:  # 29 February in a common year
            day -= 1


def _observation(
    code: dict[str, Any], subject: str, encounter: str, effective: str, **value: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": code,
        "subject": {"reference": subject},
        "encounter": {"reference": encounter},
        "effectiveDateTime": effective,
        **value,
    }


def _loinc(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}]}


def _local(code: str) -> dict[str, Any]:
    return {"coding": [{"system": LOCAL_SYSTEM, "code": code}]}


def visit_resources(
    row: dict[str, str], organization: str, *, utc_offset: str = "+08:00"
) -> list[tuple[str, dict[str, Any]]]:
    """``(fullUrl, resource)`` of one canonical visit row: Encounter first."""
    visit_id = row["visit_id"]
    patient_url = _uuid("Patient", visit_id)
    encounter_url = _uuid("Encounter", visit_id)
    when = row["visit_time"] + utc_offset

    patient: dict[str, Any] = {"resourceType": "Patient"}
    if row.get("patient_id"):
        patient["identifier"] = [{"system": PATIENT_SYSTEM, "value": row["patient_id"]}]
    if row.get("sex") in GENDERS:
        patient["gender"] = GENDERS[row["sex"]]
    birth = _birth_date(row["visit_time"], row["age"]) if row.get("age") else None
    if birth:
        patient["birthDate"] = birth
    address: dict[str, Any] = {}
    if row.get("residence_lat") and row.get("residence_lon"):
        address["extension"] = [
            {
                "url": GEOLOCATION,
                "extension": [
                    {"url": "latitude", "valueDecimal": _number(row["residence_lat"])},
                    {"url": "longitude", "valueDecimal": _number(row["residence_lon"])},
                ],
            }
        ]
    if row.get("residence_region"):
        address["district"] = row["residence_region"]
    if address:
        patient["address"] = [address]

    code, display = CLASSES.get(row.get("patient_class", ""), ("", ""))
    if code:
        klass = {"system": ACT_CODE, "code": code, "display": display}
    elif row.get("patient_class"):
        klass = {"code": row["patient_class"]}
    else:
        klass = {"system": NULL_FLAVOR, "code": "UNK", "display": "unknown"}
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [{"system": VISIT_SYSTEM, "value": visit_id}],
        "status": "finished" if row.get("discharge_time") else "in-progress",
        "class": klass,
        "subject": {"reference": patient_url},
        "period": {"start": when},
        "serviceProvider": {"reference": organization},
    }
    if row.get("discharge_time"):
        encounter["period"]["end"] = row["discharge_time"] + utc_offset
    if row.get("chief_complaint"):
        encounter["reasonCode"] = [{"text": row["chief_complaint"]}]
    if row.get("disposition"):
        encounter["hospitalization"] = {"dischargeDisposition": {"text": row["disposition"]}}

    out = [(encounter_url, encounter), (patient_url, patient)]
    codes = rules.split_list(row.get("diagnosis_codes", ""))
    for code in codes:
        condition: dict[str, Any] = {
            "resourceType": "Condition",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "encounter-diagnosis",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": ICD10, "code": code}]},
            "subject": {"reference": patient_url},
            "encounter": {"reference": encounter_url},
        }
        if row.get("onset_date"):
            condition["onsetDateTime"] = row["onset_date"]
        out.append((_uuid("Condition", f"{visit_id}/{code}"), condition))

    def observe(kind: str, code: dict[str, Any], **value: Any) -> None:
        obs = _observation(code, patient_url, encounter_url, when, **value)
        if kind == "vital-signs":
            obs["category"] = [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs",
                        }
                    ]
                }
            ]
        out.append((_uuid("Observation", f"{visit_id}/{len(out)}"), obs))

    if row.get("temperature_c"):
        quantity = {"value": _number(row["temperature_c"]), "unit": "C", "system": UCUM}
        observe(
            "vital-signs",
            _loinc("8310-5", "Body temperature"),
            valueQuantity=quantity | {"code": "Cel"},
        )
    if row.get("age") and not birth:
        quantity = {"value": _number(row["age"]), "unit": "a", "system": UCUM, "code": "a"}
        observe("", _loinc("21612-7", "Age - Reported"), valueQuantity=quantity)
    if row.get("onset_date") and not codes:
        observe(
            "",
            _loinc("11368-8", "Illness or injury onset date and time"),
            valueDateTime=row["onset_date"],
        )
    for item in rules.split_list(row.get("exposures", "")):
        observe("", _local("EXPOSURE"), valueString=item)
    for item in rules.split_list(row.get("contacts", "")):
        observe("", _local("CONTACT"), valueString=item)
    if row.get("lab_result"):
        observe("", _local("LAB"), valueString=row["lab_result"])
    return out


def _rows(visits: pd.DataFrame) -> Iterator[dict[str, str]]:
    columns = [c for c in rules.COLUMNS if c in visits.columns]
    for values in visits[columns].itertuples(index=False, name=None):
        yield {
            c: ("" if v is None or v != v else str(v)) for c, v in zip(columns, values, strict=True)
        }


def fhir_bundles(
    visits: pd.DataFrame,
    *,
    per_bundle: int = 100,
    bundle_type: str = "transaction",
    utc_offset: str = "+08:00",
) -> list[dict[str, Any]]:
    """Canonical visit rows -> R4 Bundles of ``per_bundle`` visits each
    (https://hl7.org/fhir/R4/bundle.html).

    ``bundle_type``: ``transaction`` or ``batch`` (each entry with its ``request``: conditional
    updates of Organization and Encounter by identifier, creates of the rest), ``collection``,
    or ``message`` (a ``MessageHeader`` first). Times get ``utc_offset`` (FHIR times with a
    time of day carry an offset).
    """
    if bundle_type not in ("transaction", "batch", "collection", "message"):
        raise ValueError(f"bundle type {bundle_type!r}")
    if per_bundle < 1:
        raise ValueError("per_bundle must be at least 1")
    rows = list(_rows(visits))
    bundles = []
    for start in range(0, len(rows), per_bundle):
        chunk = rows[start : start + per_bundle]
        entries: list[dict[str, Any]] = []
        organizations: dict[str, str] = {}
        for row in chunk:
            facility = row["facility_id"]
            if facility not in organizations:
                url = _uuid("Organization", facility)
                organizations[facility] = url
                org = {
                    "resourceType": "Organization",
                    "identifier": [{"system": FACILITY_SYSTEM, "value": facility}],
                    "active": True,
                }
                entries.append(_entry(url, org, bundle_type, f"{FACILITY_SYSTEM}|{facility}"))
            for url, resource in visit_resources(
                row, organizations[facility], utc_offset=utc_offset
            ):
                key = None
                if resource["resourceType"] == "Encounter":
                    key = f"{VISIT_SYSTEM}|{row['visit_id']}"
                entries.append(_entry(url, resource, bundle_type, key))
        stamp = max(row["visit_time"] for row in chunk) + utc_offset
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "id": str(uuid.uuid5(_NAMESPACE, f"Bundle/{chunk[0]['visit_id']}/{len(chunk)}")),
            "type": bundle_type,
            "timestamp": stamp,
            "entry": entries,
        }
        if bundle_type == "message":
            header = {
                "resourceType": "MessageHeader",
                "eventCoding": {"system": LOCAL_SYSTEM, "code": "visits"},
                "source": {"endpoint": f"{FACILITY_SYSTEM}:{chunk[0]['facility_id']}"},
                "focus": [
                    {"reference": e["fullUrl"]}
                    for e in entries
                    if e["resource"]["resourceType"] == "Encounter"
                ],
            }
            bundle["entry"] = [
                {"fullUrl": _uuid("MessageHeader", bundle["id"]), "resource": header}
            ] + entries
        bundles.append(bundle)
    return bundles


def _entry(url: str, resource: dict[str, Any], bundle_type: str, key: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"fullUrl": url, "resource": resource}
    if bundle_type in ("transaction", "batch"):
        kind = resource["resourceType"]
        if key:
            entry["request"] = {"method": "PUT", "url": f"{kind}?identifier={key}"}
        else:
            entry["request"] = {"method": "POST", "url": kind}
    return entry
