"""Mappings of hand-made visit tables (CSV / Excel exports) onto the canonical visit columns.

A :class:`Mapping` says which source header feeds each canonical column (``ingest.rules.COLUMNS``),
the ``strptime`` formats of its times and dates, code lists (``男`` -> ``M``), units (°F, ages in
months), extra list separators, texts meaning "unknown" and fixed values (the sending facility).
It is written in TOML (``docs/spreadsheets.md``)::

    [mapping]
    encoding = "gb18030"
    [columns]
    visit_id = "就诊号"
    visit_time = ["就诊时间", "就诊日期"]   # the first header the file has
    [formats]
    visit_time = ["%Y/%m/%d %H:%M", "%Y/%m/%d"]
    [values.sex]
    "男" = "M"
    [constants]
    facility_id = "H01"

:meth:`Mapping.apply` turns source text columns into canonical text columns, converting each
distinct value once; a value it cannot convert (not in the code list, no format matches) marks
its row with the source header and the reason, for the quarantine. Everything else is checked
afterwards by ``ingest.validate`` like any canonical file.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import re
import tomllib
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from epiradar.ingest import rules
from epiradar.ingest.readers import IngestFormatError

TIME_COLUMNS: tuple[str, ...] = ("visit_time", "discharge_time")
DATE_COLUMNS: tuple[str, ...] = ("onset_date",)
UNITS: dict[str, tuple[str, ...]] = {
    "temperature_c": ("C", "F"),
    "age": ("years", "months", "weeks", "days"),
}
_SECTIONS = ("mapping", "columns", "formats", "values", "units", "separators", "constants")
_SETTINGS = ("encoding", "sheet", "delimiter", "missing")
_ISO_TIME = "%Y-%m-%dT%H:%M:%S"
_ISO_DATE = "%Y-%m-%d"


class MappingError(IngestFormatError):
    """A mapping that cannot be used: invalid TOML, unknown names, source headers the file lacks."""


Converter = Callable[[list[str]], tuple[list[str], list[str | None]]]
"""Distinct stripped source texts -> (canonical texts, None or why each cannot be converted)."""


@dataclass
class Mapped:
    """The canonical text columns of a source table, and the rows the mapping rejects."""

    columns: dict[str, list[str]]
    """Every canonical column ("" = unknown), ready for ``ingest.validate.check_chunk``."""
    error_field: np.ndarray
    """Per row: None, or the source header whose value could not be converted."""
    error_reason: np.ndarray
    fields: dict[str, str]
    """Canonical column -> the source header it came from (a constant: the canonical name)."""


@dataclass
class Mapping:
    """How one kind of source table maps onto the canonical visit columns."""

    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Canonical column -> candidate source headers; the first one the file has is used."""
    formats: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Time / date column -> ``strptime`` formats, tried in order (ISO 8601 always works)."""
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    """Column -> code list (source text -> canonical text); other values are rejected."""
    constants: dict[str, str] = field(default_factory=dict)
    """Canonical column -> the same canonical text for every row."""
    units: dict[str, str] = field(default_factory=dict)
    """``temperature_c``: ``C`` | ``F``; ``age``: ``years`` | ``months`` | ``weeks`` | ``days``."""
    separators: dict[str, str] = field(default_factory=dict)
    """List column -> extra characters separating its items (besides ``;``)."""
    missing: tuple[str, ...] = ()
    """Texts that mean "unknown" in every column (a code list entry wins)."""
    encoding: str | None = None
    """Text encoding of a CSV file; None: detect."""
    sheet: str | int | None = None
    """Excel sheet name or 0-based index; None: the first sheet."""
    delimiter: str = ","
    unmapped: tuple[str, ...] = field(default=(), compare=False)
    """Source headers left out (written as comments by :meth:`to_toml`)."""
    notes: tuple[str, ...] = field(default=(), compare=False)
    """Remarks for the reader of the TOML (written as comments)."""
    draft: bool = field(default=False, compare=False, repr=False)
    """A proposal (:func:`infer_mapping`): required columns may still be missing."""

    def __post_init__(self) -> None:
        self.columns = {k: _headers(k, v) for k, v in self.columns.items()}
        self.formats = {k: _texts(f"formats.{k}", v) for k, v in self.formats.items()}
        self.missing = _texts("mapping.missing", self.missing, allow_empty=True)
        self._check()

    # --- TOML -----------------------------------------------------------------------------

    @classmethod
    def from_toml(cls, source: str | Path) -> Mapping:
        """Load a mapping from a TOML file (a ``Path``, or a ``str`` ending in ``.toml``) or text."""
        where = "mapping"
        if isinstance(source, Path) or ("\n" not in source and source.endswith(".toml")):
            where = str(source)
            try:
                source = Path(source).read_text(encoding="utf-8-sig")
            except OSError as exc:
                raise MappingError(f"{where}: cannot read the mapping: {exc}") from None
        try:
            data = tomllib.loads(source)
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"{where}: invalid TOML: {exc}") from None
        try:
            return cls._from_dict(data)
        except MappingError as exc:
            raise MappingError(f"{where}: {exc}") from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Mapping:
        unknown = [k for k in data if k not in _SECTIONS]
        if unknown:
            raise MappingError(
                f"unknown section(s) {', '.join(map(repr, unknown))}; expected {', '.join(_SECTIONS)}"
            )
        for name in _SECTIONS:
            if not isinstance(data.get(name, {}), dict):
                raise MappingError(f"[{name}] must be a table")
        settings = data.get("mapping", {})
        unknown = [k for k in settings if k not in _SETTINGS]
        if unknown:
            raise MappingError(
                f"[mapping]: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"expected {', '.join(_SETTINGS)}"
            )
        values = data.get("values", {})
        for name, codes in values.items():
            if not isinstance(codes, dict):
                raise MappingError(f"values.{name} must be a table of source text = canonical text")
        return cls(
            columns=data.get("columns", {}),
            formats=data.get("formats", {}),
            values=values,
            constants=data.get("constants", {}),
            units=data.get("units", {}),
            separators=data.get("separators", {}),
            missing=settings.get("missing", ()),
            encoding=settings.get("encoding"),
            sheet=settings.get("sheet"),
            delimiter=settings.get("delimiter", ","),
        )

    def to_toml(self) -> str:
        """The mapping as TOML text (:meth:`from_toml` reads it back to an equal mapping)."""
        out = ["# epiradar table mapping (docs/spreadsheets.md): canonical column = source header"]
        out += [f"# {line}" for note in self.notes for line in note.splitlines()]
        settings = []
        if self.encoding is not None:
            settings.append(f"encoding = {_q(self.encoding)}")
        if self.sheet is not None:
            sheet = self.sheet
            settings.append(f"sheet = {sheet if isinstance(sheet, int) else _q(sheet)}")
        if self.delimiter != ",":
            settings.append(f"delimiter = {_q(self.delimiter)}")
        if self.missing:
            settings.append(f"missing = {_list(self.missing)}")
        _section(out, "mapping", settings)
        lines = [
            f"{name} = {_q(h[0]) if len(h) == 1 else _list(h)}"
            for name, h in _ordered(self.columns)
        ]
        if self.unmapped:
            lines.append(f"# not mapped: {', '.join(_q(h) for h in self.unmapped)}")
        _section(out, "columns", lines)
        _section(out, "formats", [f"{k} = {_list(v)}" for k, v in _ordered(self.formats)])
        _section(out, "units", [f"{k} = {_q(v)}" for k, v in _ordered(self.units)])
        _section(out, "separators", [f"{k} = {_q(v)}" for k, v in _ordered(self.separators)])
        constants = [f"{k} = {_q(v)}" for k, v in _ordered(self.constants)]
        mapped = set(self.columns) | set(self.constants)
        constants += [f'# {c} = "..."  # required' for c in rules.REQUIRED if c not in mapped]
        _section(out, "constants", constants)
        for name, codes in _ordered(self.values):
            _section(out, f"values.{name}", [f"{_q(k)} = {_q(v)}" for k, v in codes.items()])
        return "\n".join(out) + "\n"

    # --- checks ---------------------------------------------------------------------------

    def _check(self) -> None:
        def known(section: str, names: Sequence[str], allowed: Sequence[str]) -> None:
            bad = [n for n in names if n not in allowed]
            if bad:
                raise MappingError(
                    f"[{section}]: unknown column(s) {', '.join(map(repr, bad))}; "
                    f"expected some of {', '.join(allowed)}"
                )

        known("columns", list(self.columns), rules.COLUMNS)
        known("constants", list(self.constants), rules.COLUMNS)
        known("formats", list(self.formats), TIME_COLUMNS + DATE_COLUMNS)
        known("units", list(self.units), tuple(UNITS))
        known("separators", list(self.separators), rules.LIST_COLUMNS)
        plain = [c for c in rules.COLUMNS if c not in _CONVERTED]
        known("values", list(self.values), plain)
        both = sorted(set(self.columns) & set(self.constants))
        if both:
            raise MappingError(f"{', '.join(both)}: both in [columns] and [constants]")
        mapped = set(self.columns) | set(self.constants)
        missing = [c for c in rules.REQUIRED if c not in mapped]
        if missing and not self.draft:
            raise MappingError(
                f"required column(s) {', '.join(missing)} neither mapped in [columns] nor set "
                "in [constants]"
            )
        for section in ("formats", "values", "units", "separators"):
            for name in getattr(self, section):
                if name not in self.columns:
                    raise MappingError(f"{section}.{name}: {name} is not mapped in [columns]")
        for name, value in self.constants.items():
            if not isinstance(value, str):
                raise MappingError(f"constants.{name} must be a string")
        for name, codes in self.values.items():
            for key, value in codes.items():
                if not isinstance(value, str):
                    raise MappingError(f"values.{name}.{key!r} must be a string")
        for name, unit in self.units.items():
            if unit not in UNITS[name]:
                raise MappingError(f"units.{name}: {unit!r} is not one of {', '.join(UNITS[name])}")
        for name, chars in self.separators.items():
            if not isinstance(chars, str) or not chars:
                raise MappingError(f"separators.{name} must be a non-empty string")
        for name, formats in self.formats.items():
            for fmt in formats:
                _check_format(name, fmt)
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except (LookupError, TypeError):
                raise MappingError(
                    f"mapping.encoding: unknown encoding {self.encoding!r}"
                ) from None
        if self.sheet is not None and (
            isinstance(self.sheet, bool)
            or not isinstance(self.sheet, str | int)
            or (isinstance(self.sheet, int) and self.sheet < 0)
        ):
            raise MappingError("mapping.sheet must be a sheet name or a 0-based index")
        if (
            not isinstance(self.delimiter, str)
            or len(self.delimiter) != 1
            or self.delimiter in '"\r\n'
        ):
            raise MappingError(
                "mapping.delimiter must be one character (not a quote or line break)"
            )

    def resolve(self, header: Sequence[str]) -> dict[str, str]:
        """Canonical column -> the source header of ``header`` that feeds it.

        Raises :class:`MappingError` naming every mapped column none of whose headers is there.
        """
        present = {h: h for h in header}
        folded = {h.strip().casefold(): h for h in reversed(header)}
        out: dict[str, str] = {}
        lacking = []
        for name, candidates in self.columns.items():
            found = next((present[c] for c in candidates if c in present), None)
            if found is None:
                found = next(
                    (folded[c.casefold()] for c in candidates if c.casefold() in folded), None
                )
            if found is None:
                lacking.append(f"{name} = {' or '.join(map(repr, candidates))}")
            else:
                out[name] = found
        if lacking:
            raise MappingError(
                f"source header(s) not in the file: {'; '.join(lacking)}. "
                f"The file's headers: {', '.join(map(repr, header))}"
            )
        return out

    # --- conversion -----------------------------------------------------------------------

    def apply(self, texts: dict[str, Sequence[str]], n_rows: int | None = None) -> Mapped:
        """Canonical text columns from source columns (source header -> texts, one per row).

        Each distinct source value is converted once. A row whose value cannot be converted gets
        the source header and the reason in ``error_field`` / ``error_reason`` (the first such
        column in canonical order) and "" in that column.
        """
        bound = self.resolve(list(texts))
        n = n_rows if n_rows is not None else len(next(iter(texts.values()), ()))
        error_field = np.full(n, None, dtype=object)
        error_reason = np.full(n, None, dtype=object)
        columns: dict[str, list[str]] = {}
        fields: dict[str, str] = {}
        for name in rules.COLUMNS:
            if name in self.constants:
                columns[name] = [self.constants[name]] * n
                fields[name] = name
                continue
            header = bound.get(name)
            if header is None:
                columns[name] = [""] * n
                continue
            fields[name] = header
            source = texts[header]
            convert = self._converter(name)
            if convert is None:
                columns[name] = list(source)
                continue
            codes, uniques = pd.factorize(np.asarray(source, dtype=object), use_na_sentinel=False)
            values, reasons = convert([str(u).strip() for u in uniques])
            out = np.asarray(values, dtype=object)
            columns[name] = out[codes].tolist()
            bad_values = np.not_equal(np.asarray(reasons, dtype=object), None)
            if bad_values.any():
                bad = bad_values[codes] & np.equal(error_field, None)
                error_field[bad] = header
                error_reason[bad] = np.asarray(reasons, dtype=object)[codes[bad]]
        return Mapped(columns, error_field, error_reason, fields)

    def _converter(self, name: str) -> Converter | None:
        """The conversion of one column's distinct values; None: the text is kept as is."""
        missing = frozenset(self.missing)
        inner: Converter | None = None
        if name in self.values:
            inner = _code_list(self.values[name])
        elif name in self.formats:
            inner = _times(self.formats[name], date=name in DATE_COLUMNS)
        elif name == "temperature_c":
            inner = _temperature(self.units.get(name, "C"))
        elif name == "age":
            inner = _age(self.units.get(name, "years"))
        elif name in self.separators:
            inner = _separated(self.separators[name])
        if inner is None and not missing:
            return None
        codes = self.values.get(name, {})

        def convert(texts: list[str]) -> tuple[list[str], list[str | None]]:
            known = [t if t not in missing or t in codes else "" for t in texts]
            if inner is None:
                return known, [None] * len(known)
            return inner(known)

        return convert


_CONVERTED = TIME_COLUMNS + DATE_COLUMNS + rules.NUMBER_COLUMNS + rules.LIST_COLUMNS
"""Columns whose text is parsed by a converter: no code lists on them."""


def _headers(name: str, value: Any) -> tuple[str, ...]:
    headers = _texts(f"columns.{name}", value)
    if any(not h.strip() for h in headers):
        raise MappingError(f"columns.{name}: empty source header")
    return tuple(h.strip() for h in headers)


def _texts(where: str, value: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        raise MappingError(f"{where} must be a string or a list of strings")
    if not items and not allow_empty:
        raise MappingError(f"{where} is empty")
    return tuple(items)


def _check_format(name: str, fmt: str) -> None:
    if "%" not in fmt:
        raise MappingError(f"formats.{name}: {fmt!r} has no strptime directive (%Y, %m, ...)")
    sample = dt.datetime(2024, 11, 23, 14, 35, 56)
    try:
        dt.datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError as exc:
        if "directive" in str(exc):
            raise MappingError(f"formats.{name}: {exc}") from None


# --- converters -----------------------------------------------------------------------------


def _code_list(codes: dict[str, str]) -> Converter:
    exact = {k.strip(): v for k, v in codes.items()}
    folded = {k.casefold(): v for k, v in exact.items()}
    shown = ", ".join(list(exact)[:12]) + (", ..." if len(exact) > 12 else "")

    def convert(texts: list[str]) -> tuple[list[str], list[str | None]]:
        out: list[str] = []
        reasons: list[str | None] = []
        for text in texts:
            value = exact.get(text)
            if value is None:
                value = folded.get(text.casefold())
            if value is None and text:
                out.append("")
                reasons.append(f"{text!r} is not in the code list ({shown})")
            else:
                out.append(value or "")
                reasons.append(None)
        return out, reasons

    return convert


def _times(formats: Sequence[str], *, date: bool) -> Converter:
    """Texts parsed by the first matching format (or as ISO 8601) to canonical text."""
    implicit = [_ISO_DATE, _ISO_TIME] if date else [_ISO_TIME]
    tried = [*formats, *(f for f in implicit if f not in formats)]
    unit = "D" if date else "s"

    def convert(texts: list[str]) -> tuple[list[str], list[str | None]]:
        array = np.asarray(texts, dtype=object)
        out = np.full(len(texts), "", dtype=object)
        todo = array != ""
        for fmt in tried:
            idx = np.flatnonzero(todo)
            if not len(idx):
                break
            parsed = _parse_with(array[idx], fmt)
            good = ~np.isnat(parsed)
            out[idx[good]] = np.datetime_as_string(parsed[good], unit=unit).astype(object)
            todo[idx[good]] = False
        reasons: list[str | None] = [None] * len(texts)
        for i in np.flatnonzero(todo):  # ISO 8601 with offsets, fractions of seconds ...
            try:
                value = rules.parse_time(texts[i]) if not date else _parse_iso_date(texts[i])
            except ValueError:
                shown = ", ".join(formats) or "-"
                reasons[i] = f"{texts[i]!r} matches none of the formats {shown} (nor ISO 8601)"
                continue
            out[i] = value.isoformat() if date else rules.canonical_time(value)
        return list(out), reasons

    return convert


def _parse_iso_date(text: str) -> dt.date:
    try:
        return rules.parse_date(text)
    except ValueError:
        return rules.parse_time(text).date()


def _parse_with(texts: np.ndarray, fmt: str) -> np.ndarray:
    """``datetime64[s]`` per text, NaT where ``fmt`` does not match (pandas, else strptime)."""
    if "%z" not in fmt and "%Z" not in fmt:
        try:
            parsed = pd.to_datetime(pd.Series(texts, dtype=object), format=fmt, errors="coerce")
            if isinstance(parsed.dtype, np.dtype) and parsed.dtype.kind == "M":
                return parsed.to_numpy().astype("datetime64[s]")
        except (ValueError, OverflowError, TypeError):
            pass
    out = np.full(len(texts), np.datetime64("NaT"), dtype="datetime64[s]")
    for i, text in enumerate(texts):
        try:
            value = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        out[i] = np.datetime64(value.replace(tzinfo=None), "s")
    return out


_TEMPERATURE_RE = re.compile(
    r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(℃|°\s*[cC]|[cC]|℉|°\s*[fF]|[fF]|度)?"
)


def _number_text(value: float) -> str:
    return f"{round(value, 2):g}"


def _temperature(unit: str) -> Converter:
    """Numbers with an optional unit (``38.5℃``, ``101.3°F``); bare numbers are in ``unit``."""

    def convert(texts: list[str]) -> tuple[list[str], list[str | None]]:
        out = []
        for text in texts:
            match = _TEMPERATURE_RE.fullmatch(text)
            if match is None:
                out.append(text)  # the validator names the problem
                continue
            number, suffix = match.groups()
            fahrenheit = "f" in (suffix or "").lower() or "℉" in (suffix or "")
            if suffix is None:
                fahrenheit = unit == "F"
            value = float(number)
            out.append(_number_text((value - 32) * 5 / 9) if fahrenheit else number)
        return out, [None] * len(out)

    return convert


_AGE_UNITS = {
    **dict.fromkeys(("岁", "歲", "周岁", "y", "yr", "yrs", "year", "years"), 1.0),
    **dict.fromkeys(("月", "个月", "個月", "m", "mo", "mos", "month", "months"), 1 / 12),
    **dict.fromkeys(("周", "週", "w", "wk", "wks", "week", "weeks"), 7 / 365.25),
    **dict.fromkeys(("天", "日", "d", "day", "days"), 1 / 365.25),
}
_AGE_PART_RE = re.compile(
    r"(\d+(?:\.\d+)?)\s*("
    + "|".join(sorted(map(re.escape, _AGE_UNITS), key=len, reverse=True))
    + r")",
    re.IGNORECASE,
)
_AGE_SCALE = {"years": 1.0, "months": 1 / 12, "weeks": 7 / 365.25, "days": 1 / 365.25}


def parse_age(text: str, unit: str = "years") -> float | None:
    """Age in years from ``34``, ``3岁``, ``5月``, ``2岁3个月``, ``10 days``; None if not an age."""
    if rules.NUMBER_RE.fullmatch(text):
        return float(text) * _AGE_SCALE[unit]
    position = 0
    years = 0.0
    compact = text.replace(" ", "")
    for match in _AGE_PART_RE.finditer(compact):
        if match.start() != position:
            return None
        years += float(match.group(1)) * _AGE_UNITS[match.group(2).lower()]
        position = match.end()
    return years if position and position == len(compact) else None


def _age(unit: str) -> Converter:
    def convert(texts: list[str]) -> tuple[list[str], list[str | None]]:
        out = []
        for text in texts:
            if not text or (unit == "years" and rules.NUMBER_RE.fullmatch(text)):
                out.append(text)
                continue
            years = parse_age(text, unit)
            out.append(text if years is None else _number_text(years))
        return out, [None] * len(out)

    return convert


def _separated(chars: str) -> Converter:
    table = str.maketrans(dict.fromkeys(chars, rules.LIST_SEPARATOR))

    def convert(texts: list[str]) -> tuple[list[str], list[str | None]]:
        return [t.translate(table) for t in texts], [None] * len(texts)

    return convert


# --- TOML writing ---------------------------------------------------------------------------


def _q(text: str) -> str:
    """A TOML basic string (JSON escapes are valid TOML; DEL must be escaped too)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _list(items: Sequence[str]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


def _ordered(table: dict[str, Any]) -> list[tuple[str, Any]]:
    order = {name: i for i, name in enumerate(rules.COLUMNS)}
    return sorted(table.items(), key=lambda item: order.get(item[0], len(order)))


def _section(out: list[str], name: str, lines: list[str]) -> None:
    if lines:
        out += ["", f"[{name}]", *lines]


# --- inference ------------------------------------------------------------------------------

# fmt: off
SYNONYMS: dict[str, tuple[str, ...]] = {
    "visit_id": (
        "visit id", "visit no", "visit number", "encounter id", "encounter no", "就诊号",
        "门诊号", "门急诊号", "就诊编号", "就诊流水号", "就诊序号", "挂号号", "挂号序号", "流水号",
    ),
    "facility_id": (
        "facility", "facility id", "hospital", "hospital name", "clinic", "site", "医院",
        "医院名称", "就诊医院", "机构", "机构名称", "医疗机构", "报告单位", "单位",
    ),
    "visit_time": (
        "visit time", "visit date", "visit datetime", "date of visit", "encounter time",
        "arrival time", "就诊时间", "就诊日期", "就诊日期时间", "挂号时间", "来诊时间",
        "接诊时间", "到院时间",
    ),
    "patient_id": (
        "patient id", "patient no", "patient number", "mrn", "medical record number", "患者id",
        "患者编号", "病人id", "病人编号", "病历号", "患者唯一标识", "身份证号", "身份证号码",
        "证件号码",
    ),
    "age": ("age", "age years", "年龄", "月龄"),
    "sex": ("sex", "gender", "性别"),
    "residence_region": (
        "region", "district", "residence", "residence district", "home district", "area",
        "现住址区县", "现住址", "现住地址", "居住地", "住址", "区县", "所在区县", "地区", "街道",
    ),
    "residence_lat": ("lat", "latitude", "纬度"),
    "residence_lon": ("lon", "lng", "longitude", "经度"),
    "chief_complaint": (
        "chief complaint", "complaint", "presenting complaint", "symptoms", "cc", "主诉",
        "症状", "主要症状", "临床症状",
    ),
    "temperature_c": ("temperature", "temp", "body temperature", "体温"),
    "diagnosis_codes": (
        "diagnosis codes", "diagnosis code", "diagnosis", "icd", "icd10", "icd code", "诊断编码",
        "诊断代码", "疾病编码", "icd编码", "诊断",
    ),
    "onset_date": (
        "onset", "onset date", "date of onset", "symptom onset", "发病日期", "发病时间", "起病日期",
    ),
    "exposures": (
        "exposure", "exposure place", "exposure places", "暴露地点", "暴露场所", "可疑暴露地点",
    ),
    "contacts": ("contact", "contact ids", "close contacts", "接触者", "密切接触者", "接触者编号"),
    "lab_result": (
        "lab", "lab result", "laboratory result", "test result", "检验结果", "化验结果",
        "检测结果", "实验室结果",
    ),
    "patient_class": (
        "patient class", "visit type", "encounter type", "就诊类型", "就诊类别", "患者类别",
        "门急诊类别",
    ),
    "disposition": ("disposition", "discharge disposition", "outcome", "转归", "去向", "离院方式"),
    "discharge_time": ("discharge time", "discharge date", "离院时间", "出院时间", "离开时间"),
}
"""Header synonyms (English and Chinese) of each canonical column, best first; the canonical
name itself always matches."""

TIME_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
    "%Y.%m.%d %H:%M:%S", "%Y.%m.%d %H:%M", "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日%H时%M分", "%Y年%m月%d日 %H时%M分", "%Y%m%d %H:%M:%S", "%Y%m%d%H%M%S",
    "%Y%m%d%H%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p", "%d.%m.%Y %H:%M", "%d-%m-%Y %H:%M",
)
DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d", "%d/%m/%Y", "%m/%d/%Y",
    "%d.%m.%Y", "%d-%m-%Y",
)
_SEX_FAMILIES: tuple[dict[str, str], ...] = (
    {"男": "M", "女": "F", "未知": "U"},
    {"男性": "M", "女性": "F", "未知": "U"},
    {"male": "M", "female": "F", "unknown": "U"},
    {"1": "M", "2": "F", "0": "U", "9": "U"},  # GB/T 2261.1
    {"M": "M", "F": "F", "U": "U"},
)
_SEX_EXTRA = {"不详": "U", "未说明": "U", "未说明的性别": "U", "m": "M", "f": "F", "u": "U"}
_CLASS_CODES = {
    "门诊": "O", "普通门诊": "O", "发热门诊": "O", "急诊": "E", "住院": "I",
    "outpatient": "O", "emergency": "E", "inpatient": "I",
}
MISSING_MARKERS: tuple[str, ...] = (
    "-", "--", "/", "无", "不详", "null", "NULL", "None", "N/A", "n/a", "NA", "#N/A",
)
# fmt: on
_LIST_SEPARATORS = "、，,|"


def infer_mapping(
    path: Path | str,
    *,
    sample_rows: int = 1000,
    sheet: str | int | None = None,
    facilities: dict[str, str] | None = None,
    regions: dict[str, str] | None = None,
) -> Mapping:
    """Propose a mapping for a CSV / Excel file from its header and first ``sample_rows`` rows.

    Columns by header synonyms (:data:`SYNONYMS`), checked against the sampled values; the
    time / date formats that parse every sampled value; code lists for sex (男/女, 1/2,
    male/female) and patient class; temperature unit; list separators; "unknown" markers.
    ``facilities`` / ``regions`` (name -> id) give code lists when the values are names.
    The result is a draft (``draft=True``): check it, fill in what its notes ask, save it.
    """
    from epiradar.ingest.tables import read_sample

    sample = read_sample(path, sample_rows, sheet=sheet)
    proposal = propose_mapping(sample.header, sample.rows, facilities=facilities, regions=regions)
    proposal.encoding = sample.encoding
    proposal.sheet = sample.sheet
    proposal.delimiter = sample.delimiter
    proposal._check()
    return proposal


def propose_mapping(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    facilities: dict[str, str] | None = None,
    regions: dict[str, str] | None = None,
) -> Mapping:
    """The mapping :func:`infer_mapping` proposes for a header and sample rows (texts)."""
    samples = {
        h: list(dict.fromkeys(str(r[i]).strip() for r in rows if i < len(r)))
        for i, h in enumerate(header)
    }
    seen = {h: [v for v in values if v] for h, values in samples.items()}
    markers = sorted({v for values in seen.values() for v in values if v in MISSING_MARKERS})
    values_of = {h: [v for v in values if v not in markers] for h, values in seen.items()}
    chosen = _assign(header, values_of)
    notes: list[str] = []
    columns = {name: (h,) for name, h in chosen.items()}
    formats: dict[str, tuple[str, ...]] = {}
    codes: dict[str, dict[str, str]] = {}
    units: dict[str, str] = {}
    separators: dict[str, str] = {}
    for name, h in chosen.items():
        values = values_of[h]
        if name in TIME_COLUMNS + DATE_COLUMNS:
            found, unparsed, ambiguous = _detect_formats(values, date=name in DATE_COLUMNS)
            if found:
                formats[name] = tuple(found)
            if unparsed:
                notes.append(f"{name} ({h}): no format parses {_examples(unparsed)}")
            if ambiguous:
                notes.append(f"{name} ({h}): day/month order is ambiguous in the sample; check")
        elif name == "sex":
            sex_codes, unknown = _sex_codes(values)
            if sex_codes:
                codes[name] = sex_codes
            if unknown:
                notes.append(f"sex ({h}): values not recognised: {_examples(unknown)}")
        elif name == "patient_class":
            folded = [v.casefold() for v in values]
            if any(v.upper() not in ("E", "O", "I") for v in values) and all(
                v in _CLASS_CODES for v in folded
            ):
                codes[name] = {k: v for k, v in _CLASS_CODES.items() if k in folded}
        elif name == "temperature_c":
            numbers = [float(v) for v in values if rules.NUMBER_RE.fullmatch(v)]
            if numbers and float(np.median(numbers)) > 50:
                units[name] = "F"
        elif name == "age" and ("月龄" in h or "month" in h.casefold()):
            units[name] = "months"
        elif name in rules.LIST_COLUMNS:
            chars = "".join(c for c in _LIST_SEPARATORS if any(c in v for v in values))
            if chars:
                separators[name] = chars
        known = {"facility_id": facilities, "residence_region": regions}.get(name)
        if known:
            names, unknown = _name_codes(values, known)
            if names:
                codes[name] = names
            if unknown:
                notes.append(f"{name} ({h}): neither known ids nor names: {_examples(unknown)}")
    for name in rules.REQUIRED:
        if name not in chosen:
            notes.append(f"{name}: no matching header; map a column or set it in [constants]")
    used = set(chosen.values())
    return Mapping(
        columns=columns,
        formats=formats,
        values=codes,
        units=units,
        separators=separators,
        missing=tuple(markers),
        unmapped=tuple(h for h in header if h not in used),
        notes=tuple(notes),
        draft=True,
    )


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[(\[【].*?[)\]】]", "", text)
    return re.sub(r"[\s_\-./:：]+", "", text)


def _is_cjk(text: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" for c in text)


def _assign(header: Sequence[str], values_of: dict[str, list[str]]) -> dict[str, str]:
    """Canonical column -> header: best (values fit, exact match, longer synonym) first."""
    candidates = []
    for name, synonyms in SYNONYMS.items():
        for rank, synonym in enumerate((name, *synonyms)):
            want = _norm(synonym)
            for h in header:
                got = _norm(h)
                if got == want:
                    quality = 2
                elif want in got and (_is_cjk(want) or len(want) >= 5):
                    quality = 1
                else:
                    continue
                fits = _fits(name, values_of.get(h, []))
                if quality == 1 and not fits:
                    continue
                candidates.append(((fits, quality, len(want), -rank), name, h))
    chosen: dict[str, str] = {}
    used: set[str] = set()
    for _score, name, h in sorted(candidates, key=lambda c: c[0], reverse=True):
        if name not in chosen and h not in used:
            chosen[name] = h
            used.add(h)
    return {name: chosen[name] for name in rules.COLUMNS if name in chosen}


def _fits(name: str, values: list[str]) -> bool:
    """Do most (80 %) of the sampled values look like values of ``name``?"""
    if not values:
        return True
    if name in TIME_COLUMNS + DATE_COLUMNS:
        _found, unparsed, _ambiguous = _detect_formats(values, date=name in DATE_COLUMNS)
        good = len(values) - len(unparsed)
    elif name == "age":
        good = sum(parse_age(v) is not None for v in values)
    elif name in rules.NUMBER_COLUMNS:
        good = sum(_TEMPERATURE_RE.fullmatch(v) is not None for v in values)
    elif name == "sex":
        good = len(values) - len(_sex_codes(values)[1])
    elif name == "diagnosis_codes":
        table = str.maketrans(dict.fromkeys(_LIST_SEPARATORS + " ", rules.LIST_SEPARATOR))
        good = sum(
            all(rules.ICD10_RE.fullmatch(c.upper()) for c in rules.split_list(v.translate(table)))
            for v in values
        )
    else:
        return True
    return good >= 0.8 * len(values)


def _detect_formats(values: list[str], *, date: bool) -> tuple[list[str], list[str], bool]:
    """(formats parsing the values, values none parses, whether day/month order is ambiguous).

    One format parsing every value wins (the first in :data:`TIME_FORMATS` order); otherwise
    formats are added by how many of the remaining values they parse. ISO 8601 needs none."""
    candidates = DATE_FORMATS + TIME_FORMATS if date else TIME_FORMATS + DATE_FORMATS
    _out, reasons = _times((), date=date)(values)
    rest = np.asarray(
        [v for v, r in zip(values, reasons, strict=True) if r is not None], dtype=object
    )
    if not len(rest):
        return [], [], False
    parsed = {fmt: ~np.isnat(_parse_with(rest, fmt)) for fmt in candidates}
    complete = [fmt for fmt in candidates if parsed[fmt].all()]
    if complete:
        first = complete[0]
        swapped = first.replace("%d", "%D").replace("%m", "%d").replace("%D", "%m")
        return [first], [], swapped != first and swapped in complete
    found: list[str] = []
    todo = np.ones(len(rest), dtype=bool)
    while todo.any():
        gain = {fmt: int((hit & todo).sum()) for fmt, hit in parsed.items() if fmt not in found}
        best = max(gain, key=lambda f: gain[f], default=None)
        if best is None or gain[best] == 0:
            break
        found.append(best)
        todo &= ~parsed[best]
    return found, [str(v) for v in rest[todo]], False


def _sex_codes(values: list[str]) -> tuple[dict[str, str], list[str]]:
    """A code list for the sampled sex values (empty if they are M/F/U already), and the
    values not recognised."""
    folded = {v.casefold() for v in values}
    if folded <= {"m", "f", "u"}:
        return {}, []
    codes: dict[str, str] = {}
    for family in _SEX_FAMILIES:
        if folded & {k.casefold() for k in family}:
            codes.update(family)
    extra = {k: v for k, v in _SEX_EXTRA.items() if k in folded and k.upper() not in codes}
    codes.update(extra)
    known = {k.casefold() for k in codes}
    return codes, [v for v in values if v.casefold() not in known]


def _aliases(name: str) -> list[str]:
    """A name and its parts: ``Xinhua (新华)`` -> itself, ``Xinhua``, ``新华``."""
    out = [name]
    match = re.fullmatch(r"\s*(.*?)\s*[(（](.*?)[)）]\s*", name)
    if match:
        out += [part for part in match.groups() if part]
    return out


def _name_codes(values: list[str], known: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Code list name -> id when the sampled values are known names (or ids), and the values
    that are neither."""
    ids = set(known.values())
    names = {alias: i for name, i in known.items() for alias in _aliases(name)}
    unknown = [v for v in values if v not in ids and v not in names]
    if all(v in ids for v in values) or len(unknown) == len(values):
        return {}, unknown
    codes = dict(names)
    codes.update({i: i for i in ids if i in values})
    return codes, unknown


def _examples(values: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(repr(v) for v in values[:n])
    return shown + (f" and {len(values) - n} more" if len(values) > n else "")
