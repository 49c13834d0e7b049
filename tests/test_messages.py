"""The message pipeline: updates merge into stored visits, resends are no-ops, bad messages are
answered with the wire field at fault and quarantined; the group-commit writer."""

from __future__ import annotations

import threading

import pytest

from epiradar.ingest.inbound import InboundVisit, MessageError
from epiradar.ingest.messages import (
    ACCEPTED,
    DUPLICATE,
    REJECTED,
    FailedMessage,
    MessagePipeline,
    MessageWriter,
)
from epiradar.model import Syndrome
from epiradar.store import Store
from epiradar.store.visits import raw_bytes

SECRET = b"test-secret"


def visit(control: str, event: str = "A04", *, sent: str = "2024-03-01T10:00:00", **fields: str):
    base = {"visit_id": "V1", "visit_time": "2024-03-01T09:30:00", "patient_id": "P-1"}
    return InboundVisit(
        facility_id="F1",
        control_id=control,
        event=event,
        message_time=sent,
        fields=base | fields,
        raw=f"MSH|{control}|{event}|{sorted((base | fields).items())}",
        origins={"visit_time": "PV1-44", "age": "PID-7", "control_id": "MSH-10"},
    )


@pytest.fixture
def pipeline(city_store: Store, keyword_classifier) -> MessagePipeline:
    return MessagePipeline(city_store, secret=SECRET, classifier=keyword_classifier)


def test_register_then_update_merges_fields_and_reclassifies(pipeline, city_store):
    first = pipeline.apply(
        [visit("m1", chief_complaint="headache", age="30", residence_region="R2")], channel="mllp"
    )
    assert [o.status for o in first] == [ACCEPTED]
    later = visit(
        "m2",
        "A08",
        sent="2024-03-01T12:00:00",
        chief_complaint="fever and cough",
        diagnosis_codes="J10.1",
    )
    closed = visit(
        "m3",
        "A03",
        sent="2024-03-01T15:00:00",
        disposition="01",
        discharge_time="2024-03-01T14:50:00",
    )
    assert [o.status for o in pipeline.apply([later, closed], channel="mllp")] == [ACCEPTED] * 2
    frame = city_store.visits_frame(None, None)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["chief_complaint"] == "fever and cough"
    assert row["age"] == 30.0  # kept from the first message
    assert row["residence_region"] == "R2"
    assert row["diagnosis_codes"] == ["J10.1"]
    assert row["disposition"] == "01"
    assert row["discharge_time"] == "2024-03-01T14:50:00"
    assert set(row["syndromes"]) == {Syndrome.FEVER, Syndrome.RESPIRATORY}
    assert row["patient_key"] and row["patient_key"] != "P-1"
    log = city_store.message_log("F1")
    assert [m["control_id"] for m in log] == ["m1", "m2", "m3"]
    assert [m["event"] for m in log] == ["A04", "A08", "A03"]


def test_older_update_only_fills_unknown_fields(pipeline, city_store):
    pipeline.apply(
        [visit("m2", "A08", sent="2024-03-01T12:00:00", chief_complaint="cough")], channel="mllp"
    )
    late = visit("m1", "A04", sent="2024-03-01T10:00:00", chief_complaint="headache", age="41")
    assert pipeline.apply([late], channel="mllp")[0].status == ACCEPTED
    row = city_store.visits_frame(None, None).iloc[0]
    assert row["chief_complaint"] == "cough"
    assert row["age"] == 41.0


def test_resend_is_acknowledged_and_not_applied_twice(pipeline, city_store):
    message = visit("m1", chief_complaint="fever")
    assert pipeline.apply([message], channel="mllp")[0].status == ACCEPTED
    again = pipeline.apply([visit("m1", chief_complaint="fever")], channel="mllp")[0]
    assert again.status == DUPLICATE and again.ack_code == "AA"
    same_batch = pipeline.apply([visit("m9"), visit("m9")], channel="mllp")
    assert [o.status for o in same_batch] == [ACCEPTED, DUPLICATE]
    assert len(city_store.message_log()) == 2


def test_resend_in_other_bytes_is_the_same_message(pipeline):
    pipeline.apply([visit("m1", chief_complaint="fever")], channel="mllp")
    resent = visit("m1", chief_complaint="fever")
    resent.raw = resent.raw.replace("|", "|\n")  # other line ends / framing: same content
    assert pipeline.apply([resent], channel="http-hl7")[0].status == DUPLICATE


def test_reused_control_id_with_other_content_is_rejected(pipeline, city_store):
    pipeline.apply([visit("m1", chief_complaint="fever")], channel="mllp")
    outcome = pipeline.apply([visit("m1", chief_complaint="rash")], channel="mllp")[0]
    assert outcome.status == REJECTED and outcome.ack_code == "AE"
    assert outcome.error.field == "MSH-10"
    assert city_store.visits_frame(None, None).iloc[0]["chief_complaint"] == "fever"


def test_bad_value_names_the_wire_field_and_is_quarantined(pipeline, city_store):
    bad = visit("m1", visit_time="2024-02-30T10:00:00")
    good = visit("m2", visit_id="V2")
    outcomes = pipeline.apply([bad, good], channel="mllp")
    assert [o.status for o in outcomes] == [REJECTED, ACCEPTED]
    assert outcomes[0].error.field == "PV1-44"
    assert "no such time" in outcomes[0].error.reason
    kept = city_store.quarantined(source="mllp:F1")
    assert len(kept) == 1
    assert kept[0]["field"] == "PV1-44" and kept[0]["raw"] == bad.raw
    assert kept[0]["format"] == "hl7" and kept[0]["status"] == "open"
    assert kept[0]["facility_id"] == "F1"


def test_unknown_facility_is_rejected(pipeline):
    message = visit("m1")
    message.facility_id = "NOPE"
    outcome = pipeline.apply([message], channel="mllp")[0]
    assert outcome.status == REJECTED and outcome.ack_code == "AR"
    assert "unknown facility" in outcome.error.reason


def test_a_facility_submits_only_for_itself(pipeline, city_store):
    outcome = pipeline.apply([visit("m1")], channel="http-hl7", sender="F2")[0]
    assert outcome.status == REJECTED and outcome.ack_code == "AR"
    treating = visit("m2", facility_id="F2")
    outcome = pipeline.apply([treating], channel="http-hl7", sender="F1")[0]
    assert outcome.status == REJECTED and "treating facility" in outcome.error.reason
    assert city_store.visits_frame(None, None).empty


def test_unreadable_message_is_quarantined(pipeline, city_store):
    failed = FailedMessage("garbage\x00", MessageError("MSH", "not an HL7 message", code="AR"))
    outcome = pipeline.apply([failed], channel="mllp")[0]
    assert outcome.ack_code == "AR"
    kept = city_store.quarantined(source="mllp:unknown")
    assert kept[0]["field"] == "MSH" and kept[0]["raw_encoding"] == "base64"
    assert raw_bytes(kept[0]) == b"garbage\x00"  # kept exactly, though not storable as text


def test_counts_follow_updates(pipeline, city_store):
    pipeline.apply([visit("m1", chief_complaint="headache", residence_region="R1")], channel="mllp")
    city_store.refresh_stale_counts()
    counts = city_store.daily_counts()
    assert set(counts["syndrome"]) == {"all"}
    pipeline.apply(
        [visit("m2", "A08", sent="2024-03-01T11:00:00", chief_complaint="fever")], channel="mllp"
    )
    assert city_store.refresh_stale_counts() > 0
    counts = city_store.daily_counts()
    fever = counts[counts["syndrome"] == "fever"]
    assert fever["count"].tolist() == [1] and fever["region_id"].tolist() == ["R1"]
    assert city_store.refresh_stale_counts() == 0  # nothing stale any more


def test_exposures_follow_the_latest_list(pipeline, city_store):
    pipeline.apply([visit("m1", exposures="P1@2024-02-27")], channel="mllp")
    pipeline.apply([visit("m2", "A08", sent="2024-03-01T11:00:00", exposures="P2")], channel="mllp")
    frame = city_store.visits_frame(None, None)
    exposures = city_store.exposures_frame(frame["id"])
    assert exposures["place_id"].tolist() == ["P2"]


def test_writer_gathers_concurrent_submissions(city_store, keyword_classifier):
    pipeline = MessagePipeline(city_store, secret=SECRET, classifier=keyword_classifier)
    batches: list[int] = []
    writer = MessageWriter(pipeline, on_batch=batches.append)
    try:
        results = {}

        def send(n: int) -> None:
            futures = [
                writer.submit([visit(f"c{n}-{i}", visit_id=f"V{n}-{i}")], channel="mllp")
                for i in range(25)
            ]
            results[n] = [f.result(timeout=30)[0].status for f in futures]

        threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        writer.close()
    assert all(statuses == [ACCEPTED] * 25 for statuses in results.values())
    assert sum(batches) == 100
    assert len(city_store.visits_frame(None, None)) == 100
    # close() refreshed the counts of what arrived
    assert city_store.daily_counts()["count"].sum() >= 100
