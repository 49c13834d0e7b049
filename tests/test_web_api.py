"""The JSON API and the server-rendered pages against a real store with a known dataset."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from epiradar.config import Settings
from epiradar.service.views import MapRegion
from epiradar.store import Store
from epiradar.web import figures
from epiradar.web.app import create_app
from web_support import (
    CITY_ALERT,
    CLOSED_ALERT,
    END,
    N_REGIONS,
    OUTBREAK_ALERT,
    OUTBREAK_END,
    OUTBREAK_REGIONS,
    OUTBREAK_START,
    SOURCE_PLACE,
    START,
    Dataset,
    authorize,
    build_dataset,
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    data = build_dataset(tmp_path_factory.mktemp("web"))
    yield data
    data.store.close()


@pytest.fixture(scope="module")
def client(dataset: Dataset) -> Iterator[TestClient]:
    with TestClient(create_app(dataset.settings, dataset.store)) as c:
        yield authorize(c, dataset.store)


# ---------------------------------------------------------------------------------------------
# API


def test_health_reports_the_data_range(client: TestClient) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["first_data_date"] == START.isoformat()
    assert body["last_data_date"] == END.isoformat()


def test_regions_are_geojson_with_current_alert_levels(client: TestClient) -> None:
    body = client.get("/api/regions").json()
    assert body["type"] == "FeatureCollection"
    assert len(body["features"]) == N_REGIONS
    by_id = {f["id"]: f for f in body["features"]}
    for feature in body["features"]:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Polygon"
    for region_id in OUTBREAK_REGIONS:
        props = by_id[region_id]["properties"]
        assert props["level"] == "high"
        assert props["alert_ids"] == [OUTBREAK_ALERT]
    # the only alert of R11 is closed, the fever alert covers the whole city: no level
    assert by_id["R11"]["properties"]["level"] == "none"
    assert by_id["R01"]["properties"]["level"] == "none"
    assert all(f["properties"]["recent_visits"] > 0 for f in body["features"])


def test_counts_city_series_covers_every_day_and_sums_regions(client: TestClient) -> None:
    start, end = OUTBREAK_START, OUTBREAK_END
    city = client.get(
        "/api/counts",
        params={"syndrome": "gastrointestinal", "start": start.isoformat(), "end": end.isoformat()},
    ).json()
    assert city["region_ids"] == []
    assert [p["date"] for p in city["points"]] == [
        (start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)
    ]
    parts = [
        client.get(
            "/api/counts",
            params={
                "syndrome": "gastrointestinal",
                "region": r,
                "start": start.isoformat(),
                "end": end.isoformat(),
            },
        ).json()
        for r in ("R05", "R06")
    ]
    both = client.get(
        "/api/counts",
        params=[
            ("syndrome", "gastrointestinal"),
            ("region", "R05"),
            ("region", "R06"),
            ("start", start.isoformat()),
            ("end", end.isoformat()),
        ],
    ).json()
    for i, point in enumerate(both["points"]):
        assert point["count"] == sum(p["points"][i]["count"] for p in parts)
        assert point["count"] >= 12  # six outbreak cases a day in each region
        assert city["points"][i]["count"] >= point["count"]


def test_counts_default_to_the_last_90_days_of_all_visits(client: TestClient) -> None:
    body = client.get("/api/counts").json()
    assert body["syndrome"] == "all"
    assert body["end"] == END.isoformat()
    assert len(body["points"]) == 90
    assert all(p["count"] > 0 for p in body["points"])


def test_counts_reject_bad_input(client: TestClient) -> None:
    assert client.get("/api/counts", params={"syndrome": "plague"}).status_code == 422
    missing = client.get("/api/counts", params={"region": "R99"})
    assert missing.status_code == 404
    assert "R99" in missing.json()["detail"]
    reversed_range = client.get("/api/counts", params={"start": "2026-03-10", "end": "2026-03-01"})
    assert reversed_range.status_code == 422


def test_alerts_list_and_filters(client: TestClient) -> None:
    ids = {a["id"] for a in client.get("/api/alerts").json()}
    assert ids == {OUTBREAK_ALERT, CLOSED_ALERT, CITY_ALERT}
    high = client.get("/api/alerts", params={"severity": "high"}).json()
    assert [a["id"] for a in high] == [OUTBREAK_ALERT]
    closed = client.get("/api/alerts", params={"status": "closed"}).json()
    assert [a["id"] for a in closed] == [CLOSED_ALERT]
    gi = client.get("/api/alerts", params={"syndrome": "gastrointestinal"}).json()
    assert [a["id"] for a in gi] == [OUTBREAK_ALERT]
    assert gi[0]["region_ids"] == OUTBREAK_REGIONS
    assert client.get("/api/alerts", params={"severity": "extreme"}).status_code == 422


def test_alert_detail_has_names_and_signals(client: TestClient, dataset: Dataset) -> None:
    body = client.get(f"/api/alerts/{OUTBREAK_ALERT}").json()
    assert body["alert"]["id"] == OUTBREAK_ALERT
    names = {r.id: r.name for r in dataset.regions}
    assert body["region_names"] == [names[r] for r in OUTBREAK_REGIONS]
    assert body["is_open"] is True
    assert sorted(s["region_id"] for s in body["signals"]) == OUTBREAK_REGIONS


def test_alert_visits_is_the_pseudonymised_line_list(client: TestClient) -> None:
    body = client.get(f"/api/alerts/{OUTBREAK_ALERT}/visits").json()
    visits = body["visits"]
    assert body["n_visits"] == len(visits) >= 96
    assert {v["region_id"] for v in visits} == set(OUTBREAK_REGIONS)
    assert all("gastrointestinal" in v["syndromes"] for v in visits)
    assert sum(SOURCE_PLACE in v["exposures"] for v in visits) >= 96
    assert [v["visit_date"] for v in visits] == sorted(v["visit_date"] for v in visits)
    assert all(re.fullmatch(r"[0-9a-f]{24}", v["patient_key"]) for v in visits)
    assert "visit_id" not in visits[0]


def test_alert_sources_rank_the_market_first(client: TestClient) -> None:
    body = client.get(f"/api/alerts/{OUTBREAK_ALERT}/sources").json()
    assert body["alert_id"] == OUTBREAK_ALERT
    assert body["n_cases"] > 0 and body["n_controls"] > 0
    top = body["sources"][0]
    assert top["rank"] == 1
    assert top["id"] == SOURCE_PLACE
    assert top["name"] == "Harbour Wet Market"
    assert top["odds_ratio"] > 1
    assert [s["rank"] for s in body["sources"]] == sorted(s["rank"] for s in body["sources"])


@pytest.mark.parametrize("suffix", ["", "/visits", "/sources"])
def test_unknown_alert_is_a_404_with_a_clear_message(client: TestClient, suffix: str) -> None:
    response = client.get(f"/api/alerts/nope{suffix}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert "nope" in response.json()["detail"]


def test_quarantine_lists_rejected_records_newest_first(client: TestClient) -> None:
    rows = client.get("/api/quarantine").json()
    assert [r["record"] for r in rows] == ["row 18", "row 17"]
    assert rows[0]["field"] == "age" and "212" in rows[0]["reason"]
    assert len(client.get("/api/quarantine", params={"limit": 1}).json()) == 1
    assert client.get("/api/quarantine", params={"limit": 0}).status_code == 422


def test_openapi_schema_and_local_docs_page(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    for path in (
        "/api/health",
        "/api/regions",
        "/api/counts",
        "/api/alerts",
        "/api/alerts/{alert_id}",
        "/api/alerts/{alert_id}/visits",
        "/api/alerts/{alert_id}/sources",
        "/api/quarantine",
    ):
        assert path in schema["paths"]
    assert "/" not in schema["paths"]  # pages are not part of the API
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert "/api/alerts/{alert_id}/sources" in docs.text
    assert "cdn" not in docs.text.lower() and "https://" not in docs.text


# ---------------------------------------------------------------------------------------------
# pages and assets


def _local_assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+\.(?:js|css|svg))"', html)


def test_overview_page(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    assert 'id="region-map"' in html and 'id="epicurve"' in html
    assert END.strftime("%d %b %Y") in html
    assert f'href="/alerts/{OUTBREAK_ALERT}"' in html  # open alert summary
    assert f'href="/alerts/{CLOSED_ALERT}"' not in html  # closed: not in the summary
    assert 'id="syndrome-select"' in html and 'hx-get="/partials/epicurve"' in html
    for asset in _local_assets(html):
        assert asset.startswith("/static/"), asset


def test_every_asset_is_served_locally(client: TestClient) -> None:
    html = client.get("/").text
    assets = _local_assets(html)
    assert "/static/vendor/plotly.min.js" in assets
    assert "/static/vendor/htmx.min.js" in assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100
    assert b"plotly" in client.get("/static/vendor/plotly.min.js").content[:2000].lower()


def test_epicurve_partial_follows_the_syndrome(client: TestClient) -> None:
    response = client.get("/partials/epicurve", params={"syndrome": "gastrointestinal"})
    assert response.status_code == 200
    assert "Gastrointestinal" in response.text
    assert "<html" not in response.text
    assert client.get("/partials/epicurve", params={"syndrome": "plague"}).status_code == 422


def test_alert_list_page_filters_and_sorts(client: TestClient) -> None:
    html = client.get("/alerts").text
    for alert_id in (OUTBREAK_ALERT, CLOSED_ALERT, CITY_ALERT):
        assert f'href="/alerts/{alert_id}"' in html
    assert 'class="badge badge-high"' in html
    filtered = client.get("/alerts", params={"severity": "high", "syndrome": "", "status": ""})
    assert filtered.status_code == 200
    assert OUTBREAK_ALERT in filtered.text and CLOSED_ALERT not in filtered.text
    by_p = client.get("/alerts", params={"sort": "p_value", "order": "desc"}).text
    assert by_p.index(OUTBREAK_ALERT) < by_p.index(CLOSED_ALERT) < by_p.index(CITY_ALERT)
    asc = client.get("/alerts", params={"sort": "p_value", "order": "asc"}).text
    assert asc.index(CITY_ALERT) < asc.index(OUTBREAK_ALERT)
    assert client.get("/alerts", params={"sort": "drop table"}).status_code == 422


def test_alert_list_htmx_request_gets_only_the_table(client: TestClient) -> None:
    response = client.get(
        "/alerts",
        params={"status": "closed"},
        headers={"HX-Request": "true", "HX-Target": "alert-table"},
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert CLOSED_ALERT in response.text and OUTBREAK_ALERT not in response.text


def test_alert_detail_page(client: TestClient) -> None:
    response = client.get(f"/alerts/{OUTBREAK_ALERT}")
    assert response.status_code == 200
    html = response.text
    assert "Gastrointestinal" in html and "District E" in html and "District F" in html
    assert 'id="region-map"' in html and 'id="epicurve"' in html
    assert 'id="sources"' in html and 'id="line-list"' in html
    top_row = re.search(r'<tr class="top-source">(.*?)</tr>', html, re.S)
    assert top_row is not None
    assert "Harbour Wet Market" in top_row.group(1)
    assert re.search(r'class="num rank">1<', top_row.group(1))


def test_unknown_alert_page_is_a_404_page(client: TestClient) -> None:
    response = client.get("/alerts/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "nope" in response.text and "Not found" in response.text


def test_quarantine_and_unknown_pages(client: TestClient) -> None:
    html = client.get("/quarantine").text
    assert "age 212 is above 130" in html
    assert client.get("/no-such-page").status_code == 404


def test_an_empty_database_still_renders(tmp_path) -> None:
    settings = Settings(db=f"sqlite:///{tmp_path / 'empty.db'}", pseudonym_key="k")
    store = Store(settings.db)
    store.migrate()
    with TestClient(create_app(settings, store)) as c:
        authorize(c, store)
        assert c.get("/api/health").json()["last_data_date"] is None
        assert c.get("/api/regions").json()["features"] == []
        assert c.get("/api/alerts").json() == []
        page = c.get("/")
        assert page.status_code == 200 and "No visits yet" in page.text
        assert c.get("/alerts").status_code == 200
        assert c.get("/quarantine").status_code == 200
    store.close()


def test_create_app_opens_the_store_named_in_settings(dataset: Dataset) -> None:
    with TestClient(create_app(dataset.settings)) as c:
        assert c.get("/api/health").json()["last_data_date"] == END.isoformat()


def test_map_figure_draws_one_filled_trace_per_polygon_region() -> None:
    square = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    far = [[[5 + x, y] for x, y in square]]
    regions = [
        MapRegion(
            id="a",
            name="A",
            population=1,
            level="high",
            alert_ids=["x"],
            recent_visits=3,
            recent_syndromic={},
            geometry={"type": "MultiPolygon", "coordinates": [[square], far]},
        ),
        MapRegion(
            id="b",
            name="B",
            population=1,
            level="none",
            alert_ids=[],
            recent_visits=0,
            recent_syndromic={},
            geometry=None,
        ),
    ]
    figure = figures.region_map(regions)
    fills = [t for t in figure["data"] if t.get("fill") == "toself"]
    assert len(fills) == 1  # no geometry, nothing to draw
    assert fills[0]["x"][5] is None  # the two parts are separate rings
    assert fills[0]["fillcolor"] == figures.LEVEL_COLOURS["high"]
    assert "A" in fills[0]["text"] and "x" in fills[0]["text"]
