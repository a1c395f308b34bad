"""Implementations of the kernel engine, as data, and the one dispatch.

Everything the theorem needs is a product of gradients, so an engine offers products, not
Jacobians: the cross kernel ``∇f(w_a, x)·∇f(w_b, x')`` (the sides may sit at different
weights), the vector–Jacobian product ``Σ_i v_i ∇f(w, x_i)`` and the forward-mode product
``∇f(w, x)·u``. :func:`engine_for` resolves an :class:`Implementation` once for a model and
an array namespace; callers then only call the engine's methods.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

import numpy as np

from ...backend import is_numpy
from ...errors import BackendMissingError, InvalidArgumentError, unknown_name
from ...models.base import Model
from ...models.layers import forward
from ...progress import progress
from . import layerwise, reference
from .layerwise import permute

__all__ = ["Implementation", "Engine", "engine_for", "parse_implementation", "DEFAULT_MEMORY",
           "itemsize"]

DEFAULT_MEMORY = 512 * 2**20
"""Bytes of temporaries one chunk of kernel rows may use (the output itself not counted)."""


class Implementation(str, Enum):
    """How gradients, products and kernels are computed (cf. neural-tangents'
    ``NtkImplementation``).

    AUTO       the fastest that applies: LAYERWISE for built-in models (they describe their
               layers), TORCH for ``pk.torch`` models, REFERENCE for custom models.
    LAYERWISE  structured per-layer formulas (NTK notes eqs. 19–22 [ntk-notes]): a kernel from
               each layer's inputs and back-propagated sensitivities, never an n × P array;
               vjp = one backward pass, jvp = one forward pass carrying tangents. Cost of a
               kernel O(n₁n₂ Σ_h (d_{h−1} + k²d_h)) beyond one forward and backward pass per
               side; memory O((n₁ + n₂) Σ_h d_h k) plus the output, in row chunks. Any array
               namespace (NumPy, CuPy, Array API), float32 or float64; built-in models only
               (needs ``Model.network``). Per-row weights along a step are supported (the
               exact rule on relu nets places its nodes per row).
    REFERENCE  autograd: per-example Jacobians by n·k reverse passes, contracted; make_vjp;
               forward-mode make_jvp (or the transpose trick). Slow and obvious, for any model
               written with autograd.numpy; NumPy only; a kernel chunk holds rows·k·P floats
               per side. The check every other implementation is tested against.
    TORCH      torch.func for ``pk.torch.model(module)``: vjp, jvp (vmapped over tangents),
               kernels from ``vmap(jacrev)`` Jacobians of row chunks, contracted block by
               block (both sides chunked: rows·k·P floats per side and block). Runs on the
               module's device in its dtype. pkverify's arrays stay NumPy (``xp``) and are
               converted at each call: zero-copy on the CPU, but on CUDA every call moves its
               P-vectors, inputs and outputs between host and device — the price of one
               array namespace for everything downstream. Per-row weights along a step
               (``vmap`` over rows with their own weights) and the switch values of the
               module's piecewise-linear ops, captured by a ``TorchFunctionMode``: the exact
               rule splits each row's steps at its own kinks (relu, leaky relu, clamp,
               max-pooling, …; kernels.switches). Torch models only (imported on first use).
    JAX        JAX's transforms for ``pk.jax.model(apply_fn, params)``: jitted forward,
               ``jax.vjp``, ``jax.jvp`` under ``vmap`` over tangents, kernels from jitted
               per-row ``jacrev`` Jacobians (``lax.map`` over the rows of a chunk: XLA:CPU's
               batched float64 convolutions are slow) contracted block by block (as TORCH),
               per-row weights along a step through ``vmap``, switch values read from the
               JVP's jaxpr (relu, leaky relu, abs, clip, max/min: kinks located as TORCH's).
               In the model's dtype (float64 needs ``jax_enable_x64``); results NumPy. JAX
               models only (imported on first use).
    """

    AUTO = "auto"
    LAYERWISE = "layerwise"
    REFERENCE = "reference"
    TORCH = "torch"
    JAX = "jax"


_FOREIGN = {"torch": Implementation.TORCH, "jax": Implementation.JAX}
"""The engine of each foreign framework (``Model.foreign.framework``)."""


def parse_implementation(value: str | Implementation) -> Implementation:
    """The Implementation called ``value``; UnknownNameError listing them otherwise."""
    if isinstance(value, Implementation):
        return value
    try:
        return Implementation(value)
    except ValueError:
        raise unknown_name("implementation", value, [i.value for i in Implementation]) from None


def itemsize(dtype: Any) -> int:
    """Bytes per element of a NumPy, CuPy or Array-API float dtype."""
    try:
        return int(np.dtype(dtype).itemsize)
    except TypeError:
        return 4 if "32" in str(dtype) else 8


class Engine:
    """An implementation bound to a model and an array namespace ``xp``.

    Arrays passed in must already live in ``xp`` with the engine's dtype (the public entry
    points convert once). Outputs are always 2-D ``(n, k)`` (k = 1 for scalar models).
    """

    implementation: Implementation
    supports_along = False

    def __init__(self, model: Model, xp: Any):
        self.model = model
        self.xp = xp
        self.k = model.output_dim or 1

    # --- values and products -------------------------------------------------------------
    def forward(self, w: Any, X: Any) -> Any:
        raise NotImplementedError

    def value_and_vjp(
        self, w: Any, X: Any, cotangent: Callable[[Any], Any]
    ) -> tuple[Any, Any, Any]:
        """``(y, v, Σ_i v_i·∇f(x_i))`` with ``v = cotangent(y)``: one forward, one backward."""
        raise NotImplementedError

    def jvp(self, w: Any, X: Any, U: Any, along: tuple[Any, Any] | None = None):
        """``(f (n, k), ∇f·U (t, n, k))`` for tangents ``U (t, P)``."""
        raise NotImplementedError

    # --- kernels ---------------------------------------------------------------------------
    def side(self, w: Any, X: Any, along: tuple[Any, Any] | None = None) -> Any:
        raise NotImplementedError

    def side_rows(self, s: Any, lo: int, hi: int) -> Any:
        raise NotImplementedError

    def cross(self, A: Any, B: Any) -> Any:
        """``(n1, n2, k, k)`` between two sides."""
        raise NotImplementedError

    def side_output(self, s: Any) -> Any | None:
        """The outputs ``f (n, k)`` a side's forward pass computed, or None if it kept none."""
        return None

    def row_bytes(self, n2: int, itemsize: int) -> int:
        raise NotImplementedError

    def jacobian(self, w: Any, X: Any, along: tuple[Any, Any] | None = None) -> Any:
        """The dense ``(n, k, P)`` Jacobian of a few rows (row r at ``w + τ_r Δ`` with along)."""
        raise NotImplementedError

    def side_products(self, B: Any, U: Any) -> Any:
        """``∇f(x_i)·u_t`` for the rows of side B and tangents ``U (t, P)``: ``(t, n, k)``."""
        raise NotImplementedError

    def weighted_products(self, w: Any, X: Any, cotangent: Callable[[Any], Any],
                          U: Any) -> tuple[Any, Any]:
        """``(f, Σ_c v_ic ∇f_c(x_i)·u_t (t, n))`` with ``v = cotangent(f)``."""
        raise NotImplementedError

    def jacobian_sum(self, w: Any, X: Any, along: tuple[Any, Any], rows: np.ndarray,
                     weights: np.ndarray, q: int) -> Any:
        """``J[r] = Σ_{e: rows[e] = r} weights[e] ∇f(w + τ_e Δ, x_e)``, ``(q, k, P)``."""
        raise NotImplementedError

    def locates_kinks(self) -> bool:
        """Whether :meth:`switch_values` locates every kink of a non-smooth model."""
        return False

    def switch_values(self, w: Any, X: Any, along: tuple[Any, Any]) -> list[Any]:
        """Row r's switch values at ``w + τ_r Δ``: one ``(n, units)`` array per kinked op in
        forward order, whose signs change exactly at the kinks (kernels.switches)."""
        raise NotImplementedError

    def rows_per_chunk(self, n2: int, itemsize: int, batch_size: int | None) -> int:
        if batch_size is not None:
            return batch_size
        return max(1, DEFAULT_MEMORY // max(1, self.row_bytes(n2, itemsize)))

    def kernel(
        self,
        w_a: Any,
        X_a: Any,
        w_b: Any,
        X_b: Any,
        *,
        same: bool = False,
        along: tuple[Any, Any] | None = None,
        batch_size: int | None = None,
        show: bool | None = False,
        B: Any = None,
    ) -> Any:
        """``K(w_a, X_a; w_b, X_b)`` of shape ``(n1, n2, k, k)``, computed in row chunks of
        side A so that memory stays at the output plus one chunk. ``same=True`` (X_a is X_b
        at the same weights) reuses side B's rows; ``B`` passes a side already computed."""
        xp = self.xp
        if B is None:
            B = self.side(w_b, X_b)
        n1, n2 = X_a.shape[0], X_b.shape[0]
        rows = self.rows_per_chunk(n2, itemsize(X_b.dtype), batch_size)
        if rows >= n1:
            A = B if same else self.side(w_a, X_a, along)
            return self.cross(A, B)
        out = None
        starts = range(0, n1, rows)
        for lo in progress(starts, total=len(starts), desc="kernel rows", enabled=show):
            hi = min(n1, lo + rows)
            if same:  # a Gram is symmetric: rows lo:hi against columns lo: only, then mirror
                block = self.cross(self.side_rows(B, lo, hi), self.side_rows(B, lo, n2))
                if out is None:
                    out = xp.empty((n1, n2) + tuple(block.shape[2:]), dtype=block.dtype)
                out[lo:hi, lo:] = block
                out[hi:, lo:hi] = permute(xp, block[:, hi - lo :], (1, 0, 3, 2))
                continue
            else:
                along_rows = None if along is None else (along[0], along[1][lo:hi])
                A = self.side(w_a, X_a[lo:hi], along_rows)
            block = self.cross(A, B)
            if out is None:  # k is known once a block exists (custom models declare none)
                out = xp.empty((n1,) + tuple(block.shape[1:]), dtype=block.dtype)
            out[lo:hi] = block
        return out


class LayerwiseEngine(Engine):
    implementation = Implementation.LAYERWISE
    supports_along = True

    def __init__(self, model: Model, xp: Any):
        super().__init__(model, xp)
        assert model.network is not None
        self.net = model.network

    def forward(self, w, X):
        return forward(self.net, w, X, self.xp, keep=True).out

    def value_and_vjp(self, w, X, cotangent):
        trace = forward(self.net, w, X, self.xp, keep=True)
        v = cotangent(trace.out)
        return trace.out, v, layerwise.vjp_from_trace(self.net, trace, w, v, self.xp)

    def jvp(self, w, X, U, along=None):
        return layerwise.jvp(self.net, w, X, U, self.xp, along)

    def side(self, w, X, along=None):
        return layerwise.side(self.net, w, X, self.xp, along)

    def side_rows(self, s, lo, hi):
        return layerwise.side_rows(s, lo, hi)

    def side_output(self, s):
        return s.trace.out

    def cross(self, A, B):
        return layerwise.cross_kernel(self.net, A, B, self.xp)

    def row_bytes(self, n2, itemsize):
        return layerwise.row_bytes(self.net, n2, itemsize)

    def jacobian(self, w, X, along=None):
        return layerwise.jacobian_from_side(self.net, self.side(w, X, along), self.xp)

    def side_products(self, B, U):
        return layerwise.side_products(self.net, B, U, self.xp)

    def weighted_products(self, w, X, cotangent, U):
        return layerwise.weighted_products(self.net, w, X, cotangent, U, self.xp)

    def jacobian_sum(self, w, X, along, rows, weights, q):
        return layerwise.jacobian_sum(self.net, self.side(w, X, along), rows, weights, q,
                                      self.xp)


class ReferenceEngine(Engine):
    implementation = Implementation.REFERENCE

    def forward(self, w, X):
        y = np.asarray(self.model.f(w, X))
        return y[:, None] if y.ndim == 1 else y

    def value_and_vjp(self, w, X, cotangent):
        return reference.value_and_vjp(self.model.f, w, X, cotangent)

    def jvp(self, w, X, U, along=None):
        if along is not None:
            raise InvalidArgumentError("the reference engine evaluates at shared weights only")
        return reference.jvp(self.model.f, w, X, U)

    def side(self, w, X, along=None):
        if along is not None:
            raise InvalidArgumentError("the reference engine evaluates at shared weights only")
        return reference.jacobian(self.model.f, w, X)

    def side_rows(self, s, lo, hi):
        return s[lo:hi]

    def cross(self, A, B):
        return reference.contract(A, B, np)  # J·Jᵀ when A is B (contract shares the buffer)

    def row_bytes(self, n2, itemsize):
        return itemsize * (2 * self.k * self.model.n_params + 4 * n2 * self.k * self.k)

    def jacobian(self, w, X, along=None):
        return self.side(w, X, along)

    def side_products(self, B, U):
        return np.einsum("nkp,tp->tnk", B, U)

    def weighted_products(self, w, X, cotangent, U):
        y = self.forward(w, X)
        return y, np.einsum("nk,nkp,tp->tn", cotangent(y), self.jacobian(w, X), U)


def engine_for(
    model: Model, implementation: str | Implementation = Implementation.AUTO, xp: Any = np
) -> Engine:
    """The engine for ``model`` in namespace ``xp``: AUTO picks LAYERWISE where the model
    describes its layers, else REFERENCE. Forcing one that does not apply is an error."""
    impl = parse_implementation(implementation)
    foreign = model.foreign
    if impl is Implementation.AUTO:
        impl = (Implementation.LAYERWISE if model.network is not None
                else _FOREIGN[foreign.framework] if foreign is not None
                else Implementation.REFERENCE)
    if impl is Implementation.LAYERWISE:
        if model.network is None:
            raise InvalidArgumentError(
                f"implementation 'layerwise' needs a model described by its layers (the "
                f"built-in linear, two_layer and mlp); {model!r} is a custom model. Use "
                "implementation='auto' or 'reference'."
            )
        return LayerwiseEngine(model, xp)
    if impl in _FOREIGN.values() or foreign is not None:
        return _foreign_engine(model, impl, xp)
    if not is_numpy(xp):
        raise BackendMissingError(
            f"implementation 'reference' differentiates with autograd, which runs on NumPy "
            f"only; got the namespace {getattr(xp, '__name__', xp)!r}. Use NumPy arrays or a "
            "built-in model with implementation='layerwise'."
        )
    return ReferenceEngine(model, xp)


def _foreign_engine(model: Model, impl: Implementation, xp: Any) -> Engine:
    """The torch or JAX engine (imported here, on first use), after refusing the combinations
    that cannot work: a framework's engine for a pkverify model or another framework's,
    autograd for a foreign model."""
    framework = None if model.foreign is None else model.foreign.framework
    if framework is None or impl is not _FOREIGN[framework]:
        what = "a pkverify model" if framework is None else f"a {framework} model"
        raise InvalidArgumentError(
            f"implementation {impl.value!r} cannot differentiate {what} ({model!r}); "
            "torch models (pk.torch.model) are differentiated by torch with "
            "implementation='torch', JAX models (pk.jax.model) by JAX with 'jax', "
            "pkverify's own by 'layerwise' or 'reference'. Use implementation='auto'."
        )
    if not is_numpy(xp):
        raise InvalidArgumentError(
            f"a {framework} model takes NumPy arrays (its engine moves them to the "
            f"framework's device itself); got the namespace {getattr(xp, '__name__', xp)!r}. "
            "Leave backend=None and pass NumPy arrays."
        )
    if framework == "jax":
        from .jax import JaxEngine

        return JaxEngine(model, xp)
    from .torch import TorchEngine

    return TorchEngine(model, xp)
