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


def test_other_attributes_incubation_floor_and_incomplete_recall():
    rng = np.random.default_rng(7)
    foods = [f"food-{i}" for i in range(30)] + ["market-7"]  # the planted item
    cases = _long("case", 40, rng, foods, planted=0.7).rename(columns={"place_id": "food"})
    controls = _long("ctrl", 300, rng, foods).rename(columns={"place_id": "food"})
    ranked = rank_exposures(cases, controls, exposure="food")
    assert list(ranked.columns)[0] == "food" and ranked.iloc[0]["food"] == "market-7"
    with pytest.raises(ValueError, match="missing column"):
        rank_exposures(cases, controls)  # no place_id column here

    # exposures on the visit day are too recent for an incubation of at least a day
    same_day = cases.assign(exposure_date=pd.Timestamp(DAY))
    floor = rank_exposures(same_day, controls, exposure="food", min_days=1)
    assert floor.empty
    with pytest.raises(ValueError, match="min_days"):
        rank_exposures(cases, controls, exposure="food", window_days=3, min_days=5)

    # half the cases forgot everything: counted as unexposed they dilute the odds ratio
    forgot = cases["visit_id"].isin(cases["visit_id"].drop_duplicates().sample(20, random_state=1))
    partial = cases[~forgot]
    blanks = cases.loc[forgot, ["visit_id", "visit_date"]].drop_duplicates()
    partial = pd.concat([partial, blanks.assign(food=np.nan, exposure_date=pd.NaT)])
    diluted = rank_exposures(partial, controls, exposure="food").set_index("food")
    responders = rank_exposures(partial, controls, exposure="food", responders_only=True)
    responders = responders.set_index("food")
    full = ranked.set_index("food")
    assert responders.loc["market-7", "cases_total"] < diluted.loc["market-7", "cases_total"]
    assert diluted.loc["market-7", "odds_ratio"] < responders.loc["market-7", "odds_ratio"]
    assert abs(
        np.log(responders.loc["market-7", "odds_ratio"] / full.loc["market-7", "odds_ratio"])
    ) < abs(np.log(diluted.loc["market-7", "odds_ratio"] / full.loc["market-7", "odds_ratio"]))
