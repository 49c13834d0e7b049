"""detect_signals: vectorised run over all series equals a prospective day-by-day replay."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from epiradar.detect import detect_signals, ears
from epiradar.detect.engine import nb_size
from epiradar.model import Syndrome

START = dt.date(2024, 3, 1)


def _city(n_days: int = 90, seed: int = 5):
    rng = np.random.default_rng(seed)
    keys = [
        ("r1", Syndrome.ILI),
        ("r2", Syndrome.ILI),
        ("r1", Syndrome.GASTROINTESTINAL),
        (None, Syndrome.ILI),
    ]
    counts = rng.poisson([[4.0], [2.0], [3.0], [9.0]], size=(4, n_days)).astype(float)
    if n_days > 66:
        counts[[0, 3], 60:66] += [8, 16, 25, 20, 12, 5]
    dates = [START + dt.timedelta(days=i) for i in range(n_days)]
    return counts, keys, dates


def _as_tuples(signals):
    return sorted(
        (s.date, s.region_id or "", s.syndrome, s.detector, s.observed, s.expected, s.upperbound)
        for s in signals
    )


def test_vectorised_run_equals_day_by_day_replay():
    counts, keys, dates = _city()
    full = detect_signals(counts, keys, dates)
    replay = []
    for t in range(len(dates)):
        replay += detect_signals(counts[:, : t + 1], keys, dates[: t + 1], monitor_start=dates[t])
    assert full, "the planted outbreak must signal"
    assert _as_tuples(full) == _as_tuples(replay)
    for a, b in zip(
        sorted(full, key=lambda s: (s.date, s.detector, s.region_id or "", s.syndrome)),
        sorted(replay, key=lambda s: (s.date, s.detector, s.region_id or "", s.syndrome)),
        strict=True,
    ):
        assert a.p_value == pytest.approx(b.p_value, rel=1e-12)


def test_signals_are_the_alarms_with_enough_visits():
    counts, keys, dates = _city()
    signals = detect_signals(
        counts, keys, dates, methods=("C1",), min_observed=3, count_guard=False
    )
    result = ears(counts, method="C1", alpha=0.001, min_sigma=0.5)
    hits = result.alarm & (counts[:, result.monitor] >= 3)
    assert len(signals) == hits.sum()
    planted = {s.date for s in signals if s.region_id == "r1" and s.syndrome == Syndrome.ILI}
    assert dates[61] in planted or dates[62] in planted
    for s in signals:
        assert s.observed >= 3 and s.observed > s.upperbound and s.p_value < 0.01
    assert {s.region_id for s in signals} >= {"r1", None}
    assert signals == sorted(signals, key=lambda s: s.date)


def test_min_observed_suppresses_small_counts():
    counts = np.array([[0, 0, 0, 0, 0, 0, 0, 0, 0, 2.0]])
    dates = [START + dt.timedelta(days=i) for i in range(10)]
    keys = [("r1", Syndrome.FEVER)]
    assert detect_signals(counts, keys, dates, methods=("C1",), min_observed=3) == []
    (signal,) = detect_signals(
        counts, keys, dates, methods=("C1",), min_observed=2, count_guard=False
    )
    assert signal.date == dates[-1] and signal.detector == "C1" and signal.expected == 0


def test_monitor_start_and_alpha_none():
    counts, keys, dates = _city()
    late = detect_signals(counts, keys, dates, monitor_start=dates[62])
    assert late and min(s.date for s in late) >= dates[62]
    default_alpha = detect_signals(counts, keys, dates, methods=("C3",), alpha=None)
    strict = detect_signals(counts, keys, dates, methods=("C3",), alpha=0.001)
    assert len(default_alpha) > len(strict)  # C3's own alpha is 0.025


def test_rejects_inconsistent_input():
    counts, keys, dates = _city(20)
    with pytest.raises(ValueError):
        detect_signals(counts[:2], keys, dates)
    with pytest.raises(ValueError):
        detect_signals(counts, keys, dates[:-2] + [dates[-1], dates[-1] + dt.timedelta(days=3)])
    with pytest.raises(ValueError):
        detect_signals(counts, keys, dates, methods=("C9",))


def test_count_guard_needs_a_count_improbable_for_its_own_variability():
    """A sparse series' lone extra visits and an overdispersed series' usual swings pass EARS
    but not the guard; a real excess passes both."""
    rng = np.random.default_rng(3)
    n = 200
    dates = [START + dt.timedelta(days=i) for i in range(n)]
    keys = [("sparse", Syndrome.FEVER), ("swinging", Syndrome.FEVER), ("steady", Syndrome.FEVER)]
    sparse = rng.poisson(0.3, n).astype(float)
    sparse[150] = 4  # z-score above 5 against a near-zero baseline sd, Poisson p about 0.02
    swinging = rng.poisson(20 * rng.gamma(3.0, 1 / 3.0, n)).astype(float)
    steady = rng.poisson(20, n).astype(float)
    steady[180] = 60
    counts = np.vstack([sparse, swinging, steady])
    start = dates[100]
    raw = detect_signals(counts, keys, dates, monitor_start=start, count_guard=False)
    guarded = detect_signals(counts, keys, dates, monitor_start=start)
    by_series = lambda signals, key: [s for s in signals if s.region_id == key]  # noqa: E731
    assert by_series(raw, "sparse") and not by_series(guarded, "sparse")
    assert len(by_series(guarded, "swinging")) < len(by_series(raw, "swinging"))
    assert dates[180] in {s.date for s in by_series(guarded, "steady")}
    for s in guarded:
        assert s.p_value <= 0.001


def test_nb_size_uses_only_earlier_days_and_finds_overdispersion():
    rng = np.random.default_rng(8)
    poisson_like = rng.poisson(30, 400).astype(float)
    overdispersed = rng.poisson(30 * rng.gamma(4.0, 0.25, 400)).astype(float)
    counts = np.vstack([poisson_like, overdispersed])
    size = nb_size(counts, 7, 84)
    assert np.isinf(size[:, :20]).all()  # not enough history yet
    assert np.median(size[1, 200:]) == pytest.approx(4.0, rel=0.5)
    assert np.median(np.where(np.isinf(size[0, 200:]), 1e9, size[0, 200:])) > 30
    changed = counts.copy()
    changed[:, 300:] = 0
    assert np.array_equal(nb_size(changed, 7, 84)[:, :301], size[:, :301])


def test_nb_size_from_a_first_day_equals_the_full_computation():
    rng = np.random.default_rng(2)
    counts = rng.negative_binomial(3, 0.3, size=(4, 400)).astype(float)
    full = nb_size(counts, 7, 84)
    late = nb_size(counts, 7, 84, first=250)
    assert np.allclose(late[:, 250:], full[:, 250:], rtol=1e-10, atol=0)
    assert np.isinf(late[:, :250]).all()
