"""Persistence: the only package that speaks SQL."""

from epiradar.store.store import Store
from epiradar.store.visits import EncodedVisits

__all__ = ["EncodedVisits", "Store"]
