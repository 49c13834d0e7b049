"""The public dashboard in a real browser, with no login: Chromium via Playwright, offline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from browser_support import SHOTS, Watched
from epiradar.web.app import create_app
from epiradar.web.public import RISK_COLOURS
from web_support import N_REGIONS, Dataset, build_dataset, live_server, verify_outbreak

pytestmark = pytest.mark.browser


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data: Dataset = build_dataset(tmp_path_factory.mktemp("public-browser"))
    verify_outbreak(data.store)
    assert data.settings.auth.required
    with live_server(create_app(data.settings, data.store)) as url:
        yield url
    data.store.close()


@pytest.fixture
def page(browser, base_url: str) -> Iterator[object]:
    """An anonymous visitor (no session cookie)."""
    watched = Watched(browser, base_url, viewport={"width": 1366, "height": 900})
    yield watched.page
    watched.close()


def _wait_rendered(page, selector: str) -> None:
    page.wait_for_selector(f"{selector}[data-rendered='true']", state="attached")


def test_public_dashboard_renders_chart_and_map_offline(page) -> None:
    page.goto("/public")
    assert page.url.endswith("/public")  # no redirect to the login page
    _wait_rendered(page, "#risk-map")
    _wait_rendered(page, "#trend-chart")
    fills = page.locator("#risk-map .scatterlayer .trace path.js-fill")
    assert fills.count() == N_REGIONS
    colours = fills.evaluate_all("els => els.map(e => getComputedStyle(e).fill)")
    assert colours.count(_rgb(RISK_COLOURS["very_high"])) == 2  # the outbreak's districts
    days = page.request.get(
        "/api/open/aggregates", params={"syndrome": "fever", "level": "city", "period": "day"}
    ).json()["rows"]
    shown = [d for d in days if not d["suppressed"]]
    assert len(days) == 84 and 0 < len(shown) < 84
    assert page.locator("#trend-chart .barlayer .point").count() == len(shown)
    assert page.locator("#risk-table tbody tr").count() == N_REGIONS
    assert "31 Mar 2026" in page.locator("#last-updated").inner_text()
    page.screenshot(path=str(SHOTS / "epiradar-public.png"), full_page=True)


def test_suppressed_cells_are_shown_as_such(page) -> None:
    page.goto("/public")
    hidden = page.locator("#district-table .suppressed")
    assert hidden.count() > 0
    assert hidden.first.inner_text() == "hidden"
    assert "protect privacy" in hidden.first.get_attribute("title")
    numbers = page.locator("#district-table td.num:not(:has(.suppressed))").all_inner_texts()
    assert numbers and all(
        int(n.replace(",", "")) == 0 or int(n.replace(",", "")) >= 10 for n in numbers
    )
    assert "counts below 10 are not published" in page.locator("#suppression-note").inner_text()


def test_syndrome_selector_updates_chart_and_table(page) -> None:
    page.goto("/public")
    _wait_rendered(page, "#trend-chart")
    before = page.locator("#district-table").inner_text()
    page.select_option("#syndrome-select", "gastrointestinal")
    page.wait_for_selector(
        "#trend-chart[data-syndrome='gastrointestinal'][data-rendered='true']", state="attached"
    )
    assert page.url.endswith("/public?syndrome=gastrointestinal")
    assert page.locator("#district-table").get_attribute("data-syndrome") == "gastrointestinal"
    assert page.locator("#district-table").inner_text() != before
    assert "Gastrointestinal" in page.locator("#trend-chart").inner_text()


def test_language_switch_shows_the_dashboard_in_chinese(page) -> None:
    page.goto("/public")
    assert page.locator("h1").inner_text() == "Public health dashboard"
    page.click("#lang-switch a[data-locale='zh_Hans']")
    page.wait_for_function("document.documentElement.lang === 'zh-Hans'")
    assert page.url.endswith("/public")
    assert page.locator("h1").inner_text() == "公共卫生概览"
    assert "已隐藏" in page.locator("#district-table").inner_text()
    assert "开放数据" in page.locator("#public-nav").inner_text()
    _wait_rendered(page, "#trend-chart")
    page.screenshot(path=str(SHOTS / "epiradar-public-zh.png"), full_page=True)
    page.click("#lang-switch a[data-locale='en']")
    page.wait_for_function("document.documentElement.lang === 'en'")
