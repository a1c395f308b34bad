"""The products one step of the optimizer's reverse recursion needs
(:mod:`pkverify.kernels.optimizer_path`): the query side's ``φ_s(x) = ∫_0^1 ∇f(w_s + τΔ_s, x)
dτ`` as dense ``(q, k, P)`` vectors, and the training side's ``u·∇f(w_s, x_i)`` on the batch's
rows, per output or weighted by each row's loss derivative."""

from __future__ import annotations

from typing import Any

import numpy as np

from .engines import DEFAULT_MEMORY, Engine, itemsize
from .exact import StepPlan
from .optimizer_replay import loss_cotangent

__all__ = ["step_gradients", "products_on_rows", "weighted_on_rows", "restrict_plan"]


def step_gradients(engine: Engine, w: Any, delta: Any, Xq: Any, plan: StepPlan) -> Any:
    """``φ_s(x) = ∫_0^1 ∇f(w + τΔ, x) dτ`` as dense ``(q, k, P)`` vectors, on the nodes the
    exact rule's plan chose for this step: every (query, node) pair is one row of a side at
    its own weights ``w + τΔ``, summed per query with the node weights (rows in chunks within
    the memory budget). Engines without per-row weights sum Jacobians node by node."""
    xp = engine.xp
    q = int(Xq.shape[0])
    if plan.rows is None:
        if not engine.supports_along:
            phi = None
            for tau, c in zip(plan.taus, plan.weights):
                J = engine.jacobian(w + float(tau) * delta, Xq)
                phi = c * J if phi is None else phi + c * J
            return phi
        rows = np.tile(np.arange(q), plan.taus.size)
        taus, weights = np.repeat(plan.taus, q), np.repeat(plan.weights, q)
    else:
        rows, taus, weights = plan.rows, plan.taus, plan.weights
    net = getattr(engine, "net", None)
    width = sum(layer.fan_in + 2 * engine.k * layer.fan_out for layer in net.layers) \
        if net is not None else engine.k * engine.model.n_params
    per_row = 3 * width * itemsize(Xq.dtype)
    # whole queries per chunk, so that each chunk's node counts stay even where they are
    per_query = max(1, rows.size // max(1, q)) * per_row
    chunk = max(1, DEFAULT_MEMORY // 4 // per_query)
    phi = None
    for lo in range(0, q, chunk):
        hi = min(q, lo + chunk)
        sel = np.flatnonzero((rows >= lo) & (rows < hi))
        Xe = Xq[rows[sel]] if isinstance(Xq, np.ndarray) else Xq[xp.asarray(rows[sel])]
        part = engine.jacobian_sum(w, Xe, (delta, xp.asarray(taus[sel], dtype=Xq.dtype)),
                                   rows[sel] - lo, weights[sel], hi - lo)
        if lo == 0 and hi == q:
            return part
        if phi is None:
            phi = xp.zeros((q,) + tuple(part.shape[1:]), dtype=part.dtype)
        phi[lo:hi] = part
    return phi


def products_on_rows(engine: Engine, w: Any, Xb: Any, U: Any,
                      budget: int = DEFAULT_MEMORY) -> tuple[Any, Any]:
    """``(f (m, k), ∇f·U (t, m, k))`` on the batch rows from their side (forward pass and
    sensitivities), in row chunks so that the products ``(t, rows, d_h)`` stay within the
    memory budget."""
    xp = engine.xp
    t = int(U.shape[0])
    m = int(Xb.shape[0])
    net = getattr(engine, "net", None)
    width = max(layer.fan_out for layer in net.layers) + engine.k if net is not None \
        else engine.k * engine.model.n_params
    per_row = max(1, 3 * t * width * itemsize(U.dtype))
    chunk = max(1, budget // per_row)
    fs, dys = [], []
    for lo in range(0, m, chunk):
        B = engine.side(w, Xb[lo : lo + chunk])
        f = engine.side_output(B)
        fs.append(engine.forward(w, Xb[lo : lo + chunk]) if f is None else f)
        dys.append(engine.side_products(B, U))
    if len(fs) == 1:
        return fs[0], dys[0]
    cat = getattr(xp, "concat", None) or xp.concatenate
    return cat(fs, axis=0), cat(dys, axis=1)


def weighted_on_rows(engine: Engine, w: Any, X: Any, traj: Any, rows: np.ndarray,
                     weights: np.ndarray, U: Any, budget: int = DEFAULT_MEMORY) -> Any:
    """``Σ_c ρ ℓ'_ic ∇f_c(x_i)·u_t`` for the training ``rows`` (``(t, m)``): each row's own
    loss gradient against the tangents, in row chunks within the memory budget (the products
    ``(t, rows, d_h)``)."""
    xp = engine.xp
    t, m = int(U.shape[0]), int(rows.size)
    net = getattr(engine, "net", None)
    width = max(layer.fan_out for layer in net.layers) if net is not None \
        else engine.k * engine.model.n_params
    chunk = max(1, budget // max(1, 3 * t * width * itemsize(U.dtype)))
    outs = []
    for lo in range(0, m, chunk):
        part = rows[lo : lo + chunk]
        Xb = X[part] if isinstance(X, np.ndarray) else X[xp.asarray(part)]
        _, out = engine.weighted_products(w, Xb, loss_cotangent(traj, part,
                                                                weights[lo : lo + chunk], xp), U)
        outs.append(out)
    if len(outs) == 1:
        return outs[0]
    cat = getattr(xp, "concat", None) or xp.concatenate
    return cat(outs, axis=1)


def restrict_plan(plan: StepPlan, lo: int, hi: int) -> StepPlan:
    """The plan of query rows ``lo:hi`` (per-row nodes filtered and renumbered)."""
    if plan.rows is None:
        return plan
    keep = (plan.rows >= lo) & (plan.rows < hi)
    return StepPlan(plan.taus[keep], plan.weights[keep], plan.rows[keep] - lo,
                    plan.evaluations, plan.residual)
