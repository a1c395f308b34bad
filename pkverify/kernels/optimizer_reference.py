"""The slow, obvious reference for :mod:`pkverify.kernels.optimizer_path`: per-example
buffers carried forward (the method of ExPLAIND [explaind2025], with each step integrated exactly).

Every training point i owns its share of the optimizer's buffers. Step s's gradient splits
into ``h_{i,s} = ρ_s I_i(s) ℓ'_{i,s} ∇f(w_s, x_i)`` (one part per point) and the regulariser's
part; the rule (:meth:`pkverify.optim.Optimizer.advance`, the same code pk.train steps with)
moves every part with the shared P_s, so the step splits as ``Δ_s = Σ_i Δ^{(i)}_s + Δ^R_s``
and, by the exact rule's identity,

    contribution_i(x) = Σ_s φ_s(x)·Δ^{(i)}_s,    b(x) = f(w_0, x) + Σ_s φ_s(x)·Δ^R_s.

The kernel carries one more buffer per (point, output) fed with ``I_i(s) ∇f_c(w_s, x_i)``.
Gradients come from autograd (per-example Jacobians, n·k reverse passes a step) and φ_s from
autograd Jacobians on the nodes of the exact rule's plan. Memory O(n·k·P): tiny problems only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..optim import Optimizer, OptimizerState, batch_weights
from .engines import reference
from .exact import StepPlan

__all__ = ["BufferReference", "buffer_reference"]


@dataclass(frozen=True)
class BufferReference:
    """contributions (q, n, k); kernel (q, n, k, k) K^opt; b (q, k); y0 (q, k)."""

    contributions: np.ndarray
    kernel: np.ndarray
    b: np.ndarray
    y0: np.ndarray


def _phi(f, w: np.ndarray, delta: np.ndarray, Xq: np.ndarray, plan: StepPlan) -> np.ndarray:
    """φ_s(x) (q, k, P) by autograd Jacobians at the plan's nodes, row by row."""
    q = Xq.shape[0]
    if plan.rows is None:
        return sum(c * reference.jacobian(f, w + t * delta, Xq)
                   for t, c in zip(plan.taus, plan.weights))
    out = None
    for r, t, c in zip(plan.rows, plan.taus, plan.weights):
        J = reference.jacobian(f, w + t * delta, Xq[r : r + 1])[0]
        if out is None:
            out = np.zeros((q,) + J.shape)
        out[r] += c * J
    assert out is not None
    return out


def buffer_reference(traj, opt: Optimizer, reduction: str, Xq: np.ndarray,
                     plans: list[StepPlan]) -> BufferReference:
    """Carry per-example buffers forward over the path (see the module docstring)."""
    f = traj.model.f
    X = traj.X
    n, P = X.shape[0], traj.model.n_params
    scalar = traj.Y.ndim == 1
    rho = batch_weights(traj.batches, reduction)
    y0 = np.asarray(f(traj.ws[0], Xq))
    y0 = y0[:, None] if y0.ndim == 1 else y0
    k = y0.shape[1]
    q = Xq.shape[0]
    contributions = np.zeros((q, n, k))
    kernel = np.zeros((q, n, k, k))
    b = y0.copy()
    state = OptimizerState()
    kstate = OptimizerState()
    for s in range(traj.steps):
        w = traj.ws[s]
        eta = opt.rate(s, float(traj.step_sizes[s]))  # (P,) with parameter groups
        J = reference.jacobian(f, w, X)  # (n, k, P)
        y = np.asarray(f(w, X))
        d = np.asarray(traj.loss.deriv(y, traj.Y))
        d = (d[:, None] if scalar else d) * rho[s][:, None]
        h = np.einsum("nc,ncp->np", d, J)  # per-example parts of g_s
        r_grad = traj.regularizer.grad(w) if traj.regularizer is not None else np.zeros(P)
        G = np.vstack([h, opt.gradient(r_grad, w)[None, :]])
        parts, dec, Pm, state = opt.advance(state, G, w, eta, s)
        # kernel buffers: I_i(s) ∇f_c(w_s, x_i) per (point, output), with the same P_s
        GK = (traj.batches[s][:, None, None] * J).reshape(n * k, P)
        zK = opt.buffers(kstate, GK, s)
        kstate = OptimizerState(zK, None)
        stepK = opt.direction(zK, GK, Pm, eta, s).reshape(n, k, P)
        phi = _phi(f, w, traj.ws[s + 1] - w, Xq, plans[s])  # (q, k, P)
        contributions += np.einsum("qcp,ip->qic", phi, parts[:n])
        b += phi @ (parts[n] + dec)
        kernel -= np.einsum("qcp,iep->qice", phi, stepK)
    return BufferReference(contributions, kernel, b, y0)
