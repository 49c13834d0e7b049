"""Hand-made visit tables: CSV in any common encoding and Excel workbooks, read through a
:class:`~epiradar.ingest.mapping.Mapping` into the ingest pipeline.

- CSV (``.csv``, ``.tsv``, ``.txt``, optionally ``.gz``): UTF-8 with or without BOM, GB18030 /
  GBK and others; the mapping's ``encoding`` wins, else :func:`detect_encoding`. Read in blocks of
  whole records by the canonical reader (``ingest.readers``), so parsing, mapping and validation
  run in the worker processes as for canonical files.
- Excel (``.xlsx``, ``.xlsm``, ``.xlsb``, ``.xls``, ``.ods``) through python-calamine: the sheet is
  read at once and cut into :class:`RowBlock`; cells become text (:func:`cell_text`: dates as ISO
  8601, whole numbers without ``.0``).

Source headers are stripped; a blank header becomes ``column N`` (1-based) and a repeated one
``name.1``, ``name.2``... so that every header names one column. Record numbers count data rows
(header = row 0) in both kinds; rows with every cell empty are skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from epiradar.ingest.mapping import Mapping, MappingError
from epiradar.ingest.readers import IngestFormatError, LineBlock, RawChunk, VisitReader, parse_block

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
SHEET_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
SAMPLE_BYTES = 1 << 20


def table_kind(path: Path) -> str:
    """``csv`` or ``sheet`` from the suffix (CSV may end in ``.gz``)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
        if suffixes and suffixes[-1] in CSV_SUFFIXES:
            return "csv"
    elif suffixes and suffixes[-1] in CSV_SUFFIXES:
        return "csv"
    elif suffixes and suffixes[-1] in SHEET_SUFFIXES:
        return "sheet"
    raise IngestFormatError(
        f"{path}: a mapped table must be {', '.join(CSV_SUFFIXES)} (optionally .gz) "
        f"or {', '.join(SHEET_SUFFIXES)}"
    )


def detect_encoding(path: Path | str, sample: bytes | None = None) -> str:
    """The text encoding of a CSV file, from its first MiB: a BOM, else UTF-8 if the sample
    decodes strictly, else charset-normalizer's guess (any Chinese guess -> ``gb18030``, the
    superset of GB2312 and GBK), else ``gb18030``."""
    if sample is None:
        opener = gzip.open if Path(path).suffix.lower() == ".gz" else open
        with opener(path, "rb") as f:
            sample = f.read(SAMPLE_BYTES)
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the end of the sample is still UTF-8
        if exc.start < len(sample) - 3 or exc.reason != "unexpected end of data":
            return _guess_encoding(sample)
    return "utf-8-sig"


def _guess_encoding(sample: bytes) -> str:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - optional dependency
        return "gb18030"
    best = from_bytes(sample[:65536]).best()
    if best is None:
        return "gb18030"
    name = best.encoding.lower().replace("-", "_")
    if name in {"gb2312", "gbk", "gb18030", "hz", "cp936"}:
        return "gb18030"
    return best.encoding


def unique_headers(names: list[str]) -> list[str]:
    """Stripped headers, a blank one named ``column N``, a repeated one ``name.1``..."""
    out: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(names):
        name = raw.replace("\ufeff", "").strip() or f"column {i + 1}"
        base, k = name, 0
        while name in seen:
            k += 1
            name = f"{base}.{k}"
        seen.add(name)
        out.append(name)
    return out


class TableReader(VisitReader):
    """A mapped CSV file: blocks of whole records keeping the source columns."""

    canonical = False

    def __init__(self, path: Path | str, mapping: Mapping, chunk_rows: int = 50_000) -> None:
        self.mapping = mapping
        self.delimiter = mapping.delimiter
        encoding = mapping.encoding or detect_encoding(path)
        if encoding.replace("_", "-").lower() in {"utf-8", "utf8"}:
            encoding = "utf-8-sig"
        self.encoding = encoding
        super().__init__(path, chunk_rows, encoding=encoding)

    def _file_format(self) -> str:
        table_kind(self.path)
        return "csv"

    def _check_header(self, header: list[str]) -> list[str]:
        header = unique_headers(header)
        try:
            self.mapping.resolve(header)
        except MappingError as exc:
            raise MappingError(f"{self.path}: {exc}") from None
        return header


_LOADED: dict[int, list[list[Any]]] = {}
"""The cells of the sheets being read, by reader: a :class:`RowBlock` names a range of them, so
that it reaches a forked worker process without its cells being pickled."""


@dataclass
class RowBlock:
    """A range of rows of a loaded sheet, ready for :func:`parse_rows`."""

    sheet: int
    start: int
    stop: int
    header: list[str]
    format: str = "sheet"

    @property
    def rows(self) -> list[list[Any]]:
        return _LOADED[self.sheet][self.start : self.stop]


class SheetReader:
    """A mapped Excel / OpenDocument sheet, cut into :class:`RowBlock` of ``chunk_rows`` rows."""

    format = "sheet"

    def __init__(self, path: Path | str, mapping: Mapping, chunk_rows: int = 50_000) -> None:
        try:
            from python_calamine import CalamineWorkbook
        except ImportError:  # pragma: no cover - optional dependency
            raise IngestFormatError(f"{path}: reading spreadsheets needs python-calamine") from None
        self.path = Path(path)
        self.chunk_rows = chunk_rows
        self.total_bytes = self.path.stat().st_size
        self._done = 0
        table_kind(self.path)
        try:
            workbook = CalamineWorkbook.from_path(str(self.path))
        except Exception as exc:  # calamine raises its own error types
            raise IngestFormatError(f"{self.path}: cannot read the workbook: {exc}") from None
        try:
            sheet = _sheet(workbook, mapping.sheet, self.path)
            self._rows: list[list[Any]] = sheet.to_python(skip_empty_area=True)
            _LOADED[id(self)] = self._rows
        finally:
            workbook.close()
        if not self._rows:
            self.close()
            raise IngestFormatError(f"{self.path}: the sheet is empty, no header")
        width = max(len(r) for r in self._rows)
        self.header = unique_headers(
            [cell_text(v) for v in self._rows[0]] + [""] * (width - len(self._rows[0]))
        )
        try:
            mapping.resolve(self.header)
        except MappingError as exc:
            self.close()
            raise MappingError(f"{self.path}: {exc}") from None

    @property
    def n_rows(self) -> int:
        return len(self._rows) - 1

    @property
    def bytes_read(self) -> int:
        """Progress as a share of the file size (the sheet is read at once)."""
        return self.total_bytes * self._done // max(self.n_rows, 1)

    @property
    def small(self) -> bool:
        return self.n_rows <= self.chunk_rows

    def blocks(self) -> Iterator[RowBlock]:
        for start in range(1, len(self._rows), self.chunk_rows):
            stop = min(start + self.chunk_rows, len(self._rows))
            self._done = stop - 1
            yield RowBlock(id(self), start, stop, self.header)

    def close(self) -> None:
        _LOADED.pop(id(self), None)
        self._rows = []

    def __enter__(self) -> SheetReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _sheet(workbook: Any, wanted: str | int | None, path: Path) -> Any:
    names = list(workbook.sheet_names)
    if wanted is None:
        if not names:
            raise IngestFormatError(f"{path}: the workbook has no sheet")
        return workbook.get_sheet_by_index(0)
    if isinstance(wanted, int):
        if wanted >= len(names):
            raise MappingError(f"{path}: no sheet {wanted} (the sheets: {', '.join(names)})")
        return workbook.get_sheet_by_index(wanted)
    if wanted not in names:
        raise MappingError(f"{path}: no sheet {wanted!r} (the sheets: {', '.join(names)})")
    return workbook.get_sheet_by_name(wanted)


def cell_text(value: Any) -> str:
    """A cell value as text: ISO 8601 for dates and times, ``12`` for 12.0, "" for empty."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(timespec="seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def open_table(
    path: Path | str, mapping: Mapping, chunk_rows: int = 50_000
) -> TableReader | SheetReader:
    """The reader of a mapped table; raises before reading rows when the mapping's source
    headers (or sheet) are not in the file."""
    path = Path(path)
    if table_kind(path) == "sheet":
        return SheetReader(path, mapping, chunk_rows)
    return TableReader(path, mapping, chunk_rows)


def parse_rows(block: RowBlock) -> RawChunk:
    """A sheet block as source text columns, rows numbered from 1 within the block."""
    width = len(block.header)
    rows = [r if len(r) == width else (list(r) + [""] * width)[:width] for r in block.rows]
    chunk = RawChunk({}, list(range(1, len(rows) + 1)), [], n_records=len(rows))
    columns = zip(*rows, strict=True) if rows else [() for _ in block.header]
    for name, values in zip(block.header, columns, strict=True):
        cache: dict[tuple[type, Any], str] = {}  # by type too: True == 1
        texts = []
        for value in values:
            if value.__class__ is str:
                texts.append(value)
                continue
            key = (value.__class__, value)
            try:
                text = cache[key]
            except KeyError:
                text = cache[key] = cell_text(value)
            except TypeError:  # unhashable: not a calamine cell type
                text = cell_text(value)
            texts.append(text)
        chunk.columns[name] = texts
    return chunk


def parse_any(block: LineBlock | RowBlock) -> RawChunk:
    """Parse a block of any reader (canonical or mapped CSV, JSON Lines, sheet rows)."""
    return parse_rows(block) if isinstance(block, RowBlock) else parse_block(block)


def map_chunk(chunk: RawChunk, mapping: Mapping) -> RawChunk:
    """Map a chunk of source columns onto the canonical columns (rows with every cell empty
    are dropped); the source columns stay for the quarantine."""
    source = chunk.columns
    if source:
        columns = list(source.values())
        # a blank row has every cell empty: look further only where the first cell is
        blank = [i for i, t in enumerate(columns[0]) if not t and not any(c[i] for c in columns)]
        if blank:
            keep = np.setdiff1d(np.arange(len(chunk.records)), blank)
            source = {h: [col[i] for i in keep] for h, col in source.items()}
            chunk.records = [chunk.records[i] for i in keep]
            if chunk.raw:
                chunk.raw = [chunk.raw[i] for i in keep]
    mapped = mapping.apply(source, len(chunk.records))
    chunk.source = source
    chunk.columns = mapped.columns
    chunk.errors = (mapped.error_field, mapped.error_reason)
    chunk.fields = mapped.fields
    return chunk


@dataclass
class Sample:
    """The header and first rows of a table, as text, and how it was read."""

    header: list[str]
    rows: list[list[str]]
    encoding: str | None = None
    delimiter: str = ","
    sheet: str | None = None


def read_sample(path: Path | str, n_rows: int = 1000, *, sheet: str | int | None = None) -> Sample:
    """The header and first ``n_rows`` non-empty rows of a CSV (encoding and delimiter
    detected) or spreadsheet file."""
    path = Path(path)
    if table_kind(path) == "sheet":
        return _sheet_sample(path, n_rows, sheet)
    encoding = detect_encoding(path)
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read(SAMPLE_BYTES * 8)
    cut = len(data) == SAMPLE_BYTES * 8  # the last row read may be incomplete
    text = data.decode(encoding, errors="replace")
    first = text.split("\n", 1)[0]
    delimiter = max(",\t;|", key=first.count) if first.strip() else ","
    if first.count(delimiter) == 0:
        delimiter = ","
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = unique_headers(next(records, []))
    if not header:
        raise IngestFormatError(f"{path}: empty file, no header")
    rows: list[list[str]] = []
    try:
        for row in records:
            if any(cell.strip() for cell in row):
                rows.append(row)
            if len(rows) > n_rows:
                cut = True
                break
    except csv.Error:  # a quote left open by the end of the sample
        cut = True
    if cut and rows:
        rows.pop()
    return Sample(header, rows, "utf-8" if encoding == "utf-8-sig" else encoding, delimiter)


def _sheet_sample(path: Path, n_rows: int, wanted: str | int | None) -> Sample:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types
        raise IngestFormatError(f"{path}: cannot read the workbook: {exc}") from None
    try:
        sheet = _sheet(workbook, wanted, path)
        cells = sheet.to_python(skip_empty_area=True, nrows=n_rows + 1)
        name = sheet.name
    finally:
        workbook.close()
    if not cells:
        raise IngestFormatError(f"{path}: the sheet is empty, no header")
    width = max(len(r) for r in cells)
    texts = [[cell_text(v) for v in r] + [""] * (width - len(r)) for r in cells]
    rows = [r for r in texts[1:] if any(c.strip() for c in r)]
    return Sample(unique_headers(texts[0]), rows, sheet=name)
