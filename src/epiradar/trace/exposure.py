"""Rank the places an alert's cases were exposed to against comparable controls.

Each place is a 2x2 table (cases / controls x reported it / did not) tested with Fisher's
one-sided exact test for enrichment among cases (Fisher 1935), with Benjamini-Hochberg
q-values across the places tested (Benjamini & Hochberg 1995).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiradar.trace.fisher import bh_qvalues, conditional_odds_ratio, fisher_pvalue

COLUMNS = [
    "place_id",
    "cases_exposed",
    "cases_total",
    "controls_exposed",
    "controls_total",
    "odds_ratio",
    "odds_ratio_sample",
    "ci_low",
    "ci_high",
    "p_value",
    "q_value",
    "score",
    "rank",
]
_MIN_P = 1e-300


def rank_exposures(
    cases: pd.DataFrame,
    controls: pd.DataFrame,
    *,
    window_days: int | None = None,
    min_cases_exposed: int = 1,
    min_days: int = 0,
    exposure: str = "place_id",
    responders_only: bool = False,
) -> pd.DataFrame:
    """One row per place reported by at least ``min_cases_exposed`` cases, best first.

    Inputs are long, one row per (visit, reported place): ``visit_id, visit_date, place_id,
    exposure_date`` (``place_id`` NaN for a visit without exposures; ``exposure_date`` may be
    NaT). A visit is exposed to a place it reports unless both dates are known and the exposure
    falls outside the plausible incubation period ``[visit_date - window_days, visit_date -
    min_days]`` (no upper limit without ``window_days``). ``exposure`` names another attribute
    to rank instead of places (a food item, an event); the output's first column takes its
    name. With incomplete recall, ``responders_only`` counts only visits that reported some
    exposure in the totals: a case who could not say where they ate is then not counted as
    unexposed, which would bias every odds ratio towards 1 (non-differential misclassification).

    Columns: ``place_id``; the 2x2 margins ``cases_exposed, cases_total, controls_exposed,
    controls_total``; ``odds_ratio`` (conditional MLE, as R ``fisher.test``) with its exact 95%
    ``ci_low, ci_high``; ``odds_ratio_sample`` (cross-product ratio with 0.5 added to every
    cell); ``p_value``, Fisher's exact one-sided p-value for more exposure among cases than
    controls (R ``fisher.test(alternative = "greater")``); ``q_value`` (Benjamini-Hochberg over
    the places listed); ``score = -log10(p_value)`` where the odds ratio exceeds 1, else 0; and
    ``rank`` (1 = best: highest score, then most cases exposed, then ``place_id``).
    """
    if window_days is not None and window_days < 0:
        raise ValueError("window_days must be non-negative")
    if min_days < 0 or (window_days is not None and min_days > window_days):
        raise ValueError(f"min_days must be between 0 and window_days (got {min_days})")
    for name, frame in (("cases", cases), ("controls", controls)):
        missing = {"visit_id", "visit_date", exposure, "exposure_date"} - set(frame.columns)
        if missing:
            raise ValueError(f"{name}: missing column(s) {sorted(missing)}")
    cases = cases.rename(columns={exposure: "place_id"}) if exposure != "place_id" else cases
    if exposure != "place_id":
        controls = controls.rename(columns={exposure: "place_id"})
    case_hits = _exposed(cases, window_days, min_days)
    control_hits = _exposed(controls, window_days, min_days)
    cases_exposed = case_hits.groupby("place_id")["visit_id"].nunique()
    cases_exposed = cases_exposed[cases_exposed >= min_cases_exposed]
    if cases_exposed.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in COLUMNS}).astype(
            {"place_id": object, "rank": int}
        )
        return empty.rename(columns={"place_id": exposure})
    controls_exposed = (
        control_hits.groupby("place_id")["visit_id"].nunique().reindex(cases_exposed.index)
    )
    a = cases_exposed.to_numpy(dtype=np.int64)
    c = controls_exposed.fillna(0).to_numpy(dtype=np.int64)
    if responders_only:  # visits that reported any exposure (in the window or not)
        n_cases = int(cases.loc[cases["place_id"].notna(), "visit_id"].nunique())
        n_controls = int(controls.loc[controls["place_id"].notna(), "visit_id"].nunique())
    else:
        n_cases = int(cases["visit_id"].nunique())
        n_controls = int(controls["visit_id"].nunique())
    b, d = n_cases - a, n_controls - c
    p = fisher_pvalue(a, b, c, d, alternative="greater")
    odds = np.array([conditional_odds_ratio(*t) for t in zip(a, b, c, d, strict=True)])
    out = pd.DataFrame(
        {
            "place_id": cases_exposed.index.astype(str),
            "cases_exposed": a,
            "cases_total": n_cases,
            "controls_exposed": c,
            "controls_total": n_controls,
            "odds_ratio": odds[:, 0],
            "odds_ratio_sample": (a + 0.5) * (d + 0.5) / ((b + 0.5) * (c + 0.5)),
            "ci_low": odds[:, 1],
            "ci_high": odds[:, 2],
            "p_value": p,
            "q_value": bh_qvalues(p),
            "score": np.where(odds[:, 0] > 1, -np.log10(np.maximum(p, _MIN_P)), 0.0),
        }
    )
    out = out.sort_values(
        ["score", "cases_exposed", "place_id"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out[COLUMNS].rename(columns={"place_id": exposure})


def _exposed(visits: pd.DataFrame, window_days: int | None, min_days: int = 0) -> pd.DataFrame:
    """Distinct (visit_id, place_id) pairs that count as exposures."""
    rows = visits[visits["place_id"].notna()]
    if (window_days is not None or min_days > 0) and not rows.empty:
        visit_date = pd.to_datetime(rows["visit_date"])
        exposure_date = pd.to_datetime(rows["exposure_date"])
        lag = (visit_date - exposure_date).dt.days
        top = np.inf if window_days is None else window_days
        inside = lag.isna() | ((lag >= min_days) & (lag <= top))
        rows = rows[inside.to_numpy()]
    return rows[["visit_id", "place_id"]].drop_duplicates()
