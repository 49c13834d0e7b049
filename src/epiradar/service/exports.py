"""De-identified line-list export (docs/line-list-export.md): read the visits in the caller's
scope, make them k-anonymous (``share.deidentify``), report first, then write CSV or Parquet and
record in the audit log what was released and to whom.

Scope: ``None`` is the whole city (administrators, city-wide epidemiologists, the command
line); otherwise the caller's districts (region ids, ``Principal.districts``): only visits of
residents of those regions (or of regions whose parent is listed) are read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from epiradar.config_share import ExportSettings
from epiradar.model import Syndrome
from epiradar.service import audit
from epiradar.share import deidentify
from epiradar.share.deidentify import AnonymityError, AnonymityReport
from epiradar.store import Store

Format = Literal["csv", "parquet"]
ACTION = "export.line_list"
OBJECT_TYPE = "line_list"
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportError(ValueError):
    """Input that cannot be served: names the ``field``; ``status`` 422 (bad input), 403 (a
    district outside the caller's scope)."""

    def __init__(self, field: str, reason: str, status: int = 422) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.status = status


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _split(value: Any) -> Any:
    """``a,b`` and repeated values alike as one list; blanks dropped; empty -> ``None``."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    out = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    return out or None


class ExportQuery(BaseModel):
    """The filters and options of an export (query parameters of the API and the page)."""

    model_config = ConfigDict(extra="forbid")

    start: Annotated[dt.date | None, BeforeValidator(_blank_to_none)] = Field(
        None, description="first visit date (default: the first stored)"
    )
    end: Annotated[dt.date | None, BeforeValidator(_blank_to_none)] = Field(
        None, description="last visit date (default: the last stored)"
    )
    syndrome: Annotated[Syndrome | None, BeforeValidator(_blank_to_none)] = Field(
        None, description="only visits with this syndrome"
    )
    districts: Annotated[list[str] | None, BeforeValidator(_split)] = Field(
        None, description="only residents of these districts (or regions), within your scope"
    )
    k: Annotated[int | None, BeforeValidator(_blank_to_none)] = Field(
        None, ge=2, le=1000, description="k of k-anonymity (default [export] k)"
    )
    max_suppression: Annotated[float | None, BeforeValidator(_blank_to_none)] = Field(
        None, ge=0.0, lt=1.0, description="share of records that may be suppressed"
    )
    qi: Annotated[list[str] | None, BeforeValidator(_split)] = Field(
        None,
        description="quasi-identifiers to release: age sex visit onset district facility "
        "(default [export] quasi_identifiers)",
    )
    pseudonyms: Annotated[bool | None, BeforeValidator(_blank_to_none)] = Field(
        None, description="add a per-file patient pseudonym (default [export] pseudonyms)"
    )

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = info.data.get("start")
        if value is not None and start is not None and value < start:
            raise ValueError(f"{value} is before start {start}")
        return value

    @field_validator("qi")
    @classmethod
    def _known_qis(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            unknown = [q for q in value if q not in deidentify.HIERARCHIES]
            if unknown:
                raise ValueError(
                    f"unknown quasi-identifier(s) {', '.join(unknown)}; "
                    f"one of {', '.join(deidentify.HIERARCHIES)}"
                )
        return value


class DownloadQuery(ExportQuery):
    """:class:`ExportQuery` and the file format."""

    format: Format = Field("csv", description="csv or parquet")


class ExportReport(BaseModel):
    """The k-anonymity report of an export, before (or instead of) any row."""

    schema_version: str = deidentify.SCHEMA_VERSION
    filters: dict[str, Any]  # start, end (as used), syndrome, districts
    scope: list[str] | None  # the caller's districts; None = whole city
    columns: list[str]  # what a file would hold
    anonymity: AnonymityReport

    @property
    def releasable(self) -> bool:
        return self.anonymity.releasable


@dataclass(frozen=True)
class ExportFile:
    """A released file: its bytes, media type, a file name, its report and SHA-256."""

    content: bytes
    format: Format
    media_type: str
    filename: str
    report: ExportReport
    sha256: str


@dataclass(frozen=True)
class _Prepared:
    visits: pd.DataFrame
    filters: dict[str, Any]
    scope: list[str] | None
    district_of: dict[str, str]
    facility_district: dict[str, str]
    k: int
    max_suppression: float
    qis: tuple[str, ...]
    pseudonyms: bool


def _prepare(
    store: Store, settings: ExportSettings, query: ExportQuery, scope: Sequence[str] | None
) -> _Prepared:
    regions = store.regions()
    district_of = {r.id: r.district_id for r in regions}
    in_scope = (
        None
        if scope is None
        else {r.id for r in regions if r.id in set(scope) or r.parent_id in set(scope)}
    )
    region_ids: set[str] | None = in_scope
    if query.districts:
        known = set(district_of) | set(district_of.values())
        unknown = [d for d in query.districts if d not in known]
        if unknown:
            raise ExportError("districts", f"unknown district(s) {', '.join(unknown)}")
        asked = {r for r, d in district_of.items() if r in query.districts or d in query.districts}
        if in_scope is not None and asked - in_scope:
            outside = sorted(
                d
                for d in set(query.districts)
                if any(d in (r, district_of[r]) for r in asked - in_scope)
            )
            raise ExportError(
                "districts", f"{', '.join(outside)} outside your districts", status=403
            )
        region_ids = asked
    start, end = query.start, query.end
    if start is None or end is None:
        stored = store.visit_date_range()
        if stored is not None:
            start = start or stored[0]
            end = end or stored[1]
    visits = store.visits_frame(
        start,
        end,
        region_ids=sorted(region_ids) if region_ids is not None else None,
        syndrome=query.syndrome,
    )
    if len(visits) > settings.max_rows:
        raise ExportError(
            "end",
            f"{len(visits):,} visits match, more than [export] max_rows "
            f"({settings.max_rows:,}); narrow the period",
        )
    facility_district = {
        f.id: district_of.get(f.region_id, f.region_id) for f in store.facilities() if f.region_id
    }
    qis = deidentify.check_quasi_identifiers(
        query.qi if query.qi is not None else settings.quasi_identifiers
    )
    filters = {
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "syndrome": query.syndrome.value if query.syndrome else None,
        "districts": sorted(query.districts) if query.districts else None,
    }
    return _Prepared(
        visits=visits,
        filters=filters,
        scope=sorted(scope) if scope is not None else None,
        district_of=district_of,
        facility_district=facility_district,
        k=query.k if query.k is not None else settings.k,
        max_suppression=(
            query.max_suppression if query.max_suppression is not None else settings.max_suppression
        ),
        qis=qis,
        pseudonyms=query.pseudonyms if query.pseudonyms is not None else settings.pseudonyms,
    )


def _report(prepared: _Prepared, anonymity: AnonymityReport) -> ExportReport:
    return ExportReport(
        filters=prepared.filters,
        scope=prepared.scope,
        columns=deidentify.columns_of(prepared.qis, pseudonyms=prepared.pseudonyms),
        anonymity=anonymity,
    )


def report(
    store: Store,
    settings: ExportSettings,
    query: ExportQuery,
    *,
    scope: Sequence[str] | None = None,
) -> ExportReport:
    """What an export with these filters would release (``anonymity.releasable`` False with
    the reason when ``k`` cannot be reached). Reads no more than counts need; writes nothing."""
    p = _prepare(store, settings, query, scope)
    anonymity = deidentify.plan(
        p.visits,
        k=p.k,
        max_suppression=p.max_suppression,
        quasi_identifiers=p.qis,
        district_of=p.district_of,
        facility_district=p.facility_district,
        top_age=settings.top_age,
    )
    return _report(p, anonymity)


def export_line_list(
    store: Store,
    settings: ExportSettings,
    query: ExportQuery,
    fmt: Format,
    *,
    actor: str,
    channel: audit.Channel,
    scope: Sequence[str] | None = None,
    remote_addr: str | None = None,
    rng: np.random.Generator | None = None,
) -> ExportFile:
    """De-identify, write ``fmt`` and record the release (``export.line_list``: filters,
    scope, k requested and achieved, levels, rows released and suppressed, columns, format,
    SHA-256 of the file). A refusal (k not reachable) is recorded with its reason and raised
    as :class:`ExportError` (field ``k``, status 422)."""
    if fmt not in MEDIA_TYPES:
        raise ExportError("format", f"unknown format {fmt!r}; csv or parquet")
    p = _prepare(store, settings, query, scope)
    try:
        release = deidentify.anonymise(
            p.visits,
            k=p.k,
            max_suppression=p.max_suppression,
            quasi_identifiers=p.qis,
            district_of=p.district_of,
            facility_district=p.facility_district,
            pseudonyms=p.pseudonyms,
            top_age=settings.top_age,
            rng=rng,
        )
    except AnonymityError as exc:
        refused = _report(p, exc.report) if exc.report else None
        audit.record(
            store,
            actor,
            ACTION,
            channel=channel,
            object_type=OBJECT_TYPE,
            detail={
                "outcome": "refused",
                "status": 422,
                "reason": str(exc),
                "format": fmt,
                **_detail(p, refused.anonymity if refused else None),
            },
            remote_addr=remote_addr,
        )
        raise ExportError("k", str(exc)) from None
    result = _report(p, release.report)
    content = write(release.frame, fmt, result)
    digest = hashlib.sha256(content).hexdigest()
    audit.record(
        store,
        actor,
        ACTION,
        channel=channel,
        object_type=OBJECT_TYPE,
        object_id=digest,
        detail={
            "outcome": "released",
            "status": 200,
            "format": fmt,
            "sha256": digest,
            "bytes": len(content),
            "columns": list(release.frame.columns),
            **_detail(p, release.report),
        },
        remote_addr=remote_addr,
    )
    first, last = p.filters["start"] or "all", p.filters["end"] or "all"
    return ExportFile(
        content=content,
        format=fmt,
        media_type=MEDIA_TYPES[fmt],
        filename=f"epiradar-line-list-{first}-{last}.{fmt}",
        report=result,
        sha256=digest,
    )


def _detail(p: _Prepared, anonymity: AnonymityReport | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "filters": p.filters,
        "scope": p.scope,
        "k_requested": p.k,
        "max_suppression": p.max_suppression,
        "quasi_identifiers": list(p.qis),
        "pseudonyms": p.pseudonyms,
    }
    if anonymity is not None:
        out |= {
            "k_achieved": anonymity.k_achieved,
            "levels": anonymity.levels,
            "rows_in": anonymity.records_in,
            "rows_released": anonymity.records_released,
            "rows_suppressed": anonymity.records_suppressed,
        }
    return out


# ---------------------------------------------------------------------------------------------
# files


def write(frame: pd.DataFrame, fmt: Format, report: ExportReport) -> bytes:
    """The released rows as CSV (UTF-8, header row) or Parquet (the report and the schema
    version in the key/value metadata, each column's meaning in its field metadata)."""
    if fmt == "csv":
        return _csv_safe(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")
    meanings = {name: meaning for name, _, meaning in deidentify.SCHEMA}
    types = {name: kind for name, kind, _ in deidentify.SCHEMA}
    schema = pa.schema(
        [
            pa.field(
                c,
                pa.bool_() if types[c] == "boolean" else pa.string(),
                metadata={"description": meanings[c]},
            )
            for c in frame.columns
        ],
        metadata={
            "epiradar.schema_version": deidentify.SCHEMA_VERSION,
            "epiradar.report": report.model_dump_json(),
        },
    )
    arrays = [
        pa.array(frame[c].to_numpy(dtype=object), type=schema.field(c).type) for c in frame.columns
    ]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), buffer)
    return buffer.getvalue()


def _csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula get a leading apostrophe."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == bool:
            continue
        values = out[column].to_numpy(dtype=object)
        risky = np.fromiter(
            (isinstance(v, str) and v.startswith(_FORMULA_START) for v in values),
            dtype=bool,
            count=len(values),
        )
        if risky.any():
            values = values.copy()
            values[risky] = np.asarray(["'" + v for v in values[risky]], dtype=object)
            out[column] = values
    return out


def report_headers(report: ExportReport, sha256: str | None = None) -> dict[str, str]:
    """The report summary as HTTP response headers (``X-Epiradar-*``)."""
    a = report.anonymity
    headers = {
        "X-Epiradar-K": str(a.k_achieved if a.k_achieved is not None else ""),
        "X-Epiradar-K-Requested": str(a.k_requested),
        "X-Epiradar-Levels": ";".join(f"{q}={lvl}" for q, lvl in a.levels.items()),
        "X-Epiradar-Records-Released": str(a.records_released),
        "X-Epiradar-Records-Suppressed": str(a.records_suppressed),
        "X-Epiradar-Classes": str(a.classes),
        "X-Epiradar-Schema-Version": report.schema_version,
    }
    if sha256:
        headers["X-Epiradar-SHA256"] = sha256
    return headers


def parquet_report(content: bytes) -> dict[str, Any]:
    """The report stored in a Parquet export's metadata."""
    meta = pq.read_schema(io.BytesIO(content)).metadata or {}
    return json.loads(meta[b"epiradar.report"])
