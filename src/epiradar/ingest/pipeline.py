"""The ingest pipeline: read -> validate -> pseudonymise -> geocode -> classify -> store.

Each chunk is committed on its own: a chunk the database refuses is rolled back alone and its
records go to the quarantine with the database's reason; chunks before and after it are kept.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any, Protocol

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from epiradar.ingest import rules
from epiradar.ingest.geocode import RegionLocator
from epiradar.ingest.pseudonym import Pseudonymizer
from epiradar.ingest.readers import LineBlock, RawChunk, Reject, VisitReader, parse_block
from epiradar.ingest.validate import CheckedChunk, Column, check_chunk
from epiradar.store import EncodedVisits, Store

log = logging.getLogger(__name__)

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


def ingest_path(
    store: Store,
    path: Path | str,
    *,
    secret: bytes,
    classifier: Classifier,
    chunk_rows: int = 50_000,
    progress: Progress | None = None,
    workers: int | None = None,
) -> IngestSummary:
    """Ingest one canonical CSV / JSON Lines file (optionally .gz) into ``store``.

    Chunks are validated and prepared by ``workers`` processes (default: one per CPU, for files
    of several chunks) while this process reads the file and stores the prepared chunks in
    order; ``workers=1`` prepares in a thread.

    Raises ``IngestFormatError`` before storing anything when the format or columns are wrong.
    Daily counts are not refreshed here (``service.ingest.ingest_file`` does it).
    """
    path = Path(path)
    with VisitReader(path, chunk_rows) as reader:
        regions = store.regions()
        run_id = store.start_ingest_run(str(path), reader.format)
        context = _Context(
            source=str(path),
            run_id=run_id,
            facilities=frozenset(f.id for f in store.facilities()),
            regions=frozenset(r.id for r in regions),
            locator=RegionLocator(regions),
            pseudonymize=Pseudonymizer(secret),
            classifier=classifier,
        )
        accepted = duplicates = rejected = 0
        dates: set[str] = set()
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
                rejected += store.quarantine(_quarantine_rows(rejects, context))
                if batch is not None:
                    try:
                        inserted, dupes = store.insert_visits(batch, run_id)
                    except SQLAlchemyError as exc:
                        log.error("chunk of %s refused by the database: %s", path, exc)
                        chunk = parse_block(block).renumbered(offset)
                        rejected += store.quarantine(_refused(batch, chunk, exc, context))
                    else:
                        accepted += inserted
                        duplicates += dupes
                        dates.update(batch.visit_dates())
                offset += n_records
                if progress is not None:
                    progress(reader.bytes_read, reader.total_bytes)
        finally:
            store.finish_ingest_run(run_id, accepted, duplicates, rejected)
    return IngestSummary(accepted, duplicates, rejected, run_id, str(path), frozenset(dates))


_DONE = object()
_worker_context: _Context | None = None
Processed = tuple[EncodedVisits | None, list[Reject], int]
"""A block's valid visits encoded for the insert, its rejects (numbered from 1 within the
block) and how many records it held."""


def process_block(block: LineBlock, context: _Context) -> Processed:
    """Parse, validate and encode one block: everything but the database."""
    chunk = parse_block(block)
    rows, rejects = prepare_chunk(chunk, context)
    batch = EncodedVisits.encode(rows, context.run_id) if rows else None
    return batch, rejects, chunk.n_records


def _workers(requested: int | None, reader: VisitReader) -> int:
    if requested is not None:
        return max(1, requested)
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    # Small files are not worth starting processes for.
    if reader.total_bytes < 4 * reader.chunk_rows * 80:
        return 1
    return min(os.cpu_count() or 1, 4)


def _init_worker(context: _Context) -> None:
    global _worker_context
    _worker_context = context


def _process_in_worker(block: LineBlock) -> Processed:
    assert _worker_context is not None
    return process_block(block, _worker_context)


def _processed_in_processes(
    reader: VisitReader, context: _Context, workers: int
) -> Iterator[tuple[LineBlock, Processed]]:
    """Process blocks in forked worker processes, at most ``workers`` blocks ahead of the
    caller (memory stays flat), yielded in file order."""
    pool = multiprocessing.get_context("fork").Pool(
        workers, initializer=_init_worker, initargs=(context,)
    )
    pending: deque[tuple[LineBlock, Any]] = deque()
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


def _processed_ahead(
    reader: VisitReader, context: _Context
) -> Iterator[tuple[LineBlock, Processed]]:
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
    """Store-ready columns of the valid records, and the rejects (structural and invalid)."""
    checked = check_chunk(chunk.columns, context.facilities, context.regions)
    rejects = list(chunk.rejects)
    for i in np.flatnonzero(~checked.ok):
        rejects.append(
            Reject(chunk.records[i], checked.error_field[i], checked.error_reason[i], chunk.raw[i])
        )
    ok = checked.ok
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


def _quarantine_rows(rejects: list[Reject], context: _Context) -> list[dict[str, Any]]:
    return [
        {
            "ingest_run_id": context.run_id,
            "source": context.source,
            "record": str(r.record),
            "field": r.field,
            "reason": r.reason,
            "raw": r.raw,
        }
        for r in rejects
    ]


def _refused(
    batch: EncodedVisits, chunk: RawChunk, exc: Exception, context: _Context
) -> list[dict[str, Any]]:
    """The records of a chunk the database refused, for the quarantine."""
    accepted = set(batch.keys())
    reason = f"database refused the chunk: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    out = []
    facility = [str(v).strip() for v in chunk.columns["facility_id"]]
    visit = [str(v).strip() for v in chunk.columns["visit_id"]]
    for i, raw in enumerate(chunk.raw):
        if (facility[i], visit[i]) in accepted:
            out.append(
                {
                    "ingest_run_id": context.run_id,
                    "source": context.source,
                    "record": str(chunk.records[i]),
                    "field": None,
                    "reason": reason,
                    "raw": raw,
                }
            )
    return out
