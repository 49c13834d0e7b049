"""Persistence: the only package that speaks SQL."""

from epiradar.store.store import Store

__all__ = ["Store"]
