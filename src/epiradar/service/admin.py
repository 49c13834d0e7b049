"""What the administration pages show that no other service does: the effective settings
with every secret masked, and the parsing of the scope fields of account and token forms."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from epiradar.config import Settings

MASK = "********"
_SECRET_NAME = re.compile(r"(secret|password|passwd|token|api_key|_key)$", re.IGNORECASE)
_NOT_SECRET = re.compile(r"(_env|_file|_path)$", re.IGNORECASE)


@dataclass(frozen=True)
class SettingRow:
    """One effective setting: dotted name (``notify.smtp.host``), shown value, masked or not."""

    section: str
    name: str
    value: str
    masked: bool


def is_secret(name: str) -> bool:
    """Whether a setting's name says it holds a secret (``pseudonym_key``, ``*_secret``,
    ``*password``...); names of a variable or file that holds one (``password_env``) are not."""
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET.search(name)


def mask_url(value: str) -> str:
    """``value`` with the password of a ``scheme://user:password@host`` URL masked."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if not parts.scheme or parts.password is None:
        return value
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict) and value:
        for key in sorted(value, key=str):
            _flatten(f"{prefix}.{key}" if prefix else str(key), value[key], out)
    else:
        out.append((prefix, value))


def effective_settings(settings: Settings) -> list[SettingRow]:
    """Every setting in effect (defaults, file, environment), one row each, secrets masked:
    a secret shows as ``********`` when set and empty when not; URL passwords are masked."""
    flat: list[tuple[str, Any]] = []
    _flatten("", settings.model_dump(mode="json"), flat)
    rows = []
    for name, value in flat:
        leaf = name.rsplit(".", 1)[-1]
        section = name.split(".", 1)[0] if "." in name else ""
        if is_secret(leaf):
            rows.append(SettingRow(section, name, MASK if value else "", True))
            continue
        shown = _shown(value)
        masked = mask_url(shown)
        rows.append(SettingRow(section, name, masked, masked != shown))
    return rows


def parse_districts(text: str | None) -> list[str] | None:
    """Region ids from a form field (``R05, R06`` or ``R05 R06``); none: the whole city."""
    found = [d for d in re.split(r"[\s,;]+", text or "") if d]
    return sorted(set(found)) or None
