"""HL7 v2 ADT adapter: samples modelled on the PHIN Messaging Guide for Syndromic Surveillance
(v2.0), errors naming the field, acknowledgements, batches, the simulator round trip, and
property tests (any input gives an InboundVisit or a MessageError, never another exception)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import hl7
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epiradar.ingest import rules
from epiradar.ingest.hl7v2 import (
    Hl7Error,
    ack,
    parse_message,
    read_header,
    split_batch,
)
from epiradar.ingest.hl7v2 import _unescape as unescape_hl7
from epiradar.ingest.inbound import InboundVisit, MessageError
from epiradar.model import VISIT_COLUMNS
from epiradar.sim.hl7 import _as_text, hl7_messages, write_hl7
from epiradar.sim.scenarios import simulate

DATA = Path(__file__).parent / "data" / "hl7"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def text_sample(name: str) -> str:
    return parse_message(sample(name)).raw


def error_of(data: str | bytes) -> MessageError:
    with pytest.raises(MessageError) as info:
        parse_message(data)
    return info.value


def replace_segment(message: str, tag: str, index: int, value: str) -> str:
    """``message`` with item ``index`` of the first ``tag`` segment split at ``|`` set to
    ``value`` (``index`` n is field n, except in MSH where it is MSH-(n+1))."""
    segments = message.replace("\n", "\r").split("\r")
    for i, segment in enumerate(segments):
        if segment.startswith(tag + "|"):
            fields = segment.split("|")
            fields += [""] * (index + 1 - len(fields))
            fields[index] = value
            segments[i] = "|".join(fields)
            break
    return "\r".join(segments)


# --------------------------------------------------------------------------------------
# Samples


def test_phin_v251_a04() -> None:
    visit = parse_message(sample("a04_v251.hl7"))
    assert (visit.facility_id, visit.control_id, visit.event) == ("H01", "NIST-SS-001.12", "A04")
    assert visit.message_time == "2026-02-10T08:30:00"
    assert visit.fields == {
        "visit_id": "V00000123",
        "facility_id": "H01",
        "visit_time": "2026-02-10T08:15:00",
        "patient_class": "E",
        "patient_id": "PT0000123",
        "sex": "F",
        "residence_region": "R019",
        "chief_complaint": "Fever and cough x2 days, & sore throat",  # OBX 8661-1 over PV2-3
        "diagnosis_codes": "R50.9;J06.9",
        "age": "34",  # OBX 21612-7 over PID-7
        "temperature_c": "38.6",
        "onset_date": "2026-02-08",
        "residence_lat": "31.238252",
        "residence_lon": "121.485862",
        "exposures": "P0251@2026-02-07;P0176",
        "contacts": "PT0000099",
    }
    assert visit.origin("visit_time") == "PV1-44"
    assert visit.origin("facility_id") == "EVN-7"
    assert visit.origin("temperature_c") == "OBX-5 (11289-6)"
    assert visit.origin("age") == "OBX-5 (21612-7)"
    assert visit.origin("exposures") == "OBX-5 (EXPOSURE)"
    assert set(visit.fields) <= set(VISIT_COLUMNS)
    assert set(visit.origins) == set(visit.fields)


def test_v231_update_with_lf_z_segments_and_escapes() -> None:
    visit = parse_message(sample("a08_v231_lf.hl7"))
    assert (visit.event, visit.control_id, visit.facility_id) == ("A08", "20061015093000123", "H02")
    f = visit.fields
    assert f["facility_id"] == "H02" and visit.origin("facility_id") == "MSH-4"  # no EVN
    assert f["visit_time"] == "2006-10-15T08:45:00"  # minutes precision
    assert f["patient_id"] == "PT0000456"  # first PID-3 repetition
    assert f["sex"] == "U"  # O(ther) -> U
    assert f["age"] == "0.5" and visit.origin("age") == "PID-7"  # born six months before
    assert f["residence_region"] == "R020" and visit.origin("residence_region") == "PID-11.8"
    assert f["chief_complaint"] == "VOMITING \\ DIARRHEA SINCE AM; FEVER\nPOOR FEEDING"
    assert f["temperature_c"] == "38.5"  # the first reading, 101.3 degF
    assert f["lab_result"] == "Rotavirus antigen positive; Stool culture pending"
    assert f["diagnosis_codes"] == "A08.0"  # ICD-9 dropped, repeats once
    assert "disposition" not in f and "discharge_time" not in f


def test_gb18030_declared_in_msh18() -> None:
    data = sample("a04_gb18030.hl7")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    visit = parse_message(data)
    assert visit.fields["chief_complaint"] == "发热、咳嗽3天，伴乏力"
    assert visit.fields["lab_result"] == "甲型流感抗原阳性"
    assert visit.fields["age"] == "1.5"  # 18 months
    assert visit.fields["exposures"] == "P0012@2026-02-09;P0013"  # repetitions
    assert "上海市第一发热门诊" in visit.raw
    assert parse_message(visit.raw).fields == visit.fields  # the same as text


def test_gb18030_header_bytes_that_look_like_delimiters() -> None:
    text = sample("a04_gb18030.hl7").decode("gb18030").replace("上海市", "億奮")
    data = text.encode("gb18030")
    assert b"|" in "億".encode("gb18030") and b"^" in "奮".encode("gb18030")
    header = read_header(data)
    assert header.sending_facility_hd == "H03^億奮第一发热门诊"
    assert (header.charset, header.codec) == ("GB 18030-2000", "gb18030")
    assert parse_message(data).fields["chief_complaint"] == "发热、咳嗽3天，伴乏力"


def test_gbk_without_msh18_falls_back_to_gb18030() -> None:
    visit = parse_message(sample("a04_gbk_no_charset.hl7"))
    assert visit.fields["chief_complaint"] == "腹泻、呕吐1天"
    assert visit.origin("chief_complaint") == "PV2-3"
    assert visit.fields["age"] == "46"


def test_a03_with_crlf_and_trailing_blank_lines() -> None:
    visit = parse_message(sample("a03_crlf.hl7"))
    assert visit.event == "A03"
    assert visit.fields["disposition"] == "01"
    assert visit.fields["discharge_time"] == "2026-02-10T14:00:00"
    assert visit.origin("discharge_time") == "PV1-45"


def test_custom_encoding_characters() -> None:
    visit = parse_message(sample("a01_custom_delimiters.hl7"))
    assert visit.event == "A01"
    assert visit.fields["chief_complaint"] == "shortness of breath|cough$fever"
    assert visit.fields["exposures"] == "P0300@2026-02-10;P0301@2026-02-11"
    assert visit.fields["patient_id"] == "PT0000555"
    assert visit.fields["residence_region"] == "R023"


def test_str_bytes_and_mllp_frame_agree() -> None:
    data = sample("a04_v251.hl7")
    as_text = parse_message(data.decode("utf-8"))
    framed = parse_message(b"\x0b" + data + b"\x1c\r")
    assert as_text.fields == framed.fields == parse_message(data).fields


def test_escape_sequences() -> None:
    message = text_sample("a04_v251.hl7").replace(
        "^^^^^^^^Fever and cough x2 days, \\T\\ sore throat",
        "^^^^^^^^a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f \\X414243\\ \\H\\bold\\N\\ x\\.br\\y \\Zlocal\\ \\Q",
    )
    visit = parse_message(message)
    assert visit.fields["chief_complaint"] == "a|b^c&d~e\\f ABC bold x\ny \\Zlocal\\ \\Q"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20260210", "2026-02-10T00:00:00"),
        ("2026021008", "2026-02-10T08:00:00"),
        ("202602100815", "2026-02-10T08:15:00"),
        ("20260210081530", "2026-02-10T08:15:30"),
        ("20260210081530.1234-0500", "2026-02-10T08:15:30"),
        ("20260229", None),
        ("2026", None),
        ("2026-02-10T08:15", None),
        ("20260210246000", None),
    ],
)
def test_hl7_times(value: str, expected: str | None) -> None:
    message = replace_segment(text_sample("a03_crlf.hl7"), "PV1", 44, value)
    if expected is None:
        error = error_of(message)
        assert error.field == "PV1-44" and error.code == "AE"
    else:
        assert parse_message(message).fields["visit_time"] == expected


@pytest.mark.parametrize(
    ("code", "expected"), [("M", "M"), ("f", "F"), ("U", "U"), ("O", "U"), ("A", "U"), ("N", "U")]
)
def test_sex(code: str, expected: str) -> None:
    message = replace_segment(text_sample("a03_crlf.hl7"), "PID", 8, code)
    assert parse_message(message).fields["sex"] == expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("34", "a^year^UCUM", "34"),
        ("34", "", "34"),
        ("6", "mo^month^UCUM", "0.5"),
        ("2", "wk", "0.04"),
        ("10", "d^day^UCUM", "0.03"),
    ],
)
def test_age_units(value: str, unit: str, expected: str) -> None:
    message = text_sample("a04_v251.hl7").replace(
        "21612-7^Age Time Patient Reported^LN||34|a^year^UCUM",
        f"21612-7^Age Time Patient Reported^LN||{value}|{unit}",
    )
    assert parse_message(message).fields["age"] == expected


@pytest.mark.parametrize(("birth", "age"), [("1990", "35"), ("202507", "0.57"), ("19910210", "35")])
def test_birth_date_precision(birth: str, age: str) -> None:
    message = replace_segment(text_sample("a03_crlf.hl7"), "PID", 7, birth)
    assert parse_message(message).fields["age"] == age


def test_no_evn2_fallback_for_visit_time() -> None:
    message = replace_segment(text_sample("a03_crlf.hl7"), "PV1", 44, "")
    assert "EVN|A03|20260210143000" in message
    error = error_of(message)
    assert (error.field, error.reason) == ("PV1-44", "required")


# --------------------------------------------------------------------------------------
# Errors


def no_obx_age(message: str) -> str:
    """The age then comes from PID-7."""
    return message.replace("21612-7", "99999-9")


@pytest.mark.parametrize(
    ("edit", "field", "code"),
    [
        (lambda m: replace_segment(m, "PV1", 19, ""), "PV1-19", "AE"),
        (lambda m: replace_segment(m, "PV1", 44, "2026021X0815"), "PV1-44", "AE"),
        (lambda m: replace_segment(m, "PV1", 45, "yesterday"), "PV1-45", "AE"),
        (lambda m: replace_segment(no_obx_age(m), "PID", 7, "19AB0315"), "PID-7", "AE"),
        (lambda m: replace_segment(no_obx_age(m), "PID", 7, "20270101"), "PID-7", "AE"),
        (lambda m: replace_segment(m, "MSH", 8, "ADT^A05^ADT_A05"), "MSH-9", "AR"),
        (lambda m: replace_segment(m, "MSH", 8, "ORU^R01"), "MSH-9", "AR"),
        (lambda m: replace_segment(m, "MSH", 8, ""), "MSH-9", "AR"),
        (lambda m: replace_segment(m, "MSH", 9, ""), "MSH-10", "AR"),
        (lambda m: replace_segment(m, "MSH", 11, "3.0"), "MSH-12", "AR"),
        (lambda m: replace_segment(m, "MSH", 6, "20261301"), "MSH-7", "AE"),
        (lambda m: replace_segment(replace_segment(m, "MSH", 3, ""), "EVN", 7, ""), "MSH-4", "AE"),
        (lambda m: m.replace("Cel^degree Celsius", "K^kelvin"), "OBX-6 (11289-6)", "AE"),
        (lambda m: m.replace("||20260208|", "||2026-02-08|"), "OBX-5 (11368-8)", "AE"),
        (lambda m: m.replace("\rPV1|", "\rZV1|"), "PV1", "AE"),
        (lambda m: m + "\r" + m, "MSH", "AR"),
    ],
)
def test_errors_name_the_field(edit, field: str, code: str) -> None:
    message = text_sample("a04_v251.hl7")
    error = error_of(edit(message))
    assert (error.field, error.code) == (field, code)
    assert isinstance(error, Hl7Error)


def test_unsupported_message_type_sample() -> None:
    error = error_of(sample("oru_r01.hl7"))
    assert (error.field, error.code) == ("MSH-9", "AR")
    assert "ORU" in error.reason


def test_missing_visit_number_is_required() -> None:
    error = error_of(replace_segment(text_sample("a03_crlf.hl7"), "PV1", 19, ""))
    assert (error.field, error.reason) == ("PV1-19", "required")


@pytest.mark.parametrize("data", [b"", "", b"   \r\n", "hello", b"\x00\xff", "PID|1||x", b"MSH"])
def test_garbage_is_rejected(data: str | bytes) -> None:
    error = error_of(data)
    assert (error.field, error.code) == ("MSH", "AR")


def test_undecodable_bytes_name_msh18() -> None:
    utf8 = sample("a04_v251.hl7").replace(b"Fever and", b"Fever \xff\xfe and")
    assert error_of(utf8).field == "MSH-18"
    undeclared = sample("a04_gbk_no_charset.hl7") + b"OBX|1|ST|LAB||\xff\xff\r"
    assert error_of(undeclared).field == "MSH-18"
    utf16 = sample("a04_v251.hl7").replace(b"UNICODE UTF-8", b"UNICODE UTF-16")
    assert error_of(utf16).field == "MSH-18"


# --------------------------------------------------------------------------------------
# Batches


def test_split_plain_messages_with_blank_lines() -> None:
    names = ["a04_v251.hl7", "a08_v231_lf.hl7", "a03_crlf.hl7"]
    body = b"\n\n".join(sample(n) for n in names) + b"\r\n\r\n"
    parts = split_batch(body)
    assert len(parts) == 3 and all(isinstance(p, bytes) for p in parts)
    assert [parse_message(p).control_id for p in parts] == [
        parse_message(sample(n)).control_id for n in names
    ]
    assert len(split_batch(body.decode("utf-8"))) == 3


def test_split_fhs_batch() -> None:
    parts = split_batch(sample("batch_fhs.hl7"))
    assert [parse_message(p).control_id for p in parts] == [
        "NIST-SS-001.12",
        "NIST-SS-001.13",
        "H05-77",
    ]


def test_split_mllp_frames() -> None:
    names = ["a04_v251.hl7", "a04_gb18030.hl7", "a03_crlf.hl7"]
    body = b"".join(b"\x0b" + sample(n) + b"\x1c\r" for n in names)
    parts = split_batch(body)
    assert len(parts) == 3
    assert parse_message(parts[1]).fields["chief_complaint"] == "发热、咳嗽3天，伴乏力"
    text_parts = split_batch("\x0b" + text_sample("a03_crlf.hl7") + "\x1c\r")
    assert len(text_parts) == 1 and isinstance(text_parts[0], str)


def test_split_keeps_stray_text_as_a_message() -> None:
    parts = split_batch("junk line\r\n" + text_sample("a03_crlf.hl7"))
    assert len(parts) == 2
    assert error_of(parts[0]).field == "MSH"
    assert parse_message(parts[1]).event == "A03"


# --------------------------------------------------------------------------------------
# Acknowledgements


def segments_of(message: str) -> dict[str, list[str]]:
    assert message.endswith("\r") and "\n" not in message
    return {s[:3]: s.split("|") for s in message.split("\r") if s}


def test_ack_accept() -> None:
    data = sample("a04_v251.hl7")
    now = dt.datetime(2026, 2, 10, 8, 31, 5)
    reply = ack(data, "AA", control_id="NIST-SS-001.12", now=now)
    seg = segments_of(reply)
    assert list(seg) == ["MSH", "MSA"]
    msh = seg["MSH"]
    assert msh[2].startswith("EPIRADAR^") and msh[3].startswith("CDC^")  # receiver -> sender
    assert msh[4].startswith("EDSYS^") and msh[5].startswith("H01^")
    assert msh[6] == "20260210083105"
    assert msh[8] == "ACK^A04^ACK" and msh[10] == "P" and msh[11] == "2.5.1"
    assert msh[17] == "UNICODE UTF-8"
    assert seg["MSA"][1:3] == ["AA", "NIST-SS-001.12"]
    parsed = hl7.parse(reply)
    assert str(parsed.segment("MSA")[2]) == "NIST-SS-001.12"


def test_ack_error_names_the_field() -> None:
    data = replace_segment(text_sample("a04_v251.hl7"), "PID", 7, "20270101")
    data = no_obx_age(data)
    error = error_of(data)
    reply = ack(data, error.code, control_id=read_header(data).control_id, error=error)
    seg = segments_of(reply)
    assert seg["MSA"][1:3] == ["AE", "NIST-SS-001.12"]
    err = seg["ERR"]
    assert err[2] == "PID^1^7"
    assert err[3] == "102^Data type error^HL70357"
    assert err[4] == "E"
    assert "after the visit" in err[8]


def test_ack_for_required_field_and_unsupported_event() -> None:
    missing = replace_segment(text_sample("a03_crlf.hl7"), "PV1", 19, "")
    err = segments_of(ack(missing, "AE", control_id="x", error=error_of(missing)))["ERR"]
    assert err[2:5] == ["PV1^1^19", "101^Required field missing^HL70357", "E"]
    unsupported = sample("oru_r01.hl7")
    error = error_of(unsupported)
    seg = segments_of(ack(unsupported, error.code, control_id="LAB-1", error=error))
    assert seg["MSH"][8] == "ACK^R01^ACK"
    assert seg["MSA"][1:3] == ["AR", "LAB-1"]
    assert seg["ERR"][2:4] == ["MSH^1^9", "200^Unsupported message type^HL70357"]


def test_ack_to_unreadable_and_v231_messages() -> None:
    error = error_of(b"\x00garbage")
    seg = segments_of(ack(b"\x00garbage", error.code, control_id="", error=error))
    assert seg["MSA"][1:3] == ["AR", ""]
    assert seg["ERR"][2:4] == ["MSH^1", "100^Segment sequence error^HL70357"]
    assert segments_of(ack(None, "AR", control_id=""))["MSA"][:3] == ["MSA", "AR", ""]
    old = sample("a08_v231_lf.hl7")
    generic = MessageError("visit_time", "not an ISO 8601 time")
    seg = segments_of(ack(old, "AE", control_id="20061015093000123", error=generic))
    assert seg["MSH"][11] == "2.3.1" and seg["MSH"][8] == "ACK^A08^ACK"
    assert seg["ERR"][3] == "102^Data type error^HL70357"
    pid7 = segments_of(ack(old, "AE", control_id="1", error=MessageError("PID-7", "bad")))
    assert pid7["ERR"][1] == "PID^1^7^102&Data type error&HL70357"  # ERR-1 for v2.3.1


def test_ack_codec_follows_the_original() -> None:
    data = sample("a04_gb18030.hl7")
    header = read_header(data)
    assert header.codec == "gb18030" and header.sending_facility == "H03"
    assert header.sending_facility_hd == "H03^上海市第一发热门诊"
    reply = ack(data, "AA", control_id=header.control_id)
    assert "GB 18030-2000" in reply
    reply.encode(header.codec)


# --------------------------------------------------------------------------------------
# Simulator round trip


def merged(visits: list[InboundVisit]) -> dict[str, dict[str, str]]:
    state: dict[str, dict[str, str]] = {}
    for visit in visits:
        state.setdefault(visit.fields["visit_id"], {}).update(visit.fields)
    return state


def assert_round_trip(frame, visits: list[InboundVisit]) -> None:
    state = merged(visits)
    expected = _as_text(frame).to_dict("records")
    assert len(state) == len(expected)
    for row in expected:
        got = state[row["visit_id"]]
        for column in VISIT_COLUMNS:
            if column in ("patient_class", "disposition", "discharge_time") and not row[column]:
                continue  # the simulator fills these in
            want, have = row[column], got.get(column, "")
            if column in rules.NUMBER_COLUMNS and want:
                assert float(have) == pytest.approx(float(want), abs=1e-9), (column, row)
            else:
                assert have == want, (column, row)


@pytest.fixture(scope="module")
def simulation():
    return simulate(
        "person-to-person",
        seed=4,
        days=12,
        daily_visits=80,
        outbreak_size=30,
        end_date=dt.date(2026, 3, 1),
        outbreak_start=dt.date(2026, 2, 21),
    )


def test_round_trip_utf8(simulation) -> None:
    frame = simulation.visits
    assert frame["contacts"].notna().any() and frame["lab_result"].notna().any()
    messages = hl7_messages(frame, seed=1, updates=0.3)
    visits = [parse_message(m) for m in messages]
    assert len({v.control_id for v in visits}) == len(visits)
    times = [v.message_time for v in visits]
    assert times == sorted(times)
    assert {v.event for v in visits} == {"A04", "A08", "A03"}
    assert_round_trip(frame, visits)
    closed = [v for v in visits if v.event == "A03"]
    assert all(v.fields["discharge_time"] >= v.fields["visit_time"] for v in closed)


def test_round_trip_gb18030_v231(simulation) -> None:
    frame = simulation.visits
    assert frame["chief_complaint"].str.contains("[\u4e00-\u9fff]").any()
    messages = hl7_messages(frame, seed=2, version="2.3.1", encoding="gb18030")
    assert all("|GB 18030-2000" in m.split("\r", 1)[0] for m in messages)
    assert_round_trip(frame, [parse_message(m.encode("gb18030")) for m in messages])


def test_round_trip_of_the_csv_form(tmp_path: Path, simulation) -> None:
    frame = _as_text(simulation.visits)
    path = write_hl7(frame, tmp_path / "visits.hl7", seed=3, encoding="gbk")
    parts = split_batch(path.read_bytes())
    assert len(parts) == len(hl7_messages(frame, seed=3, encoding="gbk"))
    assert_round_trip(frame, [parse_message(p) for p in parts])


# --------------------------------------------------------------------------------------
# Properties

PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASES = [
    text_sample(n)
    for n in ("a04_v251.hl7", "a08_v231_lf.hl7", "a04_gb18030.hl7", "a01_custom_delimiters.hl7")
]


def parses_or_message_error(data: str | bytes) -> InboundVisit | None:
    try:
        visit = parse_message(data)
    except MessageError as error:
        assert isinstance(error.reason, str) and error.code in ("AE", "AR")
        return None
    assert visit.control_id and visit.fields["visit_id"] and visit.fields["visit_time"]
    assert set(visit.fields) <= set(VISIT_COLUMNS)
    return visit


@PROPERTY
@given(st.binary(max_size=400))
def test_any_bytes(data: bytes) -> None:
    parses_or_message_error(data)
    parses_or_message_error(b"MSH|^~\\&|" + data)


@PROPERTY
@given(st.text(max_size=400))
def test_any_text(data: str) -> None:
    parses_or_message_error(data)
    parses_or_message_error("MSH|^~\\&|" + data)


@st.composite
def mutated(draw: st.DrawFn) -> str | bytes:
    message = draw(st.sampled_from(BASES))
    sep = "\n" if "\n" in message else "\r"
    segments = [s for s in message.split(sep) if s]
    for _ in range(draw(st.integers(1, 4))):
        if not segments:
            break
        i = draw(st.integers(0, len(segments) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "shuffle", "field", "truncate"]))
        if op == "delete":
            del segments[i]
        elif op == "duplicate":
            segments.insert(i, segments[i])
        elif op == "shuffle":  # mostly behind MSH, sometimes all
            keep = 0 if draw(st.integers(0, 9)) == 0 else 1
            segments = segments[:keep] + list(draw(st.permutations(segments[keep:])))
        elif op == "field":
            fields = segments[i].split("|")
            j = draw(st.integers(0, len(fields) + 2))
            fields += [""] * (j + 1 - len(fields))
            alphabet = st.characters(codec="utf-8") | st.sampled_from("^~\\&|\r\n0123456789")
            fields[j] = draw(st.text(alphabet, max_size=30))
            segments[i] = "|".join(fields)
        else:
            segments[i] = segments[i][: draw(st.integers(0, len(segments[i])))]
    text = sep.join(segments)
    text = text[: draw(st.integers(0, len(text)))] if draw(st.integers(0, 3)) == 0 else text
    if draw(st.booleans()):
        return text
    data = text.encode(draw(st.sampled_from(["utf-8", "gb18030"])))
    return data if draw(st.integers(0, 3)) else data[: draw(st.integers(0, len(data)))]


@PROPERTY
@given(mutated())
def test_mutated_messages(data: str | bytes) -> None:
    visit = parses_or_message_error(data)
    if visit is not None:
        for column in ("visit_time", "discharge_time"):
            if column in visit.fields:
                assert rules.CANONICAL_TIME_RE.fullmatch(visit.fields[column])


@PROPERTY
@given(
    message=st.none() | st.binary(max_size=200) | st.text(max_size=200) | mutated(),
    code=st.sampled_from(["AA", "AE", "AR"]),
    control_id=st.text(max_size=40),
    field=st.none() | st.text(max_size=20) | st.sampled_from(["PID-7", "OBX-5 (11289-6)", "MSH"]),
    reason=st.text(max_size=60),
    with_error=st.booleans(),
)
def test_ack_always_carries_the_control_id(
    message, code: str, control_id: str, field, reason: str, with_error: bool
) -> None:
    error = MessageError(field, reason) if with_error else None
    reply = ack(message, code, control_id=control_id, error=error)
    segments = reply.split("\r")
    assert segments[-1] == "" and all(s[:4] in ("MSH|", "MSA|", "ERR|") for s in segments[:-1])
    assert not any(c in reply for c in "\n\x0b\x1c")
    msa = next(s for s in segments if s.startswith("MSA|")).split("|")
    assert msa[1] == code
    assert unescape_hl7(msa[2], "\\", "|", "^", "~", "&", "utf-8") == control_id
