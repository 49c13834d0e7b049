"""The vocabulary shared by every layer: syndromes, places, visits, signals and alerts."""

from epiradar.model.alert import Alert, AlertStatus, Severity, Signal, SourceCandidate, TraceResult
from epiradar.model.geo import Facility, MobilityFlow, Place, Region
from epiradar.model.syndrome import SYNDROMES, Syndrome, mask_of, syndromes_of
from epiradar.model.visit import VISIT_COLUMNS, Exposure, Sex, Visit

__all__ = [
    "SYNDROMES",
    "VISIT_COLUMNS",
    "Alert",
    "AlertStatus",
    "Exposure",
    "Facility",
    "MobilityFlow",
    "Place",
    "Region",
    "Severity",
    "Sex",
    "Signal",
    "SourceCandidate",
    "Syndrome",
    "TraceResult",
    "Visit",
    "mask_of",
    "syndromes_of",
]
