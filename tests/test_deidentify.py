"""share.deidentify: generalisation hierarchies, the k-anonymity lattice search, the release."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epiradar.model import Syndrome, mask_of
from epiradar.share import deidentify as d
from epiradar.share.deidentify import (
    HIERARCHIES,
    QI_COLUMNS,
    SUPPRESSED,
    AnonymityError,
    age_band,
    anonymise,
    period,
    plan,
)

DAY0 = dt.date(2025, 12, 20)
DISTRICT_OF = {"R1": "D1", "R2": "D1", "R3": "D2", "R4": "R4"}
FACILITY_DISTRICT = {"F1": "D1", "F2": "D2", "F3": "D2"}


COLUMNS = [
    "id", "facility_id", "visit_id", "visit_time", "visit_date", "patient_key", "age", "sex",
    "residence_region", "residence_lat", "residence_lon", "chief_complaint", "temperature_c",
    "diagnosis_codes", "onset_date", "exposures", "contacts", "lab_result", "patient_class",
    "disposition", "discharge_time", "syndrome_mask", "classifier_version", "ingest_run_id",
    "received_at", "updated_at", "message_time",
]  # fmt: skip


def frame(rows: list[dict]) -> pd.DataFrame:
    """Visits in the columns of ``Store.visits_frame`` (object columns, None for unknown)."""
    out = []
    for i, r in enumerate(rows):
        out.append(
            {
                "id": i + 1,
                "facility_id": r.get("facility", "F1"),
                "visit_id": f"VISIT-{i:05d}",
                "visit_time": f"{r['date'].isoformat()}T10:{i % 60:02d}:00",
                "visit_date": r["date"],
                "patient_key": r.get("patient", f"PATIENTKEY{i:06d}"),
                "age": r.get("age"),
                "sex": r.get("sex"),
                "residence_region": r.get("region"),
                "residence_lat": 22.5,
                "residence_lon": 114.1,
                "chief_complaint": f"complaint of patient {i}",
                "temperature_c": r.get("temp"),
                "diagnosis_codes": ["A09"],
                "onset_date": r.get("onset"),
                "exposures": [{"place_id": "P1", "date": "2026-01-01"}],
                "contacts": ["CONTACTKEY0001"],
                "lab_result": r.get("lab"),
                "patient_class": "outpatient",
                "disposition": "discharged",
                "discharge_time": None,
                "syndrome_mask": r.get("mask", 0),
                "classifier_version": "v1",
                "ingest_run_id": 1,
                "received_at": "2026-01-01T00:00:00",
                "updated_at": None,
                "message_time": None,
            }
        )
    result = pd.DataFrame(out, columns=COLUMNS).astype(object)
    result["id"] = result["id"].astype("int64")
    result["syndrome_mask"] = result["syndrome_mask"].astype("int64")
    result["age"] = result["age"].astype(float)
    result["temperature_c"] = result["temperature_c"].astype(float)
    return result


visit_rows = st.lists(
    st.fixed_dictionaries(
        {
            "date": st.dates(DAY0, DAY0 + dt.timedelta(days=60)),
            "age": st.one_of(st.none(), st.integers(0, 104).map(float)),
            "sex": st.sampled_from(["F", "M", None]),
            "region": st.sampled_from(["R1", "R2", "R3", "R4", None]),
            "onset": st.one_of(st.none(), st.dates(DAY0 - dt.timedelta(days=7), DAY0)),
            "facility": st.sampled_from(["F1", "F2", "F3"]),
            "patient": st.sampled_from([f"PATIENTKEY{i:06d}" for i in range(30)]),
            "mask": st.integers(0, 15),
            "temp": st.one_of(st.none(), st.floats(35.0, 41.5)),
        }
    ),
    min_size=0,
    max_size=120,
)
qi_sets = st.lists(st.sampled_from(list(HIERARCHIES)), min_size=1, max_size=6, unique=True)


def _classes_at(visits: pd.DataFrame, qis, node) -> np.ndarray:
    """Class sizes at a lattice node, recomputed independently with pandas groupby."""
    gen = {
        q: d._generaliser(
            q, top_age=80, district_of=DISTRICT_OF, facility_district=FACILITY_DISTRICT
        )
        for q in qis
    }
    keys = pd.DataFrame(
        {
            q: [
                str(gen[q](None if pd.isna(v) else v, HIERARCHIES[q][lvl]))
                for v in visits[d._SOURCE[q]]
            ]
            for q, lvl in zip(qis, node, strict=True)
        }
    )
    return keys.groupby(list(qis), dropna=False).size().to_numpy()


def _fits(visits, qis, node, k, limit) -> bool:
    sizes = _classes_at(visits, qis, node)
    suppressed = int(sizes[sizes < k].sum())
    return suppressed <= int(np.floor(limit * len(visits) + 1e-9)) and suppressed < len(visits)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=visit_rows, k=st.integers(2, 8), limit=st.sampled_from([0.0, 0.05, 0.2]), qis=qi_sets)
def test_release_is_k_anonymous_minimal_and_keeps_no_identifier(rows, k, limit, qis) -> None:
    visits = frame(rows)
    qis = d.check_quasi_identifiers(qis)
    kwargs = dict(
        k=k,
        max_suppression=limit,
        quasi_identifiers=qis,
        district_of=DISTRICT_OF,
        facility_district=FACILITY_DISTRICT,
    )
    try:
        release = anonymise(visits, pseudonyms=True, rng=np.random.default_rng(0), **kwargs)
    except AnonymityError as exc:
        # refused: no node of the lattice reaches k within the limit
        assert exc.report is not None and not exc.report.releasable
        assert all(not _fits(visits, qis, node, k, limit) for node in d.lattice(qis))
        assert plan(visits, **kwargs).releasable is False
        return
    out, report = release.frame, release.report
    assert report == plan(visits, **kwargs)
    # every released combination of quasi-identifiers occurs at least k times
    qi_cols = [QI_COLUMNS[q] for q in qis]
    sizes = out.groupby(qi_cols, dropna=False).size()
    assert (sizes >= k).all() and int(sizes.min()) == report.k_achieved
    assert len(sizes) == report.classes
    # released + suppressed == input, within the limit
    assert len(out) == report.records_released
    assert report.records_released + report.records_suppressed == len(visits)
    assert report.records_suppressed <= limit * len(visits) + 1e-9
    # no direct identifier: neither the columns nor their values
    assert set(out.columns) == set(d.columns_of(qis, pseudonyms=True))
    text = [str(v) for v in out.to_numpy().ravel()]
    for value in [*visits["patient_key"], *visits["visit_id"], *visits["visit_time"]]:
        assert value not in text
    assert not any("complaint" in t or "CONTACT" in t or "PATIENTKEY" in t for t in text)
    # the chosen node is minimal: lowering any one quasi-identifier breaks k or the limit
    node = tuple(HIERARCHIES[q].index(report.levels[q]) for q in qis)
    assert _fits(visits, qis, node, k, limit)
    for i in range(len(qis)):
        if node[i] > 0:
            lower = node[:i] + (node[i] - 1,) + node[i + 1 :]
            assert not _fits(visits, qis, lower, k, limit), (node, lower)


@settings(max_examples=25, deadline=None)
@given(rows=visit_rows.filter(lambda r: len(r) >= 10))
def test_pseudonyms_link_visits_of_one_patient_within_a_file_only(rows) -> None:
    visits = frame(rows)
    kwargs = dict(k=2, max_suppression=0.5, quasi_identifiers=["visit"])
    first = anonymise(visits, pseudonyms=True, **kwargs).frame
    second = anonymise(visits, pseudonyms=True, **kwargs).frame
    # as many pseudonyms as distinct patients among the released rows, never a patient key
    assert first["person"].nunique() <= visits["patient_key"].nunique()
    assert not set(first["person"]) & set(visits["patient_key"])
    # a new salt per file: the two files share no pseudonym
    assert not set(first["person"]) & set(second["person"])
    assert "person" not in anonymise(visits, **kwargs).frame.columns


def test_one_patient_keeps_one_pseudonym_in_a_file() -> None:
    rows = [{"date": DAY0, "patient": "PATIENTKEY000001"} for _ in range(3)] + [
        {"date": DAY0, "patient": "PATIENTKEY000002"} for _ in range(2)
    ]
    out = anonymise(frame(rows), k=2, quasi_identifiers=["visit"], pseudonyms=True).frame
    assert sorted(out["person"].value_counts().tolist()) == [2, 3]


# ---------------------------------------------------------------------------------------------
# hand cases


@pytest.mark.parametrize(
    ("age", "level", "band"),
    [
        (0.0, "5y", "0-4"),
        (4.9, "5y", "0-4"),
        (5.0, "5y", "5-9"),
        (79.0, "5y", "75-79"),
        (80.0, "5y", "80+"),
        (103.0, "10y", "80+"),
        (39.0, "10y", "30-39"),
        (39.0, "20y", "20-39"),
        (60.0, "20y", "60-79"),
        (35.0, SUPPRESSED, SUPPRESSED),
        (None, "10y", None),
        (None, SUPPRESSED, SUPPRESSED),
    ],
)
def test_age_bands(age, level, band) -> None:
    assert age_band(age, level) == band


def test_open_top_band_follows_the_setting() -> None:
    assert age_band(65.0, "10y", top=65) == "65+"
    assert age_band(64.0, "20y", top=65) == "60-64"


@pytest.mark.parametrize(
    ("day", "week", "month"),
    [
        (dt.date(2020, 12, 31), "2020-W53", "2020-12"),
        (dt.date(2021, 1, 1), "2020-W53", "2021-01"),
        (dt.date(2021, 1, 4), "2021-W01", "2021-01"),
        (dt.date(2024, 12, 30), "2025-W01", "2024-12"),
        (dt.date(2026, 1, 1), "2026-W01", "2026-01"),
        (dt.date(2027, 1, 3), "2026-W53", "2027-01"),
        (dt.date(2026, 3, 31), "2026-W14", "2026-03"),
    ],
)
def test_iso_weeks_at_year_boundaries(day, week, month) -> None:
    assert period(day, "week") == week
    assert period(day, "month") == month
    assert period(None, "week") is None and period(day, SUPPRESSED) == SUPPRESSED


def test_temperature_bands_and_unknowns() -> None:
    temps = pd.Series([36.8, 37.5, 37.99, 38.0, 38.95, 39.0, 41.0, None])
    assert d.temperature_band(temps).tolist() == [
        "<37.5",
        "37.5-37.9",
        "37.5-37.9",
        "38.0-38.9",
        "38.0-38.9",
        ">=39.0",
        ">=39.0",
        None,
    ]


def test_district_is_the_parent_and_facility_can_be_generalised() -> None:
    rows = [
        {"date": DAY0, "region": r, "facility": f}
        for r, f in [("R1", "F1"), ("R2", "F1"), ("R3", "F2"), ("R4", "F3")] * 3
    ]
    out = anonymise(
        frame(rows),
        k=3,
        max_suppression=0.0,
        quasi_identifiers=["district", "facility"],
        district_of=DISTRICT_OF,
        facility_district=FACILITY_DISTRICT,
    )
    # R1 and R2 merge into D1 (6 visits); R3 and R4 keep 3 each; F1..F3 stay (>= 3 each)
    assert out.report.levels == {"district": "district", "facility": "facility"}
    assert sorted(out.frame["district"].unique()) == ["D1", "D2", "R4"]
    assert out.frame.groupby(["district", "facility"]).size().min() == 3


def test_least_loss_node_is_chosen_and_reported() -> None:
    # 40 visits, 10 of each age: 10-year bands pair 31 with 38 and 52 with 57 into classes of 20
    rows = [
        {"date": DAY0 + dt.timedelta(days=i % 2), "age": a, "sex": "F", "mask": i % 3}
        for i, a in enumerate([31.0, 38.0, 52.0, 57.0] * 10)
    ]
    out = anonymise(frame(rows), k=20, max_suppression=0.0, quasi_identifiers=["age", "sex"])
    report = out.report
    assert report.levels == {"age": "10y", "sex": "sex"}
    assert report.k_achieved == 20 and report.classes == 2
    assert report.records_released == 40 and report.records_suppressed == 0
    assert report.l_diversity == 3
    assert sorted(out.frame["age_band"].unique()) == ["30-39", "50-59"]
    assert out.frame["syndrome_fever"].dtype == bool


def test_small_classes_are_suppressed_within_the_limit() -> None:
    rows = [{"date": DAY0, "region": "R1"} for _ in range(19)] + [{"date": DAY0, "region": "R4"}]
    out = anonymise(
        frame(rows),
        k=5,
        max_suppression=0.05,
        quasi_identifiers=["district"],
        district_of=DISTRICT_OF,
    )
    assert out.report.levels == {"district": "district"}
    assert out.report.records_suppressed == 1 and out.report.records_released == 19
    assert out.frame["district"].unique().tolist() == ["D1"]
    # no suppression allowed: the district has to go
    strict = anonymise(frame(rows), k=5, max_suppression=0.0, quasi_identifiers=["district"])
    assert strict.report.levels == {"district": SUPPRESSED} and len(strict.frame) == 20


def test_refusal_says_what_would_help() -> None:
    rows = [{"date": DAY0 + dt.timedelta(days=40 * i)} for i in range(3)]
    with pytest.raises(AnonymityError) as caught:
        anonymise(frame(rows), k=2, quasi_identifiers=["visit"])
    message = str(caught.value)
    assert "k = 2 cannot be reached" in message and "a longer period" in message
    assert "lower k" in message and caught.value.report.records_released == 0
    with pytest.raises(AnonymityError, match="only 3 visit"):
        anonymise(frame(rows), k=5)
    with pytest.raises(AnonymityError, match="no visits match"):
        anonymise(frame([]), k=5)


def test_bad_parameters_are_named() -> None:
    visits = frame([{"date": DAY0}])
    with pytest.raises(ValueError, match="quasi_identifiers: unknown 'postcode'"):
        plan(visits, k=2, quasi_identifiers=["postcode"])
    with pytest.raises(ValueError, match="max_suppression"):
        plan(visits, k=2, max_suppression=1.0)
    with pytest.raises(ValueError, match="k: must be at least 1"):
        plan(visits, k=0)


def test_rows_are_shuffled_within_periods() -> None:
    fever = mask_of([Syndrome.FEVER])
    rows = [
        {"date": DAY0 + dt.timedelta(days=7 * (i // 50)), "mask": fever if i % 2 else 0}
        for i in range(200)
    ]
    out = anonymise(frame(rows), k=2, quasi_identifiers=["visit"], rng=np.random.default_rng(3))
    assert out.frame["visit_period"].is_monotonic_increasing
    alternating = np.arange(50) % 2 == 1  # the input order within the first week
    assert (out.frame["syndrome_fever"].to_numpy()[:50] != alternating).any()
    assert out.frame.index.tolist() == list(range(200))


def test_large_frames_are_planned_with_few_nodes() -> None:
    rng = np.random.default_rng(5)
    n = 200_000
    days = np.array([DAY0 + dt.timedelta(days=int(i)) for i in range(90)], dtype=object)
    visits = pd.DataFrame(
        {
            "age": rng.integers(0, 95, n).astype(float),
            "sex": rng.choice(np.array(["F", "M"], dtype=object), n),
            "visit_date": days[rng.integers(0, 90, n)],
            "onset_date": days[rng.integers(0, 90, n)],
            "residence_region": rng.choice(np.array(["R1", "R2", "R3", "R4"], dtype=object), n),
            "facility_id": rng.choice(np.array(["F1", "F2", "F3"], dtype=object), n),
            "syndrome_mask": rng.integers(0, 8, n),
        }
    )
    report = plan(visits, k=5, district_of=DISTRICT_OF)
    assert report.releasable and report.records_in == n
    assert report.nodes_checked < report.lattice_size
