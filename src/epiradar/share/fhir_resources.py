"""Stored visits and daily counts as FHIR R4 resources (https://hl7.org/fhir/R4/), as plain
JSON dicts: Patient (pseudonymised), Encounter, Condition, Observation, MeasureReport, and the
searchset Bundle, OperationOutcome and CapabilityStatement of the read API.

Pure: rows in, dicts out; no SQL, no web. The codes and systems are those of the FHIR ingest
(``ingest/fhir.py``, ``sim/fhir.py``), so a Bundle of these resources is read back by
``ingest.fhir.read_bundle`` as the same visits (docs/fhir-api.md says what is left out and why).
Resources are built as dicts and serialised with ``json``: the ``fhir.resources`` models cost
over 50 µs a resource and are used by the tests only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from epiradar.model import SYNDROMES, Syndrome

# the systems of the FHIR ingest (a test checks they are the same)
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
LOCAL_SYSTEM = "urn:epiradar:code"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
VISIT_SYSTEM = "urn:epiradar:visit-id"
FACILITY_SYSTEM = "urn:epiradar:facility-id"
ICD10 = "http://hl7.org/fhir/sid/icd-10"

SYNDROME_SYSTEM = "urn:epiradar:syndrome"
"""Our CodeSystem of syndromes (:func:`syndrome_code_system`); ``all`` is every visit."""
REGION_SYSTEM = "urn:epiradar:region-id"
AGE_BAND_URL = "urn:epiradar:fhir:StructureDefinition:age-band"
"""Extension on Encounter: the patient's age band at the visit, ``valueRange`` in years."""
MEASURE = "urn:epiradar:fhir:Measure:syndromic-visits"
"""The measure of our MeasureReports: visits per day, residence region and syndrome."""
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MEASURE_POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"
SECURITY = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
ALL = "all"

CLASSES = {"E": ("EMER", "emergency"), "O": ("AMB", "ambulatory"), "I": ("IMP", "inpatient")}
GENDERS = {"M": "male", "F": "female", "U": "unknown"}
TYPES = ("Patient", "Encounter", "Condition", "Observation")
"""The person-level resource types served (and exported)."""

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_KEY = re.compile(r"[A-Za-z0-9\-.]{1,60}")
_PSEUDED = {"system": SECURITY, "code": "PSEUDED", "display": "pseudonymized"}

Row = Mapping[str, Any]


# --------------------------------------------------------------------------------------------
# ids


def is_id(text: str) -> bool:
    """Whether ``text`` is a FHIR id (https://hl7.org/fhir/R4/datatypes.html#id)."""
    return bool(_ID.fullmatch(text))


def patient_id(patient_key: str | None, visit_pk: int) -> str:
    """The Patient id of a visit's patient: ``pt-<key>`` from the stored key (an HMAC pseudonym,
    never a raw id), ``pth-<sha256>`` for a key that is not id-safe, ``pv-<visit>`` for a visit
    without a patient key (a patient known by that visit alone)."""
    if not patient_key:
        return f"pv-{visit_pk}"
    if _KEY.fullmatch(patient_key):
        return f"pt-{patient_key}"
    return "pth-" + hashlib.sha256(patient_key.encode()).hexdigest()[:40]


def patient_group_key(patient_key: str | None, visit_pk: int) -> str:
    """The key visits of one Patient share (``k:<key>`` or ``v:<visit pk>``)."""
    return f"k:{patient_key}" if patient_key else f"v:{visit_pk}"


def encounter_id(visit_pk: int) -> str:
    return f"v{visit_pk}"


def parse_resource_id(resource_type: str, resource_id: str) -> tuple[int, str] | None:
    """``(visit pk, part)`` of an Encounter, Condition or Observation id, else ``None``."""
    m = re.fullmatch(r"v(\d{1,18})(?:-(.+))?", resource_id)
    if m is None:
        return None
    part = m.group(2) or ""
    if (resource_type == "Encounter") != (part == ""):
        return None
    return int(m.group(1)), part


def _syndrome_slug(code: str) -> str:
    return code.replace("_", "-")


# --------------------------------------------------------------------------------------------
# small parts


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def syndrome_coding(code: str) -> dict[str, Any]:
    display = "All visits" if code == ALL else Syndrome(code).label
    return _coding(SYNDROME_SYSTEM, code, display)


def syndromes_of(mask: int) -> list[Syndrome]:
    return [s for s in SYNDROMES if mask & s.bit]


def codes_of(row: Row) -> list[str]:
    """The visit's ICD-10 codes (stored as a JSON list)."""
    value = row.get("diagnosis_codes")
    if not value:
        return []
    codes = json.loads(value) if isinstance(value, str) else list(value)
    return [str(c) for c in codes if c]


def age_band(age: float | None, width: int) -> tuple[int, int | None] | None:
    """``(low, high)`` whole years of the band holding ``age`` (``high`` None from 90 up)."""
    if age is None or age != age or age < 0:
        return None
    if age >= 90:
        return (90, None)
    low = int(age // width) * width
    return (low, min(low + width - 1, 89))


def _years(value: int) -> dict[str, Any]:
    return {"value": value, "unit": "a", "system": UCUM, "code": "a"}


class Shaper:
    """Makes resources of stored rows with the server's settings: ``base`` (the absolute URL
    of ``/fhir``, for ``fullUrl``), ``utc_offset`` (appended to local wall times) and
    ``age_band_years``; ``region_names`` and ``facility_names`` add displays."""

    def __init__(
        self,
        *,
        utc_offset: str = "+08:00",
        age_band_years: int = 5,
        facility_names: Mapping[str, str] | None = None,
    ) -> None:
        self.offset = utc_offset
        self.width = age_band_years
        self.facility_names = dict(facility_names or {})

    def time(self, wall: str | None) -> str | None:
        """A stored wall time (``YYYY-MM-DDTHH:MM:SS``) as a FHIR dateTime with the offset."""
        if not wall:
            return None
        if len(wall) == 10:
            return wall
        return wall[:19] + ("Z" if self.offset in ("Z", "+00:00") else self.offset)

    # person-level

    def patient(self, row: Row) -> dict[str, Any]:
        """A pseudonymised Patient: id from the patient key, gender and the address district
        (the residence region) only; no name, identifier, birth date or coordinates."""
        out: dict[str, Any] = {
            "resourceType": "Patient",
            "id": patient_id(row.get("patient_key"), int(row["id"])),
            "meta": {"security": [_PSEUDED]},
        }
        if row.get("sex") in GENDERS:
            out["gender"] = GENDERS[row["sex"]]
        if row.get("residence_region"):
            out["address"] = [{"use": "home", "district": row["residence_region"]}]
        return out

    def encounter(self, row: Row) -> dict[str, Any]:
        pk = int(row["id"])
        klass_code = row.get("patient_class") or ""
        if klass_code in CLASSES:
            code, display = CLASSES[klass_code]
            klass = _coding(ACT_CODE, code, display)
        elif klass_code:
            klass = {"code": klass_code}
        else:
            klass = _coding(NULL_FLAVOR, "UNK", "unknown")
        period: dict[str, Any] = {"start": self.time(row["visit_time"])}
        if row.get("discharge_time"):
            period["end"] = self.time(row["discharge_time"])
        facility = row["facility_id"]
        provider: dict[str, Any] = {"identifier": {"system": FACILITY_SYSTEM, "value": facility}}
        if facility in self.facility_names:
            provider["display"] = self.facility_names[facility]
        out: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": encounter_id(pk),
            "meta": {"security": [_PSEUDED]},
        }
        band = age_band(row.get("age"), self.width)
        if band is not None:
            low, high = band
            value: dict[str, Any] = {"low": _years(low)}
            if high is not None:
                value["high"] = _years(high)
            out["extension"] = [{"url": AGE_BAND_URL, "valueRange": value}]
        out |= {
            "identifier": [{"system": VISIT_SYSTEM, "value": row["visit_id"]}],
            "status": "finished" if row.get("discharge_time") else "in-progress",
            "class": klass,
            "subject": {"reference": "Patient/" + patient_id(row.get("patient_key"), pk)},
            "period": period,
            "serviceProvider": provider,
        }
        if row.get("chief_complaint"):
            out["reasonCode"] = [{"text": row["chief_complaint"]}]
        if row.get("disposition"):
            out["hospitalization"] = {"dischargeDisposition": {"text": row["disposition"]}}
        return out

    def _refs(self, row: Row) -> dict[str, Any]:
        pk = int(row["id"])
        return {
            "subject": {"reference": "Patient/" + patient_id(row.get("patient_key"), pk)},
            "encounter": {"reference": "Encounter/" + encounter_id(pk)},
        }

    def conditions(self, row: Row) -> list[dict[str, Any]]:
        """One Condition per ICD-10 code (``v<pk>-dx-<n>``), then one per syndrome of our
        CodeSystem (``v<pk>-syn-<code>``, verification ``provisional``: a classifier's
        reading of the complaint), each with the onset date."""
        pk = int(row["id"])
        onset = row.get("onset_date")
        recorded = row["visit_time"][:10]
        out = []
        for n, code in enumerate(codes_of(row)):
            cond: dict[str, Any] = {
                "resourceType": "Condition",
                "id": f"v{pk}-dx-{n}",
                "category": [{"coding": [_coding(CONDITION_CATEGORY, "encounter-diagnosis")]}],
                "code": {"coding": [_coding(ICD10, code)]},
                **self._refs(row),
                "recordedDate": recorded,
            }
            if onset:
                cond["onsetDateTime"] = onset
            out.append(cond)
        for syndrome in syndromes_of(int(row.get("syndrome_mask") or 0)):
            cond = {
                "resourceType": "Condition",
                "id": f"v{pk}-syn-{_syndrome_slug(syndrome.value)}",
                "verificationStatus": {
                    "coding": [
                        _coding(
                            "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                            "provisional",
                        )
                    ]
                },
                "code": {"coding": [syndrome_coding(syndrome.value)]},
                **self._refs(row),
                "recordedDate": recorded,
            }
            if onset:
                cond["onsetDateTime"] = onset
            out.append(cond)
        return out

    def observations(self, row: Row) -> list[dict[str, Any]]:
        """Body temperature (LOINC 8310-5, UCUM ``Cel``; ``v<pk>-temp``), the lab result
        (local code ``LAB``; ``v<pk>-lab``), and the onset date (LOINC 11368-8; ``v<pk>-onset``)
        when no Condition carries it."""
        pk = int(row["id"])
        when = self.time(row["visit_time"])
        out = []

        def observation(part: str, code: dict[str, Any], **value: Any) -> dict[str, Any]:
            return {
                "resourceType": "Observation",
                "id": f"v{pk}-{part}",
                "status": "final",
                "code": code,
                **self._refs(row),
                "effectiveDateTime": when,
                **value,
            }

        temperature = row.get("temperature_c")
        if temperature is not None and temperature == temperature:
            obs = observation(
                "temp",
                {"coding": [_coding(LOINC, "8310-5", "Body temperature")]},
                valueQuantity={
                    "value": _number(temperature),
                    "unit": "Cel",
                    "system": UCUM,
                    "code": "Cel",
                },
            )
            obs["category"] = [{"coding": [_coding(OBSERVATION_CATEGORY, "vital-signs")]}]
            out.append(obs)
        if row.get("lab_result"):
            out.append(
                observation(
                    "lab",
                    {"coding": [_coding(LOCAL_SYSTEM, "LAB", "Lab result")]},
                    valueString=row["lab_result"],
                )
            )
        if row.get("onset_date") and not has_conditions(row):
            out.append(
                observation(
                    "onset",
                    {
                        "coding": [
                            _coding(LOINC, "11368-8", "Illness or injury onset date and time")
                        ]
                    },
                    valueDateTime=row["onset_date"],
                )
            )
        return out

    def resources(self, resource_type: str, row: Row) -> list[dict[str, Any]]:
        """The resources of ``resource_type`` one visit row gives, in id order."""
        if resource_type == "Encounter":
            return [self.encounter(row)]
        if resource_type == "Condition":
            return self.conditions(row)
        if resource_type == "Observation":
            return self.observations(row)
        if resource_type == "Patient":
            return [self.patient(row)]
        raise ValueError(f"resource type {resource_type!r} is not served")


def has_conditions(row: Row) -> bool:
    return bool(int(row.get("syndrome_mask") or 0)) or bool(codes_of(row))


def count_resources(resource_type: str, row: Row) -> int:
    """How many resources of ``resource_type`` a visit row gives (without making them)."""
    if resource_type in ("Encounter", "Patient"):
        return 1
    if resource_type == "Condition":
        return len(codes_of(row)) + len(syndromes_of(int(row.get("syndrome_mask") or 0)))
    temperature = row.get("temperature_c")
    n = int(temperature is not None and temperature == temperature)
    n += bool(row.get("lab_result"))
    n += bool(row.get("onset_date") and not has_conditions(row))
    return n


def _number(value: float) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else value


# --------------------------------------------------------------------------------------------
# aggregates


def measure_report_id(date: str, end: str | None, region: str, syndrome: str) -> str:
    """``d.<date>.<region>.<syndrome>`` (one day) or ``p.<start>.<end>.<region>.<syndrome>``
    (a period); the unknown region is ``unknown``."""
    region_part = region or "unknown"
    tail = f"{region_part}.{_syndrome_slug(syndrome)}"
    return f"d.{date}.{tail}" if end is None else f"p.{date}.{end}.{tail}"


def parse_measure_report_id(resource_id: str) -> tuple[str, str | None, str, str] | None:
    """``(start, end or None, region, syndrome)`` of :func:`measure_report_id`, else None."""
    date = r"\d{4}-\d{2}-\d{2}"
    m = re.fullmatch(
        rf"(?:d\.({date})|p\.({date})\.({date}))\.([A-Za-z0-9\-.]+)\.([a-z\-]+)", resource_id
    )
    if m is None:
        return None
    start = m.group(1) or m.group(2)
    end = m.group(3)
    region = "" if m.group(4) == "unknown" else m.group(4)
    syndrome = m.group(5).replace("-", "_")
    if syndrome != ALL and syndrome not in {s.value for s in SYNDROMES}:
        return None
    return start, end, region, syndrome


def measure_report(
    start: str,
    end: str | None,
    region: str,
    syndrome: str,
    count: int,
    *,
    region_name: str | None = None,
    generated: str | None = None,
) -> dict[str, Any]:
    """A summary MeasureReport (https://hl7.org/fhir/R4/measurereport.html): the visits of
    residents of ``region`` with ``syndrome`` (``all``: every visit) from ``start`` to ``end``
    (one day when ``end`` is None), as the initial population of one group."""
    subject: dict[str, Any] = {"type": "Location"}
    if region:
        subject["identifier"] = {"system": REGION_SYSTEM, "value": region}
        if region_name:
            subject["display"] = region_name
    else:
        subject["display"] = "residence region unknown"
    out: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "id": measure_report_id(start, end, region, syndrome),
        "status": "complete",
        "type": "summary",
        "measure": MEASURE,
        "subject": subject,
    }
    if generated:
        out["date"] = generated
    out |= {
        "period": {"start": start, "end": end or start},
        "group": [
            {
                "code": {"coding": [syndrome_coding(syndrome)]},
                "population": [
                    {
                        "code": {"coding": [_coding(MEASURE_POPULATION, "initial-population")]},
                        "count": int(count),
                    }
                ],
            }
        ],
    }
    return out


# --------------------------------------------------------------------------------------------
# Bundles, outcomes, the capability statement


def searchset(
    entries: Iterable[tuple[str, dict[str, Any]]],
    *,
    total: int | None,
    self_url: str,
    next_url: str | None = None,
) -> dict[str, Any]:
    """A searchset Bundle of ``(fullUrl, resource)`` entries, with self and next links."""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    out: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        out["total"] = total
    out["link"] = links
    out["entry"] = [
        {"fullUrl": url, "resource": resource, "search": {"mode": "match"}}
        for url, resource in entries
    ]
    if not out["entry"]:
        del out["entry"]
    return out


def collection(entries: Iterable[dict[str, Any]], *, base: str) -> dict[str, Any]:
    """A collection Bundle of resources (what ``ingest.fhir.read_bundle`` takes)."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in entries
        ],
    }


def operation_outcome(
    diagnostics: str,
    *,
    code: str = "invalid",
    severity: str = "error",
    expression: Sequence[str] = (),
) -> dict[str, Any]:
    """An OperationOutcome (https://hl7.org/fhir/R4/operationoutcome.html) of one issue."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = list(expression)
    return {"resourceType": "OperationOutcome", "issue": [issue]}


SEARCH_PARAMS: dict[str, list[tuple[str, str, str]]] = {
    "Patient": [
        ("date", "date", "a visit of the patient on these dates (eq ge gt le lt)"),
        ("region", "token", "residence region id (the address district)"),
        ("syndrome", "token", "a visit with this syndrome (our CodeSystem)"),
        ("facility", "token", "a visit at this facility"),
    ],
    "Encounter": [
        ("date", "date", "visit time (eq ge gt le lt; repeat for a range)"),
        ("region", "token", "residence region id of the patient"),
        ("syndrome", "token", "syndrome code (our CodeSystem)"),
        ("facility", "token", "facility id"),
        ("patient", "reference", "Patient/<id>"),
    ],
    "Condition": [
        ("date", "date", "visit time"),
        ("region", "token", "residence region id"),
        ("syndrome", "token", "conditions of visits with this syndrome"),
        ("facility", "token", "facility id"),
        ("patient", "reference", "Patient/<id>"),
    ],
    "Observation": [
        ("date", "date", "visit time"),
        ("region", "token", "residence region id"),
        ("syndrome", "token", "observations of visits with this syndrome"),
        ("facility", "token", "facility id"),
        ("patient", "reference", "Patient/<id>"),
    ],
    "MeasureReport": [
        ("date", "date", "the day counted (eq ge gt le lt)"),
        ("region", "token", "residence region id"),
        ("syndrome", "token", "syndrome code, or 'all' for every visit"),
        ("period", "token", "'day' (default): one report a day; 'total': one for the dates"),
    ],
}
"""Search parameters of each type besides ``_count`` (and the paging cursor)."""


def capability_statement(*, base: str, version: str, date: str) -> dict[str, Any]:
    """The server's CapabilityStatement (https://hl7.org/fhir/R4/capabilitystatement.html):
    read and search of each type with its parameters, and Bulk Data ``$export``."""
    export_op = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
    resources = []
    for rtype, params in SEARCH_PARAMS.items():
        entry: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": name, "type": kind, "documentation": doc} for name, kind, doc in params
            ]
            + [{"name": "_count", "type": "number", "documentation": "page size (capped)"}],
        }
        if rtype == "Patient":
            entry["operation"] = [
                {
                    "name": "export",
                    "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/"
                    "patient-export",
                }
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "epiradar", "version": version},
        "implementation": {"description": "epiradar FHIR R4 read API", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Bearer API tokens or a staff session; person-level "
                    "resources are filtered to the caller's districts or facility."
                },
                "resource": resources,
                "operation": [{"name": "export", "definition": export_op}],
            }
        ],
    }


def syndrome_code_system() -> dict[str, Any]:
    """Our CodeSystem of syndromes (``SYNDROME_SYSTEM``), ``all`` included."""
    concepts = [{"code": s.value, "display": s.label} for s in SYNDROMES]
    concepts.append({"code": ALL, "display": "All visits"})
    return {
        "resourceType": "CodeSystem",
        "url": SYNDROME_SYSTEM,
        "name": "EpiradarSyndromes",
        "status": "active",
        "content": "complete",
        "caseSensitive": True,
        "concept": concepts,
    }


def ndjson_line(resource: dict[str, Any]) -> str:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n"


def dumps(resource: dict[str, Any]) -> bytes:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()


Make = Callable[[Row], list[dict[str, Any]]]
