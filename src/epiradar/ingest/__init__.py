"""Adapters from wire formats to the canonical Visit, and the ingest pipeline."""

from epiradar.ingest.pipeline import IngestSummary, ingest_path
from epiradar.ingest.readers import IngestFormatError

__all__ = ["IngestFormatError", "IngestSummary", "ingest_path"]
