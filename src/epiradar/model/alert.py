"""Signals (one detector firing on one series on one day), alerts (merged signals) and trace results."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal

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


VERIFIED_STATUSES = frozenset({AlertStatus.MONITORING, AlertStatus.INVESTIGATING})
"""Open alerts that someone verified as a real event: the only ones the public is told of (a
statistical signal still ``new`` or ``verifying`` is most often not an outbreak)."""


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


# ---------------------------------------------------------------------------------------------
# The analyses of ``epiradar trace``: each says what data it used and how sure it is, or why it
# was skipped.

AnalysisStatus = Literal["done", "skipped"]


class TraceAnalysis(BaseModel):
    """What one analysis of an alert used and how sure it is (or why it did not run)."""

    status: AnalysisStatus = "skipped"
    method: str = Field("", description="the method and its paper, in a few words")
    used: dict[str, int | float | str] = Field(
        default_factory=dict,
        description="counts of the data the analysis used, e.g. cases, cases_with_location",
    )
    data: str = Field("", description="the data used, in plain language")
    certainty: str | None = Field(None, description="how sure the result is, in plain language")
    reason: str | None = Field(None, description="why the analysis was skipped")

    @property
    def done(self) -> bool:
        return self.status == "done"


class ExposureAnalysis(TraceAnalysis):
    """The case-control exposure table (its rows are ``TraceResult.sources``)."""


class SiteCandidate(BaseModel):
    """A candidate point source ranked by where the cases live (rank 1 = most likely)."""

    id: str
    name: str
    place_kind: str | None = None
    region_id: str | None = None
    lat: float
    lon: float
    score: float
    rank: int
    hit_score: float | None = Field(
        None, description="share of the area (or of the sites) searched before reaching it"
    )
    probability: float | None = Field(
        None, description="posterior probability that it is the source (uniform prior)"
    )
    profile_score: float | None = None  # geographic profiling baseline
    profile_rank: int | None = None


class SiteAnalysis(TraceAnalysis):
    """Point-source ranking of the city's places from the cases' homes."""

    n_sites: int = 0  # every site ranked; ``sites`` holds the best of them
    sites: list[SiteCandidate] = Field(default_factory=list)


class OriginCandidate(BaseModel):
    """A region ranked as the origin of a spreading outbreak (rank 1 = most likely)."""

    region_id: str
    name: str
    score: float
    rank: int
    arrival: dt.date | None = None  # the day the outbreak reached the region; None: not reached
    cases: int = 0  # the alert's cases living there
    jordan_rank: int | None = None
    rumor_rank: int | None = None
    degree_rank: int | None = None
    closeness_rank: int | None = None


class OriginAnalysis(TraceAnalysis):
    """Origin of the outbreak on the mobility network between regions."""

    origins: list[OriginCandidate] = Field(default_factory=list)


class ChainCase(BaseModel):
    """A case in the reconstructed transmission tree, with its most likely infector."""

    case_id: str
    onset: dt.date
    onset_imputed: bool = False  # onset estimated from the visit date
    region_id: str | None = None
    infector_id: str | None = None  # None: infected outside the data (index, imported, source)
    probability: float = Field(
        description="probability of the infector shown (or of no infector in the data)"
    )
    generation: int = 0
    expected_offspring: float | None = None
    superspreader: bool = False  # above the 99th percentile of Poisson offspring (Lloyd-Smith)


class ChainAnalysis(TraceAnalysis):
    """Who infected whom: the most likely transmission tree of the alert's cases."""

    serial_interval_mean: float | None = None
    serial_interval_sd: float | None = None
    cases: list[ChainCase] = Field(default_factory=list)


class RtPoint(BaseModel):
    """The reproduction number over one sliding window ending on ``date``."""

    date: dt.date  # the window's last day
    start: dt.date  # the window's first day
    mean: float
    std: float
    median: float
    q025: float
    q975: float
    cases: int  # incident cases in the window


class RtAnalysis(TraceAnalysis):
    """Time-varying reproduction number (Cori et al. 2013) of the alert's syndrome."""

    serial_interval_mean: float | None = None
    serial_interval_sd: float | None = None
    window_days: int | None = None
    points: list[RtPoint] = Field(default_factory=list)


def _not_run() -> str:
    return "not run"


class TraceResult(BaseModel):
    """Everything ``trace_alert`` found: the exposure table (``sources``) and the other analyses."""

    alert_id: str
    n_cases: int
    n_controls: int
    sources: list[SourceCandidate]
    exposures: ExposureAnalysis = Field(default_factory=lambda: ExposureAnalysis(reason=_not_run()))
    sites: SiteAnalysis = Field(default_factory=lambda: SiteAnalysis(reason=_not_run()))
    origins: OriginAnalysis = Field(default_factory=lambda: OriginAnalysis(reason=_not_run()))
    chains: ChainAnalysis = Field(default_factory=lambda: ChainAnalysis(reason=_not_run()))
    rt: RtAnalysis = Field(default_factory=lambda: RtAnalysis(reason=_not_run()))
