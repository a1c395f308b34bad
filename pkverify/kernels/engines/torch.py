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
  of the other side — never an n × P array beyond one chunk of each side (the chunking is
  shared with the JAX engine: :mod:`.jacobian_blocks`).

Arrays arrive in NumPy (pkverify's ``xp`` for torch models) and are converted at each call:
``torch.from_numpy`` is zero-copy on the CPU when the dtype matches; on CUDA each call moves
its P-vectors, inputs and outputs between host and device. Results are NumPy in the caller's
dtype; the computation runs in the module's dtype on its device.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from ...extra.torch import check_mode, to_tensor
from ...extra.torch_switches import switch_values
from ...models.base import Model
from . import DEFAULT_MEMORY, Implementation
from .jacobian_blocks import JacobianBlockEngine, JacobianSide

__all__ = ["TorchEngine", "TorchSide"]


TorchSide = JacobianSide
"""One side of a kernel (the shared :class:`~.jacobian_blocks.JacobianSide`)."""


@contextmanager
def _quiet_forward_ad() -> Iterator[None]:
    """torch's forward mode loads its decompositions with ``torch.jit.script`` on first use,
    which warns (DeprecationWarning; FutureWarning in 2.14) in recent PyTorch: torch's own
    noise, not the user's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated")  # any category
        yield


class TorchEngine(JacobianBlockEngine):
    implementation = Implementation.TORCH
    supports_along = True

    def __init__(self, model: Model, xp: Any):
        super().__init__(model, xp)
        fm = model.foreign
        assert fm is not None and fm.framework == "torch"
        check_mode(fm.module)  # the module may have been put back in training mode since
        self.call = fm.call
        self.tdtype = getattr(torch, fm.dtype)
        self.device = torch.device(fm.device)
        self.jvp_mode = "vmap"  # falls back to "loop", then "transpose", on the first failure
        self.itemsize = self.tdtype.itemsize

    # --- conversions ----------------------------------------------------------------------
    def _t(self, a: Any) -> Any:
        return to_tensor(a, self.tdtype, self.device)

    @staticmethod
    def _np(t: Any, like: Any) -> np.ndarray:
        return t.detach().cpu().numpy().astype(np.asarray(like).dtype, copy=False)

    def _to_numpy(self, t: Any, dtype: Any) -> np.ndarray:
        return t.detach().cpu().numpy().astype(dtype, copy=False)

    def _einsum(self, spec: str, a: Any, b: Any) -> Any:
        return torch.einsum(spec, a, b)

    def _cat(self, parts: list[Any], axis: int) -> Any:
        return torch.cat(parts, dim=axis)

    def _side_weights(self, w: Any, along: tuple[Any, Any] | None) -> Any:
        return self._weights(w, along)

    def _weights_rows(self, sw: Any, lo: int, hi: int) -> Any:
        return sw if sw.ndim == 1 else sw[lo:hi]

    def _side_jacobian(self, sw: Any, X: Any) -> tuple[Any, Any]:
        return self._jacobian(sw, X)

    def _weights(self, w: Any, along: tuple[Any, Any] | None) -> Any:
        """The weights as a tensor: ``(P,)``, or ``(n, P)`` rows ``w + τ_r Δ`` with along."""
        wt = self._t(w)
        if along is None:
            return wt
        delta, taus = along
        return wt[None, :] + self._t(taus)[:, None] * self._t(delta)[None, :]

    def _row_call(self, Xt: Any, along: tuple[Any, Any] | None) -> Any:
        """``fn(p)``: the outputs ``(n, k)`` at weights p, or with along at ``p + τ_r Δ`` per
        row r (a ``vmap`` over rows with per-row weights), so that ``jvp(fn, w, u)`` is
        ``∇f(w + τ_r Δ, x_r)·u``."""
        call = self.call
        if along is None:
            return lambda p: call(p, Xt)
        delta, taus = self._t(along[0]), self._t(along[1])

        def one(p: Any, x: Any) -> Any:
            return call(p, x[None])[0]

        return lambda p: torch.func.vmap(one)(p[None, :] + taus[:, None] * delta[None, :], Xt)

    def locates_kinks(self) -> bool:
        """Whether every kinked op of the module has switch values
        (:mod:`pkverify.extra.torch_switches`)."""
        return not self.model.foreign.unlocated  # type: ignore[union-attr]

    def switch_values(self, w: Any, X: Any, along: tuple[Any, Any]) -> list[np.ndarray]:
        """Row r's switch values at ``w + τ_r Δ``: one ``(n, units)`` array per kinked op."""
        vals = switch_values(self.call, self._weights(w, along), self._t(X), DEFAULT_MEMORY)
        return [v.detach().cpu().numpy().astype(np.float64) for v in vals]

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
        n = int(X.shape[0])
        if along is not None:  # per-row weights: (rows, P) per tangent, in row chunks
            rows = max(1, DEFAULT_MEMORY // max(1, 4 * (int(U.shape[0]) + 1) * self.model.n_params
                                               * self.tdtype.itemsize))
            if n > rows:
                parts = [self.jvp(w, X[lo:lo + rows], U, (along[0], along[1][lo:lo + rows]))
                         for lo in range(0, n, rows)]
                return (np.concatenate([p[0] for p in parts]),
                        np.concatenate([p[1] for p in parts], axis=1))
        wt, Xt, Ut = self._t(w), self._t(X), self._t(U)
        fn = self._row_call(Xt, along)
        if along is None:
            y = self.forward(w, X)
        else:
            with torch.no_grad():
                y = self._np(fn(wt), X)
        if Ut.shape[0] == 0:
            return y, np.zeros((0,) + y.shape, dtype=y.dtype)

        def push(u):
            return torch.func.jvp(fn, (wt,), (u,))[1]

        modes = ("vmap", "loop", "transpose", "jacobian")
        for mode in modes[modes.index(self.jvp_mode):]:
            try:
                with _quiet_forward_ad():
                    dY = self._push(mode, push, fn, wt, self._weights(w, along), Xt, Ut)
            except (RuntimeError, NotImplementedError):
                if mode == "jacobian":
                    raise
                self.jvp_mode = modes[modes.index(mode) + 1]  # remembered for later calls
                continue
            return y, self._np(dY, X)
        raise AssertionError("unreachable")  # pragma: no cover

    def _push(self, mode: str, push: Any, fn: Any, wt: Any, W: Any, Xt: Any, Ut: Any) -> Any:
        """``∇f·u`` for every tangent by one mode; W: the weights of the rows (``(P,)``, or
        ``(n, P)`` along a step) for the Jacobian mode."""
        if mode == "vmap":
            return torch.func.vmap(push)(Ut)
        if mode == "loop":
            return torch.stack([push(u) for u in Ut])
        if mode == "transpose":
            return self._transposed(fn, wt, Ut)
        return self._through_jacobian(W, Xt, Ut)

    @staticmethod
    def _transposed(fn: Any, wt: Any, Ut: Any) -> Any:
        """``J u`` as the vjp of the linear map ``c ↦ Jᵀc`` (for layers without forward AD)."""
        y, pull = torch.func.vjp(fn, wt)[:2]
        pull2 = torch.func.vjp(lambda c: pull(c)[0], torch.zeros_like(y))[1]
        return torch.stack([pull2(u)[0] for u in Ut])

    def _through_jacobian(self, W: Any, Xt: Any, Ut: Any) -> Any:
        """``J u`` from row blocks of the Jacobian: for layers with neither a forward-mode
        rule nor a second derivative (CPU flash attention), at the cost of n·k reverse
        passes."""
        rows = self._rows()
        return torch.cat([torch.einsum("icp,tp->tic", self._jacobian(
            W if W.ndim == 1 else W[lo:lo + rows], Xt[lo:lo + rows])[0], Ut)
                          for lo in range(0, int(Xt.shape[0]), rows)], dim=1)

    # --- kernels ----------------------------------------------------------------------------
    def _jacobian(self, w: Any, X: Any) -> tuple[Any, Any]:
        """``(J (n, k, P), f (n, k))`` as tensors: ``vmap`` over rows of ``jacrev``; w is
        shared ``(P,)`` or per row ``(n, P)``."""
        call = self.call

        def row(p, x):
            y = call(p, x[None])[0]
            return y, y

        dims = (None, 0) if w.ndim == 1 else (0, 0)
        J, y = torch.func.vmap(torch.func.jacrev(row, has_aux=True), in_dims=dims)(w, X)
        return J, y
