"""The detectors the product can run, by name: a new detector is one module and one entry here.

Each entry fixes what the product needs to call a detector the same way as every other one: the
series frequency it reads (daily counts, or weekly sums), its defaults in the product (each
overridable in ``epiradar.toml`` under ``[detect.params.<name>]``), which keyword takes the
run's per-test level ``alpha``, whether it needs the weekday of the first day, the first
time index it can judge, and the detector that judges the days before that (``fallback``:
``nb_glm`` needs a year of history; until then the NSSP regression/EWMA switch stands in). Calling an entry calls its function with its fixed arguments, so
``DETECTORS["C1"](counts, baseline=7)`` is ``ears(counts, method="C1", baseline=7)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy.typing as npt

from epiradar.detect.temporal.ears import ears, first_monitor_day
from epiradar.detect.temporal.essence import (
    MIN_BASELINE,
    ewma,
    ewma_regression_switch,
    regression_dow,
)
from epiradar.detect.temporal.farrington import (
    FARRINGTON_IMPROVED,
    FARRINGTON_ORIGINAL,
    farrington_flexible,
)
from epiradar.detect.temporal.holt_winters import holt_winters
from epiradar.detect.temporal.nb_glm import nb_glm
from epiradar.detect.temporal.result import DetectionResult

Frequency = Literal["daily", "weekly"]


@dataclass(frozen=True)
class Detector:
    """A temporal detector as the product runs it (see the module docstring)."""

    name: str
    function: Callable[..., DetectionResult]
    frequency: Frequency
    first: Callable[[Mapping[str, Any]], int]
    description: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    alpha_keyword: str | None = "alpha"
    needs_weekday: bool = False
    fallback: str | None = None  # judges the days this one has too little history for

    def __call__(self, counts: npt.ArrayLike, **params: Any) -> DetectionResult:
        return self.function(counts, **{**self.fixed, **params})

    def arguments(
        self, alpha: float | None, overrides: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The keyword arguments of a product run: defaults < the run's ``alpha`` < overrides."""
        kwargs = {**self.fixed, **self.defaults}
        if alpha is not None and self.alpha_keyword is not None:
            kwargs[self.alpha_keyword] = alpha
        kwargs.update(overrides or {})
        return kwargs

    def first_monitor(self, kwargs: Mapping[str, Any]) -> int:
        """The first 0-based time index the detector can judge with ``kwargs``."""
        return int(self.first(kwargs))


def _essence_first(kw: Mapping[str, Any]) -> int:
    return MIN_BASELINE + int(kw.get("guard", 2))


def _farrington_first(kw: Mapping[str, Any]) -> int:
    return int(kw.get("b", 5)) * int(kw.get("freq", 52)) + int(kw.get("w", 3))


def _nb_glm_first(kw: Mapping[str, Any]) -> int:
    guard, baseline = int(kw.get("guard", 7)), kw.get("baseline", 364)
    if baseline is not None:
        return guard + int(baseline)
    freq = int(kw.get("freq") or 1)
    n_coef = 1 + bool(kw.get("trend", True)) + 2 * int(kw.get("harmonics", 1)) + freq - 1
    return guard + 2 * n_coef


def _ears(method: str, text: str) -> Detector:
    return Detector(
        name=method,
        function=ears,
        frequency="daily",
        first=lambda kw: first_monitor_day(kw["method"], int(kw.get("baseline", 7))),
        description=text,
        fixed={"method": method},
    )


def _essence(name: str, function: Callable[..., DetectionResult], text: str) -> Detector:
    """An NSSP-ESSENCE detector: 28-day baseline, 2-day guard band, Rnssp's ``red`` level;
    the regressions need the weekday of the first day."""
    return Detector(
        name=name,
        function=function,
        frequency="daily",
        first=_essence_first,
        description=text,
        defaults={"baseline": 28, "guard": 2},
        alpha_keyword="red",
        needs_weekday=function is not ewma,
    )


_ENTRIES = [
    _ears("C1", "EARS C1: the day against the 7 days before it (Hutwagner et al. 2003)"),
    _ears("C2", "EARS C2: as C1 with a 2-day guard band"),
    _ears("C3", "EARS C3: C2 excesses summed over 3 days (Hutwagner et al. 2005)"),
    _essence("ewma", ewma, "NSSP-ESSENCE EWMA, 28-day baseline, 2-day guard band (CDC Rnssp)"),
    _essence(
        "regression",
        regression_dow,
        "NSSP-ESSENCE adaptive regression with day-of-week terms (CDC Rnssp)",
    ),
    _essence(
        "ewma_regression",
        ewma_regression_switch,
        "NSSP-ESSENCE regression/EWMA switch at adjusted R^2 0.60 (CDC Rnssp)",
    ),
    Detector(
        name="holt_winters",
        function=holt_winters,
        frequency="daily",
        first=lambda kw: 2 * int(kw.get("period", 7)),
        description="additive Holt-Winters one-day-ahead forecast, weekly season "
        "(Mathes et al. 2017)",
        defaults={"alpha": 0.1, "beta": False, "gamma": 0.2, "period": 7},
        alpha_keyword="alpha_level",
    ),
    Detector(
        name="nb_glm",
        function=nb_glm,
        frequency="daily",
        first=_nb_glm_first,
        description="negative-binomial GLM with day-of-week and yearly harmonics on the last "
        "364 days, past outbreaks down-weighted (Farrington et al. 1996; Noufaily et al. 2013)",
        fallback="ewma_regression",
    ),
    Detector(
        name="farrington",
        function=farrington_flexible,
        frequency="weekly",
        first=_farrington_first,
        description="improved Farrington on weekly counts (Noufaily et al. 2013)",
        defaults={**FARRINGTON_IMPROVED, "b": 5, "w": 3, "freq": 52},
    ),
    Detector(
        name="farrington_original",
        function=farrington_flexible,
        frequency="weekly",
        first=_farrington_first,
        description="original Farrington on weekly counts (Farrington et al. 1996)",
        defaults={**FARRINGTON_ORIGINAL, "b": 5, "w": 3, "freq": 52},
    ),
]

DETECTORS: Mapping[str, Detector] = MappingProxyType({d.name: d for d in _ENTRIES})
