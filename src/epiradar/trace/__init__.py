"""Source tracing: pure functions over DataFrames that rank likely sources of an alert."""

from epiradar.trace.exposure import rank_exposures
from epiradar.trace.fisher import bh_qvalues, conditional_odds_ratio, fisher_pvalue

__all__ = ["bh_qvalues", "conditional_odds_ratio", "fisher_pvalue", "rank_exposures"]
