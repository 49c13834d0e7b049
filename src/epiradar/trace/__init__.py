"""Source tracing: pure functions over DataFrames that rank likely sources of an alert, and
estimate how fast it spreads."""

from epiradar.trace.exposure import rank_exposures
from epiradar.trace.fisher import bh_qvalues, conditional_odds_ratio, fisher_pvalue
from epiradar.trace.rt import discr_si, estimate_rt, wallinga_teunis

__all__ = [
    "bh_qvalues",
    "conditional_odds_ratio",
    "discr_si",
    "estimate_rt",
    "fisher_pvalue",
    "rank_exposures",
    "wallinga_teunis",
]
