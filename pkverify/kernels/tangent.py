"""The tangent kernel (Domingos 2020, Def. 1) from plain autograd Jacobians.

``K^g_w(x, x') = ∇_w f(w, x) · ∇_w f(w, x')``; for a k-output model the kernel of a pair is
the ``k × k`` matrix ``K_ab = ∇_w f_a(w, x) · ∇_w f_b(w, x')``.

This is the slow, obvious reference: every faster implementation is checked against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from autograd import make_vjp

from ..backend import get_namespace, to_numpy
from ..models import Model, check_output
from ..validation import as_data, as_flag, as_weights, require_model

__all__ = ["jacobian", "reference_jacobian", "tangent_kernel", "contract"]


def jacobian(model: Model, w: np.ndarray, X: np.ndarray, reference: bool = False) -> np.ndarray:
    """``J[i, a, p] = ∂f_a(w, x_i)/∂w_p`` of shape ``(n, k, P)`` (k = 1 for scalar models).

    Uses the model's closed-form layer-wise Jacobian when it has one (built-in models) unless
    ``reference=True``; otherwise autograd: one forward pass and one reverse pass per output
    (n·k vector–Jacobian products), the slow, obvious reference. Inputs are assumed
    validated (internal hot path).
    """
    if model.jac is not None and not reference:
        return model.jac(w, X)
    return reference_jacobian(model, w, X)


def reference_jacobian(model: Model, w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The autograd Jacobian ``(n, k, P)``: n·k reverse passes through ``model.f``."""
    vjp, out = make_vjp(lambda v: model.f(v, X))(w)
    out = np.asarray(out)
    shape = out.shape
    n = shape[0]
    k = 1 if out.ndim == 1 else shape[1]
    J = np.empty((n, k, w.shape[0]))
    seed = np.zeros(shape)
    flat = seed.reshape(n, k)
    for i in range(n):
        for a in range(k):
            flat[i, a] = 1.0
            J[i, a] = vjp(seed)
            flat[i, a] = 0.0
    return J


def contract(J1: np.ndarray, J2: np.ndarray, xp: Any = np) -> Any:
    """``K[i, j, a, b] = Σ_p J1[i, a, p] J2[j, b, p]``, shape ``(n1, n2, k, k)``.

    ``xp`` is the array namespace the product runs in (NumPy, or CuPy on a GPU); the result
    stays in that namespace.
    """
    n1, k, P = J1.shape
    n2 = J2.shape[0]
    A = xp.asarray(J1).reshape(n1 * k, P)
    B = A if J2 is J1 else xp.asarray(J2).reshape(n2 * k, P)
    K = A @ B.T
    return K.reshape(n1, k, n2, k).transpose(0, 2, 1, 3)


def tangent_kernel(
    model: Model,
    w: Any,
    X1: Any,
    X2: Any | None = None,
    reference: bool = False,
    backend: str = "numpy",
) -> np.ndarray:
    """``K^g_w(X1, X2)``: ``(n1, n2)`` for scalar models, ``(n1, n2, k, k)`` for k outputs.

    ``X2 = None`` gives the Gram matrix of ``X1`` with itself. ``reference=True`` forces the
    plain autograd Jacobian instead of a model's layer-wise fast path. ``backend="cupy"``
    contracts the Jacobians on the GPU (the result comes back as a NumPy array).
    """
    require_model(model, "tangent_kernel(model, w, X1)")
    reference = as_flag(reference, "reference")
    xp = get_namespace(backend)
    w = as_weights(w, model.n_params)
    X1 = as_data(X1, model.input_dim, "X1")
    scalar = check_output(model.f(w, X1), X1.shape[0], model.name).ndim == 1
    J1 = jacobian(model, w, X1, reference)
    if X2 is None:
        J2 = J1
    else:
        X2 = as_data(X2, model.input_dim, "X2")
        J2 = jacobian(model, w, X2, reference)
    K = to_numpy(contract(J1, J2, xp))
    return K[:, :, 0, 0] if scalar else K
