"""FHIR R4 adapter: spec examples validate and map, bad entries are issues naming the element
as FHIRPath, simulated bundles read back to the visits they came from, and the shape cache
gives the fhir.resources verdict."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import BundleEntry
from fhir.resources.R4B.operationoutcome import OperationOutcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epiradar.ingest import fhir, rules
from epiradar.ingest.fhir import (
    LOCAL_SYSTEM,
    TAKEN,
    VALIDATOR,
    ShapeValidator,
    _parse,
    fhirpath,
    operation_outcome,
    read_bundle,
    wall_time,
)
from epiradar.sim.fhir import fhir_bundles

DATA = Path(__file__).parent / "data" / "fhir"
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def example(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def bundle(*resources: dict[str, Any], kind: str = "collection", **extra: Any) -> dict[str, Any]:
    """A Bundle of ``resources``; each entry's fullUrl is ``<Type>/<id>`` when it has an id."""
    entries = []
    for res in resources:
        entry: dict[str, Any] = {"resource": res}
        if res.get("id"):
            entry["fullUrl"] = f"http://example.org/fhir/{res['resourceType']}/{res['id']}"
        if kind in ("transaction", "batch"):
            entry["request"] = {"method": "POST", "url": res["resourceType"]}
        entries.append(entry)
    return {"resourceType": "Bundle", "type": kind, **extra, "entry": entries}


def errors(result) -> list[tuple[str, str]]:
    return [(i.expression, i.code) for i in result.issues if i.severity in ("error", "fatal")]


# -- a hand-made visit with every mapped element ---------------------------------------------


def encounter(**changes: Any) -> dict[str, Any]:
    res = {
        "resourceType": "Encounter",
        "id": "e1",
        "identifier": [{"system": "urn:h01:visit", "value": "V-1"}],
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
        "subject": {"reference": "urn:uuid:7d3f2c6e-1b7a-4c0e-9d31-5a2b8c4e6f01"},
        "period": {"start": "2024-03-01T09:30:15.250+08:00", "end": "2024-03-01T11:00:00+08:00"},
        "reasonCode": [{"text": "fever and cough"}],
        "hospitalization": {
            "dischargeDisposition": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/discharge-disposition",
                        "code": "home",
                    }
                ]
            }
        },
        "serviceProvider": {"reference": "Organization/h01"},
    }
    res.update(changes)
    return res


PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:h01:mrn", "value": "MRN-77"}],
    "gender": "female",
    "birthDate": "1990-03-02",
    "address": [
        {
            "district": "R07",
            "postalCode": "200001",
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/geolocation",
                    "extension": [
                        {"url": "latitude", "valueDecimal": 31.2304},
                        {"url": "longitude", "valueDecimal": 121.4737},
                    ],
                }
            ],
        }
    ],
}
ORGANIZATION = {
    "resourceType": "Organization",
    "id": "h01",
    "identifier": [{"system": "urn:epiradar:facility-id", "value": "H01"}],
}


def observation(code: dict[str, Any], **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": code,
        "encounter": {"reference": "Encounter/e1"},
        **value,
    }


def loinc(code: str) -> dict[str, Any]:
    return {"coding": [{"system": "http://loinc.org", "code": code}]}


def local(code: str) -> dict[str, Any]:
    return {"coding": [{"system": LOCAL_SYSTEM, "code": code}]}


def condition(code: str, system: str = "http://hl7.org/fhir/sid/icd-10", **more: Any):
    return {
        "resourceType": "Condition",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "urn:uuid:7d3f2c6e-1b7a-4c0e-9d31-5a2b8c4e6f01"},
        "encounter": {"reference": "http://example.org/fhir/Encounter/e1"},
        **more,
    }


def full_visit() -> dict[str, Any]:
    by_diagnosis = condition(
        "R50.9", system="http://hl7.org/fhir/sid/icd-10-cm", id="c2", onsetDateTime="2024-02-29"
    )
    del by_diagnosis["encounter"]  # linked by Encounter.diagnosis instead
    doc = bundle(
        encounter(diagnosis=[{"condition": {"reference": "Condition/c2"}, "rank": 1}]),
        ORGANIZATION,
        condition("J10.1", onsetDateTime="2024-02-28T20:00:00+08:00"),
        by_diagnosis,
        condition("386661006", system="http://snomed.info/sct"),
        observation(
            loinc("8310-5"), valueQuantity={"value": 101.3, "unit": "degF", "code": "[degF]"}
        ),
        observation(local("EXPOSURE"), valueString="P0042@2024-02-27"),
        observation(local("EXPOSURE"), valueString="P0099"),
        observation(local("CONTACT"), valueString="MRN-12"),
        observation(local("LAB"), valueCodeableConcept={"text": "Influenza A PCR positive"}),
        observation(loinc("8661-1"), valueString="发热伴咳嗽2天"),
        kind="transaction",
        timestamp="2024-03-01T11:05:00+08:00",
    )
    doc["entry"].insert(
        1,
        {
            "fullUrl": "urn:uuid:7d3f2c6e-1b7a-4c0e-9d31-5a2b8c4e6f01",
            "resource": PATIENT,
            "request": {"method": "POST", "url": "Patient"},
        },
    )
    return copy.deepcopy(doc)


def test_every_mapped_element() -> None:
    result = read_bundle(json.dumps(full_visit(), ensure_ascii=False), facility_id="H01")
    assert result.issues == []
    (visit,) = result.visits
    assert visit.fields == {
        "visit_id": "V-1",
        "facility_id": "H01",
        "visit_time": "2024-03-01T09:30:15",
        "discharge_time": "2024-03-01T11:00:00",
        "patient_class": "E",
        "disposition": "home",
        "temperature_c": "38.5",
        "exposures": "P0042@2024-02-27;P0099",
        "contacts": "MRN-12",
        "lab_result": "Influenza A PCR positive",
        "chief_complaint": "发热伴咳嗽2天",  # LOINC 8661-1 over Encounter.reasonCode
        "diagnosis_codes": "J10.1;R50.9",  # SNOMED CT is not ICD-10
        "onset_date": "2024-02-28",  # the earliest Condition onset
        "patient_id": "MRN-77",
        "sex": "F",
        "age": "33",  # birthday on 2 March: 33 on 1 March 2024
        "residence_region": "R07",  # district before postalCode
        "residence_lat": "31.2304",
        "residence_lon": "121.4737",
    }
    assert visit.event == "encounter"
    assert visit.facility_id == "H01"
    assert visit.message_time == "2024-03-01T11:05:00+08:00"
    assert visit.origins["visit_time"] == "Bundle.entry[0].resource.period.start"
    assert visit.origins["facility_id"] == "Bundle.entry[2].resource.identifier[0].value"
    assert visit.origins["age"] == "Bundle.entry[1].resource.birthDate"
    assert visit.origins["temperature_c"] == "Bundle.entry[6].resource.valueQuantity.value"
    assert visit.origins["diagnosis_codes"] == "Bundle.entry[3].resource.code.coding[0].code"
    assert visit.origins["chief_complaint"] == "Bundle.entry[11].resource.valueString"
    assert visit.origins["residence_lon"] == (
        "Bundle.entry[1].resource.address[0].extension[0].extension[1].valueDecimal"
    )
    assert visit.control_id.startswith("sha256:")


@pytest.mark.parametrize(
    ("changes", "column", "expected"),
    [
        ({"class": {"code": "AMB"}}, "patient_class", "O"),
        ({"class": {"code": "IMP"}}, "patient_class", "I"),
        ({"class": {"code": "HH"}}, "patient_class", "HH"),
        (
            {
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
                    "code": "UNK",
                }
            },
            "patient_class",
            None,
        ),
        (
            {"hospitalization": {"dischargeDisposition": {"text": "transferred"}}},
            "disposition",
            "transferred",
        ),
        ({"period": {"start": "2024-03-01"}}, "visit_time", "2024-03-01T00:00:00"),
        ({"period": {"start": "2024-03-01T23:59:59Z"}}, "visit_time", "2024-03-01T23:59:59"),
        ({"period": {"start": "2024-03"}}, "visit_time", "2024-03"),  # for the value checks
        (
            {
                "reasonCode": [
                    {"coding": [{"code": "x", "display": "sore throat"}]},
                    {"text": "rash"},
                ]
            },
            "chief_complaint",
            "sore throat; rash",
        ),
        ({"serviceProvider": {"identifier": {"value": "H01"}}}, "facility_id", "H01"),
    ],
)
def test_encounter_elements(changes: dict[str, Any], column: str, expected: str | None) -> None:
    (visit,) = read_bundle(bundle(encounter(**changes), ORGANIZATION)).visits
    assert visit.fields.get(column) == expected


@pytest.mark.parametrize(
    ("resource", "column", "expected"),
    [
        (
            observation(loinc("8310-5"), valueQuantity={"value": 39, "code": "Cel"}),
            "temperature_c",
            "39",
        ),
        (
            observation(loinc("11289-6"), valueQuantity={"value": 37.25, "unit": "C"}),
            "temperature_c",
            "37.25",
        ),
        (observation(loinc("21612-7"), valueQuantity={"value": 6, "code": "mo"}), "age", "0.5"),
        (observation(loinc("21612-7"), valueQuantity={"value": 3, "code": "wk"}), "age", "0.06"),
        (observation(loinc("21612-7"), valueQuantity={"value": 41, "code": "a"}), "age", "41"),
        (
            observation(loinc("11368-8"), valueDateTime="2024-02-25T08:00:00+08:00"),
            "onset_date",
            "2024-02-25",
        ),
        (
            observation(
                loinc("8661-1"), valueCodeableConcept={"coding": [{"display": "vomiting"}]}
            ),
            "chief_complaint",
            "vomiting",
        ),
        (
            observation(
                loinc("8310-5"),
                status="entered-in-error",
                valueQuantity={"value": 39, "code": "Cel"},
            ),
            "temperature_c",
            None,
        ),
        (
            condition("A09", system=None, verificationStatus={"coding": [{"code": "refuted"}]}),
            "diagnosis_codes",
            None,
        ),
        (condition("a08.4", system="http://example.org/local"), "diagnosis_codes", "a08.4"),
    ],
)
def test_observation_and_condition_elements(
    resource: dict[str, Any], column: str, expected: str | None
) -> None:
    if resource["resourceType"] == "Condition" and resource["code"]["coding"][0]["system"] is None:
        del resource["code"]["coding"][0]["system"]
    result = read_bundle(bundle(encounter(), ORGANIZATION, resource))
    assert errors(result) == []
    (visit,) = result.visits
    assert visit.fields.get(column) == expected


@pytest.mark.parametrize(
    ("birth", "age"),
    [("1990-03-01", "34"), ("1990-03-02", "33"), ("1990", "33"), ("1990-02", "34")],
)
def test_age_from_birth_date(birth: str, age: str) -> None:
    patient = PATIENT | {"id": "p1", "birthDate": birth}
    enc = encounter(subject={"reference": "Patient/p1"})
    (visit,) = read_bundle(bundle(enc, patient, ORGANIZATION)).visits
    assert visit.fields["age"] == age


def test_postal_code_when_no_district_and_other_genders() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "gender": "other",
        "address": [{"postalCode": "1055RW"}],
    }
    enc = encounter(subject={"reference": "Patient/p1"})
    (visit,) = read_bundle(bundle(enc, patient, ORGANIZATION)).visits
    assert (visit.fields["residence_region"], visit.fields["sex"]) == ("1055RW", "U")


def test_unknown_temperature_unit_is_a_warning() -> None:
    obs = observation(loinc("8310-5"), valueQuantity={"value": 310, "code": "K"})
    result = read_bundle(bundle(encounter(), ORGANIZATION, obs))
    assert "temperature_c" not in result.visits[0].fields
    (issue,) = result.issues
    assert (issue.severity, issue.code, issue.expression) == (
        "warning",
        "value",
        "Bundle.entry[2].resource.valueQuantity",
    )


# -- real examples of the R4 specification ---------------------------------------------------

SPEC = sorted(p.stem for p in DATA.glob("*.json") if not p.stem.endswith("-r5"))


@pytest.mark.parametrize("name", SPEC)
def test_spec_examples_are_valid_r4(name: str) -> None:
    res = example(name)
    get_fhir_model_class(res["resourceType"]).model_validate(res)
    assert VALIDATOR.errors(BundleEntry, {"resource": res}) == []


def test_spec_transaction_bundle() -> None:
    result = read_bundle((DATA / "bundle-transaction.json").read_bytes())
    assert result.visits == [] and result.bundle_type == "transaction"
    assert [(i.index, i.severity, i.code) for i in result.issues] == [
        (3, "warning", "not-supported"),  # DELETE
        (4, "warning", "not-supported"),
        (5, "information", "informational"),  # Parameters: not read
        (6, "information", "not-supported"),  # GET
        (7, "information", "not-supported"),
    ]


def test_spec_encounters_need_an_identifier_and_a_start() -> None:
    result = read_bundle(
        bundle(
            example("encounter-example-emerg"),
            example("encounter-example-f201-20130404"),
            example("encounter-example-f002-lung"),
            example("patient-example"),
        ),
        facility_id="H01",
    )
    assert result.visits == []
    assert errors(result) == [
        ("Bundle.entry[0].resource.identifier", "required"),
        ("Bundle.entry[1].resource.period.start", "required"),
        ("Bundle.entry[2].resource.period.start", "required"),
    ]
    again = read_bundle(result.issues[1].raw, facility_id="H01")  # a refused visit re-reads
    assert errors(again) == [("Bundle.entry[0].resource.period.start", "required")]


def test_spec_encounter_f201_with_its_resources() -> None:
    enc = example("encounter-example-f201-20130404")
    enc["period"] = {"start": "2013-04-04T10:00:00+01:00"}  # the example has no period
    temperature = example("observation-example-body-temperature")
    temperature["encounter"] = {"reference": "Encounter/f201"}
    doc = bundle(
        enc,
        example("patient-example-f201-roel"),
        example("condition-example-f201-fever"),
        example("organization-example-f201-aumc"),
        temperature,
    )
    result = read_bundle(doc)
    assert result.issues == []
    (visit,) = result.visits
    assert visit.fields == {
        "visit_id": "Encounter_Roel_20130404",
        "facility_id": "Artis University Medical Center",
        "visit_time": "2013-04-04T10:00:00",
        "patient_class": "O",
        "temperature_c": "36.5",
        "chief_complaint": "The patient had fever peaks over the last couple of days. "
        "He is worried about these peaks.",
        "onset_date": "2013-04-02",
        "patient_id": "123456789",
        "sex": "M",
        "age": "53",
        "residence_region": "1055RW",
    }
    assert visit.control_id.startswith("sha256:")
    assert read_bundle(doc, facility_id="H01").errors[0].code == "forbidden"


def test_spec_patient_and_home_encounter() -> None:
    enc = example("encounter-example-home")
    enc["identifier"] = [{"value": "home-1"}]
    (visit,) = read_bundle(bundle(enc, example("patient-example")), facility_id="H01").visits
    assert visit.fields["visit_time"] == "2015-01-17T16:00:00"  # wall time, +10:00 dropped
    assert visit.fields["discharge_time"] == "2015-01-17T16:30:00"
    assert visit.fields["patient_class"] == "HH"
    assert (visit.fields["age"], visit.fields["residence_region"]) == ("40", "Rainbow")
    assert visit.fields["facility_id"] == "H01"  # no serviceProvider: the sender's


def test_spec_discharge_disposition() -> None:
    enc = example("encounter-example-f002-lung")
    enc["period"] = {"start": "2013-03-11"}
    (visit,) = read_bundle(bundle(enc), facility_id="H01").visits
    assert visit.fields["disposition"] == "306689006"
    assert visit.fields["chief_complaint"] == "Partial lobectomy of lung"


# -- issues ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda d: d["entry"][0]["resource"].pop("identifier"),
            [("Bundle.entry[0].resource.identifier", "required")],
        ),
        (
            lambda d: d["entry"][0]["resource"]["period"].update(start="2024-13-01T09:00:00+08:00"),
            [
                ("Bundle.entry[0].resource.period.start", "value"),
                ("Bundle.entry[0].resource", "invalid"),
            ],
        ),
        (
            lambda d: d["entry"][1]["resource"].update(gender="F"),
            [("Bundle.entry[0].resource", "invalid"), ("Bundle.entry[1].resource.gender", "value")],
        ),
        (
            lambda d: d["entry"][0]["resource"].update({"class": "EMER"}),
            [
                ("Bundle.entry[0].resource.class", "structure"),
                ("Bundle.entry[0].resource", "invalid"),
            ],
        ),
        (
            lambda d: d["entry"][0]["resource"].pop("status"),
            [
                ("Bundle.entry[0].resource.status", "required"),
                ("Bundle.entry[0].resource", "invalid"),
            ],
        ),
        (
            lambda d: d["entry"][6]["resource"].update(valueQuantity={"value": "39"}),
            [
                ("Bundle.entry[0].resource", "invalid"),
                ("Bundle.entry[6].resource.valueQuantity.value", "structure"),
            ],
        ),
        (
            lambda d: d["entry"][3]["resource"]["code"]["coding"][0].update(colour="red"),
            [
                ("Bundle.entry[0].resource", "invalid"),
                ("Bundle.entry[3].resource.code.coding[0].colour", "structure"),
            ],
        ),
        (
            lambda d: d["entry"][2].update(resource={"resourceType": "Hospital"}),
            [("Bundle.entry[2].resource", "structure")],
        ),
        (
            lambda d: d["entry"][2].update(request={"method": "FETCH", "url": "x"}),
            [("Bundle.entry[2].request.method", "value")],
        ),
    ],
)
def test_bad_entries_name_the_element(damage, expected: list[tuple[str, str]]) -> None:
    doc = full_visit()
    damage(doc)
    result = read_bundle(doc, facility_id="H01")
    assert errors(result) == expected
    assert result.visits == [] or expected[0][0].startswith("Bundle.entry[2]")
    assert all(i.raw for i in result.errors)


def test_one_bad_visit_leaves_the_others() -> None:
    docs = fhir_bundles(sim_rows().iloc[:3], per_bundle=3, bundle_type="batch")
    doc = docs[0]
    second = [
        i for i, e in enumerate(doc["entry"]) if e["resource"]["resourceType"] == "Encounter"
    ][1]
    doc["entry"][second]["resource"]["period"]["start"] = "yesterday"
    result = read_bundle(doc)
    assert [v.fields["visit_id"] for v in result.visits] == ["V00000001", "V00000003"]
    where = f"Bundle.entry[{second}].resource"
    assert errors(result) == [(where + ".period.start", "value"), (where, "invalid")]
    refused = read_bundle(result.errors[1].raw)  # the refused visit, as sent, reads the same
    assert [i.code for i in refused.errors] == ["value", "invalid"]
    assert refused.visits == []


def test_facility_is_the_senders_own() -> None:
    assert errors(read_bundle(full_visit(), facility_id="H02")) == [
        ("Bundle.entry[2].resource.identifier[0].value", "forbidden")
    ]
    named = encounter(serviceProvider={"identifier": {"value": "H09"}})
    assert errors(read_bundle(bundle(named), facility_id="H01")) == [
        ("Bundle.entry[0].resource.serviceProvider.identifier.value", "forbidden")
    ]
    nameless = encounter(serviceProvider={"reference": "Organization/elsewhere"})
    assert read_bundle(bundle(nameless), facility_id="H01").visits[0].facility_id == "H01"
    assert errors(read_bundle(bundle(nameless))) == [
        ("Bundle.entry[0].resource.serviceProvider", "required")
    ]


def test_r5_content_is_not_r4() -> None:
    result = read_bundle(bundle(example("encounter-example-r5")), facility_id="H01")
    assert result.visits == []
    assert errors(result)[:2] == [
        ("Bundle.entry[0].resource.class", "structure"),
        ("Bundle.entry[0].resource.subjectStatus", "structure"),
    ]
    r5_only = bundle({"resourceType": "ActorDefinition", "status": "active", "type": "person"})
    assert errors(read_bundle(r5_only)) == [("Bundle.entry[0].resource", "structure")]
    with_issues = bundle(encounter(), issues={"resourceType": "OperationOutcome", "issue": []})
    assert errors(read_bundle(with_issues)) == [("Bundle.issues", "structure")]


def test_encounter_status() -> None:
    r5 = read_bundle(bundle(encounter(status="completed"), ORGANIZATION))  # an R5 status
    assert errors(r5) == [
        ("Bundle.entry[0].resource.status", "value"),
        ("Bundle.entry[0].resource", "invalid"),
    ]
    cancelled = read_bundle(bundle(encounter(status="cancelled"), ORGANIZATION))
    assert cancelled.visits == []
    assert [(i.expression, i.severity) for i in cancelled.issues] == [
        ("Bundle.entry[0].resource.status", "warning")
    ]


def test_python_values_that_are_not_json() -> None:
    import datetime as dt

    doc = bundle(encounter(period={"start": dt.datetime(2024, 3, 1, 9, 30)}), ORGANIZATION)
    result = read_bundle(doc)
    assert result.fatal and result.visits == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xfe not json", [("Bundle", "structure")]),
        ('{"resourceType": "Bundle", ', [("Bundle", "structure")]),
        ('{"resourceType": "Bundle", "type": "batch", "total": NaN}', [("Bundle", "structure")]),
        ("[1, 2]", [("Bundle", "structure")]),
        (json.dumps(example("patient-example")), [("Bundle", "structure")]),
        ('{"resourceType": "Bundle", "type": "searchset"}', [("Bundle.type", "not-supported")]),
        ('{"resourceType": "Bundle"}', [("Bundle.type", "required")]),
        (
            '{"resourceType": "Bundle", "type": "batch", "entry": {}}',
            [("Bundle.entry", "structure")],
        ),
        (
            '{"resourceType": "Bundle", "type": "batch", "entry": [7]}',
            [("Bundle.entry[0]", "structure")],
        ),
    ],
)
def test_unreadable_messages(data: Any, expected: list[tuple[str, str]]) -> None:
    result = read_bundle(data)
    assert errors(result) == expected
    assert result.fatal == (result.issues[0].index is None)
    assert result.visits == []


def test_orphans_and_other_resources_are_information() -> None:
    orphan = observation(loinc("8310-5"), valueQuantity={"value": 39, "code": "Cel"})
    orphan["encounter"] = {"reference": "Encounter/other"}
    practitioner = {"resourceType": "Practitioner", "name": [{"family": "Careful"}]}
    result = read_bundle(bundle(encounter(), ORGANIZATION, orphan, practitioner))
    assert len(result.visits) == 1
    assert [(i.index, i.severity) for i in result.issues] == [
        (2, "information"),
        (3, "information"),
    ]


def test_message_bundle_header_is_expected() -> None:
    docs = fhir_bundles(sim_rows().iloc[:2], bundle_type="message")
    result = read_bundle(docs[0])
    assert result.issues == [] and len(result.visits) == 2


# -- control id, raw, OperationOutcome -------------------------------------------------------


def test_control_id_resend_and_update() -> None:
    doc = full_visit()
    first = read_bundle(doc).visits[0]
    assert read_bundle(copy.deepcopy(doc)).visits[0].control_id == first.control_id
    doc["entry"][6]["resource"]["valueQuantity"]["value"] = 102.2
    assert read_bundle(doc).visits[0].control_id != first.control_id
    versioned = encounter(meta={"versionId": "3", "lastUpdated": "2024-03-01T11:00:00+08:00"})
    visit = read_bundle(bundle(versioned, ORGANIZATION, timestamp="2024-03-02T00:00:00Z")).visits[0]
    assert visit.control_id == "Encounter/e1/_history/3"
    assert visit.message_time == "2024-03-01T11:00:00+08:00"  # the version's time
    assert visit.origins["control_id"] == "Bundle.entry[0].resource.meta"


def test_raw_reads_back_as_the_same_visit() -> None:
    for doc in (full_visit(), *fhir_bundles(sim_rows().iloc[:5], per_bundle=5)):
        for visit in read_bundle(doc).visits:
            (again,) = read_bundle(visit.raw).visits
            assert (again.fields, again.control_id, again.message_time) == (
                visit.fields,
                visit.control_id,
                visit.message_time,
            )


def test_operation_outcome() -> None:
    good = read_bundle(full_visit())
    outcome = operation_outcome(good)
    OperationOutcome.model_validate(outcome)
    assert outcome["issue"] == [
        {"severity": "information", "code": "informational", "diagnostics": "1 visit accepted"}
    ]
    assert operation_outcome(good, accepted=0)["issue"][0]["diagnostics"] == "0 visits accepted"
    doc = full_visit()
    doc["entry"][1]["resource"]["gender"] = "F"
    outcome = operation_outcome(read_bundle(doc))
    OperationOutcome.model_validate(outcome)
    assert [(i["severity"], i["code"], i["expression"]) for i in outcome["issue"]] == [
        ("error", "invalid", ["Bundle.entry[0].resource"]),
        ("error", "value", ["Bundle.entry[1].resource.gender"]),
    ]
    fatal = operation_outcome(read_bundle(b"nope"))
    OperationOutcome.model_validate(fatal)
    assert fatal["issue"][0]["severity"] == "fatal"


def test_fhirpath() -> None:
    loc = ("resource", "_birthDate", "extension", 0, "url")
    assert fhirpath("Bundle.entry[2]", loc) == "Bundle.entry[2].resource.birthDate.extension[0].url"
    assert fhirpath("Bundle.entry[0]", ("resource", "class", "root")) == (
        "Bundle.entry[0].resource.class"
    )


def test_wall_time() -> None:
    assert wall_time("2017-02-01T07:15:00.5-05:00") == "2017-02-01T07:15:00"
    assert wall_time("2017-02-01") == "2017-02-01T00:00:00"
    assert wall_time("2017") == "2017"
    assert wall_time(None) == ""
    for _ in range(2):  # the second time from what was remembered
        assert wall_time("2017-02-01T07:15:00+01:00") == "2017-02-01T07:15:00"
        assert wall_time(" 2017-02-01T07:15:00Z ") == "2017-02-01T07:15:00"
        assert wall_time("2017-02-01 07:15:00+01:00") == "2017-02-01T07:15:00"
        assert wall_time("2017-02-01T07:15+01:00") == "2017-02-01T07:15:00"
        assert wall_time("2017-02-30T07:15:00Z") == "2017-02-30T07:15:00Z"  # no such day


def test_entry_raw_is_the_entry_as_sent() -> None:
    doc = full_visit()
    doc["entry"][1]["resource"]["gender"] = "F"
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    result = read_bundle(text)
    (gender,) = [i for i in result.issues if i.expression.endswith(".gender")]
    assert gender.raw in text and json.loads(gender.raw) == doc["entry"][1]
    (refused,) = [i for i in result.issues if i.code == "invalid"]
    assert json.loads(refused.raw)["entry"] == [
        doc["entry"][i] for i in (0, 1, 3, 4, 5, *range(6, 12), 2)
    ]


def test_a_visit_that_cannot_be_read_leaves_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    says = fhir._SAYS["Observation"]

    def broken(res: dict[str, Any], path: str) -> Any:
        if res.get("valueString") == "P0099":
            raise KeyError("broken")
        return says(res, path)

    monkeypatch.setitem(fhir._SAYS, "Observation", broken)
    doc = full_visit()
    doc["entry"].append({"resource": encounter(id="e2", identifier=[{"value": "V-2"}])})
    result = read_bundle(doc, facility_id="H01")
    assert [v.fields["visit_id"] for v in result.visits] == ["V-2"]
    (issue,) = result.errors
    assert (issue.index, issue.code, issue.diagnostics) == (
        0,
        "exception",
        "could not read this Encounter: KeyError('broken')",
    )
    assert json.loads(issue.raw) == doc["entry"][0]["resource"]


def test_garbage_collector_is_left_as_it_was() -> None:
    import gc

    assert gc.isenabled()
    for data in (full_visit(), b"not json", b"[]"):
        read_bundle(data)
        assert gc.isenabled()
    gc.disable()
    try:
        read_bundle(full_visit())
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_is_kept_of_each_resource_read() -> None:
    assert set(fhir._READ) == set(TAKEN)


# -- simulated bundles -----------------------------------------------------------------------


_SIM: list[pd.DataFrame] = []


def sim_rows() -> pd.DataFrame:
    """Two days of simulated visits, as the canonical CSV reads (all text)."""
    if not _SIM:
        import tempfile

        from epiradar.sim.scenarios import simulate
        from epiradar.sim.writers import write_visits

        sim = simulate("baseline", seed=11, days=2, daily_visits=150)
        with tempfile.TemporaryDirectory() as tmp:
            path = write_visits(sim.visits, Path(tmp) / "visits.csv")
            _SIM.append(pd.read_csv(path, dtype=str, keep_default_na=False))
    return _SIM[0].copy()


def _same(column: str, got: str, want: str) -> bool:
    if column in rules.NUMBER_COLUMNS and want:
        return got != "" and abs(float(got) - float(want)) < 1e-9
    return got == want


@pytest.mark.parametrize("kind", ["transaction", "batch", "collection", "message"])
def test_simulated_bundles_read_back(kind: str) -> None:
    rows = sim_rows()
    docs = fhir_bundles(rows, per_bundle=60, bundle_type=kind)
    assert len(docs) == -(-len(rows) // 60)
    for doc in docs[:2]:
        get_fhir_model_class("Bundle").model_validate(doc)  # the whole Bundle is valid R4
    visits = []
    for doc in docs:
        result = read_bundle(json.dumps(doc, ensure_ascii=False).encode())
        assert result.issues == []
        visits += result.visits
    assert len(visits) == len(rows)
    for visit, (_, row) in zip(visits, rows.iterrows(), strict=True):
        for column in rules.COLUMNS:
            got, want = visit.fields.get(column, ""), row.get(column, "")
            assert _same(column, got, want), (row["visit_id"], column, got, want)


def test_shape_cache_is_used() -> None:
    docs = [json.dumps(d) for d in fhir_bundles(sim_rows(), per_bundle=50)]
    read_bundle(docs[0])
    before = VALIDATOR.full_validations
    for doc in docs:
        read_bundle(doc)
    assert VALIDATOR.full_validations - before < 10  # new shapes only


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (  # the same elements, of another resource
            {"resourceType": "Patient", "active": True},
            {"resourceType": "Basic", "active": True},
        ),
        (  # the same elements, values swapped
            {"resourceType": "Patient", "gender": "male", "maritalStatus": {"text": "x"}},
            {"resourceType": "Patient", "gender": {"text": "x"}, "maritalStatus": "male"},
        ),
        (  # the same elements, objects swapped
            {"resourceType": "Patient", "name": [{"family": "a"}], "address": [{"city": "b"}]},
            {"resourceType": "Patient", "name": [{"city": "b"}], "address": [{"family": "a"}]},
        ),
        (  # the same objects, in arrays of other lengths
            {"resourceType": "Patient", "name": [{"family": "a"}, {"given": ["b"]}]},
            {"resourceType": "Patient", "name": [{"family": "a"}], "given": [{"given": ["b"]}]},
        ),
        (
            {"resourceType": "Patient", "active": True, "id": "a"},
            {"resourceType": "Patient", "active": "true", "id": "a"},
        ),
        (
            {"resourceType": "Patient", "birthDate": "1990-01-01"},
            {"resourceType": "Patient", "birthDate": "1990-13-01"},
        ),
        (
            {"resourceType": "Patient", "contained": [{"resourceType": "Patient", "id": "p"}]},
            {"resourceType": "Patient", "contained": [{"resourceType": "Bundle", "id": "p"}]},
        ),
    ],
)
def test_shape_cache_tells_shapes_apart(first: dict[str, Any], then: dict[str, Any]) -> None:
    checker = ShapeValidator()
    assert checker.errors(BundleEntry, {"resource": first}) == []
    assert checker.errors(BundleEntry, {"resource": first}) == []  # from the cache
    try:
        BundleEntry.model_validate({"resource": then})
        valid = True
    except Exception:
        valid = False
    found = checker.errors(BundleEntry, {"resource": then})
    assert found if not valid else all(error["type"] == "json_type" for error in found)


def test_shape_cache_leaves_what_is_not_json_to_the_model() -> None:
    import datetime as dt

    checker = ShapeValidator()
    entry = {"resource": {"resourceType": "Patient", "birthDate": "2000-01-01"}}
    assert checker.errors(BundleEntry, entry) == checker.errors(BundleEntry, entry) == []
    before = checker.full_validations
    odd = {"resource": {"resourceType": "Patient", "birthDate": dt.date(2000, 1, 1)}}
    assert checker.errors(BundleEntry, odd) == []  # the model takes a date
    assert checker.errors(BundleEntry, {"resource": entry["resource"], 1: "x"})
    assert checker.full_validations == before + 2


# -- properties ------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
TRICKY = (
    st.sampled_from(
        [
            "",
            " ",
            "\u3000",
            "\x0b",
            "Encounter",
            "2024-02-30",
            "2024-03-01T10:00:00",
            "2024-03-01T10:00:00+08:00",
            "1990",
            "female",
            "F",
            "a b",
            "-1",
            "3.5",
            "x" * 80,
        ]
    )
    | st.text(max_size=12)
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.booleans()
)


def _slots(value: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            out.append((value, key))
            _slots(item, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.append((value, i))
            _slots(item, out)
    return out


def mutate(data: st.DataObject, doc: Any, times: int = 3) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, times))):
        slots = _slots(doc, [])
        if not slots:
            break
        parent, key = data.draw(st.sampled_from(slots))
        how = data.draw(st.sampled_from(["delete", "json", "tricky", "same-type"]))
        if how == "delete":
            del parent[key]
        elif how == "json":
            parent[key] = data.draw(JSON)
        elif how == "tricky":
            parent[key] = data.draw(TRICKY)
        elif isinstance(parent[key], str):
            parent[key] = data.draw(st.text(max_size=30))
        elif isinstance(parent[key], int | float) and not isinstance(parent[key], bool):
            parent[key] = data.draw(st.integers(-10, 10) | st.floats(-1e3, 1e3))
    return doc


SMALL = full_visit()


@PROPERTY
@given(st.data())
def test_mutated_bundles_never_raise(data: st.DataObject) -> None:
    doc = mutate(data, SMALL)
    result = read_bundle(doc, facility_id="H01")
    assert not [i for i in result.issues if i.code == "exception"], result.issues
    for issue in result.issues:
        assert issue.expression.startswith("Bundle")
    for visit in result.visits:
        assert visit.fields["visit_id"] and visit.fields["visit_time"]
    OperationOutcome.model_validate(operation_outcome(result))


@PROPERTY
@given(JSON | st.binary(max_size=40) | st.text(max_size=40))
def test_arbitrary_input_never_raises(value: Any) -> None:
    result = read_bundle(value if isinstance(value, bytes | str) else json.dumps(value))
    assert result.visits == [] and result.fatal


ENTRIES = [
    {"resource": r}
    for r in (
        encounter(),
        PATIENT,
        ORGANIZATION,
        full_visit()["entry"][6]["resource"],
        example("patient-example"),
        example("condition-example-f201-fever"),
        example("encounter-example-emerg"),
    )
]


@PROPERTY
@given(st.data())
def test_shape_cache_gives_the_models_verdict(data: st.DataObject) -> None:
    checker = ShapeValidator()
    base = data.draw(st.sampled_from(ENTRIES))
    assert checker.errors(BundleEntry, base) == []  # the shape is now compiled
    mutated = mutate(data, base, times=2)
    try:
        BundleEntry.model_validate(mutated)
        valid = True
    except Exception:
        valid = False
    found = checker.errors(BundleEntry, mutated)
    if not valid:  # never accepts what the model refuses
        assert found
    else:  # and refuses what it accepts only for a JSON type FHIR does not allow
        assert all(error["type"] == "json_type" for error in found), found


@PROPERTY
@given(JSON, st.sampled_from(["", " ", "\n\t"]))
def test_parse_is_json_loads(value: Any, space: str) -> None:
    text = json.dumps({"a": value, "entry": [value, {"b": value}]}, indent=1).replace(
        "\n", "\n" + space
    )
    parsed, spans = _parse(text)
    assert parsed == json.loads(text)
    assert [json.loads(text[a:b]) for a, b in spans] == parsed["entry"]
