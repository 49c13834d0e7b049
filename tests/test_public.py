"""The public dashboard and open data: suppressed aggregates, risk levels, CSV schema, access
without login."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from epiradar.cli import app as cli_app
from epiradar.config import Settings
from epiradar.config_share import PublicSettings
from epiradar.model import Region, Syndrome
from epiradar.service import public
from epiradar.share.risk import RiskRule, Trend, assess
from epiradar.share.suppression import audit_with_daily
from epiradar.store import Store
from epiradar.web.app import create_app
from web_support import (
    END,
    OUTBREAK_ALERT,
    OUTBREAK_REGIONS,
    Dataset,
    _visit,
    authorize,
    build_dataset,
    fill_store,
    verify_outbreak,
)

MIN = 10


def small(value) -> bool:
    return value is not None and 0 < int(value) < MIN


def truth(store: Store, agg: public.PublicAggregates, syndrome: str):
    """The unsuppressed district x week table and city daily series behind a publication."""
    frame = store.daily_counts(agg.start, agg.end)
    frame = frame[frame["syndrome"] == syndrome].copy()
    region_to = {r: d.id for d in agg.districts for r in d.region_ids}
    frame["district"] = [region_to.get(r or "", public.UNKNOWN) for r in frame["region_id"]]
    frame["week"] = [public.iso_week(d) for d in frame["date"]]
    data = agg.syndromes[syndrome]
    weekly = (
        frame.groupby(["district", "week"])["count"].sum().unstack(fill_value=0)
        .reindex(index=data.district_ids, columns=data.weeks, fill_value=0)
    )  # fmt: skip
    days = [agg.start + dt.timedelta(days=i) for i in range((agg.end - agg.start).days + 1)]
    index = pd.Index(days, dtype=object)
    daily = frame.groupby("date")["count"].sum().reindex(index, fill_value=0)
    period = pd.Series([public.iso_week(d) for d in days], index=index)
    return weekly, daily, period


def add_week(store: Store, start: dt.date, days: int, per_day: int, first_id: int) -> None:
    """Visits of every region for ``days`` days from ``start`` (new data arriving)."""
    rng = np.random.default_rng(first_id)
    regions = store.regions()
    rows, i = [], first_id
    for d in range(days):
        day = start + dt.timedelta(days=d)
        for region in regions:
            for _ in range(per_day):
                rows.append(_visit(i, day, region, [Syndrome.ILI], [], rng))
                i += 1
    run = store.start_ingest_run("late.csv", "csv")
    store.insert_visits(rows, run)
    store.refresh_daily_counts()


# --- service (SQLite and PostgreSQL) ----------------------------------------------------------


def test_published_aggregates_hold_no_small_count_and_withstand_the_attack(store: Store) -> None:
    fill_store(store)
    verify_outbreak(store)
    settings = Settings(db=store.url)
    agg = public.aggregates(store, settings)
    # complete ISO weeks only: END is a Tuesday, so the last week ends the Sunday before
    assert agg.end == dt.date(2026, 3, 29) and agg.end.isoweekday() == 7
    assert agg.start.isoweekday() == 1 and len(agg.weeks) == 12
    assert agg.last_date == END
    rows = public.rows(agg)
    assert rows and not [r for r in rows if small(r["count"])]
    assert any(r["suppressed"] for r in rows) and any(not r["suppressed"] for r in rows)
    assert all((r["count"] is None) == r["suppressed"] for r in rows)
    for syndrome in ("gastrointestinal", "ili", "neurological"):
        weekly, daily, period = truth(store, agg, syndrome)
        published = agg.syndromes[syndrome].published
        # shown numbers are the true ones: cells, city weekly totals, city days
        shown = published.weekly.counts.notna()
        assert (published.weekly.counts[shown] == weekly[shown]).all().all()
        city = published.weekly.column_totals.dropna()
        assert (city == weekly.sum(axis=0)[city.index]).all()
        assert (published.daily.dropna() == daily[published.daily.dropna().index]).all()
        attack = audit_with_daily(weekly, daily, period, published)
        assert attack["protected"].all(), attack[~attack["protected"]]
    # visits of unknown residence count for the city, in their own row
    assert agg.syndromes["fever"].district_ids[-1] == public.UNKNOWN


def test_new_data_gives_a_fresh_consistent_publication(store: Store) -> None:
    fill_store(store)
    verify_outbreak(store)
    settings = Settings(db=store.url)
    before = public.aggregates(store, settings)
    assert public.aggregates(store, settings) is before  # cached
    # late data inside a published week, then a new complete week
    add_week(store, dt.date(2026, 3, 23), 1, 2, 800_000)
    late = public.aggregates(store, settings)
    assert late is not before and late.end == before.end
    w13 = "2026-W13"
    assert late.syndromes["ili"].city_weekly[w13] != before.syndromes["ili"].city_weekly[w13]
    add_week(store, END + dt.timedelta(days=1), 5, 2, 900_000)
    after = public.aggregates(store, settings)
    assert after.end == dt.date(2026, 4, 5) and after.weeks[-1] == "2026-W14"
    assert len(after.weeks) == 12 and after.weeks[0] == before.weeks[1]
    assert not [r for r in public.rows(after) if small(r["count"])]
    weekly, daily, period = truth(store, after, "ili")
    attack = audit_with_daily(weekly, daily, period, after.syndromes["ili"].published)
    assert attack["protected"].all()


def test_regions_group_into_districts_by_parent(store: Store) -> None:
    fill_store(store)
    verify_outbreak(store)
    regions = [
        Region(
            id=r.id,
            name=r.name,
            population=r.population,
            geometry=r.geometry,
            parent_id="North" if int(r.id[1:]) <= 6 else "South",
        )
        for r in store.regions()
    ]
    store.load_city(regions, store.facilities(), store.places(), [])
    settings = Settings(db=store.url, public=PublicSettings(district_names={"North": "Northside"}))
    dists = public.districts(store.regions(), settings.public)
    assert [(d.id, d.name, len(d.region_ids)) for d in dists] == [
        ("North", "Northside", 6),
        ("South", "South", 6),
    ]
    assert dists[0].geometry["type"] == "Polygon"  # six adjacent squares merge
    assert dists[0].population == sum(r.population for r in regions[:6])
    agg = public.aggregates(store, settings)
    assert agg.syndromes["ili"].district_ids == ["North", "South", public.UNKNOWN]
    report = public.risk(store, settings)
    levels = {r.district.id: r.assessment.level for r in report.districts}
    assert levels["North"] == "very_high"  # the open high-severity alert in R05, R06


def test_only_verified_alerts_raise_the_public_risk(store: Store) -> None:
    fill_store(store)  # the outbreak alert is still a new, unverified statistical signal
    settings = Settings(db=store.url)

    def level(region: str) -> str:
        found = public.risk(store, settings).districts
        return next(r.assessment.level for r in found if r.district.id == region)

    quiet = level("R05")
    assert quiet in ("low", "moderate")  # at most the visits' trend
    for status, expected in (("verifying", quiet), ("investigating", "very_high")):
        store.set_alert_status(OUTBREAK_ALERT, status)
        assert level("R05") == expected, status
    store.set_alert_status(OUTBREAK_ALERT, "discarded")  # verification found nothing
    assert level("R05") == quiet


def test_a_store_without_data_publishes_nothing(store: Store) -> None:
    settings = Settings(db=store.url)
    agg = public.aggregates(store, settings)
    assert agg.syndromes == {} and agg.weeks == [] and public.rows(agg) == []
    with TestClient(create_app(settings, store)) as c:
        page = c.get("/public")
        assert page.status_code == 200 and "No complete week of data" in page.text
        assert c.get("/api/open/aggregates").json()["rows"] == []
        assert c.get("/api/open/risk").json()["districts"] == []


def test_rows_filters_and_errors() -> None:
    with pytest.raises(ValueError, match="ISO week"):
        public.week_start("2026-13")
    assert public.week_start("2026-W05") == dt.date(2026, 1, 26)
    assert public.published_window(dt.date(2026, 3, 3), dt.date(2026, 3, 4), 12) is None
    assert public.published_window(dt.date(2026, 1, 1), dt.date(2026, 3, 29), 2) == (
        dt.date(2026, 3, 16),
        dt.date(2026, 3, 29),
    )


# --- risk rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severities", "recent", "previous", "level"),
    [
        ([], 50, 50, "low"),
        ([], 80, 50, "moderate"),  # +60 %, +30 visits: rising
        ([], 12, 2, "low"),  # +500 % but only 10 more visits (min_rise 11)
        (["low"], 50, 50, "moderate"),
        (["low"], 80, 50, "high"),
        (["medium"], 50, 50, "high"),
        (["medium", "low"], 90, 50, "very_high"),
        (["high"], 10, 50, "very_high"),
        (["high"], 200, 50, "very_high"),  # capped
    ],
)
def test_risk_levels_follow_the_documented_rule(severities, recent, previous, level) -> None:
    rule = RiskRule(rise_fraction=0.5, min_rise=11)
    got = assess(severities, Trend(recent=recent, previous=previous, population=50_000), rule)
    assert got.level == level
    assert got.n_alerts == len(severities)


def test_a_handful_of_visits_is_not_a_trend() -> None:
    assert not Trend(recent=9, previous=0, population=1000).rising(RiskRule(min_rise=10))
    assert Trend(recent=10, previous=0, population=1000).rising(RiskRule(min_rise=10))
    assert Trend(recent=30, previous=0, population=1000).rate(30) == 3000
    with pytest.raises(ValueError, match="severity"):
        assess(["urgent"], Trend(0, 0, 0))


# --- web ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    d = build_dataset(tmp_path_factory.mktemp("public"))
    verify_outbreak(d.store)
    yield d
    d.store.close()


@pytest.fixture
def anonymous(data: Dataset) -> Iterator[TestClient]:
    assert data.settings.auth.required  # the default: staff pages need a login
    with TestClient(create_app(data.settings, data.store)) as c:
        yield c


def _table_numbers(html: str, table_id: str) -> list[str]:
    section = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<t[dh] class="num">(.*?)</t[dh]>', section, flags=re.S)


def test_the_dashboard_needs_no_login(anonymous: TestClient, data: Dataset) -> None:
    staff = anonymous.get("/", follow_redirects=False)  # the staff overview needs a login
    assert staff.status_code in (302, 303, 307, 401), staff.status_code
    login = anonymous.get("/")  # ... and its login page points residents to the public site
    assert login.url.path == "/login" and 'href="/public"' in login.text
    # the same for everyone: shared caches may keep it (per language); the page reloads itself
    assert anonymous.get("/public").headers["cache-control"] == "public, max-age=0, s-maxage=60"
    assert "Accept-Language" in anonymous.get("/public").headers["vary"]
    assert (
        anonymous.get("/api/open/risk").headers["cache-control"]
        == "public, max-age=0, s-maxage=300"
    )
    assert anonymous.get("/api/regions").headers["cache-control"] == "no-store"  # staff API
    assert '<meta http-equiv="refresh" content="900">' in anonymous.get("/public").text
    page = anonymous.get("/public")
    assert page.status_code == 200
    html = page.text
    assert 'id="risk-map"' in html and 'id="trend-chart"' in html
    assert "Data up to" in html and "31 Mar 2026" in html
    assert 'href="/api/open"' in html and 'href="/public/clinics"' in html
    assert "Log out" not in html and "/admin/users" not in html  # no staff navigation
    cells = _table_numbers(html, "district-table")
    assert cells
    hidden = [c for c in cells if "suppressed" in c]
    assert hidden and all(">hidden<" in c for c in hidden)
    numbers = [int(c.replace(",", "")) for c in cells if "suppressed" not in c]
    assert numbers and not [n for n in numbers if 0 < n < MIN]
    # the selected syndrome is the one shown
    gi = anonymous.get("/public", params={"syndrome": "gastrointestinal"}).text
    assert 'data-syndrome="gastrointestinal"' in gi
    assert anonymous.get("/public", params={"syndrome": "nonsense"}).status_code == 422


def test_staff_see_the_same_public_page(data: Dataset) -> None:
    with TestClient(create_app(data.settings, data.store)) as c:
        authorize(c, data.store, "viewer")
        assert c.get("/public").status_code == 200
        assert c.get("/api/open/aggregates.csv").status_code == 200


def test_the_dashboard_in_chinese(anonymous: TestClient) -> None:
    html = anonymous.get("/public", headers={"Accept-Language": "zh-CN"}).text
    assert '<html lang="zh-Hans">' in html
    assert "公共卫生概览" in html and "已隐藏" in html and "各区风险等级" in html


def test_risk_levels_in_plain_language(anonymous: TestClient) -> None:
    body = anonymous.get("/api/open/risk").json()
    assert body["levels"] == ["low", "moderate", "high", "very_high"]
    by_id = {d["district_id"]: d for d in body["districts"]}
    for region in OUTBREAK_REGIONS:  # the verified high-severity alert
        assert by_id[region]["level"] == "very_high"
        assert "confirmed outbreak" in by_id[region]["summary"]
        assert by_id[region]["advice"]
    zh = anonymous.get("/api/open/risk", headers={"Accept-Language": "zh"}).json()
    assert zh["districts"][4]["label"] == "很高"
    html = anonymous.get("/public").text
    assert html.count('data-level="very_high"') == 2


def test_open_data_index_documents_schema_licence_and_rules(anonymous: TestClient) -> None:
    body = anonymous.get("/api/open").json()
    assert body["suppression"]["min_count"] == MIN
    assert body["suppression"]["suppress_zeros"] is False
    assert "CC BY 4.0" in body["licence"]
    datasets = {d["name"]: d for d in body["datasets"]}
    assert set(datasets) == {"aggregates", "regions", "risk"}
    assert [f["field"] for f in datasets["aggregates"]["fields"]] == [
        f for f, _, _ in public.AGGREGATE_FIELDS
    ]
    assert datasets["aggregates"]["csv_url"] == "/api/open/aggregates.csv"
    spec = anonymous.get("/api/openapi.json").json()
    assert "/api/open/aggregates" in spec["paths"]
    assert "suppressed" in spec["components"]["schemas"]["AggregateRow"]["properties"]


def test_open_regions_are_boundaries_without_counts(anonymous: TestClient) -> None:
    body = anonymous.get("/api/open/regions").json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 12
    props = body["features"][0]["properties"]
    assert set(props) == {"id", "name", "population"}
    assert body["features"][0]["geometry"]["type"] == "Polygon"


def test_aggregates_json_and_csv_agree_and_hide_small_counts(anonymous: TestClient) -> None:
    params = {"syndrome": "ili", "level": "district", "start_week": "2026-W10"}
    rows = anonymous.get("/api/open/aggregates", params=params).json()["rows"]
    assert rows and {r["week"] for r in rows} == {"2026-W10", "2026-W11", "2026-W12", "2026-W13"}
    assert {r["level"] for r in rows} == {"district"} and {r["syndrome"] for r in rows} == {"ili"}
    response = anonymous.get("/api/open/aggregates.csv", params=params)
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert list(table[0]) == [f for f, _, _ in public.AGGREGATE_FIELDS]
    assert len(table) == len(rows)
    for j, c in zip(rows, table, strict=True):
        assert c["suppressed"] in ("true", "false")
        assert (c["suppressed"] == "true") == j["suppressed"]
        assert c["count"] == ("" if j["suppressed"] else str(j["count"]))
    everything = list(csv.DictReader(io.StringIO(anonymous.get("/api/open/aggregates.csv").text)))
    assert {r["level"] for r in everything} == {"city", "district"}
    assert {r["period"] for r in everything} == {"week", "day"}
    assert not [r for r in everything if r["count"] and 0 < int(r["count"]) < MIN]
    assert any(r["suppressed"] == "true" for r in everything)
    city_days = anonymous.get(
        "/api/open/aggregates", params={"level": "city", "period": "day", "syndrome": "fever"}
    ).json()["rows"]
    assert len(city_days) == 84 and {r["district_id"] for r in city_days} == {""}


@pytest.mark.parametrize(
    "params",
    [{"syndrome": "plague"}, {"level": "region"}, {"start_week": "W13"}, {"period": "month"}],
)
def test_bad_filters_are_refused(anonymous: TestClient, params: dict) -> None:
    assert anonymous.get("/api/open/aggregates", params=params).status_code == 422
    assert anonymous.get("/api/open/aggregates.csv", params=params).status_code == 422


def test_min_count_setting_changes_the_publication(data: Dataset) -> None:
    settings = data.settings.model_copy(
        update={"public": PublicSettings(min_count=5, syndromes=["ili"])}
    )
    with TestClient(create_app(settings, data.store)) as c:
        rows = c.get("/api/open/aggregates").json()["rows"]
        assert {r["syndrome"] for r in rows} == {"ili"}
        counts = [r["count"] for r in rows if r["count"] is not None]
        assert any(5 <= n < 10 for n in counts) and not any(0 < n < 5 for n in counts)
        assert c.get("/api/open").json()["suppression"]["min_count"] == 5


# --- command line ---------------------------------------------------------------------------------


def test_cli_writes_the_published_csv(data: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "city.csv"
    args = ["public", "aggregates", "--out", str(out), "--syndrome", "ili", "--level", "city"]
    result = CliRunner().invoke(cli_app, [*args, "--db", data.settings.db])
    assert result.exit_code == 0, result.output
    assert "suppressed" in result.output
    table = list(csv.DictReader(out.open(encoding="utf-8")))
    assert {r["level"] for r in table} == {"city"} and {r["syndrome"] for r in table} == {"ili"}
    assert len(table) == 12 + 84
    bad = CliRunner().invoke(
        cli_app,
        ["public", "aggregates", "--out", str(out), "--level", "x", "--db", data.settings.db],
    )
    assert bad.exit_code == 2
