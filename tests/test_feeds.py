"""Feed quality per facility and the silent-feed alert: the pure rule on synthetic hourly frames,
the use cases on both databases, the JSON API, the page, the CLI and one browser check."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from epiradar.cli_feeds import feeds_app
from epiradar.config import FeedSettings, Settings
from epiradar.service.feeds import (
    assess_feeds,
    check_silent_feeds,
    expected_arrivals,
    feed_alerts,
    feed_quality,
    history_window,
)
from epiradar.store import Store
from epiradar.store.feeds import KEY_FIELDS
from epiradar.web.app import create_app
from web_support import authorize, session_cookie

NOW = dt.datetime(2026, 3, 10, 14, 30)  # a Tuesday
WEEK = FeedSettings(history_days=7)
HOUR = dt.timedelta(hours=1)


def iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="seconds")


def steady(start: dt.datetime, stop: dt.datetime, per_hour: int = 10, hours=range(24)):
    """Arrival times: ``per_hour`` evenly spread in each clock hour of ``hours`` in [start, stop)."""
    t = start.replace(minute=0, second=0)
    out = []
    while t < stop:
        if t.hour in hours:
            out += [
                a
                for k in range(per_hour)
                if start <= (a := t + dt.timedelta(minutes=60 * k / per_hour)) < stop
            ]
        t += HOUR
    return out


def insert(
    store: Store, facility: str, arrivals: Iterable[dt.datetime], tag: str = "v", delay_h=1.0
):
    """New visits of ``facility`` first received at ``arrivals`` (visit ``delay_h`` earlier)."""
    arrivals = list(arrivals)
    run = store.start_ingest_run(f"{facility}-{tag}", "hl7")
    store.insert_visits(
        {
            "facility_id": [facility] * len(arrivals),
            "visit_id": [f"{tag}{i:06d}" for i in range(len(arrivals))],
            "visit_time": [iso(t - dt.timedelta(hours=delay_h)) for t in arrivals],
            "received_at": [iso(t) for t in arrivals],
        },
        run,
    )


def hourly_frame(facility: str, arrivals: Iterable[dt.datetime]) -> pd.DataFrame:
    """What ``Store.hourly_arrivals`` returns for these arrivals."""
    hours = pd.Series([t.strftime("%Y-%m-%dT%H") for t in arrivals], dtype=object)
    counts = hours.value_counts().sort_index()
    return pd.DataFrame({"facility_id": facility, "hour": counts.index, "count": counts.values})


# ---------------------------------------------------------------------------------------------
# the rule, on synthetic frames


def test_expected_arrivals_follows_the_hour_of_day() -> None:
    start = dt.datetime(2026, 3, 2)  # Monday, midnight
    counts = [10.0 if 8 <= h % 24 < 18 else 0.0 for h in range(7 * 24)]
    night = slice(7 * 24 + 18, 7 * 24 + 24 + 8)  # Monday 18:00 to Tuesday 08:00
    assert expected_arrivals(counts, start, slice(0, 7 * 24), night) == 0.0
    morning = slice(7 * 24 + 8, 7 * 24 + 12)
    assert expected_arrivals(counts, start, slice(0, 7 * 24), morning) == pytest.approx(40.0)


def test_steady_feed_stopping_for_five_hours_is_silent() -> None:
    arrivals = steady(NOW - dt.timedelta(days=10), NOW - 5 * HOUR)
    frame = hourly_frame("F1", arrivals)
    verdict = assess_feeds(frame, {"F1": arrivals[-1]}, NOW, FeedSettings())["F1"]
    assert verdict.silent
    assert verdict.expected == pytest.approx(40.0)  # whole hours 10:00 to 14:00
    assert verdict.hours_silent == pytest.approx(5.1)
    assert "P(none)" in verdict.detail
    shorter = assess_feeds(frame, {"F1": arrivals[-1]}, NOW - 2 * HOUR, FeedSettings())["F1"]
    assert not shorter.silent and shorter.expected is None  # 3.1 h: below silent_hours


def test_day_clinic_is_not_silent_at_night_but_is_next_morning() -> None:
    yesterday = NOW.replace(hour=0, minute=0) - dt.timedelta(days=1)
    arrivals = steady(yesterday - dt.timedelta(days=14), yesterday + 18 * HOUR, hours=range(8, 18))
    frame = hourly_frame("F1", arrivals)
    last = {"F1": arrivals[-1]}
    night = assess_feeds(frame, last, NOW.replace(hour=5, minute=50), FeedSettings())["F1"]
    assert not night.silent and night.expected == 0.0
    late = assess_feeds(frame, last, NOW.replace(hour=12, minute=30), FeedSettings())["F1"]
    assert late.silent and late.expected == pytest.approx(40.0)


def test_clinic_closed_on_sundays_is_not_silent_on_sunday() -> None:
    sunday = dt.datetime(2026, 3, 8)
    arrivals = [
        t
        for t in steady(sunday - dt.timedelta(days=28), sunday, per_hour=6, hours=range(8, 18))
        if t.weekday() != 6
    ]
    verdict = assess_feeds(
        hourly_frame("F1", arrivals), {"F1": arrivals[-1]}, sunday + 20 * HOUR, FeedSettings()
    )["F1"]
    assert not verdict.silent and verdict.expected == 0.0  # hour-of-day alone: 51


def test_too_little_history_is_not_judged() -> None:
    arrivals = steady(NOW - dt.timedelta(days=2), NOW - 6 * HOUR)
    verdict = assess_feeds(hourly_frame("F1", arrivals), {"F1": arrivals[-1]}, NOW, FeedSettings())[
        "F1"
    ]
    assert not verdict.silent and "too little history" in verdict.detail
    assert verdict.history_days == pytest.approx(43 / 24, abs=0.01)  # 14:00 to 09:00


def test_low_volume_feed_is_not_silent_below_min_expected() -> None:
    arrivals = steady(NOW - dt.timedelta(days=14), NOW - 5 * HOUR, per_hour=1)
    verdict = assess_feeds(hourly_frame("F1", arrivals), {"F1": arrivals[-1]}, NOW, FeedSettings())[
        "F1"
    ]
    assert verdict.expected == pytest.approx(4.0) and not verdict.silent


def test_silence_longer_than_the_history_and_never_sent() -> None:
    old = NOW - dt.timedelta(days=40)
    verdicts = assess_feeds(
        pd.DataFrame(columns=["facility_id", "hour", "count"]),
        {"F1": iso(old), "F2": None},
        NOW,
        WEEK,
    )
    assert verdicts["F1"].silent and "longer than the 7-day history" in verdicts["F1"].detail
    assert not verdicts["F2"].silent and verdicts["F2"].last_arrival is None


def test_history_window_is_only_needed_for_quiet_facilities() -> None:
    recent = {"F1": iso(NOW - HOUR), "F2": iso(NOW - 2 * HOUR)}
    assert history_window(recent, NOW, WEEK) is None
    quiet = recent | {"F3": iso(NOW - dt.timedelta(hours=5, minutes=10))}
    start, end = history_window(quiet, NOW, WEEK)
    assert end == NOW
    assert start == dt.datetime(2026, 3, 3, 10)  # 7 days before the silence's first hour


# ---------------------------------------------------------------------------------------------
# the use cases, on SQLite and PostgreSQL


def test_feed_quality_reports_volume_completeness_and_delay(city_store: Store) -> None:
    full = {
        "patient_key": "k",
        "age": 30.0,
        "sex": "F",
        "residence_region": "R1",
        "chief_complaint": "fever",
        "temperature_c": 38.5,
        "diagnosis_codes": ["R50.9"],
        "onset_date": "2026-03-07",
    }
    day1, day3 = dt.datetime(2026, 3, 8, 9), dt.datetime(2026, 3, 10, 9)
    rows = [
        full
        | {
            "facility_id": "F1",
            "visit_id": f"A{i}",
            "visit_time": iso(day1 - (i + 1) * HOUR),
            "received_at": iso(day1 + i * dt.timedelta(minutes=5)),
        }
        for i in range(4)
    ]
    rows += [
        full
        | {
            "facility_id": "F1",
            "visit_id": f"B{i}",
            "visit_time": iso(day3 - (i + 5) * HOUR),
            "received_at": iso(day3),
            "age": None,
            "sex": None,
            "diagnosis_codes": [],
        }
        for i in range(2)
    ]
    rows.append(
        full
        | {
            "facility_id": "F1",
            "visit_id": "OLD",
            "visit_time": "2026-03-06T10:00:00",
            "received_at": "2026-03-07T23:59:59",  # before the window
        }
    )
    rows.append(
        {
            "facility_id": "F9",
            "visit_id": "X1",
            "visit_time": "2026-03-09T08:00:00",
            "received_at": "2026-03-09T10:00:00",
        }
    )
    city_store.insert_visits(rows, city_store.start_ingest_run("rows", "hl7"))
    with city_store.message_transaction() as tx:
        tx.log_messages(
            [
                {
                    "facility_id": "F1",
                    "control_id": f"m{i}",
                    "channel": "mllp",
                    "event": "A08",
                    "message_time": None,
                    "received_at": f"2026-03-09T1{i}:00:00",
                    "visit_id": "A0",
                    "digest": f"d{i}",
                }
                for i in range(3)
            ]
        )

    q = feed_quality(city_store, days=3, now=NOW)
    assert q.start == dt.datetime(2026, 3, 8) and q.key_fields == list(KEY_FIELDS)
    by_id = {f.facility_id: f for f in q.facilities}
    assert set(by_id) == {"F1", "F2", "F9"}
    f1 = by_id["F1"]
    assert f1.name == "North clinic" and f1.registered and f1.status == "ok"
    assert [d.date.isoformat() for d in f1.days] == ["2026-03-08", "2026-03-09", "2026-03-10"]
    assert [d.visits for d in f1.days] == [4, 0, 2]
    assert [d.messages for d in f1.days] == [0, 3, 0]
    assert (f1.visits, f1.messages, f1.rejected) == (6, 3, 0)
    assert f1.completeness["patient_key"] == 1.0
    assert f1.completeness["age"] == pytest.approx(4 / 6, abs=1e-3)
    assert f1.completeness["diagnosis_codes"] == pytest.approx(4 / 6, abs=1e-3)
    # delays: 1, 2.083, 3.167, 4.25 h on day 1; 5 and 6 h on day 3
    delays = pd.Series([1, 2 + 5 / 60, 3 + 10 / 60, 4 + 15 / 60, 5, 6])
    assert f1.delay_p50_h == pytest.approx(delays.quantile(0.5), abs=0.01)
    assert f1.delay_p90_h == pytest.approx(delays.quantile(0.9), abs=0.01)
    assert f1.last_arrival == day3 and f1.hours_since == pytest.approx(5.5)
    f2 = by_id["F2"]
    assert f2.status == "never" and f2.visits == 0 and f2.last_arrival is None
    assert all(v is None for v in f2.completeness.values()) and f2.delay_p50_h is None
    f9 = by_id["F9"]
    assert not f9.registered and f9.name == "F9" and f9.visits == 1
    assert f9.delay_p50_h == pytest.approx(2.0)
    assert [f.facility_id for f in q.facilities] == ["F2", "F1", "F9"]  # never, then ok


def test_rejected_records_count_for_their_sender(city_store: Store) -> None:
    city_store.quarantine(
        [
            {
                "source": "mllp:F1",
                "record": "m1",
                "field": "PV1-44",
                "reason": "no such time",
                "raw": "MSH|...",
                "facility_id": "F1",
            }
        ]
    )
    q = feed_quality(city_store, days=2)
    f1 = next(f for f in q.facilities if f.facility_id == "F1")
    assert f1.rejected == 1 and f1.visits == 0 and f1.status == "never"


def test_silent_feed_raises_once_and_resolves_when_it_sends_again(city_store: Store) -> None:
    insert(city_store, "F1", steady(NOW - dt.timedelta(days=8), NOW - 5 * HOUR))
    insert(city_store, "F2", steady(NOW - dt.timedelta(days=8), NOW, per_hour=4))

    changes = check_silent_feeds(city_store, WEEK, now=NOW)
    assert [(c.facility_id, c.kind, c.change) for c in changes] == [("F1", "silent", "raised")]
    assert "predicts 40.0" in changes[0].detail
    assert check_silent_feeds(city_store, WEEK, now=NOW + dt.timedelta(minutes=10)) == []
    (alert,) = feed_alerts(city_store, open_only=True)
    assert alert.facility_id == "F1" and alert.is_open

    q = feed_quality(city_store, days=2, now=NOW, settings=WEEK)
    assert [(f.facility_id, f.status) for f in q.facilities] == [("F1", "silent"), ("F2", "ok")]
    assert q.facilities[0].open_alerts == [alert] and q.open_alerts == [alert]
    assert q.facilities[0].expected_in_silence == pytest.approx(40.0)

    insert(city_store, "F1", [NOW + dt.timedelta(minutes=15)], tag="again")
    changes = check_silent_feeds(city_store, WEEK, now=NOW + dt.timedelta(minutes=20))
    assert [(c.facility_id, c.change) for c in changes] == [("F1", "resolved")]
    assert feed_alerts(city_store, open_only=True) == []
    (closed,) = feed_alerts(city_store)
    assert not closed.is_open and closed.resolved_at is not None


def test_day_clinic_and_new_facility_do_not_alarm(city_store: Store) -> None:
    night = NOW.replace(hour=3, minute=0)
    last_evening = night.replace(hour=0) - dt.timedelta(hours=6)  # 18:00 yesterday
    insert(
        city_store,
        "F1",
        steady(last_evening - dt.timedelta(days=8), last_evening, hours=range(8, 18)),
    )
    insert(city_store, "F2", steady(night - dt.timedelta(days=2), night - 6 * HOUR))
    assert check_silent_feeds(city_store, WEEK, now=night) == []
    q = feed_quality(city_store, days=1, now=night, settings=WEEK)
    assert {f.facility_id: f.status for f in q.facilities} == {"F1": "ok", "F2": "ok"}
    # the day clinic is missed once its usual morning hours pass without a visit
    changes = check_silent_feeds(city_store, WEEK, now=night.replace(hour=10, minute=5))
    assert [(c.facility_id, c.change) for c in changes] == [("F1", "raised")]


# ---------------------------------------------------------------------------------------------
# web and command line (times relative to the real clock: the app judges "now")


@pytest.fixture
def silent_store(city_store: Store) -> Store:
    """F1 sent 4 visits an hour for 7 days and stopped 6 hours ago; F2 sends; one alert raised."""
    now = dt.datetime.now().replace(microsecond=0)
    insert(city_store, "F1", steady(now - dt.timedelta(days=8), now - 6 * HOUR, per_hour=4))
    insert(city_store, "F2", steady(now - dt.timedelta(days=8), now - HOUR, per_hour=4))
    assert len(check_silent_feeds(city_store, WEEK)) == 1
    return city_store


@pytest.fixture
def client(silent_store: Store) -> Iterator[TestClient]:
    settings = Settings(db=silent_store.url, pseudonym_key="k", feeds=WEEK)
    with TestClient(create_app(settings, silent_store)) as c:
        yield authorize(c, silent_store)


def test_api_feeds_and_alerts(client: TestClient) -> None:
    body = client.get("/api/feeds", params={"days": 3}).json()
    assert body["days"] == 3 and body["key_fields"] == list(KEY_FIELDS)
    facilities = {f["facility_id"]: f for f in body["facilities"]}
    assert facilities["F1"]["status"] == "silent" and facilities["F2"]["status"] == "ok"
    assert len(facilities["F1"]["days"]) == 3
    assert facilities["F2"]["delay_p50_h"] == pytest.approx(1.0)
    assert facilities["F2"]["completeness"]["age"] == 0.0
    assert [a["facility_id"] for a in body["open_alerts"]] == ["F1"]
    alerts = client.get("/api/feeds/alerts").json()
    assert [(a["facility_id"], a["kind"], a["is_open"]) for a in alerts] == [("F1", "silent", True)]
    assert len(client.get("/api/feeds/alerts", params={"open": "true"}).json()) == 1
    assert client.get("/api/feeds", params={"days": 0}).status_code == 422
    assert "/api/feeds" in client.get("/api/openapi.json").json()["paths"]


def test_feeds_page_lists_facilities_and_open_alerts(client: TestClient) -> None:
    html = client.get("/feeds").text
    assert 'data-facility="F1" data-status="silent"' in html
    assert 'data-facility="F2" data-status="ok"' in html
    assert 'id="feed-alerts"' in html and 'id="feed-volume-data"' in html
    assert 'class="num pct pct-low" data-field="age">0%' in html
    assert 'href="/feeds" aria-current="page">Feeds' in html


def _cli(*args: str) -> str:
    result = CliRunner().invoke(feeds_app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli_status_and_check(silent_store: Store, monkeypatch) -> None:
    monkeypatch.setenv("EPIRADAR_FEEDS__HISTORY_DAYS", "7")
    db = silent_store.url
    status = json.loads(_cli("status", "--days", "2", "--json", "--db", db))
    assert {f["facility_id"]: f["status"] for f in status["facilities"]} == {
        "F1": "silent",
        "F2": "ok",
    }
    table = _cli("status", "--db", db)
    assert "F1 North clinic" in table and "silent" in table
    assert json.loads(_cli("check", "--json", "--db", db)) == []  # raised already
    alerts = json.loads(_cli("alerts", "--json", "--db", db))
    assert [a["facility_id"] for a in alerts] == ["F1"]


# ---------------------------------------------------------------------------------------------
# browser


@pytest.mark.browser
def test_feeds_page_in_the_browser(tmp_path: Path, small_city) -> None:
    from playwright import sync_api

    from web_support import live_server

    chromium = os.environ.get("EPIRADAR_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.fail(f"Chromium not found at {chromium} (set EPIRADAR_CHROMIUM)")
    store = Store(f"sqlite:///{tmp_path / 'feeds.db'}")
    store.migrate()
    store.load_city(small_city.regions, small_city.facilities, [], [])
    now = dt.datetime.now().replace(microsecond=0)
    insert(store, "F1", steady(now - dt.timedelta(days=3), now, per_hour=2))
    settings = Settings(db=store.url, pseudonym_key="k")
    errors: list[str] = []
    with live_server(create_app(settings, store)) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context()
        context.add_cookies([session_cookie(store, url)])
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(url) else errors.append(r.url))
        page.goto(f"{url}/feeds")
        page.wait_for_selector("#feed-volume[data-rendered='true']", state="attached")
        assert page.locator("#feed-volume .barlayer .point").count() > 0
        assert page.locator("#feeds tbody tr").count() == 2
        assert page.locator("#feeds tbody tr[data-facility='F1'] svg.spark rect").count() == 14
        browser.close()
    store.close()
    assert errors == []
