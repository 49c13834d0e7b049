"""Streaming readers of canonical CSV and JSON Lines files, chunk by chunk.

Each chunk holds every canonical column as text ("" = unknown), the raw text of each record
(for the quarantine) and its record number: for CSV the data row (header = row 0; blank lines
count, so without quoted line breaks row N is line N + 1), for JSON Lines the 1-based line.
Structural problems of one record (wrong field count, invalid JSON) become rejects of that record;
unknown or missing columns reject the whole file before anything is read further.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any

from epiradar.ingest import rules

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class IngestFormatError(ValueError):
    """The file as a whole cannot be ingested (unknown format, unknown or missing columns)."""


@dataclass
class Reject:
    record: int
    field: str | None
    reason: str
    raw: str

    def __post_init__(self) -> None:
        self.raw = self.raw.rstrip("\r\n")


@dataclass
class RawChunk:
    columns: dict[str, list[str]]
    records: list[int]
    raw: list[str]  # may end with the line break
    rejects: list[Reject] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)


def file_format(path: Path) -> str:
    """``csv`` or ``jsonl`` from the suffix (a trailing ``.gz`` is allowed)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise IngestFormatError(
            f"{path}: unknown format (expected .csv, .jsonl or .ndjson, optionally .gz)"
        )
    return fmt


class _CountingReader(io.RawIOBase):
    """Counts the bytes read from the file on disk (compressed bytes for .gz)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)
        self.count += n or 0
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class _LineTap:
    """Line iterator that keeps the lines handed out since the last ``take``."""

    def __init__(self, lines: IO[str]) -> None:
        self._lines = lines
        self.lines: list[str] = []

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.lines.append(line)
        return line

    def take(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines


class VisitReader:
    """Iterates :class:`RawChunk` of at most ``chunk_rows`` records; checks the columns on open."""

    def __init__(self, path: Path | str, chunk_rows: int = 50_000) -> None:
        self.path = Path(path)
        self.format = file_format(self.path)
        self.chunk_rows = chunk_rows
        self.total_bytes = self.path.stat().st_size
        raw = self.path.open("rb")
        self._counter = _CountingReader(raw)
        binary: IO[bytes] = io.BufferedReader(self._counter, 1 << 20)
        if self.path.suffix.lower() == ".gz":
            binary = gzip.GzipFile(fileobj=binary)  # type: ignore[assignment]
        self._text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")
        try:
            self._chunks = self._csv() if self.format == "csv" else self._jsonl()
            # The columns are checked while the first chunk is read: before anything is ingested.
            self._first: RawChunk | None = next(self._chunks, None)
        except BaseException:
            self.close()
            raise

    @property
    def bytes_read(self) -> int:
        return self._counter.count

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> VisitReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[RawChunk]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        yield from self._chunks

    def _check_columns(self, names: list[str], *, required: bool = True) -> None:
        unknown = [n for n in names if n not in rules.COLUMNS]
        if unknown:
            listed = ", ".join(repr(n) for n in unknown)
            raise IngestFormatError(
                f"{self.path}: unknown column(s) {listed}; expected some of {', '.join(rules.COLUMNS)}"
            )
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise IngestFormatError(f"{self.path}: column(s) {', '.join(doubled)} appear twice")
        missing = [n for n in rules.REQUIRED if n not in names]
        if required and missing:
            raise IngestFormatError(f"{self.path}: required column(s) {', '.join(missing)} missing")

    def _csv(self) -> Iterator[RawChunk]:
        tap = _LineTap(self._text)
        reader = csv.reader(tap, strict=True)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise IngestFormatError(f"{self.path}: empty file, no header") from None
        self._check_columns(header)
        tap.take()
        width = len(header)
        record = 0
        while True:
            rows: list[list[str]] = []
            ends: list[int] = []
            start_line = reader.line_num
            error: Reject | None = None
            try:
                for row in islice(reader, self.chunk_rows):
                    rows.append(row)
                    ends.append(reader.line_num)
            except csv.Error as exc:  # e.g. an unterminated quote: the rest is one broken record
                rest = "".join(tap.lines[(ends[-1] - start_line) if ends else 0 :])
                error = Reject(
                    record + len(rows) + 1, None, f"CSV error: {exc}", rest.rstrip("\r\n")
                )
            lines = tap.take()
            if not rows and error is None:
                return
            chunk = RawChunk({n: [] for n in rules.COLUMNS}, [], [])
            if len(lines) == len(rows) and all(len(row) == width for row in rows):
                good = rows  # the common case: one line per record, all complete
                chunk.records = list(range(record + 1, record + len(rows) + 1))
                chunk.raw = lines
                record += len(rows)
            else:
                good = []
                previous = start_line
                for row, end in zip(rows, ends, strict=True):
                    record += 1
                    raw = "".join(lines[previous - start_line : end - start_line])
                    previous = end
                    if not row:
                        continue
                    if len(row) != width:
                        chunk.rejects.append(
                            Reject(record, None, f"expected {width} fields, found {len(row)}", raw)
                        )
                        continue
                    good.append(row)
                    chunk.records.append(record)
                    chunk.raw.append(raw)
            if error is not None:
                chunk.rejects.append(error)
            _fill(chunk, header, list(zip(*good, strict=True)) if good else [() for _ in header])
            yield chunk
            if error is not None:
                return

    def _jsonl(self) -> Iterator[RawChunk]:
        number = 0
        first = True
        while True:
            lines = list(islice(self._text, self.chunk_rows))
            if not lines:
                return
            chunk = RawChunk({n: [] for n in rules.COLUMNS}, [], [])
            for line in lines:
                number += 1
                raw = line.rstrip("\r\n")
                if not raw.strip():
                    continue
                values, reject = _json_record(raw, number)
                if first and values is not None:
                    self._check_columns(list(values), required=False)
                    first = False
                if reject is not None:
                    chunk.rejects.append(reject)
                    continue
                assert values is not None
                for name in rules.COLUMNS:
                    chunk.columns[name].append(values.get(name, ""))
                chunk.records.append(number)
                chunk.raw.append(raw)
            yield chunk


def _fill(chunk: RawChunk, header: list[str], columns: list[tuple[str, ...]]) -> None:
    n = len(chunk.records)
    for name, values in zip(header, columns, strict=True):
        chunk.columns[name] = list(values)
    for name in rules.COLUMNS:
        if name not in header:
            chunk.columns[name] = [""] * n


def _json_record(raw: str, number: int) -> tuple[dict[str, str] | None, Reject | None]:
    """Field texts of one JSON line, or why it is rejected (the keys are checked by the caller
    for the first line; later unknown keys reject the line)."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, Reject(number, None, f"invalid JSON: {exc}", raw)
    if not isinstance(obj, dict):
        return None, Reject(number, None, "not a JSON object", raw)
    values: dict[str, str] = {}
    for key, value in obj.items():
        if key not in rules.COLUMNS:
            return obj, Reject(number, key, "unknown field", raw)
        text = _json_text(key, value)
        if text is None:
            return obj, Reject(number, key, f"unsupported JSON value {json.dumps(value)[:80]}", raw)
        values[key] = text
    return values, None


def _json_text(key: str, value: Any) -> str | None:
    """A JSON value as the text the CSV would hold; ``None`` when it has no such form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return None
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and key in rules.LIST_COLUMNS:
        items = []
        for item in value:
            if key == "exposures" and isinstance(item, dict) and set(item) <= {"place_id", "date"}:
                place, day = item.get("place_id"), item.get("date")
                item = f"{place}{rules.EXPOSURE_DATE_SEPARATOR}{day}" if day else place
            if not isinstance(item, str | int) or isinstance(item, bool):
                return None
            text = str(item)
            if rules.LIST_SEPARATOR in text:
                return None
            items.append(text)
        return rules.LIST_SEPARATOR.join(items)
    return None
