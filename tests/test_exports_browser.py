"""The /exports page in Chromium: fill the form, read the report, download the CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from browser_support import Watched
from epiradar.config import Settings
from epiradar.store import Store
from epiradar.web.app import create_app
from web_support import fill_store, live_server, session_cookie


@pytest.mark.browser
def test_export_page_reports_then_downloads(browser, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'export.db'}")
    store.migrate()
    fill_store(store)
    settings = Settings(db=store.url, pseudonym_key="k")
    with live_server(create_app(settings, store)) as url:
        cookie = session_cookie(store, url, "epi5", "epidemiologist", districts=["R05"])
        watched = Watched(browser, url, cookie, accept_downloads=True)
        page = watched.page
        page.goto("/exports")
        assert page.locator("#export-report").count() == 0
        page.fill("#export-k", "4")
        page.uncheck("input[name='qi'][value='onset']")
        page.click("#export-check")
        page.wait_for_selector("#export-ok")
        released = int(page.inner_text("#export-released").replace(",", ""))
        assert released > 0 and int(page.inner_text("#export-k-achieved")) >= 4
        assert "onset_period" not in page.inner_text("#export-columns")
        with page.expect_download() as info:
            page.click("#download-csv")
        saved = tmp_path / "download.csv"
        info.value.save_as(saved)
        watched.close()
    rows = pd.read_csv(saved, dtype=str, keep_default_na=False)
    assert len(rows) == released and set(rows["district"]) == {"R05"}
    assert "onset_period" not in rows.columns
    entries = [e for e in store.audit.entries(limit=50) if e.action == "export.line_list"]
    assert len(entries) == 1 and entries[0].actor == "epi5"
    assert entries[0].detail_data["rows_released"] == released
    store.close()
