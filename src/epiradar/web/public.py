"""The public dashboard and the open-data API: aggregates with small counts suppressed (docs/open-data.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
