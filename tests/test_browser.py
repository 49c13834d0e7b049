"""The dashboard in a real browser: Debian's Chromium driven by Playwright, fully offline."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator

import pytest

from browser_support import SHOTS, Watched
from epiradar.model import Alert, Severity, Signal, Syndrome
from epiradar.web.app import create_app
from epiradar.web.figures import LEVEL_COLOURS
from web_support import (
    CLOSED_ALERT,
    END,
    N_REGIONS,
    OUTBREAK_ALERT,
    TEST_PASSWORD,
    Dataset,
    add_user,
    build_dataset,
    build_simulated,
    live_server,
    session_cookie,
)

pytestmark = pytest.mark.browser

_SESSIONS: dict[str, dict] = {}


@contextlib.contextmanager
def _serve(data: Dataset) -> Iterator[str]:
    """The app on ``data`` in a live server, with an administrator's session for its pages."""
    with live_server(create_app(data.settings, data.store)) as url:
        _SESSIONS[url] = session_cookie(data.store, url)
        yield url


def _context(browser, url: str, **kwargs):
    """A browser context on ``url`` logged in as the server's administrator."""
    context = browser.new_context(base_url=url, **kwargs)
    context.add_cookies([_SESSIONS[url]])
    return context


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data: Dataset = build_dataset(tmp_path_factory.mktemp("browser"))
    with _serve(data) as url:
        yield url
    data.store.close()


@pytest.fixture
def page(browser, base_url: str) -> Iterator[object]:
    watched = Watched(
        browser, base_url, _SESSIONS[base_url], viewport={"width": 1366, "height": 900}
    )
    yield watched.page
    watched.close()


def _wait_rendered(page, selector: str) -> None:
    page.wait_for_selector(f"{selector}[data-rendered='true']", state="attached")


def test_overview_renders_map_and_epicurve_offline(page) -> None:
    page.goto("/")
    _wait_rendered(page, "#region-map")
    _wait_rendered(page, "#epicurve")
    fills = page.locator("#region-map .scatterlayer .trace path.js-fill")
    assert fills.count() == N_REGIONS
    colours = fills.evaluate_all("els => els.map(e => getComputedStyle(e).fill)")
    assert colours.count(_rgb(LEVEL_COLOURS["high"])) == 2
    assert colours.count(_rgb(LEVEL_COLOURS["none"])) == N_REGIONS - 2
    assert page.locator("#epicurve .barlayer .point").count() == 90
    assert "31 Mar 2026" in page.locator("#last-data-date").inner_text()
    page.screenshot(path=str(SHOTS / "epiradar-overview.png"), full_page=True)


def test_syndrome_selector_reloads_the_epicurve(page) -> None:
    page.goto("/")
    _wait_rendered(page, "#epicurve")
    page.select_option("#syndrome-select", "gastrointestinal")
    page.wait_for_selector(
        "#epicurve[data-syndrome='gastrointestinal'][data-rendered='true']", state="attached"
    )
    assert "Gastrointestinal" in page.locator("#epicurve-panel").inner_text()
    assert page.locator("#epicurve .barlayer .point").count() == 90


def test_alert_list_filters_without_reloading(page) -> None:
    page.goto("/alerts")
    assert page.locator(f"#alerts a[href='/alerts/{CLOSED_ALERT}']").count() == 1
    page.evaluate("window.__same_document = true")
    page.select_option("select[name='severity']", "high")
    page.wait_for_function("() => document.querySelectorAll('#alerts tbody tr').length === 1")
    assert page.locator(f"#alerts a[href='/alerts/{OUTBREAK_ALERT}']").count() == 1
    assert page.evaluate("window.__same_document") is True
    assert "severity=high" in page.url
    page.screenshot(path=str(SHOTS / "epiradar-alerts.png"), full_page=True)
    page.go_back()
    page.wait_for_function("() => document.querySelectorAll('#alerts tbody tr').length === 3")


def test_click_through_to_alert_with_ranked_sources(page) -> None:
    page.goto("/")
    page.click(f"#open-alerts a[href='/alerts/{OUTBREAK_ALERT}']")
    page.wait_for_url(f"**/alerts/{OUTBREAK_ALERT}")
    _wait_rendered(page, "#region-map")
    _wait_rendered(page, "#epicurve")
    top = page.locator("#sources tbody tr.top-source")
    assert top.locator("td.rank").inner_text().strip() == "1"
    assert "Harbour Wet Market" in top.inner_text()
    assert page.locator("#region-map .scatterlayer .trace path.js-fill").count() == N_REGIONS
    assert page.locator("#region-map .scatterlayer path.point").count() == 1  # source marker
    assert "Harbour Wet Market" in page.locator("#region-map").inner_text()
    assert page.locator("#epicurve .barlayer .point").count() > 50
    assert page.locator("#epicurve .shapelayer path").count() >= 1  # the shaded alert window
    assert page.locator("#line-list tbody tr").count() >= 96
    page.screenshot(path=str(SHOTS / "epiradar-alert.png"), full_page=True)


def test_alert_page_draws_the_rt_curve_and_the_transmission_graph(page) -> None:
    page.goto(f"/alerts/{OUTBREAK_ALERT}")
    _wait_rendered(page, "#rt-curve")
    _wait_rendered(page, "#transmission-graph")
    kinds = page.evaluate(
        "() => document.getElementById('rt-curve').data.map(t => t.meta && t.meta.kind)"
    )
    assert {"band", "rt"} <= set(kinds)
    assert page.locator("#rt-curve .scatterlayer .trace path.js-fill").count() >= 1  # the band
    assert page.locator("#rt-curve .shapelayer path").count() >= 1  # the line at 1
    n_cases = int(page.locator("#transmission-graph").get_attribute("data-cases"))
    drawn = page.evaluate(
        "() => document.getElementById('transmission-graph').data"
        ".filter(t => t.meta && t.meta.kind === 'cases')"
        ".reduce((n, t) => n + t.x.length, 0)"
    )
    assert drawn == n_cases > 0
    assert page.locator("#transmission-graph .scatterlayer path.point").count() >= n_cases
    assert "How sure" in page.locator("#rt-note").inner_text()
    assert "home coordinates" in page.locator("#sites-note").inner_text()  # skipped, with why
    page.screenshot(path=str(SHOTS / "epiradar-alert-trace.png"), full_page=True)


def test_language_switch_changes_the_page(page) -> None:
    """The header's 中文 link shows the same page in Chinese and the choice is kept."""
    page.goto("/alerts")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Alerts"
    page.click("#lang-switch a[data-locale='zh_Hans']")
    page.wait_for_function("document.documentElement.lang === 'zh-Hans'")
    assert page.url.endswith("/alerts")
    assert page.locator("h1").inner_text() == "预警"
    assert "症候群" in page.locator("#alert-filters").inner_text()
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", page.locator("#alerts").inner_text())
    page.goto("/")
    assert "数据截至" in page.locator("#last-data-date").inner_text()
    _wait_rendered(page, "#epicurve")
    assert "就诊 / 天" in page.locator("#epicurve").inner_text()
    page.screenshot(path=str(SHOTS / "epiradar-overview-zh.png"), full_page=True)
    page.click("#lang-switch a[data-locale='en']")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert "Data to" in page.locator("#last-data-date").inner_text()


def test_narrow_screen_stacks_the_panels(browser, base_url: str) -> None:
    context = _context(browser, base_url, viewport={"width": 420, "height": 900})
    page = context.new_page()
    page.goto(f"/alerts/{OUTBREAK_ALERT}")
    page.wait_for_selector("#region-map[data-rendered='true']", state="attached")
    map_box = page.locator("#region-map").bounding_box()
    curve_box = page.locator("#epicurve").bounding_box()
    assert map_box is not None and curve_box is not None
    assert curve_box["y"] > map_box["y"] + map_box["height"] - 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    page.screenshot(path=str(SHOTS / "epiradar-alert-narrow.png"), full_page=True)
    context.close()


@pytest.mark.slow
def test_simulated_outbreak_is_found_and_traced_in_the_dashboard(browser, tmp_path) -> None:
    data, truth = build_simulated(tmp_path)
    affected = set(truth["affected_regions"])
    source = next(p for p in data.places if p.id == truth["source"]["id"])
    with _serve(data) as url:
        context = _context(browser, url, viewport={"width": 1366, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto("/")
        _wait_rendered(page, "#region-map")
        levels = page.evaluate(
            "() => document.getElementById('region-map').data"
            ".filter(t => t.meta).map(t => [t.meta.region, t.meta.level])"
        )
        assert len(levels) == N_REGIONS
        assert any(level != "none" for region, level in levels if region in affected)

        page.goto("/alerts?syndrome=gastrointestinal&sort=p_value&order=desc")
        rows = page.locator("#alerts tbody tr")
        regional = [
            i
            for i in range(rows.count())
            if "Whole city" not in rows.nth(i).locator("td.regions-cell").inner_text()
        ]
        assert regional, "no regional gastrointestinal alert"
        rows.nth(regional[0]).locator("a").first.click()
        page.wait_for_url("**/alerts/*")
        _wait_rendered(page, "#region-map")
        top = page.locator("#sources tbody tr.top-source")
        assert top.locator("td.rank").inner_text().strip() == "1"
        assert source.name in top.inner_text()
        page.screenshot(path=str(SHOTS / "epiradar-simulated-alert.png"), full_page=True)
        context.close()
    data.store.close()


def test_space_time_cluster_is_drawn_on_the_alert_map(browser, tmp_path) -> None:
    data = build_dataset(tmp_path)
    day, zones = END - dt.timedelta(days=2), ["R07", "R08"]
    cluster = Signal(
        date=day,
        region_id=zones[0],
        syndrome=Syndrome.FEVER,
        detector="spacetime:permutation",
        observed=30,
        expected=9.5,
        upperbound=9.5,
        p_value=0.001,
        region_ids=zones,
        start_date=day - dt.timedelta(days=2),
        recurrence_interval=1000.0,
    )
    alert = Alert(
        id="A-cluster",
        syndrome=Syndrome.FEVER,
        region_ids=zones,
        start_date=day - dt.timedelta(days=2),
        end_date=day,
        first_alarm_date=day,
        observed=30,
        expected=9.5,
        p_value=0.001,
        severity=Severity.LOW,
        detector="spacetime:permutation",
        cluster_region_ids=zones,
        recurrence_interval=1000.0,
    )
    data.store.replace_alerts([alert], [(alert.id, cluster)], day, day)
    with _serve(data) as url:
        context = _context(browser, url, viewport={"width": 1366, "height": 900})
        page = context.new_page()
        page.goto("/alerts/A-cluster")
        _wait_rendered(page, "#region-map")
        fills = page.locator("#region-map .scatterlayer .trace path.js-fill")
        colours = fills.evaluate_all("els => els.map(e => getComputedStyle(e).fill)")
        assert colours.count("rgb(109, 40, 217)") == len(zones)
        assert "2.7 years" in page.locator("#spacetime-cluster").inner_text()
        page.screenshot(path=str(SHOTS / "epiradar-cluster-alert.png"), full_page=True)
        context.close()
    data.store.close()


def test_login_page_leads_to_the_dashboard_and_a_viewer_sees_no_line_list(
    browser, tmp_path
) -> None:
    data = build_dataset(tmp_path)
    add_user(data.store, "vera", "viewer")
    with live_server(create_app(data.settings, data.store)) as url:
        context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=url)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto("/")
        assert page.url.startswith(f"{url}/login")  # no session: the login page
        page.fill("#login-form input[name=username]", "vera")
        page.fill("#login-form input[name=password]", "not the password")
        page.click("#login-form button[type=submit]")
        assert "wrong username or password" in page.locator("#login-error").inner_text()
        page.fill("#login-form input[name=password]", TEST_PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"{url}/")
        _wait_rendered(page, "#region-map")  # the dashboard, drawn under the CSP
        assert "vera" in page.locator("#current-user").inner_text()
        nav = page.locator("nav.nav").inner_text()
        assert "Alerts" in nav and "Quarantine" not in nav and "Investigations" not in nav
        page.goto(f"/alerts/{OUTBREAK_ALERT}")
        _wait_rendered(page, "#region-map")
        assert page.locator("#line-list").count() == 0
        assert page.locator("#line-list-withheld").is_visible()
        assert page.locator("#workflow-form").count() == 0
        refused = context.request.get(f"{url}/api/alerts/{OUTBREAK_ALERT}/visits")
        assert refused.status == 403
        page.click("#user-menu button[type=submit]")
        page.wait_for_url(f"{url}/login")
        page.goto("/alerts")
        assert page.url.startswith(f"{url}/login")
        assert errors == []
        page.screenshot(path=str(SHOTS / "epiradar-login.png"), full_page=True)
        context.close()
    data.store.close()


def test_full_loop_from_alert_to_closure_by_two_people(browser, tmp_path) -> None:
    """Detection stores an alert on a simulated city; ann verifies it on the alert page, opens
    an investigation and assigns a task to bob; bob ticks its checklist in his work queue; ann
    closes the alert, whose timeline shows both of them."""
    data, _ = build_simulated(tmp_path)
    with live_server(create_app(data.settings, data.store)) as url:
        pages, contexts, errors = {}, [], []
        for name in ("ann", "bob"):
            context = browser.new_context(base_url=url, viewport={"width": 1366, "height": 900})
            context.add_cookies([session_cookie(data.store, url, name)])
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            pages[name], contexts = page, [*contexts, context]
        ann, bob = pages["ann"], pages["bob"]

        ann.goto("/queue")
        first = ann.locator("#queue-table tbody tr").first
        alert_id = first.get_attribute("data-alert")
        first.locator("a.mono").click()
        ann.wait_for_url(f"**/alerts/{alert_id}*")
        form = "#workflow-form"
        ann.select_option(f"{form} select[name=to]", "verifying")
        ann.click(f"{form} button[type=submit]")
        ann.wait_for_selector("#workflow .status-verifying")
        ann.select_option(f"{form} select[name=to]", "investigating")
        ann.fill(f"{form} textarea[name=verification_note]", "cases confirmed with the clinics")
        ann.select_option(f"{form} select[name=likelihood]", "high")
        ann.select_option(f"{form} select[name=impact]", "moderate")
        ann.click(f"{form} button[type=submit]")
        ann.wait_for_selector("#workflow .status-investigating")

        ann.click("#open-investigation")
        ann.fill("#new-investigation input[name=title]", "Gastro cluster")
        ann.click("#new-investigation button[type=submit]")
        ann.wait_for_url(re.compile(r".*/investigations/\d+$"))
        assert alert_id in ann.locator("#investigation-alerts").inner_text()
        ann.fill("#new-task input[name=title]", "Inspect the canteen")
        ann.fill("#new-task input[name=assignee]", "bob")
        ann.check("#new-task input[value='site inspection']")
        ann.click("#new-task button[type=submit]")
        ann.wait_for_selector("#task-table tr[data-status=open]")

        bob.goto("/queue")
        task = bob.locator("#task-table tr", has_text="Inspect the canteen")
        task.locator("input[name=done]").check()
        task.locator("button[type=submit]").click()
        bob.wait_for_url("**/queue")
        assert "No open tasks assigned to you" in bob.locator("#queue-tasks").inner_text()

        ann.reload()
        ann.wait_for_selector("#task-table tr[data-status=done]")
        ann.goto(f"/alerts/{alert_id}")
        ann.select_option(f"{form} select[name=to]", "closed")
        ann.fill(f"{form} input[name=closure_reason]", "source closed, no new cases")
        ann.select_option(f"{form} select[name=outcome]", "confirmed outbreak")
        ann.click(f"{form} button[type=submit]")
        ann.wait_for_selector("#workflow .status-closed")
        timeline = ann.locator("#timeline").inner_text()
        assert "ann" in timeline and "bob" in timeline
        ann.screenshot(path=str(SHOTS / "epiradar-closed-loop.png"), full_page=True)
        ann.goto("/queue")
        assert ann.locator(f"#queue-table tr[data-alert='{alert_id}']").count() == 0
        for context in contexts:
            context.close()
        assert errors == [], f"browser errors: {errors}"
    data.store.close()
