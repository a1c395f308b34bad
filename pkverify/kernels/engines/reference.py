"""The autograd reference: slow, obvious, and the check every other implementation is tested
against.

* per-example Jacobian ``J[i, c, p] = ∂f_c(w, x_i)/∂w_p``: one forward pass, then one reverse
  pass per (row, output) — n·k vector–Jacobian products;
* kernel: ``K[i, j, c, d] = Σ_p J_a[i, c, p] J_b[j, d, p]`` (memory n·k·P per chunk);
* ``Σ_i v_i ∇f(x_i)``: one reverse pass (``autograd.make_vjp``);
* ``∇f(x)·u``: forward mode (``autograd.make_jvp``); where autograd has no forward rule for a
  primitive (erf, for one) the transpose trick — the reverse pass of the linear map
  ``v ↦ Jᵀv`` — gives the same product.

Works for any ``f(w, X)`` written with ``autograd.numpy``; NumPy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from autograd import make_jvp, make_vjp

__all__ = ["jacobian", "value_and_vjp", "jvp", "contract"]


def _as_2d(y: Any) -> np.ndarray:
    y = np.asarray(y)
    return y[:, None] if y.ndim == 1 else y


def jacobian(f, w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``(n, k, P)`` by n·k reverse passes through ``f``."""
    vjp, out = make_vjp(lambda v: f(v, X))(w)
    out = np.asarray(out)
    n = out.shape[0]
    k = 1 if out.ndim == 1 else out.shape[1]
    J = np.empty((n, k, w.shape[0]))
    cotangent = np.zeros(out.shape)  # e_{i,c}: one output of one row at a time
    one_hot = cotangent.reshape(n, k)
    for i in range(n):
        for c in range(k):
            one_hot[i, c] = 1.0
            J[i, c] = vjp(cotangent)
            one_hot[i, c] = 0.0
    return J


def value_and_vjp(f, w: np.ndarray, X: np.ndarray, cotangent) -> tuple[np.ndarray, Any, Any]:
    """``(y (n, k), v, Σ_i v_i·∇f(x_i))`` with ``v = cotangent(y)`` of y's (n, k) shape."""
    vjp, y = make_vjp(lambda v: f(v, X))(w)
    y = np.asarray(y)
    y2 = _as_2d(y)
    v = cotangent(y2)
    return y2, v, np.asarray(vjp(np.reshape(v, y.shape)))


def jvp(f, w: np.ndarray, X: np.ndarray, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(f(w, X) (n, k), ∇f(w, X)·U (t, n, k))`` for tangents ``U (t, P)``."""
    def f_at(v):
        return f(v, X)

    products = []
    y = None
    try:
        push_forward = make_jvp(f_at)(w)
        for u in U:
            y, dy = push_forward(u)
            products.append(_as_2d(dy))
    except NotImplementedError:  # a primitive without a forward rule: transpose the vjp
        products = []
        vjp, y = make_vjp(f_at)(w)
        zero = np.zeros(np.asarray(y).shape)
        transposed_vjp, _ = make_vjp(lambda c: vjp(c))(zero)  # of c ↦ Jᵀc: u ↦ J u
        for u in U:
            products.append(_as_2d(transposed_vjp(u)))
    if y is None:  # no tangents: still return the value
        y = f_at(w)
    return _as_2d(y), np.stack(products) if products else np.zeros((0,) + _as_2d(y).shape)


def contract(J1: np.ndarray, J2: np.ndarray, xp: Any = np) -> Any:
    """``K[i, j, c, d] = Σ_p J1[i, c, p] J2[j, d, p]``, shape ``(n1, n2, k, k)``."""
    n1, k, P = J1.shape
    n2 = J2.shape[0]
    rows1 = xp.asarray(J1).reshape(n1 * k, P)
    rows2 = rows1 if J2 is J1 else xp.asarray(J2).reshape(n2 * k, P)  # J·Jᵀ: one buffer
    K = rows1 @ rows2.T
    return K.reshape(n1, k, n2, k).transpose(0, 2, 1, 3)
