"""The JAX engine: the engine's products for a ``pk.jax.model`` through JAX's transforms.

* forward: the model's jitted ``call(w, X) = apply_fn(unravel(w), X)``;
* vector–Jacobian product ``Σ_i v_i ∇f(x_i)``: ``jax.vjp``, one forward and one backward
  pass over the rows (the cotangent ``v = cotangent(f)`` is a NumPy function in between);
* forward-mode products ``∇f(x)·u`` for t tangents: ``jax.jvp`` under ``vmap`` over the
  tangents, jitted (the primal pass is not batched, so it runs once);
* kernels: per-row Jacobians of row chunks, ``jacrev`` of one row under ``lax.map`` over the
  rows (a compiled loop), jitted, contracted block by block under the memory budget
  (:mod:`.jacobian_blocks`). Not ``vmap(jacrev)``: batched over rows, the weight gradient of
  a convolution becomes a grouped convolution, which XLA:CPU runs about 80× slower than the
  loop in float64 (digits CNN, 256 rows, 2.5 s against 0.03 s), and even on the MLP the
  loop was 2× faster with a lower peak (1.4 Jacobians alive, not 2.4; ``build_copies``
  stays 3 for the budget, see the class);
  measured 2026-12-02 on jax 0.10.2, single-threaded;
* per-row weights along a step (``along=(Δ, τ)``: row r at ``w + τ_r Δ``): the same
  functions under ``vmap`` over (τ_r, x_r), so the exact rule may place its nodes per row;
  ``jacobian_sum`` (:mod:`.jacobian_blocks`) adds such Jacobians per query;
* switch values of the piecewise-linear operations (:mod:`pkverify.extra.jax_switches`)
  at per-row weights, for the kink locator (:mod:`pkverify.kernels.switches`).

Computation runs in the model's dtype (float64 needs ``jax_enable_x64``, checked when the
engine is built); arrays arrive in NumPy and results are NumPy in the caller's dtype.
Each distinct chunk shape compiles once (XLA); later calls of that shape reuse it.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ...extra.jax import require_x64
from ...extra.jax_switches import switch_program
from ...models.base import Model
from . import DEFAULT_MEMORY, Implementation
from .jacobian_blocks import JacobianBlockEngine

__all__ = ["JaxEngine"]


@functools.lru_cache(maxsize=16)
def _transforms(call: Any) -> dict[str, Any]:
    """The jitted transforms of ``call(w, X) -> (n, k)`` the engine uses; one set per model
    (cached by its ``call``), so that the engines every public call builds share XLA's
    compilations."""

    def row(p: Any, x: Any) -> tuple[Any, Any]:
        y = call(p, x[None])[0]
        return y, y

    jac_row = jax.jacrev(row, has_aux=True)

    def jacobian(w: Any, X: Any) -> tuple[Any, Any]:  # rows one at a time, w shared
        return jax.lax.map(lambda x: jac_row(w, x), X)

    def jacobian_along(w: Any, d: Any, taus: Any, X: Any) -> tuple[Any, Any]:
        return jax.lax.map(lambda tx: jac_row(w + tx[0] * d, tx[1]), (taus, X))

    def jvp(w: Any, X: Any, U: Any) -> tuple[Any, Any]:
        def push(u: Any) -> Any:
            return jax.jvp(lambda p: call(p, X), (w,), (u,))[1]
        return call(w, X), jax.vmap(push)(U)

    def jvp_along(w: Any, d: Any, taus: Any, X: Any, U: Any) -> tuple[Any, Any]:
        def one(t: Any, x: Any) -> tuple[Any, Any]:  # one row at w + tΔ, all tangents
            def f(p: Any) -> Any:
                return call(p, x[None])[0]
            wt = w + t * d
            return f(wt), jax.vmap(lambda u: jax.jvp(f, (wt,), (u,))[1])(U)
        y, dY = jax.vmap(one)(taus, X)  # (n, k), (n, t, k)
        return y, jnp.swapaxes(dY, 0, 1)

    return {
        "forward": jax.jit(call),
        "forward_along": jax.jit(lambda w, d, taus, X: jax.vmap(
            lambda t, x: call(w + t * d, x[None])[0])(taus, X)),
        "jvp": jax.jit(jvp),
        "jvp_along": jax.jit(jvp_along),
        "jacobian": jax.jit(jacobian),
        "jacobian_along": jax.jit(jacobian_along),
    }


def _bucket(n: int) -> int:
    """The power of two ≥ n (at least 8): the switch program compiles once per size."""
    return max(8, 1 << max(0, n - 1).bit_length())


def _padded(a: Any, n: int, size: int) -> Any:
    """a's n rows, the last repeated to fill whole chunks of ``size`` rows (the padding rows'
    values are dropped by the caller)."""
    total = size * -(-n // size)
    return a if total == n else jnp.concatenate([a, jnp.repeat(a[-1:], total - n, axis=0)])


class JaxEngine(JacobianBlockEngine):
    implementation = Implementation.JAX
    supports_along = True
    # lax.map of jacrev holds the result and one row's worth (1.4 Jacobians measured on the
    # digits CNN), but on a width-512 MLP the Gram's peak went ~120 MB past a 512 MB budget
    # at 2 (a copy XLA makes for the contraction, not yet traced): 3, like torch, keeps the
    # budget honest at some cost in block size
    build_copies = 3

    def __init__(self, model: Model, xp: Any):
        super().__init__(model, xp)
        fm = model.foreign
        assert fm is not None and fm.framework == "jax"
        if fm.dtype == "float64":  # x64 may have been switched off since the model was built
            require_x64(f"the JAX model {model.name} computes in float64")
        self.dtype = np.dtype(fm.dtype)
        self.itemsize = self.dtype.itemsize
        self.call = fm.call
        self.fn = _transforms(fm.call)

    # --- conversions ------------------------------------------------------------------------
    def _t(self, a: Any) -> Any:
        return jnp.asarray(a, dtype=self.dtype)

    def _np(self, t: Any, dtype: Any) -> np.ndarray:
        """A writable NumPy copy (``np.asarray`` of a JAX array is a read-only view, and
        pkverify accumulates in place)."""
        return np.array(t, dtype=dtype)

    _to_numpy = _np

    def _einsum(self, spec: str, a: Any, b: Any) -> Any:
        return jnp.einsum(spec, a, b, precision=jax.lax.Precision.HIGHEST)

    def _cat(self, parts: list[Any], axis: int) -> Any:
        return jnp.concatenate(parts, axis=axis)

    def _side_jacobian(self, sw: Any, X: Any) -> tuple[Any, Any]:
        return self._jacobian(sw[0], X, sw[1])

    def _jacobian(self, w: Any, X: Any, along: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
        if along is None:
            return self.fn["jacobian"](w, X)
        return self.fn["jacobian_along"](w, along[0], along[1], X)

    def _rows_along(self, t: int) -> int:
        """Rows per call when each row carries its own weights (an (n, P) array) and t
        tangents: within the memory budget."""
        per_row = self.itemsize * self.model.n_params * (2 + t)
        return max(1, DEFAULT_MEMORY // 2 // per_row)

    # --- kinks --------------------------------------------------------------------------------
    def locates_kinks(self) -> bool:
        """Whether every jumping operation of the function has a switch value
        (:mod:`pkverify.extra.jax_switches`)."""
        return not self.model.foreign.unlocated  # type: ignore[union-attr]

    def switch_values(self, w: Any, X: Any, along: tuple[Any, Any]) -> list[np.ndarray]:
        """Row r's switch values at ``w + τ_r Δ``: one ``(n, units)`` array per switch, in
        the jaxpr's order, rows in chunks within the memory budget (an (n, P) weight array)."""
        fm = self.model.foreign
        assert fm is not None
        program = switch_program(self.call, self.model.n_params, (int(np.prod(fm.input_shape)),),
                                 str(self.dtype))
        n = int(np.shape(X)[0])
        size = min(self._rows_along(0), _bucket(n))  # chunks of few sizes: few compiles
        wt, d = self._t(w), self._t(along[0])
        Xt, taus = _padded(self._t(X), n, size), _padded(self._t(along[1]), n, size)
        parts = [program(wt, d, taus[lo:lo + size], Xt[lo:lo + size])
                 for lo in range(0, int(Xt.shape[0]), size)]
        return [np.concatenate([np.asarray(p[h], dtype=np.float64) for p in parts], axis=0)[:n]
                for h in range(len(parts[0]))]

    # --- values and products ----------------------------------------------------------------
    def forward(self, w, X):
        return self._np(self.fn["forward"](self._t(w), self._t(X)), np.asarray(X).dtype)

    def value_and_vjp(self, w, X, cotangent):
        Xt = self._t(X)
        y, pull = jax.vjp(lambda p: self.call(p, Xt), self._t(w))
        y_np = self._np(y, np.asarray(X).dtype)
        v = cotangent(y_np)
        (g,) = pull(self._t(v))
        return y_np, v, self._np(g, np.asarray(X).dtype)

    def jvp(self, w, X, U, along=None):
        dt = np.asarray(X).dtype
        wt, Xt, Ut = self._t(w), self._t(X), self._t(U)
        if Ut.shape[0] == 0:
            y = self.forward(w, X) if along is None else self._np(self.fn["forward_along"](
                wt, self._t(along[0]), self._t(along[1]), Xt), dt)
            return y, np.zeros((0,) + y.shape, dtype=y.dtype)
        if along is None:
            y, dY = self.fn["jvp"](wt, Xt, Ut)
            return self._np(y, dt), self._np(dY, dt)
        d, taus = self._t(along[0]), self._t(along[1])
        rows = self._rows_along(int(Ut.shape[0]))
        parts = [self.fn["jvp_along"](wt, d, taus[lo:lo + rows], Xt[lo:lo + rows], Ut)
                 for lo in range(0, int(Xt.shape[0]), rows)]
        return (self._np(jnp.concatenate([p[0] for p in parts], axis=0), dt),
                self._np(jnp.concatenate([p[1] for p in parts], axis=1), dt))
