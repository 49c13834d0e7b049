"""The quarantine: browse rejected input and re-process it once the cause is fixed (a corrected
mapping, a facility or region added to the city, a sender's fix)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from epiradar.config import Settings
from epiradar.ingest.mapping import Mapping
from epiradar.ingest.messages import FailedMessage, MessagePipeline
from epiradar.ingest.readers import IngestFormatError
from epiradar.store import Store
from epiradar.store.visits import raw_bytes


@dataclass
class RetryResult:
    """What became of one quarantined record on retry."""

    id: int
    status: str  # resolved (now accepted), open (still rejected), discarded (superseded)
    detail: str


def records(store: Store, ids: Iterable[int]) -> list[dict[str, Any]]:
    return store.quarantined(None, ids=list(ids))


def retry(
    store: Store,
    settings: Settings,
    ids: Iterable[int],
    *,
    mapping: Mapping | None = None,
    classifier: Any = None,
) -> list[RetryResult]:
    """Re-process open quarantined records: messages through the message pipeline, file rows
    through the file validation (table rows with ``mapping`` when given, else the mapping they
    were read with). A record now accepted is marked resolved; one rejected for a new reason is
    marked discarded in favour of the newer record; one rejected for the same reason stays open.
    """
    if classifier is None:
        from epiradar.ingest.syndromes import load_default_classifier

        classifier = load_default_classifier()
    secret = settings.pseudonym_secret()
    pipeline = MessagePipeline(store, secret=secret, classifier=classifier)
    out = []
    for record in records(store, ids):
        if record["status"] != "open":
            out.append(RetryResult(record["id"], record["status"], "not open: left as it is"))
            continue
        fmt = record.get("format") or _guess_format(record)
        try:
            if fmt in ("hl7", "fhir"):
                result = _retry_message(store, pipeline, record, fmt)
            else:
                result = _retry_row(store, record, fmt, mapping, secret, classifier)
        except (IngestFormatError, ValueError) as exc:
            result = RetryResult(record["id"], "open", f"cannot re-read: {exc}")
        out.append(result)
    store.refresh_stale_counts()
    return out


def _guess_format(record: dict[str, Any]) -> str:
    source = str(record.get("source") or "")
    if source.startswith(("mllp:", "http-hl7:")):
        return "hl7"
    if source.startswith("fhir:"):
        return "fhir"
    if source.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")):
        return "jsonl"
    return "csv"


def _retry_message(
    store: Store, pipeline: MessagePipeline, record: dict[str, Any], fmt: str
) -> RetryResult:
    data = raw_bytes(record)
    channel, _, _facility = str(record["source"]).partition(":")
    if fmt == "hl7":
        from epiradar.ingest.mllp import read_message

        messages = [read_message(data)]
    else:
        from epiradar.ingest.fhir import read_bundle

        bundle = read_bundle(data, facility_id=record.get("facility_id"))
        messages = list(bundle.visits)
        if not messages:
            reason = "; ".join(i.diagnostics for i in bundle.issues) or "no visit in the bundle"
            return RetryResult(record["id"], "open", f"still rejected: {reason}")
    sender = record.get("facility_id") if channel in ("http-hl7", "fhir") else None
    outcomes = pipeline.apply(messages, channel=channel or fmt, sender=sender, quarantine=False)
    failed = [o for o in outcomes if o.error is not None]
    if not failed:
        visits = ", ".join(sorted({o.visit_id or "" for o in outcomes}))
        store.resolve_quarantine([record["id"]], "resolved", f"retried: accepted (visit {visits})")
        return RetryResult(record["id"], "resolved", f"accepted: visit {visits}")
    error = failed[0].error
    assert error is not None
    if isinstance(messages[0], FailedMessage) or (error.field, error.reason) == (
        record["field"],
        record["reason"],
    ):
        return RetryResult(record["id"], "open", f"still rejected: {error}")
    pipeline.apply(messages, channel=channel or fmt, sender=sender)  # keep the new reason
    store.resolve_quarantine([record["id"]], "discarded", f"retried: rejected again: {error}")
    return RetryResult(record["id"], "discarded", f"rejected again for a new reason: {error}")


def _retry_row(
    store: Store,
    record: dict[str, Any],
    fmt: str,
    mapping: Mapping | None,
    secret: bytes,
    classifier: Any,
) -> RetryResult:
    from epiradar.ingest.pipeline import ingest_records

    row, row_mapping = _row(record, fmt)
    if fmt == "table":
        row_mapping = mapping or row_mapping
    number = int(record["record"]) if str(record.get("record") or "").isdigit() else 1
    source = str(record["source"])
    newest = _newest_id(store, source)
    summary = ingest_records(
        store,
        [row],
        source=source,
        mapping=row_mapping,
        secret=secret,
        classifier=classifier,
        numbers=[number],
    )
    if summary.dates:
        store.refresh_daily_counts(summary.dates)
    if summary.accepted or summary.duplicates:
        what = "accepted" if summary.accepted else "already stored (duplicate)"
        store.resolve_quarantine([record["id"]], "resolved", f"retried: {what}")
        return RetryResult(record["id"], "resolved", what)
    newer = [q for q in store.quarantined(10, source=source) if q["id"] > newest]
    if not newer:
        return RetryResult(record["id"], "open", f"still rejected: {record['reason']}")
    new = newer[-1]
    store.resolve_quarantine(
        [record["id"]], "discarded", f"retried: rejected again as record #{new['id']}"
    )
    return RetryResult(
        record["id"], "discarded", f"rejected again (#{new['id']}): {new['field']}: {new['reason']}"
    )


def _newest_id(store: Store, source: str) -> int:
    found = store.quarantined(1, source=source)
    return int(found[0]["id"]) if found else 0


def _row(record: dict[str, Any], fmt: str) -> tuple[dict[str, str], Mapping | None]:
    """The record as header -> text, and the mapping it was read with (tables)."""
    raw = raw_bytes(record).decode("utf-8", "replace")
    if fmt == "table":
        row = json.loads(raw)
        context = record.get("context")
        return {str(k): "" if v is None else str(v) for k, v in row.items()}, (
            Mapping.from_toml(context) if context else None
        )
    if fmt == "jsonl":
        obj = json.loads(raw)
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        return {str(k): "" if v is None else _text(v) for k, v in obj.items()}, None
    header_line = record.get("context")
    if not header_line:
        raise ValueError("the file's header was not kept with this record")
    header = next(csv.reader([header_line]))
    values = next(csv.reader(io.StringIO(raw)), [])
    if len(values) != len(header):
        raise ValueError(f"{len(values)} fields for {len(header)} columns")
    return dict(zip([h.strip() for h in header], values, strict=True)), None


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)
