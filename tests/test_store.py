"""Store: migrations, city, visits and duplicates, daily counts, alerts (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from epiradar.model import SYNDROMES, Alert, AlertStatus, Severity, Signal, Syndrome
from epiradar.store import Store
from epiradar.store.migrate import head_revision
from epiradar.store.schema import metadata


def visit(visit_id: str, facility: str = "F1", day: str = "2024-03-01", **extra) -> dict:
    return {"visit_id": visit_id, "facility_id": facility, "visit_time": f"{day}T10:00:00"} | extra


def test_migrate_empty_database_matches_schema(empty_store: Store) -> None:
    empty_store.migrate()
    with empty_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert empty_store.schema_revision() == head_revision()


def test_migrate_twice_is_a_no_op(city_store: Store) -> None:
    tables = sorted(inspect(city_store.engine).get_table_names())
    city_store.migrate()
    assert sorted(inspect(city_store.engine).get_table_names()) == tables
    assert len(city_store.regions()) == 4


def test_sqlite_pragmas(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    store.close()


def test_city_round_trip_and_replace(city_store: Store, small_city) -> None:
    assert city_store.regions() == small_city.regions
    assert city_store.facilities() == small_city.facilities
    assert city_store.places() == small_city.places
    assert city_store.mobility() == small_city.mobility
    city_store.load_city(small_city.regions[:1], [], [], [])
    assert [r.id for r in city_store.regions()] == ["R1"]
    assert city_store.facilities() == [] and city_store.mobility() == []


def test_insert_visits_counts_duplicates_within_and_across_calls(city_store: Store) -> None:
    run = city_store.start_ingest_run("a.csv", "csv")
    rows = [visit("1"), visit("2"), visit("1", age=99.0), visit("1", facility="F2")]
    assert city_store.insert_visits(rows, run) == (3, 1)
    assert city_store.insert_visits([visit("2"), visit("3")], run) == (1, 1)
    frame = city_store.visits_frame(None, None)
    assert sorted(zip(frame.facility_id, frame.visit_id, strict=True)) == [
        ("F1", "1"),
        ("F1", "2"),
        ("F1", "3"),
        ("F2", "1"),
    ]
    first = frame[(frame.facility_id == "F1") & (frame.visit_id == "1")]
    assert first["age"].isna().all()  # the first occurrence wins


def test_exposures_written_for_inserted_visits_only(city_store: Store) -> None:
    run = city_store.start_ingest_run("a.csv", "csv")
    exposures = [{"place_id": "P1", "date": "2024-02-28"}, {"place_id": "P2", "date": None}]
    city_store.insert_visits([visit("1", exposures=exposures)], run)
    assert city_store.insert_visits([visit("1", exposures=[{"place_id": "P9"}])], run) == (0, 1)
    frame = city_store.visits_frame(None, None)
    got = city_store.exposures_frame(frame["id"].tolist())
    assert got[["place_id", "exposure_date"]].values.tolist() == [
        ["P1", dt.date(2024, 2, 28)],
        ["P2", None],
    ]
    assert (got["visit_pk"] == frame["id"].iloc[0]).all()
    assert frame["exposures"].iloc[0] == exposures


def test_visits_frame_filters(city_store: Store) -> None:
    run = city_store.start_ingest_run("a.csv", "csv")
    rows = [
        visit("1", day="2024-03-01", residence_region="R1", syndrome_mask=Syndrome.FEVER.bit),
        visit("2", day="2024-03-02", residence_region="R2", syndrome_mask=Syndrome.ILI.bit),
        visit("3", day="2024-03-03", residence_region="R1", diagnosis_codes=["J10.1"]),
    ]
    city_store.insert_visits(rows, run)
    assert city_store.visit_date_range() == (dt.date(2024, 3, 1), dt.date(2024, 3, 3))
    frame = city_store.visits_frame(dt.date(2024, 3, 2), "2024-03-03")
    assert frame["visit_id"].tolist() == ["2", "3"]
    assert frame["visit_date"].tolist() == [dt.date(2024, 3, 2), dt.date(2024, 3, 3)]
    assert frame["diagnosis_codes"].tolist() == [[], ["J10.1"]]
    assert city_store.visits_frame(None, None, region_ids=["R1"])["visit_id"].tolist() == ["1", "3"]
    fever = city_store.visits_frame(None, None, syndrome=Syndrome.FEVER)
    assert fever["visit_id"].tolist() == ["1"] and fever["syndromes"].iloc[0] == [Syndrome.FEVER]
    pk = int(frame["id"].iloc[0])
    assert city_store.visits_frame(None, None, visit_pks=[pk])["visit_id"].tolist() == ["2"]


def test_daily_counts_match_pandas(city_store: Store) -> None:
    rng = np.random.default_rng(7)
    n = 600
    regions = np.array(["R1", "R2", "R3", None], dtype=object)[rng.integers(0, 4, n)]
    days = [f"2024-03-{d:02d}" for d in rng.integers(1, 11, n)]
    masks = rng.integers(0, 1 << len(SYNDROMES), n)
    rows = [
        visit(str(i), day=days[i], residence_region=regions[i], syndrome_mask=int(masks[i]))
        for i in range(n)
    ]
    run = city_store.start_ingest_run("a.csv", "csv")
    city_store.insert_visits(rows, run)
    city_store.refresh_daily_counts()
    frame = pd.DataFrame({"date": days, "region_id": [r or "" for r in regions], "mask": masks})
    expected = [frame.assign(syndrome="all")]
    for s in SYNDROMES:
        expected.append(frame[(frame["mask"] & s.bit) != 0].assign(syndrome=str(s)))
    want = (
        pd.concat(expected)
        .groupby(["date", "region_id", "syndrome"])
        .size()
        .rename("count")
        .reset_index()
    )
    got = city_store.daily_counts()
    got["date"] = got["date"].map(dt.date.isoformat)
    key = ["date", "region_id", "syndrome"]
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True),
        want.sort_values(key).reset_index(drop=True).astype({"count": "int64"}),
        check_dtype=False,
    )
    # a partial refresh only touches its dates
    city_store.insert_visits([visit("new", day="2024-03-05"), visit("late", day="2024-03-09")], run)
    city_store.refresh_daily_counts(["2024-03-05"])
    after = city_store.daily_counts("2024-03-05", "2024-03-09")
    totals = after[(after.syndrome == "all") & (after.region_id == "")].set_index("date")["count"]
    before = want[(want.syndrome == "all") & (want.region_id == "")].set_index("date")["count"]
    assert totals[dt.date(2024, 3, 5)] == before.get("2024-03-05", 0) + 1
    assert totals.get(dt.date(2024, 3, 9), 0) == before.get("2024-03-09", 0)
    assert city_store.daily_counts("2024-03-02", "2024-03-02")["date"].eq(dt.date(2024, 3, 2)).all()


def _alert(alert_id: str, first: str, **extra) -> Alert:
    day = dt.date.fromisoformat(first)
    return Alert(
        id=alert_id,
        syndrome=Syndrome.ILI,
        region_ids=["R1", "R2"],
        start_date=day,
        end_date=day + dt.timedelta(days=1),
        first_alarm_date=day,
        observed=12,
        expected=3.5,
        p_value=1e-5,
        severity=Severity.HIGH,
        detector="C2",
    ).model_copy(update=extra)


def _signal(day: str, region: str | None = "R1") -> Signal:
    return Signal(
        date=dt.date.fromisoformat(day),
        region_id=region,
        syndrome=Syndrome.ILI,
        detector="C2",
        observed=7,
        expected=2,
        upperbound=5.5,
        p_value=1e-4,
    )


def test_alerts_round_trip_and_replace(store: Store) -> None:
    a1, a2 = _alert("a1", "2024-03-01"), _alert("a2", "2024-03-10", region_ids=[], p_value=0.01)
    s1, s2, s3 = _signal("2024-03-01"), _signal("2024-03-02", None), _signal("2024-03-10")
    store.replace_alerts([a1, a2], [("a1", s1), ("a1", s2), ("a2", s3)], "2024-03-01", "2024-03-31")
    assert store.alert("a1") == a1
    assert store.alert("missing") is None
    assert store.alert_signals("a1") == [s1, s2]
    assert [a.id for a in store.alerts()] == ["a2", "a1"]
    assert store.alerts(syndrome=Syndrome.FEVER) == []
    assert store.set_alert_status("a1", AlertStatus.INVESTIGATING)
    assert [a.id for a in store.alerts(status="investigating")] == ["a1"]
    # re-detection of the window keeps a user's status, drops alerts that vanished
    store.replace_alerts(
        [_alert("a1", "2024-03-01", observed=13)], [("a1", s1)], "2024-03-01", "2024-03-05"
    )
    again = store.alert("a1")
    assert again is not None and again.observed == 13 and again.status == AlertStatus.INVESTIGATING
    assert store.alert_signals("a1") == [s1]
    assert store.alert("a2") is not None  # outside the replaced window
    store.replace_alerts([], [], "2024-03-06", "2024-03-31")
    assert store.alert("a2") is None and store.alert_signals("a2") == []


def test_quarantine_and_ingest_runs(store: Store) -> None:
    run = store.start_ingest_run("v.csv", "csv")
    store.quarantine(
        [
            {
                "ingest_run_id": run,
                "source": "v.csv",
                "record": "3",
                "field": "age",
                "reason": "not a number",
                "raw": "x,y,z",
            }
        ]
    )
    store.finish_ingest_run(run, 5, 1, 1)
    [q] = store.quarantined()
    assert (q["record"], q["field"], q["raw"], q["ingest_run_id"]) == ("3", "age", "x,y,z", run)
    info = store.ingest_run(run)
    assert info is not None
    assert (info["accepted"], info["duplicates"], info["rejected"]) == (5, 1, 1)
    assert info["finished_at"] is not None
