"""Path kernels (Domingos 2020, Def. 2 [domingos2020]) and the sums of Theorem 1, streamed
over the steps of a recorded path.

Two passes, each holding one step's work at a time (never the path's Jacobians), reading the
weights through the trajectory's store a chunk of steps at a time with read-ahead
(:meth:`~pkverify.Trajectory.iter_steps`), so a path on disk is never held whole:

* :func:`product_sums` — what ``predict``, ``b(x)`` and the loss-weighted form need. With the
  rule's weights ``C[s, i]`` (ε_s I_i(s) for Riemann)::

      Σ_i C[s,i] ℓ'_i K^g_s(x, x_i) = ∇f(w_s, x) · (Σ_i C[s,i] ℓ'_i ∇f(w_s, x_i))

  i.e. one vector–Jacobian product on the training set (the step's own gradient) and one
  forward-mode product on the queries per node; the exact rule integrates the forward-mode
  product along each step (:mod:`pkverify.kernels.exact`). No kernel matrix is formed.
* :func:`kernel_sums` — ``K^p``, ``K^{lp}`` per training point and the size of their terms
  (for ``a_i(x)``): one cross kernel per node, accumulated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..errors import InvalidArgumentError
from ..progress import progress
from ..trajectory import Trajectory
from .engines import Engine
from .exact import StepPlan, scatter_rows
from .optimizer_path import optimizer_products
from .optimizer_replay import Preconditioners
from .options import check_kernel_memory
from .rules import Rule, node_weights, parse_rule

__all__ = [
    "Rule",
    "ProductSums",
    "KernelSums",
    "product_sums",
    "kernel_sums",
    "check_sums_memory",
    "DEFAULT_NODES",
    "node_weights",
    "parse_rule",
    "loss_deriv",
]

DEFAULT_NODES: int | None = None
"""Nodes per step for the exact rule; None chooses them per step (nested Clenshaw–Curtis until
the step identity holds to rounding; relu nets: exact Gauss–Legendre between their kinks)."""


@dataclass(frozen=True)
class ProductSums:
    """What one product pass accumulates for queries Xq, all ``(q, k)`` in the engine's xp.

    y0:        ``f(w_0, x)``.
    loss_term: ``Σ_s Σ_i C[s,i] ℓ'_i K^g_s(x, x_i)`` (Remark 2's sum; the machine predicts
               ``b(x) − loss_term``).
    reg:       ``Σ_s c_s ∇f(w_s, x)·∇R(w_s)`` (Remark 4), or None without a regulariser.
    plans:     the exact rule's per-step plans (None for node rules).
    mismatch:  the exact rule's per-step ``‖Δ_s − Δ̃_s‖ / ‖Δ_s‖``: how far the recorded step
               is from the step Δ̃_s its optimizer takes from this model's gradients on this
               data (rounding, ≈ 1e-16, for a path that pk.train recorded; large for an edited
               path).
    preconditioners: Adam's P_s, rebuilt on demand from checkpoints of the forward pass (exact
               rule, adaptive optimizers), for the optimizer's kernel pass; else None.
    unexplained: on steps that do not follow the optimizer, ``Σ_s φ_s(x)·(Δ_s − Δ̃_s)``: the
               part of the recorded path no training point explains (already in ``reg``, so
               in b(x)); None when every step follows it.
    """

    y0: Any
    loss_term: Any
    reg: Any | None
    plans: list[StepPlan] | None = None
    mismatch: np.ndarray | None = None
    preconditioners: Preconditioners | None = None
    unexplained: Any | None = None

    @property
    def evaluations(self) -> np.ndarray:
        """Gradient evaluations per query row for each step (exact rule)."""
        return np.array([p.evaluations for p in self.plans or []])

    @property
    def residuals(self) -> np.ndarray:
        """Each step's identity residual relative to its rounding scale (exact rule)."""
        return np.array([p.residual for p in self.plans or []])


@dataclass(frozen=True)
class KernelSums:
    """What one kernel pass accumulates for queries Xq against X2 (engine's xp).

    kernel:     (q, n2, k, k)  ``Σ C K_s``: the path kernel (with indicators against the
                training set when asked for).
    kernel_abs: (q, n2, k, k)  ``Σ |C K_s|``: the size of its terms, so callers can tell a
                kernel that cancels to rounding noise from a small one.
    weighted:   (q, n2, k) or None  ``Σ C K_s ℓ'_s``: Remark 2's loss-weighted kernel applied
                to ℓ' (against the training set only).
    """

    kernel: Any
    kernel_abs: Any
    weighted: Any | None


def loss_deriv(traj: Trajectory, y2: Any, xp: Any, rows: np.ndarray | None = None) -> Any:
    """ℓ' as ``(n, k)`` in xp from the model's outputs ``(n, k)`` (on the training ``rows``
    when given); the loss (NumPy, on the host: an (n, k) transfer) sees ``(n,)`` when the
    targets are scalar."""
    scalar = traj.Y.ndim == 1
    Y = traj.Y if rows is None else traj.Y[rows]
    y = to_numpy(y2).astype(np.float64, copy=False)
    d = np.asarray(traj.loss.deriv(y[:, 0] if scalar else y, Y))
    return xp.asarray(d[:, None] if scalar else d, dtype=y2.dtype)


def _weighted_deriv(traj: Trajectory, weights: Any, xp: Any) -> Callable[[Any], Any]:
    """The cotangent ``y ↦ C ⊙ ℓ'(y)`` for the engine's vector–Jacobian product."""

    def cotangent(y: Any) -> Any:
        return weights * loss_deriv(traj, y, xp)

    return cotangent


def _reg_grad(traj: Trajectory, w: Any, xp: Any) -> Any:
    assert traj.regularizer is not None
    g = traj.regularizer.grad(to_numpy(w) if not isinstance(w, np.ndarray) else w)
    return xp.asarray(g, dtype=w.dtype)


def product_sums(
    engine: Engine,
    traj: Trajectory,
    Xq: Any,
    rule: Rule,
    nodes: int | None = DEFAULT_NODES,
    with_reg: bool = True,
    show: bool | None = None,
) -> ProductSums:
    """One pass of vector–Jacobian and forward-mode products (see the module docstring).

    Inputs are in the engine's namespace and dtype; the training set and weights are moved
    there step by step.
    """
    xp = engine.xp
    dt = Xq.dtype
    X = xp.asarray(traj.X, dtype=dt)
    reg = traj.regularizer is not None and with_reg
    loss_term = reg_term = y0 = None

    def add(acc, v):
        return v if acc is None else acc + v

    if rule is Rule.EXACT:
        if traj.kind == "flow":
            raise InvalidArgumentError(
                "rule 'exact' is the discrete-step form of gradient descent and is not defined "
                "on a gradient-flow path; use rule='simpson' or 'trapezoid' there."
            )
        # every optimizer's step, rebuilt and checked by the rule itself (optimizer_path)
        opt = traj.optimizer
        assert opt is not None  # every non-flow path has one
        out = optimizer_products(engine, traj, opt, traj.reduction, Xq, nodes, with_reg,
                                 show=show)
        return ProductSums(out.y0, out.loss_term, out.reg, out.plans, out.mismatch,
                           out.preconditioners, out.unexplained)

    C = node_weights(traj, rule, indicators=True)
    reg_weights = node_weights(traj, rule, indicators=False)[:, 0] if reg else None
    for s, w_s in progress(traj.iter_rows(), total=traj.steps + 1, desc=f"{rule.value} rule",
                           enabled=show, unit="step"):  # streamed from the path's store
        c = C[s]
        if not c.any() and not (reg_weights is not None and reg_weights[s] != 0.0) and s != 0:
            continue
        w = xp.asarray(w_s, dtype=dt)
        cx = xp.asarray(c, dtype=dt)[:, None]
        _, _, g = engine.value_and_vjp(w, X, _weighted_deriv(traj, cx, xp))
        U = xp.stack([g, reg_weights[s] * _reg_grad(traj, w, xp)]) if reg_weights is not None \
            else g[None, :]
        f, dY = engine.jvp(w, Xq, U)
        if s == 0:
            y0 = f
        loss_term = add(loss_term, dY[0])
        if reg_weights is not None:
            reg_term = add(reg_term, dY[1])
    return ProductSums(y0, loss_term, reg_term, None)


def check_sums_memory(traj: Trajectory, q: int, X2: Any | None, dtype: Any,
                      weighted: bool) -> None:
    """Refuse, before any pass, a kernel pass whose arrays would not fit in memory: the
    kernel, the size of its terms and one step's kernel, each ``(q, n2, k, k)`` (and the
    loss-weighted sum)."""
    n2 = int(traj.X.shape[0] if X2 is None else X2.shape[0])
    k = 1 if traj.Y.ndim == 1 else int(traj.Y.shape[1])
    check_kernel_memory(q, n2, k, dtype, 3 + int(weighted), "the path kernel")


def kernel_sums(
    engine: Engine,
    traj: Trajectory,
    Xq: Any,
    X2: Any | None,
    rule: Rule,
    plans: list[StepPlan] | None = None,
    indicators: bool = True,
    weighted: bool = False,
    chunk_rows: int | None = None,
    show: bool | None = None,
    columns: np.ndarray | None = None,
) -> KernelSums:
    """One pass of cross kernels. ``X2 = None`` means the training set (indicators and ℓ'
    apply); ``columns`` (sorted training indices, with X2 None) keeps those training points
    only — one block of :mod:`pkverify.kernels.blocks`. The exact rule needs the ``plans`` of
    a product pass over the same Xq."""
    xp = engine.xp
    dt = Xq.dtype
    training = X2 is None
    if weighted and not training:
        raise InvalidArgumentError("the loss-weighted kernel is defined against training points")
    X_train = traj.X if columns is None else traj.X[columns]
    X_other: Any = xp.asarray(X_train, dtype=dt) if X2 is None else X2
    n2 = int(X_other.shape[0])
    use_ind = indicators and training
    same = (not training and X2 is Xq) or (
        tuple(X_other.shape) == tuple(Xq.shape) and bool(xp.all(X_other == Xq))
    )
    kernel = kernel_abs = wsum = None

    def accumulate(K, c, w, B, cols=None):
        """Add ``c ⊙ K`` (and its loss-weighted form); ``cols``: K holds only these columns
        of X_other (a mini-batch's rows)."""
        nonlocal kernel, kernel_abs, wsum
        cx = xp.asarray(c if cols is None else c[cols], dtype=dt)[None, :, None, None]
        term = K * cx
        dloss = None
        if weighted:  # ℓ' from side B's own forward pass where the engine kept it
            y = engine.side_output(B)
            Xs = X_other if cols is None else X_other[cols if xp is np else xp.asarray(cols)]
            lrows = cols if columns is None else columns if cols is None else columns[cols]
            dloss = loss_deriv(traj, engine.forward(w, Xs) if y is None else y, xp, lrows)
        if cols is not None:  # scatter the batch's columns into the full width
            full = xp.zeros((term.shape[0], n2) + tuple(term.shape[2:]), dtype=dt)
            full[:, cols if xp is np else xp.asarray(cols)] = term
            term = full
            if dloss is not None:
                d_full = xp.zeros((n2, dloss.shape[1]), dtype=dt)
                d_full[cols if xp is np else xp.asarray(cols)] = dloss
                dloss = d_full
        kernel = term if kernel is None else kernel + term
        kernel_abs = xp.abs(term) if kernel_abs is None else kernel_abs + xp.abs(term)
        if dloss is not None:
            weighted_term = xp.sum(term * dloss[None, :, None, :], axis=3)
            wsum = weighted_term if wsum is None else wsum + weighted_term

    if rule is Rule.EXACT:
        if plans is None:
            raise InvalidArgumentError("the exact rule's kernel needs the product pass's plans")
        q = int(Xq.shape[0])
        for s, w_s, w_next in progress(traj.iter_steps(), total=traj.steps,
                                       desc="exact kernel", enabled=show, unit="step"):
            ind = (traj.batches[s] if columns is None else traj.batches[s][columns]) \
                if use_ind else np.ones(n2, dtype=bool)
            if not ind.any():
                continue
            w = xp.asarray(w_s, dtype=dt)
            delta = xp.asarray(w_next - w_s, dtype=dt)
            cols = None if ind.all() else np.flatnonzero(ind)  # a mini-batch: its rows only
            X_step = X_other if cols is None else X_other[
                cols if xp is np else xp.asarray(cols)]
            B = engine.side(w, X_step)
            plan = plans[s]
            if plan.rows is None:
                K = None
                for tau, c in zip(plan.taus, plan.weights):
                    Kt = engine.kernel(w + float(tau) * delta, Xq, w, X_step, B=B,
                                       batch_size=chunk_rows)
                    K = c * Kt if K is None else K + c * Kt
            else:
                rows = plan.rows
                X_kinked = Xq[xp.asarray(rows)] if not isinstance(Xq, np.ndarray) else Xq[rows]
                K_kinked = engine.kernel(w, X_kinked, w, X_step, B=B, batch_size=chunk_rows,
                                         along=(delta, xp.asarray(plan.taus, dtype=dt)))
                K = scatter_rows(xp, K_kinked, rows, plan.weights, q, axis=0)
            accumulate(K, traj.step_sizes[s] * ind.astype(np.float64), w, B, cols)
        return KernelSums(kernel, kernel_abs, wsum)

    C = node_weights(traj, rule, use_ind)
    if columns is not None and training:
        C = C[:, columns]
    if not training:
        C = C[:, :1] * np.ones((1, n2))  # no indicators against arbitrary points
    for s, w_s in progress(traj.iter_rows(), total=traj.steps + 1, desc="path kernel",
                           enabled=show, unit="step"):
        c = C[s]
        if not c.any():
            continue
        w = xp.asarray(w_s, dtype=dt)
        B = engine.side(w, X_other)
        K = engine.kernel(w, Xq, w, X_other, same=same, batch_size=chunk_rows, B=B)
        accumulate(K, c, w, B)
    return KernelSums(kernel, kernel_abs, wsum)
