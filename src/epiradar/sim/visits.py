"""Vectorised synthesis of visit attributes and assembly into the canonical visit table."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from epiradar.model import VISIT_COLUMNS
from epiradar.sim import clinical as cl
from epiradar.sim.geo import choose_in_rows, row_cdf
from epiradar.sim.layout import CityLayout

COLUMNS: tuple[str, ...] = VISIT_COLUMNS[: VISIT_COLUMNS.index("lab_result") + 1]
"""The simulated columns: a visit as first registered (the closing fields stay unknown)."""
EXPOSURE_SLOTS = 4  # slot 0 is reserved for an outbreak exposure, 1-3 for background places
P_N_PLACES = np.array([0.25, 0.35, 0.28, 0.12])  # background places reported: 0, 1, 2, 3
P_EXPOSURE_DATED = 0.5
EXPOSURE_LOOKBACK = 14
P_ONSET_OFFSET = np.array([0.25, 0.35, 0.25, 0.15])  # onset 0-3 days before the visit
P_ONSET_MISSING = 0.08
P_NO_REGION = 0.03  # coordinates but no region: ingestion must geocode
P_NO_RESIDENCE = 0.01
P_NO_COORDS = 0.05  # region but no coordinates
P_TEMP_MISSING = 0.04
P_AGE_MISSING = 0.01
P_SEX = np.array([0.49, 0.495, 0.015])  # M, F, U
SEX = np.array(["M", "F", "U"], dtype=np.dtypes.StringDType())

_COMPLAINTS = cl.complaint_table()
_CODES, _CODE_W = cl.code_table()
_LABS, _LAB_OFF, _LAB_LEN, _LAB_P = cl.lab_table()
_CODE_INDEX = {c: i for i, c in enumerate(_CODES.tolist())}
_IMPLIED_CODE = np.array(
    [_CODE_INDEX.get(c, -1) for c in _COMPLAINTS.code.tolist()], dtype=np.int64
)


@dataclass
class VisitBatch:
    """Visits as numeric arrays (indices into the layout and the clinical tables)."""

    day: np.ndarray  # visit day, index from the first simulated date
    minute: np.ndarray
    syndrome: np.ndarray
    region: np.ndarray  # true home region
    home: np.ndarray  # (n, 2) km
    facility: np.ndarray
    patient: np.ndarray  # internal patient key
    age: np.ndarray
    sex: np.ndarray
    complaint: np.ndarray
    temperature: np.ndarray
    code1: np.ndarray  # -1: none
    code2: np.ndarray
    onset: np.ndarray  # day index; _MISSING when unknown
    exp_place: np.ndarray  # (n, EXPOSURE_SLOTS), -1: none
    exp_day: np.ndarray  # (n, EXPOSURE_SLOTS), _MISSING: no date
    lab: np.ndarray  # -1: none
    show_region: np.ndarray
    show_coords: np.ndarray
    case: np.ndarray  # outbreak case number, -1 for background visits
    contacts: dict[int, list[int]] = field(default_factory=dict)  # row -> patient keys

    def __len__(self) -> int:
        return len(self.day)

    def take(self, idx: np.ndarray) -> VisitBatch:
        contacts: dict[int, list[int]] = {}
        if self.contacts:
            new_row = np.full(len(self), -1, dtype=np.int64)
            new_row[idx] = np.arange(len(idx))
            contacts = {int(new_row[r]): c for r, c in self.contacts.items() if new_row[r] >= 0}
        arrays = {f.name: getattr(self, f.name)[idx] for f in fields(self) if f.name != "contacts"}
        return VisitBatch(**arrays, contacts=contacts)

    @staticmethod
    def concat(batches: list[VisitBatch]) -> VisitBatch:
        arrays = {
            f.name: np.concatenate([getattr(b, f.name) for b in batches])
            for f in fields(VisitBatch)
            if f.name != "contacts"
        }
        contacts: dict[int, list[int]] = {}
        start = 0
        for b in batches:
            for r, c in b.contacts.items():
                contacts[start + r] = c
            start += len(b)
        return VisitBatch(**arrays, contacts=contacts)


_MISSING = np.iinfo(np.int64).min


def _pick(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    return np.searchsorted(np.cumsum(p), rng.uniform(size=n) * np.sum(p), side="right").clip(
        0, len(p) - 1
    )


def _rowwise(rng: np.random.Generator, weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Column drawn from the (unnormalised) distribution ``weights[rows[i]]``."""
    cdf = row_cdf(weights)
    return choose_in_rows(cdf, weights.shape[1], rows, rng.uniform(size=len(rows)))


def synthesize(
    layout: CityLayout,
    rng: np.random.Generator,
    *,
    day: np.ndarray,
    syndrome: np.ndarray,
    region: np.ndarray,
    home: np.ndarray | None = None,
    patient: np.ndarray | None = None,
) -> VisitBatch:
    """Everything else about visits of the given day, syndrome and home region: clinic, time,
    person, complaint text, temperature, codes, onset, background places, lab, missingness."""
    n = len(day)
    day = np.asarray(day, dtype=np.int64)
    syndrome = np.asarray(syndrome, dtype=np.int64)
    region = np.asarray(region, dtype=np.int64)
    if home is None:
        home = layout.random_homes(region, rng)
    facility = layout.choose_clinic(home, rng)
    minute = _pick(rng, cl.HOURS, n) * 60 + rng.integers(0, 60, n)

    band = _rowwise(rng, cl.AGE_MIX, syndrome)
    lo, hi = cl.AGE_EDGES[band], cl.AGE_EDGES[band + 1]
    age = np.floor(lo + rng.uniform(size=n) * (hi - lo))
    sex = _pick(rng, P_SEX, n)

    febrile = rng.uniform(size=n) < cl.P_FEBRILE[syndrome]
    temperature = np.where(
        febrile,
        np.minimum(38.0 + rng.gamma(2.0, 0.35, n), 41.5),
        np.clip(rng.normal(36.7, 0.3, n), 35.5, 37.9),
    )
    temperature = np.round(temperature, 1)
    temperature[rng.uniform(size=n) < P_TEMP_MISSING] = np.nan

    lang = _pick(rng, cl.LANG_SHARE, n)
    f_idx = (~febrile).astype(np.int64)
    off = _COMPLAINTS.offset[syndrome, f_idx, lang]
    length = _COMPLAINTS.length[syndrome, f_idx, lang]
    complaint = off + (rng.uniform(size=n) * length).astype(np.int64)

    code1 = _rowwise(rng, _CODE_W, syndrome)
    implied = _IMPLIED_CODE[complaint]
    code1 = np.where(implied >= 0, implied, code1)
    code1[rng.uniform(size=n) >= cl.P_CODED] = -1
    r50 = _CODE_INDEX["R50.9"]
    second = (
        febrile & (code1 >= 0) & (code1 != r50) & (rng.uniform(size=n) < cl.P_SECOND_FEVER_CODE)
    )
    code2 = np.where(second, r50, -1)

    onset = day - _pick(rng, P_ONSET_OFFSET, n)
    onset[syndrome == cl.OTHER] = day[syndrome == cl.OTHER]
    onset[rng.uniform(size=n) < P_ONSET_MISSING] = _MISSING

    child = age < 18
    exp_place = np.full((n, EXPOSURE_SLOTS), -1, dtype=np.int64)
    k = _pick(rng, P_N_PLACES, n)
    chosen = layout.choose_places(home, child, EXPOSURE_SLOTS - 1, rng)
    for j in range(EXPOSURE_SLOTS - 1):
        dup = np.zeros(n, dtype=bool)
        for i in range(j):
            dup |= chosen[:, j] == chosen[:, i]
        exp_place[:, j + 1] = np.where((j < k) & ~dup, chosen[:, j], -1)
    lookback = np.floor(EXPOSURE_LOOKBACK * rng.uniform(size=(n, EXPOSURE_SLOTS)) ** 1.5).astype(
        np.int64
    )
    dated = rng.uniform(size=(n, EXPOSURE_SLOTS)) < P_EXPOSURE_DATED
    exp_day = np.where(dated & (exp_place >= 0), day[:, None] - lookback, _MISSING)

    has_lab = rng.uniform(size=n) < _LAB_P[syndrome]
    lab = np.where(
        has_lab,
        _LAB_OFF[syndrome] + (rng.uniform(size=n) * _LAB_LEN[syndrome]).astype(np.int64),
        -1,
    )

    u = rng.uniform(size=n)
    show_region = u >= P_NO_REGION + P_NO_RESIDENCE
    show_coords = (u >= P_NO_RESIDENCE) & (~show_region | (rng.uniform(size=n) >= P_NO_COORDS))

    age[rng.uniform(size=n) < P_AGE_MISSING] = np.nan
    return VisitBatch(
        day=day,
        minute=minute,
        syndrome=syndrome,
        region=region,
        home=home,
        facility=facility,
        patient=np.arange(n, dtype=np.int64) if patient is None else patient,
        age=age,
        sex=sex,
        complaint=complaint,
        temperature=temperature,
        code1=code1,
        code2=code2,
        onset=onset,
        exp_place=exp_place,
        exp_day=exp_day,
        lab=lab,
        show_region=show_region,
        show_coords=show_coords,
        case=np.full(n, -1, dtype=np.int64),
    )


def _join(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Join two string arrays with ';' where both are non-empty."""
    both = (a != "") & (b != "")
    return np.where(both, np.strings.add(np.strings.add(a, ";"), b), np.strings.add(a, b))


def _nullable(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    out = values.astype(object)
    out[~present] = None
    return out


class _DateStrings:
    """ISO date strings of day indices from ``start`` through a lookup table."""

    def __init__(self, start: dt.date, batch: VisitBatch) -> None:
        known = np.concatenate([batch.day, batch.onset, batch.exp_day.ravel()])
        known = known[known != _MISSING]
        self.lo = int(known.min()) if len(known) else 0
        hi = int(known.max()) if len(known) else 0
        days = np.datetime64(start, "D") + np.arange(self.lo, hi + 1)
        self.table = np.datetime_as_string(days, unit="D").astype(np.dtypes.StringDType())

    def __call__(self, days: np.ndarray) -> np.ndarray:
        return self.table[np.where(days == _MISSING, self.lo, days) - self.lo]


def assemble(
    batch: VisitBatch, layout: CityLayout, start: dt.date
) -> tuple[pd.DataFrame, np.ndarray]:
    """The canonical visit table sorted by time, and the row order used (into ``batch``)."""
    order = np.lexsort((np.arange(len(batch)), batch.minute, batch.day))
    b = batch.take(order)
    n = len(b)
    _dates = _DateStrings(start, b)
    t = (np.datetime64(start, "D") + b.day).astype("datetime64[s]") + b.minute * 60
    visit_time = np.datetime_as_string(t, unit="s")
    visit_id = np.strings.add(
        "V", np.strings.zfill(np.arange(1, n + 1).astype(np.dtypes.StringDType()), 8)
    )
    _, first, pnum = np.unique(b.patient, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(1, len(first) + 1)  # by first visit
    pnum = rank[pnum]
    patient_id = np.strings.add("PT", np.strings.zfill(pnum.astype(np.dtypes.StringDType()), 7))

    lon, lat = layout.to_lonlat(b.home)
    lat = np.where(b.show_coords, np.round(lat, 6), np.nan)
    lon = np.where(b.show_coords, np.round(lon, 6), np.nan)

    codes = np.where(b.code1 >= 0, _CODES[np.maximum(b.code1, 0)], "")
    codes = _join(codes, np.where(b.code2 >= 0, _CODES[np.maximum(b.code2, 0)], ""))

    exposures = np.full(n, "", dtype=np.dtypes.StringDType())
    for j in range(EXPOSURE_SLOTS):
        p = b.exp_place[:, j]
        pid = np.where(p >= 0, layout.place_ids[np.maximum(p, 0)] if layout.n_places else "", "")
        dated = (p >= 0) & (b.exp_day[:, j] != _MISSING)
        when = np.where(dated, np.strings.add("@", _dates(b.exp_day[:, j])), "")
        exposures = _join(exposures, np.strings.add(pid, when))

    key_to_id = (
        dict(zip(b.patient.tolist(), patient_id.tolist(), strict=True)) if b.contacts else {}
    )
    contacts = np.full(n, None, dtype=object)
    for row, keys in b.contacts.items():
        ids = [key_to_id[k] for k in keys if k in key_to_id]
        contacts[row] = ";".join(ids) if ids else None

    df = pd.DataFrame(
        {
            "visit_id": visit_id.astype(object),
            "facility_id": layout.facility_ids[b.facility].astype(object),
            "visit_time": visit_time.astype(object),
            "patient_id": patient_id.astype(object),
            "age": b.age,
            "sex": SEX[b.sex].astype(object),
            "residence_region": _nullable(layout.region_ids[b.region], b.show_region),
            "residence_lat": lat,
            "residence_lon": lon,
            "chief_complaint": _COMPLAINTS.texts[b.complaint].astype(object),
            "temperature_c": b.temperature,
            "diagnosis_codes": _nullable(codes, codes != ""),
            "onset_date": _nullable(_dates(b.onset), b.onset != _MISSING),
            "exposures": _nullable(exposures, exposures != ""),
            "contacts": contacts,
            "lab_result": _nullable(_LABS[np.maximum(b.lab, 0)], b.lab >= 0),
        },
        columns=list(COLUMNS),
    )
    return df, order
