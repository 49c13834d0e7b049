"""Source analysis of an alert: its line list, comparable controls and ranked candidate places."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd

from epiradar.config import Settings
from epiradar.model import Alert, SourceCandidate, TraceResult
from epiradar.store import Store
from epiradar.trace.exposure import rank_exposures

CASE_LOOKBACK_DAYS = 2
"""Cases include visits this many days before the first alarm: the detectors compare days, and
the visits that pushed the first alarming day over the threshold started arriving earlier."""


class UnknownAlertError(LookupError):
    """No alert has this id."""


def get_alert(store: Store, alert_id: str) -> Alert:
    alert = store.alert(alert_id)
    if alert is None:
        raise UnknownAlertError(f"unknown alert {alert_id!r}")
    return alert


def case_window(alert: Alert) -> tuple[dt.date, dt.date]:
    return alert.start_date - dt.timedelta(days=CASE_LOOKBACK_DAYS), alert.end_date


def alert_line_list(store: Store, alert_id: str) -> pd.DataFrame:
    """The visits behind an alert: its syndrome, in its regions (the city: all), in its window."""
    return _cases(store, get_alert(store, alert_id))


def _cases(store: Store, alert: Alert) -> pd.DataFrame:
    start, end = case_window(alert)
    return store.visits_frame(
        start, end, region_ids=alert.region_ids or None, syndrome=alert.syndrome
    )


def _controls(store: Store, alert: Alert, n_cases: int, settings: Settings) -> pd.DataFrame:
    """Comparable non-alert visits: same regions and period, without the alert's syndrome.

    A test-negative-style comparison group: people who came to the same clinics from the same
    places at the same time for something else. Sampled deterministically per alert.
    """
    start, end = case_window(alert)
    pool = store.visits_frame(start, end, region_ids=alert.region_ids or None)
    pool = pool[(pool["syndrome_mask"].to_numpy() & alert.syndrome.bit) == 0]
    limit = settings.trace.controls_per_case * max(n_cases, 1)
    if len(pool) > limit:
        seed = int.from_bytes(hashlib.sha256(alert.id.encode()).digest()[:4], "little")
        take = np.sort(np.random.default_rng(seed).choice(len(pool), size=limit, replace=False))
        pool = pool.iloc[take]
    return pool


def _long_exposures(store: Store, visits: pd.DataFrame) -> pd.DataFrame:
    """One row per (visit, reported place); visits without exposures keep a NaN place."""
    base = pd.DataFrame(
        {
            "visit_pk": visits["id"].to_numpy(),
            "visit_id": visits["id"].astype(str).to_numpy(),
            "visit_date": pd.to_datetime(visits["visit_date"]).to_numpy(),
        }
    )
    exposures = store.exposures_frame(visits["id"].tolist())
    long = base.merge(exposures, on="visit_pk", how="left")
    long["exposure_date"] = pd.to_datetime(long["exposure_date"])
    return long[["visit_id", "visit_date", "place_id", "exposure_date"]]


def trace_alert(store: Store, alert_id: str, settings: Settings) -> TraceResult:
    """Rank the places the alert's cases report, against comparable controls.

    Each place gets an odds ratio with exact CI, a one-sided Fisher p-value and a
    Benjamini-Hochberg q-value (see ``epiradar.trace.exposure.rank_exposures``).
    """
    alert = get_alert(store, alert_id)
    cases = _cases(store, alert)
    controls = _controls(store, alert, len(cases), settings)
    if cases.empty:
        return TraceResult(alert_id=alert_id, n_cases=0, n_controls=len(controls), sources=[])
    ranking = rank_exposures(
        _long_exposures(store, cases),
        _long_exposures(store, controls),
        window_days=settings.trace.exposure_window_days,
    )
    places = {p.id: p for p in store.places()}
    sources = []
    for row in ranking.itertuples(index=False):
        place = places.get(row.place_id)
        sources.append(
            SourceCandidate(
                kind="place",
                id=str(row.place_id),
                name=place.name if place else str(row.place_id),
                place_kind=place.kind if place else None,
                region_id=place.region_id if place else None,
                lat=place.lat if place else None,
                lon=place.lon if place else None,
                score=float(row.score),
                rank=int(row.rank),
                cases_exposed=int(row.cases_exposed),
                cases_total=int(row.cases_total),
                controls_exposed=int(row.controls_exposed),
                controls_total=int(row.controls_total),
                odds_ratio=float(row.odds_ratio),
                ci_low=float(row.ci_low),
                ci_high=float(row.ci_high),
                p_value=float(row.p_value),
                q_value=float(row.q_value),
            )
        )
    return TraceResult(
        alert_id=alert_id, n_cases=len(cases), n_controls=len(controls), sources=sources
    )
