"""FHIR R4 read API and Bulk Data export for authorised systems (docs/sharing.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
