"""The tangent kernel (Domingos 2020, Def. 1 [domingos2020]).

``K^g_w(x, x') = ∇_w f(w, x) · ∇_w f(w, x')``; for a k-output model the kernel of a pair is
the ``k × k`` matrix ``K_cd = ∇_w f_c(w, x) · ∇_w f_d(w, x')``. Computed by the engine
(:mod:`pkverify.kernels.engines`): layer-wise for built-in models, autograd otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import float_dtype, resolve_namespace
from ..models.base import Model, check_output, require_model
from ..validation import (
    as_array_in,
    as_data,
    as_flag,
    as_weights,
    batch_rows,
)
from .engines import Engine, Implementation, engine_for, reference

__all__ = ["jacobian", "tangent_kernel", "prepare", "is_scalar"]


def jacobian(model: Model, w: Any, X: Any) -> np.ndarray:
    """The per-example Jacobian ``J[i, c, p] = ∂f_c(w, x_i)/∂w_p``, ``(n, k, P)``, by autograd
    (n·k reverse passes): the slow, obvious reference. Kernels never need it."""
    require_model(model, "pk.kernels.jacobian(model, w, X)")
    w = as_weights(w, model.n_params)
    X = as_data(X, model.input_dim)
    check_output(model.f(w, X), X.shape[0], model.name)
    return reference.jacobian(model.f, w, X)


def prepare(
    model: Model,
    implementation: str | Implementation,
    backend: Any,
    w: Any,
    *arrays: Any,
    dtype: Any = None,
) -> tuple[Engine, Any]:
    """Resolve the namespace, dtype and engine once; return ``(engine, dtype)``."""
    require_model(model, "tangent_kernel(model, w, X1)")
    xp = resolve_namespace(backend, w, *arrays)
    dt = float_dtype(xp, w, *arrays, dtype=dtype)
    return engine_for(model, implementation, xp), dt


def is_scalar(model: Model, engine: Engine, w: Any, X: Any) -> bool:
    """True when f returns ``(n,)``: declared by built-in models, probed on one row otherwise."""
    if model.network is not None:
        return model.network.scalar
    out = model.f(w, X[:1])
    check_output(out, 1, model.name)
    return np.ndim(out) == 1


def tangent_kernel(
    model: Model,
    w: Any,
    X1: Any,
    X2: Any | None = None,
    *,
    implementation: str | Implementation = "auto",
    backend: Any = None,
    batch_size: int | None = None,
    dtype: Any = None,
    progress: bool | None = None,
) -> Any:
    """``K^g_w(X1, X2)``: ``(n1, n2)`` for scalar models, ``(n1, n2, k, k)`` for k outputs.

    ``X2 = None`` gives the Gram matrix of ``X1`` with itself.

    implementation: "auto" (layer-wise for built-in models, autograd for custom ones),
                 "layerwise", or "reference" (plain autograd Jacobians, the slow check).
    backend:     None (follow the arrays: NumPy, or CuPy arrays stay on the GPU), "numpy",
                 "cupy", or an Array-API module. The result stays in that namespace.
    batch_size:  rows of X1 per chunk (None: from a 512 MB budget for temporaries); peak
                 memory is the output plus one chunk.
    dtype:       None (float32 when the inputs are float32, else float64) or a float dtype.
    """
    engine, dt = prepare(model, implementation, backend, w, X1, X2, dtype=dtype)
    xp = engine.xp
    rows = batch_rows(batch_size)
    if progress is not None:
        progress = as_flag(progress, "progress")
    w = as_array_in(w, xp, dt, model.n_params, "weights w", ndim=1)
    X1 = as_array_in(X1, xp, dt, model.input_dim, "X1")
    scalar = is_scalar(model, engine, w, X1)
    if X2 is None:
        K = engine.kernel(w, X1, w, X1, same=True, batch_size=rows, show=progress)
    else:
        X2 = as_array_in(X2, xp, dt, model.input_dim, "X2")
        K = engine.kernel(w, X1, w, X2, batch_size=rows, show=progress)
    return K[:, :, 0, 0] if scalar else K
