"""The torch engine: the engine's products for a ``pk.torch.model`` through ``torch.func``.

* forward: ``functional_call`` of the module at the flat weights (no graph kept);
* vector–Jacobian product ``Σ_i v_i ∇f(x_i)``: ``torch.func.vjp``, one forward and one
  backward pass over the rows;
* forward-mode products ``∇f(x)·u`` for t tangents: ``torch.func.jvp`` under ``vmap`` over the
  tangents; a loop of ``jvp`` where a layer refuses ``vmap``; where a layer has no
  forward-mode rule, the transpose trick (the vjp of the linear map ``c ↦ Jᵀc``) as in the
  autograd reference; and where it has no second derivative either (PyTorch's CPU flash
  attention inside ``nn.MultiheadAttention``), row blocks of the Jacobian contracted with
  the tangents. The first mode that works is remembered for the engine's later calls;
* kernels: per-row Jacobians ``J[i, c, p]`` of a chunk of rows by ``vmap(jacrev)`` (the
  torch.func NTK recipe), contracted ``K[i, j, c, d] = Σ_p J_a[i, c, p] J_b[j, d, p]`` block
  by block. Each side is chunked: a side's Jacobian is kept whole only when it fits in half
  the memory budget (``DEFAULT_MEMORY``), otherwise its blocks are recomputed for each block
  of the other side — never an n × P array beyond one chunk of each side.

Arrays arrive in NumPy (pkverify's ``xp`` for torch models) and are converted at each call:
``torch.from_numpy`` is zero-copy on the CPU when the dtype matches; on CUDA each call moves
its P-vectors, inputs and outputs between host and device. Results are NumPy in the caller's
dtype; the computation runs in the module's dtype on its device.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...errors import InvalidArgumentError
from ...extra.torch import check_mode, to_tensor
from ...models.base import Model
from . import DEFAULT_MEMORY, Engine, Implementation

__all__ = ["TorchEngine", "TorchSide"]


@dataclass
class TorchSide:
    """One side of a kernel: weights and rows as tensors on the module's device, and — when
    it fits in one chunk — the rows' Jacobian ``(n, k, P)`` and outputs ``(n, k)``."""

    w: Any
    X: Any
    jac: Any | None = None
    out: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.X.shape[0])


@contextmanager
def _quiet_forward_ad() -> Iterator[None]:
    """torch's forward mode loads its decompositions with ``torch.jit.script`` on first use,
    which warns (DeprecationWarning) in recent PyTorch: torch's own noise, not the user's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated",
                                DeprecationWarning)
        yield


def _no_along(along: Any) -> None:
    if along is not None:
        raise InvalidArgumentError(
            "the torch engine evaluates each call at one weight vector (per-row weights along "
            "a step are not supported yet); the exact rule integrates with shared nodes."
        )


class TorchEngine(Engine):
    implementation = Implementation.TORCH
    supports_along = False

    def __init__(self, model: Model, xp: Any):
        super().__init__(model, xp)
        fm = model.foreign
        assert fm is not None and fm.framework == "torch"
        check_mode(fm.module)  # the module may have been put back in training mode since
        self.call = fm.call
        self.tdtype = getattr(torch, fm.dtype)
        self.device = torch.device(fm.device)
        self.jvp_mode = "vmap"  # falls back to "loop", then "transpose", on the first failure
        self.chunk_rows: int | None = None  # rows per Jacobian block; None: from the budget

    # --- conversions ----------------------------------------------------------------------
    def _t(self, a: Any) -> Any:
        return to_tensor(a, self.tdtype, self.device)

    @staticmethod
    def _np(t: Any, like: Any) -> np.ndarray:
        return t.detach().cpu().numpy().astype(np.asarray(like).dtype, copy=False)

    # --- values and products --------------------------------------------------------------
    def forward(self, w, X):
        with torch.no_grad():
            return self._np(self.call(self._t(w), self._t(X)), X)

    def value_and_vjp(self, w, X, cotangent):
        Xt = self._t(X)
        y, pull = torch.func.vjp(lambda p: self.call(p, Xt), self._t(w))
        y_np = self._np(y, X)
        v = cotangent(y_np)
        (g,) = pull(self._t(v))
        return y_np, v, self._np(g, X)

    def jvp(self, w, X, U, along=None):
        _no_along(along)
        wt, Xt, Ut = self._t(w), self._t(X), self._t(U)
        y = self.forward(w, X)
        if Ut.shape[0] == 0:
            return y, np.zeros((0,) + y.shape, dtype=y.dtype)

        def fn(p):
            return self.call(p, Xt)

        def push(u):
            return torch.func.jvp(fn, (wt,), (u,))[1]

        modes = ("vmap", "loop", "transpose", "jacobian")
        for mode in modes[modes.index(self.jvp_mode):]:
            try:
                with _quiet_forward_ad():
                    dY = self._push(mode, push, fn, wt, Xt, Ut)
            except (RuntimeError, NotImplementedError):
                if mode == "jacobian":
                    raise
                self.jvp_mode = modes[modes.index(mode) + 1]  # remembered for later calls
                continue
            return y, self._np(dY, X)
        raise AssertionError("unreachable")  # pragma: no cover

    def _push(self, mode: str, push: Any, fn: Any, wt: Any, Xt: Any, Ut: Any) -> Any:
        if mode == "vmap":
            return torch.func.vmap(push)(Ut)
        if mode == "loop":
            return torch.stack([push(u) for u in Ut])
        if mode == "transpose":
            return self._transposed(fn, wt, Ut)
        return self._through_jacobian(wt, Xt, Ut)

    @staticmethod
    def _transposed(fn: Any, wt: Any, Ut: Any) -> Any:
        """``J u`` as the vjp of the linear map ``c ↦ Jᵀc`` (for layers without forward AD)."""
        y, pull = torch.func.vjp(fn, wt)[:2]
        pull2 = torch.func.vjp(lambda c: pull(c)[0], torch.zeros_like(y))[1]
        return torch.stack([pull2(u)[0] for u in Ut])

    def _through_jacobian(self, wt: Any, Xt: Any, Ut: Any) -> Any:
        """``J u`` from row blocks of the Jacobian: for layers with neither a forward-mode
        rule nor a second derivative (CPU flash attention), at the cost of n·k reverse
        passes."""
        rows = self._rows()
        return torch.cat([torch.einsum("icp,tp->tic", self._jacobian(wt, Xt[lo:lo + rows])[0], Ut)
                          for lo in range(0, int(Xt.shape[0]), rows)], dim=1)

    # --- kernels ----------------------------------------------------------------------------
    def jacobian(self, w: Any, X: Any, along: tuple[Any, Any] | None = None) -> np.ndarray:
        """The per-row Jacobian ``J[i, c, p] = ∂f_c(w, x_i)/∂w_p``, ``(n, k, P)`` (NumPy)."""
        _no_along(along)
        return self._np(self._jacobian(self._t(w), self._t(X))[0], X)

    def _jacobian(self, w: Any, X: Any) -> tuple[Any, Any]:
        """``(J (n, k, P), f (n, k))`` as tensors: ``vmap`` over rows of ``jacrev``."""
        call = self.call

        def row(p, x):
            y = call(p, x[None])[0]
            return y, y

        J, y = torch.func.vmap(torch.func.jacrev(row, has_aux=True), in_dims=(None, 0))(w, X)
        return J, y

    def _rows(self) -> int:
        if self.chunk_rows is not None:
            return self.chunk_rows
        per_row = self.row_bytes(0, self.tdtype.itemsize)
        return max(1, DEFAULT_MEMORY // 2 // max(1, per_row))

    def side(self, w, X, along=None):
        _no_along(along)
        s = TorchSide(self._t(w), self._t(X))
        if s.n <= self._rows():  # fits in one chunk: computed once, reused by every block
            J, y = self._jacobian(s.w, s.X)
            s.jac, s.out = J, self._np(y, X)
        return s

    def side_rows(self, s, lo, hi):
        return TorchSide(s.w, s.X[lo:hi], None if s.jac is None else s.jac[lo:hi],
                         None if s.out is None else s.out[lo:hi])

    def side_output(self, s):
        return s.out

    def _blocks(self, s: TorchSide):
        """``(lo, hi, J)`` for consecutive row blocks of a side."""
        if s.jac is not None:
            yield 0, s.n, s.jac
            return
        rows = self._rows()
        for lo in range(0, s.n, rows):
            hi = min(s.n, lo + rows)
            yield lo, hi, self._jacobian(s.w, s.X[lo:hi])[0]

    def cross(self, A, B):
        out = None
        for lo, hi, Ja in self._blocks(A):
            for lo2, hi2, Jb in self._blocks(B):
                K = torch.einsum("icp,jdp->ijcd", Ja, Jb).detach().cpu().numpy()
                if out is None:
                    k = K.shape[2]
                    out = np.empty((A.n, B.n, k, k), dtype=self._result_dtype())
                out[lo:hi, lo2:hi2] = K
        assert out is not None  # a side has at least one row
        return out

    def side_products(self, B, U):
        """``∇f(x_i)·u_t`` for the rows of side B, ``(t, n, k)``, from its Jacobian blocks."""
        Ut = self._t(U)
        out = [torch.einsum("icp,tp->tic", J, Ut) for _, _, J in self._blocks(B)]
        return torch.cat(out, dim=1).detach().cpu().numpy().astype(self._result_dtype(),
                                                                   copy=False)

    def weighted_products(self, w, X, cotangent, U):
        """``(f, Σ_c v_ic ∇f_c(x_i)·u_t (t, n))`` with ``v = cotangent(f)``: forward-mode
        products ``∇f·u_t`` (:meth:`jvp`) contracted with v, never a Jacobian."""
        y, dY = self.jvp(w, X, U)
        v = np.asarray(cotangent(y))
        return y, np.einsum("tic,ic->ti", dY, v.reshape(y.shape))

    def _result_dtype(self) -> Any:
        return np.float32 if self.tdtype == torch.float32 else np.float64

    def row_bytes(self, n2, itemsize):
        """One row's Jacobian ``(k, P)`` and the two like it that ``jacrev`` holds while
        building it (cotangents, gradients), plus its share of the ``(n2, k, k)`` block;
        the module's own activations are not counted."""
        return itemsize * (3 * self.k * self.model.n_params + 2 * n2 * self.k * self.k)

    def kernel(self, w_a, X_a, w_b, X_b, *, same=False, along=None, batch_size=None,
               show=False, B=None):
        """As :meth:`Engine.kernel`, with ``batch_size`` (chunk_rows) bounding the Jacobian
        blocks of both sides, not only side A's."""
        _no_along(along)
        self.chunk_rows = batch_size
        try:
            out = super().kernel(w_a, X_a, w_b, X_b, same=same, batch_size=batch_size,
                                 show=show, B=B)
        finally:
            self.chunk_rows = None
        return np.asarray(out).astype(np.asarray(X_a).dtype, copy=False)
