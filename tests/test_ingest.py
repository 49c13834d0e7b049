"""Ingest pipeline: validation and quarantine, duplicates, pseudonyms, geocoding, JSON Lines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import MetaData, select

from epiradar.config import Settings
from epiradar.ingest import IngestFormatError, ingest_path
from epiradar.ingest import pipeline as pipeline_module
from epiradar.ingest.pseudonym import Pseudonymizer
from epiradar.ingest.record import VisitRecord
from epiradar.ingest.rules import COLUMNS
from epiradar.ingest.validate import check_chunk
from epiradar.service.ingest import ingest_file
from epiradar.store import Store

HEADER = ",".join(COLUMNS[: COLUMNS.index("lab_result") + 1])
"""Files may leave optional columns out (here the visit-closing ones)."""
GOOD = [
    "v1,F1,2024-03-01T08:30:00,PAT-001,34,F,R1,,,fever and cough,38.5,J10.1;R50.9,2024-02-28,P1@2024-02-27;P2,PAT-002,",
    "v2,F2,2024-03-01 09:00,PAT-002,7,m,,0.5,1.5,sore throat,37.0,,,,,negative",
    "v3,F1,2024-03-02T10:00:00+08:00,,,U,,5.0,5.0,headache,,,,,,",
]


def write_csv(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def ingest(
    store: Store, path: Path, classifier, *, secret: bytes = b"test-key", chunk_rows: int = 100
):
    return ingest_path(store, path, secret=secret, classifier=classifier, chunk_rows=chunk_rows)


def table_rows(store: Store) -> dict[str, list[tuple]]:
    """Every row of the data tables, without generated ids and times."""
    meta = MetaData()
    meta.reflect(store.engine)
    skip = {"id", "ingest_run_id", "received_at", "started_at", "finished_at", "visit_pk"}
    out = {}
    with store.engine.connect() as conn:
        for name in ("visits", "visit_exposures", "daily_counts"):
            table = meta.tables[name]
            cols = [c for c in table.columns if c.name not in skip]
            out[name] = sorted(conn.execute(select(*cols)).all(), key=repr)
    return out


def test_good_rows_become_canonical_visits(city_store: Store, keyword_classifier, tmp_path) -> None:
    summary = ingest(city_store, write_csv(tmp_path / "v.csv", GOOD), keyword_classifier)
    assert (summary.accepted, summary.duplicates, summary.rejected) == (3, 0, 0)
    frame = city_store.visits_frame(None, None).set_index("visit_id")
    v1, v2, v3 = frame.loc["v1"], frame.loc["v2"], frame.loc["v3"]
    assert v1.visit_time == "2024-03-01T08:30:00" and v1.age == 34 and v1.sex == "F"
    assert v1.diagnosis_codes == ["J10.1", "R50.9"] and v1.onset_date.isoformat() == "2024-02-28"
    assert v1.exposures == [
        {"place_id": "P1", "date": "2024-02-27"},
        {"place_id": "P2", "date": None},
    ]
    assert v1.syndrome_mask == 0b101 and v1.classifier_version == "test-keywords-1"
    assert v2.visit_time == "2024-03-01T09:00:00" and v2.sex == "M" and v2.lab_result == "negative"
    assert v3.visit_time == "2024-03-02T10:00:00"  # the offset is dropped, wall clock kept
    assert v3.patient_key is None and v3.residence_region is None  # outside every region
    assert v2.residence_region == "R2"  # geocoded from (lat 0.5, lon 1.5)
    exposures = city_store.exposures_frame([int(frame.loc["v1", "id"])])
    assert exposures["place_id"].tolist() == ["P1", "P2"]


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ("v9,F9,2024-03-01T08:00:00,,,,,,,,,,,,,", "facility_id", "unknown facility"),
        ("v9,F1,2024-03-01T08:00:00,,,,R9,,,,,,,,,", "residence_region", "unknown region"),
        (",F1,2024-03-01T08:00:00,,,,,,,,,,,,,", "visit_id", "required"),
        ("v9,F1,yesterday,,,,,,,,,,,,,", "visit_time", "not an ISO 8601 time"),
        ("v9,F1,2024-02-30T08:00:00,,,,,,,,,,,,,", "visit_time", "no such time"),
        ("v9,F1,2024-03-01T08:00:00,,abc,,,,,,,,,,,", "age", "not a number"),
        ("v9,F1,2024-03-01T08:00:00,,131,,,,,,,,,,,", "age", "outside"),
        ("v9,F1,2024-03-01T08:00:00,,,X,,,,,,,,,,", "sex", "not one of"),
        ("v9,F1,2024-03-01T08:00:00,,,,,95,1,,,,,,,", "residence_lat", "outside"),
        ("v9,F1,2024-03-01T08:00:00,,,,,,,,46.5,,,,,", "temperature_c", "outside"),
        ("v9,F1,2024-03-01T08:00:00,,,,,,,,,flu,,,,", "diagnosis_codes", "not an ICD-10 code"),
        ("v9,F1,2024-03-01T08:00:00,,,,,,,,,,03/01/2024,,,", "onset_date", "not a YYYY-MM-DD"),
        ("v9,F1,2024-03-01T08:00:00,,,,,,,,,,,P1@soon,,", "exposures", "not a YYYY-MM-DD"),
        ("v9,F1,2024-03-01T08:00:00,,,", None, "expected 16 fields, found 6"),
    ],
)
def test_bad_rows_are_quarantined_verbatim(
    city_store, keyword_classifier, tmp_path, line, field, reason
) -> None:
    path = write_csv(tmp_path / "bad.csv", [GOOD[0], line, GOOD[1]])
    summary = ingest(city_store, path, keyword_classifier)
    assert (summary.accepted, summary.rejected) == (2, 1)
    [q] = city_store.quarantined()
    assert (q["source"], q["record"], q["field"], q["raw"]) == (str(path), "2", field, line)
    assert reason in q["reason"]
    assert q["ingest_run_id"] == summary.run_id


def test_unknown_column_rejects_the_file_before_ingesting(
    city_store, keyword_classifier, tmp_path
) -> None:
    path = write_csv(tmp_path / "v.csv", [GOOD[0] + ",x"], header=HEADER + ",favourite_colour")
    with pytest.raises(IngestFormatError, match=r"v\.csv: unknown column\(s\) 'favourite_colour'"):
        ingest(city_store, path, keyword_classifier)
    assert city_store.visits_frame(None, None).empty
    with city_store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM ingest_runs").scalar() == 0


def test_missing_required_column(city_store, keyword_classifier, tmp_path) -> None:
    path = write_csv(tmp_path / "v.csv", ["v1,F1"], header="visit_id,facility_id")
    with pytest.raises(IngestFormatError, match="visit_time missing"):
        ingest(city_store, path, keyword_classifier)


def test_duplicates_within_and_across_files_and_idempotent_reingest(
    city_store, keyword_classifier, tmp_path
) -> None:
    first = write_csv(tmp_path / "a.csv", [GOOD[0], GOOD[1], GOOD[0], GOOD[2]])
    summary = ingest(city_store, first, keyword_classifier, chunk_rows=2)  # dupes across chunks
    assert (summary.accepted, summary.duplicates) == (3, 1)
    city_store.refresh_daily_counts()
    before = table_rows(city_store)
    again = ingest(city_store, first, keyword_classifier)
    city_store.refresh_daily_counts()
    assert (again.accepted, again.duplicates, again.rejected) == (0, 4, 0)
    assert table_rows(city_store) == before
    other = write_csv(tmp_path / "b.csv", [GOOD[1].replace("v2,", "v4,"), GOOD[2]])
    assert ingest(city_store, other, keyword_classifier).duplicates == 1


def test_pseudonyms_are_stable_key_dependent_and_raw_ids_absent(
    city_store, keyword_classifier, tmp_path
) -> None:
    ingest(city_store, write_csv(tmp_path / "v.csv", GOOD), keyword_classifier, secret=b"k1")
    frame = city_store.visits_frame(None, None).set_index("visit_id")
    key1 = Pseudonymizer(b"k1")
    assert frame.loc["v1", "patient_key"] == key1("PAT-001")
    assert frame.loc["v1", "contacts"] == [key1("PAT-002")]
    assert frame.loc["v2", "patient_key"] == frame.loc["v1", "contacts"][0]  # links up
    assert len(key1("PAT-001")) == 32 and Pseudonymizer(b"k2")("PAT-001") != key1("PAT-001")
    dump = json.dumps(table_rows(city_store), default=str)
    assert "PAT-00" not in dump
    if city_store.dialect == "sqlite":
        city_store.close()
        db = Path(city_store.engine.url.database)
        raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
        assert b"PAT-00" not in raw


def test_geocoding_fills_unknown_region_only(city_store, keyword_classifier, tmp_path) -> None:
    lines = [
        "g1,F1,2024-03-01T08:00:00,,,,,1.5,0.5,,,,,,,",  # lat 1.5 lon 0.5 -> R3
        "g2,F1,2024-03-01T08:00:00,,,,R4,0.5,0.5,,,,,,,",  # given region wins
        "g3,F1,2024-03-01T08:00:00,,,,,50,50,,,,,,,",  # nowhere: stays unknown, accepted
        "g4,F1,2024-03-01T08:00:00,,,,,1.5,,,,,,,,",  # half a point: not geocoded
    ]
    assert (
        ingest(city_store, write_csv(tmp_path / "g.csv", lines), keyword_classifier).accepted == 4
    )
    regions = city_store.visits_frame(None, None).set_index("visit_id")["residence_region"]
    assert regions.to_dict() == {"g1": "R3", "g2": "R4", "g3": None, "g4": None}


def test_json_lines(city_store, keyword_classifier, tmp_path) -> None:
    records = [
        {
            "visit_id": "j1",
            "facility_id": "F1",
            "visit_time": "2024-03-01T08:00:00",
            "age": 40,
            "temperature_c": 38.2,
            "diagnosis_codes": ["J10.1"],
            "contacts": ["PAT-9"],
            "exposures": ["P1@2024-02-27", {"place_id": "P2", "date": None}],
            "residence_region": None,
        },
        {"visit_id": "j2", "facility_id": "F1", "visit_time": "2024-03-01T09:00:00", "age": "old"},
        {
            "visit_id": "j3",
            "facility_id": "F1",
            "visit_time": "2024-03-01T09:00:00",
            "colour": "red",
        },
    ]
    lines = [json.dumps(r) for r in records] + ["", "{not json"]
    path = tmp_path / "v.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    summary = ingest(city_store, path, keyword_classifier)
    assert (summary.accepted, summary.rejected) == (1, 3)
    j1 = city_store.visits_frame(None, None).iloc[0]
    assert (j1.age, j1.temperature_c, j1.diagnosis_codes) == (40.0, 38.2, ["J10.1"])
    assert j1.exposures == [
        {"place_id": "P1", "date": "2024-02-27"},
        {"place_id": "P2", "date": None},
    ]
    assert j1.contacts == [Pseudonymizer(b"test-key")("PAT-9")]
    rejected = {q["record"]: (q["field"], q["raw"]) for q in city_store.quarantined()}
    assert rejected == {"2": ("age", lines[1]), "3": ("colour", lines[2]), "5": (None, "{not json")}


def test_json_lines_unknown_key_in_first_record_rejects_file(
    city_store, keyword_classifier, tmp_path
) -> None:
    path = tmp_path / "v.ndjson"
    path.write_text(json.dumps({"visit_id": "1", "shoe_size": 9}) + "\n")
    with pytest.raises(IngestFormatError, match="'shoe_size'"):
        ingest(city_store, path, keyword_classifier)


def test_quoted_line_breaks_keep_records_and_raw_text(
    city_store, keyword_classifier, tmp_path
) -> None:
    multi = 'q1,F1,2024-03-01T08:00:00,,,,,,,"cough,\nthen fever",,,,,,'
    bad = 'q2,F1,2024-03-01T08:00:00,,bad,,,,,"two\nlines",,,,,,'
    summary = ingest(
        city_store, write_csv(tmp_path / "q.csv", [multi, bad, GOOD[0]]), keyword_classifier
    )
    assert (summary.accepted, summary.rejected) == (2, 1)
    frame = city_store.visits_frame(None, None).set_index("visit_id")
    assert frame.loc["q1", "chief_complaint"] == "cough,\nthen fever"
    [q] = city_store.quarantined()
    assert (q["record"], q["field"], q["raw"]) == ("2", "age", bad)


def test_a_refused_chunk_rolls_back_alone(
    city_store, keyword_classifier, tmp_path, monkeypatch
) -> None:
    lines = [GOOD[0], GOOD[1], GOOD[2].replace("v3,", "v5,"), GOOD[2]]
    original = Store.insert_visits
    calls = []

    def flaky(self, rows, run_id):
        calls.append(rows.keys())
        if len(calls) == 2:
            from sqlalchemy.exc import OperationalError

            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return original(self, rows, run_id)

    monkeypatch.setattr(Store, "insert_visits", flaky)
    summary = ingest(
        city_store, write_csv(tmp_path / "v.csv", lines), keyword_classifier, chunk_rows=2
    )
    assert (summary.accepted, summary.rejected) == (2, 2)
    assert sorted(city_store.visits_frame(None, None)["visit_id"]) == ["v1", "v2"]
    reasons = {q["record"]: q["reason"] for q in city_store.quarantined()}
    assert set(reasons) == {"3", "4"} and "disk I/O error" in reasons["3"]
    assert pipeline_module.IngestSummary  # the module stays importable under monkeypatching


def test_service_ingest_refreshes_daily_counts(city_store, tmp_path) -> None:
    settings = Settings(pseudonym_key="k", ingest_chunk_rows=100)
    summary = ingest_file(city_store, write_csv(tmp_path / "v.csv", GOOD), settings, progress=False)
    assert summary.accepted == 3 and summary.dates == {"2024-03-01", "2024-03-02"}
    counts = city_store.daily_counts()
    totals = counts[counts.syndrome == "all"].groupby("date")["count"].sum()
    assert totals.tolist() == [2, 1]


# The vectorised validator and the pydantic schema of record must agree, row by row.
EDGE_VALUES = {
    "visit_time": [
        "2024-03-01",
        "2024-03-01T08:00",
        "2024-03-01 08:00:00.123456",
        "2024-03-01T08:00:00Z",
        "2024-03-01T08:00:00+0800",
        "2024-13-01",
        "2024-03-01T25:00:00",
        "20240301",
        "2024-03-01T08:00:00.1234567",
        " 2024-03-01T08:00:00 ",
        "1700000000",
        "",
    ],
    "age": [
        "0",
        "130",
        "130.5",
        "-1",
        "1e2",
        "1_000",
        "nan",
        "inf",
        "+5",
        ".5",
        "5.",
        " 7 ",
        "0x10",
    ],
    "temperature_c": ["25", "24.9", "45", "45.1", "37,5"],
    "residence_lat": ["-90", "90.0001", "12.3"],
    "sex": ["M", "f", "u", "X", "male"],
    "residence_region": ["R1", "R9", " R2 "],
    "facility_id": ["F1", "F9", " F2", ""],
    "diagnosis_codes": ["J10.1", "j10.1; r50.9", "J101", "A09;;", "flu", "U07.1", "J10.12345"],
    "onset_date": ["2024-02-29", "2023-02-29", "2024-2-1", "2024-02-28T00:00"],
    "exposures": [
        "P1",
        "P1@2024-02-01;P2",
        "@2024-02-01",
        "P1@2024-02-31",
        "a@b@2024-02-01",
        "P1;P1@2024-01-01",
    ],
    "contacts": ["a;b", " ; "],
}


def _cases() -> list[dict[str, str]]:
    base = dict.fromkeys(COLUMNS, "") | {
        "visit_id": "1",
        "facility_id": "F1",
        "visit_time": "2024-03-01T08:00:00",
    }
    return [base | {column: value} for column, values in EDGE_VALUES.items() for value in values]


def test_vectorised_validation_agrees_with_pydantic_record() -> None:
    cases = _cases()
    context = {"facilities": {"F1", "F2"}, "regions": {"R1", "R2"}}
    checked = check_chunk(
        {c: [case[c] for case in cases] for c in COLUMNS}, context["facilities"], context["regions"]
    )
    for i, case in enumerate(cases):
        try:
            record = VisitRecord.model_validate(case, context=context)
        except ValidationError as exc:
            assert not checked.ok[i], case
            assert checked.error_field[i] == exc.errors()[0]["loc"][0], case
            continue
        assert checked.ok[i], (case, checked.error_field[i], checked.error_reason[i])
        for column in COLUMNS:
            value = checked.columns[column].rows()[i]
            expected = getattr(record, column)
            if column == "visit_time":
                expected = expected.isoformat(timespec="seconds")
            elif column == "onset_date" and expected is not None:
                expected = expected.isoformat()
            assert value == expected, (column, case)
        assert record.to_visit(Pseudonymizer(b"k")).visit_time.microsecond == 0


def test_worker_processes_give_the_same_result_as_one_process(
    city_store, keyword_classifier, tmp_path
) -> None:
    """Blocks prepared in parallel processes are stored in file order with the same record
    numbers, across quoted line breaks, blank lines, bad rows and duplicates."""
    lines = []
    for i in range(40):
        lines.append(GOOD[0].replace("v1,", f"a{i},"))
        if i % 7 == 0:
            lines.append(f'q{i},F1,2024-03-01T08:00:00,,,,,,,"cough,\nthen fever",,,,,,')
        if i % 9 == 0:
            lines.append(GOOD[1].replace("v2,", f"b{i},").replace(",7,", ",-3,"))  # bad age
        if i % 11 == 0:
            lines.append("")
        if i % 13 == 0:
            lines.append(GOOD[0].replace("v1,", f"a{i},"))  # duplicate
    path = write_csv(tmp_path / "many.csv", lines)

    def run(workers: int, store: Store):
        summary = ingest_path(
            store, path, secret=b"k", classifier=keyword_classifier, chunk_rows=5, workers=workers
        )
        quarantined = sorted((q["record"], q["field"], q["raw"]) for q in store.quarantined(None))
        return (summary.accepted, summary.duplicates, summary.rejected), quarantined

    single = run(1, city_store)
    single_rows = table_rows(city_store)
    other = Store(f"sqlite:///{tmp_path / 'parallel.db'}")
    other.migrate()
    other.load_city(city_store.regions(), city_store.facilities(), city_store.places(), [])
    try:
        parallel = run(2, other)
        assert parallel == single
        assert table_rows(other) == single_rows
    finally:
        other.close()
    assert single[0] == (46, 4, 5)
    records = {raw.split(",")[0]: int(record) for record, _, raw in single[1]}
    assert records["b0"] == lines.index(next(x for x in lines if x.startswith("b0,"))) + 1
