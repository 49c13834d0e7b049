"""reconstruct_chains / most_likely_tree / superspreaders: the pair likelihoods equal the formula,
evidence moves probability where it should, the tree is a forest with correct generations."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from epiradar.trace.chains import (
    discrete_serial_interval,
    most_likely_tree,
    reconstruct_chains,
    superspreaders,
)

FIXTURES = Path(__file__).parent / "fixtures" / "epiestim"
W = [0.0, 0.2, 0.5, 0.3]  # serial interval: 1-3 days


def _prob(pairs: pd.DataFrame, case, infector) -> float:
    rows = pairs[pairs["case_id"] == case]
    if infector is None:
        rows = rows[rows["infector_id"].isna()]
    else:
        rows = rows[rows["infector_id"] == infector]
    assert len(rows) <= 1
    return float(rows["probability"].iloc[0]) if len(rows) else 0.0


def _random_cases(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    cases = pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(n)],
            "onset": rng.integers(0, 30, n),
            "household": rng.integers(0, n // 2, n),
            "group": np.where(rng.uniform(size=n) < 0.5, rng.integers(0, 5, n), -1),
            "x": rng.uniform(0, 10, n),
            "y": rng.uniform(0, 10, n),
        }
    )
    cases["group"] = cases["group"].where(cases["group"] >= 0)  # NaN: no group
    a, b = rng.integers(0, n, (2, n))
    contacts = pd.DataFrame(
        {"case_a": cases["case_id"].to_numpy()[a], "case_b": cases["case_id"].to_numpy()[b]}
    )
    return cases, contacts


def test_discretised_serial_interval_keeps_the_mean():
    w = discrete_serial_interval(3.0, 1.5)
    assert w[0] == 0.0 and (w >= 0).all()
    assert w.sum() == pytest.approx(1.0, abs=1e-8)
    assert (np.arange(len(w)) * w).sum() == pytest.approx(3.0, abs=1e-6)  # as EpiEstim's


def test_discretised_serial_interval_equals_epiestim():
    """EpiEstim 2.2-4 ``discr_si`` values (tests/fixtures/epiestim, made by R)."""
    ref = pd.read_csv(FIXTURES / "discr_si.csv")
    for (mean, sd), rows in ref.groupby(["mean", "sd"]):
        ours = discrete_serial_interval(mean, sd, max_days=int(rows["k"].max()))
        np.testing.assert_allclose(ours[rows["k"].to_numpy()], rows["p"], rtol=1e-9, atol=1e-12)


def test_probabilities_of_each_case_sum_to_one():
    cases, contacts = _random_cases(120, 1)
    pairs = reconstruct_chains(cases, (4.0, 2.0), contacts)
    sums = pairs.groupby("case_id")["probability"].sum()
    assert set(sums.index) == set(cases["case_id"])
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-12)
    assert (pairs.groupby("case_id")["infector_id"].apply(lambda s: s.isna().sum()) == 1).all()
    assert (pairs["case_id"] != pairs["infector_id"]).all()
    # candidates only inside the serial interval's support (1 day or more before)
    onset = cases.set_index("case_id")["onset"]
    inner = pairs[pairs["infector_id"].notna()]
    lag = onset[inner["case_id"]].to_numpy() - onset[inner["infector_id"]].to_numpy()
    assert (lag >= 1).all()


def test_first_onset_is_a_root():
    cases, contacts = _random_cases(60, 2)
    cases.loc[7, "onset"] = -5
    pairs = reconstruct_chains(cases, (4.0, 2.0), contacts)
    rows = pairs[pairs["case_id"] == "c7"]
    assert len(rows) == 1 and rows["infector_id"].isna().all() and rows["probability"].iloc[0] == 1
    assert pairs["case_id"].iloc[0] == "c7"  # cases are listed in onset order
    tree = most_likely_tree(pairs).set_index("case_id")
    assert pd.isna(tree.loc["c7", "infector_id"]) and tree.loc["c7", "generation"] == 0


def _two_candidates(**extra) -> pd.DataFrame:
    """Case 'i' (day 2) with two candidates 'a', 'b' (day 0) alike but for ``extra``."""
    cases = pd.DataFrame({"case_id": ["a", "b", "i"], "onset": [0, 0, 2]})
    for col, values in extra.items():
        cases[col] = values
    return cases


def test_recorded_contact_shifts_probability_to_that_infector():
    cases = _two_candidates()
    plain = reconstruct_chains(cases, W)
    assert _prob(plain, "i", "a") == pytest.approx(_prob(plain, "i", "b"))
    contacts = pd.DataFrame({"case_a": ["i", "zz"], "case_b": ["b", "a"]})  # 'zz': not a case
    pairs = reconstruct_chains(cases, W, contacts, contact_recall=0.5, contact_rate=0.05)
    ratio = (1 / 0.05) / ((1 - 0.5) / (1 - 0.5 * 0.05))
    assert _prob(pairs, "i", "b") / _prob(pairs, "i", "a") == pytest.approx(ratio)
    assert _prob(pairs, "i", "b") > 0.9
    tree = most_likely_tree(pairs).set_index("case_id")
    assert tree.loc["i", "infector_id"] == "b"


@pytest.mark.parametrize(("column", "lr"), [("household", "household_lr"), ("group", "group_lr")])
def test_shared_household_or_group_shifts_probability(column, lr):
    cases = _two_candidates(**{column: ["h1", "h2", "h2"]})
    pairs = reconstruct_chains(cases, W, **{lr: 7.0})
    assert _prob(pairs, "i", "b") / _prob(pairs, "i", "a") == pytest.approx(7.0)
    cases[column] = ["h1", np.nan, np.nan]  # missing values are not shared
    pairs = reconstruct_chains(cases, W, **{lr: 7.0})
    assert _prob(pairs, "i", "b") == pytest.approx(_prob(pairs, "i", "a"))


def test_nearer_home_is_more_likely_and_lat_lon_works():
    cases = _two_candidates(x=[0.0, 5.0, 4.8], y=[0.0, 0.0, 0.0])
    pairs = reconstruct_chains(cases, W)
    assert _prob(pairs, "i", "b") > 5 * _prob(pairs, "i", "a")
    deg = 1 / 111.195  # ~1 km of latitude
    geo = _two_candidates(lat=[50.0, 50 + 5 * deg, 50 + 4.8 * deg], lon=[8.0, 8.0, 8.0])
    geo_pairs = reconstruct_chains(geo, W, area=100.0)
    planar = reconstruct_chains(cases, W, area=100.0)
    assert _prob(geo_pairs, "i", "b") == pytest.approx(_prob(planar, "i", "b"), rel=1e-3)


def test_hand_computed_probabilities_equal_the_formula():
    cases = pd.DataFrame(
        {
            "case_id": [1, 2, 3, 4],
            "onset": [0, 1, 2, 3],
            "household": ["h1", "h2", "h1", None],
            "group": ["g1", "g1", "g2", None],
            "x": [0.0, 1.0, 0.0, 3.0],
            "y": [0.0, 0.0, 2.0, 0.0],
        }
    )
    contacts = pd.DataFrame({"case_a": [4], "case_b": [2]})
    kw = dict(
        contact_recall=0.6,
        contact_rate=0.1,
        household_lr=20.0,
        group_lr=5.0,
        distance_scale=1.0,
        long_range=0.3,
        external=0.01,
    )
    pairs = reconstruct_chains(cases, W, contacts, **kw)

    area = (3 + 4) * (2 + 4)  # bounding box padded by 2 km on each side

    def spatial(d):
        return 0.7 * math.exp(-d) / (2 * math.pi) * area + 0.3

    named, unnamed = 1 / 0.1, (1 - 0.6) / (1 - 0.6 * 0.1)
    # case 2 (day 1): candidate 1 (lag 1, same group, 1 km)
    w21 = 0.2 * unnamed * 5.0 * spatial(1.0)
    # case 3 (day 2): 1 (lag 2, household, 2 km), 2 (lag 1, sqrt(5) km)
    w31 = 0.5 * unnamed * 20.0 * spatial(2.0)
    w32 = 0.2 * unnamed * spatial(math.sqrt(5))
    # case 4 (day 3): 1 (lag 3, 3 km), 2 (lag 2, contact, 2 km), 3 (lag 1, sqrt(13) km)
    w41 = 0.3 * unnamed * spatial(3.0)
    w42 = 0.5 * named * spatial(2.0)
    w43 = 0.2 * unnamed * spatial(math.sqrt(13))
    expected = {
        (1, None): 1.0,
        (2, 1): w21 / (w21 + 0.01),
        (2, None): 0.01 / (w21 + 0.01),
        (3, 1): w31 / (w31 + w32 + 0.01),
        (3, 2): w32 / (w31 + w32 + 0.01),
        (3, None): 0.01 / (w31 + w32 + 0.01),
        (4, 1): w41 / (w41 + w42 + w43 + 0.01),
        (4, 2): w42 / (w41 + w42 + w43 + 0.01),
        (4, 3): w43 / (w41 + w42 + w43 + 0.01),
        (4, None): 0.01 / (w41 + w42 + w43 + 0.01),
    }
    assert len(pairs) == len(expected)
    for (case, infector), p in expected.items():
        assert _prob(pairs, case, infector) == pytest.approx(p, rel=1e-12), (case, infector)
    # each case's rows best-first; integer ids stay integers, external is <NA>
    for _, rows in pairs.groupby("case_id", sort=False):
        assert rows["probability"].is_monotonic_decreasing
    assert str(pairs["infector_id"].dtype) == "Int64"


def test_dates_give_the_same_result_as_day_numbers():
    cases, contacts = _random_cases(40, 3)
    dated = cases.assign(onset=pd.Timestamp("2024-03-01") + pd.to_timedelta(cases["onset"], "D"))
    as_days = reconstruct_chains(cases.assign(onset=cases["onset"] + 17), (4.0, 2.0), contacts)
    as_dates = reconstruct_chains(dated, (4.0, 2.0), contacts)
    pd.testing.assert_frame_equal(as_days, as_dates)
    objs = cases.assign(
        onset=[dt.date(2024, 3, 1) + dt.timedelta(days=int(d)) for d in cases["onset"]]
    )
    pd.testing.assert_frame_equal(reconstruct_chains(objs, (4.0, 2.0), contacts), as_dates)


def test_tree_and_generations_on_a_known_chain():
    # a -> b -> c -> d and b -> e; the serial interval is exactly 3 days
    cases = pd.DataFrame({"case_id": ["a", "b", "c", "d", "e"], "onset": [0, 3, 6, 9, 6]})
    pairs = reconstruct_chains(cases, [0, 0, 0, 1.0])
    tree = most_likely_tree(pairs).set_index("case_id")
    parents = tree["infector_id"].fillna("-").to_dict()
    assert parents == {"a": "-", "b": "a", "c": "b", "e": "b", "d": "c"}
    assert tree["generation"].to_dict() == {"a": 0, "b": 1, "c": 2, "e": 2, "d": 3}
    assert tree["offspring"].to_dict() == {"a": 1, "b": 2, "c": 1, "e": 0, "d": 0}
    # d's candidates c and e (both day 6) tie: c is listed first (onset, then input order)
    assert tree.loc["d", "probability"] == pytest.approx(_prob(pairs, "d", "c"))
    expected = pairs[pairs["infector_id"].notna()].groupby("infector_id")["probability"].sum()
    for case, value in expected.items():
        assert tree.loc[case, "expected_offspring"] == pytest.approx(value)


def test_same_day_transmission_gives_a_forest():
    rng = np.random.default_rng(4)
    n = 300
    cases = pd.DataFrame({"case_id": np.arange(n), "onset": rng.integers(0, 6, n)})
    pairs = reconstruct_chains(cases, [0.6, 0.4], external=1e-6)  # lag 0 allowed: j <-> i
    both = pairs.merge(
        pairs, left_on=["case_id", "infector_id"], right_on=["infector_id", "case_id"]
    )
    assert len(both)  # the pairs have both directions...
    # ...and the bare argmax tree would have cycles; the result must not
    tree = most_likely_tree(pairs)
    parent = dict(zip(tree["case_id"], tree["infector_id"], strict=True))
    gen = dict(zip(tree["case_id"], tree["generation"], strict=True))
    for case in parent:
        seen, k = set(), case
        while not pd.isna(parent[k]):
            assert k not in seen
            seen.add(k)
            k = parent[k]
        if pd.isna(parent[case]):
            assert gen[case] == 0
        else:
            assert gen[case] == gen[parent[case]] + 1
    pd.testing.assert_frame_equal(tree, most_likely_tree(pairs))  # deterministic


def test_ties_go_to_the_row_listed_first():
    cases = _two_candidates()
    pairs = reconstruct_chains(cases, W)
    tree = most_likely_tree(pairs).set_index("case_id")
    assert tree.loc["i", "infector_id"] == "a"
    swapped = reconstruct_chains(cases.iloc[[1, 0, 2]], W)
    assert most_likely_tree(swapped).set_index("case_id").loc["i", "infector_id"] == "b"


def _superspreading_outbreak(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Case 0 infects 15; the others infect 0-2 each (serial interval 2-4 days)."""
    rng = np.random.default_rng(seed)
    onset, parent = [0], [-1]
    for _ in range(15):
        onset.append(int(rng.integers(2, 5)))
        parent.append(0)
    k = 1
    while k < len(onset) and len(onset) < 80:
        for _ in range(int(rng.integers(0, 3))):
            onset.append(onset[k] + int(rng.integers(2, 5)))
            parent.append(k)
        k += 1
    n = len(onset)
    cases = pd.DataFrame(
        {
            "case_id": np.arange(n),
            "onset": onset,
            "x": rng.uniform(0, 20, n),
            "y": rng.uniform(0, 20, n),
        }
    )
    named = [(i, p) for i, p in enumerate(parent) if p >= 0 and rng.uniform() < 0.7]
    return cases, pd.DataFrame(named, columns=["case_a", "case_b"]), n


def test_superspreader_found_in_simulated_outbreak():
    cases, contacts, n = _superspreading_outbreak(5)
    pairs = reconstruct_chains(cases, [0, 0, 1 / 3, 1 / 3, 1 / 3], contacts)
    tree = most_likely_tree(pairs)
    top = superspreaders(tree)
    assert top["case_id"].iloc[0] == 0 and top["rank"].iloc[0] == 1
    assert top["expected_offspring"].iloc[0] > 8
    assert (top["expected_offspring"] > top["threshold"]).all()
    assert top["score"].is_monotonic_decreasing
    assert len(top) <= 3
    # from the pairs directly: the same offspring; a negative binomial raises the threshold
    from_pairs = superspreaders(pairs)
    assert from_pairs["case_id"].iloc[0] == 0
    assert from_pairs["expected_offspring"].iloc[0] == pytest.approx(
        top["expected_offspring"].iloc[0]
    )
    nb = superspreaders(pairs, dispersion=0.2)
    assert nb["threshold"].iloc[0] > from_pairs["threshold"].iloc[0]
    assert superspreaders(tree, threshold=100.0).empty


def test_min_probability_drops_rows():
    cases, contacts = _random_cases(80, 6)
    full = reconstruct_chains(cases, (4.0, 2.0), contacts)
    kept = reconstruct_chains(cases, (4.0, 2.0), contacts, min_probability=0.01)
    assert len(kept) < len(full) and (kept["probability"] >= 0.01).all()


def test_a_few_thousand_cases():
    rng = np.random.default_rng(7)
    n = 3000
    cases = pd.DataFrame(
        {
            "case_id": np.arange(n),
            "onset": np.sort(rng.integers(0, 90, n)),
            "household": rng.integers(0, 1500, n),
            "x": rng.uniform(0, 30, n),
            "y": rng.uniform(0, 30, n),
        }
    )
    pairs = reconstruct_chains(cases, (4.0, 2.0), min_probability=1e-6)
    tree = most_likely_tree(pairs)
    assert len(tree) == n and tree["generation"].max() > 5


@pytest.mark.parametrize(
    ("cases", "si", "contacts", "message"),
    [
        (pd.DataFrame({"case_id": [1]}), (3, 1), None, "missing column.*onset"),
        (
            pd.DataFrame({"case_id": [1, 1], "onset": [0, 1]}),
            (3, 1),
            None,
            "case_id 1 is duplicated",
        ),
        (
            pd.DataFrame({"case_id": [1, 2], "onset": [0, np.nan]}),
            (3, 1),
            None,
            "onset is missing in row 1",
        ),
        (pd.DataFrame({"case_id": [1, 2], "onset": [0, 1.5]}), (3, 1), None, "whole days"),
        (pd.DataFrame({"case_id": [1], "onset": [0]}), (3, -1), None, "sd must be positive"),
        (pd.DataFrame({"case_id": [1], "onset": [0]}), (0.5, 1), None, "mean must exceed 1"),
        (pd.DataFrame({"case_id": [1], "onset": [0]}), [0.2, 0.5], None, "sum to 1"),
        (pd.DataFrame({"case_id": [1], "onset": [0]}), [-0.2, 1.2], None, "non-negative"),
        (
            pd.DataFrame({"case_id": [1], "onset": [0]}),
            W,
            pd.DataFrame({"a": [1]}),
            "contacts is missing",
        ),
        (pd.DataFrame({"case_id": [1], "onset": [0], "x": [1.0]}), W, None, "both x and y"),
    ],
)
def test_bad_input_raises(cases, si, contacts, message):
    with pytest.raises(ValueError, match=message):
        reconstruct_chains(cases, si, contacts)


def test_bad_parameters_raise():
    cases = _two_candidates()
    with pytest.raises(ValueError, match="contact_recall"):
        reconstruct_chains(cases, W, contact_recall=1.5)
    with pytest.raises(ValueError, match="external"):
        reconstruct_chains(cases, W, external=0)
    with pytest.raises(ValueError, match="household_lr"):
        reconstruct_chains(cases, W, household_lr=-1)
    with pytest.raises(ValueError, match="pairs is missing"):
        most_likely_tree(pd.DataFrame({"case_id": [1]}))
    with pytest.raises(ValueError, match="not a case_id"):
        most_likely_tree(pd.DataFrame({"case_id": [1], "infector_id": [9], "probability": [1.0]}))
    with pytest.raises(ValueError, match="quantile"):
        superspreaders(reconstruct_chains(cases, W), quantile=1.0)


def test_a_case_that_travelled_is_more_likely_imported() -> None:
    cases = pd.DataFrame({"case_id": [1, 2, 3], "onset": [0, 3, 3], "travel": [False, True, False]})
    pairs = reconstruct_chains(cases, (3.0, 1.5))
    external = pairs[pairs["infector_id"].isna()].set_index("case_id")["probability"]
    assert external[2] > 0.5 > external[3]
    assert external[2] == pytest.approx(100 * external[3] / (1 - external[3] + 100 * external[3]))
