"""Mapped tables: hand-made CSV (GB18030, Chinese headers) and Excel exports through a mapping;
inferring a mapping; bad values quarantined by source header and re-processed; the CLI."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import _square
from epiradar.cli import app
from epiradar.ingest.mapping import Mapping, MappingError, infer_mapping, parse_age
from epiradar.ingest.pipeline import ingest_path, ingest_records
from epiradar.ingest.tables import cell_text, detect_encoding
from epiradar.model import Facility, Region
from epiradar.store import Store

DATA = Path(__file__).parent / "data" / "mapping"
CSV = DATA / "fever_clinic_gb18030.csv"
BAD = DATA / "bad_values_gb18030.csv"
TOML = DATA / "fever_clinic.toml"
FACILITIES = {"北城诊所": "F1", "南区医院": "F2"}
REGIONS = {"一区": "R1", "二区": "R2", "三区": "R3", "四区": "R4"}

# visit_id: facility, time, sex, age, region, complaint, temperature, codes, onset
EXPECTED = {
    "MZ0001": ("F1", "2024-01-05T14:30:00", "M", 34.0, "R1", "发热伴咳嗽2天", 38.6, ["J10.1", "R50.9"], "2024-01-03"),
    "MZ0002": ("F1", "2024-01-05T09:05:00", "F", 3.0, "R2", "腹泻、呕吐", 37.2, [], "2024-01-04"),
    "MZ0003": ("F2", "2024-01-06T00:00:00", "F", 0.42, "R1", "发热,咽痛", 39.1, ["J06.9"], None),
    "MZ0004": ("F2", "2024-01-06T23:59:00", "U", 70.0, "R4", "头痛", None, [], None),
    "MZ0005": ("F1", "2024-01-07T08:00:00", "M", 2.25, "R3", "咳嗽", 36.8, [], None),
    "MZ0006": ("F2", "2024-01-07T10:15:00", None, None, "R2", "乏力", 37.9, ["R53"], "2024-01-06"),
}  # fmt: skip
STORED = [
    "facility_id", "visit_time", "sex", "age", "residence_region", "chief_complaint",
    "temperature_c", "diagnosis_codes", "onset_date",
]  # fmt: skip


@pytest.fixture
def cn_store(store: Store) -> Store:
    """A store whose city names its hospitals and districts in Chinese."""
    corners = [(0, 0), (1, 0), (0, 1), (1, 1)]
    regions = [
        Region(id=rid, name=name, population=1000, geometry=_square(*xy))
        for (name, rid), xy in zip(REGIONS.items(), corners, strict=True)
    ]
    facilities = [Facility(id=fid, name=name, region_id="R1") for name, fid in FACILITIES.items()]
    store.load_city(regions, facilities, [], [])
    return store


@pytest.fixture
def mapping() -> Mapping:
    return Mapping.from_toml(TOML)


def ingest(store: Store, path: Path, mapping: Mapping | None, classifier, **kwargs):
    kwargs.setdefault("chunk_rows", 100)
    return ingest_path(
        store, path, secret=b"test-key", classifier=classifier, mapping=mapping, **kwargs
    )


def stored(store: Store) -> dict[str, tuple]:
    frame = store.visits_frame(None, None)
    out = {}
    for row in frame.to_dict("records"):
        values = []
        for name in STORED:
            value = row[name]
            if isinstance(value, dt.date):
                value = value.isoformat()
            elif not isinstance(value, list) and pd.isna(value):
                value = None
            values.append(value)
        out[row["visit_id"]] = tuple(values)
    return out


def table_rows(path: Path = CSV) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("gb18030"), newline="")))


def write_xlsx(path: Path, rows: list[list[object]], sheet: str = "门诊日志") -> Path:
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "说明"
    book.active.append(["导出说明"])
    ws = book.create_sheet(sheet)
    for row in rows:
        ws.append(row)
    book.save(path)
    return path


def excel_rows() -> list[list[object]]:
    """The CSV's rows as Excel cells: real datetimes and numbers where a person would type them."""
    rows: list[list[object]] = [list(r) for r in table_rows()]
    header = rows[0]
    when, age, temp = (header.index(h) for h in ("就诊时间", "年龄", "体温"))
    rows[1][when] = dt.datetime(2024, 1, 5, 14, 30)
    rows[4][when] = dt.datetime(2024, 1, 6, 23, 59)
    rows[1][age], rows[4][age] = 34, 70
    rows[1][temp], rows[2][temp] = 38.6, 37.2
    rows[6] = [None] * len(header)  # the blank row
    return rows


# --- ingest through a mapping ------------------------------------------------------------------


def test_gb18030_csv_with_chinese_headers(cn_store, mapping, keyword_classifier) -> None:
    summary = ingest(cn_store, CSV, mapping, keyword_classifier)
    assert (summary.accepted, summary.duplicates, summary.rejected) == (6, 0, 0)
    assert stored(cn_store) == EXPECTED
    frame = cn_store.visits_frame(None, None).set_index("visit_id")
    assert frame.loc["MZ0001", "patient_key"] == frame.loc["MZ0006", "patient_key"]
    assert frame.loc["MZ0004", "patient_key"] is None
    assert summary.dates == {"2024-01-05", "2024-01-06", "2024-01-07"}
    run = cn_store.ingest_run(summary.run_id)
    assert run is not None and run["format"] == "table"


def test_worker_processes_give_the_same_visits(cn_store, mapping, keyword_classifier) -> None:
    summary = ingest(cn_store, CSV, mapping, keyword_classifier, chunk_rows=2, workers=2)
    assert summary.accepted == 6 and stored(cn_store) == EXPECTED


def test_the_same_table_as_xlsx(cn_store, mapping, keyword_classifier, tmp_path) -> None:
    path = write_xlsx(tmp_path / "fever.xlsx", excel_rows())
    mapping.sheet = "门诊日志"
    summary = ingest(cn_store, path, mapping, keyword_classifier, chunk_rows=3)
    assert (summary.accepted, summary.rejected) == (6, 0)
    assert stored(cn_store) == EXPECTED


def test_a_sheet_the_workbook_lacks_is_a_mapping_error(cn_store, mapping, tmp_path) -> None:
    path = write_xlsx(tmp_path / "fever.xlsx", excel_rows())
    mapping.sheet = "Sheet9"
    with pytest.raises(MappingError, match="no sheet 'Sheet9'.*门诊日志"):
        ingest(cn_store, path, mapping, None)


def test_a_spreadsheet_needs_a_mapping(cn_store, tmp_path) -> None:
    path = write_xlsx(tmp_path / "fever.xlsx", excel_rows())
    with pytest.raises(ValueError, match="needs a mapping.*--infer-mapping"):
        ingest(cn_store, path, None, None)


def test_utf8_with_bom_and_other_delimiter(cn_store, keyword_classifier, tmp_path) -> None:
    text = CSV.read_bytes().decode("gb18030").replace(",", "\t")
    path = tmp_path / "visits.tsv"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("发热,咽痛", "发热，咽痛").encode())
    toml = TOML.read_text(encoding="utf-8").replace('encoding = "gb18030"', 'delimiter = "\\t"')
    summary = ingest(cn_store, path, Mapping.from_toml(toml), keyword_classifier)
    assert summary.accepted == 6
    assert stored(cn_store)["MZ0001"] == EXPECTED["MZ0001"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("就诊号,主诉\nA1,发热\n".encode(), "utf-8-sig"),
        (b"\xef\xbb\xbfvisit_id\n", "utf-8-sig"),
        ("就诊号,主诉\nA1,发热伴咳嗽，咽痛\n".encode("gbk") * 20, "gb18030"),
        ("就诊号".encode() + "发热".encode()[:-1], "utf-8-sig"),  # cut at the end of the sample
    ],
)
def test_detect_encoding(data: bytes, expected: str, tmp_path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    assert detect_encoding(path) == expected


# --- bad values, wrong mappings, re-processing ---------------------------------------------


def test_bad_values_are_quarantined_by_row_source_header_and_reason(
    cn_store, mapping, keyword_classifier
) -> None:
    summary = ingest(cn_store, BAD, mapping, keyword_classifier)
    assert (summary.accepted, summary.rejected) == (2, 3)
    rejects = {q["record"]: q for q in cn_store.quarantined(run_id=summary.run_id)}
    assert set(rejects) == {"2", "3", "6"}  # data rows; the blank row 5 counts, is skipped
    sex, time, chinese_time = rejects["2"], rejects["3"], rejects["6"]
    assert sex["field"] == "性别" and "'未知X' is not in the code list" in sex["reason"]
    assert (
        time["field"] == "就诊时间" and "'2024/13/45' matches none of the formats" in time["reason"]
    )
    assert chinese_time["field"] == "就诊时间"
    raw = json.loads(sex["raw"])
    assert list(raw) == table_rows(BAD)[0] and raw["性别"] == "未知X" and raw["就诊号"] == "MZ0102"
    assert sex["format"] == "table" and Mapping.from_toml(sex["context"]) == mapping
    assert (sex["facility_id"], time["facility_id"]) == ("F1", "F2")  # the senders


def test_ingest_records_with_a_corrected_mapping(cn_store, mapping, keyword_classifier) -> None:
    first = ingest(cn_store, BAD, mapping, keyword_classifier)
    rejects = sorted(cn_store.quarantined(run_id=first.run_id), key=lambda q: int(q["record"]))
    corrected = Mapping.from_toml(rejects[0]["context"])
    corrected.values["sex"]["未知X"] = "U"
    corrected.formats["visit_time"] += ("%Y年%m月%d日 %H时%M分",)
    summary = ingest_records(
        cn_store,
        [json.loads(q["raw"]) for q in rejects],
        source=str(BAD),
        mapping=corrected,
        secret=b"test-key",
        classifier=keyword_classifier,
        numbers=[int(q["record"]) for q in rejects],
    )
    assert (summary.accepted, summary.rejected) == (2, 1)
    visits = cn_store.visits_frame(None, None).set_index("visit_id")
    assert visits.loc["MZ0102", "sex"] == "U"
    assert visits.loc["MZ0105", "visit_time"] == "2024-01-08T13:05:00"
    [again] = cn_store.quarantined(run_id=summary.run_id)
    assert again["record"] == "3" and again["field"] == "就诊时间" and again["format"] == "table"
    assert Mapping.from_toml(again["context"]) == corrected


def test_ingest_records_in_canonical_columns(cn_store, keyword_classifier) -> None:
    records = [
        {"visit_id": "c1", "facility_id": "F1", "visit_time": "2024-02-01T08:00:00"},
        {"visit_id": "c2", "facility_id": "F9", "visit_time": "2024-02-01T08:00:00"},
    ]
    summary = ingest_records(
        cn_store,
        records,
        source="retry",
        mapping=None,
        secret=b"k",
        classifier=keyword_classifier,
    )
    assert (summary.accepted, summary.rejected) == (1, 1)
    [q] = cn_store.quarantined(run_id=summary.run_id)
    assert q["field"] == "facility_id" and json.loads(q["raw"]) == records[1]
    with pytest.raises(ValueError, match="unknown column"):
        ingest_records(
            cn_store,
            [{"就诊号": "x"}],
            source="retry",
            mapping=None,
            secret=b"k",
            classifier=keyword_classifier,
        )


def test_source_headers_the_file_lacks_fail_before_reading(cn_store, keyword_classifier) -> None:
    toml = TOML.read_text(encoding="utf-8").replace('visit_id = "就诊号"', 'visit_id = "门诊号"')
    with pytest.raises(MappingError, match="visit_id = '门诊号'.*The file's headers: '就诊号'"):
        ingest(cn_store, CSV, Mapping.from_toml(toml), keyword_classifier)
    assert cn_store.visits_frame(None, None).empty and not cn_store.quarantined()


def test_candidate_headers_take_the_first_present(cn_store, keyword_classifier) -> None:
    toml = TOML.read_text(encoding="utf-8").replace(
        'visit_id = "就诊号"', 'visit_id = ["门诊号", "就诊号"]'
    )
    assert ingest(cn_store, CSV, Mapping.from_toml(toml), keyword_classifier).accepted == 6


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[columns]\nvisit_id = ", "invalid TOML"),
        ("[colums]\n", "unknown section(s) 'colums'"),
        (
            '[columns]\nvisit_id = "a"\nfacility = "b"\nvisit_time = "c"',
            "unknown column(s) 'facility'",
        ),
        ('[columns]\nvisit_id = "a"\nvisit_time = "c"', "facility_id neither mapped"),
        ('[columns]\nvisit_id = "a"\nfacility_id = "b"\n[constants]\nfacility_id = "F1"', "both"),
        ('[mapping]\nencodig = "gbk"', "unknown key(s) 'encodig'"),
        ('[mapping]\nencoding = "klingon"', "unknown encoding"),
        ('[formats]\nvisit_time = ["%Y/%Q"]', "bad directive"),
        ('[formats]\nvisit_time = ["YYYY-MM-DD"]', "no strptime directive"),
        ('temperature_c = "t"\n[units]\ntemperature_c = "K"', "not one of C, F"),
        ('sex = "s"\n[values.sex]\n"男" = 1', "must be a string"),
        ('[values.age]\n"三" = "3"', "[values]: unknown column(s) 'age'"),
        ('[units]\nage = "months"', "units.age: age is not mapped"),
    ],
)
def test_mapping_errors_are_clear(toml: str, message: str) -> None:
    base = '[columns]\nvisit_id = "a"\nfacility_id = "b"\nvisit_time = "c"\n'
    text = toml if toml.startswith("[columns]") or "[colums]" in toml else base + toml
    with pytest.raises(MappingError) as info:
        Mapping.from_toml(text)
    assert message in str(info.value)


def test_toml_round_trip(mapping) -> None:
    assert Mapping.from_toml(mapping.to_toml()) == mapping
    odd = Mapping(
        columns={"visit_id": ('a "quoted" \\ header', "\x7f"), "visit_time": ("时间",)}
        | {"temperature_c": ("体温 ℉",)},
        constants={"facility_id": "F1"},
        units={"temperature_c": "F"},
        sheet=2,
        missing=("",),
    )
    assert Mapping.from_toml(odd.to_toml()) == odd


def test_apply_converts_each_distinct_value() -> None:
    mapping = Mapping(
        columns={"visit_id": ("号",), "visit_time": ("时间",), "temperature_c": ("体温",)}
        | {"age": ("年龄",), "sex": ("性别",), "contacts": ("接触者",)},
        constants={"facility_id": "F1"},
        formats={"visit_time": ("%d.%m.%Y %H:%M",)},
        units={"temperature_c": "F"},
        values={"sex": {"Male": "M", "不详": "U"}},
        separators={"contacts": "、"},
        missing=("-", "不详"),
    )
    mapped = mapping.apply(
        {
            "号": ["1", "2", "3"],
            "时间": ["05.01.2024 14:30", "2024-01-05T08:00:00+08:00", "31.02.2024 10:00"],
            "体温": ["101.3", "38.5℃", "-"],
            "年龄": ["2岁3个月", "10 days", "70"],
            "性别": ["male", "不详", "x"],
            "接触者": ["P1、P2", "", "-"],
        }
    )
    cols = mapped.columns
    assert cols["visit_time"] == ["2024-01-05T14:30:00", "2024-01-05T08:00:00", ""]
    assert cols["temperature_c"] == ["38.5", "38.5", ""]
    assert cols["age"] == ["2.25", "0.03", "70"]
    assert cols["sex"] == ["M", "U", ""] and cols["contacts"] == ["P1;P2", "", ""]
    assert cols["facility_id"] == ["F1"] * 3 and mapped.fields["facility_id"] == "facility_id"
    assert mapped.error_field.tolist() == [None, None, "时间"]  # the first failing column
    assert "'31.02.2024 10:00' matches none" in mapped.error_reason[2]


@pytest.mark.parametrize(
    ("text", "years"),
    [("34", 34), ("3岁", 3), ("5月", 5 / 12), ("2岁3个月", 2.25), ("1 year 6 months", 1.5)]
    + [("14天", 14 / 365.25), ("3周", 21 / 365.25), ("岁", None), ("3岁abc", None)],
)
def test_parse_age(text: str, years: float | None) -> None:
    assert parse_age(text) == pytest.approx(years)


def test_cell_text() -> None:
    assert [cell_text(v) for v in (None, 12.0, 38.6, 7, True, "x")] == [
        *["", "12", "38.6", "7", "TRUE", "x"]
    ]
    assert cell_text(dt.datetime(2024, 1, 5, 14, 30)) == "2024-01-05T14:30:00"
    assert cell_text(dt.date(2024, 1, 5)) == "2024-01-05"


# --- inference -----------------------------------------------------------------------------


def assert_fever_clinic_proposal(proposal: Mapping) -> None:
    columns = {name: headers[0] for name, headers in proposal.columns.items()}
    assert columns == {
        "visit_id": "就诊号",
        "facility_id": "医院",
        "visit_time": "就诊时间",
        "patient_id": "患者ID",
        "age": "年龄",
        "sex": "性别",
        "residence_region": "现住址区县",
        "chief_complaint": "主诉",
        "temperature_c": "体温",
        "diagnosis_codes": "诊断",
        "onset_date": "发病日期",
    }
    assert proposal.unmapped == ("备注",)
    assert {"男": "M", "女": "F", "未知": "U"}.items() <= proposal.values["sex"].items()
    assert proposal.values["facility_id"] == FACILITIES
    assert proposal.values["residence_region"] == REGIONS
    assert proposal.separators == {"diagnosis_codes": "、"}
    assert proposal.missing == ("-", "不详")


def test_infer_mapping_from_the_csv(cn_store, keyword_classifier) -> None:
    proposal = infer_mapping(CSV, facilities=FACILITIES, regions=REGIONS)
    assert_fever_clinic_proposal(proposal)
    assert proposal.encoding == "gb18030" and proposal.sheet is None
    assert proposal.formats == {
        "visit_time": ("%Y/%m/%d %H:%M", "%Y/%m/%d"),
        "onset_date": ("%Y/%m/%d",),
    }
    saved = Mapping.from_toml(proposal.to_toml())
    assert ingest(cn_store, CSV, saved, keyword_classifier).accepted == 6
    assert stored(cn_store) == EXPECTED


def test_infer_mapping_from_the_xlsx(cn_store, keyword_classifier, tmp_path) -> None:
    path = write_xlsx(tmp_path / "fever.xlsx", excel_rows())
    proposal = infer_mapping(path, sheet="门诊日志", facilities=FACILITIES, regions=REGIONS)
    assert_fever_clinic_proposal(proposal)
    assert proposal.sheet == "门诊日志" and proposal.encoding is None
    assert proposal.formats["visit_time"] == ("%Y/%m/%d %H:%M", "%Y/%m/%d")
    assert ingest(cn_store, path, proposal, keyword_classifier).accepted == 6
    assert stored(cn_store) == EXPECTED


def test_infer_mapping_english_headers_and_codes(tmp_path) -> None:
    path = tmp_path / "er.csv"
    path.write_text(
        "Visit No,Hospital,Visit Date,Gender,Age (years),Chief Complaint,Temp (F),ICD-10,Ward\n"
        "1,H1,05/01/2024 14:30,male,30,fever,101.2,J10.1,3\n"
        "2,H1,13/01/2024 08:00,female,41,cough,99.1,,4\n",
        encoding="utf-8",
    )
    proposal = infer_mapping(path)
    assert proposal.columns == {
        "visit_id": ("Visit No",),
        "facility_id": ("Hospital",),
        "visit_time": ("Visit Date",),
        "age": ("Age (years)",),
        "sex": ("Gender",),
        "chief_complaint": ("Chief Complaint",),
        "temperature_c": ("Temp (F)",),
        "diagnosis_codes": ("ICD-10",),
    }
    assert proposal.formats == {"visit_time": ("%d/%m/%Y %H:%M",)}
    assert proposal.units == {"temperature_c": "F"}
    assert proposal.values["sex"]["male"] == "M" and proposal.unmapped == ("Ward",)


def test_infer_mapping_notes_what_is_missing(tmp_path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("就诊号,就诊时间,性别\nA1,2024/1/5 14:30,女\nA2,昨天,X\n", encoding="utf-8")
    proposal = infer_mapping(path)
    notes = "\n".join(proposal.notes)
    assert "facility_id: no matching header" in notes
    assert "no format parses '昨天'" in notes and "values not recognised: 'X'" in notes
    text = proposal.to_toml()
    assert '# facility_id = "..."  # required' in text
    with pytest.raises(MappingError, match="facility_id neither mapped"):
        Mapping.from_toml(text)


# --- command line --------------------------------------------------------------------------


def run(*args: object, code: int = 0):
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def _secret(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("EPIRADAR_PSEUDONYM_KEY_FILE", str(tmp_path / "key"))


@pytest.mark.usefixtures("_secret")
def test_cli_ingest_with_mapping(cn_store) -> None:
    db = cn_store.url
    result = run("ingest", CSV, "--mapping", TOML, "--db", db, "--no-progress")
    assert "6 accepted" in result.output
    bad = run("ingest", BAD, "--mapping", TOML, "--db", db, "--no-progress")
    assert "2 accepted" in bad.output and "3 rejected" in bad.output
    assert f"{BAD}: row 2: 性别: '未知X' is not in the code list" in bad.output
    assert cn_store.daily_counts().shape[0] > 0


@pytest.mark.usefixtures("_secret")
def test_cli_wrong_mapping_exits_2(cn_store, tmp_path) -> None:
    db = cn_store.url
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(TOML.read_text(encoding="utf-8").replace("就诊号", "门诊号"), encoding="utf-8")
    result = run("ingest", CSV, "--mapping", wrong, "--db", db, "--no-progress", code=2)
    assert "source header(s) not in the file: visit_id = '门诊号'" in result.output
    broken = tmp_path / "broken.toml"
    broken.write_text("[columns]\nvisit_id = \n", encoding="utf-8")
    assert "invalid TOML" in run("ingest", CSV, "--mapping", broken, "--db", db, code=2).output
    missing = run("ingest", CSV, "--mapping", tmp_path / "none.toml", "--db", db, code=2)
    assert "cannot read the mapping" in missing.output
    assert cn_store.visits_frame(None, None).empty


@pytest.mark.usefixtures("_secret")
def test_cli_infer_mapping(cn_store, tmp_path) -> None:
    printed = run("ingest", "--infer-mapping", CSV, "--db", cn_store.url)
    proposal = Mapping.from_toml(printed.stdout)
    assert proposal.values["facility_id"] == FACILITIES  # names from the database's city
    out = tmp_path / "proposed.toml"
    written = run("ingest", "--infer-mapping", CSV, "-o", out, "--db", cn_store.url)
    assert f"wrote {out}" in written.output and Mapping.from_toml(out) == proposal
    result = run("ingest", CSV, "--mapping", out, "--db", cn_store.url, "--no-progress")
    assert "6 accepted" in result.output
    nowhere = run("ingest", "--infer-mapping", CSV, "--db", f"sqlite:///{tmp_path / 'no.db'}")
    assert "values.facility_id" not in nowhere.stdout and not (tmp_path / "no.db").exists()


# --- robustness ----------------------------------------------------------------------------

HEADERS = ["就诊号", "医院", "就诊时间", "性别", "年龄", "主诉", "体温"]
cell = st.text(
    st.characters(blacklist_categories=("Cs",)),  # any text but lone surrogates
    max_size=12,
)
row = st.tuples(
    st.one_of(st.just(""), st.text("MZ0123456789", min_size=1, max_size=6), cell),
    st.one_of(st.sampled_from(["北城诊所", "南区医院"]), cell),
    st.one_of(st.sampled_from(["2024/1/5 14:30", "2024/2/30 1:00", "2024-01-05"]), cell),
    st.one_of(st.sampled_from(["男", "女", "", "未知X"]), cell),
    cell,
    cell,
    st.one_of(st.sampled_from(["37.5", "101", "-3", "38.5℃"]), cell),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=st.lists(row, max_size=12), encoding=st.sampled_from(["utf-8", "gb18030"]))
def test_random_cells_never_crash_and_every_row_is_counted(
    rows, encoding, cn_store, keyword_classifier, tmp_path_factory
) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    writer.writerows(rows)
    path = tmp_path_factory.mktemp("random") / "random.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))
    mapping = Mapping(
        columns={
            "visit_id": ("就诊号",),
            "facility_id": ("医院",),
            "visit_time": ("就诊时间",),
            "sex": ("性别",),
            "age": ("年龄",),
            "chief_complaint": ("主诉",),
            "temperature_c": ("体温",),
        },
        formats={"visit_time": ("%Y/%m/%d %H:%M",)},
        values={"sex": {"男": "M", "女": "F"}, "facility_id": FACILITIES},
        encoding=encoding,
    )
    summary = ingest(cn_store, path, mapping, keyword_classifier, chunk_rows=3, workers=1)
    n_rows = sum(any(c != "" for c in r) for r in rows)
    assert summary.accepted + summary.duplicates + summary.rejected == n_rows


def test_rejects_say_how_to_re_read_them(cn_store, mapping, keyword_classifier, tmp_path) -> None:
    canonical = tmp_path / "visits.csv"
    canonical.write_text("visit_id,facility_id,visit_time\nv1,F9,2024-01-05T08:00:00\n")
    summary = ingest(cn_store, canonical, None, keyword_classifier)
    [q] = cn_store.quarantined(run_id=summary.run_id)
    assert (q["format"], q["context"]) == ("csv", "visit_id,facility_id,visit_time")
    broken = tmp_path / "broken.csv"
    lines = CSV.read_bytes().decode("gb18030").splitlines()
    broken.write_text("\n".join([lines[0], lines[1] + ",extra"]) + "\n", encoding="gb18030")
    summary = ingest(cn_store, broken, mapping, keyword_classifier)
    [q] = cn_store.quarantined(run_id=summary.run_id)
    assert q["raw"] == lines[1] + ",extra" and q["format"] is None  # a line no mapping repairs
    assert q["context"] == mapping.to_toml() and "expected 12 fields" in q["reason"]
