"""Replaying an optimizer along a recorded path: each step's gradient from the path's own
weights, and Adam's preconditioner P_s rebuilt from checkpoints.

P_s = diag(1/(√(v_s/(1 − β₂^{s+1})) + eps)) depends on every earlier gradient (it is data), and
the reverse recursion of :mod:`pkverify.kernels.optimizer_path` needs it from the last step
back. Storing all of them would cost S·P; inverting ``v_{s−1} = (v_s − (1 − β₂) g_s²)/β₂``
loses digits when ``g_s²`` dominates. Instead the forward pass keeps ``v`` at the start of
every K-th step (K = ⌈√S⌉) and the reverse pass replays one segment of K steps from its
checkpoint (one vector–Jacobian product per step, as training's own): memory ≈ 2√S·P.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..optim import Optimizer, OptimizerState
from .engines import Engine

__all__ = ["StepGradient", "step_gradient", "Preconditioners", "batch_rows", "take_rows"]


def batch_rows(traj: Any, s: int) -> np.ndarray:
    """The training rows of step s's mini-batch (all rows for full-batch steps)."""
    return np.flatnonzero(traj.batches[s])


def take_rows(X: Any, rows: np.ndarray, xp: Any) -> Any:
    """``X[rows]`` in any namespace (X itself when rows are all of them)."""
    if rows.size == X.shape[0]:
        return X
    return X[rows] if isinstance(X, np.ndarray) else X[xp.asarray(rows)]


def loss_cotangent(traj: Any, rows: np.ndarray, weights: np.ndarray, xp: Any):
    """``y ↦ ρ I ℓ'(y)`` for the batch rows (``(m, k)``, scalar targets as k = 1)."""
    Y = traj.Y[rows]
    scalar = traj.Y.ndim == 1

    def cotangent(y2: Any) -> Any:
        y = to_numpy(y2).astype(np.float64, copy=False)
        d = np.asarray(traj.loss.deriv(y[:, 0] if scalar else y, Y))
        d = d[:, None] if scalar else d
        return xp.asarray(weights[:, None] * d, dtype=y2.dtype)

    return cotangent


@dataclass(frozen=True)
class StepGradient:
    """Step s's gradient in the parts the rule moves separately (host, float64, ``(P,)``).

    loss:  ``Σ_i ρ_s I_i(s) ℓ'_{i,s} ∇f(w_s, x_i)``.
    reg:   ``λ_L2 w_s + ∇R(w_s)`` (the regulariser's and coupled decay's part).
    total: ``(loss + ∇R) + λ_L2 w_s``, summed in pk.train's order (v_s is built from it).
    """

    loss: np.ndarray
    reg: np.ndarray
    total: np.ndarray


def step_gradient(engine: Engine, traj: Any, opt: Optimizer, rho: np.ndarray, X: Any,
                  s: int, dt: Any) -> StepGradient:
    """One forward and one backward pass on step s's batch rows only."""
    xp = engine.xp
    w_host = np.asarray(traj.ws[s], dtype=np.float64)
    rows = batch_rows(traj, s)
    if rows.size:
        cot = loss_cotangent(traj, rows, rho[s, rows], xp)
        _, _, g = engine.value_and_vjp(xp.asarray(w_host, dtype=dt), take_rows(X, rows, xp),
                                       cot)
        g_loss = to_numpy(g).astype(np.float64, copy=False)
    else:
        g_loss = np.zeros(traj.model.n_params)
    r_grad = traj.regularizer.grad(w_host) if traj.regularizer is not None else None
    total = opt.gradient(g_loss if r_grad is None else g_loss + r_grad, w_host)
    # not total − g_loss: no cancellation
    g_reg = opt.gradient(np.zeros_like(g_loss) if r_grad is None else r_grad, w_host)
    return StepGradient(g_loss, g_reg, total)


@dataclass
class Preconditioners:
    """Adam's P_s on demand: ``v`` kept at the start of every ``every``-th step (see the module
    docstring). ``record(s, state)`` during the forward pass; ``segment(a)`` during the
    reverse pass returns P_a … P_{b−1} for the segment starting at a."""

    steps: int
    every: int = 0
    checkpoints: dict[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.every:
            self.every = max(1, math.ceil(math.sqrt(self.steps)))

    def record(self, s: int, state: OptimizerState) -> None:
        """Keep the state's v if step s starts a segment."""
        if s % self.every == 0:
            self.checkpoints[s] = None if state.v is None else state.v.copy()

    def starts(self) -> range:
        """Segment starts, last first (the reverse pass's order)."""
        return range((self.steps - 1) // self.every * self.every, -1, -self.every)

    def segment(self, a: int, engine: Engine, traj: Any, opt: Optimizer, rho: np.ndarray,
                X: Any, dt: Any) -> list[Any]:
        """P_s for s in [a, min(a + every, S)), replayed from the checkpoint at a."""
        state = OptimizerState(None, self.checkpoints[a])
        out = []
        for s in range(a, min(a + self.every, self.steps)):
            g = step_gradient(engine, traj, opt, rho, X, s, dt)
            v, P = opt.precondition(state, g.total, s)
            state = OptimizerState(None, v)
            out.append(P)
        return out
