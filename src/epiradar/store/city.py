"""The city: regions, facilities, places and mobility flows."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Engine, delete, insert, select

from epiradar.model import Facility, MobilityFlow, Place, Region
from epiradar.store.schema import facilities, mobility, places, regions


def load_city(
    engine: Engine,
    region_list: Sequence[Region],
    facility_list: Sequence[Facility],
    place_list: Sequence[Place],
    flows: Sequence[MobilityFlow],
) -> None:
    """Replace the whole city in one transaction."""
    with engine.begin() as conn:
        for table in (mobility, places, facilities, regions):
            conn.execute(delete(table))
        region_rows = [
            r.model_dump() | {"geometry": json.dumps(r.geometry) if r.geometry else None}
            for r in region_list
        ]
        for table, rows in (
            (regions, region_rows),
            (facilities, [f.model_dump() for f in facility_list]),
            (places, [p.model_dump() for p in place_list]),
            (mobility, [m.model_dump() for m in flows]),
        ):
            if rows:
                conn.execute(insert(table), rows)


def list_regions(engine: Engine) -> list[Region]:
    with engine.connect() as conn:
        rows = conn.execute(select(regions).order_by(regions.c.id)).mappings().all()
    return [
        Region(**{**row, "geometry": json.loads(row["geometry"]) if row["geometry"] else None})
        for row in rows
    ]


def list_facilities(engine: Engine) -> list[Facility]:
    with engine.connect() as conn:
        rows = conn.execute(select(facilities).order_by(facilities.c.id)).mappings().all()
    return [Facility(**row) for row in rows]


def list_places(engine: Engine) -> list[Place]:
    with engine.connect() as conn:
        rows = conn.execute(select(places).order_by(places.c.id)).mappings().all()
    return [Place(**row) for row in rows]


def list_mobility(engine: Engine) -> list[MobilityFlow]:
    with engine.connect() as conn:
        stmt = select(mobility).order_by(mobility.c.origin, mobility.c.destination)
        rows = conn.execute(stmt).mappings().all()
    return [MobilityFlow(**row) for row in rows]
