"""SaTScan's case and coordinates files (../shared/data/satscan) as counts[zone, day]."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SATSCAN = Path(__file__).resolve().parents[2] / "shared" / "data" / "satscan"


@dataclass
class SatscanData:
    ids: list[str]
    coords: np.ndarray
    counts: np.ndarray
    dates: list[dt.date]


def _date(text: str) -> dt.date:
    y, m, d = (int(p) for p in text.split("/"))
    return dt.date(y, m, d)


def load(name: str, start: dt.date | None = None, end: dt.date | None = None) -> SatscanData:
    geo = [line.split() for line in (SATSCAN / f"{name}.geo").read_text().splitlines() if line]
    ids = [g[0] for g in geo]
    coords = np.array([[float(g[1]), float(g[2])] for g in geo])
    cas = [line.split() for line in (SATSCAN / f"{name}.cas").read_text().splitlines() if line]
    days = [_date(c[2]) for c in cas]
    first = start or min(days)
    last = end or max(days)
    n_days = (last - first).days + 1
    where = {z: i for i, z in enumerate(ids)}
    counts = np.zeros((len(ids), n_days), dtype=np.int64)
    for (zone, count, _), day in zip(cas, days, strict=True):
        counts[where[zone], (day - first).days] += int(count)
    dates = [first + dt.timedelta(days=i) for i in range(n_days)]
    return SatscanData(ids, coords, counts, dates)
