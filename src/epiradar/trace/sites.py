"""Rank candidate point sources (restaurants, markets, ...) from where the cases live and work.

Visiting model (Huff 1964 spatial interaction, a conditional logit): a person at ``h`` visits
site ``s`` with probability ``p(s | h) = w_s f(d(h, s)) / sum_t w_t f(d(h, t))``, ``w`` the
site's popularity and ``f`` a distance decay, exponential ``exp(-d / scale)`` or power law
``(1 + d / scale) ** -alpha``. With background visits the kernel (and, when ``sites`` has no
``weight``, the popularities) are maximum-likelihood estimates (Fotheringham 1983; popularities by
the MM algorithm of Hunter 2004); without them the scale is the empirical-Bayes choice that
maximises the cases' marginal likelihood over the sites.

If site ``s`` is the source, its cases are a sample of its visitors, whose homes have density
``pop(h) p(s | h) / q_s`` (``q_s``: the site's share of all visits); against the background
(cases' homes drawn like everyone's, ``pop(h)``) the log-likelihood ratio is
``llr_s = sum_i log p(s | h_i) - n log q_s``. A case with a work place may have visited from
home or from work (with probability ``work_share``). The ranking adds a prior (by default proportional to ``q_s``:
busy sites expose more people); ``probability`` is the posterior of "s is the source".

Baseline: Rossmo's criminal geographic targeting (CGT) profile (Rossmo 2000, Geographic
Profiling, CRC Press), as Le Comber et al. 2011 (Int J Health Geogr 10:35) used on John Snow's
cholera map; ``profile_hit_score`` is the share of the search area (a grid over the cases and
sites) at least as high on the profile as the site, the hit score of geographic profiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize, minimize_scalar
from scipy.special import logsumexp

KM_PER_DEG_LAT = 110.574  # the local equirectangular projection of epiradar.sim.geo
KM_PER_DEG_LON_EQUATOR = 111.320
KERNELS = ("exponential", "power")
DEFAULT_ALPHA = 2.0
COLUMNS = [
    "id",
    "score",
    "rank",
    "hit_score",
    "llr",
    "probability",
    "profile_score",
    "profile_rank",
    "profile_hit_score",
]


@dataclass(frozen=True)
class VisitKernel:
    """A fitted visiting model: ``kind``, ``scale`` (km), ``alpha`` (power law only) and, when
    estimated, ``popularity`` (site id -> weight, mean 1) and ``share`` (site id -> share of
    visits, ``q``)."""

    kind: str = "exponential"
    scale: float = 1.0
    alpha: float = DEFAULT_ALPHA
    popularity: pd.Series | None = None
    share: pd.Series | None = None

    def log_f(self, d: np.ndarray) -> np.ndarray:
        if self.kind == "exponential":
            return -d / self.scale
        return -self.alpha * np.log1p(d / self.scale)


# -- input handling ---------------------------------------------------------------------------
class _Frame:
    """Planar km coordinates of every input: as given (``x, y``) or projected from ``lat, lon``
    on a local equirectangular projection centred on the sites (accurate to well under 1 % over
    a city)."""

    def __init__(self, sites: pd.DataFrame) -> None:
        if {"x", "y"} <= set(sites.columns):
            self.planar = True
            self.lat0 = self.lon0 = 0.0
        elif {"lat", "lon"} <= set(sites.columns):
            self.planar = False
            lat = _finite(sites, "lat", "sites")
            lon = _finite(sites, "lon", "sites")
            self.lat0 = float((lat.min() + lat.max()) / 2)
            self.lon0 = float((lon.min() + lon.max()) / 2)
        else:
            raise ValueError("sites needs x, y (km) or lat, lon (degrees) columns")
        self.kx = KM_PER_DEG_LON_EQUATOR * np.cos(np.radians(self.lat0))

    def xy(self, df: pd.DataFrame, name: str, prefix: str = "", allow_nan: bool = False):
        cx, cy = (f"{prefix}x", f"{prefix}y") if self.planar else (f"{prefix}lon", f"{prefix}lat")
        if cx not in df.columns or cy not in df.columns:
            raise ValueError(f"{name} needs {cx}, {cy} columns like sites")
        x = _finite(df, cx, name, allow_nan)
        y = _finite(df, cy, name, allow_nan)
        if self.planar:
            return np.column_stack([x, y])
        return np.column_stack([(x - self.lon0) * self.kx, (y - self.lat0) * KM_PER_DEG_LAT])


def _finite(df: pd.DataFrame, col: str, name: str, allow_nan: bool = False) -> np.ndarray:
    try:
        v = pd.to_numeric(df[col]).to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}.{col} must be numeric") from exc
    bad = np.isinf(v) if allow_nan else ~np.isfinite(v)
    if bad.any():
        raise ValueError(f"{name}.{col} is not finite in row {df.index[np.argmax(bad)]!r}")
    return v


def _sites(sites: pd.DataFrame, frame: _Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if "id" not in sites.columns:
        raise ValueError("sites needs an id column")
    if len(sites) == 0:
        raise ValueError("sites is empty")
    ids = sites["id"].astype(str).to_numpy()
    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise ValueError(f"sites.id {ids[np.argmax(dup)]!r} appears more than once")
    weight = None
    if "weight" in sites.columns:
        weight = _finite(sites, "weight", "sites")
        if (weight <= 0).any():
            raise ValueError(
                f"sites.weight must be positive (row {sites.index[np.argmax(weight <= 0)]!r})"
            )
    return ids, frame.xy(sites, "sites"), weight


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def _log_p(log_w: np.ndarray, log_f: np.ndarray) -> np.ndarray:
    """log p(s | h) for each row h of ``log_f`` (n, S)."""
    z = log_f + log_w[None, :]
    return z - logsumexp(z, axis=1, keepdims=True)


# -- kernel fitting ---------------------------------------------------------------------------
def fit_kernel(
    background: pd.DataFrame,
    sites: pd.DataFrame,
    *,
    kind: str = "exponential",
    max_rows: int = 20_000,
    seed: int = 0,
) -> VisitKernel:
    """Maximum-likelihood visiting kernel from background visits (rows: person ``x, y`` or
    ``lat, lon`` and the visited ``site_id``); popularities too when ``sites`` has no
    ``weight``. At most ``max_rows`` visits are used (a random subset, fixed by ``seed``)."""
    if kind not in KERNELS:
        raise ValueError(f"unknown kernel {kind!r}; choose one of {', '.join(KERNELS)}")
    frame = _Frame(sites)
    ids, sxy, weight = _sites(sites, frame)
    if "site_id" not in background.columns:
        raise ValueError("background needs a site_id column")
    if len(background) < 2:
        raise ValueError("background needs at least 2 visits")
    index = pd.Index(ids)
    site = index.get_indexer(background["site_id"].astype(str))
    if (site < 0).any():
        row = background.index[np.argmax(site < 0)]
        raise ValueError(f"background.site_id in row {row!r} is not among sites.id")
    hxy = frame.xy(background, "background")
    if len(hxy) > max_rows:
        pick = np.sort(np.random.default_rng(seed).choice(len(hxy), max_rows, replace=False))
        hxy, site = hxy[pick], site[pick]
    d = _dist(hxy, sxy)
    rows = np.arange(len(site))
    counts = np.bincount(site, minlength=len(ids)) + 0.5  # smoothed: no site gets weight 0
    log_w = np.log(weight) if weight is not None else np.zeros(len(ids))

    def nll(params: np.ndarray, log_w: np.ndarray) -> float:
        k = VisitKernel(kind, float(np.exp(params[0])), float(np.exp(params[-1])))
        return -float(_log_p(log_w, k.log_f(d))[rows, site].sum())

    scale0 = float(np.median(d[rows, site])) + 1e-3
    params = np.array([np.log(scale0)] + ([np.log(DEFAULT_ALPHA)] if kind == "power" else []))
    centre = params[0]
    previous = np.inf
    for _ in range(4 if weight is None else 1):
        if kind == "exponential":
            res = minimize_scalar(
                lambda p, lw=log_w: nll(np.array([p]), lw),
                bounds=(centre - 6, centre + 6),
                method="bounded",
            )
            params = np.array([res.x])
        else:  # large scale and alpha together: the exponential limit
            bounds = [(centre - 6, centre + 8), (np.log(0.2), np.log(200.0))]
            params = minimize(nll, params, args=(log_w,), method="L-BFGS-B", bounds=bounds).x
        if abs(params[0] - previous) < 1e-3:  # the scale has settled
            break
        previous = params[0]
        if weight is None:  # MM updates of the popularities (Hunter 2004)
            log_f = VisitKernel(kind, float(np.exp(params[0])), float(np.exp(params[-1]))).log_f(d)
            for _ in range(15):
                z = log_f - logsumexp(log_f + log_w[None, :], axis=1, keepdims=True)
                log_w = np.log(counts) - logsumexp(z, axis=0)
                log_w -= log_w.mean()
    kernel = VisitKernel(kind, float(np.exp(params[0])), float(np.exp(params[-1])))
    share = np.exp(_log_p(log_w, kernel.log_f(d))).mean(0)
    pop = np.exp(log_w)
    return VisitKernel(
        kind,
        kernel.scale,
        kernel.alpha if kind == "power" else DEFAULT_ALPHA,
        popularity=pd.Series(pop / pop.mean(), index=ids),
        share=pd.Series(share, index=ids),
    )


# -- ranking ----------------------------------------------------------------------------------
def rank_sites(
    cases: pd.DataFrame,
    sites: pd.DataFrame,
    background: pd.DataFrame | None = None,
    *,
    kernel: str | VisitKernel | None = None,
    scale: float | None = None,
    work_share: float = 0.5,
    buffer_km: float | None = None,
    rossmo_f: float = 1.2,
    rossmo_g: float = 1.2,
    grid: int = 100,
    prior: str = "visits",
) -> pd.DataFrame:
    """Every site, best first: ``id, score, rank``, ``hit_score`` (share of the sites ranked at
    or above it), ``llr`` (the log-likelihood ratio above), ``probability`` (posterior), and
    the Rossmo baseline ``profile_score, profile_rank, profile_hit_score``.

    ``score = llr + log(n_sites * prior_s)``: the log posterior odds against a uniform prior.
    ``prior="visits"`` (default): a site is the source in proportion to its share of visits
    ``q_s`` (the more people it serves, the more it can infect); ``"uniform"``: ``score = llr``.

    ``cases``: one row per case, home ``x, y`` (or ``lat, lon``) and optional ``work_x, work_y``
    (``work_lat, work_lon``; NaN = none). ``sites``: ``id, x, y`` (or ``lat, lon``), optional
    ``weight`` (popularity). ``background``: visits, person ``x, y`` and ``site_id``, to fit
    the kernel. ``kernel``: ``"exponential"`` (default) or ``"power"``, or a :class:`VisitKernel`
    from :func:`fit_kernel` (``background`` is then not needed);
    ``scale`` fixes the kernel scale (km). Rossmo's buffer ``buffer_km`` defaults to half the
    mean nearest-neighbour distance between cases; ``rossmo_f, rossmo_g`` his exponents.
    The fitted kernel is in ``result.attrs["kernel"]``.
    """
    frame = _Frame(sites)
    ids, sxy, weight = _sites(sites, frame)
    if not isinstance(cases, pd.DataFrame) or len(cases) == 0:
        raise ValueError("cases is empty")
    if not 0.0 <= work_share <= 1.0:
        raise ValueError("work_share must be between 0 and 1")
    if prior not in ("visits", "uniform"):
        raise ValueError("prior must be 'visits' or 'uniform'")
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise ValueError("scale must be a positive number of km")
    home = frame.xy(cases, "cases")
    prefix = "work_"
    has_work = {f"{prefix}x", f"{prefix}y"} <= set(cases.columns) or {
        f"{prefix}lat",
        f"{prefix}lon",
    } <= set(cases.columns)
    work = frame.xy(cases, "cases", prefix, allow_nan=True) if has_work else None

    fitted: VisitKernel
    if isinstance(kernel, VisitKernel):
        fitted = kernel
    else:
        kind = kernel or "exponential"
        if kind not in KERNELS:
            raise ValueError(f"unknown kernel {kind!r}; choose one of {', '.join(KERNELS)}")
        if background is not None and scale is None:
            fitted = fit_kernel(background, sites, kind=kind)
        else:
            fitted = VisitKernel(kind, scale if scale is not None else 1.0)
    if scale is not None:
        fitted = VisitKernel(fitted.kind, scale, fitted.alpha, fitted.popularity, fitted.share)
    log_w = np.log(weight) if weight is not None else np.zeros(len(ids))
    if weight is None and fitted.popularity is not None:
        log_w = np.log(fitted.popularity.reindex(ids).fillna(fitted.popularity.min()).to_numpy())
    pop_xy = frame.xy(background, "background") if background is not None else sxy
    if len(pop_xy) > 5000:
        pop_xy = pop_xy[np.random.default_rng(0).choice(len(pop_xy), 5000, replace=False)]

    d_home, d_work = _dist(home, sxy), None
    if work is not None:
        known = np.isfinite(work).all(1)
        d_work = np.where(known[:, None], _dist(np.nan_to_num(work), sxy), np.nan)
    d_pop = _dist(pop_xy, sxy)

    def scores(k: VisitKernel) -> tuple[np.ndarray, np.ndarray]:
        """The log-likelihood ratio of every site and its log prior relative to uniform."""
        lp = _log_p(log_w, k.log_f(d_home))
        if d_work is not None and work_share > 0:
            known = np.isfinite(d_work[:, 0])
            lw = _log_p(log_w, k.log_f(np.nan_to_num(d_work)))
            if work_share < 1:
                lw = np.logaddexp(np.log1p(-work_share) + lp, np.log(work_share) + lw)
            lp = np.where(known[:, None], lw, lp)
        if k.share is not None and k is fitted and scale is None:
            log_q = np.log(k.share.reindex(ids).fillna(k.share.min()).to_numpy())
        else:
            log_q = np.log(np.exp(_log_p(log_w, k.log_f(d_pop))).mean(0))
        log_prior = np.zeros(len(ids))
        if prior == "visits":
            log_prior = log_q - logsumexp(log_q) + np.log(len(ids))
        return lp.sum(0) - len(home) * log_q, log_prior

    if scale is None and not (isinstance(kernel, VisitKernel) or background is not None):
        fitted = _empirical_bayes(fitted, scores, sxy, d_home)
    llr, log_prior = scores(fitted)
    score = llr + log_prior
    profile, hit_area = _rossmo(home, sxy, buffer_km, rossmo_f, rossmo_g, grid)

    out = pd.DataFrame(
        {
            "id": ids,
            "score": score,
            "llr": llr,
            "probability": np.exp(score - logsumexp(score)),
            "profile_score": profile,
            "profile_hit_score": hit_area,
        }
    )
    out["profile_rank"] = _ranks(out["profile_score"].to_numpy(), ids)
    out = out.sort_values(["score", "id"], ascending=[False, True], kind="stable")
    out = out.reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    out["hit_score"] = out["rank"] / len(out)
    out.attrs["kernel"] = {"kind": fitted.kind, "scale": fitted.scale, "alpha": fitted.alpha}
    return out[COLUMNS]


def _ranks(score: np.ndarray, ids: np.ndarray) -> np.ndarray:
    order = np.lexsort((ids, -score))
    rank = np.empty(len(score), dtype=np.int64)
    rank[order] = np.arange(1, len(score) + 1)
    return rank


def _empirical_bayes(kernel: VisitKernel, scores, sxy: np.ndarray, d_home: np.ndarray):
    """The scale maximising the cases' marginal likelihood ``log sum_s prior_s exp(llr_s)``,
    searched on a log grid from a tenth of the sites' typical spacing to
    the size of the area, then refined."""
    if len(sxy) > 1:
        nn = _dist(sxy, sxy) + np.diag(np.full(len(sxy), np.inf))
        spacing = float(np.median(nn.min(1)))
    else:
        spacing = float(np.median(d_home)) + 1e-3
    extent = float(np.ptp(np.vstack([sxy, sxy.mean(0) + d_home.max()]), axis=0).max()) + 1e-3
    lo, hi = np.log(max(spacing, 1e-3) / 10), np.log(max(extent, spacing))

    def neg(log_scale: float) -> float:
        k = VisitKernel(kernel.kind, float(np.exp(log_scale)), kernel.alpha)
        return -float(logsumexp(np.add(*scores(k))))

    grid = np.linspace(lo, hi, 16)
    values = [neg(g) for g in grid]
    i = int(np.argmin(values))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    best = minimize_scalar(neg, bounds=(a, b), method="bounded", options={"xatol": 1e-3}).x
    return VisitKernel(kernel.kind, float(np.exp(best)), kernel.alpha)


def _rossmo(
    home: np.ndarray,
    sxy: np.ndarray,
    buffer_km: float | None,
    f: float,
    g: float,
    grid: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Rossmo's CGT profile ``sum_i [phi / d^f + (1 - phi) B^(g-f) / (2B - d)^g]`` (``phi = 1``
    beyond the buffer ``B``) at the sites, and the share of a ``grid`` x ``grid`` search area
    (bounding box of cases and sites) at least as high as each site."""
    if buffer_km is None:
        if len(home) > 1:
            nn = _dist(home, home) + np.diag(np.full(len(home), np.inf))
            buffer_km = 0.5 * float(np.mean(nn.min(1)))
        else:
            buffer_km = 0.0
        if buffer_km <= 0:
            buffer_km = 0.1
    elif not buffer_km > 0:
        raise ValueError("buffer_km must be positive")
    b = float(buffer_km)

    def profile(pts: np.ndarray) -> np.ndarray:
        d = _dist(pts, home)
        far = d > b
        with np.errstate(divide="ignore"):
            term = np.where(
                far,
                1.0 / np.maximum(d, b) ** f,
                b ** (g - f) / np.maximum(2 * b - d, 1e-12) ** g,
            )
        return term.sum(1)

    at_sites = profile(sxy)
    allp = np.vstack([home, sxy])
    lo, hi = allp.min(0), allp.max(0)
    pad = 0.05 * (hi - lo).max() + 1e-6
    gx = np.linspace(lo[0] - pad, hi[0] + pad, grid)
    gy = np.linspace(lo[1] - pad, hi[1] + pad, grid)
    cells = np.column_stack([np.repeat(gx, grid), np.tile(gy, grid)])
    surface = np.sort(profile(cells))
    hit = 1.0 - np.searchsorted(surface, at_sites, side="left") / len(surface)
    return at_sites, hit
