"""Write a simulation as the input files of epiradar: the city folder, visits and the truth."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from epiradar.sim.visits import COLUMNS

if TYPE_CHECKING:
    from epiradar.sim.city import City
    from epiradar.sim.scenarios import Simulation


def write_city(city: City, out_dir: str | Path) -> dict[str, Path]:
    """``regions.geojson``, ``facilities.csv``, ``places.csv`` and ``mobility.csv`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    features = []
    for r in city.regions:
        props: dict[str, object] = {"id": r.id, "name": r.name, "population": r.population}
        if r.parent_id is not None:
            props["parent_id"] = r.parent_id
        if r.parent_name is not None:
            props["parent_name"] = r.parent_name
        features.append({"type": "Feature", "properties": props, "geometry": r.geometry})
    paths = {
        "regions": out / "regions.geojson",
        "facilities": out / "facilities.csv",
        "places": out / "places.csv",
        "mobility": out / "mobility.csv",
    }
    with paths["regions"].open("w", encoding="utf-8") as f:
        json.dump({"type": "FeatureCollection", "features": features}, f, ensure_ascii=False)
    _write_rows(
        paths["facilities"],
        ["id", "name", "region_id", "lat", "lon", "fever_clinic", "capacity"],
        [
            [
                x.id,
                x.name,
                x.region_id,
                x.lat,
                x.lon,
                "true" if x.fever_clinic else "false",
                x.capacity,
            ]
            for x in city.facilities
        ],
    )
    _write_rows(
        paths["places"],
        ["id", "name", "kind", "region_id", "lat", "lon"],
        [[p.id, p.name, p.kind, p.region_id, p.lat, p.lon] for p in city.places],
    )
    _write_rows(
        paths["mobility"],
        ["origin", "destination", "flow"],
        [[m.origin, m.destination, m.flow] for m in city.mobility],
    )
    return paths


def _write_rows(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows([["" if v is None else v for v in row] for row in rows])


def _for_output(df: pd.DataFrame) -> pd.DataFrame:
    """The canonical columns, ages as whole numbers (the simulator rounds the other floats)."""
    out = df.loc[:, list(COLUMNS)].copy()
    out["age"] = out["age"].round().astype("Int64")
    return out


def write_visits(df: pd.DataFrame, path: str | Path) -> Path:
    """Visits in the canonical columns as ``.csv`` (UTF-8, empty = unknown) or ``.jsonl``
    (one object per line, the same field names, unknown = null)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        _for_output(df).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    elif path.suffix == ".jsonl":
        _for_output(df).to_json(
            path, orient="records", lines=True, force_ascii=False, double_precision=6
        )
    else:
        raise ValueError(f"unsupported visits format {path.suffix!r}: use .csv or .jsonl")
    return path


def write_simulation(
    sim: Simulation, out_dir: str | Path, *, fmt: Literal["csv", "jsonl"] = "csv"
) -> dict[str, Path]:
    """The city files, ``visits.csv`` (or ``visits.jsonl``) and ``truth.json`` in ``out_dir``."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unsupported format {fmt!r}: use 'csv' or 'jsonl'")
    paths = write_city(sim.city, out_dir)
    paths["visits"] = write_visits(sim.visits, Path(out_dir) / f"visits.{fmt}")
    paths["truth"] = Path(out_dir) / "truth.json"
    with paths["truth"].open("w", encoding="utf-8") as f:
        json.dump(sim.truth, f, ensure_ascii=False, indent=2)
    return paths
