"""Daily visit counts by residence region x syndrome: the input of temporal detection."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, select

from epiradar.model import SYNDROMES
from epiradar.store._sql import batched, iso_date, object_frame
from epiradar.store.schema import daily_counts, visits

ALL = "all"
"""The syndrome of the denominator row: every visit."""

COUNT_COLUMNS = ["date", "region_id", "syndrome", "count"]


def refresh_daily_counts(engine: Engine, dates: Iterable[dt.date | str] | None = None) -> int:
    """Recompute the counts of ``dates`` (all dates when ``None``) from the visits.

    One pass groups visits by (date, region, syndrome mask); each syndrome bit and ``all`` are
    then summed from those groups. Zero counts are not stored. Returns the rows written.
    """
    with engine.begin() as conn:
        if dates is None:
            conn.execute(delete(daily_counts))
            return _write(conn, _grouped(conn, None))
        written = 0
        for batch in batched(sorted({iso_date(d) for d in dates}), 500):
            conn.execute(delete(daily_counts).where(daily_counts.c.date.in_(batch)))
            written += _write(conn, _grouped(conn, batch))
        return written


def _grouped(conn: Connection, dates: list[str] | None) -> pd.DataFrame:
    region = func.coalesce(visits.c.residence_region, "")
    stmt = select(visits.c.visit_date, region, visits.c.syndrome_mask, func.count()).group_by(
        visits.c.visit_date, region, visits.c.syndrome_mask
    )
    if dates is not None:
        stmt = stmt.where(visits.c.visit_date.in_(dates))
    names = ["date", "region_id", "mask", "count"]
    columns = list(zip(*conn.execute(stmt).all(), strict=True)) or [()] * len(names)
    return pd.DataFrame(
        {name: np.array(col, dtype=object) for name, col in zip(names, columns, strict=True)}
    ).astype({"mask": "int64", "count": "int64"})


def _write(conn: Connection, groups: pd.DataFrame) -> int:
    if groups.empty:
        return 0
    masks = groups["mask"].to_numpy(dtype=np.int64)
    parts = [groups.assign(syndrome=ALL)]
    for syndrome in SYNDROMES:
        selected = groups[(masks & syndrome.bit) != 0]
        if not selected.empty:
            parts.append(selected.assign(syndrome=str(syndrome)))
    counts = (
        pd.concat(parts).groupby(["date", "region_id", "syndrome"], as_index=False)["count"].sum()
    )
    rows = list(
        zip(
            counts["date"].tolist(),
            counts["region_id"].tolist(),
            counts["syndrome"].tolist(),
            counts["count"].astype("int64").tolist(),
            strict=True,
        )
    )
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO daily_counts (date, region_id, syndrome, count) VALUES ({', '.join([mark] * 4)})"
    conn.exec_driver_sql(sql, rows)  # plain tuples: no per-row parameter processing
    return len(rows)


def read_daily_counts(
    engine: Engine, start: dt.date | str | None = None, end: dt.date | str | None = None
) -> pd.DataFrame:
    """Stored counts in ``[start, end]``: ``date`` (``datetime.date``), ``region_id`` ("" =
    residence unknown), ``syndrome`` (a :class:`Syndrome` value or ``"all"``), ``count``."""
    stmt = select(*(daily_counts.c[c] for c in COUNT_COLUMNS)).order_by(
        daily_counts.c.date, daily_counts.c.region_id, daily_counts.c.syndrome
    )
    if start is not None:
        stmt = stmt.where(daily_counts.c.date >= iso_date(start))
    if end is not None:
        stmt = stmt.where(daily_counts.c.date <= iso_date(end))
    with engine.connect() as conn:
        frame = object_frame(conn.execute(stmt).all(), COUNT_COLUMNS)
    frame["date"] = pd.Series(
        [dt.date.fromisoformat(d) for d in frame["date"]], index=frame.index, dtype=object
    )
    frame["count"] = frame["count"].astype("int64")
    return frame
