"""The origin of a spreading outbreak from arrival times on a mobility network.

Effective distance (Brockmann & Helbing 2013, Science 342:1337): with ``P_mn`` the share of
node ``m``'s outflow that goes to ``n``, an edge is ``d_mn = 1 - log P_mn`` long and the
effective distance ``D_mn`` is the shortest path. From the true origin, arrival times grow
linearly with effective distance; the origin is the candidate whose effective distances to the
reached nodes correlate best with their arrival times (their Fig. 4: SARS 2003, H1N1 2009).

Censoring: arrivals at or before ``censored_at`` are known only to be that early (the WHO
SARS reports begin on 2003-03-17 with seven countries already affected); with ``unreached="late"``
nodes not reached are known only to be later than ``observed_until``. The linear fit of arrival
time on effective distance is then a censored least-squares fit (censored residuals count only
on the wrong side of their bound), found by iterative imputation (a majorise-minimise scheme,
as EM for Tobit regression). The score is the fit's root-mean-square residual (negated),
or, as in the paper, the correlation of effective distance with the imputed times.

Baselines on the reached (infected) subgraph, edges undirected, hop distances, its largest
connected component: the Jordan centre (least eccentricity; Zhu & Ying 2016, IEEE/ACM Trans
Netw 24:2544), rumor centrality on a breadth-first tree from each candidate (Shah & Zaman 2011,
IEEE Trans Inf Theory 57:5163, their BFS heuristic for general graphs), degree and closeness.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph
from scipy.special import gammaln

METHODS = ("effective_distance", "jordan", "rumor", "degree", "closeness")
COLUMNS = [
    "node",
    "score",
    "rank",
    "correlation",
    "slope",
    "rmse",
    "effective_distance_rank",
    "jordan_rank",
    "rumor_rank",
    "degree_rank",
    "closeness_rank",
]


def _flow_matrix(flows: pd.DataFrame, extra: list[str] | None = None):
    """Node names and the summed flow matrix (self-flows dropped)."""
    if not isinstance(flows, pd.DataFrame):
        raise ValueError("flows must be a DataFrame with origin, destination, weight")
    for col in ("origin", "destination", "weight"):
        if col not in flows.columns:
            raise ValueError(f"flows needs a {col} column")
    try:
        w = pd.to_numeric(flows["weight"]).to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError("flows.weight must be numeric") from exc
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise ValueError(
            f"flows.weight must be finite and non-negative (row {flows.index[np.argmax(bad)]!r})"
        )
    origin = flows["origin"].astype(str).to_numpy()
    dest = flows["destination"].astype(str).to_numpy()
    nodes = pd.Index(sorted(set(origin) | set(dest) | set(extra or [])))
    if len(nodes) < 2:
        raise ValueError("flows needs at least 2 nodes")
    i, j = nodes.get_indexer(origin), nodes.get_indexer(dest)
    keep = (i != j) & (w > 0)
    m = sparse.coo_matrix((w[keep], (i[keep], j[keep])), shape=(len(nodes), len(nodes))).tocsr()
    m.sum_duplicates()
    return nodes, m


def _effective(m: sparse.csr_matrix) -> np.ndarray:
    out = np.asarray(m.sum(1)).ravel()
    p = sparse.diags(1.0 / np.where(out > 0, out, 1.0)) @ m
    p = p.tocsr()
    p.data = 1.0 - np.log(p.data)
    return csgraph.dijkstra(p, directed=True)


def effective_distance(flows: pd.DataFrame) -> pd.DataFrame:
    """Effective distances ``D[m, n]`` (row: from, column: to) of Brockmann & Helbing 2013:
    shortest paths with edge lengths ``1 - log P_mn``, ``P_mn = F_mn / sum_k F_mk``; ``inf``
    where ``n`` cannot be reached from ``m``. ``flows``: ``origin, destination, weight``
    (duplicates summed, self-flows ignored)."""
    nodes, m = _flow_matrix(flows)
    return pd.DataFrame(_effective(m), index=nodes, columns=nodes)


def _times(arrivals) -> tuple[list[str], np.ndarray, bool, object]:
    if isinstance(arrivals, pd.DataFrame):
        if not {"node", "time"} <= set(arrivals.columns):
            raise ValueError("arrivals as a DataFrame needs node, time columns")
        arrivals = pd.Series(arrivals["time"].to_numpy(), index=arrivals["node"].astype(str))
    elif isinstance(arrivals, Mapping):
        arrivals = pd.Series(dict(arrivals), dtype=object)
    elif not isinstance(arrivals, pd.Series):
        raise ValueError("arrivals must map node -> first-case time")
    nodes = [str(n) for n in arrivals.index]
    if len(set(nodes)) != len(nodes):
        dup = pd.Index(nodes)[pd.Index(nodes).duplicated()][0]
        raise ValueError(f"arrivals lists node {dup!r} more than once")
    values = arrivals.to_numpy()
    is_date = len(values) > 0 and all(
        isinstance(v, pd.Timestamp | np.datetime64) or hasattr(v, "toordinal") for v in values
    )
    if is_date:
        stamps = pd.to_datetime(pd.Series(values))
        if stamps.isna().any():
            raise ValueError(
                f"arrivals of node {nodes[int(np.argmax(stamps.isna()))]!r} is missing"
            )
        origin = stamps.min()
        t = ((stamps - origin) / pd.Timedelta(days=1)).to_numpy(dtype=float)
        return nodes, t, True, origin
    try:
        t = pd.to_numeric(pd.Series(values)).to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError("arrivals must be day numbers or dates") from exc
    if not np.isfinite(t).all():
        raise ValueError(
            f"arrivals of node {nodes[int(np.argmax(~np.isfinite(t)))]!r} is not finite"
        )
    return nodes, t, False, None


def _as_day(value, is_date: bool, origin) -> float:
    if is_date:
        return float((pd.Timestamp(value) - origin) / pd.Timedelta(days=1))
    return float(value)


def censored_fit(
    d: np.ndarray,
    t: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    missing: np.ndarray | None = None,
    iters: int = 200,
):
    """Least-squares line ``t = a + b d`` for every row of ``d`` (candidates x nodes) where
    ``left`` entries are upper bounds and ``right`` entries lower bounds on ``t``, and
    ``missing`` entries (rows x nodes) are left out (imputation until the fit stops moving).
    Returns intercept, slope, the correlation of ``d`` with the imputed times and the
    root-mean-square residual (days) over the entries not missing, each per row (NaN where
    undefined)."""
    y = np.broadcast_to(t, d.shape).astype(float).copy()
    n = d.shape[1]
    dm = d.mean(1, keepdims=True)
    dc = d - dm
    sdd = (dc**2).sum(1)
    a = b = np.zeros(d.shape[0])
    for _ in range(iters):
        ym = y.mean(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            b = (dc * (y - ym)).sum(1) / sdd
        b = np.where(sdd > 0, b, 0.0)
        a = ym[:, 0] - b * dm[:, 0]
        pred = a[:, None] + b[:, None] * d
        new = np.where(left, np.minimum(t, pred), np.where(right, np.maximum(t, pred), t))
        if missing is not None:
            new = np.where(missing, pred, new)
        if np.allclose(new, y, rtol=0, atol=1e-9):
            y = new
            break
        y = new
    yc = y - y.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (dc * yc).sum(1) / np.sqrt(sdd * (yc**2).sum(1))
    count = n - (missing.sum(1) if missing is not None else 0)
    rmse = np.sqrt(((y - a[:, None] - b[:, None] * d) ** 2).sum(1) / np.maximum(count, 1))
    if n < 2:
        r[:] = np.nan
    return a, b, r, rmse


def rank_origins(
    flows: pd.DataFrame,
    arrivals,
    *,
    method: str = "effective_distance",
    censored_at=None,
    unreached: str = "late",
    observed_until=None,
    criterion: str = "rmse",
    hidden_origin: bool = False,
) -> pd.DataFrame:
    """Every node of the network as a candidate origin, best first.

    ``flows``: ``origin, destination, weight``. ``arrivals``: node -> first-case time (day
    numbers or dates; a mapping, a Series or a DataFrame ``node, time``); nodes absent were
    not reached. ``censored_at``: arrivals at or before it are left-censored; ``unreached``:
    ``"late"`` (default: right-censored after ``observed_until``, default the last arrival) or
    ``"ignore"`` (Brockmann & Helbing's fit on the reached nodes only). ``method`` picks which
    ranking gives ``score`` and ``rank``. ``criterion``: the effective-distance ranking by the
    residual ``"rmse"`` of the fit (default; the same arrival times for every candidate, so
    residuals compare directly; the better of the two on the simulated city, see
    ``benchmarks/accuracy/origins.py``) or by its ``"correlation"`` (Brockmann & Helbing).
    ``hidden_origin``: the origin may not have reported; with ``unreached="late"`` a
    candidate's own absence from ``arrivals`` then does not count against it.

    Columns: ``node, score, rank``; ``correlation`` (effective distance vs arrival time),
    ``slope`` (days per unit of effective distance) and ``rmse`` (days) of the censored fit;
    the rank under every
    method (``effective_distance_rank, jordan_rank, rumor_rank, degree_rank,
    closeness_rank``). Baselines score only the reached nodes of the largest connected
    component of the reached subgraph; other nodes follow them, by name. Ties: Jordan by
    closeness, then all by total flow to and from the other reached nodes, then by name.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if criterion not in ("correlation", "rmse"):
        raise ValueError("criterion must be 'correlation' or 'rmse'")
    if unreached not in ("ignore", "late"):
        raise ValueError("unreached must be 'ignore' or 'late'")
    reached, t, is_date, t_origin = _times(arrivals)
    if len(reached) < 2:
        raise ValueError("arrivals needs at least 2 reached nodes")
    nodes, m = _flow_matrix(flows)
    missing = [n for n in reached if n not in nodes]
    if missing:
        raise ValueError(f"arrivals node {missing[0]!r} is not in flows")
    idx = nodes.get_indexer(reached)
    n_nodes = len(nodes)

    # Effective distance: censored linear fit from every candidate.
    dist = _effective(m)
    left = np.zeros(len(reached), dtype=bool)
    if censored_at is not None:
        left = t <= _as_day(censored_at, is_date, t_origin)
    cols, times = idx, t
    right = np.zeros(len(reached), dtype=bool)
    if unreached == "late":
        until = t.max() if observed_until is None else _as_day(observed_until, is_date, t_origin)
        if until < t.max():
            raise ValueError("observed_until is before the last arrival")
        others = np.setdiff1d(np.arange(n_nodes), idx)
        cols = np.concatenate([idx, others])
        times = np.concatenate([t, np.full(len(others), until)])
        right = np.concatenate([right, np.ones(len(others), dtype=bool)])
        left = np.concatenate([left, np.zeros(len(others), dtype=bool)])
    d = dist[:, cols]
    ok = np.isfinite(d[:, : len(reached)]).all(1)
    d_fin = np.where(np.isfinite(d), d, np.nanmax(np.where(np.isfinite(d), d, np.nan)) + 1.0)
    missing = None
    if hidden_origin and unreached == "late":  # a candidate's own silence is no evidence
        missing = np.zeros(d.shape, dtype=bool)
        own = np.flatnonzero(cols >= 0)[len(reached) :]
        missing[cols[own], own] = True
    _, slope, corr, rmse = censored_fit(d_fin, times, left, right, missing)
    corr = np.where(ok, corr, np.nan)
    slope = np.where(ok, slope, np.nan)
    rmse = np.where(ok, rmse, np.nan)

    key = corr if criterion == "correlation" else -rmse
    scores = {"effective_distance": (key, corr if criterion == "rmse" else -rmse)}
    scores.update(_baselines(m, idx))
    out = pd.DataFrame(
        {"node": nodes.astype(str), "correlation": corr, "slope": slope, "rmse": rmse}
    )
    for name, keys in scores.items():
        out[f"{name}_rank"] = _rank(keys, out["node"].to_numpy())
    out["score"] = scores[method][0]
    out["rank"] = out[f"{method}_rank"]
    out = out.sort_values("rank", kind="stable").reset_index(drop=True)
    return out[COLUMNS]


def _rank(keys: tuple[np.ndarray, ...], names: np.ndarray) -> np.ndarray:
    """1 = best: higher first key, ties by the next keys, then by name; NaN first keys last."""
    nan = np.isnan(keys[0])
    order = np.lexsort((names, *(-np.nan_to_num(k) for k in reversed(keys)), nan))
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(1, len(names) + 1)
    return rank


def _baselines(m: sparse.csr_matrix, idx: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    n_nodes = m.shape[0]
    sub = m[idx][:, idx]
    adj = ((sub + sub.T) > 0).astype(np.int8).tocsr()
    n_comp, label = csgraph.connected_components(adj, directed=False)
    big = np.argmax(np.bincount(label))
    comp = np.flatnonzero(label == big)
    adj = adj[comp][:, comp].tocsr()
    hops = csgraph.shortest_path(adj, unweighted=True, directed=False)
    k = len(comp)
    ecc = hops.max(1)
    total = hops.sum(1)
    closeness = np.where(total > 0, (k - 1) / np.where(total > 0, total, 1), 0.0)
    degree = np.asarray(adj.sum(1)).ravel().astype(float)
    flow = (np.asarray(sub.sum(1)).ravel() + np.asarray(sub.sum(0)).ravel())[comp]
    rumor = rumor_centrality_bfs(adj)

    def full(values: np.ndarray) -> np.ndarray:
        out = np.full(n_nodes, np.nan)
        out[idx[comp]] = values
        return out

    return {
        "jordan": (full(-ecc), full(closeness), full(flow)),
        "rumor": (full(rumor), full(flow)),
        "degree": (full(degree), full(flow)),
        "closeness": (full(closeness), full(flow)),
    }


def rumor_centrality_bfs(adj) -> np.ndarray:
    """log rumor centrality ``log R(v, T_v) = log n! - sum_u log T_u^v`` of every node ``v`` of
    a connected graph on its breadth-first tree ``T_v`` (Shah & Zaman 2011; ``T_u^v``: size of
    the subtree of ``u`` with ``v`` as root). On a tree this is the exact rumor centrality."""
    adj = sparse.csr_matrix(adj)
    n = adj.shape[0]
    out = np.empty(n)
    for v in range(n):
        order, pred = csgraph.breadth_first_order(adj, v, directed=False)
        if len(order) != n:
            raise ValueError("rumor centrality needs a connected graph")
        size = np.ones(n)
        for u in order[:0:-1]:  # leaves up, root excluded
            size[pred[u]] += size[u]
        out[v] = gammaln(n + 1) - np.log(size).sum()
    return out
