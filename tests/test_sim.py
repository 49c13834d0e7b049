"""The simulator: city geometry, realism of the baseline, outbreak ground truth and writers."""

from __future__ import annotations

import datetime as dt
import json
import re
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from shapely import union_all
from shapely.geometry import Point, shape

from epiradar.sim.city import City, generate_city
from epiradar.sim.scenarios import Simulation, daily_visits_for, simulate
from epiradar.sim.visits import COLUMNS
from epiradar.sim.writers import write_city, write_simulation, write_visits

END = dt.date(2025, 6, 30)
START = END - dt.timedelta(days=14)
GI = r"diarrh|腹泻|vomit|呕吐"
SMALL = {"days": 120, "end_date": END, "daily_visits": 200.0}


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(7, n_regions=12)


@pytest.fixture(scope="module")
def baseline(city: City) -> Simulation:
    return simulate("baseline", seed=7, city=city, **SMALL)


@pytest.fixture(scope="module")
def point(city: City) -> Simulation:
    return simulate("point-source", seed=7, city=city, **SMALL)


@pytest.fixture(scope="module")
def p2p(city: City) -> Simulation:
    return simulate("person-to-person", seed=7, city=city, **SMALL)


@pytest.fixture(scope="module")
def imported(city: City) -> Simulation:
    return simulate("imported", seed=7, city=city, **SMALL)


def _km(lat1, lon1, lat2, lon2) -> np.ndarray:
    dy = (np.asarray(lat1) - lat2) * 110.574
    dx = (np.asarray(lon1) - lon2) * 111.320 * np.cos(np.radians(lat2))
    return np.hypot(dx, dy)


def _places_of(exposures: pd.Series) -> pd.Series:
    """Set of reported place ids per visit."""
    return exposures.fillna("").map(lambda s: {e.split("@")[0] for e in s.split(";") if e})


def _cases(sim: Simulation) -> pd.DataFrame:
    return sim.visits.set_index("visit_id").loc[sim.truth["case_visit_ids"]]


# -- determinism -----------------------------------------------------------------------------


def test_city_is_deterministic_and_seed_dependent() -> None:
    a, b = generate_city(3, n_regions=12), generate_city(3, n_regions=12)
    assert a == b
    c = generate_city(4, n_regions=12)
    assert [r.geometry for r in a.regions] != [r.geometry for r in c.regions]


def test_same_arguments_give_byte_identical_files(tmp_path, city: City) -> None:
    kw = {"seed": 11, "days": 40, "end_date": END, "daily_visits": 80.0, "city": city}
    for name in ("a", "b"):
        write_simulation(simulate("person-to-person", **kw), tmp_path / name)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    other = simulate("person-to-person", **{**kw, "seed": 12})
    assert not other.visits.equals(simulate("person-to-person", **kw).visits)


# -- the city --------------------------------------------------------------------------------


def test_regions_tile_the_city_without_overlap(city: City) -> None:
    polys = [shape(r.geometry) for r in city.regions]
    assert all(p.is_valid and p.geom_type == "Polygon" for p in polys)
    total = sum(p.area for p in polys)
    for a, b in combinations(polys, 2):
        assert a.intersection(b).area < 1e-6 * total
    union = union_all(polys)
    assert union.area == pytest.approx(total, rel=1e-6)
    minx, miny, maxx, maxy = union.bounds
    assert 30 < (maxx - minx) * 111.32 * np.cos(np.radians(31.23)) < 50
    assert 25 < (maxy - miny) * 110.574 < 50
    assert 30.9 < union.centroid.y < 31.5 and 121.2 < union.centroid.x < 121.8
    assert [r.id for r in city.regions] == [f"R{i:03d}" for i in range(1, 13)]
    assert all(30_000 <= r.population <= 500_000 for r in city.regions)
    assert len({r.name for r in city.regions}) == len(city.regions)
    assert set(city.districts) == {r.parent_id for r in city.regions}
    assert 2 <= len(city.districts) < len(city.regions)


def test_places_and_facilities_lie_in_their_region(city: City) -> None:
    geoms = {r.id: shape(r.geometry) for r in city.regions}
    for item in [*city.places, *city.facilities]:
        assert geoms[item.region_id].contains(Point(item.lon, item.lat)), item.id
    assert [p.id for p in city.places] == [f"P{i:04d}" for i in range(1, len(city.places) + 1)]
    assert [f.id for f in city.facilities][:2] == ["H01", "H02"]
    kinds = {p.kind for p in city.places}
    assert {"restaurant", "market", "school", "station"} <= kinds
    assert sum(p.kind == "station" for p in city.places) == 1
    assert sum(f.fever_clinic for f in city.facilities) >= 3


def test_mobility_follows_a_gravity_model(city: City) -> None:
    ids = {r.id for r in city.regions}
    centre = {r.id: shape(r.geometry).centroid for r in city.regions}
    pop = {r.id: r.population for r in city.regions}
    flows = city.mobility
    assert flows and all(f.origin in ids and f.destination in ids for f in flows)
    assert all(f.origin != f.destination and f.flow > 0 for f in flows)
    dist = np.array([centre[f.origin].distance(centre[f.destination]) for f in flows])
    scaled = np.array([f.flow / (pop[f.origin] * pop[f.destination] ** 0.8) for f in flows])
    assert np.corrcoef(np.log(dist), np.log(scaled))[0, 1] < -0.8
    out = sum(f.flow for f in flows)
    assert 0.05 < out / sum(pop.values()) < 0.3


# -- baseline visits -------------------------------------------------------------------------


def test_visits_follow_the_canonical_columns(baseline: Simulation, city: City) -> None:
    v = baseline.visits
    assert list(v.columns) == list(COLUMNS)
    assert v["visit_id"].is_unique
    assert v["visit_time"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()
    assert v["visit_time"].is_monotonic_increasing
    dates = pd.to_datetime(v["visit_time"]).dt.date
    assert dates.min() == END - dt.timedelta(days=119) and dates.max() == END
    fever_clinics = {f.id for f in city.facilities if f.fever_clinic}
    assert set(v["facility_id"]) <= fever_clinics
    assert v["patient_id"].str.fullmatch(r"PT\d{7}").all()
    assert 0.02 < v["patient_id"].duplicated().mean() < 0.2  # some repeat patients
    assert set(v["sex"]) == {"M", "F", "U"}
    age = v["age"].dropna()
    assert age.between(0, 100).all() and 0 < v["age"].isna().mean() < 0.05
    assert (age < 15).mean() > 0.1 and (age >= 65).mean() > 0.1
    temp = v["temperature_c"].dropna()
    assert temp.between(35.0, 42.0).all()
    codes = v["diagnosis_codes"].dropna().str.split(";").explode()
    assert codes.str.fullmatch(r"[A-Z]\d\d(\.\d)?").all()
    assert 0.4 < v["diagnosis_codes"].notna().mean() < 0.8
    assert v["contacts"].isna().all() and v["lab_result"].notna().mean() > 0.01


def test_residence_is_sometimes_partial_and_inside_the_region(
    baseline: Simulation, city: City
) -> None:
    v = baseline.visits
    ids = {r.id for r in city.regions}
    region = v["residence_region"]
    assert set(region.dropna()) <= ids
    coords = v["residence_lat"].notna()
    assert (coords == v["residence_lon"].notna()).all()
    only_coords = (region.isna() & coords).mean()
    neither = (region.isna() & ~coords).mean()
    assert 0.01 < only_coords < 0.06 and 0.002 < neither < 0.03
    geoms = {r.id: shape(r.geometry) for r in city.regions}
    both = v[region.notna() & coords].iloc[::50]
    inside = [
        geoms[r].contains(Point(lon, lat))
        for r, lat, lon in zip(
            both["residence_region"], both["residence_lat"], both["residence_lon"], strict=True
        )
    ]
    assert all(inside)


def test_onsets_and_exposures_precede_the_visit(baseline: Simulation, city: City) -> None:
    v = baseline.visits
    visit_day = pd.to_datetime(v["visit_time"]).dt.normalize()
    onset = pd.to_datetime(v["onset_date"])
    lag = (visit_day - onset).dt.days.dropna()
    assert lag.between(0, 3).all() and 0.03 < onset.isna().mean() < 0.15
    exp = v["exposures"].dropna()
    assert exp.str.fullmatch(r"P\d{4}(@\d{4}-\d\d-\d\d)?(;P\d{4}(@\d{4}-\d\d-\d\d)?){0,3}").all()
    items = exp.str.split(";").explode()
    assert set(items.str.split("@").str[0]) <= {p.id for p in city.places}
    dated = items[items.str.contains("@")]
    back = (visit_day[dated.index] - pd.to_datetime(dated.str.split("@").str[1])).dt.days
    assert back.between(0, 13).all()
    n_places = _places_of(v["exposures"]).map(len)
    assert set(n_places) == {0, 1, 2, 3}


def test_complaints_are_bilingual_with_negations(baseline: Simulation) -> None:
    cc = baseline.visits["chief_complaint"]
    han = cc.str.contains(r"[\u4e00-\u9fff]")
    latin = cc.str.contains(r"[a-z]")
    assert 0.35 < (han & ~latin).mean() < 0.6
    assert 0.35 < (latin & ~han).mean() < 0.6
    assert (han & latin).mean() > 0.03
    for negation in ("no fever", "denies fever", "无发热", "否认发热"):
        assert cc.str.contains(negation).any(), negation
    febrile_words = cc.str.match(r"^(fever|high fever|发热|发烧|高热)") & ~cc.str.contains(
        "no fever|无发热"
    )
    assert (baseline.visits.loc[febrile_words, "temperature_c"].dropna() >= 38.0).mean() > 0.8
    negated = cc.str.contains("no fever|denies fever|无发热|否认发热")
    assert (baseline.visits.loc[negated, "temperature_c"].dropna() < 38.0).mean() > 0.9
    for word in ("cough", "咳嗽", "diarrh", "腹泻", "rash", "皮疹", "pneumonia", "肺炎"):
        assert cc.str.contains(word).any(), word


def test_day_of_week_effect(baseline: Simulation) -> None:
    day = pd.to_datetime(baseline.visits["visit_time"]).dt.normalize()
    per_day = day.value_counts()
    weekday = per_day.groupby(per_day.index.day_of_week).mean()
    assert weekday[0] > 1.15 * weekday[5] and weekday[0] > 1.15 * weekday[6]


def test_seasonality_winter_ili_summer_gi(city: City) -> None:
    sim = simulate("baseline", seed=3, city=city, days=365, end_date=END, daily_visits=150.0)
    v = sim.visits
    month = pd.to_datetime(v["visit_time"]).dt.month
    cc = v["chief_complaint"]
    ili = cc.str.contains("fever|发热|发烧") & cc.str.contains("cough|sore throat|咳嗽|咽痛")
    ili &= ~cc.str.contains("no fever|denies fever|无发热|否认发热")
    gi = cc.str.contains(GI)
    winter, summer = month.isin([12, 1, 2]), month.isin([6, 7, 8])
    assert ili[winter].sum() > 1.5 * ili[summer].sum()
    assert gi[summer].sum() > 1.3 * gi[winter].sum()


def test_gastrointestinal_counts_are_low_per_region(baseline: Simulation) -> None:
    v = baseline.visits
    gi = v[v["chief_complaint"].str.contains(GI) & v["residence_region"].notna()]
    per = gi.groupby([gi["residence_region"], gi["visit_time"].str[:10]]).size()
    per = per.unstack(fill_value=0).mean(axis=1)
    assert per.max() < 6 and per.min() > 0.1


def test_daily_visits_scales_the_volume(city: City) -> None:
    sim = simulate(
        "baseline",
        seed=1,
        city=city,
        days=60,
        end_date=END,
        daily_visits=daily_visits_for(9000, 60),
    )
    assert 0.85 * 9000 < len(sim.visits) < 1.15 * 9000


def test_defaults_end_yesterday() -> None:
    sim = simulate("point-source", n_regions=4, days=30, daily_visits=20.0, outbreak_size=10)
    last = pd.to_datetime(sim.visits["visit_time"]).max().date()
    yesterday = dt.date.today() - dt.timedelta(days=1)
    assert last <= yesterday and (yesterday - last).days <= 1
    assert sim.truth["start_date"] == (yesterday - dt.timedelta(days=14)).isoformat()


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="scenario"):
        simulate("zombies", n_regions=4, days=5)
    with pytest.raises(ValueError, match="outbreak_start"):
        simulate(
            "imported", n_regions=4, days=5, end_date=END, outbreak_start=END + dt.timedelta(days=3)
        )


# -- outbreaks -------------------------------------------------------------------------------


def test_baseline_truth_is_empty(baseline: Simulation) -> None:
    t = baseline.truth
    assert t["scenario"] == "baseline" and t["source"] is None
    assert t["case_visit_ids"] == [] and t["transmission"] == [] and t["affected_regions"] == []


def test_point_source_cases_report_the_place_and_cluster_near_it(
    point: Simulation, city: City
) -> None:
    t = point.truth
    assert t["source"]["kind"] == "place" and t["start_date"] == START.isoformat()
    place = next(p for p in city.places if p.id == t["source"]["id"])
    assert place.kind in ("restaurant", "market")
    cases = _cases(point)
    assert len(cases) == 80 == len(set(t["case_visit_ids"])) and t["transmission"] == []
    assert cases["chief_complaint"].str.contains(GI).all()
    assert (pd.to_datetime(cases["visit_time"]).dt.date > START).all()
    assert (pd.to_datetime(cases["onset_date"]).dropna().dt.date >= START).all()
    reported = _places_of(cases["exposures"]).map(lambda s: place.id in s)
    assert 0.55 < reported.mean() < 0.85  # recall 0.7
    dated = cases["exposures"].str.extract(rf"{place.id}@(\d{{4}}-\d\d-\d\d)")[0].dropna()
    assert pd.to_datetime(dated).dt.date.between(START, START + dt.timedelta(days=3)).all()
    others = point.visits[~point.visits["visit_id"].isin(t["case_visit_ids"])]
    assert _places_of(others["exposures"]).map(lambda s: place.id in s).mean() < 0.05
    d_case = _km(cases["residence_lat"], cases["residence_lon"], place.lat, place.lon)
    d_other = _km(others["residence_lat"], others["residence_lon"], place.lat, place.lon)
    assert np.nanmedian(d_case) < 0.5 * np.nanmedian(d_other)
    assert set(cases["residence_region"].dropna()) <= set(t["affected_regions"])
    assert place.region_id in t["affected_regions"]


def test_point_source_recall_is_honoured(city: City) -> None:
    sim = simulate("point-source", seed=7, city=city, recall=1.0, outbreak_size=30, **SMALL)
    pid = sim.truth["source"]["id"]
    assert _places_of(_cases(sim)["exposures"]).map(lambda s: pid in s).all()
    sim0 = simulate("point-source", seed=7, city=city, recall=0.0, outbreak_size=30, **SMALL)
    assert sim0.truth["source"]["id"] == pid
    assert not _places_of(_cases(sim0)["exposures"]).map(lambda s: pid in s).any()


def test_point_source_is_detectable_and_its_place_ranks_first(point: Simulation) -> None:
    """An EARS C1-like test flags the source's region within 7 days, and the lower confidence
    bound of the odds ratio of exposure (gastrointestinal visits vs other visits of the
    affected regions) is highest at the true place."""
    v, t = point.visits, point.truth
    gi = v["chief_complaint"].str.contains(GI)
    date = pd.to_datetime(v["visit_time"].str[:10])
    counts = v[gi].groupby([v["residence_region"], date]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=pd.date_range(date.min(), date.max()), fill_value=0)
    start = pd.Timestamp(START)
    flagged = False
    for day in pd.date_range(start, start + pd.Timedelta(days=7)):
        base = counts.loc[:, day - pd.Timedelta(days=7) : day - pd.Timedelta(days=1)]
        limit = base.mean(axis=1) + 3.09 * base.std(axis=1).clip(lower=0.5)
        alarm = (counts[day] > limit) & (counts[day] >= 3)
        flagged |= bool(alarm[alarm.index.isin(t["affected_regions"])].any())
    assert flagged
    window = (date >= start) & (date <= start + pd.Timedelta(days=10))
    window &= v["residence_region"].isin(t["affected_regions"])
    exposed = _places_of(v["exposures"])
    case_sets, ctrl_sets = exposed[window & gi], exposed[window & ~gi]
    places = sorted(set().union(*case_sets))
    a = np.array([case_sets.map(lambda s, p=p: p in s).sum() for p in places])
    c = np.array([ctrl_sets.map(lambda s, p=p: p in s).sum() for p in places])
    n1, n0 = len(case_sets), len(ctrl_sets)
    a, b, c, d = a + 0.5, n1 - a + 0.5, c + 0.5, n0 - c + 0.5
    low = np.log(a * d / (b * c)) - 1.96 * np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)  # Woolf 95 % CI
    assert places[int(np.argmax(low))] == t["source"]["id"]


def test_person_to_person_transmission_tree(p2p: Simulation) -> None:
    t = p2p.truth
    cases = _cases(p2p)
    ids = set(t["case_visit_ids"])
    assert 10 <= len(ids) <= 80 and t["source"]["kind"] == "patient"
    assert t["source"]["id"] in ids
    pairs = t["transmission"]
    assert len(pairs) == len(ids) - 1  # a tree rooted at the index case
    infectees = [b for _, b in pairs]
    assert len(set(infectees)) == len(infectees) and t["source"]["id"] not in infectees
    assert all(a in ids and b in ids for a, b in pairs)
    onset = pd.to_datetime(cases["onset_date"])
    visit = pd.to_datetime(cases["visit_time"])
    gaps = [
        (onset[b] - onset[a]).days for a, b in pairs if pd.notna(onset[a]) and pd.notna(onset[b])
    ]
    assert gaps and min(gaps) >= 1 and max(gaps) <= 15 and 2 <= np.mean(gaps) <= 5
    assert all(visit[a] <= visit[b] + pd.Timedelta(days=3) for a, b in pairs)
    index_onset = onset[t["source"]["id"]]
    assert pd.isna(index_onset) or index_onset.date() == START
    named = [
        cases.loc[a, "patient_id"] in str(cases.loc[b, "contacts"]).split(";") for a, b in pairs
    ]
    assert np.mean(named) > 0.6
    assert set(cases["contacts"].dropna().str.split(";").explode()) <= set(cases["patient_id"])
    fever = cases["chief_complaint"].str.contains("fever|发热|发烧")
    assert fever.mean() > 0.9
    assert len(t["affected_regions"]) >= 2


def test_imported_cases_start_in_the_entry_region(imported: Simulation, city: City) -> None:
    t = imported.truth
    entry = t["source"]["id"]
    assert t["source"]["kind"] == "region"
    station = next(p for p in city.places if p.kind == "station")
    assert station.region_id == entry
    cases = _cases(imported).assign(onset=lambda d: pd.to_datetime(d["onset_date"]))
    known = cases.dropna(subset=["onset", "residence_region"]).sort_values("onset")
    first = known[known["onset"] == known["onset"].min()]
    assert (first["residence_region"] == entry).all()
    early = known[known["onset"] <= known["onset"].min() + pd.Timedelta(days=2)]
    assert (early["residence_region"] == entry).mean() > 0.6
    assert len(t["affected_regions"]) > 1
    assert _places_of(cases["exposures"]).map(lambda s: station.id in s).any()
    ids = set(t["case_visit_ids"])
    assert all(a in ids and b in ids for a, b in t["transmission"])


# -- writers ---------------------------------------------------------------------------------


def test_writers_round_trip(tmp_path, point: Simulation, city: City) -> None:
    paths = write_simulation(point, tmp_path)
    gj = json.loads(paths["regions"].read_text(encoding="utf-8"))
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == len(city.regions)
    props = gj["features"][0]["properties"]
    assert {"id", "name", "population", "parent_id"} <= set(props)
    assert shape(gj["features"][0]["geometry"]).equals(shape(city.regions[0].geometry))
    fac = pd.read_csv(paths["facilities"])
    assert list(fac.columns) == [
        "id",
        "name",
        "region_id",
        "lat",
        "lon",
        "fever_clinic",
        "capacity",
    ]
    assert fac["fever_clinic"].dtype == bool and len(fac) == len(city.facilities)
    places = pd.read_csv(paths["places"])
    assert list(places.columns) == ["id", "name", "kind", "region_id", "lat", "lon"]
    assert places["id"].tolist() == [p.id for p in city.places]
    mob = pd.read_csv(paths["mobility"])
    assert list(mob.columns) == ["origin", "destination", "flow"] and len(mob) == len(city.mobility)
    back = pd.read_csv(paths["visits"], dtype={"age": "Int64"})
    v = point.visits
    assert list(back.columns) == list(COLUMNS) and len(back) == len(v)
    assert back["visit_id"].tolist() == v["visit_id"].tolist()
    assert back["chief_complaint"].tolist() == v["chief_complaint"].tolist()
    np.testing.assert_allclose(back["residence_lat"], v["residence_lat"], atol=1e-9)
    np.testing.assert_allclose(back["temperature_c"], v["temperature_c"], atol=1e-9)
    assert back["age"].astype("float").equals(v["age"].round())
    assert back["exposures"].isna().tolist() == v["exposures"].isna().tolist()
    assert json.loads(paths["truth"].read_text(encoding="utf-8")) == point.truth


def test_jsonl_and_city_writers(tmp_path, p2p: Simulation) -> None:
    path = write_visits(p2p.visits, tmp_path / "v.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(p2p.visits) and list(rows[0]) == list(COLUMNS)
    by_id = {r["visit_id"]: r for r in rows}
    case = by_id[p2p.truth["transmission"][0][1]]
    assert case["contacts"] is None or re.fullmatch(r"PT\d{7}(;PT\d{7})*", case["contacts"])
    assert any(r["residence_region"] is None for r in rows)
    assert all(r["age"] is None or isinstance(r["age"], int) for r in rows[:500])
    written = write_city(p2p.city, tmp_path / "city")
    assert sorted(p.name for p in written.values()) == [
        "facilities.csv",
        "mobility.csv",
        "places.csv",
        "regions.geojson",
    ]
    with pytest.raises(ValueError):
        write_visits(p2p.visits, tmp_path / "v.xml")
