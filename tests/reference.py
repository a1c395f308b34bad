"""Slow, obvious reference computations the tests compare pkverify against.

Nothing here imports pkverify's kernels or training code: gradients come from central
finite differences or from ``autograd.jacobian`` applied directly to ``model.f``, and every
sum over the path is an explicit loop.
"""

from __future__ import annotations

import numpy as np
from autograd import jacobian as ag_jacobian


def fd_jacobian(fn, w: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central finite differences of ``fn(w)`` (any output shape) → ``out.shape + (P,)``.

    Error per entry: O(h²) truncation (~1e-12 for O(1) third derivatives) plus rounding
    ~ eps·|f|/h ~ 1e-10.
    """
    w = np.asarray(w, dtype=np.float64)
    out0 = np.asarray(fn(w))
    J = np.empty(out0.shape + (w.size,))
    for p in range(w.size):
        e = np.zeros_like(w)
        e[p] = h
        J[..., p] = (np.asarray(fn(w + e)) - np.asarray(fn(w - e))) / (2.0 * h)
    return J


def rel_err(a, b) -> float:
    """max |a − b| / max |b| (max-norm relative error)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(float).tiny))


def jac(model, w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``∂f(w, X)/∂w`` by ``autograd.jacobian`` on the raw model function: (n, P) or (n, k, P)."""
    return np.asarray(ag_jacobian(lambda v: model.f(v, X))(np.asarray(w, dtype=np.float64)))


def mean_gradient(model, w: np.ndarray, delta: np.ndarray, X: np.ndarray, nodes: int = 40):
    """``∫_0^1 ∇f(w + τΔ, X) dτ`` by Gauss–Legendre with many nodes (smooth models only)."""
    x, c = np.polynomial.legendre.leggauss(nodes)
    taus, cs = 0.5 * (x + 1.0), 0.5 * c
    return sum(ci * jac(model, w + t * delta, X) for t, ci in zip(taus, cs))


def loss_derivs(traj, w: np.ndarray) -> np.ndarray:
    """ℓ'_i at weights w for MSE (y − y*) or logistic (sigmoid(y) − y*), by hand."""
    y = np.asarray(traj.model.f(w, traj.X))
    if traj.loss.name == "mse":
        return y - traj.Y
    if traj.loss.name == "logistic":
        return 1.0 / (1.0 + np.exp(-y)) - traj.Y
    raise NotImplementedError(traj.loss.name)
