"""Space-time scans in the product: settings, merging with temporal signals, storage, detection
on a simulated city and what the alert page and API show."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text

from epiradar.config import DetectSettings, Settings, SpaceTimeSettings, load_settings
from epiradar.detect.engine import spacetime_signals
from epiradar.detect.merge import group_signals
from epiradar.model import Alert, Region, Severity, Signal, Syndrome
from epiradar.service.city import load_city
from epiradar.service.detection import (
    cluster_signals,
    compute_alerts,
    finest_regions,
    replay_detection,
    run_detection,
)
from epiradar.service.ingest import ingest_file
from epiradar.sim.scenarios import simulate
from epiradar.sim.writers import write_simulation
from epiradar.store import Store
from epiradar.store.migrate import upgrade
from epiradar.web.app import create_app
from epiradar.web.templating import fmt_interval
from web_support import authorize

END = dt.date(2026, 6, 30)
OUTBREAK_START = END - dt.timedelta(days=12)
MONITOR_START = END - dt.timedelta(days=20)
GI = Syndrome.GASTROINTESTINAL
DAY = dt.date(2026, 5, 10)


# ---------------------------------------------------------------------------------------------
# settings


@pytest.fixture
def _isolated(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("EPIRADAR_CONFIG", "EPIRADAR_DB"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_documented_ones() -> None:
    st = DetectSettings().spacetime
    assert st.enabled and st.method == "permutation" and st.shape == "circle"
    assert (st.max_days, st.max_fraction, st.min_cases, st.n_sim) == (7, 0.2, 3, 999)
    assert (st.max_radius_km, st.max_neighbors) == (None, None)
    assert (st.min_recurrence_days, st.study_days, st.baseline_days) == (365.0, 365, 28)
    assert st.by_syndrome == {}


@pytest.mark.usefixtures("_isolated")
def test_per_syndrome_settings_from_toml(tmp_path) -> None:
    (tmp_path / "epiradar.toml").write_text(
        "[detect.spacetime]\n"
        "max_radius_km = 6.0\n"
        "min_recurrence_days = 100\n"
        "[detect.spacetime.by_syndrome.ili]\n"
        "enabled = false\n"
        "[detect.spacetime.by_syndrome.gastrointestinal]\n"
        'method = "poisson"\n'
        "max_days = 3\n",
        encoding="utf-8",
    )
    st = load_settings().detect.spacetime
    assert not st.for_syndrome("ili").enabled
    gi = st.for_syndrome(GI)
    assert (gi.method, gi.max_days, gi.max_radius_km, gi.min_recurrence_days) == (
        "poisson",
        3,
        6.0,
        100.0,
    )
    fever = st.for_syndrome(Syndrome.FEVER)
    assert (fever.method, fever.max_days, fever.enabled) == ("permutation", 7, True)


@pytest.mark.usefixtures("_isolated")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('method = "kulldorff"', "method"),
        ('shape = "square"', "shape"),
        ("max_fraction = 0.8", "max_fraction"),
        ("max_days = 0", "max_days"),
        ("n_sim = 10", "n_sim"),
        ("study_days = 10", "study_days"),
        ("min_recurrence_days = 5000", "min_recurrence_days"),
        ('shape = "adjacency"\nmax_radius_km = 3', "max_radius_km"),
        ("max_dayz = 3", "max_dayz"),
        ("[detect.spacetime.by_syndrome.gastrointestinal]\nmax_days = 99", "max_days"),
        ("[detect.spacetime.by_syndrome.gastrointestinal]\nstudy_days = 10", "gastrointestinal"),
        ("[detect.spacetime.by_syndrome.flu]\nenabled = false", "flu"),
    ],
)
def test_bad_spacetime_settings_are_refused_naming_the_entry(tmp_path, text, message) -> None:
    (tmp_path / "epiradar.toml").write_text(f"[detect.spacetime]\n{text}\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=message):
        load_settings()


# ---------------------------------------------------------------------------------------------
# scanning a grid of regions

GRID = 6  # 6 x 6 square regions of 0.02 degrees (about 2 km)
HOT = ["G15", "G20", "G21", "G22", "G27"]  # a region and its four neighbours


def _grid_regions() -> list[Region]:
    def square(col: int, row: int) -> dict:
        x0, y0 = 121.4 + 0.02 * col, 31.2 + 0.02 * row
        ring = [[x0, y0], [x0 + 0.02, y0], [x0 + 0.02, y0 + 0.02], [x0, y0 + 0.02], [x0, y0]]
        return {"type": "Polygon", "coordinates": [ring]}

    return [
        Region(
            id=f"G{i:02d}",
            name=f"Grid {i}",
            population=1000,
            parent_id="D1" if i < 18 else "D2",
            geometry=square(i % GRID, i // GRID),
        )
        for i in range(GRID * GRID)
    ]


def _grid_counts(outbreak: bool, seed: int = 2) -> tuple[np.ndarray, list[dt.date]]:
    rng = np.random.default_rng(seed)
    days = 120
    counts = rng.poisson(1.5, size=(GRID * GRID, days))
    if outbreak:  # six extra visits a day in each hot region over the last 3 days
        for z in HOT:
            counts[int(z[1:]), -3:] += 6
    dates = [END - dt.timedelta(days=days - 1 - i) for i in range(days)]
    return counts, dates


@pytest.mark.parametrize(
    "options",
    [
        {"method": "permutation"},
        {"method": "permutation", "adjacency": "touching"},
        {"method": "poisson"},
        {"method": "permutation", "max_radius_km": 3.0},
    ],
)
def test_each_method_and_shape_finds_an_injected_block(options) -> None:
    regions = _grid_regions()
    centroids = np.array(
        [[31.21 + 0.02 * (i // GRID), 121.41 + 0.02 * (i % GRID)] for i in range(36)]
    )
    options = dict(options)
    if options.pop("adjacency", None):
        options["adjacency"] = [
            [j for j in range(36) if abs(j % GRID - i % GRID) + abs(j // GRID - i // GRID) == 1]
            for i in range(36)
        ]
    ids = [r.id for r in regions]
    counts, dates = _grid_counts(outbreak=True)
    found = spacetime_signals(
        counts, ids, dates, GI, coords=centroids, monitor_start=END, **options
    )
    assert len(found) == 1
    [cluster] = found
    assert set(HOT) <= set(cluster.region_ids) and len(cluster.region_ids) <= 6
    assert (cluster.date, cluster.start_date) == (END, END - dt.timedelta(days=2))
    assert cluster.detector == f"spacetime:{options['method']}"
    assert cluster.recurrence_interval >= 365 and cluster.p_value <= 1 / 365
    null, _ = _grid_counts(outbreak=False)
    week = END - dt.timedelta(days=6)
    assert not spacetime_signals(
        null, ids, dates, GI, coords=centroids, monitor_start=week, **options
    )


def test_scans_run_on_the_finest_regions_with_their_settings() -> None:
    regions = _grid_regions()
    district = Region(id="D1", name="District 1", population=18_000, geometry=None)
    nowhere = Region(id="X", name="No boundary", population=10)
    everything = [district, nowhere, *regions]
    assert [r.id for r in finest_regions(everything)] == [r.id for r in regions]
    counts, dates = _grid_counts(outbreak=True)
    keys = [(r.id, GI) for r in everything]
    cube = np.zeros((len(keys), len(dates)))
    cube[2:] = counts
    cfg = DetectSettings(syndromes=[GI], spacetime={"shape": "adjacency"})
    [cluster] = cluster_signals(cube, keys, dates, everything, cfg, monitor_start=END)
    assert set(HOT) <= set(cluster.region_ids)
    off = DetectSettings(syndromes=[GI], spacetime={"by_syndrome": {GI: {"enabled": False}}})
    assert cluster_signals(cube, keys, dates, everything, off, monitor_start=END) == []


# ---------------------------------------------------------------------------------------------
# merging


def _cluster(day: dt.date, zones: list[str], start: dt.date, p: float = 0.001) -> Signal:
    return Signal(
        date=day,
        region_id=zones[0],
        syndrome=GI,
        detector="spacetime:permutation",
        observed=40,
        expected=12.5,
        upperbound=12.5,
        p_value=p,
        region_ids=zones,
        start_date=start,
        recurrence_interval=1 / p,
    )


def _temporal(day: dt.date, region: str | None, p: float = 1e-5) -> Signal:
    return Signal(
        date=day,
        region_id=region,
        syndrome=GI,
        detector="nb_glm",
        observed=9,
        expected=2,
        upperbound=6,
        p_value=p,
    )


NEIGHBOURS = {"A": {"B"}, "B": {"A", "C"}, "C": {"B", "D"}, "D": {"C"}, "E": set()}


def test_a_cluster_found_on_several_days_and_a_temporal_signal_in_it_make_one_alert() -> None:
    signals = [
        _cluster(DAY, ["B", "C"], DAY - dt.timedelta(days=2), p=0.002),
        _cluster(DAY + dt.timedelta(days=1), ["C", "B", "D"], DAY - dt.timedelta(days=2)),
        _temporal(DAY - dt.timedelta(days=1), "D"),  # next to the cluster, inside its window
        _temporal(DAY, "E"),  # elsewhere
        _temporal(DAY, None),  # the city
    ]
    groups = group_signals(signals, NEIGHBOURS, correction="none")
    assert len(groups) == 3
    (alert, members) = next(g for g in groups if g[0].cluster_region_ids)
    assert alert.cluster_region_ids == ["B", "C", "D"]
    assert alert.region_ids == ["B", "C", "D"]
    assert alert.recurrence_interval == pytest.approx(1000)
    assert (alert.start_date, alert.first_alarm_date, alert.end_date) == (
        DAY - dt.timedelta(days=2),
        DAY - dt.timedelta(days=1),
        DAY + dt.timedelta(days=1),
    )
    assert alert.detector == "nb_glm,spacetime:permutation" and alert.n_signals == 3
    assert (alert.observed, alert.expected) == (40, 12.5)  # the cluster counts more visits
    assert alert.p_value == 1e-5
    assert sum(1 for s in members if s.is_cluster) == 2


def test_clusters_apart_in_place_or_time_stay_apart() -> None:
    far_later = DAY + dt.timedelta(days=10)
    signals = [
        _cluster(DAY, ["A"], DAY),
        _cluster(DAY, ["E"], DAY),  # no common or neighbouring region
        _cluster(far_later, ["A", "B"], far_later - dt.timedelta(days=1)),  # much later
        _temporal(DAY + dt.timedelta(days=3), "A"),  # beyond the gap after the first cluster
    ]
    alerts = [a for a, _ in group_signals(signals, NEIGHBOURS, gap_days=1)]
    assert len(alerts) == 4
    only = next(a for a in alerts if a.region_ids == ["E"])
    assert only.cluster_region_ids == ["E"] and only.severity == Severity.LOW
    assert (only.observed, only.expected, only.first_alarm_date) == (40, 12.5, DAY)


# ---------------------------------------------------------------------------------------------
# storage


def test_clusters_round_trip_through_the_store(store: Store) -> None:
    cluster = _cluster(DAY, ["B", "C"], DAY - dt.timedelta(days=3))
    plain = _temporal(DAY, "B")
    (alert, members), *_ = group_signals([cluster, plain], NEIGHBOURS)
    store.replace_alerts([alert], [(alert.id, s) for s in members], DAY, DAY)
    assert store.alert(alert.id) == alert
    assert store.alert(alert.id).cluster_region_ids == ["B", "C"]
    stored = store.alert_signals(alert.id)
    assert sorted(stored, key=lambda s: s.detector) == sorted(members, key=lambda s: s.detector)


def test_migration_keeps_earlier_alerts_readable(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(store.engine, "0002")
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO alerts (id, syndrome, region_ids, start_date, end_date, "
                "first_alarm_date, observed, expected, p_value, severity, detector, status, "
                "n_signals, created_at) VALUES ('old', 'fever', '[\"R1\"]', '2026-01-02', "
                "'2026-01-02', '2026-01-02', 5, 1, 0.001, 'low', 'C2', 'new', 1, 'x')"
            )
        )
    store.migrate()
    old = store.alert("old")
    assert old is not None and old.cluster_region_ids == [] and old.recurrence_interval is None
    store.close()


# ---------------------------------------------------------------------------------------------
# detection on a simulated city


def _simulated_store(directory: Path, scenario: str, seed: int) -> tuple[Store, Settings, dict]:
    """120 sub-districts, 120 days, 300 visits a day; a 50-case point source of gastrointestinal
    illness (homes about 2 km around the source) from ``OUTBREAK_START``; only the
    gastrointestinal syndrome is monitored (to keep the test fast)."""
    settings = Settings(
        db=f"sqlite:///{directory / 'sim.db'}",
        pseudonym_key="test-key",
        detect={"syndromes": [GI]},
    )
    store = Store(settings.db)
    store.migrate()
    outbreak = (
        {"outbreak_start": OUTBREAK_START, "syndrome": str(GI)} if scenario != "baseline" else {}
    )
    sim = simulate(
        scenario,
        seed=seed,
        days=120,
        end_date=END,
        n_regions=120,
        daily_visits=300,
        outbreak_size=50,
        **outbreak,
    )
    write_simulation(sim, directory / "city")
    load_city(store, directory / "city")
    ingest_file(store, directory / "city" / "visits.csv", settings, progress=False)
    return store, settings, sim.truth


def _without_scans(settings: Settings) -> Settings:
    detect = settings.detect.model_copy(update={"spacetime": SpaceTimeSettings(enabled=False)})
    return settings.model_copy(update={"detect": detect})


@pytest.fixture(scope="module")
def spread_outbreak(tmp_path_factory) -> Iterator[tuple[Store, Settings, dict, list[Alert]]]:
    store, settings, truth = _simulated_store(tmp_path_factory.mktemp("spread"), "point-source", 1)
    alerts = run_detection(store, settings, start=MONITOR_START, end=END)
    yield store, settings, truth, alerts
    store.close()


def _scan_alerts(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if "spacetime:" in a.detector]


def test_a_spread_out_point_source_becomes_a_space_time_alert(spread_outbreak) -> None:
    store, settings, truth, alerts = spread_outbreak
    affected = set(truth["affected_regions"])
    start = dt.date.fromisoformat(truth["start_date"])
    found = _scan_alerts(alerts)
    assert len(found) == 1, [a.id for a in alerts]
    alert = found[0]
    assert alert.syndrome == GI and alert.detector == "spacetime:permutation"
    cluster = set(alert.cluster_region_ids)
    # most of the cluster is the outbreak's, and most of the outbreak is in the cluster
    assert len(cluster & affected) >= 0.6 * len(affected)
    assert len(cluster & affected) >= 0.4 * len(cluster)
    assert start <= alert.start_date <= alert.first_alarm_date <= start + dt.timedelta(days=4)
    assert alert.end_date <= END and alert.recurrence_interval >= 365
    assert alert.observed > 2 * alert.expected
    # no single sub-district's series shows it: without the scans, no alert there
    _, _, temporal = compute_alerts(store, _without_scans(settings), start=MONITOR_START, end=END)
    assert not [a for a, _ in temporal if set(a.region_ids) & affected]
    # stored with its signals
    assert store.alert(alert.id) == alert
    scans = [s for s in store.alert_signals(alert.id) if s.is_cluster]
    assert scans and all(s.recurrence_interval >= 365 for s in scans)


def test_replay_shows_what_switching_the_scans_off_would_lose(spread_outbreak) -> None:
    store, settings, _, alerts = spread_outbreak
    replay = replay_detection(
        store, settings, _without_scans(settings), start=MONITOR_START, end=END
    )
    assert len(_scan_alerts(replay.current)) == 1 and not _scan_alerts(replay.proposed)
    assert replay.current == alerts


def test_a_cluster_is_merged_with_the_temporal_alert_at_the_same_place_and_time(tmp_path) -> None:
    store, settings, truth = _simulated_store(tmp_path, "point-source", 4)
    affected = set(truth["affected_regions"])
    alerts = [a for a, _ in compute_alerts(store, settings, start=MONITOR_START, end=END)[2]]
    _, _, temporal = compute_alerts(store, _without_scans(settings), start=MONITOR_START, end=END)
    local = [a for a, _ in temporal if set(a.region_ids) & affected]
    assert local, "the temporal detectors see part of this outbreak"
    merged = _scan_alerts(alerts)
    assert len(merged) == 1
    alert = merged[0]
    assert "spacetime:permutation" in alert.detector and alert.detector != "spacetime:permutation"
    for a in local:  # the temporal alert is now part of the cluster's alert
        assert set(a.region_ids) <= set(alert.region_ids)
        assert a.id not in {b.id for b in alerts}
    assert set(alert.cluster_region_ids) <= set(alert.region_ids)
    store.close()


@pytest.mark.parametrize("seed", [1, 3])
def test_no_space_time_alert_without_an_outbreak(tmp_path, seed) -> None:
    store, settings, _ = _simulated_store(tmp_path, "baseline", seed)
    alerts = [a for a, _ in compute_alerts(store, settings, start=MONITOR_START, end=END)[2]]
    assert not _scan_alerts(alerts)
    store.close()


# ---------------------------------------------------------------------------------------------
# web


def test_alert_json_and_page_show_the_cluster(spread_outbreak) -> None:
    store, settings, _, alerts = spread_outbreak
    alert = _scan_alerts(alerts)[0]
    names = {r.id: r.name for r in store.regions()}
    with TestClient(create_app(settings, store)) as client:
        authorize(client, store)
        body = client.get(f"/api/alerts/{alert.id}").json()
        assert body["alert"]["cluster_region_ids"] == alert.cluster_region_ids
        assert body["alert"]["recurrence_interval"] == pytest.approx(alert.recurrence_interval)
        assert body["cluster_region_names"] == [names[r] for r in alert.cluster_region_ids]
        clusters = [s for s in body["signals"] if s["region_ids"]]
        assert clusters and all(s["start_date"] and s["recurrence_interval"] for s in clusters)
        listed = client.get("/api/alerts").json()
        assert any(a["id"] == alert.id and a["cluster_region_ids"] for a in listed)

        listing = client.get("/alerts").text
        assert f"recurrence {fmt_interval(alert.recurrence_interval)}" in listing
        html = client.get(f"/alerts/{alert.id}").text
    facts = re.search(r'<div id="spacetime-cluster">(.*?)</div>', html, re.S)
    assert facts is not None
    assert fmt_interval(alert.recurrence_interval) in facts.group(1)
    assert all(names[r] in facts.group(1) for r in alert.cluster_region_ids)
    figure = re.search(
        r'<script type="application/json" id="region-map-data">(.*?)</script>', html, re.S
    )
    assert figure is not None
    traces = [t for t in json.loads(figure.group(1))["data"] if t.get("meta")]
    drawn = {t["meta"]["region"] for t in traces if t["meta"]["cluster"]}
    assert drawn == set(alert.cluster_region_ids)


@pytest.mark.parametrize(
    ("days", "text"),
    [(1.0, "1 day"), (120.4, "120 days"), (1000.0, "2.7 years"), (36500.0, "100 years"),
     (1e12, "over a million years"), (None, "–")],
)  # fmt: skip
def test_recurrence_intervals_read_as_days_then_years(days, text) -> None:
    from epiradar.web.templating import fmt_interval

    assert fmt_interval(days) == text


def test_a_cluster_beyond_every_replicate_gets_a_gumbel_p_value() -> None:
    from epiradar.detect.spacetime import permutation_scan

    rng = np.random.default_rng(4)
    counts = rng.poisson(3.0, size=(49, 60))
    counts[[24, 25, 31], -3:] += 12
    coords = np.array([(i % 7, i // 7) for i in range(49)], dtype=float)
    result = permutation_scan(counts, coords, max_radius=1.5, n_sim=199, seed=1)
    top = result.most_likely
    assert top.p_value == 1 / 200  # the Monte Carlo floor
    assert 0 < top.gumbel_p_value < 1 / 200
    assert top.strongest_p_value == top.gumbel_p_value
    for c in result.clusters:  # the Gumbel tail only where the replicates cannot tell
        assert (c.gumbel_p_value is None) == (c.p_value > 1 / 200)
    null = permutation_scan(counts[:, :-3], coords, max_radius=1.5, n_sim=199, seed=1)
    plain = null.most_likely
    assert plain.p_value > 1 / 200
    assert plain.gumbel_p_value is None and plain.strongest_p_value == plain.p_value
