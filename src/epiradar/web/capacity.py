"""Facility capacity: reports, the capacity map, demand forecast and where a patient should go (docs/capacity.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
