"""Small-count suppression: primary and complementary suppression, and the derivation attack
(the LP audit) that every publication must withstand."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epiradar.share.suppression import (
    COMPLEMENTARY,
    PRIMARY,
    SHOWN,
    SuppressedTable,
    SuppressionRules,
    audit,
    audit_with_daily,
    suppress,
    suppress_series,
    suppress_with_daily,
    violations,
)

DEFAULT = SuppressionRules()


def naive(table: pd.DataFrame, hidden: np.ndarray, rules: SuppressionRules = DEFAULT):
    """A publication hiding exactly ``hidden`` cells (all totals shown): what a careless
    publisher would release."""
    status = pd.DataFrame(
        np.where(hidden, PRIMARY, SHOWN), index=table.index, columns=table.columns
    )
    return SuppressedTable(
        counts=table.astype("Int64").mask(hidden),
        row_totals=table.sum(axis=1).astype("Int64"),
        column_totals=table.sum(axis=0).astype("Int64"),
        total=int(table.to_numpy().sum()),
        status=status,
        row_total_status=pd.Series(SHOWN, index=table.index, dtype=object),
        column_total_status=pd.Series(SHOWN, index=table.columns, dtype=object),
        total_status=SHOWN,
        rules=rules,
    )


def check_publication(table: pd.DataFrame, s: SuppressedTable, rules: SuppressionRules) -> None:
    """Every property the publication of ``table`` must have."""
    values = table.to_numpy()
    status = s.status.to_numpy()
    small = (values >= 1) & (values < rules.min_count)
    if rules.suppress_zeros:
        small |= values == 0
    assert (status[small] == PRIMARY).all()
    assert set(np.unique(status)) <= {SHOWN, PRIMARY, COMPLEMENTARY}
    shown = status == SHOWN
    counts = s.counts.to_numpy(dtype="float64", na_value=np.nan)
    assert np.isnan(counts[~shown]).all()
    assert (counts[shown] == values[shown]).all()  # published cells are the true ones
    # published totals are the true margins; small ones are hidden
    for published, true, st_ in (
        (s.row_totals, table.sum(axis=1), s.row_total_status),
        (s.column_totals, table.sum(axis=0), s.column_total_status),
    ):
        for key in true.index:
            if st_[key] == SHOWN:
                assert int(published[key]) == int(true[key])
                assert not rules.is_primary(int(true[key]))
            else:
                assert pd.isna(published[key])
    if s.total is not None:
        assert s.total == int(values.sum())
        assert not rules.is_primary(s.total)
    # nothing published is a small count
    published_numbers = [int(v) for v in counts[shown]]
    published_numbers += [int(v) for v in s.row_totals.dropna()]
    published_numbers += [int(v) for v in s.column_totals.dropna()]
    published_numbers += [] if s.total is None else [s.total]
    assert not any(rules.is_primary(v) for v in published_numbers)
    # the derivation attack pins nothing, and proves no hidden primary count small
    attack = audit(table, s)
    assert (attack["lo"] <= attack["value"]).all() and (attack["value"] <= attack["hi"]).all()
    assert (attack["hi"] > attack["lo"]).all(), attack[attack["hi"] <= attack["lo"]]
    primary = attack[attack["status"] == PRIMARY]
    assert (primary["hi"] >= rules.min_count).all(), primary
    assert violations(table, s).empty


# --- hand-made cases of the classic attacks ---------------------------------------------------


def test_one_hidden_cell_in_a_row_is_derived_from_the_row_total() -> None:
    table = pd.DataFrame([[3, 40, 25], [30, 12, 50]], index=["A", "B"], columns=["w1", "w2", "w3"])
    hidden = table.to_numpy() < 10
    attack = audit(table, naive(table, hidden))
    row = attack[(attack["row"] == "A") & (attack["column"] == "w1")].iloc[0]
    assert row["lo"] == row["hi"] == 3  # 68 - 40 - 25: disclosed exactly
    assert not violations(table, naive(table, hidden)).empty

    s = suppress(table)
    assert s.status.at["A", "w1"] == PRIMARY
    assert s.status.loc["A"].tolist().count(SHOWN) <= 1  # a partner in row A is hidden too
    check_publication(table, s, DEFAULT)


def test_two_hidden_cells_per_row_and_column_can_still_leak() -> None:
    """The bridge case: every row and column has two hidden cells, yet the hidden 1s are pinned,
    because a hidden count is known to be at least 1 when zeros are published."""
    table = pd.DataFrame([[1, 1, 30], [15, 20, 40], [25, 30, 10]])
    hidden = np.zeros((3, 3), dtype=bool)
    hidden[0, 0] = hidden[0, 1] = hidden[1, 0] = hidden[1, 1] = True
    attack = audit(table, naive(table, hidden))
    cell = attack[(attack["row"] == 0) & (attack["column"] == 0)].iloc[0]
    assert cell["lo"] == cell["hi"] == 1
    assert not violations(table, naive(table, hidden)).empty
    check_publication(table, suppress(table), DEFAULT)


def test_a_hidden_small_cell_narrowed_below_the_threshold_is_a_violation() -> None:
    """Not exact, but the attack proves the cell is below 10: a disclosure too."""
    table = pd.DataFrame([[4, 3, 30], [12, 13, 40], [25, 30, 10]])
    hidden = np.zeros((3, 3), dtype=bool)
    hidden[0, 0] = hidden[0, 1] = hidden[1, 0] = hidden[1, 1] = True
    attack = audit(table, naive(table, hidden))
    cell = attack[(attack["row"] == 0) & (attack["column"] == 0)].iloc[0]
    assert (cell["lo"], cell["hi"]) == (1, 6)  # the hidden 3 beside it can only give 2
    assert not bool(cell["protected"])
    check_publication(table, suppress(table), DEFAULT)


def test_small_totals_are_hidden_and_protected() -> None:
    table = pd.DataFrame([[2, 3, 0], [20, 30, 40], [25, 0, 35]])
    s = suppress(table)
    assert s.row_total_status.iloc[0] == PRIMARY  # 5
    check_publication(table, s, DEFAULT)


def test_a_table_of_large_counts_is_published_whole() -> None:
    table = pd.DataFrame([[12, 40], [30, 55]])
    s = suppress(table)
    assert s.n_suppressed == 0
    assert s.total == 137
    assert audit(table, s).empty


def test_zeros_are_shown_by_default_and_hidden_on_request() -> None:
    table = pd.DataFrame([[0, 40, 25], [30, 22, 50], [15, 18, 11]])
    assert suppress(table).status.at[0, 0] == SHOWN
    rules = SuppressionRules(suppress_zeros=True)
    s = suppress(table, rules)
    assert s.status.at[0, 0] == PRIMARY
    check_publication(table, s, rules)


def test_min_count_is_configurable() -> None:
    table = pd.DataFrame([[6, 40, 25], [30, 22, 50], [15, 18, 4]])
    five = SuppressionRules(min_count=5)
    s = suppress(table, five)
    assert s.status.at[0, 0] != PRIMARY  # 6 >= 5
    assert s.status.at[2, 2] == PRIMARY
    check_publication(table, s, five)
    assert suppress(table).status.at[0, 0] == PRIMARY


def test_to_long_is_tidy_and_keeps_the_totals_on_request() -> None:
    table = pd.DataFrame([[3, 40], [30, 22]], index=pd.Index(["A", "B"]), columns=["w1", "w2"])
    s = suppress(table)
    long = s.to_long()
    assert list(long.columns) == ["kind", "row", "column", "count", "suppressed"]
    assert len(long) == 4 and str(long["count"].dtype) == "Int64"
    assert long.loc[(long["row"] == "A") & (long["column"] == "w1"), "suppressed"].item()
    full = s.to_long(totals=True)
    assert sorted(full["kind"].unique()) == ["cell", "column_total", "row_total", "total"]
    assert len(full) == 4 + 2 + 2 + 1


def test_bad_input_names_the_problem() -> None:
    with pytest.raises(ValueError, match="integers >= 0"):
        suppress(pd.DataFrame([[1, -2]]))
    with pytest.raises(ValueError, match="missing"):
        suppress(pd.DataFrame([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="min_count"):
        SuppressionRules(min_count=0)


def test_a_single_series_only_needs_primary_suppression() -> None:
    series = pd.Series([0, 3, 12, 9, 10, 250])
    out = suppress_series(series)
    assert out.isna().tolist() == [False, True, False, True, False, False]
    assert str(out.dtype) == "Int64"
    zeros = suppress_series(series, SuppressionRules(min_count=5, suppress_zeros=True))
    assert zeros.isna().tolist() == [True, True, False, False, False, False]


# --- the linked weekly table + daily series ---------------------------------------------------


def _linked(weekly: np.ndarray, rng: np.random.Generator):
    """A district x week table and city daily counts consistent with it."""
    weeks = [f"2026-W{w + 2:02d}" for w in range(weekly.shape[1])]
    monday = dt.date(2026, 1, 5)
    days, values, period = [], [], []
    for j, w in enumerate(weeks):
        split = rng.multinomial(int(weekly[:, j].sum()), [1 / 7] * 7)
        for k in range(7):
            days.append(monday + dt.timedelta(days=7 * j + k))
            values.append(int(split[k]))
            period.append(w)
    index = pd.Index(days, dtype=object)
    return (
        pd.DataFrame(weekly, columns=weeks),
        pd.Series(values, index=index),
        pd.Series(period, index=index),
    )


def test_daily_series_and_weekly_table_are_protected_together() -> None:
    rng = np.random.default_rng(3)
    table, daily, period = _linked(rng.poisson(6, size=(4, 3)), rng)
    out = suppress_with_daily(table, daily, period)
    attack = audit_with_daily(table, daily, period, out)
    assert attack["protected"].all()
    hidden_days = out.daily_status[out.daily_status != SHOWN].index
    assert out.daily[hidden_days].isna().all()
    assert not any(DEFAULT.is_primary(int(v)) for v in out.daily.dropna())
    # a week whose total is shown: its hidden days cannot be pinned from the total either
    assert (
        attack.loc[attack["kind"] == "day", "hi"] > attack.loc[attack["kind"] == "day", "lo"]
    ).all()


def test_daily_series_must_add_up_to_the_table() -> None:
    rng = np.random.default_rng(4)
    table, daily, period = _linked(rng.poisson(20, size=(2, 2)), rng)
    daily.iloc[0] += 1
    with pytest.raises(ValueError, match="sum to"):
        suppress_with_daily(table, daily, period)


# --- properties -------------------------------------------------------------------------------

RULES = st.builds(
    SuppressionRules,
    min_count=st.sampled_from([3, 5, 10]),
    suppress_zeros=st.booleans(),
)
SMALL_HEAVY = st.one_of(st.integers(0, 12), st.integers(0, 12), st.integers(0, 300))


@st.composite
def tables(draw, max_side: int = 6) -> pd.DataFrame:
    n = draw(st.integers(1, max_side))
    k = draw(st.integers(1, max_side))
    cells = draw(st.lists(SMALL_HEAVY, min_size=n * k, max_size=n * k))
    values = np.array(cells, dtype=np.int64).reshape(n, k)
    if draw(st.booleans()):  # an all-small row
        values[draw(st.integers(0, n - 1))] = draw(
            st.lists(st.integers(0, 9), min_size=k, max_size=k)
        )
    return pd.DataFrame(values)


PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(tables(), RULES)
def test_every_publication_withstands_the_attack(table: pd.DataFrame, rules) -> None:
    check_publication(table, suppress(table, rules), rules)


@PROPERTY
@given(
    st.integers(1, 12).flatmap(
        lambda k: st.lists(SMALL_HEAVY, min_size=k, max_size=k).map(lambda v: pd.DataFrame([v]))
    ),
    RULES,
)
def test_skinny_tables_withstand_the_attack(row: pd.DataFrame, rules) -> None:
    check_publication(row, suppress(row, rules), rules)
    column = row.T.reset_index(drop=True)
    check_publication(column, suppress(column, rules), rules)


@PROPERTY
@given(
    st.tuples(st.integers(1, 5), st.integers(1, 4)).flatmap(
        lambda s: st.lists(st.integers(0, 40), min_size=s[0] * s[1], max_size=s[0] * s[1]).map(
            lambda v: np.array(v).reshape(s)
        )
    ),
    st.integers(0, 2**32 - 1),
    RULES,
)
def test_linked_publications_withstand_the_attack(weekly, seed, rules) -> None:
    table, daily, period = _linked(weekly, np.random.default_rng(seed))
    out = suppress_with_daily(table, daily, period, rules)
    check_publication(table, out.weekly, rules)
    attack = audit_with_daily(table, daily, period, out)
    assert attack["protected"].all(), attack[~attack["protected"]]
    for day, status in out.daily_status.items():
        assert (status == SHOWN) == (not pd.isna(out.daily[day]))
        if status == SHOWN:
            assert int(out.daily[day]) == int(daily[day])
            assert not rules.is_primary(int(daily[day]))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=4, max_size=4).map(
        lambda v: pd.DataFrame(np.array(v).reshape(2, 2))
    ),
    st.sampled_from([SuppressionRules(min_count=3), SuppressionRules(min_count=2)]),
)
def test_the_lp_bounds_are_the_integer_bounds(table: pd.DataFrame, rules) -> None:
    """Enumerate every integer table consistent with the publication: the LP attack finds
    exactly its range (total unimodularity), so an integer attacker learns nothing more."""
    s = suppress(table, rules)
    attack = audit(table, s)
    cells = attack[attack["kind"] == "cell"]
    if cells.empty or s.total is None:
        return
    bound = s.total
    lb = rules.hidden_lower_bound
    hidden = [
        (r, c) for r, c in itertools.product(range(2), range(2)) if pd.isna(s.counts.at[r, c])
    ]
    seen: dict[tuple[int, int], list[int]] = {h: [] for h in hidden}
    for combo in itertools.product(range(lb, bound + 1), repeat=len(hidden)):
        cand = s.counts.to_numpy(dtype="float64", na_value=np.nan).copy()
        for (r, c), v in zip(hidden, combo, strict=True):
            cand[r, c] = v
        if cand.sum() != s.total:
            continue
        rows_ok = all(
            pd.isna(s.row_totals[r]) or cand[r].sum() == s.row_totals[r] for r in range(2)
        )
        cols_ok = all(
            pd.isna(s.column_totals[c]) or cand[:, c].sum() == s.column_totals[c] for c in range(2)
        )
        # a hidden total is a hidden count too: at least lb
        rows_ok &= all(not pd.isna(s.row_totals[r]) or cand[r].sum() >= lb for r in range(2))
        cols_ok &= all(not pd.isna(s.column_totals[c]) or cand[:, c].sum() >= lb for c in range(2))
        if rows_ok and cols_ok:
            for h, v in zip(hidden, combo, strict=True):
                seen[h].append(v)
    for (r, c), values in seen.items():
        row = cells[(cells["row"] == r) & (cells["column"] == c)].iloc[0]
        assert (min(values), max(values)) == (row["lo"], row["hi"])
