"""False-alarm burden control across the many series tested in one run.

A city runs thousands of region x syndrome series every day; at a per-series level of 0.001 that
is several false signals a day before a single outbreak. Two controls, both on the p-values the
detectors return:

- ``benjamini_hochberg``: the false discovery rate of one family of tests (Benjamini &
  Hochberg 1995), valid under independence and positive dependence (Benjamini & Yekutieli
  2001), which neighbouring regions' counts have.
- ``hierarchical_fdr``: the regions form a tree (city -> district -> sub-district). Each node
  is first given the Simes (1986) combination of every p-value in its subtree, which is a
  valid p-value for "nothing in this area is unusual" and keeps the power of a single very
  small p-value deep down. The tree is then tested top-down (Yekutieli 2008, "Hierarchical
  false discovery rate-controlling methodology", JASA 103:309-316): the roots form one family;
  the children of every rejected node form a family tested by Benjamini-Hochberg at the same
  level. Only the deepest rejected nodes are reported: a street outbreak appears once, at its
  street, not again as its district and its city; an increase spread thinly over a district
  (no single street significant) appears once, at the district.

Why hierarchical rather than one flat family: the flat family of all series pays the full
multiplicity of every sub-district for a city-wide wave, and reports the same event at every
level it reaches. Top-down testing spends the multiplicity only inside areas already shown to
be unusual, so alerts fall by the number of levels an event touches and the number of quiet
areas, while a strong local excess still reaches the top by the Simes combination. Yekutieli
bounds the overall FDR of the reported nodes by about ``2 q delta`` (``delta`` <= 1.1 in his
simulations); the level ``q`` is per run (one day in prospective operation), so families never
reach into future days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


def benjamini_hochberg(pvalues: npt.ArrayLike, q: float, *, axis: int = 0) -> npt.NDArray[np.bool_]:
    """Rejections of the Benjamini-Hochberg step-up procedure at level ``q``.

    Each 1-D slice along ``axis`` is one family; NaN p-values are not tests (they neither
    count in the family size nor get rejected).
    """
    _check_level(q)
    p = np.moveaxis(np.asarray(pvalues, dtype=float), axis, 0)
    if p.shape[0] == 0:
        return np.moveaxis(np.zeros(p.shape, dtype=np.bool_), 0, axis)
    tested = ~np.isnan(p)
    m = tested.sum(axis=0)
    order = np.argsort(np.where(tested, p, np.inf), axis=0, kind="stable")
    ranked = np.take_along_axis(np.where(tested, p, np.inf), order, axis=0)
    rank = np.arange(1, p.shape[0] + 1).reshape((-1,) + (1,) * (p.ndim - 1))
    below = ranked <= q * rank / np.maximum(m, 1)
    # The step-up cut: the largest rank whose p-value is below its line.
    k = np.where(below.any(axis=0), p.shape[0] - np.argmax(below[::-1], axis=0), 0)
    threshold = np.take_along_axis(ranked, np.maximum(k - 1, 0)[np.newaxis], axis=0)[0]
    reject = tested & (k > 0) & (p <= threshold)
    return np.moveaxis(reject, 0, axis)


def simes(pvalues: npt.ArrayLike, *, axis: int = 0) -> npt.NDArray[np.float64]:
    """The Simes (1986) combined p-value ``min_i m p_(i) / i`` of each slice along ``axis``.

    NaN entries are left out; a slice without any p-value gives NaN.
    """
    p = np.moveaxis(np.asarray(pvalues, dtype=float), axis, 0)
    tested = ~np.isnan(p)
    m = tested.sum(axis=0)
    ranked = np.sort(np.where(tested, p, np.inf), axis=0)
    rank = np.arange(1, p.shape[0] + 1).reshape((-1,) + (1,) * (p.ndim - 1))
    with np.errstate(invalid="ignore"):
        combined = np.where(rank <= m, m * ranked / rank, np.inf).min(axis=0, initial=np.inf)
    return np.where(m > 0, np.minimum(combined, 1.0), np.nan)


@dataclass(frozen=True)
class HierarchicalResult:
    """Outcome of ``hierarchical_fdr``; every array is ``[n_nodes, n_days]``.

    - ``combined``: the Simes p-value of each node's subtree (the node included).
    - ``rejected``: nodes rejected top-down.
    - ``reported``: rejected nodes none of whose children is rejected (what becomes a signal).
    """

    combined: npt.NDArray[np.float64]
    rejected: npt.NDArray[np.bool_]
    reported: npt.NDArray[np.bool_]


def hierarchical_fdr(
    pvalues: npt.ArrayLike, parent: Sequence[int] | npt.ArrayLike, q: float
) -> HierarchicalResult:
    """Top-down hierarchical FDR testing of a forest of series, every day (column) apart.

    ``pvalues[node, day]`` is each node's own p-value (NaN: not tested that day);
    ``parent[node]`` is the index of its parent node, ``-1`` for a root. Several roots (e.g.
    one city series per syndrome) form the first family. See the module docstring.
    """
    _check_level(q)
    p = np.asarray(pvalues, dtype=float)
    if p.ndim == 1:
        p = p[:, np.newaxis]
    parents = np.asarray(parent, dtype=np.intp)
    n = p.shape[0]
    if parents.shape != (n,):
        raise ValueError(f"parent has {parents.size} entries for {n} nodes")
    if np.any((parents < -1) | (parents >= n)):
        raise ValueError("parent entries must be -1 (a root) or a node index")
    children: list[list[int]] = [[] for _ in range(n)]
    roots: list[int] = []
    for node, up in enumerate(parents):
        (roots if up < 0 else children[up]).append(node)
    order = _top_down(roots, children, n)
    combined = np.minimum(p, 1.0)  # a leaf's subtree is itself
    for node in order:
        if children[node]:
            combined[node] = simes(p[_subtree(node, children)], axis=0)
    rejected = np.zeros(p.shape, dtype=np.bool_)
    rejected[roots] = benjamini_hochberg(combined[roots], q, axis=0)
    for node in order:
        kids = children[node]
        if not kids:
            continue
        alive = rejected[node]
        if not alive.any():
            continue
        family = np.where(alive[np.newaxis, :], combined[kids], np.nan)
        rejected[kids] = benjamini_hochberg(family, q, axis=0)
    reported = rejected.copy()
    for node in order:
        kids = children[node]
        if kids:
            reported[node] &= ~rejected[kids].any(axis=0)
    return HierarchicalResult(combined=combined, rejected=rejected, reported=reported)


def _top_down(roots: list[int], children: list[list[int]], n: int) -> list[int]:
    order, stack, seen = [], list(reversed(roots)), 0
    while stack:
        node = stack.pop()
        order.append(node)
        seen += 1
        if seen > n:
            raise ValueError("parent links contain a cycle")
        stack.extend(reversed(children[node]))
    if len(order) != n:
        raise ValueError("parent links contain a cycle (some nodes reach no root)")
    return order


def _subtree(node: int, children: list[list[int]]) -> list[int]:
    members, stack = [], [node]
    while stack:
        v = stack.pop()
        members.append(v)
        stack.extend(children[v])
    return members


def _check_level(q: float) -> None:
    if not 0 < q < 1:
        raise ValueError(f"the FDR level q must lie in (0, 1), got {q}")
