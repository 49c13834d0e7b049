"""Demand forecast (trace.forecast): the renewal projection against the deterministic renewal
solution, the coverage of its 90% band on simulated renewal data, the trend fallback, and the
validation of inputs."""

from __future__ import annotations

import numpy as np
import pytest

from epiradar.trace.forecast import (
    deterministic_renewal,
    forecast_counts,
    renewal_forecast,
    renewal_paths,
    serial_interval_weights,
    trend_forecast,
)
from epiradar.trace.rt import discr_si

SI_MEAN, SI_SD = 3.0, 1.5


def simulate_renewal(r: float, days: int, seed: int, start: float = 30.0) -> np.ndarray:
    """Poisson renewal data with constant ``r``: ``start`` cases on each of the first 5 days."""
    w = serial_interval_weights(SI_MEAN, SI_SD)
    rng = np.random.default_rng(seed)
    x = np.zeros(days)
    x[:5] = start
    for t in range(5, days):
        k = min(t, w.size - 1)
        x[t] = rng.poisson(r * float(x[t - k : t][::-1] @ w[1 : k + 1]))
    return x


def test_serial_interval_weights_are_epiestims_discretisation_normalised() -> None:
    w = serial_interval_weights(SI_MEAN, SI_SD)
    raw = discr_si(np.arange(w.size), SI_MEAN, SI_SD)
    assert w[0] == 0
    assert w.sum() == pytest.approx(1.0)
    assert np.allclose(w, raw / raw.sum())
    assert float(np.arange(w.size) @ w) == pytest.approx(SI_MEAN, abs=0.01)


def test_deterministic_renewal_by_hand() -> None:
    w = np.array([0.0, 0.5, 0.5])
    # I_t = 2 * (0.5 I_{t-1} + 0.5 I_{t-2}): from 10, 20 -> 30, 50, 80
    assert deterministic_renewal([10, 20], w, 2.0, 3) == pytest.approx([30, 50, 80])


def test_median_of_paths_with_a_fixed_r_follows_the_deterministic_solution() -> None:
    w = serial_interval_weights(SI_MEAN, SI_SD)
    past = np.full(30, 2000.0)
    paths = renewal_paths(past, w, np.full(4000, 1.15), 14, np.random.default_rng(3))
    expected = deterministic_renewal(past, w, 1.15, 14)
    assert expected[-1] > 2000 * 1.15**3  # grows: the check is not a flat line
    assert np.median(paths, axis=0) == pytest.approx(expected, rel=0.01)


def test_renewal_forecast_recovers_r_and_follows_the_renewal_solution() -> None:
    w = serial_interval_weights(SI_MEAN, SI_SD)
    past = np.concatenate(
        [np.full(10, 500.0), deterministic_renewal(np.full(10, 500.0), w, 1.2, 30)]
    )
    fc = renewal_forecast(past, si_mean=SI_MEAN, si_sd=SI_SD, horizon=10, seed=1)
    assert fc.method == "renewal"
    assert fc.rt_mean == pytest.approx(1.2, rel=0.01)
    assert fc.rt_lower < fc.rt_mean < fc.rt_upper
    assert fc.median == pytest.approx(deterministic_renewal(past, w, 1.2, 10), rel=0.03)
    assert np.all(fc.lower <= fc.median) and np.all(fc.median <= fc.upper)


def test_band_covers_about_90_percent_of_simulated_renewal_data() -> None:
    hits = []
    for rep in range(150):
        x = simulate_renewal(1.05, 47, seed=rep)
        fc = renewal_forecast(x[:40], si_mean=SI_MEAN, si_sd=SI_SD, horizon=7, seed=rep)
        hits.append((x[40:] >= fc.lower) & (x[40:] <= fc.upper))
    coverage = float(np.mean(hits))
    assert 0.85 <= coverage <= 0.97, coverage


def test_declining_epidemic_forecasts_fewer_cases() -> None:
    x = simulate_renewal(0.8, 25, seed=5, start=2000.0)
    assert x[-1] > 100
    fc = renewal_forecast(x, si_mean=SI_MEAN, si_sd=SI_SD, horizon=14, seed=2)
    assert fc.rt_upper < 1
    assert fc.median[-1] < 0.5 * fc.median[0] < 0.5 * x[-1]


def test_few_cases_fall_back_to_the_trend_and_say_why() -> None:
    fc = forecast_counts(
        [0, 1, 0, 2, 1, 0, 1, 1, 0, 2, 1, 0], si_mean=SI_MEAN, si_sd=SI_SD, horizon=7, seed=0
    )
    assert fc.method == "trend"
    assert "5 cases in the last 7 days" in fc.reason
    assert fc.rt_mean is None and fc.horizon == 7
    no_si = forecast_counts(np.full(30, 50.0), si_mean=None, si_sd=None, horizon=7, seed=0)
    assert no_si.method == "trend" and no_si.reason == "no serial interval for this syndrome"
    enough = forecast_counts(np.full(30, 50.0), si_mean=SI_MEAN, si_sd=SI_SD, horizon=7, seed=0)
    assert enough.method == "renewal"


def test_trend_follows_exponential_growth_and_caps_it() -> None:
    x = np.round(20 * 1.05 ** np.arange(21))
    fc = trend_forecast(x, horizon=7, seed=0, n_paths=4000)
    assert fc.growth == pytest.approx(0.05, abs=0.01)
    assert fc.median[-1] == pytest.approx(x[-1] * 1.05**7, rel=0.12)
    steep = trend_forecast(np.round(2 * 1.5 ** np.arange(14)), horizon=7, seed=0)
    assert steep.growth == pytest.approx(0.1)  # capped at max_growth
    zeros = trend_forecast(np.zeros(20), horizon=7)
    assert np.all(zeros.upper == 0) and zeros.growth == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: forecast_counts([], si_mean=3, si_sd=1), "incidence is empty"),
        (lambda: forecast_counts([1, -2, 3], si_mean=3, si_sd=1), r"day 1: -2"),
        (lambda: forecast_counts([1, np.nan], si_mean=3, si_sd=1), "non-negative and finite"),
        (lambda: forecast_counts(["a"], si_mean=3, si_sd=1), "numeric daily counts"),
        (lambda: forecast_counts([1, 2], si_mean=3, si_sd=1, horizon=0), "horizon"),
        (lambda: forecast_counts([1, 2], si_mean=3, si_sd=1, level=1.5), "level"),
        (lambda: forecast_counts([1, 2], si_mean=3, si_sd=1, n_paths=0), "n_paths"),
        (lambda: renewal_forecast([5] * 5, si_mean=3, si_sd=1), "at least 8 days"),
        (lambda: renewal_forecast([5] * 20, si_mean=0.5, si_sd=1), "si_mean must be > 1"),
        (
            lambda: renewal_paths([1, 2], [0.5, 0.5], [1.0], 3, np.random.default_rng()),
            "w\\[0\\] = 0",
        ),
        (
            lambda: renewal_paths([1, 2], [0, 1.0], [-1.0], 3, np.random.default_rng()),
            "r must be non-negative",
        ),
    ],
)
def test_inputs_are_validated(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()
