"""Source tracing: pure functions over DataFrames that rank likely sources of an alert, and
estimate how fast it spreads."""

from epiradar.trace.chains import (
    discrete_serial_interval,
    most_likely_tree,
    reconstruct_chains,
    superspreaders,
)
from epiradar.trace.exposure import rank_exposures
from epiradar.trace.fisher import bh_qvalues, conditional_odds_ratio, fisher_pvalue
from epiradar.trace.origins import effective_distance, rank_origins
from epiradar.trace.rt import discr_si, estimate_rt, wallinga_teunis
from epiradar.trace.sites import fit_kernel, rank_sites

__all__ = [
    "bh_qvalues",
    "conditional_odds_ratio",
    "discr_si",
    "discrete_serial_interval",
    "effective_distance",
    "estimate_rt",
    "fisher_pvalue",
    "fit_kernel",
    "most_likely_tree",
    "rank_exposures",
    "rank_origins",
    "rank_sites",
    "reconstruct_chains",
    "superspreaders",
    "wallinga_teunis",
]
