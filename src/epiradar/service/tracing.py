"""Tracing an alert: its line list, comparable controls, and every analysis its data supports
(exposure table, point-source sites, origin on the mobility network, transmission chains, Rt).

The analytics live in ``epiradar.trace`` as pure functions; this module reads what they need
from the store, runs them and says what each used and how sure it is (docs/tracing.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from epiradar.config import SerialInterval, Settings
from epiradar.model import (
    Alert,
    ChainAnalysis,
    ChainCase,
    ExposureAnalysis,
    OriginAnalysis,
    OriginCandidate,
    Place,
    RtAnalysis,
    RtPoint,
    SiteAnalysis,
    SiteCandidate,
    SourceCandidate,
    TraceResult,
)
from epiradar.store import Store
from epiradar.trace.exposure import rank_exposures

log = logging.getLogger(__name__)

CASE_LOOKBACK_DAYS = 2
"""Cases include visits this many days before the first alarm: the detectors compare days, and
the visits that pushed the first alarming day over the threshold started arriving earlier."""


class UnknownAlertError(LookupError):
    """No alert has this id."""


def get_alert(store: Store, alert_id: str) -> Alert:
    alert = store.alert(alert_id)
    if alert is None:
        raise UnknownAlertError(f"unknown alert {alert_id!r}")
    return alert


def case_window(alert: Alert) -> tuple[dt.date, dt.date]:
    return alert.start_date - dt.timedelta(days=CASE_LOOKBACK_DAYS), alert.end_date


def alert_line_list(store: Store, alert_id: str) -> pd.DataFrame:
    """The visits behind an alert: its syndrome, in its regions (the city: all), in its window."""
    return _cases(store, get_alert(store, alert_id))


def _cases(store: Store, alert: Alert) -> pd.DataFrame:
    start, end = case_window(alert)
    return store.visits_frame(
        start, end, region_ids=alert.region_ids or None, syndrome=alert.syndrome
    )


def _controls(store: Store, alert: Alert, n_cases: int, settings: Settings) -> pd.DataFrame:
    """Comparable non-alert visits: same regions and period, without the alert's syndrome.

    A test-negative-style comparison group: people who came to the same clinics from the same
    places at the same time for something else. Sampled deterministically per alert.
    """
    start, end = case_window(alert)
    pool = store.visits_frame(start, end, region_ids=alert.region_ids or None)
    pool = pool[(pool["syndrome_mask"].to_numpy() & alert.syndrome.bit) == 0]
    limit = settings.trace.controls_per_case * max(n_cases, 1)
    if len(pool) > limit:
        seed = int.from_bytes(hashlib.sha256(alert.id.encode()).digest()[:4], "little")
        take = np.sort(np.random.default_rng(seed).choice(len(pool), size=limit, replace=False))
        pool = pool.iloc[take]
    return pool


def _long_exposures(store: Store, visits: pd.DataFrame) -> pd.DataFrame:
    """One row per (visit, reported place); visits without exposures keep a NaN place."""
    base = pd.DataFrame(
        {
            "visit_pk": visits["id"].to_numpy(),
            "visit_id": visits["id"].astype(str).to_numpy(),
            "visit_date": pd.to_datetime(visits["visit_date"]).to_numpy(),
        }
    )
    exposures = store.exposures_frame(visits["id"].tolist())
    long = base.merge(exposures, on="visit_pk", how="left")
    long["exposure_date"] = pd.to_datetime(long["exposure_date"])
    return long[["visit_id", "visit_date", "place_id", "exposure_date"]]


# ---------------------------------------------------------------------------------------------
# The full trace: every analysis the alert's data supports


MIN_SITE_CASES = 3
"""Fewest cases with home coordinates for point-source ranking."""
MIN_ORIGIN_REGIONS = 3
"""Fewest reached regions for origin ranking: with two, any order fits."""
MIN_CHAIN_CASES = 2
MIN_RT_CASES = 10
"""Fewest cases over the whole Rt period: below this every window's interval is uninformative."""
RT_CASES_PER_WINDOW = 12
"""Cori et al. 2013: about 12 cases in a window give a posterior coefficient of variation < 0.3."""
ORIGIN_LEAD_DAYS = 7
"""Arrivals are sought from this many days before the alert's start: the spread begins earlier."""
ORIGIN_BASELINE_DAYS = 28
"""Days before the arrival window that give each region's usual daily count."""
BASELINE_FLOOR = 0.05
"""Lowest usual daily count of a region (one visit in 20 days), so one case is not infinitely
surprising where the syndrome was never seen."""
BACKGROUND_MAX_ROWS = 20_000
"""Most (visitor, place) rows of background visits used to learn the visiting kernel."""
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQUATOR = 111.320

Progress = Callable[[str], None]


@dataclass
class _Context:
    store: Store
    settings: Settings
    alert: Alert
    cases: pd.DataFrame  # the line list, with ``case_id``
    controls: pd.DataFrame
    places: dict[str, Place]
    region_names: dict[str, str]
    top_exposure: str | None  # the exposure table's best place, if any


def trace_alert(
    store: Store, alert_id: str, settings: Settings, *, progress: Progress | None = None
) -> TraceResult:
    """Run every analysis the alert's data supports.

    - ``sources`` / ``exposures``: each reported place's case-control odds ratio with exact CI,
      one-sided Fisher p and Benjamini-Hochberg q (``epiradar.trace.exposure.rank_exposures``);
    - ``sites``: the city's places ranked as a point source from where the cases live
      (``epiradar.trace.sites.rank_sites``);
    - ``origins``: regions ranked as the origin of the spread from the day it reached each region
      and the mobility between them (``epiradar.trace.origins.rank_origins``);
    - ``chains``: the most likely infector of each case (``epiradar.trace.chains``);
    - ``rt``: the reproduction number of the alert's syndrome in its regions
      (``epiradar.trace.rt.estimate_rt``).

    Each analysis says what it used and how sure it is, or why it was skipped. ``progress`` is
    called with each analysis's name before it runs.
    """
    alert = get_alert(store, alert_id)
    cases = _cases(store, alert)
    controls = _controls(store, alert, len(cases), settings)
    result = TraceResult(
        alert_id=alert_id, n_cases=len(cases), n_controls=len(controls), sources=[]
    )
    if cases.empty:
        reason = "the alert has no visits of its syndrome in its regions and days"
        for name in ANALYSES:
            setattr(result, name, type(getattr(result, name))(reason=reason))
        return result
    cases = cases.assign(case_id=_case_ids(cases))
    places = {p.id: p for p in store.places()}
    step = progress or (lambda _name: None)
    step("exposures")
    result.sources, result.exposures = _exposure_analysis(store, settings, cases, controls, places)
    ctx = _Context(
        store=store,
        settings=settings,
        alert=alert,
        cases=cases,
        controls=controls,
        places=places,
        region_names={r.id: r.name for r in store.regions()},
        top_exposure=result.sources[0].id if result.exposures.done and result.sources else None,
    )
    for name, run in (
        ("sites", _site_analysis),
        ("origins", _origin_analysis),
        ("chains", _chain_analysis),
        ("rt", _rt_analysis),
    ):
        step(name)
        kind = type(getattr(result, name))
        try:
            analysis = run(ctx)
        except ImportError as exc:
            analysis = kind(reason=f"not available in this installation ({exc})")
        except Exception as exc:  # one failing analysis must not hide the others
            log.exception("trace %s of alert %s failed", name, alert_id)
            analysis = kind(reason=f"failed: {type(exc).__name__}: {exc}")
        setattr(result, name, analysis)
    return result


ANALYSES = ("exposures", "sites", "origins", "chains", "rt")


def _case_ids(cases: pd.DataFrame) -> list[str]:
    """The visit id of each case, prefixed with its facility where visit ids repeat."""
    ids = cases["visit_id"].astype(str)
    if ids.is_unique:
        return ids.tolist()
    return (cases["facility_id"].astype(str) + "/" + ids).tolist()


def _exposure_analysis(
    store: Store,
    settings: Settings,
    cases: pd.DataFrame,
    controls: pd.DataFrame,
    places: dict[str, Place],
) -> tuple[list[SourceCandidate], ExposureAnalysis]:
    long_cases = _long_exposures(store, cases)
    reporting = int(long_cases.loc[long_cases["place_id"].notna(), "visit_id"].nunique())
    used = {"cases": len(cases), "controls": len(controls), "cases_reporting_exposures": reporting}
    method = (
        "case-control screening of reported places: exact odds ratio, one-sided Fisher test, "
        "Benjamini-Hochberg q (Fisher 1935; Benjamini & Hochberg 1995)"
    )
    if reporting == 0:
        return [], ExposureAnalysis(
            method=method,
            used=used,
            data=f"{len(cases)} cases, none of them reported a place",
            reason="no case reported an exposure to a place",
        )
    ranking = rank_exposures(
        long_cases,
        _long_exposures(store, controls),
        window_days=settings.trace.exposure_window_days,
        responders_only=True,  # visits never asked about places are not "unexposed"
    )
    sources = [_source(row, places) for row in ranking.itertuples(index=False)]
    used["places_ranked"] = len(sources)
    data = (
        f"{reporting} of {len(cases)} cases reported places, against {len(controls)} comparable "
        f"visits without this syndrome; {len(sources)} places ranked"
    )
    if not sources:
        return sources, ExposureAnalysis(
            method=method, used=used, data=data, reason="no reported place fell in the window"
        )
    top = sources[0]
    evidence = (
        "strong evidence"
        if top.q_value < 0.01
        else "some evidence"
        if top.q_value < 0.05
        else "no convincing evidence"
    )
    certainty = (
        f"{evidence} that cases went to {top.name} more than comparable visits: "
        f"{top.cases_exposed} of {top.cases_total} cases vs {top.controls_exposed} of "
        f"{top.controls_total} controls, odds ratio {top.odds_ratio:.1f} "
        f"(95% CI {top.ci_low:.1f}-{top.ci_high:.1f}), q = {top.q_value:.1e}"
    )
    if len(sources) > 1 and top.q_value < 0.05 and sources[1].q_value < 0.05:
        certainty += f"; {sources[1].name} also stands out (q = {sources[1].q_value:.1e})"
    return sources, ExposureAnalysis(
        status="done", method=method, used=used, data=data, certainty=certainty
    )


def _source(row: Any, places: dict[str, Place]) -> SourceCandidate:
    place = places.get(row.place_id)
    return SourceCandidate(
        kind="place",
        id=str(row.place_id),
        name=place.name if place else str(row.place_id),
        place_kind=place.kind if place else None,
        region_id=place.region_id if place else None,
        lat=place.lat if place else None,
        lon=place.lon if place else None,
        score=float(row.score),
        rank=int(row.rank),
        cases_exposed=int(row.cases_exposed),
        cases_total=int(row.cases_total),
        controls_exposed=int(row.controls_exposed),
        controls_total=int(row.controls_total),
        odds_ratio=float(row.odds_ratio),
        ci_low=float(row.ci_low),
        ci_high=float(row.ci_high),
        p_value=float(row.p_value),
        q_value=float(row.q_value),
    )


# --- point source -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Projection:
    """Local equirectangular projection to km around (``lat0``, ``lon0``)."""

    lat0: float
    lon0: float

    def xy(self, lat: Any, lon: Any) -> tuple[np.ndarray, np.ndarray]:
        kx = KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(self.lat0))
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        return (lon - self.lon0) * kx, (lat - self.lat0) * KM_PER_DEG_LAT


def _located(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["residence_lat"].notna() & frame["residence_lon"].notna()]


def _site_analysis(ctx: _Context) -> SiteAnalysis:
    method = (
        "point-source likelihood with a distance-decay visiting kernel, and geographic "
        "profiling as a baseline (Le Comber et al. 2011)"
    )
    located = _located(ctx.cases)
    sites = [p for p in ctx.places.values() if p.lat is not None and p.lon is not None]
    used: dict[str, int | float | str] = {
        "cases": len(ctx.cases),
        "cases_with_location": len(located),
        "sites": len(sites),
    }
    data = (
        f"homes of {len(located)} of {len(ctx.cases)} cases; {len(sites)} places with coordinates"
    )
    if len(located) < MIN_SITE_CASES:
        return SiteAnalysis(
            method=method,
            used=used,
            data=data,
            reason=f"needs the home coordinates of at least {MIN_SITE_CASES} cases; "
            f"{len(located)} of {len(ctx.cases)} have them",
        )
    if len(sites) < 2:
        return SiteAnalysis(
            method=method,
            used=used,
            data=data,
            reason=f"needs at least 2 places with coordinates; the city has {len(sites)}",
        )
    from epiradar.trace.sites import rank_sites

    proj = _Projection(
        float(located["residence_lat"].mean()), float(located["residence_lon"].mean())
    )
    cx, cy = proj.xy(located["residence_lat"], located["residence_lon"])
    sx, sy = proj.xy([p.lat for p in sites], [p.lon for p in sites])
    site_frame = pd.DataFrame({"id": [p.id for p in sites], "x": sx, "y": sy})
    background = _background(ctx, proj, {p.id for p in sites})
    used["background_visits"] = int(background["visit"].nunique()) if background is not None else 0
    if background is not None:
        data += (
            f"; {used['background_visits']} other visits' reported places for the visiting kernel"
        )
        background = background.drop(columns="visit")
    ranking = rank_sites(pd.DataFrame({"x": cx, "y": cy}), site_frame, background=background)
    kernel = ranking.attrs.get("kernel")
    ranking = ranking.sort_values("rank", kind="stable").reset_index(drop=True)
    if kernel:
        used["kernel_scale_km"] = round(float(kernel["scale"]), 3)
        data += f"; visiting kernel {kernel['kind']}, scale {float(kernel['scale']):.2g} km"
    candidates = []
    for row in ranking.head(ctx.settings.trace.max_sites).to_dict("records"):
        place = ctx.places[str(row["id"])]
        candidates.append(
            SiteCandidate(
                id=place.id,
                name=place.name,
                place_kind=place.kind,
                region_id=place.region_id,
                lat=float(place.lat),  # type: ignore[arg-type]
                lon=float(place.lon),  # type: ignore[arg-type]
                score=_finite(row["score"]),
                rank=int(row["rank"]),
                hit_score=_opt_float(row.get("hit_score")),
                probability=_opt_float(row.get("probability")),
                profile_score=_opt_float(row.get("profile_score")),
                profile_rank=_opt_int(row.get("profile_rank")),
            )
        )
    return SiteAnalysis(
        status="done",
        method=method,
        used=used,
        data=data,
        certainty=_site_certainty(candidates, ctx.top_exposure),
        n_sites=len(ranking),
        sites=candidates,
    )


def _site_certainty(sites: list[SiteCandidate], top_exposure: str | None) -> str:
    top = sites[0]
    if len(sites) == 1:
        return f"{top.name} is the only candidate"
    gap = top.score - sites[1].score
    strength = (
        "clearly" if gap >= math.log(100) else "somewhat" if gap >= math.log(10) else "barely"
    )
    text = (
        f"{top.name} {strength} leads: its log-likelihood ratio is {gap:.1f} above "
        f"{sites[1].name}'s (about {_ratio(gap)} times as likely)"
    )
    if top.probability is not None:
        text += f"; posterior probability {top.probability:.0%} under a uniform prior"
    if top.profile_rank is not None:
        text += f"; geographic profiling ranks it #{top.profile_rank}"
    if top_exposure is not None:
        if top_exposure == top.id:
            text += "; it is also the exposure table's top place"
        else:
            hit = next((s for s in sites if s.id == top_exposure), None)
            where = f"#{hit.rank}" if hit else f"below #{len(sites)}"
            text += f"; the exposure table's top place ranks {where} here"
    return text


def _ratio(gap: float) -> str:
    if gap > 50:
        return "e^" + f"{gap:.0f}"
    value = math.exp(gap)
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _background(ctx: _Context, proj: _Projection, site_ids: set[str]) -> pd.DataFrame | None:
    """Where other people live and the places they reported: visits of the same days without
    the alert's syndrome, city-wide (the visiting kernel is a property of the city)."""
    start, end = case_window(ctx.alert)
    pool = ctx.store.visits_frame(start, end)
    pool = pool[(pool["syndrome_mask"].to_numpy() & ctx.alert.syndrome.bit) == 0]
    pool = _located(pool)
    if pool.empty:
        return None
    exposures = ctx.store.exposures_frame(pool["id"].tolist())
    exposures = exposures[exposures["place_id"].isin(site_ids)]
    if exposures.empty:
        return None
    rows = exposures.merge(
        pool[["id", "residence_lat", "residence_lon"]], left_on="visit_pk", right_on="id"
    )
    if len(rows) > BACKGROUND_MAX_ROWS:
        seed = int.from_bytes(hashlib.sha256(ctx.alert.id.encode()).digest()[:4], "little")
        take = np.random.default_rng(seed).choice(len(rows), BACKGROUND_MAX_ROWS, replace=False)
        rows = rows.iloc[np.sort(take)]
    x, y = proj.xy(rows["residence_lat"], rows["residence_lon"])
    return pd.DataFrame(
        {
            "x": x,
            "y": y,
            "site_id": rows["place_id"].astype(str).to_numpy(),
            "visit": rows["visit_pk"].to_numpy(),
        }
    )


# --- origin on the mobility network -----------------------------------------------------------


def _origin_analysis(ctx: _Context) -> OriginAnalysis:
    method = (
        "arrival times against effective distance on the mobility network (Brockmann & "
        "Helbing 2013), with Jordan-centre and rumor-centrality baselines (Shah & Zaman 2011)"
    )
    flows = ctx.store.mobility()
    used: dict[str, int | float | str] = {"mobility_flows": len(flows)}
    if not flows:
        return OriginAnalysis(
            method=method,
            used=used,
            data="no mobility flows between regions",
            reason="the city has no mobility flows between regions (load them with "
            "`epiradar load-city`: mobility.csv)",
        )
    nodes = {f.origin for f in flows} | {f.destination for f in flows}
    arrivals = {r: d for r, d in _arrivals(ctx).items() if r in nodes}
    used["regions_reached"] = len(arrivals)
    used["regions"] = len(nodes)
    first, last = case_window(ctx.alert)
    data = (
        f"{len(flows)} mobility flows; the outbreak's arrival in {len(arrivals)} regions "
        f"(first day of a significant excess of {ctx.alert.syndrome.label.lower()}, "
        f"{first - dt.timedelta(days=ORIGIN_LEAD_DAYS - CASE_LOOKBACK_DAYS):%d %b}-"
        f"{ctx.alert.end_date:%d %b})"
    )
    if len(arrivals) < MIN_ORIGIN_REGIONS:
        return OriginAnalysis(
            method=method,
            used=used,
            data=data,
            reason=f"needs the outbreak's arrival in at least {MIN_ORIGIN_REGIONS} regions; "
            f"found {len(arrivals)}",
        )
    from epiradar.trace.origins import rank_origins

    flow_frame = pd.DataFrame(
        {
            "origin": [f.origin for f in flows],
            "destination": [f.destination for f in flows],
            "weight": [f.flow for f in flows],
        }
    )
    day0 = first - dt.timedelta(days=ORIGIN_LEAD_DAYS - CASE_LOOKBACK_DAYS)
    ranking = rank_origins(
        flow_frame,
        {r: (d - day0).days for r, d in arrivals.items()},
        censored_at=0,  # reached on the first day looked at: maybe earlier
        unreached="late",  # regions not reached by the alert's last day: later, if ever
        observed_until=(ctx.alert.end_date - day0).days,
    )
    ranking = ranking.sort_values("rank", kind="stable").reset_index(drop=True)
    n_cases = ctx.cases["residence_region"].value_counts()
    origins = [
        OriginCandidate(
            region_id=str(row["node"]),
            name=ctx.region_names.get(str(row["node"]), str(row["node"])),
            score=_finite(row["score"]),
            rank=int(row["rank"]),
            arrival=arrivals.get(str(row["node"])),
            cases=int(n_cases.get(str(row["node"]), 0)),
            jordan_rank=_opt_int(row.get("jordan_rank")),
            rumor_rank=_opt_int(row.get("rumor_rank")),
            degree_rank=_opt_int(row.get("degree_rank")),
            closeness_rank=_opt_int(row.get("closeness_rank")),
        )
        for row in ranking.to_dict("records")
    ]
    return OriginAnalysis(
        status="done",
        method=method,
        used=used,
        data=data,
        certainty=_origin_certainty(origins, arrivals),
        origins=origins,
    )


def _origin_certainty(origins: list[OriginCandidate], arrivals: dict[str, dt.date]) -> str:
    top = origins[0]
    text = (
        f"arrival times line up with effective distance from {top.name} with correlation "
        f"{top.score:.2f}"
    )
    if len(origins) > 1:
        text += f" ({origins[1].name}: {origins[1].score:.2f})"
    agree = [
        name
        for name, rank in (("Jordan centre", top.jordan_rank), ("rumor centrality", top.rumor_rank))
        if rank == 1
    ]
    if agree:
        text += f"; {' and '.join(agree)} agree"
    earliest = min(arrivals.values())
    first = sorted(r for r, d in arrivals.items() if d == earliest)
    if top.region_id in first:
        text += "; it was also among the first regions reached"
    n = len(arrivals)
    if n < 6:
        text += f"; only {n} regions reached, so the ranking is tentative"
    return text


def _arrivals(ctx: _Context) -> dict[str, dt.date]:
    """The day the outbreak reached each region: within the alert's days (from a week before),
    the start of the excess run in which the region's cumulative count of the syndrome first
    became improbable (one-sided Poisson p < ``arrival_alpha``) under its usual daily rate (the
    28 days before). The run starts the day after a one-sided Poisson CUSUM tuned to a doubling
    of the usual rate was last at zero (Page 1954; Lucas 1985). Regions never significant were not reached."""
    alert = ctx.alert
    start = alert.start_date - dt.timedelta(days=ORIGIN_LEAD_DAYS)
    base_start = start - dt.timedelta(days=ORIGIN_BASELINE_DAYS)
    counts = ctx.store.daily_counts(base_start, alert.end_date)
    counts = counts[(counts["syndrome"] == alert.syndrome.value) & (counts["region_id"] != "")]
    if counts.empty:
        return {}
    days = pd.date_range(base_start, alert.end_date, freq="D").date
    table = counts.pivot_table(
        index="region_id", columns="date", values="count", aggfunc="sum", fill_value=0
    ).reindex(columns=days, fill_value=0)
    values = table.to_numpy(dtype=float)
    n_base = ORIGIN_BASELINE_DAYS
    rate = np.maximum(values[:, :n_base].mean(axis=1), BASELINE_FLOOR)
    window = values[:, n_base:]
    cum = window.cumsum(axis=1)
    expected = rate[:, None] * np.arange(1, window.shape[1] + 1)
    p = stats.poisson.sf(cum - 1, expected)
    reference = rate / math.log(2)  # Poisson CUSUM tuned to a doubling of the usual rate
    out: dict[str, dt.date] = {}
    alpha = ctx.settings.trace.arrival_alpha
    for i, region in enumerate(table.index):
        hits = np.flatnonzero(p[i] < alpha)
        if not len(hits):
            continue
        t = int(hits[0])
        cusum = np.zeros(window.shape[1])
        level = 0.0
        for k in range(window.shape[1]):
            level = max(0.0, level + window[i, k] - reference[i])
            cusum[k] = level
        first = t
        while first > 0 and cusum[first - 1] > 0:
            first -= 1
        out[str(region)] = days[n_base + first]
    return out


# --- transmission chains ----------------------------------------------------------------------


def _serial_interval(ctx: _Context) -> tuple[SerialInterval | None, str | None]:
    si = ctx.settings.trace.serial_interval(ctx.alert.syndrome)
    if si is None:
        return None, (
            f"no serial interval for {ctx.alert.syndrome.label.lower()}: set "
            f"[trace.serial_intervals.{ctx.alert.syndrome.value}] mean and sd (days)"
        )
    return si, None


def _si_text(si: SerialInterval) -> str:
    src = f" ({si.source})" if si.source else ""
    return f"serial interval mean {si.mean:g} days, sd {si.sd:g}{src}"


def _chain_analysis(ctx: _Context) -> ChainAnalysis:
    method = (
        "who infected whom: serial-interval likelihoods (Wallinga & Teunis 2004) weighted by "
        "recorded contacts, shared homes and distance; the most likely infector of each case"
    )
    cases = ctx.cases
    si, missing = _serial_interval(ctx)
    used: dict[str, int | float | str] = {"cases": len(cases)}
    if si is None:
        return ChainAnalysis(method=method, used=used, reason=missing)
    if len(cases) < MIN_CHAIN_CASES:
        return ChainAnalysis(
            method=method, used=used, reason=f"needs at least {MIN_CHAIN_CASES} cases"
        )
    if len(cases) > ctx.settings.trace.max_chain_cases:
        return ChainAnalysis(
            method=method,
            used=used,
            reason=f"{len(cases)} cases: more than [trace] max_chain_cases = "
            f"{ctx.settings.trace.max_chain_cases}",
        )
    from epiradar.trace.chains import most_likely_tree, reconstruct_chains, superspreaders

    frame, info = _chain_cases(cases)
    contacts = _contact_pairs(cases)
    used |= info | {"contact_pairs": len(contacts)}
    data = (
        f"{len(cases)} cases: onsets of {info['cases_with_onset']} "
        f"({info['onsets_imputed']} estimated from the visit date), homes of "
        f"{info['cases_with_location']}, {len(contacts)} recorded contacts between cases, "
        f"{info['shared_homes']} homes shared by several cases; {_si_text(si)}"
    )
    pairs = reconstruct_chains(
        frame.drop(columns=["date", "imputed", "region_id"]),
        (si.mean, si.sd),
        contacts=contacts if len(contacts) else None,
    )
    tree = most_likely_tree(pairs)
    spreaders = set(superspreaders(tree)["case_id"].astype(str))
    by_id = frame.set_index("case_id")
    out = []
    for row in tree.to_dict("records"):
        cid = str(row["case_id"])
        infector = row.get("infector_id")
        infector = None if infector is None or _isnan(infector) else str(infector)
        out.append(
            ChainCase(
                case_id=cid,
                onset=by_id.at[cid, "date"],
                onset_imputed=bool(by_id.at[cid, "imputed"]),
                region_id=None
                if _isnan(by_id.at[cid, "region_id"])
                else by_id.at[cid, "region_id"],
                infector_id=infector,
                probability=_finite(row["probability"]),
                generation=int(row.get("generation", 0) or 0),
                expected_offspring=_opt_float(row.get("expected_offspring")),
                superspreader=cid in spreaders,
            )
        )
    out.sort(key=lambda c: (c.onset, c.case_id))
    return ChainAnalysis(
        status="done",
        method=method,
        used=used,
        data=data,
        certainty=_chain_certainty(out),
        serial_interval_mean=si.mean,
        serial_interval_sd=si.sd,
        cases=out,
    )


def _chain_cases(cases: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """``case_id, onset`` (day number), ``household`` (cases sharing home coordinates), ``x, y``
    (km) where every case has a home; missing onsets are the visit date minus the cases' median
    onset-to-visit delay."""
    visit = pd.to_datetime(pd.Series(cases["visit_date"].to_numpy()))
    onset = pd.to_datetime(pd.Series(cases["onset_date"].to_numpy()))
    known = onset.notna().to_numpy()
    delay = (visit - onset).dt.days[known]
    delay = delay[(delay >= 0) & (delay <= 30)]
    lag = int(round(float(delay.median()))) if len(delay) else 1
    filled = onset.where(onset.notna(), visit - pd.Timedelta(days=lag))
    day0 = filled.min()
    frame = pd.DataFrame(
        {
            "case_id": cases["case_id"].to_numpy(),
            "onset": (filled - day0).dt.days.to_numpy().astype(int),
            "date": filled.dt.date.to_numpy(),
            "imputed": ~known,
            "region_id": pd.Series(
                [None if _isnan(r) else str(r) for r in cases["residence_region"]], dtype=object
            ),
        }
    )
    lat = cases["residence_lat"].to_numpy(dtype=float)
    lon = cases["residence_lon"].to_numpy(dtype=float)
    has_home = ~(np.isnan(lat) | np.isnan(lon))
    shared = 0
    if has_home.any():
        home = pd.Series(
            [
                f"{a:.5f},{b:.5f}" if ok else None
                for a, b, ok in zip(lat, lon, has_home, strict=True)
            ]
        )
        sizes = home.map(home.value_counts())
        multi = has_home & (sizes.fillna(0).to_numpy() > 1)
        shared = int(home[multi].nunique())
        if shared:
            codes = {h: i for i, h in enumerate(sorted(home[multi].unique()))}
            frame["household"] = [
                f"H{codes[h]}" if m else f"S{i}"
                for i, (h, m) in enumerate(zip(home, multi, strict=True))
            ]
        proj = _Projection(float(lat[has_home].mean()), float(lon[has_home].mean()))
        frame["x"], frame["y"] = proj.xy(lat, lon)  # NaN where unknown: no distance evidence
    info = {
        "cases_with_onset": int(known.sum()),
        "onsets_imputed": int((~known).sum()),
        "cases_with_location": int(has_home.sum()),
        "shared_homes": shared,
    }
    return frame, info


def _contact_pairs(cases: pd.DataFrame) -> pd.DataFrame:
    """Recorded contacts between two of the alert's cases (patient keys linked to visits)."""
    by_key: dict[str, list[str]] = {}
    for key, cid in zip(cases["patient_key"], cases["case_id"], strict=True):
        if isinstance(key, str) and key:
            by_key.setdefault(key, []).append(cid)
    seen: set[tuple[str, str]] = set()
    for cid, contacts in zip(cases["case_id"], cases["contacts"], strict=True):
        for key in contacts or []:
            for other in by_key.get(str(key), []):
                if other != cid:
                    seen.add((min(cid, other), max(cid, other)))
    return pd.DataFrame(sorted(seen), columns=["case_a", "case_b"])


def _chain_certainty(cases: list[ChainCase]) -> str:
    linked = [c for c in cases if c.infector_id is not None]
    outside = len(cases) - len(linked)
    if not linked:
        return (
            f"no case has a likely infector among the others: all {len(cases)} look infected "
            "outside the data (a common source, or cases not seen)"
        )
    sure = sum(c.probability >= 0.5 for c in linked)
    mean = sum(c.probability for c in linked) / len(linked)
    text = (
        f"{sure} of {len(cases)} cases have an infector among the cases with probability "
        f">= 50%; the most likely infectors average {mean:.0%}; {outside} cases look infected "
        "outside the data (index or imported cases, a common source, or cases not seen)"
    )
    generations = max(c.generation for c in cases)
    if generations:
        text += f"; up to {generations} generations"
    spreaders = sum(c.superspreader for c in cases)
    if spreaders:
        text += f"; {spreaders} possible superspreader{'s' if spreaders > 1 else ''}"
    return text


# --- Rt ---------------------------------------------------------------------------------------


def _rt_analysis(ctx: _Context) -> RtAnalysis:
    method = "renewal-equation posterior over sliding windows (Cori et al. 2013; EpiEstim)"
    si, missing = _serial_interval(ctx)
    trace = ctx.settings.trace
    if si is None:
        return RtAnalysis(method=method, reason=missing)
    alert = ctx.alert
    found = ctx.store.visit_date_range()
    last = found[1] if found else alert.end_date
    # Incidence before the first day is unknown, so the first windows read high: count from
    # a burn-in of about the serial interval's reach earlier and show windows after it.
    burn_in = math.ceil(si.mean + 2 * si.sd)
    start = alert.start_date - dt.timedelta(days=trace.rt_lookback_days + burn_in)
    if found:
        start = max(start, found[0])
    end = max(min(last, alert.end_date + dt.timedelta(days=28)), alert.end_date)
    counts = ctx.store.daily_counts(start, end)
    counts = counts[counts["syndrome"] == alert.syndrome.value]
    if alert.region_ids:
        counts = counts[counts["region_id"].isin(alert.region_ids)]
    days = pd.date_range(start, end, freq="D").date
    incidence = (
        counts.groupby("date")["count"].sum().reindex(days, fill_value=0).to_numpy(dtype=int)
    )
    where = "its regions" if alert.region_ids else "the city"
    used: dict[str, int | float | str] = {
        "days": len(days),
        "burn_in_days": burn_in,
        "cases": int(incidence.sum()),
        "window_days": trace.rt_window_days,
    }
    data = (
        f"daily {alert.syndrome.label.lower()} visits in {where}, {start:%d %b}-{end:%d %b} "
        f"({int(incidence.sum())} visits, baseline included); {_si_text(si)}; "
        f"{trace.rt_window_days}-day windows shown after a {burn_in}-day burn-in"
    )
    base = {
        "method": method,
        "used": used,
        "data": data,
        "serial_interval_mean": si.mean,
        "serial_interval_sd": si.sd,
        "window_days": trace.rt_window_days,
    }
    if len(days) < trace.rt_window_days + 2:
        return RtAnalysis(
            **base, reason=f"needs at least {trace.rt_window_days + 2} days of counts"
        )
    if incidence.sum() < MIN_RT_CASES:
        return RtAnalysis(
            **base, reason=f"needs at least {MIN_RT_CASES} cases; {int(incidence.sum())} counted"
        )
    from epiradar.trace.rt import estimate_rt

    table = estimate_rt(
        incidence,
        si_mean=si.mean,
        si_sd=si.sd,
        window=trace.rt_window_days,
        mean_prior=trace.rt_mean_prior,
        std_prior=trace.rt_std_prior,
    )
    cum = np.concatenate([[0], np.cumsum(incidence)])
    points = []
    for row in table.to_dict("records"):
        if not np.isfinite(row["mean"]):
            continue
        t0, t1 = int(row["t_start"]), int(row["t_end"])  # 1-based, inclusive
        if t0 <= burn_in:
            continue
        points.append(
            RtPoint(
                date=days[t1 - 1],
                start=days[t0 - 1],
                mean=float(row["mean"]),
                std=float(row["std"]),
                median=float(row["median"]),
                q025=float(row["q025"]),
                q975=float(row["q975"]),
                cases=int(cum[t1] - cum[t0 - 1]),
            )
        )
    if not points:
        return RtAnalysis(
            **base,
            reason=f"no window after the {burn_in}-day burn-in (the serial interval's mean + 2 "
            "sd): needs more days of counts",
        )
    return RtAnalysis(status="done", **base, certainty=_rt_certainty(points, alert), points=points)


def _rt_certainty(points: list[RtPoint], alert: Alert) -> str:
    last = points[-1]
    shape = (last.mean / last.std) ** 2 if last.std > 0 else float("inf")
    above = (
        float(stats.gamma.sf(1.0, shape, scale=last.std**2 / last.mean))
        if last.std > 0
        else float(last.mean > 1)
    )
    trend = (
        "growing"
        if above >= 0.95
        else "shrinking"
        if above <= 0.05
        else "not clearly growing or shrinking"
    )
    text = (
        f"Rt over {last.start:%d %b}-{last.date:%d %b}: {last.mean:.2f} "
        f"(95% credible interval {last.q025:.2f}-{last.q975:.2f}); "
        f"{above:.0%} probability above 1 ({trend})"
    )
    during = [p for p in points if alert.start_date <= p.date <= alert.end_date]
    if during:
        peak = max(during, key=lambda p: p.mean)
        text += f"; highest during the alert {peak.mean:.2f} ({peak.q025:.2f}-{peak.q975:.2f})"
    if last.cases < RT_CASES_PER_WINDOW:
        text += (
            f"; only {last.cases} cases in the last window (Cori et al. advise at least "
            f"{RT_CASES_PER_WINDOW}), so the interval is wide"
        )
    return text


# --- helpers ----------------------------------------------------------------------------------


def _isnan(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _finite(value: Any) -> float:
    v = float(value)
    if math.isnan(v):
        return 0.0
    if math.isinf(v):
        return math.copysign(1e300, v)
    return v


def _opt_float(value: Any) -> float | None:
    return None if _isnan(value) else _finite(value)


def _opt_int(value: Any) -> int | None:
    return None if _isnan(value) else int(value)
