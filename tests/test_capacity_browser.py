"""The capacity pages in a real browser (Debian's Chromium via Playwright, offline): the staff
map draws the facilities and the forecast charts; the public clinic finder lists the nearest
clinic with capacity for a chosen area, and for the browser's location."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from browser_support import SHOTS, Watched
from epiradar.config import Settings
from epiradar.store import Store
from epiradar.web.app import create_app
from test_capacity import load, report
from web_support import live_server, session_cookie

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('capacity') / 'cap.db'}"
    store = Store(url)
    store.migrate()
    load(store)
    report(store, "F1", 2, fever_clinic_rooms=2, beds_total=20, beds_free=3)
    report(store, "F2", 3, fever_clinic_rooms=1, beds_total=40, beds_free=2)
    report(store, "F3", 1, fever_clinic_rooms=4, beds_total=60, beds_free=30)
    report(store, "F4", 40, fever_clinic_rooms=3, beds_total=10, beds_free=5)  # stale
    with live_server(create_app(Settings(db=url, pseudonym_key="k"), store)) as base:
        yield base, session_cookie(store, base, "viewer1", "viewer")
    store.close()


def test_staff_map_draws_facility_markers_and_forecast_charts(browser, served) -> None:
    base, cookie = served
    watched = Watched(browser, base, cookie)
    page = watched.page
    page.goto("/capacity")
    page.wait_for_selector("#capacity-map[data-rendered='true']", state="attached")
    page.wait_for_selector("#chart-D1[data-rendered='true']", state="attached")
    markers = page.locator("#capacity-map .scatterlayer .trace path.point")
    assert markers.count() == 4  # F1-F4 have coordinates; F5 is no fever clinic
    fills = page.locator("#capacity-map .scatterlayer .trace path.js-fill")
    assert fills.count() == 2  # the districts D1 and D2
    assert page.locator("#chart-D1 .barlayer .point").count() == 28  # the last 28 days
    legend = page.locator("#chart-D1 .legend").text_content()
    assert "Capacity" in legend and "Forecast" in legend
    assert page.locator("#capacity-warnings li[data-district='D1']").count() == 1
    page.screenshot(path=str(SHOTS / "epiradar-capacity.png"), full_page=True)
    watched.close()


def test_public_finder_lists_the_nearest_clinic_with_capacity(browser, served) -> None:
    base, _cookie = served
    watched = Watched(browser, base)  # anonymous
    page = watched.page
    page.goto("/public/clinics")
    page.select_option("#clinic-region", "R3")
    page.locator("#clinic-find button[type='submit']").click()
    page.wait_for_selector("#clinic-list")
    first = page.locator("#clinic-list li").first
    assert first.get_attribute("data-facility") == "F1"  # F4 in R3 is nearer, but stale
    assert first.get_attribute("data-capacity") == "yes"
    assert "Riverside Fever Clinic" in first.inner_text()
    last = page.locator("#clinic-list li").last
    assert last.get_attribute("data-facility") == "F4"
    watched.close()


def test_public_finder_uses_the_browsers_location(browser, served) -> None:
    base, _cookie = served
    watched = Watched(
        browser, base, geolocation={"latitude": 1.4, "longitude": 1.6}, permissions=["geolocation"]
    )
    page = watched.page
    page.goto("/public/clinics")
    page.locator("#use-location").click()
    page.wait_for_url("**/public/clinics?lat=1.40&lon=1.60")
    assert page.locator("#clinic-list li").first.get_attribute("data-facility") == "F3"
    watched.close()
