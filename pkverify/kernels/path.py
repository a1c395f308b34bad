"""Path kernels (Domingos 2020, Def. 2) on a recorded path, streamed over steps.

``K^p(x, x') = ∫_0^T K^g_{w(t)}(x, x') dt`` is approximated on the recorded path by one of the
:class:`Rule` s. Everything here streams over steps: at any moment it holds the Jacobians of
the query and training points at one or two weight vectors, O((n1 + n2)·k·P) floats, never
the whole path's Jacobians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from ..backend import get_namespace, to_numpy
from ..errors import InvalidArgumentError, unknown_name
from ..trajectory import Trajectory
from ..validation import as_data, as_flag, positive_int, require_trajectory
from .tangent import contract, jacobian

__all__ = ["Rule", "path_kernel", "accumulate", "PathSums", "DEFAULT_NODES", "node_weights"]

DEFAULT_NODES: int | None = None
"""Gauss–Legendre nodes per step for the exact rule; None chooses them per step (see
:func:`_mean_gradient`). Four nodes suffice for small steps; a large first step of a tanh MLP
at ε = 0.1 needed 12 to reach 1e-14."""

ADAPTIVE_RTOL = 1e-14
"""Target of the adaptive exact rule: the step identity's residual relative to |f|. A few
ulps of float64 (2.2e-16) times the handful of operations in G·Δ."""

MAX_NODES = 64


class Rule(str, Enum):
    """How the time integral along the path is discretised.

    RIEMANN    left sum ``Σ_s ε_s K^g_{w_s}``: the paper's discretisation of gradient descent.
               Symmetric and PSD. Against the GD-trained model its error is O(ε).
    TRAPEZOID  ``Σ_s ε_s (K^g_{w_s} + K^g_{w_{s+1}})/2``. Symmetric and PSD. Against the GD
               model still O(ε) (GD itself is a first-order scheme); against the flow
               integral on a sampled flow path, O(h²).
    SIMPSON    composite Simpson over the recorded times; full-batch paths only (flow
               samples). Symmetric and PSD for Simpson's positive weights; O(h⁴) against the
               flow integral on a sampled flow path.
    EXACT      the discrete-step form ``ε_s ∫_0^1 ∇f(w_s + τΔ_s, x) dτ · ∇f(w_s, x_i)``,
               Gauss–Legendre in τ (split at the gradient's kinks when the model can locate
               them). Reproduces the GD/SGD-trained model to rounding at any ε. Not symmetric
               in its two arguments; not defined for flow paths.
    """

    RIEMANN = "riemann"
    TRAPEZOID = "trapezoid"
    SIMPSON = "simpson"
    EXACT = "exact"

    @classmethod
    def _missing_(cls, value: object) -> Rule:
        # Rule("zz") answers like parse_rule: a pkverify error listing the rules
        raise unknown_name("path-kernel rule", value, [r.value for r in cls])


def parse_rule(rule: str | Rule) -> Rule:
    """The Rule called ``rule``; UnknownNameError listing the rules otherwise."""
    if isinstance(rule, Rule):
        return rule
    try:
        return Rule(rule)
    except ValueError:
        raise unknown_name("path-kernel rule", rule, [r.value for r in Rule]) from None


def node_weights(traj: Trajectory, rule: Rule, indicators: bool) -> np.ndarray:
    """Per-node, per-training-point weights ``C (S+1, n)`` of a node rule.

    ``Σ_s C[s, i] g(w_s)`` approximates ``∫ I_i(t) g(w(t)) dt``. Without ``indicators`` every
    ``I_i = 1``. For SGD the trapezoid uses step s's batch on both ends of step s.
    """
    S, n = traj.batches.shape
    eps = traj.step_sizes
    I = traj.batches.astype(np.float64) if indicators else np.ones((S, n))
    C = np.zeros((S + 1, n))
    if rule is Rule.RIEMANN:
        C[:S] = eps[:, None] * I
    elif rule is Rule.TRAPEZOID:
        half = 0.5 * eps[:, None] * I
        C[:S] += half
        C[1:] += half
    elif rule is Rule.SIMPSON:
        if indicators and not traj.batches.all():
            raise InvalidArgumentError(
                "rule 'simpson' needs a full-batch path; this path used mini-batches. "
                "Use rule='exact' (or 'riemann') for SGD paths."
            )
        if S < 2:
            raise InvalidArgumentError("rule 'simpson' needs at least 2 intervals on the path.")
        from scipy.integrate import simpson  # scipy loads on first use (start-up time)

        w = simpson(np.eye(S + 1), x=traj.times, axis=1)
        C[:] = w[:, None]
    else:  # pragma: no cover - EXACT is not a node rule
        raise InvalidArgumentError("the exact rule has no node weights")
    return C


def gauss_legendre(nodes: int, a: float = 0.0, b: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on ``[a, b]``."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    half = 0.5 * (b - a)
    return a + half * (x + 1.0), half * w


@dataclass(frozen=True)
class PathSums:
    """What one streaming pass over the path accumulates, for queries Xq against X2.

    kernel:   (q, n2, k, k)  ``Σ C K_s``: the path kernel (with indicators when X2 is the
              training set and indicators were asked for).
    weighted: (q, n2, k) or None  ``Σ C K_s ℓ'_s``: the loss-weighted kernel applied to ℓ'
              (Remark 2); only against the training set.
    reg:      (q, k) or None  ``Σ c ∇f(x)·∇R``: the regulariser's term (Remark 4).
    y0:       (q, k) the initial model at the queries.
    scalar:   True when the model's output is (n,) (k = 1 then squeezed by callers).
    kernel_abs: (q, n2, k, k)  ``Σ |C K_s|``: the size of the terms behind ``kernel``, so that
              callers can tell a kernel that cancels to rounding noise from a small one.
    """

    kernel: np.ndarray
    weighted: np.ndarray | None
    reg: np.ndarray | None
    y0: np.ndarray
    scalar: bool
    kernel_abs: np.ndarray | None = None


def accumulate(
    traj: Trajectory,
    Xq: np.ndarray,
    X2: np.ndarray | None,
    rule: Rule,
    nodes: int | None = DEFAULT_NODES,
    indicators: bool = True,
    weighted: bool = False,
    with_reg: bool = False,
    backend: str = "numpy",
) -> PathSums:
    """One pass over the path. ``X2 = None`` means the training set (indicators and ℓ' apply).

    Jacobians are taken with NumPy (autograd or the layer-wise path); the kernel
    contractions and sums run in ``backend``'s namespace and come back as NumPy arrays.
    Inputs are assumed validated.
    """
    xp = get_namespace(backend)
    model = traj.model
    training = X2 is None
    X2v: np.ndarray = traj.X if X2 is None else X2
    # queries that are the training points themselves share one Jacobian per node
    same = X2v is Xq or (X2v.shape == Xq.shape and bool(np.array_equal(X2v, Xq)))
    if weighted and not training:
        raise InvalidArgumentError("the loss-weighted kernel is defined against training points")
    y0 = np.asarray(model.f(traj.ws[0], Xq))
    scalar = y0.ndim == 1
    y0 = y0[:, None] if scalar else y0
    q, k = y0.shape
    n2 = X2v.shape[0]
    kernel = xp.zeros((q, n2, k, k))
    kernel_abs = xp.zeros((q, n2, k, k))
    wsum = xp.zeros((q, n2, k)) if weighted else None
    reg = traj.regularizer
    reg_sum = np.zeros((q, k)) if with_reg and reg is not None else None
    use_ind = indicators and training

    def loss_deriv(w: np.ndarray) -> Any:
        y = np.asarray(model.f(w, traj.X))
        d = traj.loss.deriv(y, traj.Y)
        return xp.asarray(d[:, None] if d.ndim == 1 else d)

    def result() -> PathSums:
        return PathSums(
            to_numpy(kernel),
            None if wsum is None else to_numpy(wsum),
            reg_sum,
            y0,
            scalar,
            to_numpy(kernel_abs),
        )

    if rule is Rule.EXACT:
        if traj.kind == "flow":
            raise InvalidArgumentError(
                "rule 'exact' is the discrete-step form of gradient descent and is not defined "
                "on a gradient-flow path; use rule='simpson' or 'trapezoid' there."
            )
        for s in range(traj.steps):
            w, w_next = traj.ws[s], traj.ws[s + 1]
            eps = traj.step_sizes[s]
            ind = traj.batches[s] if use_ind else np.ones(n2, dtype=bool)
            if not ind.any():
                continue
            G = _mean_gradient(model, w, w_next - w, Xq, nodes)
            J2 = jacobian(model, w, X2v)
            K = contract(G, J2, xp)
            c = xp.asarray(eps * ind.astype(np.float64))
            kernel += K * c[None, :, None, None]
            kernel_abs += xp.abs(K * c[None, :, None, None])
            if wsum is not None:
                wsum += xp.einsum("qiab,ib->qia", K, loss_deriv(w)) * c[None, :, None]
            if reg_sum is not None and reg is not None:
                reg_sum += eps * np.einsum("qap,p->qa", G, reg.grad(w))
        return result()

    C = node_weights(traj, rule, use_ind)
    c_plain = node_weights(traj, rule, False)[:, 0] if reg_sum is not None else None
    if not training:
        C = C[:, :1] * np.ones((1, n2))  # no indicators against arbitrary points
    for s in range(traj.steps + 1):
        c = C[s]
        if not c.any() and (c_plain is None or c_plain[s] == 0.0):
            continue
        w = traj.ws[s]
        Jq = jacobian(model, w, Xq)
        J2 = Jq if same else jacobian(model, w, X2v)
        K = contract(Jq, J2, xp)
        cx = xp.asarray(c)
        kernel += K * cx[None, :, None, None]
        kernel_abs += xp.abs(K * cx[None, :, None, None])
        if wsum is not None:
            wsum += xp.einsum("qiab,ib->qia", K, loss_deriv(w)) * cx[None, :, None]
        if reg_sum is not None and reg is not None and c_plain is not None:
            reg_sum += c_plain[s] * np.einsum("qap,p->qa", Jq, reg.grad(w))
    return result()


def _mean_gradient(
    model, w: np.ndarray, delta: np.ndarray, Xq: np.ndarray, nodes: int | None
) -> np.ndarray:
    """``G = ∫_0^1 ∇f(w + τΔ, Xq) dτ``, shape (q, k, P), by Gauss–Legendre in τ.

    When the model can locate the τ where its gradient has kinks (relu with one hidden
    layer), the interval is split there; between kinks such gradients are polynomials of
    degree ``model.info['piece_degree']`` in τ, so ``ceil((degree + 1) / 2)`` nodes per piece
    are exact.

    ``nodes = None`` chooses the node count per step: it starts at 4 and doubles (up to
    :data:`MAX_NODES`) until the step's own exact identity
    ``f(w + Δ, x) − f(w, x) = G(x)·Δ`` holds to :data:`ADAPTIVE_RTOL` relative to the
    outputs' size; an int fixes the count.
    """
    if model.kinks is not None:
        cuts = model.kinks(w, delta, Xq)
        edges = [0.0, *cuts.tolist(), 1.0]
        degree = model.info.get("piece_degree")
        per_piece = max(1, math.ceil((degree + 1) / 2)) if degree is not None else (nodes or 4)
        return _gauss_legendre_gradient(model, w, delta, Xq, edges, per_piece)
    if nodes is not None:
        return _gauss_legendre_gradient(model, w, delta, Xq, [0.0, 1.0], nodes)
    y0 = np.asarray(model.f(w, Xq))
    y1 = np.asarray(model.f(w + delta, Xq))
    change = (y1 - y0).reshape(Xq.shape[0], -1)
    scale = max(float(np.max(np.abs(y0))), float(np.max(np.abs(y1))), np.finfo(float).tiny)
    count, best, best_res = 4, None, np.inf
    while True:
        G = _gauss_legendre_gradient(model, w, delta, Xq, [0.0, 1.0], count)
        residual = float(np.max(np.abs(change - G @ delta)))
        if residual < best_res:
            best, best_res = G, residual
        if residual <= ADAPTIVE_RTOL * scale or count >= MAX_NODES:
            return best if best is not None else G  # G when every residual was NaN
        count *= 2


def _gauss_legendre_gradient(
    model, w: np.ndarray, delta: np.ndarray, Xq: np.ndarray, edges: list[float], per_piece: int
) -> np.ndarray:
    G = None
    for a, b in zip(edges[:-1], edges[1:]):
        if b <= a:
            continue
        taus, cs = gauss_legendre(per_piece, a, b)
        for tau, c in zip(taus, cs):
            J = jacobian(model, w + tau * delta, Xq)
            G = c * J if G is None else G + c * J
    if G is None:  # pragma: no cover - callers always pass a non-empty [a, b]
        raise InvalidArgumentError(f"no non-empty piece among the edges {edges}")
    return G


def path_kernel(
    traj: Trajectory,
    X1: Any,
    X2: Any | None = None,
    rule: str | Rule = "riemann",
    weighted: bool = False,
    nodes: int | None = DEFAULT_NODES,
    backend: str = "numpy",
) -> np.ndarray:
    """The path kernel ``K^p(X1, X2) ≈ ∫_0^T K^g_{w(t)}(X1, X2) dt`` along ``traj``.

    Returns ``(n1, n2)`` for scalar models, ``(n1, n2, k, k)`` for k outputs. ``X2 = None``
    gives the Gram matrix of X1. This kernel between arbitrary points carries no mini-batch
    indicators; on an SGD path the kernel machine's ``km.kernel(Xq)`` (and ``weighted=True``
    here) weight each training point's terms by ``I_i(t)`` (Remark 5). For relu models whose
    kinks are located (see :func:`_mean_gradient`) the exact rule sets its own node count per
    piece and ``nodes`` is not used. With ``weighted=True`` it is Remark 2's loss-weighted kernel
    ``K^{lp}(x, x_i) = ∫ I_i(t) ℓ'_i(t) K^g(x, x_i) dt`` against the training points (then
    X2 must be None), shape ``(n1, n)`` or ``(n1, n, k)`` (the k×k kernel applied to ℓ').
    ``backend="cupy"`` runs the contractions on the GPU; the result is a NumPy array.
    """
    require_trajectory(traj, "path_kernel(traj, X1)")
    weighted = as_flag(weighted, "weighted")
    get_namespace(backend)  # fail before any work if the backend is missing
    rule = parse_rule(rule)
    nodes = None if nodes is None else positive_int(nodes, "nodes")
    X1 = as_data(X1, traj.model.input_dim, "X1")
    if weighted:
        if X2 is not None:
            raise InvalidArgumentError(
                "weighted=True gives the loss-weighted kernel against the training points; "
                "leave X2=None."
            )
        sums = accumulate(
            traj, X1, None, rule, nodes, indicators=True, weighted=True, backend=backend
        )
        W = sums.weighted
        assert W is not None  # accumulate(weighted=True) fills it (for mypy)
        return W[:, :, 0] if sums.scalar else W
    X2v = X1 if X2 is None else as_data(X2, traj.model.input_dim, "X2")
    sums = accumulate(traj, X1, X2v, rule, nodes, indicators=False, backend=backend)
    return sums.kernel[:, :, 0, 0] if sums.scalar else sums.kernel
