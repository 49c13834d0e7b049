"""``[notify]`` settings: the SMTP server for e-mail, webhook delivery, retries and the digest
(see docs/notifications.md). Part of :class:`epiradar.config.Settings` as ``settings.notify``."""

from __future__ import annotations

import os
from email.utils import parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class SmtpSettings(BaseModel):
    """``[notify.smtp]``: the server that sends e-mail. The password never sits in the file:
    ``password_env`` names the environment variable that holds it."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, description="SMTP server; e-mail is off while unset")
    port: int = Field(587, ge=1, le=65535, description="587 (STARTTLS), 465 (SSL), 25 (none)")
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls",
        description="STARTTLS upgrade, TLS from the first byte (SMTPS), or plain text",
    )
    username: str | None = Field(None, description="login name; no login when unset")
    password_env: str = Field(
        "EPIRADAR_SMTP_PASSWORD",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable holding the password of ``username``",
    )
    sender: str = Field(
        "epiradar <epiradar@localhost>", description="From: address, optionally with a name"
    )
    ca_file: Path | None = Field(
        None,
        description="PEM file of the CA certificates the server's certificate is checked "
        "against (a private CA); default: the system's",
    )
    timeout_seconds: float = Field(30.0, gt=0, le=600)

    @field_validator("ca_file")
    @classmethod
    def _ca_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"[notify.smtp] ca_file: {value} is not a file")
        return value

    @field_validator("sender")
    @classmethod
    def _address(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address or address.startswith("@") or address.endswith("@"):
            raise ValueError(f"[notify.smtp] sender: {value!r} is not an e-mail address")
        return value

    @model_validator(mode="after")
    def _no_clear_credentials(self) -> SmtpSettings:
        if (
            self.username
            and self.security == "none"
            and (self.host or "").lower() not in LOCAL_HOSTS
        ):
            raise ValueError(
                '[notify.smtp] security: "none" would send the password of username '
                f"{self.username!r} in clear text to {self.host}: use starttls or ssl"
            )
        return self

    def password(self) -> str | None:
        """The login password from the environment (``None`` without a username)."""
        if not self.username:
            return None
        value = os.environ.get(self.password_env)
        if not value:
            raise NotifySettingsError(
                f"[notify.smtp] password_env: environment variable {self.password_env} is not "
                f"set (it holds the password of username {self.username!r})"
            )
        return value


class NotifySettings(BaseModel):
    """``[notify]``: who hears about alerts, how, and how hard delivery tries."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="queue notifications when detection stores alerts")
    max_age_days: int = Field(
        7,
        ge=1,
        description="alerts whose last signal is older than this, counted back from the end "
        "of the detection period, are history, not news: a replay of a year is not notified",
    )
    base_url: str | None = Field(
        None,
        description="the dashboard's address, for links in messages, e.g. https://epiradar.example.org",
    )
    max_attempts: int = Field(5, ge=1, le=20, description="tries per delivery, the first included")
    backoff_seconds: float = Field(
        2.0, gt=0, le=3600, description="wait after the first failed try; doubles after each"
    )
    backoff_max_seconds: float = Field(60.0, gt=0, le=3600, description="longest wait")
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=300)
    digest_when_empty: bool = Field(
        False, description="send the daily digest even when no subscribed alert was active"
    )
    smtp: SmtpSettings = SmtpSettings()

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_http_url(value, "[notify] base_url")
            value = value.rstrip("/")
        return value

    @model_validator(mode="after")
    def _backoff(self) -> NotifySettings:
        if self.backoff_max_seconds < self.backoff_seconds:
            raise ValueError(
                f"[notify] backoff_max_seconds ({self.backoff_max_seconds:g}) is below "
                f"backoff_seconds ({self.backoff_seconds:g})"
            )
        return self

    def backoff(self, failed_attempts: int) -> float:
        """Seconds to wait after the ``failed_attempts``-th failed try (1, 2, ...)."""
        return min(self.backoff_seconds * 2 ** (failed_attempts - 1), self.backoff_max_seconds)


class NotifySettingsError(ValueError):
    """Settings that sending needs are missing or wrong; the message names the entry."""


def check_http_url(value: str, what: str) -> str:
    """``value`` if it is an absolute http(s) URL with a host; else ``ValueError`` naming ``what``."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what}: {value!r} is not an http:// or https:// URL with a host")
    return value
