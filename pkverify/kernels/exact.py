"""The exact rule's quadrature in τ along one step ``w + τΔ``, τ ∈ [0, 1] [bell2023].

``f(w + Δ, x) − f(w, x) = ∫_0^1 ∇f(w + τΔ, x) dτ · Δ`` holds exactly, so the integral is
evaluated until this *step identity* holds to rounding. Three plans:

* **smooth models** (and custom models that declare kinks they cannot locate): nested
  Clenshaw–Curtis on [0, 1] (or on the pieces a custom locator returns), climbing
  :data:`~pkverify.kernels.rules.CC_LEVELS` until the identity's residual is below
  :data:`ADAPTIVE_RTOL` relative to its rounding scale (:class:`RoundingScale`); a climb keeps
  every node already evaluated;
* **relu networks** (layer-wise engine): each query row is split at *its own* kinks,
  located layer by layer — between the kinks of layers < h the pre-activations of layer h are
  polynomials of degree h in τ, so they are interpolated exactly on Chebyshev points and
  their roots found as eigenvalues; between all kinks ∇f·u is a polynomial of degree L (the
  number of hidden layers), so ``ceil((L + 1)/2)`` Gauss–Legendre nodes per piece are exact;
* **a fixed node count** (``nodes=int``): Gauss–Legendre with that many nodes (per piece);
  its residual is measured too, and a count that misses rounding is warned about.

A plan is data (:class:`StepPlan`) so that the kernel pass evaluates the same nodes the
product pass chose.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..models.layers import Network
from .exact_rows import gauss_on_pieces, integrate_pieces
from .exactness import PathWarning, warn_inconsistent, warn_not_exact
from .kinks import row_breakpoints
from .rows import scatter_rows
from .rules import CC_LEVELS, clenshaw_curtis, fejer2, gauss_legendre
from .step_identity import (
    ADAPTIVE_RTOL,
    RoundingScale,
    StepPlan,
    adaptive_rtol,
    unit_roundoff,
)

__all__ = [
    "ADAPTIVE_RTOL", "MAX_BISECTIONS", "adaptive_rtol", "unit_roundoff", "warn_inconsistent",
    "warn_not_exact", "RoundingScale", "StepPlan", "PathWarning", "integrate_step",
    "row_breakpoints", "scatter_rows",
]

def integrate_step(
    engine: Any,
    w: Any,
    delta: Any,
    Xq: Any,
    U: Any,
    step_integral: Callable[[Any], Any],
    nodes: int | None,
    cuts: np.ndarray | None = None,
) -> tuple[Any, Any, StepPlan]:
    """``(∫_0^1 ∇f(w + τΔ, Xq)·U dτ  (t, q, k),  f(w, Xq) (q, k),  plan)``.

    ``step_integral(I)`` maps the integrals of the tangents U to ``∫∇f·Δ`` (q, k), the right
    side of the step identity that the residual checks. ``cuts``: τ
    where a custom model's gradient jumps (shared by all rows).
    """
    net: Network | None = getattr(engine, "net", None)
    if net is not None and net.kinked and engine.supports_along:
        return _per_row(engine, net, w, delta, Xq, U, step_integral)
    if cuts is None and not engine.model.smooth and engine.supports_along \
            and engine.locates_kinks():  # a foreign model's kinks, from its switch values

        return integrate_pieces(engine, w, delta, Xq, U, step_integral, nodes)
    edges = [0.0, 1.0] if cuts is None or len(cuts) == 0 else [0.0, *sorted(cuts), 1.0]
    pieces = [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    degree = engine.model.piece_degree if cuts is not None else None
    if nodes is None and degree is not None:  # polynomial pieces: Gauss is exact
        nodes = max(1, math.ceil((degree + 1) / 2))
    if nodes is not None:
        return _fixed(engine, w, delta, Xq, U, step_integral, pieces, nodes)
    return _nested(engine, w, delta, Xq, U, step_integral, pieces, open_rule=cuts is not None)


def _at(engine: Any, w: Any, delta: Any, tau: float, Xq: Any, U: Any) -> tuple[Any, Any]:
    return engine.jvp(w + tau * delta, Xq, U)


def _fixed(engine, w, delta, Xq, U, step_integral, pieces, nodes):
    total = None
    taus_all, wts_all = [], []
    for a, b in pieces:
        taus, wts = gauss_legendre(nodes, a, b)
        for tau, c in zip(taus, wts):
            _, dY = _at(engine, w, delta, float(tau), Xq, U)
            total = c * dY if total is None else total + c * dY
        taus_all.append(taus)
        wts_all.append(wts)
    y0 = engine.forward(w, Xq)
    y1 = engine.forward(w + delta, Xq)
    res = RoundingScale(engine, w, delta, Xq).residual((y1 - y0) - step_integral(total), y0, y1)
    taus = np.concatenate(taus_all)
    return total, y0, StepPlan(taus, np.concatenate(wts_all), None, float(taus.size), res)


MAX_BISECTIONS = 4
"""After the finest nested level, a step that still misses the target is cut into 2, 4, …,
2^MAX_BISECTIONS equal pieces, each climbing the nested levels again (very large steps on
saturating activations, where the integrand is nearly a step function)."""


def _nested(engine, w, delta, Xq, U, step_integral, pieces, open_rule=False):
    """Nested Clenshaw–Curtis per piece, one common level, climbing until the identity holds;
    then, for smooth models, bisection of every piece if the finest level is not enough
    (kinks that were not located cannot be resolved by more nodes: no bisection there)."""
    best = None
    evaluations = 0
    depths = MAX_BISECTIONS if engine.model.smooth else 0
    for depth in range(depths + 1):
        parts = [
            (a + (b - a) * j / 2**depth, a + (b - a) * (j + 1) / 2**depth)
            for a, b in pieces
            for j in range(2**depth)
        ]
        total, y0, plan, count = _climb(engine, w, delta, Xq, U, step_integral, parts, open_rule)
        evaluations += count
        if best is None or plan.residual < best[2].residual:
            best = (total, y0, plan)
        if plan.residual <= adaptive_rtol(Xq.dtype):
            break
    assert best is not None
    total, y0, plan = best
    return total, y0, StepPlan(plan.taus, plan.weights, None, float(evaluations), plan.residual)


def _climb(engine, w, delta, Xq, U, step_integral, pieces, open_rule=False):
    """Climb the nested levels on fixed pieces. Clenshaw–Curtis (whose end nodes give f(w)
    and f(w + Δ) for free), or Fejér's second rule (interior nodes only) when the pieces end
    at located kinks."""
    scale = RoundingScale(engine, w, delta, Xq)
    finest = CC_LEVELS[-1]
    cache: dict[tuple[int, int], Any] = {}  # (piece, node index at the finest level) -> dY
    y0 = y1 = None
    if open_rule:
        y0, y1 = engine.forward(w, Xq), engine.forward(w + delta, Xq)
    best = None
    prev: float | None = None
    for N in CC_LEVELS:
        stride = finest // N
        taus_n, wts_n = fejer2(N) if open_rule else clenshaw_curtis(N)
        first = 1 if open_rule else 0
        total = None
        taus_all, wts_all = [], []
        for p, (a, b) in enumerate(pieces):
            for j in range(taus_n.size):
                key = (p, (j + first) * stride)
                if key not in cache:
                    tau = a + (b - a) * float(taus_n[j])
                    y, dY = _at(engine, w, delta, tau, Xq, U)
                    cache[key] = dY
                    if not open_rule and p == 0 and j == 0:
                        y0 = y
                    if not open_rule and p == len(pieces) - 1 and j == N:
                        y1 = y
                c = (b - a) * float(wts_n[j])
                total = c * cache[key] if total is None else total + c * cache[key]
            taus_all.append(a + (b - a) * taus_n)
            wts_all.append((b - a) * wts_n)
        gap = (y1 - y0) - step_integral(total)
        plain = scale.relative(gap, y0, y1)
        stalled = prev is not None and plain > 0.5 * prev  # more nodes stopped helping
        res = scale.residual(gap, y0, y1, refine=stalled or N == finest)
        prev = plain
        plan = StepPlan(np.concatenate(taus_all), np.concatenate(wts_all), None, 0.0, res)
        if best is None or res < best[2].residual:
            best = (total, y0, plan)
        if res <= adaptive_rtol(Xq.dtype):
            break
    assert best is not None
    return best[0], best[1], best[2], len(cache)


# ---------------------------------------------------------------------------------------
# relu networks: exact Gauss nodes between each row's kinks (located in kernels.kinks)
# ---------------------------------------------------------------------------------------


def _per_row(engine, net, w, delta, Xq, U, step_integral):
    q = int(Xq.shape[0])
    bps = row_breakpoints(net, w, delta, Xq, engine.xp)
    pieces = [np.concatenate([[0.0], b, [1.0]]) for b in bps]
    g = max(1, math.ceil((net.hidden + 1) / 2))
    total, (rows, taus, wts) = gauss_on_pieces(engine, w, delta, Xq, U, pieces, g)
    y0 = engine.forward(w, Xq)
    y1 = engine.forward(w + delta, Xq)
    res = RoundingScale(engine, w, delta, Xq).residual((y1 - y0) - step_integral(total), y0, y1)
    return total, y0, StepPlan(taus, wts, rows, rows.size / q, res)
