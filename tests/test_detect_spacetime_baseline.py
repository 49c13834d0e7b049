"""The day-of-week-adjusted moving-average baseline of the expectation-based scan."""

from __future__ import annotations

import numpy as np
import pytest

from epiradar.detect.spacetime import poisson_scan, weekday_baseline


def _city(days: int = 63, seed: int = 1):
    rng = np.random.default_rng(seed)
    weekday = np.array([1.5, 1.2, 1.0, 1.0, 1.0, 0.6, 0.7])
    rate = np.outer(rng.uniform(1, 5, 64), weekday[np.arange(days) % 7])
    return rng.poisson(rate), rate


def test_baseline_recovers_zone_and_weekday_effects() -> None:
    y, rate = _city(days=7 * 40)
    b = weekday_baseline(y, history=28 * 8, max_days=7)
    assert b.shape == y.shape
    ratio = b[:, -7:].sum(axis=0) / rate[:, -7:].sum(axis=0)
    np.testing.assert_allclose(ratio, 1, atol=0.03)
    # zone means follow the zones' rates
    assert np.corrcoef(b[:, -1], rate[:, -1])[0, 1] > 0.95


def test_baseline_ignores_the_window_it_judges() -> None:
    y, _ = _city()
    surged = y.copy()
    surged[:5, -3:] += 50
    np.testing.assert_array_equal(weekday_baseline(y), weekday_baseline(surged))


def test_poisson_scan_on_the_baseline_finds_a_surge() -> None:
    y, _ = _city()
    y[[9, 10, 17, 18], -2:] += 6  # 4 neighbouring zones of an 8x8 grid, last two days
    coords = np.array([(i % 8, i // 8) for i in range(64)], dtype=float)
    result = poisson_scan(y, weekday_baseline(y), coords, max_radius=1.5, n_sim=199, seed=2)
    top = result.most_likely
    assert set(top.zones) <= {9, 10, 17, 18, 1, 2, 8, 11, 16, 19, 25, 26}
    assert {9, 10, 17, 18} & set(top.zones)
    assert top.p_value == pytest.approx(1 / 200)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"history": 5}, "history"), ({"history": 70}, "too few"), ({"min_visits": -1}, "min_visits")],
)
def test_baseline_rejects_bad_settings(kwargs, message) -> None:
    y, _ = _city()
    with pytest.raises(ValueError, match=message):
        weekday_baseline(y, **kwargs)
