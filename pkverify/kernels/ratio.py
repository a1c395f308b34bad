"""Theorem 1's coefficients ``a_i(x) = −ℓ̄'_i(x)`` from the kernel pass's sums
[domingos2020]::

    a_i(x) = −∫ I_i ℓ'_i K^g(x, x_i) dt / ∫ I_i K^g(x, x_i) dt  =  −K^{lp}(x, x_i) / K^p(x, x_i)

(for k outputs ``a_i(x) = −K^p(x, x_i)^+ K^{lp}(x, x_i)``, a stacked pseudo-inverse). Where
K^p cancels to rounding noise the ratio is a 0/0 and falls back to the time-averaged ``−ℓ'_i``
(:func:`mean_loss_deriv`), computed only when some entry needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..trajectory import Trajectory
from .engines import Engine
from .path import loss_deriv, node_weights
from .rules import Rule

__all__ = ["DEGENERATE", "coefficients", "mean_loss_deriv"]

DEGENERATE = 1e-12
"""|K^p(x, x_i)| below this × Σ_s |c_s K^g_s(x, x_i)| (the size of the terms it sums) is
cancellation down to rounding noise (2.2e-16 per term, over up to thousands of steps), which
makes ℓ̄'_i(x) a 0/0; a_i(x) there falls back to the time-averaged −ℓ'_i with the rule's
weights, the value of the ratio when K^g(x, x_i) is constant along the path (the term a_i K^p
is ≈ 0 either way; predict never divides)."""


def coefficients(K: np.ndarray, W: np.ndarray, terms: np.ndarray,
                 mean_deriv: Callable[[], np.ndarray]) -> np.ndarray:
    """``a_i(x)``, (q, n, k), from ``K = K^p`` (q, n, k, k), ``W = K^{lp}`` (q, n, k) and
    ``terms = Σ|c_s K^g_s|`` (q, n, k, k); ``mean_deriv()`` (n, k) is called only where an
    entry is degenerate (see :data:`DEGENERATE`)."""
    q, n, k, _ = K.shape
    out = np.empty((q, n, k))
    if k == 1:
        den = K[:, :, 0, 0]
        ok = (np.abs(den) > DEGENERATE * terms[:, :, 0, 0]) & (den != 0.0)
        fallback = 0.0 if ok.all() else -mean_deriv()[None, :, 0]
        out[:, :, 0] = np.where(ok, -W[:, :, 0] / np.where(ok, den, 1.0), fallback)
    else:  # k × k blocks: a = −K⁺ (Σ C K ℓ'), all pairs at once (a stacked pseudo-inverse)
        size = terms.max(axis=(2, 3))
        degenerate = (size == 0.0) | (np.abs(K).max(axis=(2, 3)) <= DEGENERATE * size)
        solved = -np.einsum("qiab,qib->qia", np.linalg.pinv(K), W)
        out[:] = solved if not degenerate.any() else np.where(
            degenerate[:, :, None], -mean_deriv()[None, :, :], solved)
    return out


def mean_loss_deriv(engine: Engine, traj: Trajectory, rule: Rule, dtype: Any) -> np.ndarray:
    """``Σ_s C[s,i] ℓ'_i(w_s) / Σ_s C[s,i]``, (n, k): ℓ̄'_i(x) in the limit where
    ``K^g(x, x_i)`` is constant along the path, with the rule's own time weights C (the exact
    rule weighs step s by ε_s I_i(s), as Riemann does). One forward pass over X per step."""
    xp = engine.xp
    node_rule = Rule.RIEMANN if rule is Rule.EXACT else rule
    C = node_weights(traj, node_rule, indicators=True)  # (S+1, n)
    X = xp.asarray(traj.X, dtype=dtype)
    acc = np.zeros((traj.X.shape[0], 1 if traj.Y.ndim == 1 else traj.Y.shape[1]))
    for s in range(traj.steps + 1):
        if not C[s].any():
            continue
        w = xp.asarray(traj.ws[s], dtype=dtype)
        d = to_numpy(loss_deriv(traj, engine.forward(w, X), xp))
        acc = acc + C[s][:, None] * d
    total = C.sum(axis=0)[:, None]
    return acc / np.maximum(total, np.finfo(float).tiny)
