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
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..models.layers import Network
from .exactness import PathWarning, warn_inconsistent, warn_not_exact
from .kinks import row_breakpoints
from .rules import CC_LEVELS, clenshaw_curtis, fejer2, gauss_legendre

__all__ = [
    "ADAPTIVE_RTOL", "MAX_BISECTIONS", "adaptive_rtol", "unit_roundoff", "warn_inconsistent",
    "warn_not_exact", "RoundingScale", "StepPlan", "PathWarning", "integrate_step",
    "row_breakpoints",
]

ADAPTIVE_RTOL = 1e-14
"""Target of the adaptive exact rule in float64: the step identity's residual relative to
its rounding scale (:class:`RoundingScale`). A few ulps of float64 (2.2e-16) times the
handful of operations in ∫∇f·Δ; for other dtypes :func:`adaptive_rtol` scales it by the
unit roundoff."""


def unit_roundoff(dtype: Any) -> float:
    """Machine epsilon of a float dtype of any namespace (by its size)."""
    from .engines import itemsize

    return float(np.finfo(np.float32 if itemsize(dtype) == 4 else np.float64).eps)


def adaptive_rtol(dtype: Any) -> float:
    """The step-identity target for ``dtype``: 1e-14 in float64 (≈ 45 ulps), as many ulps of
    float32 (5e-6)."""
    return ADAPTIVE_RTOL * unit_roundoff(dtype) / float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class StepPlan:
    """Where one step's integrand was evaluated for q query rows.

    taus, weights: ``(m,)`` nodes and weights on [0, 1] shared by every row, or ``(R,)``
                   per evaluation row when ``rows`` is given.
    rows:          None (shared nodes), or ``(R,)`` the query row each evaluation belongs to.
    evaluations:   gradient evaluations per query row for this step.
    residual:      max |f(w+Δ) − f(w) − ∫∇f·Δ| relative to the identity's rounding scale
                   (:class:`RoundingScale`; float64 rounding ≈ 1e-16).
    switch_evaluations: forward passes per query row that located its kinks (foreign
                   models with piecewise-linear units; :mod:`pkverify.kernels.switches`).
    """

    taus: np.ndarray
    weights: np.ndarray
    rows: np.ndarray | None
    evaluations: float
    residual: float
    switch_evaluations: float = 0.0


Evaluate = Callable[[float | None, Any], tuple[Any, Any]]


class RoundingScale:
    """The size that one step's identity ``f(w+Δ, x) − f(w, x) = ∫∇f·Δ`` is judged against,
    per query row and output: ``max(max_x |f|, ‖∇f_a(w_s, x)‖·(‖w_s‖ + ‖w_{s+1}‖)·u/rtol)``,
    so the target ``rtol`` (45 ulps) allows a gap of 45 ulps of ``max|f|`` or one ulp per
    weight of the backward-error bound below, whichever is larger.

    Why the second term: a float evaluation of ``f(w, x)`` (sums of products, layer by layer)
    is the exact value at weights perturbed by about an ulp each (backward stability of sums
    and products), which moves f by up to ``u Σ_j |w_j ∂_j f| ≤ u ‖w‖ ‖∇f‖`` to first order
    (Cauchy–Schwarz). The same bound covers the stored step: ``Δ_s = fl(w_s − ε g) − w_s``
    differs from ``−ε g`` by ≤ ½ ulp of each ``w_{s+1,j}``, so ``|∇f·(Δ_s + ε g)| ≤
    u ‖∇f‖ ‖w_{s+1}‖``. Where f is small by cancellation (a model fitted to targets near 0,
    inputs near the bottom of the float range) this floor is orders above ``u max|f|``, and a
    residual relative to ``max|f|`` alone is no measure of rounding (such steps climbed to 65
    nodes and bisection and raised a false PathWarning). Elsewhere ``max|f|`` dominates and
    the judgement is the plain relative one.

    ``‖∇f(w_s, x)‖`` is the square root of the tangent kernel's diagonal (a cross kernel of
    each row block with itself); it is computed only when a residual misses the target
    relative to ``max|f|``, at most once per step.
    """

    BLOCK = 64  # rows per diagonal block: the kernel of 64 rows with themselves

    def __init__(self, engine: Any, w: Any, delta: Any, Xq: Any):
        self.engine, self.w, self.Xq = engine, w, Xq
        xp = engine.xp
        w1 = w + delta
        self.weight_norm = float(xp.sqrt(xp.sum(w * w))) + float(xp.sqrt(xp.sum(w1 * w1)))
        self._grad_norm: np.ndarray | None = None

    def grad_norm(self) -> np.ndarray:
        """``‖∇f_a(w_s, x)‖`` per row and output, ``(q, k)`` (NumPy, on the host)."""
        if self._grad_norm is None:
            eng = self.engine
            q = int(self.Xq.shape[0])
            parts = []
            for lo in range(0, q, self.BLOCK):
                A = eng.side(self.w, self.Xq[lo:min(q, lo + self.BLOCK), ...])
                K = to_numpy(eng.cross(A, A)).astype(np.float64)  # (b, b, k, k)
                b = K.shape[0]
                parts.append(K[np.arange(b), np.arange(b)].diagonal(axis1=1, axis2=2))
            self._grad_norm = np.sqrt(np.maximum(np.concatenate(parts, axis=0), 0.0))
        return self._grad_norm

    def _size(self, y0: Any, y1: Any) -> float:
        xp = self.engine.xp
        return max(float(xp.max(xp.abs(y0))), float(xp.max(xp.abs(y1))),
                   float(np.finfo(np.float64).tiny))

    def relative(self, gap: Any, y0: Any, y1: Any) -> float:
        """``max |gap| / max|f|``: the plain relative residual (no gradient needed)."""
        xp = self.engine.xp
        return float(xp.max(xp.abs(gap))) / self._size(y0, y1)

    def residual(self, gap: Any, y0: Any, y1: Any, refine: bool = True) -> float:
        """``max |gap| / scale`` over rows and outputs (see the class). The gradient term is
        evaluated only when the plain relative residual misses the target and ``refine``
        (callers refine where more nodes no longer help: a climb that stalled, or its end),
        so a converging climb never builds a gradient norm."""
        return float(np.max(self.per_row(gap, y0, y1, refine)))

    def per_row(self, gap: Any, y0: Any, y1: Any, refine: bool = True) -> np.ndarray:
        """The residual of each query row, ``(q,)`` (:meth:`residual` is their max)."""
        size = self._size(y0, y1)
        gap_h = np.abs(to_numpy(gap).astype(np.float64)).reshape(int(self.Xq.shape[0]), -1)
        plain = np.max(gap_h, axis=1) / size
        rtol = adaptive_rtol(self.Xq.dtype)
        if float(np.max(plain)) <= rtol or not refine:
            return plain
        ulps = unit_roundoff(self.Xq.dtype) / rtol  # one ulp per weight, in units of rtol
        g = self.grad_norm().reshape(gap_h.shape) * (self.weight_norm * ulps)
        return np.max(gap_h / np.maximum(g, size), axis=1)


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
        from .exact_rows import integrate_pieces

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
    xp = engine.xp
    q = int(Xq.shape[0])
    bps = row_breakpoints(net, w, delta, Xq, xp)
    g = max(1, math.ceil((net.hidden + 1) / 2))
    x_g, w_g = np.polynomial.legendre.leggauss(g)
    rows, taus, wts = [], [], []
    for r in range(q):
        e = np.concatenate([[0.0], bps[r], [1.0]])
        for a, b in zip(e[:-1], e[1:]):
            if b <= a:
                continue
            half = 0.5 * (b - a)
            rows.append(np.full(g, r))
            taus.append(a + half * (x_g + 1.0))
            wts.append(half * w_g)
    rows_a = np.concatenate(rows)
    taus_a = np.concatenate(taus)
    wts_a = np.concatenate(wts)
    Xe = Xq[xp.asarray(rows_a)] if not isinstance(Xq, np.ndarray) else Xq[rows_a]
    _, dY = engine.jvp(w, Xe, U, along=(delta, xp.asarray(taus_a, dtype=Xq.dtype)))
    total = scatter_rows(xp, dY, rows_a, wts_a, q, axis=1)
    y0 = engine.forward(w, Xq)
    y1 = engine.forward(w + delta, Xq)
    res = RoundingScale(engine, w, delta, Xq).residual((y1 - y0) - step_integral(total), y0, y1)
    return total, y0, StepPlan(taus_a, wts_a, rows_a, rows_a.size / q, res)


def scatter_rows(xp: Any, vals: Any, rows: np.ndarray, weights: np.ndarray, q: int,
                 axis: int = 0) -> Any:
    """``out[..., r, ...] = Σ_{e: rows[e] = r} weights[e] · vals[..., e, ...]`` along ``axis``
    (a dense (q, R) matrix product, so it works in any namespace)."""
    M = np.zeros((q, rows.size))
    M[rows, np.arange(rows.size)] = weights
    Mx = xp.asarray(M, dtype=vals.dtype)
    moved = xp.moveaxis(vals, axis, 0) if hasattr(xp, "moveaxis") else vals
    shape = tuple(moved.shape)
    out = Mx @ xp.reshape(moved, (shape[0], -1))
    out = xp.reshape(out, (q,) + shape[1:])
    return xp.moveaxis(out, 0, axis) if hasattr(xp, "moveaxis") else out
