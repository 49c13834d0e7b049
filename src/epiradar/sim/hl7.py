"""Simulated visits as HL7 v2 ADT messages, for tests and benchmarks of the message intake.

Each visit becomes an A04 (registration), for a fraction ``updates`` a later A08 carrying the
diagnosis codes (DG1) and laboratory result, and for visits with a discharge (given, or drawn
for a fraction ``discharges``) an A03 with PV1-36/PV1-45. Every message carries the visit's
full current state, as the PHIN Messaging Guide for Syndromic Surveillance (v2.0) asks, so the
last message of a visit read by ``ingest.hl7v2.parse_message`` gives back all its fields.
Ages are sent as a PID-7 birth date or an OBX 21612-7 age (months under two years); some
temperatures in degrees Fahrenheit; some chief complaints in PV2-3 instead of OBX 8661-1.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from epiradar.model import VISIT_COLUMNS

CHARSETS = {"utf-8": "UNICODE UTF-8", "gb18030": "GB 18030-2000", "gbk": "GBK"}
"""Python codec -> MSH-18 value written."""
DISPOSITIONS = np.array(["01", "01", "01", "01", "09", "07", "02"])  # HL7 table 0112 codes
DEFAULT_CLASS = "O"  # fever clinics are outpatient departments (HL7 table 0004)
P_BIRTH_DATE = 0.5  # age as PID-7 birth date rather than OBX 21612-7
P_FAHRENHEIT = 0.1
P_COMPLAINT_IN_PV2 = 0.2
FILE_SEPARATOR = "\r\n"


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
        .replace("\r", "\\X0D\\")
        .replace("\n", "\\X0A\\")
    )


def _hl7_time(iso: str) -> str:
    """``YYYY-MM-DDTHH:MM[:SS]`` -> ``YYYYMMDDHHMMSS``."""
    return iso[0:4] + iso[5:7] + iso[8:10] + iso[11:13] + iso[14:16] + (iso[17:19] or "00")


def _as_text(visits: pd.DataFrame) -> pd.DataFrame:
    """The canonical columns as text ("" = unknown), as ``visits.csv`` read with dtype=str."""
    frame = visits.reindex(columns=list(VISIT_COLUMNS))
    if all(frame[c].map(lambda v: isinstance(v, str)).all() for c in frame.columns):
        return frame
    frame = frame.copy()
    if pd.api.types.is_numeric_dtype(frame["age"]):  # whole years, as the simulator writes them
        frame["age"] = frame["age"].round().astype("Int64")
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    buffer.seek(0)
    return pd.read_csv(buffer, dtype=str, keep_default_na=False)


def _birth_date(age: int, visit: dt.date, rng: np.random.Generator) -> dt.date:
    """A birth date at which someone is ``age`` full years old on ``visit``."""

    def anniversary(years: int) -> dt.date:
        try:
            return visit.replace(year=visit.year - years)
        except ValueError:  # 29 February in a common year
            return dt.date(visit.year - years, 2, 28)

    latest, before = anniversary(age), anniversary(age + 1)
    return latest - dt.timedelta(days=int(rng.integers(0, (latest - before).days)))


@dataclass
class _Draws:
    """Per-visit random choices, drawn vectorised."""

    birth: bool
    fahrenheit: bool
    in_pv2: bool
    update: bool
    discharge: bool
    a04_delay: int
    a08_delay: int
    stay: int
    a03_delay: int
    disposition: str


@dataclass
class _Format:
    version: str
    charset: str

    @property
    def new(self) -> bool:
        return self.version == "2.5.1"

    @property
    def offset(self) -> str:
        return "+0800" if self.new else ""

    def stamp(self, when: dt.datetime) -> str:
        return when.strftime("%Y%m%d%H%M%S") + self.offset

    def header(
        self, event: str, when: dt.datetime, structure: str, control_id: str, fac: str
    ) -> str:
        message_type = f"ADT^{event}^{structure}" if self.new else f"ADT^{event}"
        msh = ["MSH", "^~\\&", "EPIRADAR-SIM", fac, "EPIRADAR", "CDC", self.stamp(when), ""]
        msh += [message_type, _escape(control_id), "P", self.version, "", "", "", "", "CHN"]
        evn = f"EVN|{event}|{self.stamp(when)}"
        return "|".join([*msh, self.charset]) + "\r" + (f"{evn}|||||{fac}" if self.new else evn)


_OBX = tuple[str, str, str, str]  # value type, OBX-3, OBX-5, OBX-6
_AGE = "21612-7^Age Time Patient Reported^LN"
_COMPLAINT = "8661-1^Chief complaint:Find:Pt:Patient:Nom:Reported^LN"
_TEMPERATURE = "11289-6^Body temperature^LN"
_ONSET = "11368-8^Illness or injury onset date and time^LN"


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(";") if item.strip()]


def _visit_messages(
    row: dict[str, str], draw: _Draws, fmt: _Format, rng: np.random.Generator
) -> list[tuple[dt.datetime, str]]:
    """The A04, A08 and A03 messages of one visit (each with the full current state)."""
    visit_id = row["visit_id"]
    fac = _escape(row["facility_id"])
    visit_time = dt.datetime.fromisoformat(row["visit_time"][:19])
    pid = ["PID", "1", "", f"{_escape(row['patient_id'])}^^^{fac}^MR", "", "~^^^^^^S"]
    pid += ["", "", _escape(row["sex"]), "", "", ""]
    obx: list[_OBX] = []
    if age := row["age"]:
        years = float(age)
        if draw.birth and years >= 1 and years.is_integer():
            pid[7] = _birth_date(int(years), visit_time.date(), rng).strftime("%Y%m%d")
        elif years < 2 and years.is_integer():
            obx.append(("NM", _AGE, str(int(years) * 12), "mo^month^UCUM"))
        else:
            obx.append(("NM", _AGE, _escape(age), "a^year^UCUM"))
    if row["residence_region"]:
        pid[11] = f"^^^^^CHN^H^^{_escape(row['residence_region'])}"
    pv1 = ["PV1", "1", _escape(row["patient_class"] or DEFAULT_CLASS)] + [""] * 43
    pv1[19] = f"{_escape(visit_id)}^^^{fac}^VN" if fmt.new else _escape(visit_id)
    pv1[44] = _hl7_time(row["visit_time"]) + fmt.offset
    pv2 = []
    if complaint := row["chief_complaint"]:
        if draw.in_pv2:
            pv2 = [f"PV2|||^{_escape(complaint)}"]
        elif fmt.new:
            obx.append(("CWE", _COMPLAINT, "^" * 8 + _escape(complaint), ""))
        else:
            obx.append(("TX", _COMPLAINT, _escape(complaint), ""))
    if temperature := row["temperature_c"]:
        if draw.fahrenheit:
            value = f"{float(temperature) * 1.8 + 32:.2f}"
            obx.append(("NM", _TEMPERATURE, value, "[degF]^degree Fahrenheit^UCUM"))
        else:
            obx.append(("NM", _TEMPERATURE, _escape(temperature), "Cel^degree Celsius^UCUM"))
    if onset := row["onset_date"]:
        obx.append(("TS" if fmt.new else "DT", _ONSET, onset.replace("-", ""), ""))
    for column, code in (("residence_lat", "RES_LAT"), ("residence_lon", "RES_LON")):
        if row[column]:
            label = f"{code}^Residence {column[10:]}itude^L"
            obx.append(("NM", label, _escape(row[column]), "deg^degree^UCUM"))
    obx += [("ST", "EXPOSURE^Exposure place^L", _escape(p), "") for p in _items(row["exposures"])]
    obx += [("ST", "CONTACT^Close contact^L", _escape(c), "") for c in _items(row["contacts"])]
    lab = row["lab_result"]
    late_obx: list[_OBX] = [("ST", "LAB^Laboratory result^L", _escape(lab), "")] if lab else []
    coded = _hl7_time(row["visit_time"])
    dg1 = [
        f"DG1|{k}||{_escape(code)}^^I10||{coded}|W"
        for k, code in enumerate(_items(row["diagnosis_codes"]), 1)
    ]

    def message(
        event: str, when: dt.datetime, late: bool, visit: list[str]
    ) -> tuple[dt.datetime, str]:
        structure = "ADT_A03" if event == "A03" else "ADT_A01"
        observations = obx + late_obx if late else obx
        segments = [fmt.header(event, when, structure, f"{visit_id}-{event}", fac)]
        segments += ["|".join(pid), "|".join(visit), *pv2]
        segments += [
            f"OBX|{k}|{vt}|{ident}||{value}|{unit}|||||F"
            for k, (vt, ident, value, unit) in enumerate(observations, 1)
        ]
        segments += dg1 if late else []
        return when, "\r".join(segments) + "\r"

    a04 = visit_time + dt.timedelta(minutes=draw.a04_delay)
    out = [message("A04", a04, not draw.update, pv1)]
    if draw.update:
        out.append(message("A08", visit_time + dt.timedelta(minutes=draw.a08_delay), True, pv1))
    if row["discharge_time"] or draw.discharge:
        if row["discharge_time"]:
            left = dt.datetime.fromisoformat(row["discharge_time"][:19])
            how = row["disposition"]
        else:
            left = visit_time + dt.timedelta(minutes=draw.stay)
            how = row["disposition"] or draw.disposition
        closed = list(pv1)
        closed[36] = _escape(how)
        closed[45] = fmt.stamp(left)
        when = max(left, a04) + dt.timedelta(minutes=draw.a03_delay)
        out.append(message("A03", when, True, closed))
    return out


def hl7_messages(
    visits: pd.DataFrame,
    *,
    seed: int = 0,
    updates: float = 0.2,
    discharges: float = 0.3,
    version: str = "2.5.1",
    encoding: str = "utf-8",
) -> list[str]:
    """HL7 v2 ADT messages for ``visits`` (canonical columns), ordered by message time.

    One A04 per visit; a later A08 (diagnosis codes, lab result) for a fraction ``updates``;
    an A03 for visits with a ``discharge_time`` and for a fraction ``discharges`` of the others
    (drawn time and disposition). MSH-10 is ``<visit_id>-<event>``, unique per message.
    ``encoding`` (utf-8, gb18030, gbk) is declared in MSH-18: encode the texts with it.
    ``version`` is 2.5.1 (EVN-7, CWE, time offsets) or 2.3.1 (CE/TX, no EVN-7).
    """
    codec = codecs.lookup(encoding).name
    if codec not in CHARSETS:
        raise ValueError(f"unsupported encoding {encoding!r}: use one of {', '.join(CHARSETS)}")
    if version not in ("2.5.1", "2.3.1"):
        raise ValueError(f"unsupported version {version!r}: use 2.5.1 or 2.3.1")
    fmt = _Format(version, CHARSETS[codec])
    frame = _as_text(visits)
    n = len(frame)
    rng = np.random.default_rng(seed)
    draws = zip(
        (rng.random(n) < P_BIRTH_DATE).tolist(),
        (rng.random(n) < P_FAHRENHEIT).tolist(),
        (rng.random(n) < P_COMPLAINT_IN_PV2).tolist(),
        (rng.random(n) < updates).tolist(),
        (rng.random(n) < discharges).tolist(),
        rng.integers(1, 16, n).tolist(),
        rng.integers(30, 241, n).tolist(),
        rng.integers(30, 361, n).tolist(),
        rng.integers(1, 11, n).tolist(),
        rng.choice(DISPOSITIONS, n).tolist(),
        strict=True,
    )
    rows = frame.loc[:, list(VISIT_COLUMNS)].to_dict("records")
    out: list[tuple[dt.datetime, int, str]] = []
    for row, draw in zip(rows, draws, strict=True):
        for when, text in _visit_messages(row, _Draws(*draw), fmt, rng):
            out.append((when, len(out), text))
    out.sort(key=lambda item: (item[0], item[1]))
    return [text for _, _, text in out]


def write_hl7(
    visits: pd.DataFrame,
    path: str | Path,
    *,
    seed: int = 0,
    updates: float = 0.2,
    discharges: float = 0.3,
    version: str = "2.5.1",
    encoding: str = "utf-8",
) -> Path:
    """Write :func:`hl7_messages` to ``path`` in ``encoding``: each segment ends with ``\\r\\n``
    and a blank line separates messages (readable in an editor; ``split_batch`` cuts it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    messages = hl7_messages(
        visits,
        seed=seed,
        updates=updates,
        discharges=discharges,
        version=version,
        encoding=encoding,
    )
    text = FILE_SEPARATOR.join(m.replace("\r", FILE_SEPARATOR) for m in messages)
    path.write_bytes(text.encode(encoding))
    return path
