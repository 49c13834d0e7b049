"""The temporal detectors by name; a new detector is one module and one line here."""

from __future__ import annotations

from functools import partial
from typing import Protocol

import numpy.typing as npt

from epiradar.detect.temporal.ears import ears
from epiradar.detect.temporal.result import DetectionResult


class Detector(Protocol):
    """``detector(counts[n_series, n_time], **params) -> DetectionResult``."""

    def __call__(
        self,
        counts: npt.ArrayLike,
        *,
        baseline: int = ...,
        alpha: float | None = ...,
        min_sigma: float = ...,
        monitor: npt.ArrayLike | None = ...,
    ) -> DetectionResult: ...


DETECTORS: dict[str, Detector] = {
    "C1": partial(ears, method="C1"),
    "C2": partial(ears, method="C2"),
    "C3": partial(ears, method="C3"),
}
