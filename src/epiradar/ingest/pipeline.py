"""The ingest pipeline: read -> validate -> pseudonymise -> geocode -> classify -> store.

Each chunk is committed on its own: a chunk the database refuses is rolled back alone and its
records go to the quarantine with the database's reason; chunks before and after it are kept.

Mapped tables (``ingest.tables``, ``ingest.mapping``) take the same way: their blocks are parsed
into source columns and mapped in the workers, then validated like canonical chunks; their
rejects name the source header and keep the row as a JSON object of source header -> text, with
``format = "table"`` and the mapping's TOML as ``context`` so that they can be re-read later
(:func:`ingest_records`). Rejects of canonical files carry ``format`` ``csv`` (``context``: the
header line) or ``jsonl``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import multiprocessing
import os
import threading
from collections import abc, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any, Protocol

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from epiradar.ingest import rules
from epiradar.ingest.geocode import RegionLocator
from epiradar.ingest.mapping import Mapping
from epiradar.ingest.pseudonym import Pseudonymizer
from epiradar.ingest.readers import IngestFormatError, LineBlock, RawChunk, Reject, VisitReader
from epiradar.ingest.tables import (
    SHEET_SUFFIXES,
    RowBlock,
    SheetReader,
    TableReader,
    map_chunk,
    open_table,
    parse_any,
)
from epiradar.ingest.validate import CheckedChunk, Column, check_chunk
from epiradar.store import EncodedVisits, Store

log = logging.getLogger(__name__)

SourceRow = abc.Mapping[str, str]
"""One row of a table: header -> text."""
Progress = Callable[[int, int], None]
"""Called after each chunk with (bytes read, total bytes of the file)."""


class Classifier(Protocol):
    version: str

    def classify_many(
        self,
        complaints: Sequence[str | None],
        diagnosis_codes: Sequence[Sequence[str]],
        temperatures: np.ndarray,
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class IngestSummary:
    accepted: int
    duplicates: int
    rejected: int
    run_id: int
    source: str
    dates: frozenset[str] = field(default=frozenset(), compare=False)
    """Visit dates of the accepted rows: the daily counts to refresh."""


@dataclass
class _Context:
    source: str
    run_id: int
    facilities: frozenset[str]
    regions: frozenset[str]
    locator: RegionLocator
    pseudonymize: Pseudonymizer
    classifier: Classifier
    mapping: Mapping | None = None
    reject_format: str | None = None
    """Quarantine ``format`` of a record kept as the input's own text: ``csv`` / ``jsonl`` for
    a canonical file; None where it cannot be re-read alone (a broken line of a mapped table)."""
    reject_context: str | None = None
    """Quarantine ``context``: the CSV header line of a canonical file, the mapping's TOML."""


def _context(
    store: Store,
    source: str,
    run_id: int,
    secret: bytes,
    classifier: Classifier,
    mapping: Mapping | None,
    *,
    reject_format: str | None = None,
    reject_context: str | None = None,
) -> _Context:
    regions = store.regions()
    return _Context(
        source=source,
        run_id=run_id,
        facilities=frozenset(f.id for f in store.facilities()),
        regions=frozenset(r.id for r in regions),
        locator=RegionLocator(regions),
        pseudonymize=Pseudonymizer(secret),
        classifier=classifier,
        mapping=mapping,
        reject_format=reject_format,
        reject_context=mapping.to_toml() if mapping is not None else reject_context,
    )


@dataclass
class _Totals:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    dates: set[str] = field(default_factory=set)

    def summary(self, run_id: int, source: str) -> IngestSummary:
        return IngestSummary(
            self.accepted, self.duplicates, self.rejected, run_id, source, frozenset(self.dates)
        )


def ingest_path(
    store: Store,
    path: Path | str,
    *,
    secret: bytes,
    classifier: Classifier,
    chunk_rows: int = 50_000,
    progress: Progress | None = None,
    workers: int | None = None,
    mapping: Mapping | None = None,
) -> IngestSummary:
    """Ingest one canonical CSV / JSON Lines file (optionally .gz) into ``store``, or with a
    ``mapping`` one CSV / Excel table of other headers, formats and codes (``ingest.tables``).

    Chunks are validated and prepared by ``workers`` processes (default: one per CPU, for files
    of several chunks) while this process reads the file and stores the prepared chunks in
    order; ``workers=1`` prepares in a thread.

    Raises ``IngestFormatError`` (``MappingError`` for a mapping that does not fit the file)
    before storing anything when the format or columns are wrong. Daily counts are not
    refreshed here (``service.ingest.ingest_file`` does it).
    """
    path = Path(path)
    with _open(path, mapping, chunk_rows) as reader:
        run_id = store.start_ingest_run(str(path), reader.format if mapping is None else "table")
        context = _context(
            store,
            str(path),
            run_id,
            secret,
            classifier,
            mapping,
            reject_format=reader.format if mapping is None else None,
            reject_context=_csv_line(reader.header) if mapping is None and reader.header else None,
        )
        totals = _Totals()
        n_workers = _workers(workers, reader)
        processed = (
            _processed_in_processes(reader, context, n_workers)
            if n_workers > 1
            else _processed_ahead(reader, context)
        )
        offset = 0  # records before the current block
        try:
            for block, (batch, rejects, n_records) in processed:
                for reject in rejects:
                    reject.record += offset
                _store(store, context, totals, batch, rejects, block, offset)
                offset += n_records
                if progress is not None:
                    progress(reader.bytes_read, reader.total_bytes)
        finally:
            store.finish_ingest_run(run_id, totals.accepted, totals.duplicates, totals.rejected)
    return totals.summary(run_id, str(path))


def ingest_records(
    store: Store,
    records: Sequence[SourceRow],
    *,
    source: str,
    mapping: Mapping | None,
    secret: bytes,
    classifier: Classifier,
    numbers: Sequence[int] | None = None,
    chunk_rows: int = 50_000,
) -> IngestSummary:
    """Ingest rows given as dicts of header -> text (source headers of ``mapping``, or the
    canonical columns without one) through the same mapping and validation as a file.

    For re-processing quarantined rows of a table (``format = "table"``) with a corrected
    mapping. ``numbers`` are the records' numbers for new rejects (default 1, 2, ...); those go
    to the quarantine under ``source`` as a table again. Raises ``IngestFormatError`` /
    ``MappingError`` before storing anything when the headers do not fit.
    """
    header: list[str] = list(dict.fromkeys(h for record in records for h in record))
    if mapping is not None:
        if records:
            mapping.resolve(header)
    else:
        unknown = [h for h in header if h not in rules.COLUMNS]
        if unknown:
            raise IngestFormatError(
                f"{source}: unknown column(s) {', '.join(map(repr, unknown))}; without a mapping "
                f"records use the canonical columns {', '.join(rules.COLUMNS)}"
            )
    numbers = list(numbers) if numbers is not None else list(range(1, len(records) + 1))
    if len(numbers) != len(records):
        raise ValueError("numbers: one per record")
    run_id = store.start_ingest_run(source, "records")
    context = _context(store, source, run_id, secret, classifier, mapping)
    totals = _Totals()
    try:
        for start in range(0, len(records), chunk_rows):
            part = records[start : start + chunk_rows]
            chunk = _records_chunk(part, header, numbers[start : start + chunk_rows], mapping)
            rows, rejects = prepare_chunk(chunk, context)
            batch = EncodedVisits.encode(rows, run_id) if rows else None
            _store(store, context, totals, batch, rejects, chunk, 0)
    finally:
        store.finish_ingest_run(run_id, totals.accepted, totals.duplicates, totals.rejected)
    return totals.summary(run_id, source)


def _records_chunk(
    records: Sequence[SourceRow],
    header: list[str],
    numbers: list[int],
    mapping: Mapping | None,
) -> RawChunk:
    source = {h: [_text(r.get(h)) for r in records] for h in header}
    chunk = RawChunk(source, list(numbers), [], n_records=len(records))
    if mapping is not None:
        return map_chunk(chunk, mapping)
    chunk.source = source
    chunk.columns = {c: source.get(c) or [""] * len(records) for c in rules.COLUMNS}
    return chunk


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _csv_line(header: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(header)
    return out.getvalue()


def _open(path: Path, mapping: Mapping | None, chunk_rows: int) -> _Reader:
    if mapping is not None:
        return open_table(path, mapping, chunk_rows)
    try:
        return VisitReader(path, chunk_rows)
    except IngestFormatError:
        if path.suffix.lower() in SHEET_SUFFIXES:
            raise IngestFormatError(
                f"{path}: a spreadsheet needs a mapping of its columns (--mapping); "
                f"`epiradar ingest --infer-mapping {path.name}` proposes one"
            ) from None
        raise


def _store(
    store: Store,
    context: _Context,
    totals: _Totals,
    batch: EncodedVisits | None,
    rejects: list[Reject],
    block: Block | RawChunk,
    offset: int,
) -> None:
    """Quarantine the rejects and insert the batch of one block (its records after
    ``offset``); a batch the database refuses goes to the quarantine."""
    totals.rejected += store.quarantine(_quarantine_rows(rejects, context))
    if batch is None:
        return
    try:
        inserted, dupes = store.insert_visits(batch, context.run_id)
    except SQLAlchemyError as exc:
        log.error("chunk of %s refused by the database: %s", context.source, exc)
        chunk = block if isinstance(block, RawChunk) else _chunk(block, context).renumbered(offset)
        totals.rejected += store.quarantine(_refused(batch, chunk, exc, context))
    else:
        totals.accepted += inserted
        totals.duplicates += dupes
        totals.dates.update(batch.visit_dates())


_DONE = object()
_worker_context: _Context | None = None
Block = LineBlock | RowBlock
_Reader = VisitReader | TableReader | SheetReader
Processed = tuple[EncodedVisits | None, list[Reject], int]
"""A block's valid visits encoded for the insert, its rejects (numbered from 1 within the
block) and how many records it held."""


def process_block(block: Block, context: _Context) -> Processed:
    """Parse, map, validate and encode one block: everything but the database."""
    chunk = _chunk(block, context)
    rows, rejects = prepare_chunk(chunk, context)
    batch = EncodedVisits.encode(rows, context.run_id) if rows else None
    return batch, rejects, chunk.n_records


def _chunk(block: Block, context: _Context) -> RawChunk:
    chunk = parse_any(block)
    return map_chunk(chunk, context.mapping) if context.mapping is not None else chunk


def _workers(requested: int | None, reader: _Reader) -> int:
    if requested is not None:
        return max(1, requested)
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if reader.small:  # not worth starting processes for
        return 1
    return min(os.cpu_count() or 1, 4)


def _init_worker(context: _Context) -> None:
    global _worker_context
    _worker_context = context


def _process_in_worker(block: Block) -> Processed:
    assert _worker_context is not None
    return process_block(block, _worker_context)


def _processed_in_processes(
    reader: _Reader, context: _Context, workers: int
) -> Iterator[tuple[Block, Processed]]:
    """Process blocks in forked worker processes, at most ``workers`` blocks ahead of the
    caller (memory stays flat), yielded in file order."""
    pool = multiprocessing.get_context("fork").Pool(
        workers, initializer=_init_worker, initargs=(context,)
    )
    pending: deque[tuple[Block, Any]] = deque()
    try:
        for block in reader.blocks():
            pending.append((block, pool.apply_async(_process_in_worker, (block,))))
            if len(pending) > workers:
                done, result = pending.popleft()
                yield done, result.get()
        while pending:
            done, result = pending.popleft()
            yield done, result.get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _processed_ahead(reader: _Reader, context: _Context) -> Iterator[tuple[Block, Processed]]:
    """Process the next block in a thread while the caller stores the current one (the
    database driver releases the GIL while it writes). Errors surface in the caller."""
    queue: Queue[Any] = Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        try:
            for block in reader.blocks():
                if stop.is_set():
                    return
                queue.put((block, process_block(block, context)))
        except BaseException as exc:  # handed to the consumer
            queue.put(exc)
        queue.put(_DONE)

    worker = threading.Thread(target=produce, name="ingest-prepare", daemon=True)
    worker.start()
    try:
        while (item := queue.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(Empty):
                queue.get(timeout=0.05)
        worker.join()


def prepare_chunk(chunk: RawChunk, context: _Context) -> tuple[dict[str, list[Any]], list[Reject]]:
    """Store-ready columns of the valid records, and the rejects (structural, not mapped,
    invalid)."""
    checked = check_chunk(chunk.columns, context.facilities, context.regions)
    rejects = list(chunk.rejects)
    ok, field, reason = checked.ok, checked.error_field, checked.error_reason
    mapped = np.zeros(len(ok), dtype=bool)
    if chunk.errors is not None:
        mapped = np.not_equal(chunk.errors[0], None)
        ok = ok & ~mapped
    fmt = "table" if chunk.source is not None else None
    facility = chunk.columns["facility_id"]
    for i in np.flatnonzero(~ok):
        if mapped[i]:
            name, why = chunk.errors[0][i], chunk.errors[1][i]  # type: ignore[index]
        else:
            name, why = chunk.fields.get(field[i], field[i]), reason[i]
        sender = str(facility[i]).strip()
        sender = sender if sender in context.facilities else None
        rejects.append(Reject(chunk.records[i], name, why, chunk.raw_text(i), fmt, sender))
    if not ok.any():
        return {}, rejects
    cols = checked.columns
    values: dict[str, np.ndarray] = {
        name: cols[name].rows()[ok] for name in rules.COLUMNS if name not in _PER_DISTINCT
    }
    values["patient_key"] = _per_distinct(cols["patient_id"], ok, context.pseudonymize)
    values["contacts"] = _per_distinct(
        cols["contacts"], ok, lambda ids: json.dumps([context.pseudonymize(c) for c in ids])
    )
    for name in ("diagnosis_codes", "exposures"):
        values[name] = _per_distinct(
            cols[name], ok, lambda items: json.dumps(items, ensure_ascii=False)
        )
    values["residence_region"] = _geocoded(values, context.locator)
    values["visit_date"] = _per_distinct(cols["visit_time"], ok, lambda t: t[:10])
    values["syndrome_mask"] = _classify(checked, ok, context.classifier)
    values["classifier_version"] = np.full(int(ok.sum()), context.classifier.version, dtype=object)
    return {name: array.tolist() for name, array in values.items()}, rejects


_PER_DISTINCT = ("patient_id", "contacts", "diagnosis_codes", "exposures")


def _per_distinct(column: Column, ok: np.ndarray, fn: Callable[[Any], Any]) -> np.ndarray:
    """``fn`` of each distinct value (empty stays ``None`` / ``[]``), spread over the ok rows."""
    out = np.empty(len(column.values), dtype=object)
    for i, value in enumerate(column.values):
        out[i] = fn(value) if value else ("[]" if isinstance(value, list) else None)
    return out[column.codes[ok]]


def _geocoded(values: dict[str, np.ndarray], locator: RegionLocator) -> np.ndarray:
    region = values["residence_region"].copy()
    lat, lon = values["residence_lat"], values["residence_lon"]
    todo = np.flatnonzero(
        np.equal(region, None) & np.not_equal(lat, None) & np.not_equal(lon, None)
    )
    if len(todo):
        region[todo] = locator.locate(lon[todo].astype(np.float64), lat[todo].astype(np.float64))
    return region


def _classify(checked: CheckedChunk, ok: np.ndarray, classifier: Classifier) -> np.ndarray:
    """Syndrome masks, classifying each distinct (complaint, codes, temperature) once."""
    cols = [checked.columns[n] for n in ("chief_complaint", "diagnosis_codes", "temperature_c")]
    keys = np.stack([c.codes[ok] for c in cols], axis=1)
    distinct, inverse = np.unique(keys, axis=0, return_inverse=True)
    complaint, codes, temperature = (c.values[distinct[:, j]] for j, c in enumerate(cols))
    temperatures = np.array([np.nan if t is None else t for t in temperature], dtype=np.float64)
    masks = classifier.classify_many(list(complaint), [list(c) for c in codes], temperatures)
    return np.asarray(masks, dtype=np.int64)[inverse.ravel()]


def _quarantine_row(
    context: _Context,
    record: int,
    field: str | None,
    reason: str,
    raw: str,
    fmt: str | None,
    facility: str | None,
) -> dict[str, Any]:
    return {
        "ingest_run_id": context.run_id,
        "source": context.source,
        "record": str(record),
        "field": field,
        "reason": reason,
        "raw": raw,
        "facility_id": facility,
        "format": fmt or context.reject_format,
        "context": context.reject_context,
    }


def _quarantine_rows(rejects: Iterable[Reject], context: _Context) -> list[dict[str, Any]]:
    return [
        _quarantine_row(context, r.record, r.field, r.reason, r.raw, r.format, r.facility)
        for r in rejects
    ]


def _refused(
    batch: EncodedVisits, chunk: RawChunk, exc: Exception, context: _Context
) -> list[dict[str, Any]]:
    """The records of a chunk the database refused, for the quarantine."""
    accepted = set(batch.keys())
    reason = f"database refused the chunk: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    fmt = "table" if chunk.source is not None else None
    facility = [str(v).strip() for v in chunk.columns["facility_id"]]
    visit = [str(v).strip() for v in chunk.columns["visit_id"]]
    return [
        _quarantine_row(
            context, chunk.records[i], None, reason, chunk.raw_text(i), fmt, facility[i]
        )
        for i in range(len(chunk.records))
        if (facility[i], visit[i]) in accepted
    ]
