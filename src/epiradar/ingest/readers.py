"""Streaming readers of canonical CSV and JSON Lines files, chunk by chunk.

Each chunk holds every canonical column as text ("" = unknown), the raw text of each record
(for the quarantine) and its record number: for CSV the data row (header = row 0; blank lines
count, so without quoted line breaks row N is line N + 1), for JSON Lines the 1-based line.
Structural problems of one record (wrong field count, invalid JSON) become rejects of that record;
unknown or missing columns reject the whole file before anything is read further.

Reading is split in two so that parsing can run in worker processes: the reader only cuts the
file into :class:`LineBlock` of whole records (a CSV record may span lines inside quotes: a
block ends where the count of quote characters is even), and :func:`parse_block` turns a block
into a :class:`RawChunk` numbered from 1; :meth:`VisitReader.__iter__` renumbers them in file
order. The same reader serves mapped tables (``ingest.tables``): another encoding and delimiter,
source headers checked by a hook, chunks holding the source columns.
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
    format: str | None = None
    """How to re-read ``raw``: None for a canonical record, ``table`` for a JSON object of
    source header -> text (mapped tables)."""
    facility: str | None = None
    """The id of the known facility the record names, if any."""

    def __post_init__(self) -> None:
        self.raw = self.raw.rstrip("\r\n")


@dataclass
class RawChunk:
    columns: dict[str, list[str]]
    records: list[int]
    raw: list[str]  # may end with the line break
    rejects: list[Reject] = field(default_factory=list)
    n_records: int = 0
    """Records the chunk's lines hold, blank and broken ones included."""
    source: dict[str, list[str]] | None = None
    """Mapped tables: the source columns by header (``columns`` then holds the mapped ones)."""
    errors: tuple[Any, Any] | None = None
    """Mapped tables: per row, None or the source header the mapping rejected, and why."""
    fields: dict[str, str] = field(default_factory=dict)
    """Mapped tables: canonical column -> source header, to name it in rejects."""

    def __len__(self) -> int:
        return len(self.records)

    def raw_text(self, i: int) -> str:
        """The verbatim input of row ``i``: its text, or for a mapped table a JSON object of
        source header -> text."""
        if self.source is None:
            return self.raw[i].rstrip("\r\n")
        return json.dumps({h: col[i] for h, col in self.source.items()}, ensure_ascii=False)

    def renumbered(self, offset: int) -> RawChunk:
        """The same chunk with record numbers shifted by ``offset``."""
        if offset:
            self.records = [r + offset for r in self.records]
            for reject in self.rejects:
                reject.record += offset
        return self


@dataclass
class LineBlock:
    """Lines of whole records of one file, ready for :func:`parse_block`."""

    lines: list[str]
    format: str
    header: list[str]
    canonical: bool = True
    """False for a mapped table: the chunk keeps the source columns, by header."""
    delimiter: str = ","


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


class VisitReader:
    """Iterates :class:`RawChunk` of at most ``chunk_rows`` records; checks the columns on open."""

    canonical = True
    delimiter = ","

    def __init__(
        self, path: Path | str, chunk_rows: int = 50_000, *, encoding: str = "utf-8-sig"
    ) -> None:
        self.path = Path(path)
        self.format = self._file_format()
        self.chunk_rows = chunk_rows
        self.total_bytes = self.path.stat().st_size
        raw = self.path.open("rb")
        self._counter = _CountingReader(raw)
        binary: IO[bytes] = io.BufferedReader(self._counter, 1 << 20)
        if self.path.suffix.lower() == ".gz":
            binary = gzip.GzipFile(fileobj=binary)  # type: ignore[assignment]
        self._text = io.TextIOWrapper(binary, encoding=encoding, errors="replace", newline="")
        self._header: list[str] = []
        try:
            # The columns are checked on open: before anything is ingested.
            if self.format == "csv":
                self._header = self._csv_header()
                self._blocks = self._csv_blocks()
            else:
                self._blocks = self._jsonl_blocks()
        except BaseException:
            self.close()
            raise

    @property
    def bytes_read(self) -> int:
        return self._counter.count

    @property
    def header(self) -> list[str]:
        """The CSV header ([] for JSON Lines)."""
        return self._header

    @property
    def small(self) -> bool:
        """Too small to be worth worker processes."""
        return self.total_bytes < 4 * self.chunk_rows * 80

    def _file_format(self) -> str:
        return file_format(self.path)

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> VisitReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def blocks(self) -> Iterator[LineBlock]:
        """Blocks of about ``chunk_rows`` lines, each ending at the end of a record."""
        return self._blocks

    def __iter__(self) -> Iterator[RawChunk]:
        offset = 0
        for block in self._blocks:
            chunk = parse_block(block)
            yield chunk.renumbered(offset)
            offset += chunk.n_records

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

    def _csv_header(self) -> list[str]:
        line = self._text.readline()
        if not line.strip():
            raise IngestFormatError(f"{self.path}: empty file, no header")
        header = [name.strip() for name in next(csv.reader([line], delimiter=self.delimiter))]
        return self._check_header(header)

    def _check_header(self, header: list[str]) -> list[str]:
        """The header to parse records with; raises ``IngestFormatError`` when it is wrong."""
        self._check_columns(header)
        return header

    def _csv_blocks(self) -> Iterator[LineBlock]:
        while lines := list(islice(self._text, self.chunk_rows)):
            odd = sum(line.count('"') for line in lines) & 1
            while odd:  # inside a quoted field: the record goes on
                line = self._text.readline()
                if not line:
                    break  # unterminated quote: parse_block reports it
                lines.append(line)
                odd ^= line.count('"') & 1
            yield LineBlock(lines, "csv", self._header, self.canonical, self.delimiter)

    def _jsonl_blocks(self) -> Iterator[LineBlock]:
        first = True
        while lines := list(islice(self._text, self.chunk_rows)):
            if first:
                self._check_first_json(lines)
                first = False
            yield LineBlock(lines, "jsonl", [])

    def _check_first_json(self, lines: list[str]) -> None:
        """Unknown keys in the first record reject the file (later ones reject their line)."""
        for line in lines:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                return
            if isinstance(obj, dict):
                self._check_columns(list(obj), required=False)
            return


def parse_block(block: LineBlock) -> RawChunk:
    """The records of a block, numbered from 1 (``n_records`` says how many it held)."""
    return _parse_csv(block) if block.format == "csv" else _parse_jsonl(block)


def _parse_csv(block: LineBlock) -> RawChunk:
    lines, header = block.lines, block.header
    width = len(header)
    reader = csv.reader(lines, strict=True, delimiter=block.delimiter)
    rows: list[list[str]] = []
    ends: list[int] = []
    error: Reject | None = None
    try:
        for row in reader:
            rows.append(row)
            ends.append(reader.line_num)
    except csv.Error as exc:  # e.g. an unterminated quote: the rest is one broken record
        rest = "".join(lines[ends[-1] if ends else 0 :])
        error = Reject(len(rows) + 1, None, f"CSV error: {exc}", rest.rstrip("\r\n"))
    chunk = RawChunk({n: [] for n in rules.COLUMNS}, [], [])
    chunk.n_records = len(rows) + (error is not None)
    if len(lines) == len(rows) and all(len(row) == width for row in rows):
        good = rows  # the common case: one line per record, all complete
        chunk.records = list(range(1, len(rows) + 1))
        chunk.raw = list(lines)
    else:
        good = []
        previous = 0
        for record, (row, end) in enumerate(zip(rows, ends, strict=True), start=1):
            raw = "".join(lines[previous:end])
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
    _fill(
        chunk,
        header,
        list(zip(*good, strict=True)) if good else [() for _ in header],
        canonical=block.canonical,
    )
    return chunk


def _parse_jsonl(block: LineBlock) -> RawChunk:
    chunk = RawChunk({n: [] for n in rules.COLUMNS}, [], [])
    chunk.n_records = len(block.lines)
    for number, line in enumerate(block.lines, start=1):
        raw = line.rstrip("\r\n")
        if not raw.strip():
            continue
        values, reject = _json_record(raw, number)
        if reject is not None:
            chunk.rejects.append(reject)
            continue
        assert values is not None
        for name in rules.COLUMNS:
            chunk.columns[name].append(values.get(name, ""))
        chunk.records.append(number)
        chunk.raw.append(raw)
    return chunk


def _fill(
    chunk: RawChunk, header: list[str], columns: list[tuple[str, ...]], *, canonical: bool = True
) -> None:
    n = len(chunk.records)
    if not canonical:
        chunk.columns = {}
    for name, values in zip(header, columns, strict=True):
        chunk.columns[name] = list(values)
    if not canonical:
        return
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
