"""merge_signals: space-time connected components of signals."""

from __future__ import annotations

import datetime as dt

import pytest

from epiradar.detect import merge_signals
from epiradar.model import Severity, Signal, Syndrome

D0 = dt.date(2024, 5, 1)
NEIGHBOURS = {"a": {"b"}, "c": {"b"}, "d": set()}  # a-b-c chain, d alone; read undirected


def sig(
    day: int,
    region: str | None,
    method: str = "C1",
    *,
    p: float = 1e-3,
    obs: float = 10,
    exp: float = 4,
    syndrome: Syndrome = Syndrome.ILI,
) -> Signal:
    return Signal(
        date=D0 + dt.timedelta(days=day),
        region_id=region,
        syndrome=syndrome,
        detector=method,
        observed=obs,
        expected=exp,
        upperbound=obs - 1,
        p_value=p,
    )


def test_neighbours_and_consecutive_days_merge():
    signals = [sig(0, "a"), sig(1, "b"), sig(2, "c"), sig(0, "d"), sig(5, "a")]
    alerts = merge_signals(signals, NEIGHBOURS, correction="none")
    groups = sorted((a.region_ids, a.start_date, a.end_date) for a in alerts)
    assert groups == [
        (["a"], D0 + dt.timedelta(days=5), D0 + dt.timedelta(days=5)),
        (["a", "b", "c"], D0, D0 + dt.timedelta(days=2)),
        (["d"], D0, D0),
    ]


def test_gap_days():
    signals = [sig(0, "a"), sig(2, "a")]
    assert len(merge_signals(signals, NEIGHBOURS, gap_days=1)) == 2
    (alert,) = merge_signals(signals, NEIGHBOURS, gap_days=2)
    assert alert.n_signals == 2 and alert.end_date == D0 + dt.timedelta(days=2)
    assert len(merge_signals([sig(0, "a"), sig(1, "a")], NEIGHBOURS, gap_days=0)) == 2


def test_city_syndrome_separation_and_totals():
    signals = [
        sig(0, "a", "C1", p=1e-3, obs=10, exp=4),
        sig(0, "a", "C2", p=2e-5, obs=10, exp=6),
        sig(1, "b", "C3", p=5e-4, obs=7, exp=3),
        sig(0, None, "C1", obs=30, exp=20),
        sig(1, None, "C2", obs=35, exp=21),
        sig(0, "a", syndrome=Syndrome.GASTROINTESTINAL),
    ]
    alerts = merge_signals(signals, NEIGHBOURS, correction="none")
    assert len(alerts) == 3
    regional = next(a for a in alerts if a.region_ids == ["a", "b"])
    assert regional.observed == 17  # the (a, day 0) cell counts once across C1 and C2
    assert regional.expected == pytest.approx(5 + 3)
    assert regional.detector == "C1,C2,C3" and regional.n_signals == 3
    assert regional.p_value == 2e-5 and regional.severity == Severity.HIGH
    city = next(a for a in alerts if a.syndrome == Syndrome.ILI and not a.region_ids)
    assert city.observed == 65 and city.id == "ili-20240501-city"
    assert city.end_date == D0 + dt.timedelta(days=1)


def test_pvalue_corrections():
    signals = [sig(0, "a", p=1e-4), sig(1, "a", p=1e-3), sig(1, "b", p=0.01)]
    (sidak,) = merge_signals(signals, NEIGHBOURS)
    (bonf,) = merge_signals(signals, NEIGHBOURS, correction="bonferroni")
    (raw,) = merge_signals(signals, NEIGHBOURS, correction="none")
    assert raw.p_value == 1e-4 and raw.severity == Severity.MEDIUM
    assert bonf.p_value == pytest.approx(3e-4)
    assert sidak.p_value == pytest.approx(1 - (1 - 1e-4) ** 3, rel=1e-12)
    assert raw.p_value < sidak.p_value < bonf.p_value


def test_ids_are_deterministic_unique_and_order():
    signals = [sig(0, "a", p=1e-2), sig(3, "a", p=1e-6), sig(0, "d", p=1e-6), sig(0, "a", "C2")]
    signals[1] = sig(0, "a", syndrome=Syndrome.FEVER)
    signals.append(sig(6, "a", syndrome=Syndrome.FEVER))
    alerts = merge_signals(signals, NEIGHBOURS)
    again = merge_signals(list(reversed(signals)), NEIGHBOURS)
    assert [a.model_dump() for a in alerts] == [a.model_dump() for a in again]
    ids = [a.id for a in alerts]
    assert len(set(ids)) == len(ids)
    assert "fever-20240501-a" in ids and "ili-20240501-a" in ids and "ili-20240501-d" in ids
    assert alerts[0].severity == Severity.HIGH  # same first day: the more severe first
    assert [a.first_alarm_date for a in alerts] == sorted(a.first_alarm_date for a in alerts)


def test_colliding_ids_get_suffixes():
    neighbours = {"a": {"x"}, "x": {"z"}}
    first = [sig(0, "a")]
    # z (not adjacent to a) from day 0, reaching a through x only on days 3-4: a second alert
    # that also starts on day 0 and whose first region is a
    second = [sig(0, "z"), sig(1, "z"), sig(2, "z"), sig(3, "x"), sig(4, "a")]
    alerts = merge_signals(first + second, neighbours)
    assert sorted(a.id for a in alerts) == ["ili-20240501-a", "ili-20240501-a-2"]
    again = merge_signals(list(reversed(second + first)), neighbours)
    assert {a.id: a.region_ids for a in alerts} == {a.id: a.region_ids for a in again}
