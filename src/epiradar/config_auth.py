"""Settings of accounts, sessions and login limits (``[auth]`` in ``epiradar.toml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class AuthSettings(BaseModel):
    """Who may use the web app and the API, and how long a login lasts."""

    required: bool = Field(
        True,
        description="refuse every call but the public ones without a login or an API token; "
        "false only for a closed demo machine: every caller then acts as an administrator",
    )
    secure_cookies: Literal["auto", "always", "never"] = Field(
        "auto", description="the session cookie's Secure flag: auto = when served over https"
    )
    session_hours: float = Field(12.0, gt=0, description="a session ends this long after login")
    lockout_minutes: float = Field(15.0, gt=0, description="the window failed logins count in")
    max_failures_per_account: int = Field(
        5, ge=1, description="failed logins of one account in the window before it is locked"
    )
    max_failures_per_address: int = Field(
        20, ge=1, description="failed logins from one address in the window before it is blocked"
    )
    min_password_length: int = Field(10, ge=8)
