"""Who infected whom: transmission-chain reconstruction from onsets, contacts and places.

The probability that case j infected case i follows Wallinga & Teunis (2004, Am J Epidemiol
160:509): the serial-interval density of their onset difference, normalised over i's candidate
infectors. Like outbreaker (Jombart et al. 2014, Heredity 112:190; Campbell et al. 2019, BMC
Bioinformatics 20:35, which adds contact data) it multiplies in other evidence: a recorded
contact, a shared household, a shared group (school, workplace) and a spatial kernel in the
distance between homes, each as a likelihood ratio (transmission vs no transmission), and it
lets a case be infected from outside the data (index and imported cases).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from epiradar.trace.rt import discr_si

PAIR_COLUMNS = ["case_id", "infector_id", "probability"]
TREE_COLUMNS = [
    "case_id",
    "infector_id",
    "probability",
    "generation",
    "expected_offspring",
    "offspring",
]
SPREADER_COLUMNS = ["case_id", "expected_offspring", "p_value", "threshold", "score", "rank"]
EARTH_RADIUS_KM = 6371.0088
SI_TAIL = 1e-9  # the discretised serial interval is cut where its upper tail falls below this


def discrete_serial_interval(mean: float, sd: float, max_days: int | None = None) -> np.ndarray:
    """Serial-interval probabilities for 0, 1, ... days: EpiEstim's discretised gamma
    (``trace.rt.discr_si``, Cori et al. 2013), day 0 at probability 0, cut where the rest has
    mass below 1e-9 (or at ``max_days``)."""
    if not np.isfinite(mean) or mean <= 1:
        raise ValueError(f"serial_interval mean must exceed 1 day (got {mean})")
    if not np.isfinite(sd) or sd <= 0:
        raise ValueError(f"serial_interval sd must be positive (got {sd})")
    if max_days is None:
        a, b = (mean - 1) ** 2 / sd**2, sd**2 / (mean - 1)
        max_days = int(np.ceil(stats.gamma.isf(SI_TAIL, a, scale=b))) + 2
    return discr_si(np.arange(max_days + 1), mean, sd)


def reconstruct_chains(
    cases: pd.DataFrame,
    serial_interval: tuple[float, float] | Sequence[float] | np.ndarray,
    contacts: pd.DataFrame | None = None,
    *,
    contact_recall: float = 0.5,
    contact_rate: float = 0.05,
    household_lr: float = 20.0,
    group_lr: float = 5.0,
    distance_scale: float = 1.0,
    long_range: float = 0.3,
    area: float | None = None,
    external: float = 0.01,
    travel_lr: float = 100.0,
    min_probability: float = 0.0,
) -> pd.DataFrame:
    """Probability that each candidate ``infector_id`` infected each ``case_id``.

    ``cases``: ``case_id, onset`` (day number or date), optional ``household``, ``group`` (equal
    non-missing values are shared) and ``x, y`` (km) or ``lat, lon`` (degrees) of the home.
    ``serial_interval``: ``(mean, sd)`` in days (discretised gamma, see
    :func:`discrete_serial_interval`) or probabilities for lags 0, 1, ... days summing to 1.
    ``contacts``: ``case_a, case_b`` recorded contacts (either direction; ids that are not
    cases are ignored).

    Case j is a candidate infector of i when w(onset_i - onset_j) > 0. Its weight is
    w(onset_i - onset_j) times: when ``contacts`` is given, 1 / ``contact_rate`` for a recorded
    contact and (1 - eps) / (1 - eps * ``contact_rate``) for none, eps = ``contact_recall``
    (the contact model of outbreaker2, Campbell et al. 2019, with its initial eps = 0.5 and
    lambda = 0.05: a contact is recorded with probability eps between infector and infectee,
    eps * lambda between other cases); ``household_lr`` if they share a household;
    ``group_lr`` if they share a group; and the spatial ratio
    ``(1 - long_range) * f(d) * area + long_range`` for homes ``d`` km apart, where f is the 2-D
    exponential kernel exp(-d/s) / (2 pi s^2) with ``s = distance_scale`` (infectee distance
    ~ Gamma(2, s)), ``long_range`` the share of infections placed anywhere, and ``area`` the
    km^2 over which such infectees spread (default: the homes' bounding box padded by 2s).
    "Infected by someone not in the data" has weight ``external``, times ``travel_lr`` for a case
    whose optional boolean ``travel`` column is true (exposed outside the area: an imported
    case); the weights of each case are
    normalised to sum to 1, so a case with no candidate (e.g. the first onset) is a root with
    probability 1.

    Rows: ``case_id, infector_id`` (missing = external), ``probability``; cases in onset order
    (ties: input order), each best-first (ties: the earlier infector, external last). Rows with
    probability below ``min_probability`` are dropped.
    """
    ids, onset = _cases(cases)
    w = _serial_interval(serial_interval)
    for name, value in [("contact_recall", contact_recall), ("contact_rate", contact_rate)]:
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be between 0 and 1 (got {value})")
    for name, value in [
        ("household_lr", household_lr),
        ("group_lr", group_lr),
        ("distance_scale", distance_scale),
        ("external", external),
        ("travel_lr", travel_lr),
    ]:
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be positive (got {value})")
    if not 0.0 <= long_range <= 1.0:
        raise ValueError(f"long_range must be between 0 and 1 (got {long_range})")
    n = len(ids)
    order = np.lexsort((np.arange(n), onset))  # onset, then input order
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    inf_i, inf_j, lag = _candidate_pairs(onset, order, w)

    log_w = np.log(w[lag])
    log_w += _contact_log_lr(contacts, ids, inf_i, inf_j, n, contact_recall, contact_rate)
    for col, lr in (("household", household_lr), ("group", group_lr)):
        if col in cases.columns:
            code = pd.factorize(cases[col], use_na_sentinel=True)[0]
            shared = (code[inf_i] == code[inf_j]) & (code[inf_i] >= 0)
            log_w += np.where(shared, np.log(lr), 0.0)
    xy = _homes(cases)
    if xy is not None:
        log_w += _spatial_log_lr(xy, inf_i, inf_j, distance_scale, long_range, area)

    # normalise per case over its candidates plus the external option (log-sum-exp)
    log_ext = np.full(n, np.log(external))
    if "travel" in cases.columns:
        travelled = cases["travel"].fillna(False).astype(bool).to_numpy()
        log_ext[travelled] += np.log(travel_lr)
    top = log_ext.copy()
    total = np.ones(n)
    if len(inf_i):
        starts = np.flatnonzero(np.r_[True, inf_i[1:] != inf_i[:-1]])  # pairs come per case
        first = inf_i[starts]
        top[first] = np.maximum(log_ext[first], np.maximum.reduceat(log_w, starts))
        total = np.exp(log_ext - top)
        total[first] += np.add.reduceat(np.exp(log_w - top[inf_i]), starts)
    log_norm = top + np.log(total)
    prob = np.exp(log_w - log_norm[inf_i])
    p_ext = np.exp(log_ext - log_norm)

    case = np.concatenate([inf_i, np.arange(n)])
    infector = np.concatenate([inf_j, np.full(n, -1)])
    p = np.concatenate([prob, p_ext])
    tie = np.where(infector >= 0, pos[np.maximum(infector, 0)], n)  # external last among ties
    keep = p >= min_probability
    case, infector, p, tie = case[keep], infector[keep], p[keep], tie[keep]
    sort = np.lexsort((tie, -p, pos[case]))
    case, infector, p = case[sort], infector[sort], p[sort]
    return pd.DataFrame(
        {
            "case_id": ids[case],
            "infector_id": _ids_or_missing(ids, infector),
            "probability": p,
        }
    ).reset_index(drop=True)


def most_likely_tree(pairs: pd.DataFrame) -> pd.DataFrame:
    """Each case's most probable infector (Wallinga & Teunis 2004), as a forest.

    ``pairs``: ``case_id, infector_id, probability`` as from :func:`reconstruct_chains`. Ties
    go to the row listed first. A choice that would close a cycle (only possible between cases
    with the same onset, when the serial interval allows lag 0) falls back on the case's next
    best infector, cases taken in the order they are listed. Rows, in that order: ``case_id,
    infector_id`` (missing: a root), ``probability`` of that infector, ``generation`` (0 for
    roots), ``expected_offspring`` (sum of the probabilities of the case infecting others, over
    all pairs) and ``offspring`` (infectees in the tree).
    """
    missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
    if missing:
        raise ValueError(f"pairs is missing column(s): {', '.join(missing)}")
    if pairs.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in TREE_COLUMNS})
    prob = pairs["probability"].to_numpy(dtype=float)
    if np.isnan(prob).any() or (prob < 0).any() or (prob > 1 + 1e-9).any():
        raise ValueError("pairs probability must be between 0 and 1")
    ids, case = np.unique(pairs["case_id"].to_numpy(), return_inverse=True)
    _, first = np.unique(case, return_index=True)
    listed = np.argsort(first, kind="stable")  # cases in the order first listed
    n = len(ids)
    inf_raw = pairs["infector_id"]
    has = inf_raw.notna().to_numpy()
    infector = np.full(len(pairs), -1, dtype=np.int64)
    if has.any():
        where = np.searchsorted(ids, inf_raw[has].to_numpy())
        where = np.minimum(where, n - 1)
        unknown = ids[where] != inf_raw[has].to_numpy()
        if unknown.any():
            bad = inf_raw[has].to_numpy()[unknown].tolist()[0]
            raise ValueError(f"pairs infector_id {bad!r} is not a case_id")
        infector[has] = where
    if (infector == case).any():
        raise ValueError("pairs list a case as its own infector")
    rank_of = np.empty(n, dtype=np.int64)
    rank_of[listed] = np.arange(n)
    sort = np.lexsort((np.arange(len(pairs)), -prob, rank_of[case]))
    case_s, inf_s, prob_s = case[sort], infector[sort], prob[sort]
    starts = np.flatnonzero(np.r_[True, case_s[1:] != case_s[:-1]])
    parent = np.full(n, -1, dtype=np.int64)
    parent[case_s[starts]] = inf_s[starts]
    p_best = np.zeros(n)
    p_best[case_s[starts]] = prob_s[starts]
    if _has_cycle(parent):
        parent, p_best = _acyclic(case_s, inf_s, prob_s, starts, n)

    expected = np.zeros(n)
    np.add.at(expected, infector[has], prob[has])
    offspring = np.bincount(parent[parent >= 0], minlength=n)
    return pd.DataFrame(
        {
            "case_id": ids[listed],
            "infector_id": _ids_or_missing(ids, parent[listed]),
            "probability": p_best[listed],
            "generation": _generations(parent)[listed],
            "expected_offspring": expected[listed],
            "offspring": offspring[listed],
        }
    )


def superspreaders(
    chains: pd.DataFrame,
    *,
    threshold: float | None = None,
    quantile: float = 0.99,
    dispersion: float | None = None,
) -> pd.DataFrame:
    """Cases whose expected number of infectees exceeds ``threshold``, most first.

    ``chains``: a tree from :func:`most_likely_tree` (its ``expected_offspring``) or pairs from
    :func:`reconstruct_chains` (offspring summed over them). Default threshold: the ``quantile``
    of the offspring distribution with the cases' mean expected offspring, Poisson or, with
    ``dispersion`` k, negative binomial (Lloyd-Smith et al. 2005, Nature 438:355, who call the
    99th percentile of Poisson(R) the superspreading threshold). Columns: ``case_id,
    expected_offspring``, ``p_value`` (upper tail P(Z >= expected_offspring) under that
    distribution), ``threshold``, ``score`` (= expected_offspring) and ``rank``.
    """
    if "expected_offspring" in chains.columns and "case_id" in chains.columns:
        per_case = chains.groupby("case_id", sort=False)["expected_offspring"].first()
    else:
        missing = [c for c in PAIR_COLUMNS if c not in chains.columns]
        if missing:
            raise ValueError(f"chains is missing column(s): {', '.join(missing)}")
        ids = pd.unique(chains["case_id"])
        got = chains[chains["infector_id"].notna()].groupby("infector_id")["probability"].sum()
        per_case = pd.Series(got.reindex(ids).fillna(0.0).to_numpy(), index=ids)
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be between 0 and 1 (got {quantile})")
    if dispersion is not None and (not np.isfinite(dispersion) or dispersion <= 0):
        raise ValueError(f"dispersion must be positive (got {dispersion})")
    values = per_case.to_numpy(dtype=float)
    mean = float(values.mean()) if len(values) else 0.0
    if dispersion is None:
        dist = stats.poisson(mean)
    else:
        dist = stats.nbinom(dispersion, dispersion / (dispersion + mean))
    if threshold is None:
        threshold = float(dist.ppf(quantile)) if mean > 0 else 0.0
    hit = values > threshold
    out = pd.DataFrame(
        {
            "case_id": per_case.index.to_numpy()[hit],
            "expected_offspring": values[hit],
            "p_value": dist.sf(np.ceil(values[hit]) - 1) if mean > 0 else np.zeros(hit.sum()),
            "threshold": threshold,
            "score": values[hit],
        }
    )
    out = out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out[SPREADER_COLUMNS]


def _cases(cases: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Case ids and onsets as whole day numbers."""
    missing = [c for c in ("case_id", "onset") if c not in cases.columns]
    if missing:
        raise ValueError(f"cases is missing column(s): {', '.join(missing)}")
    ids = cases["case_id"].to_numpy()
    if cases["case_id"].isna().any():
        raise ValueError(
            f"cases case_id is missing in row {int(np.argmax(cases['case_id'].isna()))}"
        )
    dup = cases["case_id"].duplicated()
    if dup.any():
        raise ValueError(f"cases case_id {cases['case_id'][dup].tolist()[0]!r} is duplicated")
    raw = cases["onset"]
    if raw.isna().any():
        raise ValueError(f"cases onset is missing in row {int(np.argmax(raw.isna().to_numpy()))}")
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        onset = raw.to_numpy(dtype=float)
        bad = onset != np.round(onset)
        if bad.any() or not np.isfinite(onset).all():
            raise ValueError(f"cases onset must be whole days (row {int(np.argmax(bad))})")
        return ids, onset.astype(np.int64)
    try:
        days = pd.to_datetime(raw).dt.normalize()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cases onset must be day numbers or dates: {exc}") from exc
    return ids, ((days - days.min()).dt.days).to_numpy(dtype=np.int64)


def _serial_interval(si) -> np.ndarray:
    if isinstance(si, tuple) and len(si) == 2:
        return discrete_serial_interval(float(si[0]), float(si[1]))
    w = np.asarray(si, dtype=float)
    if w.ndim != 1 or len(w) == 0:
        raise ValueError("serial_interval must be (mean, sd) or a 1-D distribution over days")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("serial_interval distribution must be finite and non-negative")
    if abs(w.sum() - 1.0) > 1e-6:
        raise ValueError(f"serial_interval distribution must sum to 1 (sums to {w.sum():.6g})")
    return w


def _candidate_pairs(
    onset: np.ndarray, order: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(case, infector, lag) for every pair with w(lag) > 0, grouped by case in onset order."""
    support = np.flatnonzero(w > 0)
    if len(support) == 0:
        raise ValueError("serial_interval has no positive probability")
    t = onset[order]
    lo = np.searchsorted(t, t - support[-1], side="left")
    hi = np.searchsorted(t, t - support[0], side="right")
    count = hi - lo
    total = int(count.sum())
    i_pos = np.repeat(np.arange(len(t)), count)
    j_pos = np.arange(total) - np.repeat(np.cumsum(count) - count, count) + np.repeat(lo, count)
    lag = t[i_pos] - t[j_pos]
    keep = (w[lag] > 0) & (i_pos != j_pos)
    return order[i_pos[keep]], order[j_pos[keep]], lag[keep]


def _contact_log_lr(contacts, ids, inf_i, inf_j, n, eps, lam) -> np.ndarray | float:
    """Campbell et al. 2019: a contact is recorded with probability eps between infector and
    infectee and eps * lam between other pairs."""
    if contacts is None:
        return 0.0
    missing = [c for c in ("case_a", "case_b") if c not in contacts.columns]
    if missing:
        raise ValueError(f"contacts is missing column(s): {', '.join(missing)}")
    index = pd.Index(ids)
    a = index.get_indexer(contacts["case_a"].to_numpy())
    b = index.get_indexer(contacts["case_b"].to_numpy())
    ok = (a >= 0) & (b >= 0) & (a != b)
    a, b = a[ok].astype(np.int64), b[ok].astype(np.int64)
    keys = np.unique(np.concatenate([a * n + b, b * n + a]))
    named = np.log(1 / lam)
    unnamed = np.log((1 - eps) / (1 - eps * lam))
    return np.where(np.isin(inf_i * n + inf_j, keys), named, unnamed)


def _homes(cases: pd.DataFrame) -> np.ndarray | None:
    """Homes in km (planar), NaN where unknown; None without location columns."""
    for a, b in (("x", "y"), ("lat", "lon")):
        if (a in cases.columns) != (b in cases.columns):
            raise ValueError(f"cases needs both {a} and {b} columns (or neither)")
    if "x" in cases.columns:
        return cases[["x", "y"]].to_numpy(dtype=float)
    if "lat" in cases.columns:
        lat, lon = cases["lat"].to_numpy(dtype=float), cases["lon"].to_numpy(dtype=float)
        if (np.abs(lat[~np.isnan(lat)]) > 90).any():
            raise ValueError("cases lat must be within -90..90 degrees")
        lat0 = np.deg2rad(np.nanmean(lat)) if (~np.isnan(lat)).any() else 0.0
        k = np.deg2rad(1.0) * EARTH_RADIUS_KM  # local equirectangular projection, km
        return np.column_stack([lon * k * np.cos(lat0), lat * k])
    return None


def _spatial_log_lr(xy, inf_i, inf_j, scale, long_range, area) -> np.ndarray:
    known = ~np.isnan(xy).any(axis=1)
    if area is None:
        if known.any():
            span = xy[known].max(axis=0) - xy[known].min(axis=0) + 4 * scale
            area = float(span[0] * span[1])
        else:
            area = 1.0
    elif not np.isfinite(area) or area <= 0:
        raise ValueError(f"area must be positive (got {area})")
    d = np.hypot(*(xy[inf_i] - xy[inf_j]).T)
    kernel = np.exp(-d / scale) / (2 * np.pi * scale**2)
    ratio = (1 - long_range) * kernel * area + long_range
    return np.where(np.isnan(d), 0.0, np.log(np.maximum(ratio, 1e-300)))


def _ids_or_missing(ids: np.ndarray, idx: np.ndarray):
    """``ids[idx]`` with -1 as missing: nullable Int64 for integer ids, else object/None."""
    miss = idx < 0
    if np.issubdtype(ids.dtype, np.integer):
        return pd.arrays.IntegerArray(ids[np.maximum(idx, 0)].astype(np.int64), miss)
    out = ids[np.maximum(idx, 0)].astype(object)
    out[miss] = None
    return out


def _has_cycle(parent: np.ndarray) -> bool:
    """Pointer doubling: every node of a forest reaches the sentinel root."""
    n = len(parent)
    up = np.append(np.where(parent >= 0, parent, n), n)
    for _ in range(int(np.ceil(np.log2(n + 1))) + 1):
        up = up[up]
    return bool((up[:n] != n).any())


def _acyclic(case_s, inf_s, prob_s, starts, n) -> tuple[np.ndarray, np.ndarray]:
    """Greedy forest: cases in listed order take their best infector that closes no cycle."""
    parent = np.full(n, -1, dtype=np.int64)
    p_best = np.zeros(n)
    ends = np.r_[starts[1:], len(case_s)]
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        i = int(case_s[s])
        for r in range(s, e):
            j = int(inf_s[r])
            k = j
            while k >= 0 and k != i:
                k = int(parent[k])
            if k != i:  # j is external or not a descendant of i
                parent[i], p_best[i] = j, prob_s[r]
                break
    return parent, p_best


def _generations(parent: np.ndarray) -> np.ndarray:
    """Depth of each node of a forest (roots 0) by pointer doubling."""
    n = len(parent)
    up = np.append(np.where(parent >= 0, parent, n), n)
    depth = np.append((parent >= 0).astype(np.int64), 0)
    for _ in range(int(np.ceil(np.log2(n + 1))) + 1):
        depth = depth + depth[up]
        up = up[up]
    return depth[:n]
