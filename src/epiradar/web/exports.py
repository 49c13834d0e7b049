"""De-identified line-list export with k-anonymity (docs/sharing.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
