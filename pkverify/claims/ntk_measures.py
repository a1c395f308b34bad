"""Measurements behind the ``ntk.*`` claims: the ntk-notes' two-layer net in closed form, its
gradient flow, and one module-level sweep task per fact (plain arguments and a seed, so that
:mod:`pkverify.sweeps` can run them in-process, in processes or on Dask).

Importing this module registers no claim (the claims live in :mod:`pkverify.claims.ntk`),
so tests, the ``pkverify sweep`` CLI and users can reuse the measurements freely.

The network is the ntk-notes' ``f(x) = m^{-1/2} Σ_r a_r σ(w_rᵀx)`` (``pkverify.models.two_layer``,
fixed ``a_r = ±1``, first layer trained, MSE ``½‖u − y‖²``, gradient flow). Its tangent
kernel and its flow have closed forms used here (cross-checked against ``pk.tangent_kernel``
and ``pk.gradient_flow`` in the tests).

Bad input, the same everywhere: inputs that are not of unit norm are *refused*
(``pkverify.ntk.check_unit_norm``; normalise with ``pkverify.ntk.unit_rows``), as are more
training points than the net has first-layer weights (``n > m·d``: H(t) is then singular and
the flow cannot fit the labels), and a singular or ill-conditioned H* (``pkverify.ntk.solve``).
"""


from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .. import ntk as limits
from .. import sweeps
from ..activations import ACTIVATIONS, DERIVATIVES, check_activation
from ..errors import InvalidArgumentError, ShapeError, unknown_name
from ..validation import as_targets, positive_float, positive_int
from .problems import loglog_slope
from .registry import CheckConfig

__all__ = [
    "two_layer_kernel",
    "two_layer_init",
    "two_layer_flow",
    "Flow",
    "check_width",
    "lemma2_error",
    "bound_width",
    "kernel_regression",
    "layerwise_kernel",
    "unit_sphere",
    "rate",
    "Rate",
    "SWEEPS",
]

ACTIVATIONS_LEMMA2 = ("relu", "softplus", "tanh", "erf")
FULL_WIDTHS = [2**k for k in range(6, 15)]
N_POINTS, DIM = 8, 4


# ---------------------------------------------------------------------------------------
# the two-layer net in closed form
# ---------------------------------------------------------------------------------------


def unit_sphere(seed: int, n: int = N_POINTS, d: int = DIM) -> np.ndarray:
    """``n`` points drawn uniformly on the unit sphere of ``R^d`` from ``seed``."""
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def two_layer_init(dim: int, width: int, activation: str, seed: int) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """``(W0 (m, d), a (m,))`` of ``pkverify.models.two_layer(dim, width, activation, seed)``.

    Read through the model's public ``init`` and ``info["signs"]``, so the nets measured here
    are exactly the package's model.
    """
    from ..models import two_layer

    model = two_layer(dim, width, activation, seed=seed)
    return model.init(seed).reshape(width, dim), np.asarray(model.signs, dtype=float)


def two_layer_kernel(W: np.ndarray, X: np.ndarray, activation: str) -> np.ndarray:
    """Tangent kernel of the ntk-notes' net over its first layer, in closed form.

    ``H_ij = (x_iᵀx_j / m) Σ_r σ'(w_rᵀx_i) σ'(w_rᵀx_j)`` (``a_r² = 1``), i.e.
    ``H = (X Xᵀ) ⊙ (S Sᵀ) / m`` with ``S = σ'(X Wᵀ)``: O(n²m) instead of the Jacobian's
    O(n·m·d) memory.
    """
    S = DERIVATIVES[activation](_pre(W, X))
    return (X @ X.T) * (S.T @ S) / W.shape[0]


def _pre(W: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Pre-activations ``(m, n)``: ``W Xᵀ`` with a contiguous ``Xᵀ`` (the (n, m) product
    ``X Wᵀ`` takes a slow multithreaded BLAS path: ~100× slower at m = 2^14 on 2 busy cores)."""
    return W @ np.ascontiguousarray(X.T)


def _outputs(W: np.ndarray, a: np.ndarray, X: np.ndarray, activation: str) -> np.ndarray:
    """``u = m^{-1/2} σ(X Wᵀ) a``."""
    return a @ np.asarray(ACTIVATIONS[activation](_pre(W, X))) / math.sqrt(W.shape[0])


def _velocity(W, a, X, y, activation):
    """``dW/dt = −∇_W ½‖u − y‖² = −m^{-1/2} a ⊙ (σ'(X Wᵀ)ᵀ ((u − y) ⊙ X))`` (ntk-notes eq. 4)."""
    Z = _pre(W, X)  # (m, n)
    scale = 1.0 / math.sqrt(W.shape[0])
    r = scale * (a @ np.asarray(ACTIVATIONS[activation](Z))) - y
    return -scale * ((a[:, None] * DERIVATIVES[activation](Z) * r) @ X)


def check_width(n: int, width: int, dim: int) -> None:
    """Refuse ``n > m·d``: H(t) is the Gram of n gradients in ``R^{m·d}``, rank ≤ m·d < n."""
    if n > width * dim:
        need = -(-n // dim)
        raise InvalidArgumentError(
            f"{n} training points need more than the width supports: m = {width} units on "
            f"d = {dim} inputs give m·d = {width * dim} trainable weights, so H(t) has rank "
            f"≤ {width * dim} < n and the net cannot fit the labels. Use width ≥ {need} "
            "(the lemmas want m ≫ n), or fewer points."
        )


@dataclass(frozen=True)
class Flow:
    """A sampled gradient flow of the ntk-notes' net.

    times: (k,) sample times;  W: (k, m, d) first-layer weights;  u: (k, n) outputs u(t);
    a: (m,) the fixed signs;  y: (n,) labels.
    """

    times: np.ndarray
    W: np.ndarray
    u: np.ndarray
    a: np.ndarray
    y: np.ndarray


def two_layer_flow(
    X: Any, y: Any, width: int, activation: str = "softplus", seed: int = 0,
    times: Any = (1.0,), step: float = 0.02,
) -> Flow:
    """Gradient flow ``dW/dt = −∇_W ½‖u − y‖²`` from ``two_layer_init``, by fixed-step RK4.

    Fixed steps (not an adaptive solver) because relu's right-hand side jumps where a
    pre-activation crosses 0, which makes adaptive step control crawl; for smooth σ the RK4
    error is O(step⁴). ``times`` are rounded to whole steps. Validates unit-norm inputs and
    ``n ≤ m·d`` before any work.
    """
    X = limits.check_unit_norm(X, "the ntk-notes' gradient-flow lemmas")
    n, d = X.shape
    y = as_targets(y, n, "y")
    if y.ndim != 1:
        raise ShapeError(f"y must be one label per point, shape ({n},); got {y.shape}.")
    width = positive_int(width, "width")
    check_width(n, width, d)
    act = check_activation(activation)
    step = positive_float(step, "step")
    ts = np.atleast_1d(np.asarray(times, dtype=float))
    if ts.ndim != 1 or np.any(ts < 0) or np.any(np.diff(ts) < 0):
        raise InvalidArgumentError(f"times must be non-negative and increasing; got {ts}.")
    W, a = two_layer_init(d, width, act, seed)
    marks = np.rint(ts / step).astype(int)
    out_W = np.empty((len(ts), width, d))
    done = 0
    for k, mark in enumerate(marks):
        W = _rk4(W, a, X, y, act, step, int(mark) - done)
        done = int(mark)
        out_W[k] = W
    u = np.array([_outputs(Wk, a, X, act) for Wk in out_W])
    return Flow(marks * step, out_W, u, a, y)


def _rk4(W, a, X, y, act, step, steps):
    """``steps`` classical RK4 steps of the flow from ``W``."""
    for _ in range(steps):
        k1 = _velocity(W, a, X, y, act)
        k2 = _velocity(W + 0.5 * step * k1, a, X, y, act)
        k3 = _velocity(W + 0.5 * step * k2, a, X, y, act)
        k4 = _velocity(W + step * k3, a, X, y, act)
        W = W + (step / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
    return W


# ---------------------------------------------------------------------------------------
# rates
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """A log-log slope over a sweep: pooled fit, per-seed slopes' mean and spread."""

    slope: float
    seed_mean: float
    seed_std: float
    x: list[float]
    mean: list[float]

    def text(self) -> str:
        return f"{self.slope:.2f} (seeds {self.seed_mean:.2f} ± {self.seed_std:.2f})"


def rate(table: sweeps.SweepTable, x: str, y: str) -> Rate:
    """Fit ``log y = slope·log x + c`` to every row (pooled), and per seed for the spread."""
    xs, ys, seeds = table.column(x), table.column(y), table.column("seed")
    pooled = loglog_slope(xs, ys)
    per_seed = [loglog_slope(xs[seeds == s], ys[seeds == s]) for s in np.unique(seeds)]
    grid = sorted(set(xs.tolist()))
    mean = [float(np.exp(np.mean(np.log(ys[xs == v])))) for v in grid]  # geometric mean
    std = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0
    return Rate(pooled, float(np.mean(per_seed)), std, grid, mean)


# ---------------------------------------------------------------------------------------
# Lemma 2
# ---------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _limit(activation: str, data_seed: int, n: int, d: int) -> np.ndarray:
    """H* of the sweep's data, computed once per worker (read-only: it is shared)."""
    H = limits.two_layer_limit(unit_sphere(data_seed, n, d), None, activation)
    H.setflags(write=False)
    return H


def lemma2_error(X: Any, width: int, activation: str = "relu", seed: int = 0) -> float:
    """``‖H(0) − H*‖₂`` for ``models.two_layer(d, width, activation, seed)`` on unit-norm X."""
    X = limits.check_unit_norm(X, "Lemma 2")
    width = positive_int(width, "width")
    check_width(X.shape[0], width, X.shape[1])
    W0, _ = two_layer_init(X.shape[1], width, activation, seed)
    H0 = two_layer_kernel(W0, X, activation)
    return float(np.linalg.norm(H0 - limits.two_layer_limit(X, None, activation), 2))


def measure_lemma2(activation: str, width: int, data_seed: int, n: int, d: int,
                   seed: int) -> dict[str, float]:
    """Sweep task: ``‖H(0) − H*‖₂`` at one width and seed."""
    X = unit_sphere(data_seed, n, d)
    W0, _ = two_layer_init(d, width, activation, seed)
    Hs = _limit(activation, data_seed, n, d)
    err = float(np.linalg.norm(two_layer_kernel(W0, X, activation) - Hs, 2))
    return {"err": err, "rel_err": err / float(np.linalg.norm(Hs, 2))}


SUP_DERIV = {"relu": 1.0, "softplus": 1.0, "tanh": 1.0, "erf": 2.0 / math.sqrt(math.pi),
             "sigmoid": 0.25, "identity": 1.0}


def bound_width(n: int, eps: float, delta: float, activation: str) -> float:
    """The width Lemma 2's proof asks for: ``m ≥ 2 B⁴ n⁴ log(2n²/δ) / ε²``.

    Each summand ``x_iᵀx_j σ'(w_rᵀx_i) σ'(w_rᵀx_j)`` lies in ``[−B², B²]`` (unit inputs,
    ``B = sup|σ'|``); Hoeffding gives ``P(|H_ij(0) − H*_ij| ≥ ε/n²) ≤ 2 exp(−2mε²/(4B⁴n⁴))``,
    a union bound over the n² entries makes all of them hold with probability ≥ 1 − δ, and
    then ``‖H(0) − H*‖₂ ≤ Σ_ij |·| ≤ ε``. (The seed writes ``n⁴ log(n/δ)/ε²``, dropping the
    constants.)
    """
    if activation not in SUP_DERIV:
        raise unknown_name("activation", activation, tuple(SUP_DERIV))
    B = SUP_DERIV[activation]
    return 2.0 * B**4 * n**4 * math.log(2.0 * n * n / delta) / eps**2


# ---------------------------------------------------------------------------------------
# Lemma 1
# ---------------------------------------------------------------------------------------


def measure_lemma1(activation: str, width: int, data_seed: int, n: int, d: int, T: float,
                   seed: int) -> list[dict[str, Any]]:
    """Sweep task: the Lemma 1 residual of central differences of u(t), for several h.

    The flow is integrated by ``solve_ivp`` (DOP853, rtol 1e-11) with dense output; at sample
    times t_k, ``du/dt ≈ (u(t+h) − u(t−h)) / 2h`` from the flow's own u is compared with
    ``−H(t)(u − y)`` (and, as a control that must not converge, with ``−H(0)(u − y)``).
    """
    from scipy.integrate import solve_ivp

    X = unit_sphere(data_seed, n, d)
    y = _labels("true", X, seed=data_seed)
    W0, a = two_layer_init(d, width, activation, seed)

    def rhs(t, v):
        return _velocity(v.reshape(width, d), a, X, y, activation).ravel()

    sol = solve_ivp(rhs, (0.0, T), W0.ravel(), method="DOP853", rtol=1e-11, atol=1e-12,
                    dense_output=True)

    def u_at(t: float) -> np.ndarray:
        return _outputs(sol.sol(t).reshape(width, d), a, X, activation)

    H0 = two_layer_kernel(W0, X, activation)
    samples = np.linspace(0.2 * T, 0.8 * T, 7)
    hs = [T / 10 / 2**k for k in range(5)]
    rows = []
    min_eig = np.inf
    res = {h: 0.0 for h in hs}
    ctl = {h: 0.0 for h in hs}
    for t in samples:
        W = sol.sol(t).reshape(width, d)
        H = two_layer_kernel(W, X, activation)
        eig = np.linalg.eigvalsh(H)
        min_eig = min(min_eig, float(eig[0] / eig[-1]))
        r = u_at(t) - y
        target, control = -H @ r, -H0 @ r
        scale = float(np.linalg.norm(target))
        for h in hs:
            du = (u_at(t + h) - u_at(t - h)) / (2 * h)
            res[h] = max(res[h], float(np.linalg.norm(du - target)) / scale)
            ctl[h] = max(ctl[h], float(np.linalg.norm(du - control)) / scale)
    for h in hs:
        rows.append({"h": h, "residual": res[h], "control": ctl[h],
                     "min_eig_ratio": min_eig, "nfev": int(sol.nfev)})
    return rows


# ---------------------------------------------------------------------------------------
# Lemma 3 and the drift figure
# ---------------------------------------------------------------------------------------


def _step_for(activation: str) -> float:
    # relu: RK4's error is O(step) at the kinks, well below the drift measured (O(m^-1/2));
    # smooth σ: O(step⁴)
    return 0.02 if activation == "relu" else 0.05


def measure_lemma3(activation: str, width: int, data_seed: int, n: int, d: int, t: float,
                   seed: int) -> dict[str, float]:
    """Sweep task: ``‖H(t) − H(0)‖₂`` and ``max_r ‖w_r(t) − w_r(0)‖`` at one width and seed."""
    X = unit_sphere(data_seed, n, d)
    y = _labels("true", X, seed=data_seed)
    fl = two_layer_flow(X, y, width, activation, seed, (0.0, t), _step_for(activation))
    H0 = two_layer_kernel(fl.W[0], X, activation)
    Ht = two_layer_kernel(fl.W[1], X, activation)
    return {
        "drift": float(np.linalg.norm(Ht - H0, 2)),
        "max_dw": float(np.max(np.linalg.norm(fl.W[1] - fl.W[0], axis=1))),
        "loss_ratio": float(np.sum((fl.u[1] - y) ** 2) / np.sum((fl.u[0] - y) ** 2)),
    }


def measure_drift_curve(activation: str, width: int, data_seed: int, n: int, d: int,
                        T: float, seed: int) -> list[dict[str, float]]:
    """Sweep task: ``‖H(t) − H(0)‖₂ / ‖H(0)‖₂`` at 11 times in [0, T] (figure data)."""
    X = unit_sphere(data_seed, n, d)
    y = _labels("true", X, seed=data_seed)
    ts = np.linspace(0.0, T, 11)
    fl = two_layer_flow(X, y, width, activation, seed, ts, _step_for(activation))
    H0 = two_layer_kernel(fl.W[0], X, activation)
    n0 = float(np.linalg.norm(H0, 2))
    return [{"t": float(t), "rel_drift": float(np.linalg.norm(
        two_layer_kernel(Wk, X, activation) - H0, 2)) / n0} for t, Wk in zip(fl.times, fl.W)]


# ---------------------------------------------------------------------------------------
# eigen-dynamics
# ---------------------------------------------------------------------------------------


def _labels(kind: str, X: np.ndarray, seed: int, activation: str = "softplus") -> np.ndarray:
    """Label vectors of norm √n: "true" (a smooth function of x), "random" (±1 from seed),
    "top"/"bottom" (√n times the top/bottom eigenvector of H*)."""
    n = X.shape[0]
    if kind == "true":
        y = np.sqrt(X.shape[1]) * X[:, 0] + np.sin(2.0 * X[:, 1])
    elif kind == "random":
        y = np.where(np.random.default_rng(10_000 + seed).random(n) < 0.5, -1.0, 1.0)
    elif kind in ("top", "bottom"):
        _, V = np.linalg.eigh(limits.two_layer_limit(X, None, activation))
        y = V[:, -1] if kind == "top" else V[:, 0]
    else:  # pragma: no cover - internal
        raise InvalidArgumentError(f"unknown label kind {kind!r}")
    return y * math.sqrt(n) / np.linalg.norm(y)


def measure_eigen(activation: str, width: int, data_seed: int, n: int, d: int, T: float,
                  seed: int) -> dict[str, float]:
    """Sweep task: ``max_{t,i} |v_iᵀ(u(t) − y) − e^{−λ_i t} v_iᵀ(u(0) − y)| / ‖u(0) − y‖``."""
    X = unit_sphere(data_seed, n, d)
    y = _labels("true", X, seed=data_seed)
    lam, V = np.linalg.eigh(_limit(activation, data_seed, n, d))
    ts = np.linspace(0.0, T, 9)
    fl = two_layer_flow(X, y, width, activation, seed, ts, 0.05)
    proj = (fl.u - y) @ V  # (k, n): v_iᵀ(u(t) − y)
    pred = np.exp(-np.outer(fl.times, lam)) * proj[0]
    gap = float(np.max(np.abs(proj - pred)) / np.linalg.norm(fl.u[0] - y))
    return {"gap": gap}


def measure_modes(activation: str, width: int, data_seed: int, n: int, d: int, T: float,
                  seed: int) -> list[dict[str, Any]]:
    """Sweep task: measured ``|v_iᵀ(u(t) − y)|`` and ``e^{−λ_i t}|v_iᵀ(u(0) − y)|`` for the
    top, middle and bottom eigenvectors (figure data)."""
    X = unit_sphere(data_seed, n, d)
    y = _labels("true", X, seed=data_seed)
    lam, V = np.linalg.eigh(_limit(activation, data_seed, n, d))
    ts = np.linspace(0.0, T, 21)
    fl = two_layer_flow(X, y, width, activation, seed, ts, 0.05)
    proj = (fl.u - y) @ V
    rows = []
    for name, i in (("top", n - 1), ("middle", n // 2), ("bottom", 0)):
        for k, t in enumerate(fl.times):
            rows.append({"mode": name, "lambda": float(lam[i]), "t": float(t),
                         "measured": float(abs(proj[k, i])),
                         "predicted": float(math.exp(-lam[i] * t) * abs(proj[0, i]))})
    return rows


def measure_labels(activation: str, width: int, data_seed: int, n: int, d: int, T: float,
                   labels: str, seed: int) -> dict[str, float]:
    """Sweep task: the share of the labels' energy not yet fitted at time T.

    Two flows from the same init, with labels y and with labels 0: their difference
    ``Δ(t) = u_y(t) − u_0(t)`` is the part of training the labels drive (≈ (I − e^{−H*t}) y
    in the wide limit), so ``‖y − Δ(T)‖² / ‖y‖²`` measures how fast *these labels* are
    learned, without the random initial outputs u(0). Predicted: ``Σ_i e^{−2λ_i T}(v_iᵀy)²/‖y‖²``.
    """
    X = unit_sphere(data_seed, n, d)
    y = _labels(labels, X, seed=seed, activation=activation)
    fy = two_layer_flow(X, y, width, activation, seed, (T,), 0.05)
    f0 = two_layer_flow(X, np.zeros(n), width, activation, seed, (T,), 0.05)
    left = y - (fy.u[-1] - f0.u[-1])
    lam, V = np.linalg.eigh(_limit(activation, data_seed, n, d))
    pred = float(np.sum(np.exp(-2 * lam * T) * (V.T @ y) ** 2) / (y @ y))
    return {"remaining": float(left @ left / (y @ y)), "predicted": pred}


# ---------------------------------------------------------------------------------------
# kernel regression and the generalisation bound
# ---------------------------------------------------------------------------------------


def kernel_regression(X: Any, y: Any, X_test: Any, activation: str = "softplus",
                      u0: Any = None, u0_test: Any = None) -> np.ndarray:
    """Seed 003 eq. 8 with the initial outputs: ``u0(x) + k(x, X) H*⁻¹ (y − u0)``.

    ``k(x, X) = H*(x, X)`` (``pkverify.ntk.two_layer_limit``), solved by Cholesky
    (``pkverify.ntk.solve``: a clear error when H* is singular or ill-conditioned). With
    ``u0 = u0_test = None`` this is ``f*(x) = k(x, X) H*⁻¹ y``.
    """
    X = limits.check_unit_norm(X, "the kernel-regression limit")
    X_test = limits.check_unit_norm(X_test, "the kernel-regression limit")
    y = as_targets(y, X.shape[0], "y")
    r = y - (0.0 if u0 is None else as_targets(u0, X.shape[0], "u0"))
    base = 0.0 if u0_test is None else as_targets(u0_test, X_test.shape[0], "u0_test")
    coef = limits.solve(limits.two_layer_limit(X, None, activation), r, "H*")
    return base + limits.two_layer_limit(X_test, X, activation) @ coef


def measure_kernel_regression(activation: str, width: int, data_seed: int, n: int, d: int,
                              seed: int) -> dict[str, float]:
    """Sweep task: a net trained to convergence against kernel regression at 5 test points.

    Trained in chunks of ``12/λ_min(H*)`` (in the wide limit the slowest mode decays by
    e^{-12} ≈ 6e-6 per chunk) until ``‖u − y‖ ≤ 1e-6 ‖u(0) − y‖`` or 8 chunks: a narrow net's
    own λ_min can be several times smaller than H*'s. The gap is
    ``‖f_T(X_test) − KR(X_test)‖ / ‖KR(X_test) − f_0(X_test)‖``: relative to the change that
    training made.
    """
    X = unit_sphere(data_seed, n, d)
    Xt = unit_sphere(data_seed + 1_000, 5, d)
    y = _labels("true", X, seed=data_seed)
    Hs = _limit(activation, data_seed, n, d)
    lam = np.linalg.eigvalsh(Hs)
    # RK4 is stable to step·λ_max ≈ 2.8; at 0.5 every mode decays monotonically, and the end
    # point (where dW/dt = 0) depends on the step only through the path's O(m^-1/2) curvature
    step = 0.5 / lam[-1]
    chunk = int(math.ceil(12.0 / lam[0] / step))
    W0, a = two_layer_init(d, width, activation, seed)
    u0 = _outputs(W0, a, X, activation)
    W, chunks, resid = W0, 0, 1.0
    while resid > 1e-6 and chunks < 8:
        W = _rk4(W, a, X, y, activation, step, chunk)
        chunks += 1
        resid = float(np.linalg.norm(_outputs(W, a, X, activation) - y) / np.linalg.norm(u0 - y))
    f0 = _outputs(W0, a, Xt, activation)
    fT = _outputs(W, a, Xt, activation)
    kr = kernel_regression(X, y, Xt, activation, u0, f0)
    return {"gap": float(np.linalg.norm(fT - kr) / np.linalg.norm(kr - f0)),
            "train_residual": resid, "T": chunks * chunk * step}


def measure_bound(n: int, d: int, labels: str, seed: int) -> dict[str, float]:
    """Sweep task: eq. 15's bound for relu H* on n points with "true" or "random" labels."""
    X = unit_sphere(50_000 + seed, n, d)
    y = (np.sqrt(d) * X[:, 0] if labels == "true"
         else np.where(np.random.default_rng(60_000 + seed).random(n) < 0.5, -1.0, 1.0))
    return {"bound": limits.generalization_bound(limits.two_layer_limit(X, None, "relu"), y)}


# ---------------------------------------------------------------------------------------
# deep NTK
# ---------------------------------------------------------------------------------------


def _mlp_layers(w: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """Unpack ``pkverify.models.mlp(sizes, bias=False)``'s flat weights into W^1..W^{L+1}."""
    Ws, off = [], 0
    for h in range(1, len(sizes)):
        rows, cols = sizes[h], sizes[h - 1]
        Ws.append(w[off: off + rows * cols].reshape(rows, cols))
        off += rows * cols
    return Ws


def layerwise_kernel(Ws: list[np.ndarray], X: np.ndarray, activation: str,
                     per_layer: bool = False) -> Any:
    """Seed 003 eq. 22: ``K = Σ_h ⟨g^{h−1}(x), g^{h−1}(x')⟩ · ⟨b^h(x), b^h(x')⟩``.

    ``g^0 = x``, ``g^h = sqrt(c_σ/d_h) σ(W^h g^{h−1})`` (eq. 16); ``b^{L+1} = 1``,
    ``b^h = sqrt(c_σ/d_h) σ'(f^h) ⊙ (W^{h+1})ᵀ b^{h+1}`` (eq. 20). One forward and one
    backward pass for all points; never a Jacobian. ``per_layer=True`` returns the list of
    per-layer terms instead of their sum.
    """
    from ..activations import c_sigma

    cs = c_sigma(activation)
    sigma, dsigma = ACTIVATIONS[activation], DERIVATIVES[activation]
    gs, pres = [X], []
    for W in Ws[:-1]:
        pre = gs[-1] @ W.T
        pres.append(pre)
        gs.append(math.sqrt(cs / W.shape[0]) * np.asarray(sigma(pre)))
    b = np.ones((X.shape[0], 1))
    terms = []
    for h in range(len(Ws) - 1, -1, -1):
        terms.append((gs[h] @ gs[h].T) * (b @ b.T))
        if h > 0:
            b = math.sqrt(cs / Ws[h - 1].shape[0]) * dsigma(pres[h - 1]) * (b @ Ws[h])
    terms.reverse()
    return terms if per_layer else sum(terms)


def measure_deep(activation: str, depth: int, width: int, data_seed: int, n: int, d: int,
                 seed: int) -> dict[str, float]:
    """Sweep task: relative Frobenius error of an MLP's empirical NTK against eqs. 16–23."""
    from ..models import mlp

    X = unit_sphere(data_seed, n, d)
    sizes = [d] + [width] * depth + [1]
    w = mlp(sizes, activation, bias=False).init(seed)
    K = layerwise_kernel(_mlp_layers(w, sizes), X, activation)
    Th = limits.mlp_limit(X, None, depth, activation)
    return {"rel_err": float(np.linalg.norm(K - Th) / np.linalg.norm(Th))}


def measure_norms(depth: int, width: int, scale: float, seed: int) -> list[dict[str, float]]:
    """Sweep task: ``‖g^{(h)}(x)‖² / ‖x‖²`` for each hidden layer of a relu MLP (eq. 18)."""
    from ..models import mlp

    x = scale * unit_sphere(70_000, 1, DIM)
    sizes = [DIM] + [width] * depth + [1]
    Ws = _mlp_layers(mlp(sizes, "relu", bias=False).init(seed), sizes)
    g = x
    rows = []
    for h, W in enumerate(Ws[:-1], start=1):
        g = math.sqrt(2.0 / W.shape[0]) * np.maximum(g @ W.T, 0.0)
        rows.append({"layer": h, "ratio": float(np.sum(g * g) / np.sum(x * x))})
    return rows


# ---------------------------------------------------------------------------------------
# sizes
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """Widths and seeds of each sweep (quick: a few seconds per claim; full: the ntk-notes' m)."""

    lemma2_widths: list[int]
    lemma2_seeds: int
    lemma3_widths: list[int]
    lemma3_seeds: int
    wide: int
    dyn_widths: list[int]
    dyn_seeds: int
    label_seeds: int
    kr_widths: list[int]
    kr_seeds: int
    bound_ns: list[int]
    bound_seeds: int
    deep_widths: list[int]
    deep_seeds: int
    norm_seeds: int


QUICK = Sizes(
    lemma2_widths=FULL_WIDTHS, lemma2_seeds=4,
    lemma3_widths=[2**k for k in range(6, 14)], lemma3_seeds=4, wide=2**12,
    dyn_widths=[2**k for k in range(6, 13)], dyn_seeds=4, label_seeds=2,
    kr_widths=[2**k for k in range(6, 12)], kr_seeds=4,
    bound_ns=[16, 64, 256], bound_seeds=3,
    deep_widths=[2**k for k in range(6, 10)], deep_seeds=8, norm_seeds=200,
)
FULL = Sizes(
    lemma2_widths=FULL_WIDTHS, lemma2_seeds=8,
    lemma3_widths=FULL_WIDTHS, lemma3_seeds=8, wide=2**14,
    dyn_widths=FULL_WIDTHS, dyn_seeds=8, label_seeds=6,
    kr_widths=FULL_WIDTHS, kr_seeds=6,
    bound_ns=[16, 32, 64, 128, 256, 512], bound_seeds=8,
    deep_widths=[2**k for k in range(6, 12)], deep_seeds=8, norm_seeds=1000,
)


def sizes(cfg: CheckConfig) -> Sizes:
    return QUICK if cfg.quick else FULL


def _base(cfg: CheckConfig) -> dict[str, Any]:
    return {"data_seed": cfg.seed, "n": N_POINTS, "d": DIM}


def _seeds(cfg: CheckConfig, count: int) -> list[int]:
    return [cfg.seed * 1_000 + s for s in range(count)]


def _run(fn, configs, seeds, desc) -> sweeps.SweepTable:
    return sweeps.run(fn, configs, seeds, desc=desc)


def _grid(cfg: CheckConfig, **axes: Any) -> list[dict[str, Any]]:
    return sweeps.grid(**axes, **{k: [v] for k, v in _base(cfg).items()})


def _in(value: float, lo: float, hi: float) -> bool:
    return bool(lo <= value <= hi)


LEMMA2_RANGE = (-0.65, -0.35)
DYN_RANGE = (-0.7, -0.3)
DEEP_RANGE = (-0.75, -0.3)


# ---------------------------------------------------------------------------------------
# named sweeps for `pkverify sweep`
# ---------------------------------------------------------------------------------------


def _lemma2_sweep(cfg: CheckConfig):
    sz = sizes(cfg)
    return (measure_lemma2, _grid(cfg, activation=list(ACTIVATIONS_LEMMA2),
                                  width=sz.lemma2_widths), _seeds(cfg, sz.lemma2_seeds),
            ("activation", "width", "err"))


def _lemma3_sweep(cfg: CheckConfig):
    sz = sizes(cfg)
    return (measure_lemma3, _grid(cfg, activation=["relu", "softplus"],
                                  width=sz.lemma3_widths, t=[1.0]),
            _seeds(cfg, sz.lemma3_seeds), ("activation", "width", "drift"))


def _eigen_sweep(cfg: CheckConfig):
    sz = sizes(cfg)
    return (measure_eigen, _grid(cfg, activation=["softplus"], width=sz.dyn_widths, T=[4.0]),
            _seeds(cfg, sz.dyn_seeds), ("activation", "width", "gap"))


def _kr_sweep(cfg: CheckConfig):
    sz = sizes(cfg)
    return (measure_kernel_regression, _grid(cfg, activation=["relu"],
                                             width=sz.kr_widths),
            _seeds(cfg, sz.kr_seeds), ("activation", "width", "gap"))


def _deep_sweep(cfg: CheckConfig):
    sz = sizes(cfg)
    return (measure_deep, _grid(cfg, activation=["relu", "erf"], depth=[2, 3],
                                width=sz.deep_widths), _seeds(cfg, sz.deep_seeds),
            ("activation", "width", "rel_err"))


SWEEPS = {
    "ntk.lemma2": _lemma2_sweep,
    "ntk.lemma3": _lemma3_sweep,
    "ntk.eigen_dynamics": _eigen_sweep,
    "ntk.kernel_regression": _kr_sweep,
    "ntk.deep": _deep_sweep,
}
"""Named sweeps for ``pkverify sweep NAME``: ``cfg -> (measure, configs, seeds, (group..., x,
y))`` where the last triple names the columns the CLI fits a slope over (grouped)."""
