"""Facility capacity: reports and their validation, the latest state of every facility (stale
flags), the demand forecast per district against capacity, and the nearest clinics with
capacity (docs/capacity.md).

Demand: fever-clinic visits of the chosen syndromes (``[capacity] syndromes``) by residence,
from the stored daily counts, per district (a region's ``parent_id``, else the region). The
syndromes overlap (an ILI visit is also a fever visit), so a region's daily demand is the
largest of the chosen syndromes' counts, not their sum. The forecast is
:func:`epiradar.trace.forecast.forecast_counts` (renewal from Rt, else trend).

Capacity per district and day: the open fever-clinic rooms of its facilities' latest reports
(stale ones included, flagged) x ``patients_per_room_per_day``; beds: the free beds reported,
against the beds that the forecast admissions (demand x admission share) occupy over the
length of stay.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel
from shapely.geometry import mapping, shape
from shapely.ops import unary_union

from epiradar.config import Settings
from epiradar.model import Facility, Region, Syndrome
from epiradar.service.auth import Principal
from epiradar.share import routing
from epiradar.store import Store
from epiradar.store.capacity import REPORT_FIELDS
from epiradar.trace.forecast import forecast_counts

Status = Literal["fresh", "stale", "never"]
SOURCES = ("api", "form", "cli", "demo")
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
"""Clock skew allowed before a report's time counts as in the future."""
ADMITTED_CLASSES = frozenset({"I"})
"""Patient classes (HL7 table 0004) that count as an admission: I = inpatient."""
REASON_LABELS = {
    "never": "never reported",
    "stale": "report is stale",
    "no_rooms": "no open fever-clinic room",
    "full": "no free bed",
}
"""Why a clinic cannot take a patient now (English; pages translate them)."""


def utcnow() -> dt.datetime:
    """Now in UTC, without a time zone (how reports are stored)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# reports


@dataclass(frozen=True)
class Problem:
    field: str
    reason: str


class CapacityError(ValueError):
    """A refused report: ``problems`` name each field and the reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in self.problems))


class CapacityForbidden(PermissionError):  # noqa: N818 - a refusal, like PermissionError
    """The caller may not report for this facility."""


def may_report(who: Principal, facility_id: str) -> bool:
    """A facility token or a hospital reporter reports only its own facility; administrators
    any facility; nobody else."""
    if who.kind == "facility" or who.role == "hospital_reporter":
        return who.facility_id is not None and who.facility_id == facility_id
    return who.role == "administrator"


def reportable_facilities(store: Store, who: Principal) -> list[Facility]:
    """The facilities ``who`` may report for (fever clinics first, then by id)."""
    found = [f for f in store.facilities() if may_report(who, f.id)]
    return sorted(found, key=lambda f: (not f.fever_clinic, f.id))


def _whole(value: Any, name: str, problems: list[Problem], *, required: bool) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(Problem(name, "is required"))
        return None
    if isinstance(value, bool):
        problems.append(Problem(name, "must be a whole number, not true/false"))
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            problems.append(Problem(name, f"must be a whole number (got {value!r})"))
            return None
    if not isinstance(value, int):
        problems.append(Problem(name, f"must be a whole number (got {value!r})"))
        return None
    if value < 0:
        problems.append(Problem(name, f"must not be negative (got {value})"))
        return None
    return value


def _when(value: Any, now: dt.datetime, problems: list[Problem]) -> dt.datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return now.replace(microsecond=0)
    if isinstance(value, dt.datetime):
        when = value
    else:
        try:
            when = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            problems.append(
                Problem("reported_at", f"must be an ISO 8601 date and time (got {value!r})")
            )
            return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    if when > now + FUTURE_TOLERANCE:
        problems.append(
            Problem("reported_at", f"is in the future ({when.isoformat(timespec='seconds')} UTC)")
        )
        return None
    return when.replace(microsecond=0)


def validate_report(
    data: Mapping[str, Any], facility_ids: set[str], *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """A clean report from ``data`` or :class:`CapacityError` naming every bad field: unknown
    fields or facility, missing or non-whole or negative counts, free above total, a time in
    the future (times are stored in UTC; a time without a zone is taken as UTC)."""
    now = now or utcnow()
    problems: list[Problem] = []
    known = {"facility_id", "reported_at", *REPORT_FIELDS}
    for name in sorted(set(data) - known):
        problems.append(Problem(name, "unknown field"))
    facility = data.get("facility_id")
    if facility is None or not str(facility).strip():
        problems.append(Problem("facility_id", "is required"))
    elif str(facility) not in facility_ids:
        problems.append(Problem("facility_id", f"unknown facility {facility!r}"))
    counts = {
        name: _whole(data.get(name), name, problems, required=name == "fever_clinic_rooms")
        for name in REPORT_FIELDS
    }
    for free, total in (("beds_free", "beds_total"), ("icu_free", "icu_total")):
        if counts[free] is not None and counts[total] is not None and counts[free] > counts[total]:
            problems.append(
                Problem(free, f"{counts[free]} free is more than the {counts[total]} in {total}")
            )
    when = _when(data.get("reported_at"), now, problems)
    if problems:
        raise CapacityError(problems)
    return {"facility_id": str(facility), "reported_at": when, **counts}


def submit_report(
    store: Store,
    data: Mapping[str, Any],
    who: Principal,
    *,
    source: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Validate and store a report made by ``who`` (:func:`may_report`, else
    :class:`CapacityForbidden`); returns the stored report."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)} (got {source!r})")
    now = now or utcnow()
    report = validate_report(data, {f.id for f in store.facilities()}, now=now)
    if not may_report(who, report["facility_id"]):
        raise CapacityForbidden(
            f"{who.actor} may not report capacity for facility {report['facility_id']}"
            + (f" (only for {who.facility_id})" if who.facility_id else "")
        )
    row = {
        **report,
        "reported_at": report["reported_at"].isoformat(timespec="seconds"),
        "received_at": now.isoformat(timespec="seconds"),
        "reported_by": who.actor,
        "source": source,
    }
    return store.capacity.add_report(row)


def last_report(store: Store, facility_id: str) -> dict[str, Any] | None:
    return store.capacity.latest([facility_id]).get(facility_id)


# ---------------------------------------------------------------------------------------------
# latest state


class FacilityCapacity(BaseModel):
    """A facility's latest report, its age and whether it can take a patient now."""

    facility_id: str
    name: str
    region_id: str | None
    district_id: str | None
    lat: float | None
    lon: float | None
    fever_clinic: bool
    status: Status
    reported_at: dt.datetime | None = None
    age_hours: float | None = None
    fever_clinic_rooms: int | None = None
    beds_total: int | None = None
    beds_free: int | None = None
    icu_total: int | None = None
    icu_free: int | None = None
    staff_on_duty: int | None = None
    test_kits: int | None = None
    reported_by: str | None = None
    source: str | None = None
    visits_per_day: float | None = None
    reason: str | None = None

    @property
    def has_capacity(self) -> bool:
        return self.reason is None


class CapacityOverview(BaseModel):
    generated_at: dt.datetime
    stale_hours: float
    patients_per_room_per_day: float
    counts: dict[str, int]
    facilities: list[FacilityCapacity]


def district_map(regions: Sequence[Region]) -> dict[str, str]:
    """Region id -> district id: its ``parent_id``, else itself."""
    return {r.id: r.district_id for r in regions}


def facility_states(
    store: Store, settings: Settings, *, now: dt.datetime | None = None
) -> list[FacilityCapacity]:
    """Every fever clinic, and every other facility that reported, with its latest report."""
    now = now or utcnow()
    cap = settings.capacity
    districts = district_map(store.regions())
    latest = store.capacity.latest()
    out = []
    for f in store.facilities():
        report = latest.get(f.id)
        if report is None and not f.fever_clinic:
            continue
        base: dict[str, Any] = {
            "facility_id": f.id,
            "name": f.name,
            "region_id": f.region_id,
            "district_id": districts.get(f.region_id or "", f.region_id),
            "lat": f.lat,
            "lon": f.lon,
            "fever_clinic": f.fever_clinic,
        }
        if report is None:
            out.append(FacilityCapacity(**base, status="never", reason="never"))
            continue
        at = dt.datetime.fromisoformat(report["reported_at"])
        age = max((now - at).total_seconds() / 3600, 0.0)
        stale = age > cap.stale_hours
        counts = {name: report[name] for name in REPORT_FIELDS}
        out.append(
            FacilityCapacity(
                **base,
                **counts,
                status="stale" if stale else "fresh",
                reported_at=at,
                age_hours=round(age, 2),
                reported_by=report["reported_by"],
                source=report["source"],
                visits_per_day=(counts["fever_clinic_rooms"] or 0) * cap.patients_per_room_per_day
                if f.fever_clinic
                else None,
                reason=routing.capacity_reason(
                    reported=True,
                    stale=stale,
                    rooms=counts["fever_clinic_rooms"],
                    beds_total=counts["beds_total"],
                    beds_free=counts["beds_free"],
                ),
            )
        )
    return sorted(out, key=lambda s: (not s.fever_clinic, s.facility_id))


def capacity_overview(
    store: Store, settings: Settings, *, now: dt.datetime | None = None
) -> CapacityOverview:
    now = now or utcnow()
    states = facility_states(store, settings, now=now)
    counts = {s: sum(f.status == s for f in states) for s in ("fresh", "stale", "never")}
    counts["with_capacity"] = sum(f.has_capacity for f in states if f.fever_clinic)
    return CapacityOverview(
        generated_at=now.replace(microsecond=0),
        stale_hours=settings.capacity.stale_hours,
        patients_per_room_per_day=settings.capacity.patients_per_room_per_day,
        counts=counts,
        facilities=states,
    )


# ---------------------------------------------------------------------------------------------
# forecast


class CountPoint(BaseModel):
    date: dt.date
    count: int


class ForecastDay(BaseModel):
    """One forecast day of a district: demand (median and band), capacity, beds."""

    date: dt.date
    median: float
    lower: float
    upper: float
    capacity: float | None
    beds_needed_median: float
    beds_needed_upper: float


class DistrictForecast(BaseModel):
    district_id: str
    name: str
    region_ids: list[str]
    geometry: dict[str, Any] | None = None
    method: Literal["renewal", "trend"]
    reason: str | None = None
    rt_mean: float | None = None
    rt_lower: float | None = None
    rt_upper: float | None = None
    growth: float | None = None
    history: list[CountPoint]
    days: list[ForecastDay]
    clinics: int
    clinics_reporting: int
    clinics_stale: int
    rooms: int
    visit_capacity: float | None
    beds_free: int | None
    exceeds_on: dt.date | None = None
    exceeds_upper_on: dt.date | None = None
    beds_exceed_on: dt.date | None = None
    beds_exceed_upper_on: dt.date | None = None
    peak_ratio: float | None = None
    warning: bool = False
    watch: bool = False


class CapacityForecast(BaseModel):
    generated_at: dt.datetime
    syndromes: list[Syndrome]
    horizon: int
    level: float
    last_data_date: dt.date | None
    patients_per_room_per_day: float
    admission_share: float
    admission_share_source: Literal["data", "setting"]
    length_of_stay_days: float
    districts: list[DistrictForecast]

    @property
    def warnings(self) -> list[DistrictForecast]:
        return [d for d in self.districts if d.warning or d.watch]


def _demand(
    store: Store, syndromes: Sequence[Syndrome], start: dt.date, end: dt.date, districts
) -> dict[str, np.ndarray]:
    """District -> daily demand over ``[start, end]``: per region and day the largest count of
    the chosen syndromes, summed over the district's regions."""
    n = (end - start).days + 1
    frame = store.daily_counts(start, end)
    frame = frame[frame["syndrome"].isin([s.value for s in syndromes])]
    frame = frame[frame["region_id"].isin(list(districts))]
    out: dict[str, np.ndarray] = {d: np.zeros(n) for d in set(districts.values())}
    if frame.empty:
        return out
    per_region = frame.groupby(["date", "region_id"])["count"].max().reset_index()
    for row in per_region.itertuples(index=False):
        out[districts[row.region_id]][(row.date - start).days] += row.count
    return out


def admission_share(
    store: Store, settings: Settings, syndrome: Syndrome, start: dt.date, end: dt.date
) -> tuple[float, Literal["data", "setting"]]:
    """Share of the syndrome's visits in ``[start, end]`` that were admitted (patient class
    I), when at least ``min_admission_sample`` visits say their class; else the setting."""
    cap = settings.capacity
    frame = store.visits_frame(start, end, syndrome=syndrome)
    if "patient_class" in frame.columns:
        known = frame["patient_class"].dropna()
        known = known[known.astype(str).str.len() > 0]
        if len(known) >= cap.min_admission_sample:
            return float(known.isin(ADMITTED_CLASSES).mean()), "data"
    return cap.admission_share, "setting"


def _first(dates: Sequence[dt.date], over: np.ndarray) -> dt.date | None:
    hit = np.flatnonzero(over)
    return dates[int(hit[0])] if hit.size else None


def _beds_needed(admissions: np.ndarray, stay_days: float) -> np.ndarray:
    """Beds held on each forecast day by the forecast admissions of the last ``stay_days``."""
    window = max(1, round(stay_days))
    kernel = np.ones(window)
    return np.convolve(admissions, kernel)[: admissions.size]


def forecast_capacity(
    store: Store,
    settings: Settings,
    *,
    syndromes: Sequence[Syndrome | str] | None = None,
    horizon: int | None = None,
    end: dt.date | None = None,
    now: dt.datetime | None = None,
    seed: int = 0,
    geometry: bool = False,
) -> CapacityForecast:
    """Demand forecast per district for ``horizon`` (7-14) days after ``end`` (the last day
    with visits), against each district's capacity; warns where the median exceeds it
    (``warning``) or only the upper bound does (``watch``)."""
    cap = settings.capacity
    chosen = [Syndrome(s) for s in (syndromes or cap.syndromes)]
    horizon = cap.horizon_days if horizon is None else int(horizon)
    if not 7 <= horizon <= 14:
        raise ValueError(f"horizon: must be 7 to 14 days (got {horizon})")
    now = now or utcnow()
    regions = store.regions()
    districts = district_map(regions)
    if end is None:
        found = store.visit_date_range()
        end = found[1] if found else now.date()
    start = end - dt.timedelta(days=cap.history_days - 1)
    demand = _demand(store, chosen, start, end, districts)
    share, share_source = admission_share(store, settings, chosen[0], start, end)
    si = settings.trace.serial_interval(chosen[0])
    states = [s for s in facility_states(store, settings, now=now) if s.district_id]
    history_dates = [start + dt.timedelta(days=i) for i in range(cap.history_days)]
    dates = [end + dt.timedelta(days=h) for h in range(1, horizon + 1)]
    members: dict[str, list[Region]] = {}
    for r in regions:
        members.setdefault(districts[r.id], []).append(r)
    out = []
    for k, district in enumerate(sorted(demand)):
        counts = demand[district]
        fc = forecast_counts(
            counts,
            si_mean=si.mean if si else None,
            si_sd=si.sd if si else None,
            horizon=horizon,
            window=settings.trace.rt_window_days,
            mean_prior=settings.trace.rt_mean_prior,
            std_prior=settings.trace.rt_std_prior,
            min_window_cases=cap.min_window_cases,
            n_paths=cap.forecast_paths,
            seed=seed + k,
        )
        here = [s for s in states if s.district_id == district]
        clinics = [s for s in here if s.fever_clinic]
        reporting = [s for s in clinics if s.status != "never"]
        rooms = sum(s.fever_clinic_rooms or 0 for s in reporting)
        visit_capacity = rooms * cap.patients_per_room_per_day if reporting else None
        bed_reports = [s for s in here if s.status != "never" and s.beds_free is not None]
        beds_free = sum(s.beds_free or 0 for s in bed_reports) if bed_reports else None
        beds_med = _beds_needed(fc.median * share, cap.length_of_stay_days)
        beds_up = _beds_needed(fc.upper * share, cap.length_of_stay_days)
        days = [
            ForecastDay(
                date=d,
                median=float(fc.median[i]),
                lower=float(fc.lower[i]),
                upper=float(fc.upper[i]),
                capacity=visit_capacity,
                beds_needed_median=round(float(beds_med[i]), 2),
                beds_needed_upper=round(float(beds_up[i]), 2),
            )
            for i, d in enumerate(dates)
        ]
        item = DistrictForecast(
            district_id=district,
            name=members[district][0].district_name if members.get(district) else district,
            region_ids=sorted(r.id for r in members.get(district, [])),
            method=fc.method,
            reason=fc.reason,
            rt_mean=fc.rt_mean,
            rt_lower=fc.rt_lower,
            rt_upper=fc.rt_upper,
            growth=fc.growth,
            history=[
                CountPoint(date=d, count=int(c)) for d, c in zip(history_dates, counts, strict=True)
            ],
            days=days,
            clinics=len(clinics),
            clinics_reporting=len(reporting),
            clinics_stale=sum(s.status == "stale" for s in reporting),
            rooms=rooms,
            visit_capacity=visit_capacity,
            beds_free=beds_free,
        )
        if visit_capacity is not None:
            item.exceeds_on = _first(dates, fc.median > visit_capacity)
            item.exceeds_upper_on = _first(dates, fc.upper > visit_capacity)
            if visit_capacity > 0:
                item.peak_ratio = round(float(fc.median.max()) / visit_capacity, 3)
        if beds_free is not None:
            item.beds_exceed_on = _first(dates, beds_med > beds_free)
            item.beds_exceed_upper_on = _first(dates, beds_up > beds_free)
        item.warning = item.exceeds_on is not None or item.beds_exceed_on is not None
        item.watch = not item.warning and (
            item.exceeds_upper_on is not None or item.beds_exceed_upper_on is not None
        )
        if geometry:
            item.geometry = _union(members.get(district, []))
        out.append(item)
    return CapacityForecast(
        generated_at=now.replace(microsecond=0),
        syndromes=chosen,
        horizon=horizon,
        level=0.9,
        last_data_date=end,
        patients_per_room_per_day=cap.patients_per_room_per_day,
        admission_share=round(share, 4),
        admission_share_source=share_source,
        length_of_stay_days=cap.length_of_stay_days,
        districts=out,
    )


def _union(regions: Sequence[Region]) -> dict[str, Any] | None:
    shapes = [shape(r.geometry) for r in regions if r.geometry]
    if not shapes:
        return None
    return mapping(unary_union(shapes).buffer(0))


# ---------------------------------------------------------------------------------------------
# nearest clinic


class ClinicOption(BaseModel):
    rank: int
    facility_id: str
    name: str
    region_id: str | None
    lat: float
    lon: float
    travel_km: float
    straight_km: float
    has_capacity: bool
    reason: str | None
    free_rooms: int | None
    free_beds: int | None
    report_age_hours: float | None


class NearestClinics(BaseModel):
    origin_lat: float
    origin_lon: float
    region_id: str | None = None
    region_name: str | None = None
    circuity_factor: float
    stale_hours: float
    generated_at: dt.datetime
    clinics: list[ClinicOption]


class UnknownRegion(LookupError):
    pass


def nearest_clinics(
    store: Store,
    settings: Settings,
    *,
    lat: float | None = None,
    lon: float | None = None,
    region_id: str | None = None,
    limit: int | None = None,
    include_without_capacity: bool = True,
    now: dt.datetime | None = None,
) -> NearestClinics:
    """The nearest fever clinics from a point, or from a region's centroid, with capacity
    first (:func:`epiradar.share.routing.nearest_clinics`)."""
    cap = settings.capacity
    now = now or utcnow()
    region = None
    if region_id is not None:
        region = next((r for r in store.regions() if r.id == region_id), None)
        if region is None:
            raise UnknownRegion(f"region: unknown region {region_id!r}")
        lat, lon = routing.region_point(region.geometry)
    elif lat is None or lon is None:
        raise ValueError("give lat and lon, or region")
    routing.check_point(lat, lon)
    states = [
        s
        for s in facility_states(store, settings, now=now)
        if s.fever_clinic and s.lat is not None and s.lon is not None
    ]
    clinics = [
        routing.ClinicState(
            facility_id=s.facility_id,
            name=s.name,
            lat=s.lat,
            lon=s.lon,
            reason=s.reason,
            free_rooms=s.fever_clinic_rooms,
            free_beds=s.beds_free,
            report_age_hours=s.age_hours,
            region_id=s.region_id,
        )
        for s in states
        if s.lat is not None and s.lon is not None
    ]
    ranked = routing.nearest_clinics(
        lat,
        lon,
        clinics,
        circuity=cap.circuity_factor,
        limit=limit or cap.nearest_count,
        include_without_capacity=include_without_capacity,
    )
    return NearestClinics(
        origin_lat=round(lat, 6),
        origin_lon=round(lon, 6),
        region_id=region.id if region else None,
        region_name=region.name if region else None,
        circuity_factor=cap.circuity_factor,
        stale_hours=cap.stale_hours,
        generated_at=now.replace(microsecond=0),
        clinics=[
            ClinicOption(
                rank=r.rank,
                facility_id=r.clinic.facility_id,
                name=r.clinic.name,
                region_id=r.clinic.region_id,
                lat=r.clinic.lat,
                lon=r.clinic.lon,
                travel_km=round(r.travel_km, 2),
                straight_km=round(r.straight_km, 2),
                has_capacity=r.clinic.has_capacity,
                reason=r.clinic.reason,
                free_rooms=r.clinic.free_rooms,
                free_beds=r.clinic.free_beds,
                report_age_hours=r.clinic.report_age_hours,
            )
            for r in ranked
        ],
    )


# ---------------------------------------------------------------------------------------------
# demo


def seed_demo_capacity(
    store: Store,
    settings: Settings | None = None,
    *,
    now: dt.datetime | None = None,
    seed: int = 0,
    stale_every: int = 5,
) -> int:
    """Capacity reports for the demo city's facilities: fever clinics with rooms, beds, ICU,
    staff and test kits reported in the last hours, every ``stale_every``-th two days ago
    (stale), and the district with the most recent demand short of beds (its forecast warns).
    Returns the number of reports written. The short district's clinics keep a free bed or
    two, so the clinic finder still lists them."""
    settings = settings or Settings()
    now = (now or utcnow()).replace(microsecond=0)
    rng = np.random.default_rng(seed)
    districts = district_map(store.regions())
    facilities = [f for f in store.facilities() if f.fever_clinic or f.capacity]
    short = _busiest_district(store, settings, districts)
    repo = store.capacity
    written = others = 0
    for f in sorted(facilities, key=lambda f: f.id):
        in_short = short is not None and districts.get(f.region_id or "") == short
        beds_total = int(f.capacity or rng.integers(40, 300))
        icu_total = max(2, beds_total // 20)
        others += not in_short
        stale = not in_short and stale_every > 0 and others % stale_every == 0
        age = dt.timedelta(hours=float(rng.uniform(30, 60) if stale else rng.uniform(0.2, 6)))
        row = {
            "facility_id": f.id,
            "reported_at": (now - age).isoformat(timespec="seconds"),
            "received_at": (now - age).isoformat(timespec="seconds"),
            "fever_clinic_rooms": int(rng.integers(2, 7)) if f.fever_clinic else 0,
            "beds_total": beds_total,
            "beds_free": int(rng.integers(1, 3))
            if in_short
            else int(beds_total * rng.uniform(0.1, 0.35)),
            "icu_total": icu_total,
            "icu_free": 0 if in_short else int(rng.integers(0, icu_total + 1)),
            "staff_on_duty": int(rng.integers(6, 40)),
            "test_kits": int(rng.integers(20, 500)),
            "reported_by": "demo",
            "source": "demo",
        }
        repo.add_report(row)
        written += 1
    return written


def _busiest_district(store: Store, settings: Settings, districts: dict[str, str]) -> str | None:
    found = store.visit_date_range()
    if found is None:
        return None
    end = found[1]
    demand = _demand(store, settings.capacity.syndromes, end - dt.timedelta(days=6), end, districts)
    if not demand:
        return None
    return max(sorted(demand), key=lambda d: demand[d].sum())
