"""The step identity the exact rule is judged by, ``f(w+Δ, x) − f(w, x) = ∫_0^1 ∇f(w+τΔ, x)·Δ dτ``
[bell2023]: its target in ulps of each dtype, the rounding scale a residual is measured
against (:class:`RoundingScale`), and the record of where one step's integrand was evaluated
(:class:`StepPlan`). Shared by the shared-node rule (:mod:`pkverify.kernels.exact`) and the
per-row rule (:mod:`pkverify.kernels.exact_rows`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import to_numpy

__all__ = ["ADAPTIVE_RTOL", "adaptive_rtol", "unit_roundoff", "RoundingScale", "StepPlan"]


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
