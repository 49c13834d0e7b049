"""The vocabulary shared by every layer: syndromes, places, visits, signals and alerts."""

from epiradar.model.alert import (
    Alert,
    AlertStatus,
    ChainAnalysis,
    ChainCase,
    ExposureAnalysis,
    OriginAnalysis,
    OriginCandidate,
    RtAnalysis,
    RtPoint,
    Severity,
    Signal,
    SiteAnalysis,
    SiteCandidate,
    SourceCandidate,
    TraceAnalysis,
    TraceResult,
)
from epiradar.model.geo import Facility, MobilityFlow, Place, Region
from epiradar.model.syndrome import SYNDROMES, Syndrome, mask_of, syndromes_of
from epiradar.model.visit import VISIT_COLUMNS, Exposure, Sex, Visit

__all__ = [
    "SYNDROMES",
    "VISIT_COLUMNS",
    "Alert",
    "AlertStatus",
    "ChainAnalysis",
    "ChainCase",
    "Exposure",
    "ExposureAnalysis",
    "Facility",
    "MobilityFlow",
    "OriginAnalysis",
    "OriginCandidate",
    "Place",
    "Region",
    "RtAnalysis",
    "RtPoint",
    "Severity",
    "Sex",
    "Signal",
    "SiteAnalysis",
    "SiteCandidate",
    "SourceCandidate",
    "Syndrome",
    "TraceAnalysis",
    "TraceResult",
    "Visit",
    "mask_of",
    "syndromes_of",
]
