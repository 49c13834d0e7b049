"""Temporal and space-time outbreak detection: pure functions over count arrays."""

from epiradar.detect.engine import detect_signals
from epiradar.detect.merge import group_signals, merge_signals
from epiradar.detect.temporal import DETECTORS, DetectionResult, ears

__all__ = [
    "DETECTORS",
    "DetectionResult",
    "detect_signals",
    "ears",
    "group_signals",
    "merge_signals",
]
