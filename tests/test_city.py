"""City folder reader and loading: good input round-trips, bad input names file, place, field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from epiradar.ingest.city import CityFormatError, read_city
from epiradar.service.city import load_city

SQUARE = [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]
BOWTIE = [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]


def feature(fid: str, coords=SQUARE, **props) -> dict:
    return {
        "type": "Feature",
        "properties": {"id": fid, "name": f"Region {fid}", "population": 100} | props,
        "geometry": {"type": "Polygon", "coordinates": coords},
    }


def write_city(
    directory: Path, *, features=None, facilities=None, places=None, mobility=None
) -> Path:
    features = features if features is not None else [feature("A"), feature("B", parent_id="A")]
    (directory / "regions.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    (directory / "facilities.csv").write_text(
        facilities
        or "id,name,region_id,lat,lon,fever_clinic,capacity\nF1,Clinic,A,0.5,0.5,true,30\nF2,Other,,,,0,\n"
    )
    (directory / "places.csv").write_text(
        places or "id,name,kind,region_id,lat,lon\nP1,Market,market,B,0.2,0.3\n"
    )
    (directory / "mobility.csv").write_text(mobility or "origin,destination,flow\nA,B,12.5\n")
    return directory


def test_read_city(tmp_path) -> None:
    city = read_city(write_city(tmp_path))
    assert [r.id for r in city.regions] == ["A", "B"] and city.regions[1].parent_id == "A"
    assert city.regions[0].geometry == {"type": "Polygon", "coordinates": SQUARE}
    f1, f2 = city.facilities
    assert (f1.fever_clinic, f1.capacity, f1.lat) == (True, 30, 0.5)
    assert (f2.fever_clinic, f2.region_id, f2.capacity) == (False, None, None)
    assert city.places[0].kind == "market" and city.mobility[0].flow == 12.5


def test_load_city_service(city_store, tmp_path) -> None:
    summary = load_city(city_store, write_city(tmp_path))
    assert (summary.regions, summary.facilities, summary.places, summary.mobility) == (2, 2, 1, 1)
    assert [r.id for r in city_store.regions()] == ["A", "B"]


def test_district_names_travel_from_the_city_file_to_the_store(city_store, tmp_path) -> None:
    features = [
        feature("A", parent_id="D1", parent_name="Harbour District"),
        feature("B", parent_id="D1", parent_name="Harbour District"),
        feature("C", parent_id="D2"),  # a district without a name: its id
        feature("E"),  # no district: the region is its own
    ]
    load_city(city_store, write_city(tmp_path, features=features))
    got = {r.id: (r.district_id, r.district_name) for r in city_store.regions()}
    assert got == {
        "A": ("D1", "Harbour District"),
        "B": ("D1", "Harbour District"),
        "C": ("D2", "D2"),
        "E": ("E", "Region E"),
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"features": [feature("A", coords=BOWTIE)]},
            r"regions\.geojson: feature 0: geometry: invalid polygon",
        ),
        (
            {"features": [feature("A"), feature("B", coords=[[[0, 0], [1]]])]},
            r"feature 1: geometry: malformed",
        ),
        (
            {"features": [feature("A", population="many")]},
            r"feature 0: population: not a number: 'many'",
        ),
        (
            {
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"id": "A", "population": 1},
                        "geometry": None,
                    }
                ]
            },
            r"feature 0: name: missing",
        ),
        ({"features": [feature("A", parent_id="A")]}, r"feature 0: parent_id: the region itself"),
        (
            {"facilities": "id,name,region_id,lat,lon,fever_clinic,capacity\nF1,C,A,north,0,1,\n"},
            r"facilities\.csv: row 1: lat: not a number: 'north'",
        ),
        (
            {
                "facilities": "id,name,region_id,lat,lon,fever_clinic,capacity\nF1,C,A,,,1,\nF2,C,Q,,,1,\n"
            },
            r"facilities\.csv: row 2: region_id: unknown region 'Q'",
        ),
        (
            {"facilities": "id,name,region_id,lat,lon,fever_clinic\nF1,C,A,,,1\n"},
            r"facilities\.csv: row 0: capacity: missing column",
        ),
        (
            {"places": "id,name,kind,region_id,lat,lon\nP1,M,,A,,\n"},
            r"places\.csv: row 1: kind: missing",
        ),
        (
            {"mobility": "origin,destination,flow\nA,B,lots\n"},
            r"mobility\.csv: row 1: flow: not a number",
        ),
        (
            {"mobility": "origin,destination,flow\nA,X,1\n"},
            r"mobility\.csv: row 1: destination: unknown region 'X'",
        ),
    ],
)
def test_bad_city_files_name_file_place_field(tmp_path, kwargs, message) -> None:
    with pytest.raises(CityFormatError, match=message) as caught:
        read_city(write_city(tmp_path, **kwargs))
    assert "\n" not in str(caught.value)


def test_malformed_geojson(tmp_path) -> None:
    write_city(tmp_path)
    (tmp_path / "regions.geojson").write_text("{ not json")
    with pytest.raises(CityFormatError, match=r"regions\.geojson: not valid JSON"):
        read_city(tmp_path)
