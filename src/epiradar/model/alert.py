"""Signals (one detector firing on one series on one day), alerts (merged signals) and trace results."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, Field

from epiradar.model.syndrome import Syndrome


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @classmethod
    def from_pvalue(cls, p: float) -> Severity:
        """High below 1e-4, medium below 1e-3, low otherwise."""
        if p < 1e-4:
            return cls.HIGH
        if p < 1e-3:
            return cls.MEDIUM
        return cls.LOW


class AlertStatus(StrEnum):
    NEW = "new"
    VERIFYING = "verifying"
    DISCARDED = "discarded"
    MONITORING = "monitoring"
    INVESTIGATING = "investigating"
    CLOSED = "closed"


class Signal(BaseModel):
    """One detector alarm on one series (a region, or the whole city, ``region_id=None``) on one day.

    A space-time cluster found on ``date`` is one signal too: ``region_ids`` holds its zones (the
    finest regions, the first its centre, which is also ``region_id``), ``start_date`` the first
    day of its window (ending on ``date``) and ``recurrence_interval`` how many days of daily
    scans it takes on average for chance alone to produce a cluster this strong.
    """

    date: dt.date
    region_id: str | None
    syndrome: Syndrome
    detector: str
    observed: float
    expected: float
    upperbound: float
    p_value: float
    region_ids: list[str] | None = None  # a space-time cluster's zones
    start_date: dt.date | None = None  # a space-time cluster's first day
    recurrence_interval: float | None = None  # days; space-time clusters only

    @property
    def is_cluster(self) -> bool:
        """A space-time cluster (several regions over several days), not one series' day."""
        return self.region_ids is not None


class Alert(BaseModel):
    """Signals of one syndrome merged over neighbouring regions and consecutive days (and the
    space-time clusters that cover the same place and time)."""

    id: str
    syndrome: Syndrome
    region_ids: list[str]
    start_date: dt.date
    end_date: dt.date
    first_alarm_date: dt.date
    observed: float
    expected: float
    p_value: float
    severity: Severity
    detector: str
    status: AlertStatus = AlertStatus.NEW
    n_signals: int = Field(default=1, ge=1)
    cluster_region_ids: list[str] = Field(
        default_factory=list,
        description="the regions of the space-time clusters merged into the alert (drawn on the "
        "map); empty when no cluster is part of it",
    )
    recurrence_interval: float | None = Field(
        None,
        description="days: the largest recurrence interval of the alert's space-time clusters",
    )


class SourceCandidate(BaseModel):
    """A ranked candidate source of an alert's cases (rank 1 = most likely)."""

    kind: str  # "place", later: "region", "facility", ...
    id: str
    name: str
    place_kind: str | None = None  # market, restaurant, school...
    region_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    score: float
    rank: int
    cases_exposed: int
    cases_total: int
    controls_exposed: int
    controls_total: int
    odds_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    q_value: float


class TraceResult(BaseModel):
    alert_id: str
    n_cases: int
    n_controls: int
    sources: list[SourceCandidate]
