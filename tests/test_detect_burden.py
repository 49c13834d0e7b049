"""False-alarm burden control: Benjamini-Hochberg, Simes and top-down hierarchical testing."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from epiradar.detect import detect_signals
from epiradar.detect.burden import benjamini_hochberg, hierarchical_fdr, simes
from epiradar.detect.merge import group_signals
from epiradar.model import Syndrome

# Benjamini & Hochberg (1995), section 4: 15 p-values, q = 0.05 rejects the four smallest.
BH_EXAMPLE = [
    0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344,
    0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000,
]  # fmt: skip


def _bh_by_adjusted_pvalues(p: np.ndarray, q: float) -> np.ndarray:
    """BH as R's p.adjust(method = "BH") <= q: an independent formulation."""
    m = p.size
    order = np.argsort(p)
    adjusted = np.minimum.accumulate((m * p[order] / np.arange(1, m + 1))[::-1])[::-1]
    out = np.zeros(m, dtype=bool)
    out[order] = np.minimum(adjusted, 1) <= q
    return out


def test_benjamini_hochberg_paper_example():
    reject = benjamini_hochberg(BH_EXAMPLE, 0.05)
    assert reject.tolist() == [True] * 4 + [False] * 11


def test_benjamini_hochberg_equals_adjusted_pvalues_per_family():
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(size=(200, 30)), rng.uniform(0, 1e-3, (20, 30))])
    p = p[rng.permutation(p.shape[0])]
    reject = benjamini_hochberg(p, 0.1, axis=0)
    for j in range(p.shape[1]):
        assert np.array_equal(reject[:, j], _bh_by_adjusted_pvalues(p[:, j], 0.1))
    assert np.array_equal(benjamini_hochberg(p.T, 0.1, axis=1), reject.T)


def test_benjamini_hochberg_ignores_missing_tests():
    p = np.array([0.01, np.nan, 0.04, np.nan, 0.9])
    # m = 3: 0.01 <= 0.05/3, 0.04 <= 0.1 -> both rejected; the NaNs never are.
    assert benjamini_hochberg(p, 0.05 * 2).tolist() == [True, False, True, False, False]
    assert not benjamini_hochberg([np.nan, np.nan], 0.05).any()
    with pytest.raises(ValueError, match="FDR level"):
        benjamini_hochberg(p, 0)


def test_simes_combination():
    assert simes([0.01, 0.04, 0.5]) == pytest.approx(min(3 * 0.01, 3 * 0.04 / 2, 0.5))
    assert simes([0.3, np.nan]) == pytest.approx(0.3)
    assert np.isnan(simes([np.nan, np.nan]))
    # Simes <= q exactly when BH rejects something (the BH global test).
    rng = np.random.default_rng(5)
    p = rng.uniform(0, 0.2, (12, 500))
    assert np.array_equal(simes(p) <= 0.05, benjamini_hochberg(p, 0.05).any(axis=0))


# A city (0) with two districts (1, 2), each with three regions (3-5, 6-8).
PARENT = [-1, 0, 0, 1, 1, 1, 2, 2, 2]


def test_a_strong_local_excess_is_reported_once_at_its_region():
    p = np.full(9, 0.5)
    p[4] = 1e-6
    result = hierarchical_fdr(p[:, None], PARENT, 0.05)
    assert result.rejected[[0, 1, 4], 0].all()
    assert np.flatnonzero(result.reported[:, 0]).tolist() == [4]
    assert result.combined[0, 0] == pytest.approx(9 * 1e-6)


def test_a_thin_district_wide_excess_is_reported_at_the_district():
    p = np.full(9, 0.6)
    p[1] = 1e-4  # the district's own series is unusual, no region alone is
    p[3:6] = [0.08, 0.1, 0.12]
    result = hierarchical_fdr(p[:, None], PARENT, 0.05)
    assert np.flatnonzero(result.reported[:, 0]).tolist() == [1]


def test_nothing_is_tested_below_a_quiet_parent():
    p = np.full((9, 1), 0.9)
    p[6, 0] = 0.008  # small, but not against 9 tests at the top (Simes 0.072)
    result = hierarchical_fdr(p, PARENT, 0.05)
    assert not result.rejected.any() and not result.reported.any()


def test_days_are_separate_families_and_match_one_day_runs():
    rng = np.random.default_rng(9)
    p = rng.uniform(size=(9, 40))
    p[5, ::3] = 1e-5
    both = hierarchical_fdr(p, PARENT, 0.1)
    for d in range(p.shape[1]):
        one = hierarchical_fdr(p[:, d], PARENT, 0.1)
        assert np.array_equal(one.reported[:, 0], both.reported[:, d])


def test_false_alarm_rate_under_the_null_is_at_most_q():
    rng = np.random.default_rng(21)
    parent = [-1] + [0] * 5 + [1 + i // 10 for i in range(50)]
    p = rng.uniform(size=(len(parent), 4000))
    any_reported = hierarchical_fdr(p, parent, 0.05).reported.any(axis=0).mean()
    assert any_reported <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 4000)


def test_invalid_trees_are_refused():
    with pytest.raises(ValueError, match="entries"):
        hierarchical_fdr(np.ones((3, 1)), [-1, 0], 0.05)
    with pytest.raises(ValueError, match="cycle"):
        hierarchical_fdr(np.ones((3, 1)), [-1, 2, 1], 0.05)


START = dt.date(2024, 1, 1)


def _district_city(seed: int = 4, n_days: int = 120):
    """Two districts of three regions, one syndrome, and a planted excess in region b2."""
    rng = np.random.default_rng(seed)
    regions = ["a1", "a2", "a3", "b1", "b2", "b3"]
    counts = rng.poisson(6.0, size=(6, n_days)).astype(float)
    counts[4, -3:] += [14, 18, 16]
    keys = [(r, Syndrome.GASTROINTESTINAL) for r in regions]
    keys.append((None, Syndrome.GASTROINTESTINAL))
    counts = np.vstack([counts, counts.sum(axis=0)])
    dates = [START + dt.timedelta(days=i) for i in range(n_days)]
    areas = {r: "A" if r.startswith("a") else "B" for r in regions}
    return counts, keys, dates, areas


def test_engine_hierarchical_reports_the_region_not_its_district_and_city():
    counts, keys, dates, areas = _district_city()
    signals = detect_signals(
        counts, keys, dates, burden="hierarchical", fdr_level=0.05, areas=areas,
        monitor_start=dates[-3],
    )  # fmt: skip
    assert signals and {s.region_id for s in signals} == {"b2"}
    flat = detect_signals(counts, keys, dates, monitor_start=dates[-3], alpha=0.01)
    assert {"b2", None} <= {s.region_id for s in flat}  # own alarms also fire at the city
    for s in signals:
        assert 0 < s.p_value <= 0.05 and s.observed >= 3


def test_engine_hierarchical_district_signal_becomes_an_alert_over_its_regions():
    counts, keys, dates, areas = _district_city(n_days=120)
    counts[4, -3:] -= [14, 18, 16]
    counts[3:6, -1] = [11, 12, 11]  # every region of B a little, none alone enough
    counts[-1] = counts[:-1].sum(axis=0)
    signals = detect_signals(
        counts, keys, dates, burden="hierarchical", areas=areas, monitor_start=dates[-1]
    )
    assert "B" in {s.region_id for s in signals}
    groups = group_signals(signals, {}, areas={"A": ["a1", "a2", "a3"], "B": ["b1", "b2", "b3"]})
    assert any(alert.region_ids == ["b1", "b2", "b3"] for alert, _ in groups)


def test_engine_flat_fdr_and_unknown_burden():
    counts, keys, dates, areas = _district_city()
    fdr = detect_signals(counts, keys, dates, burden="fdr", monitor_start=dates[-3])
    assert fdr and {s.region_id for s in fdr} <= {"b2", None}
    with pytest.raises(ValueError, match="burden"):
        detect_signals(counts, keys, dates, burden="bonferroni")


def test_engine_weekly_detector_runs_on_weekly_sums():
    rng = np.random.default_rng(8)
    n_days = 7 * 120
    counts = rng.poisson(4.0, size=(2, n_days)).astype(float)
    counts[0, -7:] += 12  # the last week: +84 cases over a weekly mean of 28
    keys = [("r1", Syndrome.ILI), ("r2", Syndrome.ILI)]
    dates = [START + dt.timedelta(days=i) for i in range(n_days)]
    signals = detect_signals(counts, keys, dates, methods=["farrington"], monitor_start=dates[-7])
    assert [(s.region_id, s.date, s.detector) for s in signals] == [("r1", dates[-1], "farrington")]
    assert signals[0].observed == counts[0, -7:].sum()


def test_engine_methods_per_syndrome():
    counts, keys, dates, _ = _district_city()
    by = {Syndrome.GASTROINTESTINAL: ["C2", "ewma"]}
    signals = detect_signals(counts, keys, dates, methods=by, monitor_start=dates[-3])
    assert {s.detector for s in signals} <= {"C2", "ewma"} and signals
    assert detect_signals(counts, keys, dates, methods={Syndrome.ILI: ["C1"]}) == []


def test_evidence_windows_catch_a_sustained_small_excess():
    rng = np.random.default_rng(12)
    n_days = 150
    counts = rng.poisson(3.0, size=(3, n_days)).astype(float)
    counts[0, -7:] += 4  # four extra visits a day for a week: no single day stands out
    keys = [(f"r{i}", Syndrome.FEVER) for i in range(3)]
    dates = [START + dt.timedelta(days=i) for i in range(n_days)]
    kw = {"methods": ["ewma"], "monitor_start": dates[-1], "alpha": 0.001}
    assert not detect_signals(counts, keys, dates, **kw)
    signals = detect_signals(counts, keys, dates, windows=(1, 3, 7), **kw)
    assert [(s.region_id, s.detector) for s in signals] == [("r0", "ewma:7d")]
    assert 0 < signals[0].p_value <= 0.001


def test_evidence_windows_replay_day_by_day_and_validate():
    counts, keys, dates, _ = _district_city(n_days=90)
    full = detect_signals(counts, keys, dates, windows=(1, 3), monitor_start=dates[70])
    replay = []
    for t in range(70, 90):
        replay += detect_signals(
            counts[:, : t + 1], keys, dates[: t + 1], windows=(1, 3), monitor_start=dates[t]
        )
    assert full
    assert [(s.date, s.region_id, s.detector) for s in full] == [
        (s.date, s.region_id, s.detector) for s in replay
    ]
    for a, b in zip(full, replay, strict=True):
        assert a.p_value == pytest.approx(b.p_value, rel=1e-9)
    with pytest.raises(ValueError, match="windows"):
        detect_signals(counts, keys, dates, windows=(0, 3))


def test_a_detector_without_enough_history_is_stood_in_for_by_its_fallback():
    rng = np.random.default_rng(3)
    n_days = 120  # nb_glm needs 364 + 7 days; the NSSP switch judges until then
    counts = rng.poisson(5.0, size=(2, n_days)).astype(float)
    counts[0, -1] += 25
    keys = [("r1", Syndrome.FEVER), ("r2", Syndrome.FEVER)]
    dates = [START + dt.timedelta(days=i) for i in range(n_days)]
    signals = detect_signals(counts, keys, dates, methods=["nb_glm"], monitor_start=dates[-1])
    assert [(s.region_id, s.detector) for s in signals] == [("r1", "ewma_regression")]
    long = np.vstack([rng.poisson(5.0, size=(1, 400)).astype(float)])
    long[0, -1] += 25
    dates = [START + dt.timedelta(days=i) for i in range(400)]
    late = detect_signals(long, keys[:1], dates, methods=["nb_glm"], monitor_start=dates[-1])
    assert [s.detector for s in late] == ["nb_glm"]
