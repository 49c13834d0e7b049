"""Bulletin approval in a real browser (Debian's Chromium via Playwright, offline): one
epidemiologist generates a draft on the page, the public cannot see it, another approves it,
and an anonymous visitor finds it on /public/bulletins, opens it and switches to Chinese."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from browser_support import SHOTS, Watched
from epiradar.web.app import create_app
from web_support import Dataset, build_dataset, live_server, session_cookie, verify_outbreak

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dataset, str]]:
    data = build_dataset(tmp_path_factory.mktemp("bulletin-browser"))
    verify_outbreak(data.store)
    with live_server(create_app(data.settings, data.store)) as url:
        yield data, url
    data.store.close()


def test_generate_approve_publish_and_read_in_chinese(browser, served) -> None:
    data, url = served
    author = Watched(browser, url, session_cookie(data.store, url, "ann", "epidemiologist"))
    reviewer = Watched(browser, url, session_cookie(data.store, url, "ben", "epidemiologist"))
    visitor = Watched(browser, url, None)

    # ann generates a weekly draft from the page
    page = author.page
    page.goto("/bulletins")
    page.select_option("#bulletin-kind", "weekly")
    page.click("#generate-button")
    page.wait_for_url(re.compile(r".*/bulletins/\d+$"))
    bulletin_url = page.url
    bid = bulletin_url.rsplit("/", 1)[1]
    assert page.locator("#bulletin-status").get_attribute("data-status") == "draft"
    assert page.locator("#preview-en svg.epicurve").count() >= 4
    assert "胃肠道" in page.locator("#preview-zh_Hans").inner_text()
    assert page.locator("#four-eyes-note").is_visible()
    assert page.locator("#approve-button").is_disabled()  # four eyes: not by its author
    page.screenshot(path=str(SHOTS / "epiradar-bulletin-draft.png"), full_page=True)

    # the public cannot see the draft
    assert visitor.context.request.get(f"/public/bulletins/{bid}").status == 404
    visitor.page.goto("/public/bulletins")
    assert visitor.page.locator(f"#public-bulletins li[data-bulletin='{bid}']").count() == 0

    # ben, another epidemiologist, opens it and approves
    page = reviewer.page
    page.goto(bulletin_url)
    assert page.locator("#bulletin-author").inner_text().startswith("ann")
    page.click("#approve-button")
    page.wait_for_selector("#bulletin-status[data-status='published']")
    assert page.locator("#bulletin-reviewer").inner_text().startswith("ben")
    assert page.locator("#public-link").count() == 1

    # an anonymous visitor finds it, opens it, and switches to Chinese
    page = visitor.page
    page.goto("/public/bulletins")
    item = page.locator(f"#public-bulletins li[data-bulletin='{bid}'] a.bulletin-link")
    assert item.count() == 1
    item.click()
    page.wait_for_url(re.compile(rf".*/public/bulletins/{bid}$"))
    article = page.locator("#bulletin article.bulletin")
    assert article.get_attribute("lang") == "en"
    assert "Weekly surveillance bulletin" in page.locator("#bulletin h1").inner_text()
    assert page.locator("#bulletin svg.bulletin-map path.area").count() > 0
    page.click("#bulletin-lang a[data-lang='zh_Hans']")
    page.wait_for_selector("#bulletin article.bulletin[lang='zh-Hans']")
    assert page.locator("#bulletin h1").inner_text() == "每周监测简报"
    assert "胃肠道" in page.locator("#bulletin").inner_text()
    pdf_href = page.locator("#bulletin-pdf").get_attribute("href")
    assert pdf_href == f"/public/bulletins/{bid}/pdf?lang=zh_Hans"
    pdf = visitor.context.request.get(pdf_href)
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    page.screenshot(path=str(SHOTS / "epiradar-bulletin-public-zh.png"), full_page=True)

    for who in (author, reviewer, visitor):
        who.close()
