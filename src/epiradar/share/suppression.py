"""Small-count suppression of published count tables, with complementary suppression and an
LP audit (the derivation attack).

Method (Hundepool A et al. (2012). Statistical Disclosure Control, Wiley, ch. 5 and 6; Cox LH
(1980). Suppression methodology and statistical disclosure control. JASA 75(370):377-385):

1. *Primary* suppression: every published quantity (cell, row total, column total, grand
   total) with ``1 <= value < min_count`` is hidden (zeros too with ``suppress_zeros``).
2. *Complementary* suppression, greedy: in every additive relation (a row, a column, the
   margins) where exactly one quantity is hidden, hide the smallest other non-zero quantity
   (inner cells before totals); repeat until no relation has a single hidden quantity.
3. *Audit*: the attacker's linear programme. Knowing every published number, the additive
   relations (cells sum to their row and column totals, totals to the grand total) and the
   rules (hidden values are ``>= 1`` when zeros are published, else ``>= 0``), the smallest
   and largest feasible value of each hidden quantity are found with
   :func:`scipy.optimize.linprog` (HiGHS). While a hidden quantity fails the requirement
   below, the smallest non-zero shown quantity in one of its relations is hidden as well and
   steps 2-3 repeat. Hiding more only widens every feasible interval, so the loop ends (at
   worst everything is hidden, which always passes).

Guarantee (what :func:`violations` checks and the tests assert), for the numbers a table
publishes (shown cells, shown totals) and every hidden quantity with feasible interval
``[lo, hi]``:

* **no exact disclosure**: ``hi > lo`` for every hidden quantity;
* **no small-count disclosure**: ``hi >= min_count`` for every primary-suppressed quantity,
  i.e. the published numbers never prove that a hidden count is below ``min_count`` (so they
  never narrow it to an interval inside ``[1, min_count - 1]``, nor to a single value).

The constraint matrices here (a two-way table with its margins, optionally linked by its
column totals to a daily series) are incidence matrices of two laminar families and hence
totally unimodular, so the LP bounds are the integer bounds: an integer-programming attacker
learns nothing more. Hidden cells are published without saying *why* they are hidden
(primary or complementary): a reader cannot tell a hidden 3 from a hidden 250.

A single series published without any totals (:func:`suppress_series`) only needs primary
suppression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

Status = Literal["shown", "primary", "complementary"]
SHOWN, PRIMARY, COMPLEMENTARY = "shown", "primary", "complementary"


@dataclass(frozen=True)
class SuppressionRules:
    """The rules in force (defaults = the ``[public]`` settings).

    ``min_count``: cells ``1 .. min_count - 1`` are hidden (primary suppression);
    ``suppress_zeros``: hide zeros too (then a reader cannot tell a hidden cell from a zero).
    """

    min_count: int = 10
    suppress_zeros: bool = False

    def __post_init__(self) -> None:
        if self.min_count < 1:
            raise ValueError(f"SuppressionRules.min_count must be >= 1, got {self.min_count}")

    def is_primary(self, value: int) -> bool:
        """Whether a published count of ``value`` is hidden by the threshold rule."""
        return (value == 0 and self.suppress_zeros) or 1 <= value < self.min_count

    @property
    def hidden_lower_bound(self) -> int:
        """What a reader knows about any hidden count: >= 1 when zeros are published."""
        return 0 if self.suppress_zeros else 1


# --- the generic problem: quantities linked by "total = sum of parts" relations --------------


@dataclass
class _Problem:
    values: np.ndarray  # int64, true value of every quantity
    tier: np.ndarray  # 0 inner cell, 1 margin, 2 grand total: complementary preference
    relations: list[tuple[int, np.ndarray]]  # (total index, part indices)
    rules: SuppressionRules
    status: np.ndarray = field(init=False)  # object array of Status
    member: list[list[int]] = field(init=False)  # quantity -> relation indices

    def __post_init__(self) -> None:
        self.status = np.array(
            [PRIMARY if self.rules.is_primary(int(v)) else SHOWN for v in self.values],
            dtype=object,
        )
        self.member = [[] for _ in range(len(self.values))]
        for r, (total, parts) in enumerate(self.relations):
            for q in (total, *parts.tolist()):
                self.member[q].append(r)

    @property
    def hidden(self) -> np.ndarray:
        return self.status != SHOWN

    def _quantities(self, r: int) -> np.ndarray:
        total, parts = self.relations[r]
        return np.concatenate(([total], parts))

    def _candidate(self, qs: np.ndarray) -> int | None:
        """The shown, non-zero quantity of ``qs`` that is cheapest to hide: an inner cell before
        a total, one that also closes another relation with a single hidden quantity, then the
        smallest value."""
        qs = qs[(self.status[qs] == SHOWN) & (self.values[qs] > 0)]
        if qs.size == 0:
            return None
        hidden = self.hidden
        closes = np.array(
            [
                -sum(hidden[self._quantities(r)].sum() == 1 for r in self.member[q])
                for q in qs.tolist()
            ]
        )
        order = np.lexsort((qs, self.values[qs], closes, self.tier[qs]))
        return int(qs[order[0]])

    def hide(self, q: int) -> None:
        if self.status[q] == SHOWN:
            self.status[q] = COMPLEMENTARY

    def greedy(self) -> None:
        """Hide a partner in every relation with exactly one hidden quantity, until none."""
        changed = True
        while changed:
            changed = False
            hidden = self.hidden
            for r in range(len(self.relations)):
                qs = self._quantities(r)
                if hidden[qs].sum() == 1:
                    q = self._candidate(qs)
                    if q is not None:
                        self.hide(q)
                        hidden[q] = True
                        changed = True

    def _system(self) -> tuple[dict[int, int], np.ndarray | None, np.ndarray | None]:
        """The attacker's equations over the hidden quantities: ``(column of each hidden
        quantity, A_eq (sparse), b_eq)``."""
        hidden = np.flatnonzero(self.hidden)
        col = {int(q): i for i, q in enumerate(hidden)}
        rows, b = [], []
        for total, parts in self.relations:
            row = np.zeros(len(hidden))
            rhs = 0.0
            for q, c in ((total, -1.0), *((p, 1.0) for p in parts.tolist())):
                if q in col:
                    row[col[q]] += c
                else:
                    rhs -= c * float(self.values[q])
            if row.any():
                rows.append(row)
                b.append(rhs)
        if not rows:
            return col, None, None
        return col, sparse.csr_array(np.array(rows)), np.array(b)

    def _lp(self, c, a_eq, b_eq, bounds, q):
        res = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        if res.status not in (0, 3):  # the true values are feasible: a solver failure
            raise RuntimeError(f"suppression audit: LP failed for quantity {q}: {res.message}")
        return res

    def bounds(self, which: Sequence[int], lower: bool = True) -> dict[int, tuple[float, float]]:
        """The attacker's feasible interval ``(lo, hi)`` of each hidden quantity in ``which``
        (``lo`` computed only with ``lower``; ``hi`` is ``inf`` when unbounded)."""
        col, a_eq, b_eq = self._system()
        var_bounds = [(float(self.rules.hidden_lower_bound), None)] * len(col)
        out: dict[int, tuple[float, float]] = {}
        for q in which:
            c = np.zeros(len(col))
            c[col[q]] = -1.0
            res = self._lp(c, a_eq, b_eq, var_bounds, q)
            hi = float("inf") if res.status == 3 else float(round(-res.fun, 6))
            lo = float("nan")
            if lower:
                c[col[q]] = 1.0
                res = self._lp(c, a_eq, b_eq, var_bounds, q)
                lo = float(round(res.fun, 6))
            out[q] = (lo, hi)
        return out

    def failing(self, which: Sequence[int]) -> list[int]:
        """Hidden quantities of ``which`` that break the guarantee (module docstring).

        A quantity passes when some feasible solution gives it at least ``min_count``
        (primary) or a value other than its own (any hidden quantity). Solutions maximising
        and minimising the sum of the quantities still in doubt (each capped, so the LP is
        bounded) certify most at once; the rest get their own LPs."""
        col, a_eq, b_eq = self._system()
        lb = float(self.rules.hidden_lower_bound)
        cap = float(self.values.max(initial=0) + self.rules.min_count + 1)
        capped = [(lb, cap)] * len(col)
        open_ = [int(q) for q in which]

        def need(q: int) -> float:  # the value that certifies q from above
            v = float(self.values[q])
            return float(self.rules.min_count) if self.status[q] == PRIMARY else v + 1

        def certified(x: np.ndarray, q: int) -> bool:
            v, xq = float(self.values[q]), x[col[q]]
            if xq >= need(q) - 1e-7:
                return True
            return self.status[q] != PRIMARY and xq <= v - 1 + 1e-7

        rng = np.random.default_rng(len(open_))  # deterministic: same input, same output
        while open_:
            c = np.zeros(len(col))
            c[[col[q] for q in open_]] = -rng.uniform(0.5, 1.5, len(open_))
            res = self._lp(c, a_eq, b_eq, capped, open_[0])
            if res.status != 0:
                break
            still = [q for q in open_ if not certified(res.x, q)]
            done = len(open_) - len(still)
            open_ = still
            if done <= max(1, len(open_) // 50):
                break
        bad = []
        for q in open_:
            c = np.zeros(len(col))
            c[col[q]] = -1.0
            res = self._lp(c, a_eq, b_eq, [(lb, None)] * len(col), q)
            if res.status == 3 or -res.fun >= need(q) - 1e-7:
                continue
            if self.status[q] == PRIMARY:
                bad.append(q)
                continue
            c[col[q]] = 1.0  # hi == value: exact unless the minimum is lower
            res = self._lp(c, a_eq, b_eq, [(lb, None)] * len(col), q)
            if res.fun >= float(self.values[q]) - 1e-7:
                bad.append(q)
        return bad

    def solve(self) -> None:
        self.greedy()
        unchecked = set(np.flatnonzero(self.hidden).tolist())
        while unchecked:
            bad = self.failing(sorted(unchecked))
            before = set(np.flatnonzero(self.hidden).tolist())
            for q in bad:
                neighbours = np.unique(
                    np.concatenate([self._quantities(r) for r in self.member[q]] or [[]])
                ).astype(np.int64)
                c = self._candidate(neighbours)
                if c is None:
                    c = self._candidate(np.arange(len(self.values)))
                if c is None:
                    break  # all hidden: re-audit below
                self.hide(c)
            self.greedy()
            after = set(np.flatnonzero(self.hidden).tolist())
            if bad and after == before:
                raise RuntimeError("suppression: nothing left to hide but the audit still fails")
            unchecked = set(bad) | (after - before)


# --- two-way tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SuppressedTable:
    """A two-way count table as published: hidden numbers are ``pd.NA``.

    ``status`` / ``row_total_status`` / ``column_total_status`` / ``total_status`` say
    ``"shown"``, ``"primary"`` or ``"complementary"`` (for staff and tests: the public output
    only says *suppressed*).
    """

    counts: pd.DataFrame
    row_totals: pd.Series
    column_totals: pd.Series
    total: int | None
    status: pd.DataFrame
    row_total_status: pd.Series
    column_total_status: pd.Series
    total_status: str
    rules: SuppressionRules

    def to_long(self, totals: bool = False) -> pd.DataFrame:
        """Tidy rows ``kind, row, column, count, suppressed`` (``kind`` ``"cell"``; with
        ``totals`` also ``"row_total"``, ``"column_total"`` and ``"total"``, whose missing
        ``column`` / ``row`` are ``None``)."""
        records = []
        for r in self.counts.index:
            for c in self.counts.columns:
                v = self.counts.at[r, c]
                records.append(("cell", r, c, v, self.status.at[r, c] != SHOWN))
        if totals:
            for r in self.counts.index:
                v = self.row_totals[r]
                records.append(("row_total", r, None, v, self.row_total_status[r] != SHOWN))
            for c in self.counts.columns:
                v = self.column_totals[c]
                records.append(("column_total", None, c, v, self.column_total_status[c] != SHOWN))
            records.append(
                ("total", None, None, pd.NA if self.total is None else self.total,
                 self.total_status != SHOWN)
            )  # fmt: skip
        out = pd.DataFrame(records, columns=["kind", "row", "column", "count", "suppressed"])
        out["count"] = out["count"].astype("Int64")
        return out

    @property
    def n_suppressed(self) -> int:
        """Hidden inner cells."""
        return int((self.status != SHOWN).to_numpy().sum())


def _check_table(table: pd.DataFrame) -> np.ndarray:
    if table.isna().to_numpy().any():
        raise ValueError("suppress: the table has missing cells; counts must be integers >= 0")
    values = table.to_numpy()
    if values.size and (not np.issubdtype(values.dtype, np.number) or (values < 0).any()):
        raise ValueError("suppress: counts must be integers >= 0")
    if values.size and not np.all(np.equal(np.mod(values, 1), 0)):
        raise ValueError("suppress: counts must be whole numbers")
    return values.astype(np.int64)


def _table_problem(
    values: np.ndarray, rules: SuppressionRules, daily: Sequence[np.ndarray] = ()
) -> _Problem:
    """Quantities: cells (row-major), row totals, column totals, grand total; then, linked to
    column ``j``'s total, the daily values ``daily[j]`` (each column total is the sum of its
    days)."""
    n, k = values.shape
    cells = np.arange(n * k).reshape(n, k)
    rt = n * k + np.arange(n)
    ct = n * k + n + np.arange(k)
    g = n * k + n + k
    vals = [values.ravel(), values.sum(axis=1), values.sum(axis=0), [values.sum()]]
    tier = [np.zeros(n * k), np.ones(n + k), [2]]
    relations = [(int(rt[i]), cells[i]) for i in range(n)]
    relations += [(int(ct[j]), cells[:, j]) for j in range(k)]
    relations += [(g, rt), (g, ct)]
    nxt = g + 1
    for j, days in enumerate(daily):
        idx = nxt + np.arange(len(days))
        nxt += len(days)
        vals.append(np.asarray(days))
        tier.append(np.zeros(len(days)))
        if len(days):
            relations.append((int(ct[j]), idx))
    return _Problem(
        values=np.concatenate([np.asarray(v, dtype=np.int64) for v in vals]),
        tier=np.concatenate([np.asarray(t, dtype=np.int64) for t in tier]),
        relations=relations,
        rules=rules,
    )


def _published(table: pd.DataFrame, p: _Problem, rules: SuppressionRules) -> SuppressedTable:
    n, k = table.shape
    status = p.status
    shown = status == SHOWN

    def masked(vals: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.where(mask, vals, None)

    cells = slice(0, n * k)
    counts = pd.DataFrame(
        masked(p.values[cells], shown[cells]).reshape(n, k),
        index=table.index,
        columns=table.columns,
    ).astype("Int64")
    rt = slice(n * k, n * k + n)
    ct = slice(n * k + n, n * k + n + k)
    g = n * k + n + k
    return SuppressedTable(
        counts=counts,
        row_totals=pd.Series(masked(p.values[rt], shown[rt]), index=table.index, dtype="Int64"),
        column_totals=pd.Series(
            masked(p.values[ct], shown[ct]), index=table.columns, dtype="Int64"
        ),
        total=int(p.values[g]) if shown[g] else None,
        status=pd.DataFrame(status[cells].reshape(n, k), index=table.index, columns=table.columns),
        row_total_status=pd.Series(status[rt], index=table.index, dtype=object),
        column_total_status=pd.Series(status[ct], index=table.columns, dtype=object),
        total_status=str(status[g]),
        rules=rules,
    )


def suppress(table: pd.DataFrame, rules: SuppressionRules = SuppressionRules()) -> SuppressedTable:
    """Suppress ``table`` (rows x columns of counts >= 0) for publication with its row totals,
    column totals and grand total; see the module docstring for the method and guarantee."""
    values = _check_table(table)
    p = _table_problem(values, rules)
    p.solve()
    return _published(table, p, rules)


def suppress_series(values: pd.Series, rules: SuppressionRules = SuppressionRules()) -> pd.Series:
    """Primary suppression of a single series published WITHOUT any total (``Int64``, hidden
    values ``pd.NA``). If sums of the series are published too, use :func:`suppress` or
    :func:`suppress_with_daily` instead."""
    if values.isna().any() or (values < 0).any():
        raise ValueError("suppress_series: counts must be integers >= 0")
    mask = values.map(lambda v: rules.is_primary(int(v)))
    return values.astype("Int64").mask(mask.astype(bool), pd.NA)


@dataclass(frozen=True)
class SuppressedWithDaily:
    """A weekly table and the daily series of its column totals, suppressed together."""

    weekly: SuppressedTable
    daily: pd.Series  # Int64, pd.NA where hidden
    daily_status: pd.Series


def _split_daily(
    weekly: pd.DataFrame, daily: pd.Series, period_of_day: pd.Series
) -> list[np.ndarray]:
    if not daily.index.equals(period_of_day.index):
        raise ValueError("suppress_with_daily: period_of_day must have the daily series' index")
    unknown = set(period_of_day) - set(weekly.columns)
    if unknown:
        raise ValueError(f"suppress_with_daily: days map to periods not in the table: {unknown}")
    out = []
    for col in weekly.columns:
        days = daily[period_of_day == col].to_numpy(dtype=np.int64)
        if days.size and days.sum() != int(weekly[col].sum()):
            raise ValueError(
                f"suppress_with_daily: period {col!r}: the days sum to {days.sum()} "
                f"but the table's column sums to {int(weekly[col].sum())}"
            )
        out.append(days)
    return out


def suppress_with_daily(
    weekly: pd.DataFrame,
    daily: pd.Series,
    period_of_day: pd.Series,
    rules: SuppressionRules = SuppressionRules(),
) -> SuppressedWithDaily:
    """Suppress a rows x periods table (e.g. district x ISO week) with its margins AND the
    daily series whose days sum to each period's column total (e.g. the city's daily counts),
    as one linked problem, so that neither publication can be used to undo the other.

    ``period_of_day`` maps each day of ``daily`` (same index) to a column of ``weekly``."""
    values = _check_table(weekly)
    parts = _split_daily(weekly, daily, period_of_day)
    p = _table_problem(values, rules, parts)
    p.solve()
    table = _published(weekly, p, rules)
    start = values.size + sum(values.shape) + 1
    status = pd.Series(SHOWN, index=daily.index, dtype=object)
    out = daily.astype("Int64").copy()
    i = start
    for col, days in zip(weekly.columns, parts, strict=True):
        idx = daily.index[period_of_day == col]
        for day in idx:
            status[day] = p.status[i]
            if p.status[i] != SHOWN:
                out[day] = pd.NA
            i += 1
        assert len(idx) == len(days)
    return SuppressedWithDaily(weekly=table, daily=out, daily_status=status)


# --- the attack --------------------------------------------------------------------------------


def _attack_problem(values: np.ndarray, published: SuppressedTable, daily=(), daily_status=()):
    p = _table_problem(values, published.rules, daily)
    n, k = values.shape
    status = np.concatenate(
        [
            published.status.to_numpy().ravel(),
            published.row_total_status.to_numpy(),
            published.column_total_status.to_numpy(),
            [published.total_status],
            *[np.asarray(s, dtype=object) for s in daily_status],
        ]
    ).astype(object)
    p.status = status
    # the attacker sees only published numbers: check they are the true ones
    shown_vals = published.counts.to_numpy(dtype="float64", na_value=np.nan).ravel()
    if not np.array_equal(np.isnan(shown_vals), status[: n * k] != SHOWN):
        raise ValueError("audit: hidden cells and status disagree")
    return p


def _audit_frame(p: _Problem, labels: list[tuple[str, object, object]]) -> pd.DataFrame:
    hidden = np.flatnonzero(p.hidden)
    b = p.bounds(hidden.tolist())
    rows = []
    for q in hidden:
        kind, row, col = labels[q]
        lo, hi = b[int(q)]
        rows.append((kind, row, col, int(p.values[q]), p.status[q], lo, hi))
    out = pd.DataFrame(rows, columns=["kind", "row", "column", "value", "status", "lo", "hi"])
    out["protected"] = (out["hi"] > out["lo"]) & (
        (out["status"] != PRIMARY) | (out["hi"] >= p.rules.min_count)
    )
    return out


def _labels(table: pd.DataFrame, daily_index=()) -> list[tuple[str, object, object]]:
    labels: list[tuple[str, object, object]] = [
        ("cell", r, c) for r in table.index for c in table.columns
    ]
    labels += [("row_total", r, None) for r in table.index]
    labels += [("column_total", None, c) for c in table.columns]
    labels.append(("total", None, None))
    labels += [("day", None, d) for d in daily_index]
    return labels


def audit(table: pd.DataFrame, suppressed: SuppressedTable) -> pd.DataFrame:
    """The derivation attack: for every hidden quantity of ``suppressed`` (the publication of
    ``table``), its feasible interval given every published number, the additive relations and
    the rules. Rows ``kind, row, column, value, status, lo, hi, protected`` (``hi`` may be
    ``inf``); ``protected`` is the guarantee of the module docstring."""
    values = _check_table(table)
    p = _attack_problem(values, suppressed)
    return _audit_frame(p, _labels(table))


def audit_with_daily(
    weekly: pd.DataFrame, daily: pd.Series, period_of_day: pd.Series, published: SuppressedWithDaily
) -> pd.DataFrame:
    """:func:`audit` of a linked weekly table + daily series (``kind`` ``"day"`` rows for the
    days, their date in ``column``)."""
    values = _check_table(weekly)
    parts = _split_daily(weekly, daily, period_of_day)
    statuses = [
        published.daily_status[period_of_day == col].to_numpy(dtype=object)
        for col in weekly.columns
    ]
    p = _attack_problem(values, published.weekly, parts, statuses)
    order = [d for col in weekly.columns for d in daily.index[period_of_day == col]]
    return _audit_frame(p, _labels(weekly, order))


def violations(table: pd.DataFrame, suppressed: SuppressedTable) -> pd.DataFrame:
    """The rows of :func:`audit` that break the guarantee (empty when the publication is safe)."""
    a = audit(table, suppressed)
    return a[~a["protected"]]
