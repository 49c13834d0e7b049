"""Fisher's exact test, conditional odds ratio and BH q-values against R golden fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom

from epiradar.trace import bh_qvalues, conditional_odds_ratio, fisher_pvalue

TABLES = pd.read_csv(Path(__file__).parent / "fixtures" / "fisher" / "tables.csv")
CELLS = tuple(TABLES[k].to_numpy() for k in "abcd")
RTOL = 1e-7


def _odds(**kwargs) -> np.ndarray:
    return np.array([conditional_odds_ratio(*t, **kwargs) for t in zip(*CELLS, strict=True)])


def test_fixture_covers_edge_tables():
    a, b, c, d = CELLS
    assert len(TABLES) > 250
    assert ((a == 0) | (c == 0)).any() and ((b == 0) | (d == 0)).any()
    assert np.isinf(TABLES["ci_high"]).any() and (TABLES["estimate"] == 0).any()


def test_one_sided_pvalues_equal_r():
    np.testing.assert_allclose(fisher_pvalue(*CELLS), TABLES["p_greater"], rtol=RTOL)


def test_two_sided_pvalues_equal_r():
    p = fisher_pvalue(*CELLS, alternative="two-sided")
    np.testing.assert_allclose(p, TABLES["p_two_sided"], rtol=RTOL)


def test_less_is_the_other_tail():
    a, b, c, d = CELLS
    less = fisher_pvalue(a, b, c, d, alternative="less")
    # P(A <= a) + P(A >= a + 1) = 1 under the same margins
    np.testing.assert_allclose(less + fisher_pvalue(a, b, c, d) - _point(a, b, c, d), 1.0)


def _point(a, b, c, d):
    return hypergeom.pmf(a, a + b + c + d, a + c, a + b)


def test_odds_ratio_and_interval_solve_rs_definitions_exactly():
    odds = _odds()
    for k, col in enumerate(("estimate_tight", "ci_low_tight", "ci_high_tight")):
        np.testing.assert_allclose(odds[:, k], TABLES[col], rtol=RTOL)


def test_r_compatible_reproduces_fisher_test():
    odds = _odds(r_compatible=True)
    for k, col in enumerate(("estimate", "ci_low", "ci_high")):
        np.testing.assert_allclose(odds[:, k], TABLES[col], rtol=RTOL)


def test_fisher_test_is_only_accurate_to_uniroot_tolerance():
    # the documented difference: R's root search stops at ~1.2e-4 on OR (or 1/OR)
    exact, r = TABLES["ci_high_tight"], TABLES["ci_high"]
    finite = np.isfinite(exact)
    gap = np.abs(1 / exact[finite] - 1 / r[finite])
    assert gap.max() < 1.3e-4
    assert (np.abs(exact[finite] - r[finite]) / exact[finite]).max() > 1e-3


def test_bh_qvalues_equal_r_including_ties():
    assert TABLES["p_greater"].duplicated().any()
    np.testing.assert_allclose(bh_qvalues(TABLES["p_greater"]), TABLES["q_bh"], rtol=1e-12)
    assert bh_qvalues([]).size == 0


def test_rejects_negative_cells():
    with pytest.raises(ValueError):
        fisher_pvalue([1], [-1], [0], [3])
