"""Plain NumPy baselines for ``mlp([d, W, W, 1], "tanh")``, written independently of pkverify.

Imported by ``bench_engine.py`` and by ``peers.py`` (which times them beside a peer in the
peer's own process). NumPy only, so any environment that has NumPy can run them.
"""

from __future__ import annotations

import numpy as np


def unpack(w: np.ndarray, d: int, W: int, dtype) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(W1, b1), (W2, b2), (W3, b3)] from pkverify's flat layout (row-major, bias after)."""
    out, o = [], 0
    for fan_in, fan_out in ((d, W), (W, W), (W, 1)):
        Wm = w[o : o + fan_in * fan_out].reshape(fan_out, fan_in)
        o += fan_in * fan_out
        out.append((Wm.astype(dtype), w[o : o + fan_out].astype(dtype)))
        o += fan_out
    return out


def plain_pass(params, X, s):
    """Inputs a^h, pre-activations and δ^h of the scalar tanh net (NTK parameterisation)."""
    (W1, b1), (W2, b2), (W3, b3) = params
    a1 = X
    g1 = np.tanh(a1 @ W1.T + b1)
    a2 = s * g1
    g2 = np.tanh(a2 @ W2.T + b2)
    a3 = s * g2
    d2 = (s * W3[0]) * (1.0 - g2 * g2)
    d1 = (d2 @ (s * W2)) * (1.0 - g1 * g1)
    return (a1, a2, a3), (d1, d2), a3 @ W3.T + b3


def plain_kernel(params, X1, X2, s):
    """``K(X1, X2)`` (``X2 = None``: the Gram of X1) by the layer-wise formula (seed 003 eq. 22)."""
    (a1, a2, a3), (d1, d2), _ = plain_pass(params, X1, s)
    if X2 is None or X2 is X1:
        (c1, c2, c3), (e1, e2) = (a1, a2, a3), (d1, d2)
    else:
        (c1, c2, c3), (e1, e2), _ = plain_pass(params, X2, s)
    return (a1 @ c1.T + 1.0) * (d1 @ e1.T) + (a2 @ c2.T + 1.0) * (d2 @ e2.T) + a3 @ c3.T + 1.0


def plain_gd_step(params, X, Y, s, lr):
    """One full-batch GD step on ½Σ(f − y)²: a forward and a backward pass."""
    (W1, b1), (W2, b2), (W3, b3) = params
    g1 = np.tanh(X @ W1.T + b1)
    a2 = s * g1
    g2 = np.tanh(a2 @ W2.T + b2)
    a3 = s * g2
    r = (a3 @ W3.T + b3)[:, 0] - Y
    gW3, gb3 = r @ a3, r.sum()
    d2 = np.outer(r, s * W3[0]) * (1.0 - g2 * g2)
    gW2, gb2 = d2.T @ a2, d2.sum(0)
    d1 = (d2 @ (s * W2)) * (1.0 - g1 * g1)
    gW1, gb1 = d1.T @ X, d1.sum(0)
    return [(W1 - lr * gW1, b1 - lr * gb1), (W2 - lr * gW2, b2 - lr * gb2),
            (W3 - lr * gW3[None, :], b3 - lr * gb3)]
