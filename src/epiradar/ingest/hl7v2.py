"""HL7 v2 ADT adapter: syndromic surveillance messages -> :class:`InboundVisit`.

Reads ADT A01, A03, A04 and A08 messages of HL7 v2.3.1 and v2.5.1 as profiled by the PHIN
Messaging Guide for Syndromic Surveillance (v2.0), cuts HTTP bodies into messages and builds
the acknowledgements. Pure parsing: no database, no sockets. The field mapping, the local OBX
codes and the speed measurement are in ``docs/hl7v2.md``.

The parser splits the text itself (HL7 v2.5.1 sections 2.5-2.7: segments, fields, components,
escape sequences) instead of building python-hl7's container tree: about twenty times faster,
which the HTTP batch path needs (measurement in ``docs/hl7v2.md``).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

from epiradar.ingest.inbound import EVENTS, InboundVisit, MessageError

__all__ = [
    "ERROR_TEXT",
    "Header",
    "Hl7Error",
    "LOCAL_CODES",
    "LOINC_AGE",
    "LOINC_CHIEF_COMPLAINT",
    "LOINC_ONSET",
    "LOINC_TEMPERATURE",
    "ack",
    "charset_codec",
    "error_code",
    "parse_message",
    "read_header",
    "split_batch",
]

LOINC_CHIEF_COMPLAINT = "8661-1"
LOINC_TEMPERATURE = "11289-6"
LOINC_AGE = "21612-7"
LOINC_ONSET = "11368-8"
LOCAL_CODES: dict[str, str] = {
    "EXPOSURE": "place visited: place_id or place_id@YYYY-MM-DD (repeatable) -> exposures",
    "CONTACT": "patient id of a close contact (repeatable) -> contacts",
    "LAB": "laboratory result as text (repeatable, joined with '; ') -> lab_result",
    "RES_LAT": "latitude of the residence, decimal degrees (NM) -> residence_lat",
    "RES_LON": "longitude of the residence, decimal degrees (NM) -> residence_lon",
}
"""Local OBX-3 identifiers (coding system ``L``) for what source tracing needs."""

ERROR_TEXT: dict[str, str] = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "207": "Application internal error",
}
"""HL7 table 0357 (message error condition codes) as used in ERR-3."""

_CHARSETS: dict[str, str | None] = {
    "ASCII": "ascii",
    "ISO IR6": "ascii",
    "8859/1": "latin-1",
    "ISO IR100": "latin-1",
    **{f"8859/{n}": f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 9, 15)},
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    "UNICODE": "utf-8",
    "ISO IR192": "utf-8",
    "GB 18030-2000": "gb18030",
    "GB18030": "gb18030",
    "GB 18030": "gb18030",
    "GB18030-2000": "gb18030",
    "GB18030-2005": "gb18030",
    "GBK": "gb18030",
    "GB2312": "gb18030",
    "GB 2312": "gb18030",
    "BIG-5": "big5",
    "BIG5": "big5",
    # Multi-byte encodings of ASCII itself: the MSH segment cannot be read byte-wise.
    "UNICODE UTF-16": None,
    "UNICODE UTF-32": None,
}
_FALLBACK_CODECS = ("utf-8", "gb18030")

_TIME_RE = re.compile(
    r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.\d{1,4})?)?)?)?\s*(?:[+-]\d{4})?"
)
_BIRTH_RE = re.compile(
    r"(\d{4})(?:(\d{2})(?:(\d{2})(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,4})?)?)?)?)?)?\s*(?:[+-]\d{4})?"
)
_NUMBER_RE = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_FIELD_RE = re.compile(r"([A-Z][A-Z0-9]{2})(?:-(\d+)(?:\.(\d+))?)?")
_SEGMENT_START = {
    str: re.compile(r"(?:\r\n|\r|\n)(?=MSH|FHS|BHS|BTS|FTS)"),
    bytes: re.compile(rb"(?:\r\n|\r|\n)(?=MSH|FHS|BHS|BTS|FTS)"),
}
_ENVELOPE = ("FHS", "BHS", "BTS", "FTS")

_SEXES = {"M": "M", "F": "F", "U": "U", "O": "U", "A": "U", "N": "U"}
_CELSIUS = frozenset({"", "cel", "c", "degc", "°c", "celsius", "degree celsius"})
_FAHRENHEIT = frozenset({"[degf]", "degf", "f", "°f", "fahrenheit", "degree fahrenheit"})
_AGE_UNITS: dict[str, float] = {
    **dict.fromkeys(("", "a", "y", "yr", "yrs", "year", "years", "ann"), 1.0),
    **dict.fromkeys(("mo", "month", "months"), 1 / 12),
    **dict.fromkeys(("wk", "week", "weeks"), 7 / 365.25),
    **dict.fromkeys(("d", "day", "days"), 1 / 365.25),
    **dict.fromkeys(("h", "hr", "hour", "hours"), 1 / 8766),
}
_CODED = frozenset({"CWE", "CE", "CNE", "CF"})
_SKIPPED_STATUS = frozenset({"D", "W", "X"})  # deleted, wrong (withdrawn), cannot be obtained
_NULL = '""'  # HL7 explicit null
_FORMATTING = frozenset({"sp", "fi", "nf", "in", "ti", "ce", "sk"})


class Hl7Error(MessageError):
    """A :class:`MessageError` that also carries its HL7 table 0357 code for ERR-3."""

    def __init__(
        self, field: str | None, reason: str, *, code: str = "AE", hl7_code: str = "207"
    ) -> None:
        super().__init__(field, reason, code=code)
        self.hl7_code = hl7_code


class Header(NamedTuple):
    """What the MSH segment says, read leniently (:func:`read_header` never raises).

    ``sending_facility`` is the facility id as :func:`parse_message` reads it (MSH-4 namespace
    id, else universal id). The ``*_hd`` fields are MSH-3 to MSH-6 whole, re-encoded with the
    standard delimiters ``^~\\&`` so that a reply can copy them.
    """

    sending_facility: str = ""  # MSH-4.1, else MSH-4.2
    control_id: str = ""  # MSH-10, unescaped
    message_type: str = ""  # MSH-9.1, e.g. ADT
    event: str = ""  # MSH-9.2 (or the ADT_A04 form)
    message_time: str = ""  # MSH-7 as sent
    processing_id: str = ""  # MSH-11.1: P production, T training, D debugging
    version: str = ""  # MSH-12.1
    charset: str = ""  # MSH-18 (first repetition)
    codec: str = "utf-8"  # the Python codec of the message text: encode the reply with it
    sending_application_hd: str = ""  # MSH-3
    sending_facility_hd: str = ""  # MSH-4
    receiving_application_hd: str = ""  # MSH-5
    receiving_facility_hd: str = ""  # MSH-6


def charset_codec(name: str) -> str | None:
    """The Python codec for an MSH-18 character set (HL7 v2.5.1 table 0211), ``None`` when the
    name is unknown (the text is then tried as UTF-8, then GB18030)."""
    key = " ".join(name.upper().split())
    if key in _CHARSETS:
        codec = _CHARSETS[key]
        if codec is None:
            raise Hl7Error(
                "MSH-18",
                f"character set {name!r} is not taken: send UTF-8 or GB18030",
                hl7_code="103",
            )
        return codec
    return None


# ---------------------------------------------------------------------------------------
# Decoding


def _strip_frame(data: str | bytes) -> str | bytes:
    if isinstance(data, bytes):
        data = data.strip(b"\x0b\x1c\r\n \t\x00")
        return data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    data = data.strip("\x0b\x1c\r\n \t\x00")
    return data[1:] if data.startswith("\ufeff") else data


def _msh18(data: bytes) -> str:
    """MSH-18 read from the raw bytes before decoding; "" when absent.

    The delimiters and MSH-18 are ASCII, but a GB18030 (GBK) character in MSH-3 to MSH-6 may
    have ``|`` or ``^`` as its second byte: when the header has non-ASCII bytes and, read as
    GB18030 text, names a GB character set, that reading is the right one.
    """
    end = len(data)
    for stop in (b"\r", b"\n"):
        i = data.find(stop, 0, end)
        if i >= 0:
            end = i
    header = data[:end]
    if len(header) < 4:
        return ""
    name = _field18(header.decode("latin-1"))
    if not header.isascii():
        try:
            gb = _field18(header.decode("gb18030"))
        except UnicodeDecodeError:
            return name
        if _CHARSETS.get(" ".join(gb.upper().split())) == "gb18030":
            return gb
    return name


def _field18(header: str) -> str:
    fields = header.split(header[3], 18)
    if len(fields) < 18:
        return ""
    rep = fields[1][1:2]
    value = fields[17].split(header[3], 1)[0]
    return (value.split(rep, 1)[0] if rep else value).strip()


def _decode(data: bytes, *, strict: bool = True) -> tuple[str, str]:
    """The message text and the Python codec used (chosen by MSH-18, else UTF-8 then GB18030)."""
    name = _msh18(data)
    try:
        codec = charset_codec(name) if name else None
    except Hl7Error:
        if strict:
            raise
        codec = None
    if codec is not None:
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError as exc:
            if strict:
                raise Hl7Error(
                    "MSH-18",
                    f"byte {exc.start} is not valid {name} ({codec}) text",
                    hl7_code="102",
                ) from None
            return data.decode(codec, errors="replace"), codec
    for fallback in _FALLBACK_CODECS:
        try:
            return data.decode(fallback), fallback
        except UnicodeDecodeError:
            continue
    if strict:
        raise Hl7Error(
            "MSH-18",
            "the text is neither UTF-8 nor GB18030: name its character set in MSH-18",
            hl7_code="102",
        )
    return data.decode("utf-8", errors="replace"), "utf-8"


# ---------------------------------------------------------------------------------------
# Escapes (HL7 v2.5.1 section 2.7)


def _unescape(text: str, esc: str, fs: str, cs: str, rs: str, ss: str, codec: str) -> str:
    """Replace the escape sequences ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\Xhh..\\ \\.br\\``; drop
    highlighting, formatting and character-set switches; keep local ``\\Z..\\`` escapes and
    anything unrecognised as they were."""
    parts = text.split(esc)
    if len(parts) < 3:
        return text
    out = [parts[0]]
    i = 1
    n = len(parts)
    while i < n:
        if i + 1 >= n:  # an unterminated escape: keep it literally
            out.append(esc + parts[i])
            break
        seq = parts[i]
        if seq == "F":
            out.append(fs)
        elif seq == "S":
            out.append(cs)
        elif seq == "T":
            out.append(ss)
        elif seq == "R":
            out.append(rs)
        elif seq == "E":
            out.append(esc)
        elif seq in (".br", ".sp"):
            out.append("\n")
        elif seq in ("H", "N") or (seq[:1] in ("C", "M") and _is_hex(seq[1:])):
            pass  # highlighting, character-set switches
        elif seq[:1] == "." and seq[1:3] in _FORMATTING:
            pass
        elif seq[:1] == "Z" and len(seq) > 1:  # locally defined: kept as it was
            out.append(esc + seq + esc)
        elif seq[:1] == "X" and len(seq) % 2 == 1 and _is_hex(seq[1:]):
            out.append(bytes.fromhex(seq[1:]).decode(codec, errors="replace"))
        else:  # not an escape after all: keep the text, the next delimiter may open one
            out.append(esc + seq)
            i += 1
            continue
        out.append(parts[i + 1])
        i += 2
    return "".join(out)


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def _escape(text: str) -> str:
    """Escape ``text`` for a field value under the standard delimiters ``|^~\\&``."""
    if not text:
        return text
    out = (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
    )
    if _CONTROL_RE.search(out):
        out = _CONTROL_RE.sub(lambda m: f"\\X{ord(m.group()):02X}\\", out)
    return out


# ---------------------------------------------------------------------------------------
# Times


def _time(text: str, field: str) -> str:
    """HL7 DTM ``YYYYMMDD[HH[MM[SS[.S]]]][+/-ZZZZ]`` -> ``YYYY-MM-DDTHH:MM:SS`` (wall time)."""
    n = len(text)
    if (n == 14 or (n == 19 and text[14] in "+-" and text[15:].isdigit())) and text[
        :14
    ].isdigit():  # the common YYYYMMDDHHMMSS[+/-ZZZZ]
        y, mo, d, h, mi, s = text[:4], text[4:6], text[6:8], text[8:10], text[10:12], text[12:14]
        if "01" <= mo <= "12" and "01" <= d <= "28" and h < "24" and mi < "60" and s < "60":
            return f"{y}-{mo}-{d}T{h}:{mi}:{s}"
    m = _TIME_RE.fullmatch(text)
    if m is None:
        raise Hl7Error(
            field,
            f"not an HL7 time YYYYMMDD[HH[MM[SS]]][+/-ZZZZ]: {text!r}",
            hl7_code="102",
        )
    y, mo, d, h, mi, s = m.groups()
    h, mi, s = h or "00", mi or "00", s or "00"
    try:
        dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s))
    except ValueError:
        raise Hl7Error(field, f"no such time: {text!r}", hl7_code="102") from None
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}"


def _birth_age(text: str, visit_time: str) -> str:
    """Age in years at the visit from a PID-7 birth date (``YYYY[MM[DD[...]]]``); a date given
    only to the year or month is taken at the middle of that period (but not after the visit)."""
    if len(text) == 8 and text.isdigit():
        y, mo, d = text[:4], text[4:6], text[6:]
    else:
        m = _BIRTH_RE.fullmatch(text)
        if m is None:
            raise Hl7Error("PID-7", f"not an HL7 date YYYYMMDD: {text!r}", hl7_code="102")
        y, mo, d = m.groups()
    visit = dt.date(int(visit_time[:4]), int(visit_time[5:7]), int(visit_time[8:10]))
    try:
        if d:
            birth = dt.date(int(y), int(mo), int(d))
            earliest = birth
        elif mo:
            earliest = dt.date(int(y), int(mo), 1)
            birth = min(dt.date(int(y), int(mo), 15), visit)
        else:
            earliest = dt.date(int(y), 1, 1)
            birth = min(dt.date(int(y), 7, 1), visit)
    except ValueError:
        raise Hl7Error("PID-7", f"no such date: {text!r}", hl7_code="102") from None
    if earliest > visit:
        raise Hl7Error(
            "PID-7", f"birth date {text} is after the visit ({visit_time})", hl7_code="102"
        )
    years = visit.year - birth.year - ((visit.month, visit.day) < (birth.month, birth.day))
    if years >= 1:
        return str(years)
    return _fmt((visit - birth).days / 365.25)


def _fmt(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


# ---------------------------------------------------------------------------------------
# Parsing


_PAD4, _PAD8, _PAD12, _PAD46 = [""] * 4, [""] * 8, [""] * 12, [""] * 46
_STD_ENCODING = "^~\\&"
# OBX-3 identifier -> what it carries.
_TEXT, _LIST, _ONSET, _NUMBER = 1, 2, 3, 4
_OBX_KIND: dict[str, int] = {
    LOINC_CHIEF_COMPLAINT: _TEXT,
    "LAB": _TEXT,
    "EXPOSURE": _LIST,
    "CONTACT": _LIST,
    LOINC_ONSET: _ONSET,
    LOINC_TEMPERATURE: _NUMBER,
    LOINC_AGE: _NUMBER,
    "RES_LAT": _NUMBER,
    "RES_LON": _NUMBER,
}
_VALUE_TYPES = frozenset({"CWE", "CE", "TX", "ST", "FT", "NM", "SN", "TS", "DT", "DTM"})
_NO_VALUE = frozenset({"UNK", "NA", "NI", "ASKU", "NAV", "NASK"})


def _header_segment(text: str) -> tuple[str, list[str], str, str, str, str]:
    """MSH split into fields (index n is MSH-(n+1)) and the delimiters; raises on garbage."""
    if not text.startswith("MSH") or len(text) < 5:
        raise Hl7Error("MSH", "not an HL7 v2 message: no MSH segment", code="AR", hl7_code="100")
    fs = text[3]
    if fs.isalnum() or fs.isspace():
        raise Hl7Error(
            "MSH", "not an HL7 v2 message: no field separator", code="AR", hl7_code="100"
        )
    end = text.find("\r")
    msh = (text[:end] if end >= 0 else text).split(fs)
    enc = msh[1][:4]
    if enc != _STD_ENCODING and (
        not enc
        or len(set(enc)) < len(enc)
        or fs in enc
        or any(c.isalnum() or c.isspace() for c in enc)
    ):
        raise Hl7Error("MSH-2", f"bad encoding characters {enc!r}", code="AR", hl7_code="102")
    pad = "\x00"
    cs, rs, esc, ss = (enc + pad * 3)[:4]
    return fs, msh, cs, rs, esc, ss


def parse_message(data: str | bytes) -> InboundVisit:
    """One ADT A01/A03/A04/A08 message (v2.3.1 or v2.5.1) -> :class:`InboundVisit`.

    Follows the PHIN Messaging Guide for Syndromic Surveillance v2.0 (MSH, EVN, PID, PV1, PV2,
    DG1, OBX; Z-segments ignored) and the HL7 v2.5.1 encoding rules (chapter 2). Segment
    separators may be ``\\r``, ``\\n`` or ``\\r\\n``; delimiters come from MSH-1/MSH-2. Bytes are
    decoded by MSH-18 (absent: UTF-8, then GB18030). Only the columns that the message carries
    are set in ``fields``. Raises :class:`Hl7Error` (a :class:`MessageError`) naming the field.
    """
    if isinstance(data, str):
        text = verbatim = _strip_frame(data)  # type: ignore[assignment]
        codec = "utf-8"
    elif isinstance(data, bytes | bytearray | memoryview):
        stripped = _strip_frame(bytes(data))
        assert isinstance(stripped, bytes)
        if not stripped.startswith(b"MSH"):
            raise Hl7Error(
                "MSH", "not an HL7 v2 message: no MSH segment", code="AR", hl7_code="100"
            )
        text, codec = _decode(stripped)
        verbatim = text
    else:
        raise Hl7Error("MSH", f"not an HL7 v2 message: {type(data).__name__}", code="AR")
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    fs, msh, cs, rs, esc, ss = _header_segment(text)
    msh += _PAD12 + _PAD8

    def val(raw: str, comp: int = 1) -> str:
        """First repetition, component ``comp``, unescaped and stripped ("" for HL7 null)."""
        if not raw:
            return raw
        if rs in raw:
            raw = raw.split(rs, 1)[0]
        if cs in raw:
            parts = raw.split(cs)
            raw = parts[comp - 1] if comp <= len(parts) else ""
        elif comp != 1:
            return ""
        if esc in raw:
            raw = _unescape(raw, esc, fs, cs, rs, ss, codec)
        raw = raw.strip()
        return "" if raw == _NULL else raw

    def unesc(raw: str) -> str:
        if esc in raw:
            raw = _unescape(raw, esc, fs, cs, rs, ss, codec)
        raw = raw.strip()
        return "" if raw == _NULL else raw

    evn = pid = pv1 = pv2 = None
    dg1: list[list[str]] = []
    obx: list[list[str]] = []
    for seg in text.split("\r")[1:]:
        tag = seg[:3]
        if tag == "OBX":
            obx.append(seg.split(fs) + _PAD12)
        elif tag == "DG1":
            dg1.append(seg.split(fs) + _PAD4)
        elif tag == "PID":
            if pid is None:
                pid = seg.split(fs) + _PAD12
        elif tag == "PV1":
            if pv1 is None:
                pv1 = seg.split(fs) + _PAD46
        elif tag == "EVN":
            if evn is None:
                evn = seg.split(fs) + _PAD8
        elif tag == "PV2":
            if pv2 is None:
                pv2 = seg.split(fs) + _PAD4
        elif tag == "MSH":
            raise Hl7Error(
                "MSH",
                "a second MSH segment: one message at a time (cut batches with split_batch)",
                code="AR",
                hl7_code="100",
            )

    # MSH-9 message type and event; MSH-10 control id; MSH-12 version (msh[n] is MSH-(n+1)).
    kind = msh[8].split(rs, 1)[0].split(cs)
    msg_type = unesc(kind[0]).upper()
    event = unesc(kind[1]).upper() if len(kind) > 1 else ""
    if not event and "_" in msg_type:
        msg_type, _, event = msg_type.partition("_")
    if not event and evn is not None:
        event = val(evn[1]).upper()
    if not msg_type:
        raise Hl7Error("MSH-9", "required", code="AR", hl7_code="101")
    if msg_type != "ADT":
        raise Hl7Error(
            "MSH-9",
            f"message type {msg_type!r} is not taken: send ADT A01, A03, A04 or A08",
            code="AR",
            hl7_code="200",
        )
    if event not in EVENTS:
        raise Hl7Error(
            "MSH-9",
            f"event {event!r} is not taken: send A01, A03, A04 or A08",
            code="AR",
            hl7_code="201",
        )
    control_id = val(msh[9])
    if not control_id:
        raise Hl7Error("MSH-10", "required", code="AR", hl7_code="101")
    version = val(msh[11])
    if version and not version.startswith("2."):
        raise Hl7Error(
            "MSH-12",
            f"version {version!r} is not taken: send 2.3.1 or 2.5.1",
            code="AR",
            hl7_code="203",
        )
    message_time = val(msh[6])
    if message_time:
        message_time = _time(message_time, "MSH-7")

    # Sending facility (MSH-4) and treating facility (EVN-7): HD namespace id, else universal id.
    sender = val(msh[3]) or val(msh[3], 2)
    treating = (val(evn[7]) or val(evn[7], 2)) if evn is not None else ""
    if not sender and not treating:
        raise Hl7Error("MSH-4", "required", hl7_code="101")

    # PV1: visit number and admit time (required), class, disposition, discharge time.
    if pv1 is None:
        raise Hl7Error("PV1", "required segment missing", hl7_code="100")
    visit_id = val(pv1[19])
    if not visit_id:
        raise Hl7Error("PV1-19", "required", hl7_code="101")
    admit = val(pv1[44])
    if not admit:
        raise Hl7Error("PV1-44", "required", hl7_code="101")
    visit_time = _time(admit, "PV1-44")

    fields: dict[str, str] = {
        "visit_id": visit_id,
        "facility_id": treating or sender,
        "visit_time": visit_time,
    }
    origins: dict[str, str] = {
        "visit_id": "PV1-19",
        "facility_id": "EVN-7" if treating else "MSH-4",
        "visit_time": "PV1-44",
    }
    if value := val(pv1[2]):
        fields["patient_class"] = value
        origins["patient_class"] = "PV1-2"
    if value := val(pv1[36]):
        fields["disposition"] = value
        origins["disposition"] = "PV1-36"
    if value := val(pv1[45]):
        fields["discharge_time"] = _time(value, "PV1-45")
        origins["discharge_time"] = "PV1-45"

    if pid is not None:
        if value := val(pid[3]):
            fields["patient_id"] = value
            origins["patient_id"] = "PID-3"
        if value := val(pid[8]).upper():
            fields["sex"] = _SEXES.get(value, value)
            origins["sex"] = "PID-8"
        if address := pid[11]:
            for rep in address.split(rs) if rs in address else (address,):
                if value := val(rep, 9):
                    fields["residence_region"] = value
                    origins["residence_region"] = "PID-11.9"
                    break
                if value := val(rep, 8):
                    fields["residence_region"] = value
                    origins["residence_region"] = "PID-11.8"
                    break

    if (
        pv2 is not None
        and (reason := pv2[3])
        and (value := val(reason, 2) or val(reason, 9) or val(reason, 1))
    ):
        fields["chief_complaint"] = value
        origins["chief_complaint"] = "PV2-3"

    if dg1:
        codes: list[str] = []
        for seg in dg1:
            coded = seg[3]
            system = val(coded, 3).upper() if cs in coded else ""
            if system and "10" not in system:  # ICD-9, SNOMED CT, local codes: not taken
                continue
            code = val(coded)
            if code and code not in codes:
                codes.append(code)
        if codes:
            fields["diagnosis_codes"] = ";".join(codes)
            origins["diagnosis_codes"] = "DG1-3"

    if obx:
        _observations(obx, fields, origins, val, unesc, cs, rs)

    if "age" not in fields and pid is not None and (birth := val(pid[7])):
        fields["age"] = _birth_age(birth, visit_time)
        origins["age"] = "PID-7"

    return InboundVisit(
        facility_id=sender or treating,
        control_id=control_id,
        event=event,
        message_time=message_time,
        fields=fields,
        raw=verbatim,
        origins=origins,
    )


def _observations(
    obx: list[list[str]],
    fields: dict[str, str],
    origins: dict[str, str],
    val: Callable[..., str],
    unesc: Callable[[str], str],
    cs: str,
    rs: str,
) -> None:
    """The OBX segments the PHIN guide names (LOINC) and the local codes, into ``fields``."""
    texts: dict[str, list[str]] = {}
    lists: dict[str, list[str]] = {}
    for seg in obx:
        ident = seg[3]
        code = ident.partition(cs)[0]
        kind = _OBX_KIND.get(code)
        if kind is None:
            if rs in ident:
                ident = ident.split(rs, 1)[0]
            parts = ident.split(cs)
            code = parts[0].strip()
            if code not in _OBX_KIND and len(parts) > 3:
                code = parts[3].strip()  # the LOINC code as alternate identifier
            kind = _OBX_KIND.get(code)
            if kind is None:
                continue
        raw = seg[5]
        status = seg[11]
        if not raw or (status and status != "F" and status.strip().upper() in _SKIPPED_STATUS):
            continue
        vtype = seg[2]
        if vtype not in _VALUE_TYPES:
            vtype = vtype.strip().upper()
        if kind == _TEXT:
            found = []
            for rep in raw.split(rs) if rs in raw else (raw,):
                if vtype in _CODED:  # original text (CWE-9), else text (2), else code (1)
                    parts = rep.split(cs)
                    n = len(parts)
                    if n > 8 and parts[8].strip():
                        rep = parts[8]
                    elif n > 1 and parts[1].strip():
                        rep = parts[1]
                    else:
                        rep = parts[0]
                if text := unesc(rep):
                    found.append(text)
            if found:
                texts.setdefault(code, []).append(" ".join(found))
        elif kind == _LIST:
            items = lists.setdefault(code, [])
            for rep in raw.split(rs) if rs in raw else (raw,):
                if item := unesc(rep.split(cs, 1)[0] if vtype in _CODED else rep):
                    items.append(item)
        elif kind == _ONSET:
            if when := val(raw):
                where = f"OBX-5 ({code})"
                fields["onset_date"] = _time(when, where)[:10]
                origins["onset_date"] = where
        else:
            number = val(raw, 2) if vtype == "SN" else val(raw)
            if not number or number.upper() in _NO_VALUE:
                continue
            where = f"OBX-5 ({code})"
            unit = seg[6]
            if unit:
                unit = (val(unit) or val(unit, 2)).lower()
            if code == LOINC_TEMPERATURE:
                if "temperature_c" in fields:
                    continue  # the first reading
                if unit in _CELSIUS:
                    fields["temperature_c"] = number
                elif unit in _FAHRENHEIT:
                    fields["temperature_c"] = _fmt((_float(number, where) - 32) / 1.8)
                else:
                    raise Hl7Error(
                        f"OBX-6 ({code})",
                        f"unknown temperature unit {unit!r}: use Cel or [degF]",
                        hl7_code="103",
                    )
                origins["temperature_c"] = where
            elif code == LOINC_AGE:
                factor = _AGE_UNITS.get(unit)
                if factor is None:
                    raise Hl7Error(
                        f"OBX-6 ({code})",
                        f"unknown age unit {unit!r}: use a, mo, wk or d",
                        hl7_code="103",
                    )
                fields["age"] = number if factor == 1.0 else _fmt(_float(number, where) * factor)
                origins["age"] = where
            else:
                column = "residence_lat" if code == "RES_LAT" else "residence_lon"
                fields[column] = number
                origins[column] = where
    if found := texts.get(LOINC_CHIEF_COMPLAINT):
        fields["chief_complaint"] = "; ".join(found)
        origins["chief_complaint"] = f"OBX-5 ({LOINC_CHIEF_COMPLAINT})"
    if found := texts.get("LAB"):
        fields["lab_result"] = "; ".join(found)
        origins["lab_result"] = "OBX-5 (LAB)"
    for code, column in (("EXPOSURE", "exposures"), ("CONTACT", "contacts")):
        if found := lists.get(code):
            fields[column] = ";".join(found)
            origins[column] = f"OBX-5 ({code})"


def _float(text: str, field: str) -> float:
    if not _NUMBER_RE.fullmatch(text):
        raise Hl7Error(field, f"not a number: {text!r}", hl7_code="102")
    return float(text)


# ---------------------------------------------------------------------------------------
# Batches


def split_batch(data: str | bytes) -> list[str | bytes]:
    """Cut an HTTP body into messages: MLLP frames (``\\x0b`` ... ``\\x1c\\r``), an FHS/BHS
    batch (HL7 v2.5.1 section 2.10.3; the envelope segments are dropped) or messages one after
    another, each starting at a line that begins with ``MSH``. Blank lines are dropped; text
    that belongs to no message is returned as a message of its own (it fails to parse, and the
    sender hears of it). Each message keeps the type of ``data``."""
    if isinstance(data, str):
        return _split(data, "\x0b", "\x1c", "\r", "\n", "\r\n \t")
    return _split(bytes(data), b"\x0b", b"\x1c", b"\r", b"\n", b"\r\n \t")


def _split(data: Any, vt: Any, eb: Any, cr: Any, lf: Any, ws: Any) -> list[Any]:
    chunks = [data]
    if vt in data:
        chunks = []
        for piece in data.split(eb):
            start = piece.find(vt)
            if start < 0:
                chunks.append(piece)
            else:
                chunks += (piece[:start], piece[start + 1 :])
    pattern = _SEGMENT_START[type(data)]
    envelope = tuple(tag if isinstance(data, str) else tag.encode() for tag in _ENVELOPE)
    messages = []
    for chunk in chunks:
        for part in pattern.split(chunk):
            part = part.strip(ws)
            if part.startswith(envelope):
                ends = [i for i in (part.find(cr), part.find(lf)) if i >= 0]
                part = part[min(ends) :].strip(ws) if ends else part[:0]
            if part:
                messages.append(part)
    return messages


# ---------------------------------------------------------------------------------------
# Header and acknowledgement


def read_header(data: str | bytes | None) -> Header:
    """The MSH segment of a message as far as it can be read; never raises."""
    if data is None:
        return Header()
    try:
        return _read_header(data)
    except Exception:  # noqa: BLE001 - a reply must be possible for any input
        return Header()


def _read_header(data: str | bytes) -> Header:
    codec = "utf-8"
    if isinstance(data, bytes | bytearray | memoryview):
        raw = _strip_frame(bytes(data))
        assert isinstance(raw, bytes)
        if not raw.startswith(b"MSH"):
            return Header()
        end = min((i for i in (raw.find(b"\r"), raw.find(b"\n")) if i >= 0), default=len(raw))
        text, codec = _decode(raw[:end], strict=False)
        charset = _msh18(raw)
    else:
        text = _strip_frame(data)  # type: ignore[assignment]
        charset = ""
    if not text.startswith("MSH") or len(text) < 5:
        return Header()
    end = min((i for i in (text.find("\r"), text.find("\n")) if i >= 0), default=len(text))
    line = text[:end]
    fs = line[3]
    msh = line.split(fs)
    enc = msh[1][:4] if len(msh) > 1 else ""
    cs = enc[0] if len(enc) > 0 else "^"
    rs = enc[1] if len(enc) > 1 else "~"
    esc = enc[2] if len(enc) > 2 else "\\"
    ss = enc[3] if len(enc) > 3 else "&"

    def field(n: int) -> str:
        raw = msh[n - 1] if n - 1 < len(msh) and n > 1 else ""
        return raw.split(rs, 1)[0] if rs in raw else raw

    def comps(n: int) -> list[str]:
        return [_unescape(c, esc, fs, cs, rs, ss, codec).strip() for c in field(n).split(cs)]

    def hd(n: int) -> str:
        parts = [_escape(c.split(ss, 1)[0]) for c in comps(n)]
        while parts and not parts[-1]:
            parts.pop()
        return "^".join(parts)

    mtype = comps(9)
    msg_type = mtype[0].upper()
    event = mtype[1].upper() if len(mtype) > 1 else ""
    if not event and "_" in msg_type:
        msg_type, _, event = msg_type.partition("_")
    if not charset and len(msh) > 17:
        charset = msh[17].split(rs, 1)[0].strip()
    facility = comps(4)
    return Header(
        sending_facility=facility[0].split(ss, 1)[0]
        or (facility[1].split(ss, 1)[0] if len(facility) > 1 else ""),
        sending_application_hd=hd(3),
        sending_facility_hd=hd(4),
        receiving_application_hd=hd(5),
        receiving_facility_hd=hd(6),
        message_time=field(7).strip(),
        message_type=msg_type,
        event=event,
        control_id=comps(10)[0],
        processing_id=comps(11)[0],
        version=comps(12)[0],
        charset=charset,
        codec=codec,
    )


def error_code(error: MessageError) -> str:
    """The HL7 table 0357 code for ERR-3: an :class:`Hl7Error`'s own, else judged from it
    (101 required, 103 unknown value, 102 bad value of a named field, 207 otherwise)."""
    if isinstance(error, Hl7Error):
        return error.hl7_code
    reason = error.reason.lower()
    if reason.startswith("required"):
        return "101"
    if reason.startswith("unknown"):
        return "103"
    return "102" if error.field else "207"


def _location(field: str | None) -> str:
    """ERR-2 error location (ERL) from a field name like ``PID-7``, ``PID-3.1`` or
    ``OBX-5 (11289-6)``: ``segment^1^field[^1^component]``."""
    m = _FIELD_RE.match(field or "")
    if m is None:
        return ""
    seg, number, comp = m.groups()
    if number is None:
        return f"{seg}^1"
    if comp is None:
        return f"{seg}^1^{number}"
    return f"{seg}^1^{number}^1^{comp}"


def ack(
    message: str | bytes | None,
    code: str,
    *,
    control_id: str,
    error: MessageError | None = None,
    now: dt.datetime | None = None,
    header: Header | None = None,
) -> str:
    """An ACK (HL7 v2.5.1 chapter 2, original acknowledgement mode) to ``message``.

    MSH sender and receiver are swapped from the original when it can be read, MSH-9 is
    ``ACK^<event>^ACK``, MSA-1 ``code`` (AA, AE, AR), MSA-2 ``control_id``; with ``error`` an
    ERR segment: ERR-2 location (``PID^1^7``), ERR-3 table 0357 code, ERR-4 severity ``E``,
    ERR-8 the reason (MSA-3 repeats it for v2.3.1 receivers). Segments end with ``\\r``.
    Encode the reply with :attr:`Header.codec` of the original (``read_header``); pass that
    ``header`` when you have it, to read the message once.
    """
    if header is None:
        header = read_header(message)
    now = now or dt.datetime.now()
    stamp = now.strftime("%Y%m%d%H%M%S") + (now.strftime("%z") if now.tzinfo else "")
    version = header.version if header.version.startswith("2.") else "2.5.1"
    msh = [
        "MSH",
        "^~\\&",
        header.receiving_application_hd,
        header.receiving_facility_hd,
        header.sending_application_hd,
        header.sending_facility_hd,
        stamp,
        "",
        f"ACK^{_escape(header.event)}^ACK" if header.event else "ACK",
        uuid.uuid4().hex[:20].upper(),
        _escape(header.processing_id) or "P",
        _escape(version),
    ]
    if _CHARSETS.get(" ".join(header.charset.upper().split())):  # one the reply can be in
        msh += [""] * 5 + [_escape(header.charset)]
    msa = ["MSA", _escape(code), _escape(control_id)]
    segments = ["|".join(msh)]
    if error is None:
        segments.append("|".join(msa))
    else:
        hl7_code = error_code(error)
        reason = error.reason if error.field is None else f"{error.field}: {error.reason}"
        msa.append(_escape(reason[:80]))
        segments.append("|".join(msa))
        location = _location(error.field)
        eld = "^".join((location.split("^") + ["", "", ""])[:3])
        err1 = f"{eld}^{hl7_code}&{ERROR_TEXT.get(hl7_code, '')}&HL70357" if location else ""
        err = [
            "ERR",
            err1 if version.startswith(("2.3", "2.4")) else "",
            location,
            f"{hl7_code}^{ERROR_TEXT.get(hl7_code, '')}^HL70357",
            "E",
            "",
            "",
            "",
            _escape(reason),
        ]
        segments.append("|".join(err))
    return "\r".join(segments) + "\r"
