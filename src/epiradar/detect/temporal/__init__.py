"""Temporal detectors with one shape: ``detector(counts[n_series, n_time], **params) -> DetectionResult``."""

from epiradar.detect.temporal.c3_null import c3_pvalue
from epiradar.detect.temporal.cusum import cusum
from epiradar.detect.temporal.ears import DEFAULT_ALPHA, ears, first_monitor_day
from epiradar.detect.temporal.essence import ewma, ewma_regression_switch, regression_dow
from epiradar.detect.temporal.farrington import (
    FARRINGTON_IMPROVED,
    FARRINGTON_ORIGINAL,
    farrington_flexible,
)
from epiradar.detect.temporal.glr import glr_nb, glr_pois
from epiradar.detect.temporal.holt_winters import holt_winters
from epiradar.detect.temporal.nb_glm import nb_glm
from epiradar.detect.temporal.registry import DETECTORS, Detector
from epiradar.detect.temporal.result import DetectionResult

__all__ = [
    "DEFAULT_ALPHA",
    "DETECTORS",
    "FARRINGTON_IMPROVED",
    "FARRINGTON_ORIGINAL",
    "DetectionResult",
    "Detector",
    "c3_pvalue",
    "cusum",
    "ears",
    "ewma",
    "ewma_regression_switch",
    "farrington_flexible",
    "first_monitor_day",
    "glr_nb",
    "glr_pois",
    "holt_winters",
    "nb_glm",
    "regression_dow",
]
