"""A current risk level per district in plain language: low, moderate, high, very high.

The rule is deliberately simple so the public (and staff) can check it:

* **alert points**: the highest severity among the open alerts that are current (ended at most
  ``alert_current_days`` before the last day with data) and touch the district (an alert with
  no regions, city-wide, touches every district): high 3, medium 2, low 1, none 0;
* **trend point**: +1 when visits are *rising*: the last ``window_days`` days' visits per
  100,000 residents are at least ``1 + rise_fraction`` times the ``window_days`` before, and
  there are at least ``min_rise`` more visits (so a handful of visits is never a trend);
* **level** = points capped at 3: 0 low, 1 moderate, 2 high, 3 very high.

Inputs are plain values (severities, two window counts, a population); the service gathers
them from the store. The level is a category: no count is published with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

RiskLevel = Literal["low", "moderate", "high", "very_high"]
LEVELS: tuple[RiskLevel, ...] = ("low", "moderate", "high", "very_high")
SEVERITY_POINTS = {"low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True)
class RiskRule:
    """The thresholds of the rule (``[public]`` settings ``risk_*``)."""

    rise_fraction: float = 0.5
    min_rise: int = 10

    def __post_init__(self) -> None:
        if self.rise_fraction <= 0:
            raise ValueError(f"RiskRule.rise_fraction must be > 0, got {self.rise_fraction}")
        if self.min_rise < 1:
            raise ValueError(f"RiskRule.min_rise must be >= 1, got {self.min_rise}")


@dataclass(frozen=True)
class Trend:
    """Visits in the recent window and the one before, and residents."""

    recent: int
    previous: int
    population: int

    def rate(self, count: int) -> float | None:
        """Visits per 100,000 residents (``None`` without a population)."""
        return count * 100_000 / self.population if self.population > 0 else None

    def rising(self, rule: RiskRule) -> bool:
        if self.recent - self.previous < rule.min_rise:
            return False
        # per 100,000 with the same population on both sides: the ratio of the counts
        return self.recent >= (1 + rule.rise_fraction) * self.previous


@dataclass(frozen=True)
class RiskAssessment:
    """A district's level and why (``alert_severity``: the highest current one, or ``None``)."""

    level: RiskLevel
    alert_severity: str | None
    n_alerts: int
    rising: bool

    @property
    def rank(self) -> int:
        return LEVELS.index(self.level)


def assess(severities: Iterable[str], trend: Trend, rule: RiskRule = RiskRule()) -> RiskAssessment:
    """The risk level from the severities of the current open alerts touching a district and
    its visit trend (module docstring)."""
    severities = [str(s) for s in severities]
    unknown = [s for s in severities if s not in SEVERITY_POINTS]
    if unknown:
        raise ValueError(f"assess: unknown alert severity {unknown[0]!r}")
    if trend.recent < 0 or trend.previous < 0:
        raise ValueError("assess: visit counts must be >= 0")
    alert = max((SEVERITY_POINTS[s] for s in severities), default=0)
    rising = trend.rising(rule)
    points = min(alert + int(rising), len(LEVELS) - 1)
    top = max(severities, key=SEVERITY_POINTS.__getitem__) if severities else None
    return RiskAssessment(
        level=LEVELS[points], alert_severity=top, n_alerts=len(severities), rising=rising
    )
