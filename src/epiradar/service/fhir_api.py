"""FHIR R4 read API and Bulk Data export (docs/fhir-api.md): search and read of Patient,
Encounter, Condition, Observation and MeasureReport within the caller's scope, and Bulk Data
``$export`` jobs (https://hl7.org/fhir/uv/bulkdata/export.html) that write NDJSON files in a
background thread and are recorded in the audit log with what was released and to whom.

The web layer (``web/fhir.py``) and the command line (``cli_fhir.py``) call these; errors are
:class:`FhirError` with the HTTP status and an OperationOutcome issue.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from epiradar.config import Settings
from epiradar.model import SYNDROMES, Syndrome
from epiradar.service import audit
from epiradar.service.auth import Principal
from epiradar.share import fhir_resources as fr
from epiradar.store import Store
from epiradar.store import fhir as q_store
from epiradar.store.engine import sqlite_file
from epiradar.store.fhir import VisitQuery

log = logging.getLogger(__name__)

NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
CURSOR = "_cursor"
KICKOFF_PARAMS = frozenset({"_type", "_since", "_outputFormat"})
ACTION = "fhir.bulk.export"


class FhirError(Exception):
    """A refused request: HTTP ``status`` and one OperationOutcome issue."""

    def __init__(
        self, status: int, diagnostics: str, *, code: str = "invalid", expression: str = ""
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.code = code
        self.expression = expression

    def outcome(self) -> dict[str, Any]:
        return fr.operation_outcome(
            self.diagnostics,
            code=self.code,
            expression=[self.expression] if self.expression else (),
        )


def _bad(name: str, why: str) -> FhirError:
    return FhirError(400, f"{name}: {why}", code="invalid", expression=name)


# --------------------------------------------------------------------------------------------
# scope


@dataclass(frozen=True)
class Scope:
    """What a caller may see: ``None`` and ``None`` is the whole city; ``districts``: residents
    of those regions; ``facility_id``: that facility's visits."""

    districts: tuple[str, ...] | None = None
    facility_id: str | None = None

    @classmethod
    def of(cls, who: Principal) -> Scope:
        if who.role == "administrator" or (who.city_wide and who.facility_id is None):
            return cls()
        if who.facility_id is not None:
            return cls(facility_id=who.facility_id)
        return cls(districts=tuple(who.districts or ()))

    def as_json(self) -> dict[str, Any]:
        return {
            "districts": list(self.districts) if self.districts is not None else None,
            "facility_id": self.facility_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scope:
        districts = data.get("districts")
        return cls(
            districts=tuple(districts) if districts is not None else None,
            facility_id=data.get("facility_id"),
        )

    def query(self) -> VisitQuery:
        return VisitQuery(scope_districts=self.districts, scope_facility=self.facility_id)


def shaper(store: Store, settings: Settings) -> fr.Shaper:
    return fr.Shaper(
        utc_offset=settings.fhir.utc_offset,
        age_band_years=settings.fhir.age_band_years,
        facility_names={f.id: f.name for f in store.facilities()},
    )


# --------------------------------------------------------------------------------------------
# search parameters

_DATE = re.compile(
    r"(?P<prefix>[a-z]{2})?(?P<value>\d{4}(?:-\d{2}(?:-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"(?:Z|[+-]\d{2}:\d{2})?)?)?)?)"
)
PREFIXES = ("eq", "ge", "gt", "le", "lt")


def date_range(value: str) -> tuple[str, str]:
    """``[low, high)`` of a FHIR date/dateTime search value as stored strings: days for a
    year, a month or a day; seconds for a time (its offset dropped: stored times are the
    facility's wall time)."""
    parts = value.split("T")
    day = parts[0]
    if len(parts) == 1:
        if len(day) == 4:
            year = int(day)
            return f"{year:04d}-01-01", f"{year + 1:04d}-01-01"
        if len(day) == 7:
            year, month = int(day[:4]), int(day[5:7])
            if not 1 <= month <= 12:
                raise ValueError("no such month")
            last = calendar.monthrange(year, month)[1]
            nxt = dt.date(year, month, last) + dt.timedelta(days=1)
            return f"{year:04d}-{month:02d}-01", nxt.isoformat()
        d = dt.date.fromisoformat(day)
        return d.isoformat(), (d + dt.timedelta(days=1)).isoformat()
    clock = re.sub(r"(Z|[+-]\d{2}:\d{2})$", "", parts[1])
    seconds = len(clock) > 5
    when = dt.datetime.fromisoformat(f"{day}T{clock[:8]}")
    step = dt.timedelta(seconds=1) if seconds else dt.timedelta(minutes=1)
    fmt = "%Y-%m-%dT%H:%M:%S"
    return when.strftime(fmt), (when + step).strftime(fmt)


def date_bounds(values: Sequence[str], *, days_only: bool = False) -> tuple[tuple[str, str], ...]:
    """Each ``date`` value (``eq`` ``ge`` ``gt`` ``le`` ``lt`` prefixes, ANDed) as
    ``(">=" | "<", bound)`` pairs."""
    out: list[tuple[str, str]] = []
    for raw in values:
        m = _DATE.fullmatch(raw)
        if m is None:
            raise _bad("date", f"{raw!r} is not a FHIR date or dateTime (e.g. ge2026-03-01)")
        prefix = m.group("prefix") or "eq"
        if prefix not in PREFIXES:
            raise _bad(
                "date", f"prefix {prefix!r} of {raw!r} is not supported; one of eq ge gt le lt"
            )
        if days_only and "T" in m.group("value"):
            raise _bad("date", f"{raw!r}: counts are per day, give a date without a time")
        try:
            low, high = date_range(m.group("value"))
        except ValueError as exc:
            raise _bad("date", f"{raw!r} is not a valid date ({exc})") from None
        if prefix == "eq":
            out += [(">=", low), ("<", high)]
        elif prefix == "ge":
            out.append((">=", low))
        elif prefix == "gt":
            out.append((">=", high))
        elif prefix == "le":
            out.append(("<", high))
        else:
            out.append(("<", low))
    return tuple(out)


def _tokens(name: str, values: Sequence[str]) -> tuple[str, ...] | None:
    """Comma-separated values (OR) of each repeat of ``name`` (repeats AND: intersected)."""
    if not values:
        return None
    result: set[str] | None = None
    for raw in values:
        items = {v.strip() for v in raw.split(",")}
        if "" in items:
            raise _bad(name, f"{raw!r} holds an empty value")
        result = items if result is None else result & items
    return tuple(sorted(result or ()))


def _syndromes(values: Sequence[str], *, allow_all: bool) -> tuple[str, ...] | None:
    codes = _tokens("syndrome", values)
    if codes is None:
        return None
    known = [s.value for s in SYNDROMES] + ([fr.ALL] if allow_all else [])
    out = []
    for token in codes:
        system, bar, code = token.rpartition("|")
        if bar and system not in ("", fr.SYNDROME_SYSTEM):
            raise _bad("syndrome", f"system {system!r} is not {fr.SYNDROME_SYSTEM}")
        if code not in known:
            raise _bad("syndrome", f"unknown code {code!r}; one of {', '.join(known)}")
        out.append(code)
    return tuple(out)


def _patients(store: Store, scope: Scope, values: Sequence[str]) -> tuple[str, ...] | None:
    refs = _tokens("patient", values)
    if refs is None:
        return None
    keys: list[str] = []
    for ref in refs:
        rid = ref.removeprefix("Patient/")
        key = patient_group(store, scope, rid)
        if key is None:
            raise _bad("patient", f"{ref!r} is not a Patient id of this server")
        keys += key
    return tuple(keys)


def patient_group(store: Store, scope: Scope, rid: str) -> list[str] | None:
    """The patient group keys of a Patient id (``None``: not a Patient id of ours)."""
    if rid.startswith("pt-") and fr.is_id(rid):
        return [f"k:{rid[3:]}"]
    if re.fullmatch(r"pv-\d{1,18}", rid):
        return [f"v:{rid[3:]}"]
    if re.fullmatch(r"pth-[0-9a-f]{40}", rid):
        return q_store.patient_keys_hashed(store.engine, scope.query(), rid[4:])
    return None


@dataclass(frozen=True)
class Search:
    """A parsed search: the visits (or counts) asked for, the page size and the cursor."""

    query: VisitQuery = field(default_factory=VisitQuery)
    count: int = 50
    cursor: dict[str, Any] | None = None
    syndromes: tuple[str, ...] | None = None  # MeasureReport
    totals: bool = False  # MeasureReport: one report for the whole date range


def encode_cursor(data: dict[str, Any]) -> str:
    text = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def decode_cursor(value: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or "k" not in data or not isinstance(data.get("t"), int):
        raise _bad(CURSOR, f"{value!r} is not a paging cursor of this server")
    return data


def parse_search(
    store: Store,
    settings: Settings,
    resource_type: str,
    params: Sequence[tuple[str, str]],
    scope: Scope,
) -> Search:
    """Check and read the search parameters (strict: an unknown one is refused)."""
    allowed = {name for name, _, _ in fr.SEARCH_PARAMS[resource_type]} | {"_count", CURSOR}
    given: dict[str, list[str]] = {}
    for name, value in params:
        if name not in allowed:
            known = ", ".join(sorted(allowed))
            raise _bad(name, f"unknown search parameter for {resource_type}; known: {known}")
        given.setdefault(name, []).append(value)
    for name, values in given.items():
        if name not in ("date", "region", "syndrome", "facility", "patient") and len(values) > 1:
            raise _bad(name, "given more than once")
    count = settings.fhir.default_count
    if "_count" in given:
        raw = given["_count"][0]
        if not raw.isdigit():
            raise _bad("_count", f"{raw!r} is not a whole number >= 0")
        count = int(raw)
    count = min(count, settings.fhir.max_count)
    cursor = decode_cursor(given[CURSOR][0]) if CURSOR in given else None
    if resource_type == "MeasureReport":
        period = (given.get("period") or ["day"])[0]
        if period not in ("day", "total"):
            raise _bad("period", f"{period!r} is not 'day' or 'total'")
        return Search(
            query=VisitQuery(
                bounds=date_bounds(given.get("date", []), days_only=True),
                regions=_tokens("region", given.get("region", [])),
            ),
            count=count,
            cursor=cursor,
            syndromes=_syndromes(given.get("syndrome", []), allow_all=True),
            totals=period == "total",
        )
    syndromes = _syndromes(given.get("syndrome", []), allow_all=False)
    query = replace(
        scope.query(),
        bounds=date_bounds(given.get("date", [])),
        regions=_tokens("region", given.get("region", [])),
        syndrome_bits=tuple(Syndrome(s).bit for s in syndromes) if syndromes else None,
        facilities=_tokens("facility", given.get("facility", [])),
        patients=_patients(store, scope, given.get("patient", [])),
        has=resource_type if resource_type in ("Condition", "Observation") else None,
    )
    return Search(query=query, count=count, cursor=cursor)


# --------------------------------------------------------------------------------------------
# search and read


@dataclass
class Page:
    resources: list[dict[str, Any]]
    total: int
    next_cursor: str | None


def _visit_page(store: Store, make: fr.Shaper, resource_type: str, search: Search) -> Page:
    """A page of resources made of visits in id order; the cursor is ``(visit pk, index of
    the next resource of that visit)``."""
    q = search.query
    cursor = search.cursor
    if cursor is None:
        if resource_type == "Encounter":
            total = q_store.count_visits(store.engine, q)
        else:
            total = sum(
                fr.count_resources(resource_type, row)
                for row in q_store.iter_visits(store.engine, q, batch=2000)
            )
        start_pk, skip = 0, 0
    else:
        total = int(cursor["t"])
        try:
            start_pk, skip = int(cursor["k"][0]), int(cursor["k"][1])
        except (TypeError, ValueError, IndexError, KeyError):
            raise _bad(CURSOR, "not a paging cursor of this search") from None
    if search.count == 0:
        return Page([], total, None)
    out: list[dict[str, Any]] = []
    batch = max(2, min(search.count + 1, 1000))
    for row in q_store.iter_visits(store.engine, q, after_pk=start_pk - 1, batch=batch):
        pk = int(row["id"])
        made = make.resources(resource_type, row)
        first = skip if pk == start_pk else 0
        for i in range(first, len(made)):
            if len(out) >= search.count:
                return Page(out, total, encode_cursor({"k": [pk, i], "t": total}))
            out.append(made[i])
    return Page(out, total, None)


def _patient_page(store: Store, make: fr.Shaper, search: Search) -> Page:
    q = search.query
    if search.cursor is None:
        total, after = q_store.count_patients(store.engine, q), ""
    else:
        total, after = int(search.cursor["t"]), str(search.cursor["k"])
    if search.count == 0:
        return Page([], total, None)
    keys = q_store.patients_after(store.engine, q, after, search.count + 1)
    page = keys[: search.count]
    latest = q_store.latest_visits(store.engine, q, page)
    out = [make.patient(latest[k]) for k in page if k in latest]
    nxt = encode_cursor({"k": page[-1], "t": total}) if len(keys) > search.count else None
    return Page(out, total, nxt)


def _measure_page(store: Store, search: Search, generated: str) -> Page:
    bounds = search.query.bounds
    regions, syndromes = search.query.regions, search.syndromes
    if search.cursor is None:
        total = q_store.count_count_rows(
            store.engine, bounds=bounds, regions=regions, syndromes=syndromes, totals=search.totals
        )
        after = None
    else:
        total, after = int(search.cursor["t"]), list(search.cursor["k"])
    if search.count == 0:
        return Page([], total, None)
    names = {r.id: r.name for r in store.regions()}
    out: list[dict[str, Any]] = []
    if search.totals:
        rows = q_store.count_totals_after(
            store.engine,
            bounds=bounds,
            regions=regions,
            syndromes=syndromes,
            after=after,
            limit=search.count + 1,
        )
        for region, syndrome, n, first, last in rows[: search.count]:
            out.append(
                fr.measure_report(
                    first,
                    last,
                    region,
                    syndrome,
                    n,
                    region_name=names.get(region),
                    generated=generated,
                )
            )
        more = len(rows) > search.count
        key = list(rows[search.count - 1][:2]) if more else None
    else:
        day_rows = q_store.count_rows_after(
            store.engine,
            bounds=bounds,
            regions=regions,
            syndromes=syndromes,
            after=after,
            limit=search.count + 1,
        )
        for date, region, syndrome, n in day_rows[: search.count]:
            out.append(
                fr.measure_report(
                    date,
                    None,
                    region,
                    syndrome,
                    n,
                    region_name=names.get(region),
                    generated=generated,
                )
            )
        more = len(day_rows) > search.count
        key = list(day_rows[search.count - 1][:3]) if more else None
    return Page(out, total, encode_cursor({"k": key, "t": total}) if key else None)


def search(
    store: Store,
    settings: Settings,
    resource_type: str,
    params: Sequence[tuple[str, str]],
    scope: Scope,
    *,
    base: str,
    self_url: str,
) -> dict[str, Any]:
    """A searchset Bundle of ``resource_type`` (``base``: the absolute URL of ``/fhir``;
    ``self_url``: the request's URL, from which the next link is made)."""
    parsed = parse_search(store, settings, resource_type, params, scope)
    if resource_type == "MeasureReport":
        page = _measure_page(store, parsed, _instant())
    elif resource_type == "Patient":
        page = _patient_page(store, shaper(store, settings), parsed)
    else:
        page = _visit_page(store, shaper(store, settings), resource_type, parsed)
    next_url = None
    if page.next_cursor:
        kept = [(k, v) for k, v in params if k != CURSOR]
        kept.append((CURSOR, page.next_cursor))
        from urllib.parse import urlencode

        next_url = f"{base}/{resource_type}?{urlencode(kept)}"
    entries = [(f"{base}/{resource_type}/{r['id']}", r) for r in page.resources]
    return fr.searchset(entries, total=page.total, self_url=self_url, next_url=next_url)


def _not_found(resource_type: str, resource_id: str) -> FhirError:
    return FhirError(
        404,
        f"{resource_type}/{resource_id}: no such resource (or outside your scope)",
        code="not-found",
    )


def read(
    store: Store, settings: Settings, resource_type: str, resource_id: str, scope: Scope
) -> dict[str, Any]:
    """One resource by id; :class:`FhirError` 404 when unknown or outside ``scope``."""
    q = scope.query()
    if resource_type == "MeasureReport":
        return _read_measure(store, resource_id)
    if resource_type == "Patient":
        keys = patient_group(store, scope, resource_id)
        latest = q_store.latest_visits(store.engine, q, keys) if keys else {}
        if not latest:
            raise _not_found(resource_type, resource_id)
        row = latest[keys[0]] if keys and keys[0] in latest else next(iter(latest.values()))
        return shaper(store, settings).patient(row)
    parsed = fr.parse_resource_id(resource_type, resource_id)
    row = q_store.visit(store.engine, q, parsed[0]) if parsed else None
    if row is not None:
        for resource in shaper(store, settings).resources(resource_type, row):
            if resource["id"] == resource_id:
                return resource
    raise _not_found(resource_type, resource_id)


def _read_measure(store: Store, resource_id: str) -> dict[str, Any]:
    parsed = fr.parse_measure_report_id(resource_id)
    if parsed is None:
        raise _not_found("MeasureReport", resource_id)
    start, end, region, syndrome = parsed
    last = end or start
    try:
        after_last = (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat()
        dt.date.fromisoformat(start)
    except ValueError:
        raise _not_found("MeasureReport", resource_id) from None
    bounds = ((">=", start), ("<", after_last))
    rows = q_store.count_totals_after(
        store.engine, bounds=bounds, regions=[region], syndromes=[syndrome], after=None, limit=1
    )
    if not rows:
        raise _not_found("MeasureReport", resource_id)
    names = {r.id: r.name for r in store.regions()}
    n = rows[0][2]
    return fr.measure_report(
        start, end, region, syndrome, n, region_name=names.get(region), generated=_instant()
    )


def capability(base: str) -> dict[str, Any]:
    from epiradar import __version__

    return fr.capability_statement(base=base, version=__version__, date=_instant()[:10])


# --------------------------------------------------------------------------------------------
# Bulk Data export


def _instant(at: float | None = None) -> str:
    """A FHIR instant in UTC (``2026-03-01T10:00:00Z``)."""
    when = dt.datetime.fromtimestamp(time.time() if at is None else at, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(at: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(at))


def bulk_dir(settings: Settings) -> Path:
    """Where export files go: ``[fhir] bulk_dir``, else ``fhir-bulk`` next to a SQLite
    database, else ``epiradar-fhir-bulk`` under the temporary directory."""
    if settings.fhir.bulk_dir:
        return Path(settings.fhir.bulk_dir)
    found = sqlite_file(settings.db)
    if found is not None:
        return found.resolve().parent / "fhir-bulk"
    return Path(tempfile.gettempdir()) / "epiradar-fhir-bulk"


def parse_since(value: str) -> str:
    """``_since`` (a FHIR instant) as server-local wall time, the form of ``updated_at``."""
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(
            "_since", f"{value!r} is not a FHIR instant (e.g. 2026-03-01T00:00:00Z)"
        ) from None
    if when.tzinfo is not None:
        when = when.astimezone().replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def parse_types(values: Iterable[str]) -> list[str]:
    wanted: list[str] = []
    for raw in values:
        for name in (v.strip() for v in raw.split(",")):
            if name not in fr.TYPES:
                raise _bad("_type", f"{name!r} is not exported; one of {', '.join(fr.TYPES)}")
            if name not in wanted:
                wanted.append(name)
    return wanted or list(fr.TYPES)


@dataclass(frozen=True)
class Written:
    """One NDJSON file written."""

    type: str
    file: str
    count: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "file": self.file, "count": self.count, "sha256": self.sha256}


Progress = Callable[[str, int, int], bool]
"""``(resource type, visits or patients read, of how many)`` -> go on?"""


def _rows_of(
    store: Store, q: VisitQuery, resource_type: str, make: fr.Shaper, batch: int
) -> Iterable[tuple[int, list[dict[str, Any]]]]:
    """``(rows read, resources)`` page by page."""
    if resource_type == "Patient":
        page: list[dict[str, Any]] = []
        for _key, latest in q_store.iter_latest_per_patient(store.engine, q, batch=batch):
            page.append(make.patient(latest))
            if len(page) == batch:
                yield len(page), page
                page = []
        if page:
            yield len(page), page
    else:
        after_pk = 0
        while True:
            rows = q_store.visits_after(store.engine, q, after_pk, batch)
            if not rows:
                return
            made: list[dict[str, Any]] = []
            for row in rows:
                made += make.resources(resource_type, row)
            yield len(rows), made
            after_pk = int(rows[-1]["id"])
            if len(rows) < batch:
                return


def write_ndjson(
    store: Store,
    settings: Settings,
    *,
    types: Sequence[str],
    scope: Scope,
    since: str | None,
    directory: Path,
    progress: Progress | None = None,
    batch: int = 1000,
) -> list[Written] | None:
    """Write the resources of ``types`` within ``scope`` (changed at or after ``since``) as
    NDJSON files in ``directory``, ``[fhir] bulk_file_resources`` per file: ``<Type>-<n>.ndjson``.
    Visits are read a page at a time, as of the newest visit when it starts. ``None`` when
    ``progress`` asked to stop."""
    directory.mkdir(parents=True, exist_ok=True)
    make = shaper(store, settings)
    q = replace(scope.query(), since=since, max_pk=q_store.max_visit_pk(store.engine))
    per_file = settings.fhir.bulk_file_resources
    written: list[Written] = []
    for resource_type in types:
        tq = replace(
            q, has=resource_type if resource_type in ("Condition", "Observation") else None
        )
        if resource_type == "Patient":
            of = q_store.count_patients(store.engine, tq)
        else:
            of = q_store.count_visits(store.engine, tq)
        if progress is not None and not progress(resource_type, 0, of):
            return None
        done = 0
        number, lines, digest, handle = 0, 0, hashlib.sha256(), None
        handle_name = ""
        try:
            for n_rows, resources in _rows_of(store, tq, resource_type, make, batch):
                for resource in resources:
                    if handle is None or lines >= per_file:
                        if handle is not None:
                            handle.close()
                            written.append(
                                Written(resource_type, handle_name, lines, digest.hexdigest())
                            )
                        number += 1
                        handle_name = f"{resource_type}-{number}.ndjson"
                        handle = open(directory / handle_name, "wb")  # noqa: SIM115
                        lines, digest = 0, hashlib.sha256()
                    data = fr.ndjson_line(resource).encode()
                    handle.write(data)
                    digest.update(data)
                    lines += 1
                done += n_rows
                if progress is not None and not progress(resource_type, done, of):
                    return None
        finally:
            if handle is not None:
                handle.close()
        if handle is not None:
            written.append(Written(resource_type, handle_name, lines, digest.hexdigest()))
    return written


def audit_detail(
    *, types: Sequence[str], since: str | None, scope: Scope, written: Sequence[Written]
) -> dict[str, Any]:
    counts: dict[str, int] = {t: 0 for t in types}
    for w in written:
        counts[w.type] += w.count
    return {
        "types": list(types),
        "since": since,
        "scope": scope.as_json(),
        "counts": counts,
        "files": [w.file for w in written],
        "sha256": {w.file: w.sha256 for w in written},
    }


def kickoff(
    store: Store,
    settings: Settings,
    *,
    who: Principal,
    actor: str,
    params: Sequence[tuple[str, str]],
    prefer: str | None,
    request_url: str,
    start: bool = True,
) -> str:
    """Check a ``$export`` kick-off, store the job and start it in a background thread; the
    job id. The job keeps the caller (``owner``) and its scope as of now."""
    if "respond-async" not in (prefer or "").replace(" ", "").split(","):
        raise FhirError(
            400, "header Prefer: respond-async is required for $export", expression="Prefer"
        )
    given: dict[str, list[str]] = {}
    for name, value in params:
        if name not in KICKOFF_PARAMS:
            why = "not supported by this server" if name.startswith("_") else "unknown"
            raise _bad(name, f"{why} ($export takes {', '.join(sorted(KICKOFF_PARAMS))})")
        given.setdefault(name, []).append(value)
    for name in ("_since", "_outputFormat"):
        if len(given.get(name, [])) > 1:
            raise _bad(name, "given more than once")
    fmt = (given.get("_outputFormat") or [NDJSON])[0]
    if fmt not in OUTPUT_FORMATS:
        raise _bad("_outputFormat", f"{fmt!r} is not supported; use {NDJSON}")
    types = parse_types(given.get("_type", []))
    since = (given.get("_since") or [None])[0]
    if since is not None:
        parse_since(since)
    remove_expired(store, settings)
    fail_stalled(store, settings)
    limit = settings.fhir.bulk_max_active
    if q_store.active_jobs(store.engine, who.actor) >= limit:
        raise FhirError(
            429,
            f"{limit} export(s) of yours are still running: wait for them, or cancel one",
            code="throttled",
        )
    scope = Scope.of(who)
    job_id = secrets.token_hex(16)
    q_store.insert_job(
        store.engine,
        {
            "id": job_id,
            "owner": who.actor,
            "scope": scope.as_json(),
            "request": request_url,
            "types": types,
            "since": since,
            "status": "queued",
            "progress": "queued",
            "transaction_time": _instant(),
            "created_at": _local(),
            "heartbeat": time.time(),
        },
    )
    if start:
        threading.Thread(
            target=run_job,
            args=(store, settings, job_id, actor),
            name=f"fhir-export-{job_id[:8]}",
            daemon=True,
        ).start()
    return job_id


def run_job(store: Store, settings: Settings, job_id: str, actor: str) -> None:
    """Run a queued job: write its files, mark it done, record the export in the audit log.
    Stops when the job is cancelled meanwhile (its files are removed)."""
    job = q_store.job(store.engine, job_id)
    if job is None or not q_store.update_job(
        store.engine, job_id, {"status": "running", "heartbeat": time.time()}, status_in=["queued"]
    ):
        return
    directory = bulk_dir(settings) / job_id
    scope = Scope.from_json(job["scope"])
    since = parse_since(job["since"]) if job["since"] else None

    def progress(resource_type: str, done: int, of: int) -> bool:
        noun = "patients" if resource_type == "Patient" else "visits"
        return q_store.update_job(
            store.engine,
            job_id,
            {
                "progress": f"{resource_type}: {done:,} of {of:,} {noun} read",
                "heartbeat": time.time(),
            },
            status_in=["running"],
        )

    try:
        written = write_ndjson(
            store,
            settings,
            types=job["types"],
            scope=scope,
            since=since,
            directory=directory,
            progress=progress,
        )
    except Exception as exc:  # the job fails, the server goes on
        shutil.rmtree(directory, ignore_errors=True)
        now = q_store.job(store.engine, job_id)
        if now is not None and now["status"] != "running":
            return  # cancelled meanwhile: its files were deleted under it
        log.exception("FHIR bulk export %s failed", job_id)
        q_store.update_job(
            store.engine,
            job_id,
            {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "finished_at": _local()},
            status_in=["running"],
        )
        return
    finished = time.time()
    expires = finished + settings.fhir.bulk_retention_hours * 3600
    done = written is not None and q_store.update_job(
        store.engine,
        job_id,
        {
            "status": "done",
            "progress": "done",
            "output": [w.as_json() for w in written],
            "finished_at": _local(finished),
            "expires_at": _local(expires),
        },
        status_in=["running"],
    )
    if not done:  # cancelled meanwhile
        shutil.rmtree(directory, ignore_errors=True)
        return
    assert written is not None
    detail = audit_detail(types=job["types"], since=job["since"], scope=scope, written=written)
    detail["request"] = job["request"]
    detail["owner"] = job["owner"]
    audit.record(
        store,
        actor,
        ACTION,
        channel="web",
        object_type="fhir_bulk",
        object_id=job_id,
        detail=detail,
    )


def fail_stalled(store: Store, settings: Settings) -> list[str]:
    """Fail the exports whose runner stopped giving signs of life (a restart ends the thread
    of a running export) and remove their files; their ids."""
    minutes = settings.fhir.bulk_stall_minutes
    ids = q_store.fail_stalled(
        store.engine,
        time.time() - minutes * 60,
        f"interrupted: no progress for {minutes:g} minutes (the server may have restarted); "
        "kick the export off again",
        _local(),
    )
    for job_id in ids:
        shutil.rmtree(bulk_dir(settings) / job_id, ignore_errors=True)
    return ids


def _owned_job(store: Store, job_id: str, who: Principal) -> dict[str, Any]:
    job = q_store.job(store.engine, job_id)
    if job is None or (who.role != "administrator" and job["owner"] != who.actor):
        raise FhirError(404, f"bulk job {job_id!r}: no such job", code="not-found")
    return job


def job_status(
    store: Store, settings: Settings, job_id: str, who: Principal, *, base: str
) -> tuple[int, dict[str, str], dict[str, Any] | None]:
    """``(HTTP status, headers, body)`` of a status request: 202 with ``X-Progress`` while the
    job runs, 200 with the manifest when done, 500 with an OperationOutcome when it failed, 404
    when cancelled, expired, or not the caller's."""
    remove_expired(store, settings)
    fail_stalled(store, settings)
    job = _owned_job(store, job_id, who)
    status = job["status"]
    if status in ("queued", "running"):
        return 202, {"X-Progress": job["progress"] or status, "Retry-After": "2"}, None
    if status == "failed":
        outcome = fr.operation_outcome(
            f"bulk job {job_id!r} failed: {job['error']}", code="exception", severity="error"
        )
        return 500, {}, outcome
    if status != "done":
        raise FhirError(
            404, f"bulk job {job_id!r} is {status}: its files are gone", code="not-found"
        )
    manifest = {
        "transactionTime": job["transaction_time"],
        "request": job["request"],
        "requiresAccessToken": True,
        "output": [
            {"type": o["type"], "url": f"{base}/bulk/{job_id}/{o['file']}", "count": o["count"]}
            for o in job["output"]
        ],
        "error": [],
    }
    return 200, {}, manifest


def cancel(store: Store, settings: Settings, job_id: str, who: Principal) -> None:
    """Cancel a job, or delete a finished one's files (the job's row stays, ``cancelled``)."""
    job = _owned_job(store, job_id, who)
    if not q_store.update_job(
        store.engine,
        job_id,
        {"status": "cancelled", "progress": "cancelled", "finished_at": _local()},
        status_in=["queued", "running", "done", "failed"],
    ):
        raise FhirError(404, f"bulk job {job_id!r} is {job['status']}", code="not-found")
    shutil.rmtree(bulk_dir(settings) / job_id, ignore_errors=True)


def job_file(store: Store, settings: Settings, job_id: str, file_name: str, who: Principal) -> Path:
    """The path of one output file of a finished job of the caller."""
    job = _owned_job(store, job_id, who)
    names = {o["file"] for o in job["output"]}
    path = bulk_dir(settings) / job_id / file_name
    if job["status"] != "done" or file_name not in names or not path.is_file():
        raise FhirError(404, f"bulk job {job_id!r} has no file {file_name!r}", code="not-found")
    return path


def remove_expired(store: Store, settings: Settings, now: float | None = None) -> int:
    """Remove the files of finished jobs past their expiry; the jobs become ``expired``."""
    n = 0
    for job in q_store.expired_jobs(store.engine, _local(now)):
        shutil.rmtree(bulk_dir(settings) / job["id"], ignore_errors=True)
        n += q_store.update_job(
            store.engine,
            job["id"],
            {"status": "expired", "progress": "expired"},
            status_in=["done"],
        )
    return n


def export_to_directory(
    store: Store,
    settings: Settings,
    *,
    types: Sequence[str],
    scope: Scope,
    since: str | None,
    out: Path,
    actor: str,
    progress: Progress | None = None,
) -> list[Written]:
    """The command line's export: write the files into ``out`` now and record the export
    (channel ``cli``)."""
    since_local = parse_since(since) if since else None
    written = write_ndjson(
        store,
        settings,
        types=types,
        scope=scope,
        since=since_local,
        directory=out,
        progress=progress,
    )
    assert written is not None
    detail = audit_detail(types=types, since=since, scope=scope, written=written)
    detail["directory"] = str(out)
    audit.record(store, actor, ACTION, channel="cli", object_type="fhir_bulk", detail=detail)
    return written
