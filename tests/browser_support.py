"""Chromium for the browser tests: Playwright driving Debian's ``chromium`` (the module-wide
``browser`` fixture lives in conftest.py), and watched pages that fail a test when a request
leaves the app (every asset is served locally) or the page reports an error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("EPIRADAR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(os.environ.get("EPIRADAR_SCREENSHOTS", "/tmp"))
"""Where the tests leave screenshots of the pages they check."""


class Watched:
    """A page in a new context on ``url`` (with ``cookie``, a session, when given) whose
    requests must stay on the app and whose console must stay clean: :meth:`close` asserts it."""

    def __init__(self, browser: Any, url: str, cookie: dict | None = None, **context: Any):
        context.setdefault("viewport", {"width": 1280, "height": 900})
        self.context = browser.new_context(base_url=url, **context)
        if cookie:
            self.context.add_cookies([cookie])
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.page.on(
            "request", lambda r: None if r.url.startswith(url) else self.foreign.append(r.url)
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def close(self) -> None:
        self.context.close()
        assert self.foreign == [], f"requests left the app: {self.foreign}"
        assert self.errors == [], f"browser errors: {self.errors}"
