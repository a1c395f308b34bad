"""Kernels from per-row Jacobians of row chunks, contracted block by block: the part of a
framework engine (JAX's, torch's) that does not depend on the framework.

A framework gives ``J[i, c, p] = ∂f_c(w_i, x_i)/∂w_p`` for a chunk of rows by
``vmap(jacrev)`` (the torch.func and JAX per-example Jacobian recipe); the cross kernel is
the tangent kernel ``K[i, j, c, d] = Σ_p J_a[i, c, p] J_b[j, d, p]`` (jacot2018; k × k
blocks: su2021). Each side is chunked: a side's Jacobian is kept whole only when it fits in
half the memory budget (``DEFAULT_MEMORY``), otherwise its blocks are recomputed for each
block of the other side — never an n × P array beyond one chunk of each side. Subclasses
supply the framework's arrays and Jacobians.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..rows import scatter_rows
from . import DEFAULT_MEMORY, Engine

__all__ = ["JacobianSide", "JacobianBlockEngine"]


@dataclass
class JacobianSide:
    """One side of a kernel: the rows' weights (the engine's own form: shared, or per row
    ``w + τ_r Δ``) and inputs as framework arrays, and — when it fits in one chunk — the
    rows' Jacobian ``(n, k, P)`` and outputs ``(n, k)``."""

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
        s = JacobianSide(self._side_weights(w, along), self._t(X))
        if s.n <= self._rows():  # fits in one chunk: computed once, reused by every block
            J, y = self._side_jacobian(s.w, s.X)
            s.jac, s.out = J, self._to_numpy(y, np.asarray(X).dtype)
        return s

    def side_rows(self, s, lo, hi):
        return JacobianSide(self._weights_rows(s.w, lo, hi), s.X[lo:hi],
                            None if s.jac is None else s.jac[lo:hi],
                            None if s.out is None else s.out[lo:hi])

    def side_output(self, s):
        return s.out

    def _blocks(self, s: JacobianSide):
        """``(lo, hi, J)`` for consecutive row blocks of a side."""
        if s.jac is not None:
            yield 0, s.n, s.jac
            return
        rows = self._rows()
        for lo in range(0, s.n, rows):
            hi = min(s.n, lo + rows)
            yield lo, hi, self._side_jacobian(self._weights_rows(s.w, lo, hi), s.X[lo:hi])[0]

    def cross(self, A, B):
        out = None
        for lo, hi, Ja in self._blocks(A):
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
        """One row's Jacobian ``(k, P)`` and the two like it that ``jacrev`` holds while
        building it (cotangents, gradients), plus its share of the ``(n2, k, k)`` block;
        the model's own activations are not counted."""
        return itemsize * (3 * self.k * self.model.n_params + 2 * n2 * self.k * self.k)

    def kernel(self, w_a, X_a, w_b, X_b, *, same=False, along=None, batch_size=None,
               show=False, B=None):
        """As :meth:`Engine.kernel`, with ``batch_size`` (chunk_rows) bounding the Jacobian
        blocks of both sides, not only side A's."""
        self.chunk_rows = batch_size
        try:
            out = super().kernel(w_a, X_a, w_b, X_b, same=same, along=along,
                                 batch_size=batch_size, show=show, B=B)
        finally:
            self.chunk_rows = None
        return np.asarray(out).astype(np.asarray(X_a).dtype, copy=False)
