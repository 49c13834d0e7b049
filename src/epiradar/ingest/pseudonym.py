"""Patient pseudonyms: HMAC-SHA256 of the raw id under a secret key, first 32 hex digits.

128 bits keep collisions out of reach for any realistic population; the same key gives the same
pseudonym (so visits and contacts of one person link up), another key gives unrelated ones.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

PSEUDONYM_HEX_DIGITS = 32


class Pseudonymizer:
    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the pseudonym key is empty")
        self._secret = secret

    def __call__(self, raw_id: str) -> str:
        mac = hmac.digest(self._secret, raw_id.strip().encode("utf-8"), hashlib.sha256)
        return mac.hex()[:PSEUDONYM_HEX_DIGITS]

    def many(self, raw_ids: Iterable[str]) -> dict[str, str]:
        """Pseudonyms of the distinct ids."""
        return {raw: self(raw) for raw in set(raw_ids)}
