"""rank_exposures: a planted source ranks first; the exposure window is honoured."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from epiradar.trace import conditional_odds_ratio, fisher_pvalue, rank_exposures

DAY = dt.date(2024, 6, 20)


def _long(prefix: str, n: int, rng, places: list[str], planted: float = 0.0):
    """Visits reporting 0-3 background places; a share ``planted`` also reports 'market-7'."""
    rows = []
    for i in range(n):
        visit = f"{prefix}{i}"
        chosen = set(rng.choice(places, size=rng.integers(0, 4), replace=False))
        if rng.random() < planted:
            chosen.add("market-7")
        for place in sorted(chosen):
            rows.append((visit, DAY, place, DAY - dt.timedelta(days=int(rng.integers(0, 10)))))
        if not chosen:
            rows.append((visit, DAY, np.nan, pd.NaT))
    return pd.DataFrame(rows, columns=["visit_id", "visit_date", "place_id", "exposure_date"])


def test_planted_source_ranks_first():
    rng = np.random.default_rng(42)
    background = [f"place-{i}" for i in range(40)] + ["market-7"]
    cases = _long("case", 30, rng, background, planted=0.6)
    controls = _long("ctrl", 300, rng, background)
    ranked = rank_exposures(cases, controls, window_days=14)
    top = ranked.iloc[0]
    assert top["place_id"] == "market-7" and top["rank"] == 1
    assert top["q_value"] < 0.001 and top["odds_ratio"] > 5 and top["ci_low"] > 1
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    assert (ranked["cases_total"] == 30).all() and (ranked["controls_total"] == 300).all()
    assert ranked["score"].is_monotonic_decreasing
    assert (ranked.loc[ranked["odds_ratio"] <= 1, "score"] == 0).all()


def test_counts_and_statistics_of_one_place():
    cases = pd.DataFrame(
        {
            "visit_id": ["c1", "c1", "c2", "c3", "c4"],
            "visit_date": [DAY] * 5,
            "place_id": ["p", "p", "p", "q", np.nan],  # c1 reports p twice: counted once
            "exposure_date": [DAY] * 4 + [pd.NaT],
        }
    )
    controls = pd.DataFrame(
        {
            "visit_id": [f"k{i}" for i in range(10)],
            "visit_date": [DAY] * 10,
            "place_id": ["p"] + ["q"] * 3 + [np.nan] * 6,
            "exposure_date": [pd.NaT] * 10,
        }
    )
    ranked = rank_exposures(cases, controls).set_index("place_id")
    p = ranked.loc["p"]
    assert (p["cases_exposed"], p["cases_total"], p["controls_exposed"], p["controls_total"]) == (
        2,
        4,
        1,
        10,
    )
    assert p["p_value"] == pytest.approx(fisher_pvalue(2, 2, 1, 9)[()], rel=1e-12)
    assert p["odds_ratio"] == pytest.approx(conditional_odds_ratio(2, 2, 1, 9)[0])
    assert p["odds_ratio_sample"] == pytest.approx(2.5 * 9.5 / (2.5 * 1.5))
    assert ranked.loc["q", "score"] == 0.0  # 1/4 cases vs 3/10 controls: OR < 1
    assert ranked.loc["p", "rank"] == 1
    assert len(rank_exposures(cases, controls, min_cases_exposed=2)) == 1


def test_exposures_outside_the_window_do_not_count():
    cases = pd.DataFrame(
        {
            "visit_id": ["c1", "c2", "c3", "c4"],
            "visit_date": pd.to_datetime([DAY] * 4),
            "place_id": ["p", "p", "p", "p"],
            "exposure_date": pd.to_datetime(
                [
                    DAY - dt.timedelta(days=3),
                    DAY - dt.timedelta(days=20),
                    pd.NaT,
                    DAY + dt.timedelta(days=1),
                ]
            ),
        }
    )
    controls = pd.DataFrame(
        {
            "visit_id": ["k1", "k2"],
            "visit_date": [DAY] * 2,
            "place_id": [np.nan, "p"],
            "exposure_date": [pd.NaT, DAY - dt.timedelta(days=30)],
        }
    )
    windowed = rank_exposures(cases, controls, window_days=14).iloc[0]
    assert windowed["cases_exposed"] == 2  # 3 days before, and undated
    assert windowed["controls_exposed"] == 0
    unwindowed = rank_exposures(cases, controls).iloc[0]
    assert unwindowed["cases_exposed"] == 4 and unwindowed["controls_exposed"] == 1


def test_ties_break_by_cases_then_place_and_empty_input():
    cases = pd.DataFrame(
        {
            "visit_id": ["c1", "c2", "c3"],
            "visit_date": [DAY] * 3,
            "place_id": ["b", "a", "z"],
            "exposure_date": [pd.NaT] * 3,
        }
    )
    controls = pd.DataFrame(
        {
            "visit_id": ["k1", "k2"],
            "visit_date": [DAY] * 2,
            "place_id": ["a", "b"],
            "exposure_date": [pd.NaT] * 2,
        }
    )
    ranked = rank_exposures(cases, controls)
    assert ranked["place_id"].tolist() == ["z", "a", "b"]
    empty = rank_exposures(cases.assign(place_id=np.nan), controls)
    assert empty.empty and "rank" in empty.columns
