"""Kernels from per-row Jacobians of row chunks, contracted block by block: the part of a
framework engine (JAX's, torch's) that does not depend on the framework.

A framework gives ``J[i, c, p] = ∂f_c(w_i, x_i)/∂w_p`` for a chunk of rows (torch:
``vmap(jacrev)``, the torch.func recipe; JAX: ``jacrev`` per row under ``lax.map``); the
cross kernel is the tangent kernel ``K[i, j, c, d] = Σ_p J_a[i, c, p] J_b[j, d, p]``
(jacot2018; k × k blocks: su2021). A side's Jacobian is kept only when one copy of it fits
in half the memory budget (``DEFAULT_MEMORY``), held as its row blocks (never joined);
otherwise its blocks are recomputed for each block of the other side — never an n × P
array beyond one chunk of each side. A kernel's side A is never kept: its blocks are the
outer loop, each computed once. A Gram computes each pair of blocks once, the upper
triangle, and mirrors it (``K(x_j, x_i) = K(x_i, x_j)ᵀ`` in the output axes): half the
contractions, and where the side is not kept ``m(m + 1)/2`` block Jacobians for m blocks
instead of about ``m²``. How many copies of a row's Jacobian building a block holds
(``build_copies``) is the framework's, measured; blocks are sized so that building one
takes at most half the budget. Subclasses supply the framework's arrays and Jacobians.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...progress import progress
from ..rows import scatter_rows
from . import DEFAULT_MEMORY, Engine

__all__ = ["JacobianSide", "JacobianBlockEngine"]


@dataclass
class JacobianSide:
    """One side of a kernel: the rows' weights (the engine's own form: shared, or per row
    ``w + τ_r Δ``) and inputs as framework arrays, and — when it is kept — the rows'
    Jacobian as row blocks ``[(lo, hi, J (hi − lo, k, P))]`` and outputs ``(n, k)``."""

    w: Any
    X: Any
    jac: Any | None = None
    out: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.X.shape[0])


class JacobianBlockEngine(Engine):
    """Kernels, side products and weighted products from chunked per-row Jacobians.

    Subclasses implement ``_t`` (NumPy → framework array in the model's dtype),
    ``_to_numpy(t, dtype)``, ``_einsum``, ``_cat`` and the weights of a side:
    ``_side_weights(w, along)`` (default ``(w, along)`` as framework arrays),
    ``_weights_rows(sw, lo, hi)`` (those of rows lo:hi) and ``_side_jacobian(sw, X) -> (J, y)``;
    ``itemsize`` is the bytes per element of the model's dtype.
    """

    itemsize = 8
    build_copies = 3
    """Row Jacobians ``(k, P)`` alive per row while a chunk's Jacobian is built, the result
    included (torch's ``vmap(jacrev)``: cotangents, gradients, result)."""

    def __init__(self, model: Any, xp: Any):
        super().__init__(model, xp)
        self.chunk_rows: int | None = None  # rows per Jacobian block; None: from the budget

    # --- framework hooks ----------------------------------------------------------------------
    def _t(self, a: Any) -> Any:
        raise NotImplementedError

    def _to_numpy(self, t: Any, dtype: Any) -> np.ndarray:
        raise NotImplementedError

    def _einsum(self, spec: str, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def _cat(self, parts: list[Any], axis: int) -> Any:
        raise NotImplementedError

    def _side_jacobian(self, sw: Any, X: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def _side_weights(self, w: Any, along: tuple[Any, Any] | None) -> Any:
        return self._t(w), None if along is None else (self._t(along[0]), self._t(along[1]))

    def _weights_rows(self, sw: Any, lo: int, hi: int) -> Any:
        w, along = sw
        return w, None if along is None else (along[0], along[1][lo:hi])

    def _result_dtype(self) -> Any:
        return np.float32 if self.itemsize == 4 else np.float64

    # --- kernels ------------------------------------------------------------------------------
    def jacobian(self, w: Any, X: Any, along: tuple[Any, Any] | None = None) -> np.ndarray:
        """The per-row Jacobian ``J[i, c, p] = ∂f_c(w, x_i)/∂w_p``, ``(n, k, P)`` (NumPy);
        row i at ``w + τ_i Δ`` with ``along = (Δ, τ)``."""
        J = self._side_jacobian(self._side_weights(w, along), self._t(X))[0]
        return self._to_numpy(J, np.asarray(X).dtype)

    def jacobian_sum(self, w, X, along, rows, weights, q):
        """``J[r] = Σ_{e: rows[e] = r} weights[e] ∇f(w + τ_e Δ, x_e)``, ``(q, k, P)``: the
        evaluation rows' Jacobians block by block, weighted and added per query on the host
        (:func:`~pkverify.kernels.rows.scatter_rows`)."""
        sw, Xt = self._side_weights(w, along), self._t(X)
        dt = np.asarray(X).dtype
        out = None
        step = self._rows()
        for lo in range(0, int(Xt.shape[0]), step):
            hi = min(int(Xt.shape[0]), lo + step)
            J = self._to_numpy(self._side_jacobian(self._weights_rows(sw, lo, hi),
                                                   Xt[lo:hi])[0], dt)
            part = scatter_rows(np, J, rows[lo:hi], weights[lo:hi], q)
            out = part if out is None else out + part
        assert out is not None  # at least one evaluation row
        return out

    def _rows(self) -> int:
        if self.chunk_rows is not None:
            return self.chunk_rows
        per_row = self.row_bytes(0, self.itemsize)
        return max(1, DEFAULT_MEMORY // 2 // max(1, per_row))

    def side(self, w, X, along=None):
        """A side whose Jacobian is kept, as row blocks ``[(lo, hi, J)]`` (never joined:
        one copy), when it fits in half the memory budget — or in one ``chunk_rows`` block
        when that is set — otherwise recomputed block by block where used."""
        s = JacobianSide(self._side_weights(w, along), self._t(X))
        fits = (s.n <= self.chunk_rows if self.chunk_rows is not None else
                s.n * self.k * self.model.n_params * self.itemsize <= DEFAULT_MEMORY // 2)
        if fits:
            s.jac = list(self._computed_blocks(s))
            s.out = np.concatenate([self._to_numpy(y, np.asarray(X).dtype)
                                    for *_, y in s.jac], axis=0)
            s.jac = [(lo, hi, J) for lo, hi, J, _ in s.jac]
        return s

    def side_rows(self, s, lo, hi):
        jac = None if s.jac is None else [
            (max(a, lo) - lo, min(b, hi) - lo, J[max(a, lo) - a:min(b, hi) - a])
            for a, b, J in s.jac if a < hi and b > lo]
        return JacobianSide(self._weights_rows(s.w, lo, hi), s.X[lo:hi], jac,
                            None if s.out is None else s.out[lo:hi])

    def side_output(self, s):
        return s.out

    def _computed_blocks(self, s: JacobianSide):
        """``(lo, hi, J, f)`` for consecutive row blocks of a side, each computed now."""
        rows = self._rows()
        for lo in range(0, s.n, rows):
            hi = min(s.n, lo + rows)
            yield (lo, hi) + tuple(self._side_jacobian(self._weights_rows(s.w, lo, hi),
                                                       s.X[lo:hi]))

    def _blocks(self, s: JacobianSide):
        """``(lo, hi, J)`` for consecutive row blocks of a side: kept, or computed now."""
        if s.jac is not None:
            yield from s.jac
            return
        for lo, hi, J, _ in self._computed_blocks(s):
            yield lo, hi, J

    def _gram(self, s: JacobianSide, show: bool | None) -> np.ndarray:
        """``K(X, X)``: for each block i its Jacobian (kept, or computed once), then the blocks
        j ≥ i (kept, or recomputed), each pair contracted once and mirrored."""
        bounds = [(lo, hi) for lo, hi, *_ in (s.jac if s.jac is not None else
                                               self._bounds(s.n))]
        kept = None if s.jac is None else [J for *_, J in s.jac]

        def block(i: int) -> Any:
            lo, hi = bounds[i]
            return kept[i] if kept is not None else self._side_jacobian(
                self._weights_rows(s.w, lo, hi), s.X[lo:hi])[0]

        out = None
        for i in progress(range(len(bounds)), total=len(bounds), desc="kernel rows",
                          enabled=show):
            lo, hi = bounds[i]
            Ja = block(i)
            for j in range(i, len(bounds)):
                lo2, hi2 = bounds[j]
                Jb = Ja if j == i else block(j)
                K = self._to_numpy(self._einsum("icp,jdp->ijcd", Ja, Jb), self._result_dtype())
                if out is None:
                    k = K.shape[2]
                    out = np.empty((s.n, s.n, k, k), dtype=self._result_dtype())
                out[lo:hi, lo2:hi2] = K
                if j != i:
                    out[lo2:hi2, lo:hi] = K.transpose(1, 0, 3, 2)
                del Jb
        assert out is not None  # a side has at least one row
        return out

    def _bounds(self, n: int) -> list[tuple[int, int]]:
        rows = self._rows()
        return [(lo, min(n, lo + rows)) for lo in range(0, n, rows)]

    def cross(self, A, B, show: bool | None = False):
        """``(n1, n2, k, k)``: A's blocks outside, each computed once (or kept), B's inside."""
        out = None
        blocks = self._blocks(A)
        if A.jac is None:
            blocks = progress(blocks, total=len(self._bounds(A.n)), desc="kernel rows",
                              enabled=show)
        for lo, hi, Ja in blocks:
            for lo2, hi2, Jb in self._blocks(B):
                K = self._to_numpy(self._einsum("icp,jdp->ijcd", Ja, Jb), self._result_dtype())
                if out is None:
                    k = K.shape[2]
                    out = np.empty((A.n, B.n, k, k), dtype=self._result_dtype())
                out[lo:hi, lo2:hi2] = K
        assert out is not None  # a side has at least one row
        return out

    def side_products(self, B, U):
        """``∇f(x_i)·u_t`` for the rows of side B, ``(t, n, k)``, from its Jacobian blocks."""
        Ut = self._t(U)
        out = [self._einsum("icp,tp->tic", J, Ut) for _, _, J in self._blocks(B)]
        return self._to_numpy(self._cat(out, 1), self._result_dtype())

    def weighted_products(self, w, X, cotangent, U):
        """``(f, Σ_c v_ic ∇f_c(x_i)·u_t (t, n))`` with ``v = cotangent(f)``: forward-mode
        products ``∇f·u_t`` (:meth:`jvp`) contracted with v, never a Jacobian."""
        y, dY = self.jvp(w, X, U)
        v = np.asarray(cotangent(y))
        return y, np.einsum("tic,ic->ti", dY, v.reshape(y.shape))

    def row_bytes(self, n2, itemsize):
        """One row's Jacobian ``(k, P)`` and the copies like it that building it holds
        (``build_copies`` in all), plus its share of the ``(n2, k, k)`` block; the model's
        own activations are not counted."""
        return itemsize * (self.build_copies * self.k * self.model.n_params
                           + 2 * n2 * self.k * self.k)

    def kernel(self, w_a, X_a, w_b, X_b, *, same=False, along=None, batch_size=None,
               show=False, B=None):
        """As :meth:`Engine.kernel`, with ``batch_size`` (chunk_rows) bounding the Jacobian
        blocks of both sides, not only side A's."""
        self.chunk_rows = batch_size
        try:
            if B is None:
                B = self.side(w_b, X_b)
            if same:
                out = self._gram(B, show)
            else:  # side A's blocks outside, each computed once; B's kept or recomputed
                out = self.cross(JacobianSide(self._side_weights(w_a, along), self._t(X_a)), B,
                                 show)
        finally:
            self.chunk_rows = None
        return np.asarray(out).astype(np.asarray(X_a).dtype, copy=False)
