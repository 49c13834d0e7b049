"""Bulletins: generate, review, approve and publish (docs/bulletins.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
