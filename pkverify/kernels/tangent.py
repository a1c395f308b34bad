"""The tangent kernel (Domingos 2020, Def. 1 [domingos2020]).

``K^g_w(x, x') = ∇_w f(w, x) · ∇_w f(w, x')``; for a k-output model the kernel of a pair is
the ``k × k`` matrix ``K_cd = ∇_w f_c(w, x) · ∇_w f_d(w, x')``. Computed by the engine
(:mod:`pkverify.kernels.engines`): layer-wise for built-in models, autograd otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..models.base import Model, check_output, require_model
from ..validation import as_array_in, as_data, as_weights
from .engines import Engine, Implementation, engine_for, reference
from .options import RENAMED, KernelOptions, check_kernel_memory, refuse_batch_size

__all__ = ["jacobian", "tangent_kernel", "output_size"]


def jacobian(model: Model, w: Any, X: Any) -> np.ndarray:
    """The per-example Jacobian ``J[i, c, p] = ∂f_c(w, x_i)/∂w_p``, ``(n, k, P)``, by autograd
    (n·k reverse passes): the slow, obvious reference. Kernels never need it. A torch or JAX
    model's comes from its framework (``vmap(jacrev)``)."""
    require_model(model, "pk.kernels.jacobian(model, w, X)")
    w = as_weights(w, model.n_params)
    X = as_data(X, model.input_dim)
    check_output(model.f(w, X), X.shape[0], model.name)
    if model.foreign is not None:  # differentiated by its framework, never by autograd
        return np.asarray(engine_for(model, Implementation.AUTO, np).jacobian(w, X),
                          dtype=np.float64)
    return reference.jacobian(model.f, w, X)


def output_size(model: Model, engine: Engine, w: Any, X: Any) -> tuple[bool, int]:
    """``(scalar, k)``: whether f returns ``(n,)`` and its number of outputs k, declared by
    built-in models, probed on one row otherwise."""
    if model.network is not None:
        return model.network.scalar, model.network.output_dim
    out = check_output(model.f(w, X[:1]), 1, model.name)  # probed on one row
    return out.ndim == 1, 1 if out.ndim == 1 else int(out.shape[1])


def tangent_kernel(
    model: Model,
    w: Any,
    X1: Any,
    X2: Any | None = None,
    *,
    implementation: str | Implementation = "auto",
    backend: Any = None,
    chunk_rows: int | None = None,
    dtype: Any = None,
    progress: bool | None = None,
    batch_size: Any = RENAMED,
) -> Any:
    """``K^g_w(X1, X2)``: ``(n1, n2)`` for scalar models, ``(n1, n2, k, k)`` for k outputs.

    ``X2 = None`` gives the Gram matrix of ``X1`` with itself.

    implementation: "auto" (layer-wise for built-in models, autograd for custom ones),
                 "layerwise", or "reference" (plain autograd Jacobians, the slow check).
    backend:     None (follow the arrays: NumPy, or CuPy arrays stay on the GPU), "numpy",
                 "cupy", or an Array-API module. The result stays in that namespace.
    chunk_rows:  rows of X1 per chunk (None: from a 512 MB budget for temporaries); peak
                 memory is the output plus one chunk. A result that does not fit in the
                 memory available is refused (ResourceError) before any work.
    dtype:       None (float32 when the inputs are float32, else float64), float32 or
                 float64; integer, complex and float16 dtypes are refused.
    batch_size:  renamed to ``chunk_rows`` (``batch_size`` is pk.train's SGD mini-batch);
                 passing it is an error that says so.
    """
    refuse_batch_size(batch_size, "tangent_kernel")
    opts = KernelOptions(implementation, backend, dtype, chunk_rows, progress)
    engine, dt = opts.engine(model, "tangent_kernel(model, w, X1)", w, X1, X2)
    xp = engine.xp
    w = as_array_in(w, xp, dt, model.n_params, "weights w", ndim=1)
    X1 = as_array_in(X1, xp, dt, model.input_dim, "X1")
    X2 = None if X2 is None else as_array_in(X2, xp, dt, model.input_dim, "X2")
    scalar, k = output_size(model, engine, w, X1)
    n2 = int(X1.shape[0] if X2 is None else X2.shape[0])
    check_kernel_memory(int(X1.shape[0]), n2, k, dt, 1, "the tangent kernel")
    if X2 is None:
        K = engine.kernel(w, X1, w, X1, same=True, batch_size=opts.chunk_rows, show=opts.progress)
    else:
        K = engine.kernel(w, X1, w, X2, batch_size=opts.chunk_rows, show=opts.progress)
    return K[:, :, 0, 0] if scalar else K
