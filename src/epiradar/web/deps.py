"""Request dependencies: the store and settings the app was created with."""

from __future__ import annotations

from fastapi import Request

from epiradar.config import Settings
from epiradar.store import Store


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site, else ``default``: never ``//host``, a scheme
    or a backslash, so a redirect cannot leave the site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_settings(request: Request) -> Settings:
    return request.app.state.settings
