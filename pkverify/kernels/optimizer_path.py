"""Theorem 1 for every optimizer of :mod:`pkverify.optim`: exact, streamed over the path.

The exact rule's step identity [bell2023] holds for any step ``Δ_s = w_{s+1} − w_s``::

    f(w_S, x) = f(w_0, x) + Σ_s φ_s(x)·Δ_s,     φ_s(x) = ∫_0^1 ∇f(w_s + τΔ_s, x) dτ.

Every rule of :mod:`pkverify.optim.rule` writes the step as
``Δ_s = −η_s P_s Σ_{r≤s} c_{s,r} g_r − η_s λ_dec w_s`` with
``g_r = Σ_i ρ_r I_i(r) ℓ'_{i,r} ∇f(w_r, x_i) + λ_L2 w_r + ∇R(w_r)``. Substituting and exchanging
the sums over s and r::

    f(w_S, x) = b(x) + Σ_i Σ_r I_i(r) ρ_r ℓ'_{i,r} (−u_r(x)·∇f(w_r, x_i)),
    u_r(x) = Σ_{s≥r} η_s c_{s,r} P_s φ_s(x),
    b(x)   = f(w_0, x) − Σ_s η_s λ_dec φ_s(x)·w_s − Σ_r u_r(x)·(λ_L2 w_r + ∇R(w_r)).

Since ``c_{s,r} = α_s (κ_r μ^{s−r} + ν [s = r])`` is geometric in s − r, with
``e_s = η_s α_s P_s φ_s(x)``::

    y_r = e_r + μ y_{r+1}   (y_S = 0),       u_r = κ_r y_r + ν e_r,

a reverse recursion over the steps holding ``(q, k, P)`` vectors (φ, e, y, u; queries in
chunks): no per-example buffers, no S² pairs. The optimizer's path kernel and the
contributions follow per step from products of u_r with the gradients of the step's batch
rows only (:mod:`pkverify.kernels.step_products`; the contributions alone need one loss
sensitivity per row, the kernel one per output)::

    K^opt(x, x_i) = Σ_r I_i(r) u_r(x)·∇f(w_r, x_i)                      (k × k per pair)
    contribution_i(x) = −Σ_r I_i(r) ρ_r ℓ'_{i,r} u_r(x)·∇f(w_r, x_i)
    a_i(x) = −K^opt(x, x_i)⁻¹ Σ_r I_i(r) ρ_r K^opt_r(x, x_i) ℓ'_{i,r}

With parameter groups (:mod:`pkverify.optim.groups`) η_s is the diagonal ``E_s`` of each
weight's group's step size and λ a diagonal too: ``e_s = E_s α_s P_s φ_s`` (``E_s P_s`` is still
diagonal) and nothing else changes. With μ = 0, P = I and no decay, ``u_r = η_r φ_r`` and this
is the exact rule's machine for gradient descent. ``predict`` and ``b`` need no recursion: ``Σ_r
u_r·g_r = Σ_s φ_s·(η_s P_s d_s)``, so one forward pass carries the rule's buffers for the loss's
part of g and the regulariser's part separately (the rule is linear in g once P_s is fixed) and
integrates φ_s against each part's step — :func:`optimizer_products`. P_s is data (Adam's second
moment of the path's own gradients): that pass rebuilds it, checks every recorded step against
the rule (a PathWarning names the first step that does not follow it), and keeps v every ⌈√S⌉
steps so that the reverse pass (:func:`optimizer_kernel_sums`) replays P_s segment by segment
(:mod:`pkverify.kernels.optimizer_replay`).

Cost per step (q queries, k outputs, batch B): the forward pass is one vector–Jacobian
product on B (as training) plus the exact rule's nodes on the q queries; the reverse pass adds
one vector–Jacobian product on B (the P_s replay), φ_s for q·k rows, and the products
``u·∇f(x_i)``: about 2·q·k·|B|·P multiply–adds — the size of the answer times P, which no
per-example method avoids either.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..optim import Optimizer, OptimizerState, batch_weights
from ..progress import progress
from .engines import DEFAULT_MEMORY, Engine, itemsize
from .engines.layerwise import permute
from .exact import (
    PathWarning,
    StepPlan,
    adaptive_rtol,
    integrate_step,
    unit_roundoff,
    warn_not_exact,
)
from .optimizer_replay import (
    Preconditioners,
    batch_rows,
    step_gradient,
    take_rows,
)
from .step_products import products_on_rows, restrict_plan, step_gradients, weighted_on_rows

__all__ = ["OptimizerProducts", "optimizer_products", "optimizer_kernel_sums",
           "step_gradients", "OptimizerKernelSums", "PATH_RTOL"]

PATH_RTOL = 1e-10
"""A recorded step further than this (relative) from the step the optimizer rebuilds from the
path's own gradients is not a step of the trajectory's rule on its model and data (an edited
file, a path from elsewhere): the machine then describes another path, and a PathWarning says
so. pk.train's own steps agree to rounding (≈ 1e-16, a few ulps of the same sums). A float32
machine recomputes the gradients to float32 rounding (cancellation in Σ ℓ'_i ∇f_i can cost
most of its 7 digits), so it does not judge a float64 path's consistency."""

F64_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class OptimizerProducts:
    """What the forward pass gives for queries Xq (arrays ``(q, k)`` in the engine's xp).

    y0:         ``f(w_0, x)``.
    loss_term:  ``Σ_r u_r(x)·(g_r's loss part)``: predict is ``b(x) − loss_term``.
    reg:        ``f(w_0, x) − b(x)``: the regulariser's, the coupled and the decoupled weight
                decay's share of the path, and on steps that do not follow the rule the part
                of the recorded step the rule does not explain (None when there is none).
    plans:      the exact rule's per-step plans, for the reverse pass.
    mismatch:   per step, ``‖Δ_s − Δ̃_s‖ / ‖Δ_s‖`` against the rebuilt step Δ̃_s.
    preconditioners: Adam's P_s, rebuilt on demand from checkpoints (adaptive rules only).
    unexplained: ``Σ_s φ_s(x)·(Δ_s − Δ̃_s)`` over the steps that do not follow the rule (part
                of b(x), no training point's term); None when every step follows it.
    """

    y0: Any
    loss_term: Any
    reg: Any | None
    plans: list[StepPlan]
    mismatch: np.ndarray
    preconditioners: Preconditioners | None = None
    unexplained: Any | None = None


def optimizer_products(
    engine: Engine,
    traj: Any,
    opt: Optimizer,
    reduction: str,
    Xq: Any,
    nodes: int | None = None,
    with_reg: bool = True,
    show: bool | None = None,
    checkpoint_every: int = 0,
) -> OptimizerProducts:
    """The forward pass: replay the rule from the path's gradients, check each step, and
    integrate φ_s against each part of the rebuilt step (see the module docstring). Adaptive
    rules keep Adam's v every ``checkpoint_every`` steps (0: ⌈√S⌉) for the reverse pass."""
    xp = engine.xp
    dt = Xq.dtype
    X = xp.asarray(traj.X, dtype=dt)
    model = traj.model
    S = traj.steps
    rho = batch_weights(traj.batches, reduction)
    eta = np.asarray(traj.step_sizes, dtype=np.float64)
    state = OptimizerState()
    plans: list[StepPlan] = []
    mismatch = np.zeros(S)
    inconsistent = np.zeros(S, dtype=bool)
    Ps = Preconditioners(S, checkpoint_every) if opt.adaptive else None
    y0 = loss_term = reg_term = unexplained = None
    has_reg = traj.regularizer is not None or opt.decays
    for s in progress(range(S), total=S, desc="exact rule", enabled=show, unit="step"):
        w_host = np.asarray(traj.ws[s], dtype=np.float64)
        w = xp.asarray(w_host, dtype=dt)
        step = traj.ws[s + 1] - traj.ws[s]
        if Ps is not None:
            Ps.record(s, state)
        g = step_gradient(engine, traj, opt, rho, X, s, dt)
        parts, dec, _, state = opt.advance(state, np.stack([g.loss, g.reg]), w_host,
                                           opt.rate(s, float(eta[s])), s, total=g.total)
        rebuilt = parts[0] + parts[1] + dec
        gap = float(np.linalg.norm(step - rebuilt))
        size = float(np.linalg.norm(step))
        mismatch[s] = gap / max(size, float(np.finfo(np.float64).tiny))
        # storing w_{s+1} rounds each coordinate by ≤ ½ ulp of w_{s+1}: within that (plus
        # PATH_RTOL of the step) the recorded step is the rule's step, rounded
        allowed = PATH_RTOL * size + 4.0 * F64_EPS * float(np.linalg.norm(traj.ws[s + 1]))
        direct = bool(gap > allowed) and unit_roundoff(dt) <= F64_EPS
        inconsistent[s] = direct
        tangents = [parts[0], parts[1]]
        if opt.decoupled:
            tangents.append(np.asarray(dec))
        if direct:  # not the rule's step: integrate along Δ itself
            tangents.append(step)
        U = xp.asarray(np.stack(tangents), dtype=dt)
        n_rule = 3 if opt.decoupled else 2

        def gdelta(I, direct=direct, n_rule=n_rule):
            if direct:
                return I[-1, ...]
            total_I = I[0, ...] + I[1, ...]
            return total_I + I[2, ...] if n_rule == 3 else total_I

        cuts = None
        if model.kinks is not None:
            cuts = np.asarray(model.kinks(traj.ws[s], step, to_numpy(Xq)), float).ravel()
        delta = xp.asarray(step, dtype=dt)
        I, f0, plan = integrate_step(engine, w, delta, Xq, U, gdelta, nodes, cuts)
        plans.append(plan)
        if s == 0:
            y0 = f0
        loss_term = -I[0, ...] if loss_term is None else loss_term - I[0, ...]
        extra = None  # what enters b(x) = y0(x) − reg_term
        if with_reg and has_reg:
            extra = -I[1, ...] if n_rule == 2 else -(I[1, ...] + I[2, ...])
        if with_reg and direct:
            # the part of the recorded step the rule does not explain, φ_s·(Δ_s − Δ̃_s), is
            # no training point's doing: it enters b(x), so the machine equals the model of
            # the path it was given (the training points keep the rule's share)
            rule_share = I[0, ...] + I[1, ...] + (I[2, ...] if n_rule == 3 else 0.0)
            off_rule = rule_share - I[-1, ...]
            extra = off_rule if extra is None else extra + off_rule
            unexplained = -off_rule if unexplained is None else unexplained - off_rule
        if extra is not None:
            reg_term = extra if reg_term is None else reg_term + extra
    worst = max(p.residual for p in plans)
    if worst > 1e3 * adaptive_rtol(dt):  # unlocated kinks or too few nodes cost digits
        warn_not_exact(model, worst, nodes)
    if inconsistent.any():
        first = int(np.argmax(inconsistent))
        warn_off_rule(first, float(mismatch[first]), opt, reduction)
    return OptimizerProducts(y0, loss_term, reg_term, plans, mismatch, Ps, unexplained)


def warn_off_rule(step: int, mismatch: float, opt: Optimizer, reduction: str) -> None:
    """Warn that a path's steps do not follow its optimizer, naming the first such step."""
    rule = "gradient-descent" if opt.plain else opt.describe()
    warnings.warn(
        f"this path is not the {rule} path of its model on its data (optimizer "
        f"{opt.describe()}, reduction {reduction!r}): at step {step} the recorded step differs "
        f"from the optimizer's step rebuilt from the path's own gradients by {mismatch:.2e} "
        "(relative). "
        "The kernel machine rebuilds the path it was given — the part of each step that the "
        "optimizer does not explain enters b(x), the training points keep the optimizer's "
        "share — and that path is not the one training would take (an edited trajectory "
        "file, batches or data changed after training, or the wrong optimizer recorded).",
        PathWarning,
        stacklevel=4,
    )


@dataclass(frozen=True)
class OptimizerKernelSums:
    """What the reverse pass accumulates (engine's xp), the fields of
    :class:`~pkverify.kernels.path.KernelSums` plus the b(x) it rebuilds on the way.

    kernel:     (q, n, k, k)  K^opt(x, x_i).
    kernel_abs: (q, n, k, k)  Σ_r |I_i(r) u_r(x)·∇f(w_r, x_i)|, the size of its terms.
    weighted:   (q, n, k)     Σ_r ρ_r I_i(r) K^opt_r ℓ'_{i,r} = −contribution_i(x).
    reg:        (q, k)        f(w_0, x) − b(x), rebuilt by the recursion (a second route to
                the forward pass's value).
    """

    kernel: Any
    kernel_abs: Any
    weighted: Any
    reg: Any


def optimizer_kernel_sums(
    engine: Engine,
    traj: Any,
    opt: Optimizer,
    reduction: str,
    Xq: Any,
    plans: list[StepPlan],
    preconditioners: Preconditioners | None,
    chunk_rows: int | None = None,
    show: bool | None = None,
    kernel: bool = True,
    columns: np.ndarray | None = None,
) -> OptimizerKernelSums:
    """The reverse recursion ``y_r = e_r + μ y_{r+1}``, ``u_r = κ_r y_r + ν e_r`` (module
    docstring), one forward-mode product of u_r on step r's batch rows per step, for
    ``chunk_rows`` queries at a time (None: as many as a quarter of the memory budget holds
    in the four ``(rows, k, P)`` vectors φ, e, y, u). ``plans`` and (adaptive rules)
    ``preconditioners`` come from the forward pass over the same Xq
    (:func:`optimizer_products`). ``kernel=False`` computes the contributions only (``kernel``
    and ``kernel_abs`` None): each batch row's single loss sensitivity instead of one per
    output. ``columns`` (sorted training indices): the sums for those training points only,
    ``(q, len(columns), ...)`` — one block of :mod:`pkverify.kernels.blocks`; each point's sum
    runs over the same steps in the same order as without it."""
    xp = engine.xp
    dt = Xq.dtype
    q, k = int(Xq.shape[0]), engine.k
    n = int(traj.X.shape[0]) if columns is None else len(columns)
    if opt.adaptive and preconditioners is None:
        raise ValueError("the reverse pass of an adaptive rule needs the P_s checkpoints")
    per_query = 4 * k * traj.model.n_params * itemsize(dt)
    rows = chunk_rows or max(1, DEFAULT_MEMORY // 4 // per_query)
    out = OptimizerKernelSums(
        xp.zeros((q, n, k, k), dtype=dt) if kernel else None,
        xp.zeros((q, n, k, k), dtype=dt) if kernel else None,
        xp.zeros((q, n, k), dtype=dt), xp.zeros((q, k), dtype=dt))
    for lo in range(0, q, rows):
        hi = min(q, lo + rows)
        part = _reverse(engine, traj, opt, reduction, Xq[lo:hi],
                        [restrict_plan(p, lo, hi) for p in plans], preconditioners, show,
                        kernel, columns)
        if kernel:
            out.kernel[lo:hi] = part.kernel
            out.kernel_abs[lo:hi] = part.kernel_abs
        out.weighted[lo:hi] = part.weighted
        out.reg[lo:hi] = part.reg
    return out


def _reverse(engine, traj, opt, reduction, Xq, plans, preconditioners, show, with_kernel,
             columns=None):
    """The reverse pass for one chunk of queries (against the training ``columns`` only,
    when given)."""
    xp = engine.xp
    dt = Xq.dtype
    X = xp.asarray(traj.X, dtype=dt)
    q, k = int(Xq.shape[0]), engine.k
    n = int(traj.X.shape[0]) if columns is None else len(columns)
    position = None
    if columns is not None:  # training index → column of this block (−1: not in it)
        position = np.full(int(traj.X.shape[0]), -1)
        position[columns] = np.arange(n)
    P = traj.model.n_params
    S = traj.steps
    rho = batch_weights(traj.batches, reduction)
    eta = np.asarray(traj.step_sizes, dtype=np.float64)
    kernel = xp.zeros((q, n, k, k), dtype=dt) if with_kernel else None
    kernel_abs = xp.zeros((q, n, k, k), dtype=dt) if with_kernel else None
    weighted = xp.zeros((q, n, k), dtype=dt)
    reg = xp.zeros((q, k), dtype=dt)
    y = None
    scalar = traj.Y.ndim == 1
    segment: dict[int, Any] = {}
    bar = progress(range(S - 1, -1, -1), total=S, desc="optimizer kernel", enabled=show,
                   unit="step")
    for s in bar:
        if preconditioners is not None and s not in segment:  # replay the segment ending at s
            a = s // preconditioners.every * preconditioners.every
            segment = dict(zip(range(a, s + 1), preconditioners.segment(
                a, engine, traj, opt, rho, X, dt)))
        w_host = np.asarray(traj.ws[s], dtype=np.float64)
        w = xp.asarray(w_host, dtype=dt)
        delta = xp.asarray(traj.ws[s + 1] - traj.ws[s], dtype=dt)
        phi = step_gradients(engine, w, delta, Xq, plans[s])  # (q, k, P)
        rate = opt.rate(s, float(eta[s]))  # η_s, or the diagonal E_s with groups
        if opt.decoupled and opt.groups is None:  # b(x): step s's decoupled decay, −η_s λ φ_s·w_s
            reg = reg + (float(eta[s]) * opt.decoupled_decay) * (phi @ xp.asarray(w_host,
                                                                                  dtype=dt))
        elif opt.decoupled:  # −φ_s·(E_s λ w_s)
            reg = reg + phi @ xp.asarray(rate * opt.decoupled_decay * w_host, dtype=dt)
        e = phi  # e_s = η_s α_s P_s φ_s (E_s α_s P_s φ_s with groups), in place
        e *= float(eta[s]) * opt.alpha(s) if opt.groups is None \
            else xp.asarray(rate * opt.alpha(s), dtype=dt)
        if preconditioners is not None:
            e *= xp.asarray(segment.pop(s), dtype=dt)
        if y is None or opt.mu == 0.0:
            y = e
        else:  # y_s = e_s + μ y_{s+1}, in place
            y *= opt.mu
            y += e
        # u_s = κ_s y_s + ν e_s; without ν the factor κ_s is applied to the products instead
        kappa = opt.kappa(s)
        u, factor = (kappa * y + opt.nu * e, 1.0) if opt.nu else (y, kappa)
        # b(x): the coupled part of g_s, u_s·(λ_L2 w_s + ∇R(w_s))
        r_grad = traj.regularizer.grad(w_host) if traj.regularizer is not None else None
        g_reg = opt.gradient(np.zeros(P) if r_grad is None else r_grad, w_host)
        if np.any(g_reg):
            reg = reg + factor * (u @ xp.asarray(g_reg, dtype=dt))
        rows = batch_rows(traj, s)
        cols = rows
        if position is not None:  # the batch rows in this block, and their columns
            rows = rows[position[rows] >= 0]
            cols = position[rows]
        if not rows.size:
            continue
        idx = cols if xp is np else xp.asarray(cols)
        if not with_kernel:  # contributions only: one sensitivity per batch row, ρ ℓ'
            Wt = weighted_on_rows(engine, w, X, traj, rows, rho[s, rows],
                                  xp.reshape(u, (q * k, P)))
            Wt = xp.reshape(factor * Wt if factor != 1.0 else Wt, (q, k, rows.size))
            weighted[:, idx] += permute(xp, Wt, (0, 2, 1))
            continue
        f, dY = products_on_rows(engine, w, take_rows(X, rows, xp),
                                  xp.reshape(u, (q * k, P)))
        if factor != 1.0:
            dY = factor * dY
        Kr = xp.reshape(dY, (q, k, rows.size, k))  # [q, c, i, c'] = u^c·∇f_{c'}(x_i)
        Kr = xp.permute_dims(Kr, (0, 2, 1, 3)) if hasattr(xp, "permute_dims") \
            else xp.transpose(Kr, (0, 2, 1, 3))  # [q, i, c, c']
        yb = to_numpy(f).astype(np.float64, copy=False)
        d = np.asarray(traj.loss.deriv(yb[:, 0] if scalar else yb, traj.Y[rows]))
        d = (d[:, None] if scalar else d) * rho[s, rows][:, None]
        W = xp.sum(Kr * xp.asarray(d, dtype=dt)[None, :, None, :], axis=3)  # (q, m, k)
        kernel[:, idx] += Kr
        kernel_abs[:, idx] += xp.abs(Kr)
        weighted[:, idx] += W
    return OptimizerKernelSums(kernel, kernel_abs, weighted, reg)
