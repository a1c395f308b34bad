"""The sweep tasks behind the ``ntk.*`` claims: one module-level function per measured fact,
with plain arguments and a seed, so that :mod:`pkverify.sweeps` can run them in-process, in
processes or on Dask; plus the named sweeps of ``pkverify sweep`` (sizes and data:
:mod:`pkverify.claims.ntk_setup`).

Importing this module registers no claim (the claims live in :mod:`pkverify.claims.ntk`). The
numerics — the two-layer net's kernel and flow through the kernel engine, H* and the deep
recursion — live in :mod:`pkverify.ntk`; a task only draws its data and combines them.
"""


from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..models import mlp
from ..ntk import generalization_bound, kernel_regression, mlp_limit, two_layer_limit
from ..ntk.deep import hidden_norms, layer_kernels
from ..ntk.two_layer import TwoLayerNet, rk4_steps, two_layer_flow
from ..rates import Rate, rate
from .ntk_setup import (
    ACTIVATIONS_LEMMA2,
    DIM,
    N_POINTS,
    CheckConfig,
    grid_for,
    seeds_for,
    sizes,
    unit_sphere,
)

__all__ = ["labels_for", "spectral", "rate", "Rate", "SWEEPS"]  # rate: for `pkverify sweep`


def spectral(A: np.ndarray) -> float:
    """``‖A‖₂``, the largest singular value (the norm of the ntk-notes' lemmas)."""
    return float(np.linalg.norm(A, 2))


# ---------------------------------------------------------------------------------------
# Lemma 2
# ---------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _limit(activation: str, data_seed: int, n: int, d: int) -> np.ndarray:
    """H* of the sweep's data, computed once per worker (read-only: it is shared)."""
    H = two_layer_limit(unit_sphere(data_seed, n, d), None, activation)
    H.setflags(write=False)
    return H


def measure_lemma2(activation: str, width: int, data_seed: int, n: int, d: int,
                   seed: int) -> dict[str, float]:
    """Sweep task: ``‖H(0) − H*‖₂`` at one width and seed (and relative to ``‖H*‖₂``)."""
    X = unit_sphere(data_seed, n, d)
    net = TwoLayerNet.build(d, width, activation, seed)
    Hs = _limit(activation, data_seed, n, d)
    err = spectral(net.kernel(net.init(seed), X) - Hs)
    return {"err": err, "rel_err": err / spectral(Hs)}


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
    y = labels_for("true", X, seed=data_seed)
    net = TwoLayerNet.build(d, width, activation, seed)
    w0 = net.init(seed)

    def rhs(t, v):
        return net.velocity(v, X, y)

    sol = solve_ivp(rhs, (0.0, T), w0, method="DOP853", rtol=1e-11, atol=1e-12,
                    dense_output=True)

    def u_at(t: float) -> np.ndarray:
        return net.outputs(sol.sol(t), X)

    H0 = net.kernel(w0, X)
    samples = np.linspace(0.2 * T, 0.8 * T, 7)
    hs = [T / 10 / 2**k for k in range(5)]
    rows = []
    min_eig = np.inf
    res = {h: 0.0 for h in hs}
    ctl = {h: 0.0 for h in hs}
    for t in samples:
        H = net.kernel(sol.sol(t), X)
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
    y = labels_for("true", X, seed=data_seed)
    fl = two_layer_flow(X, y, width, activation, seed, (0.0, t), _step_for(activation))
    H0, Ht = (fl.net.kernel(w, X) for w in fl.ws)
    units_moved = fl.net.units(fl.ws[1] - fl.ws[0])  # (m, d): w_r(t) − w_r(0) in row r
    return {
        "drift": spectral(Ht - H0),
        "max_dw": float(np.max(np.linalg.norm(units_moved, axis=1))),
        "loss_ratio": float(np.sum((fl.u[1] - y) ** 2) / np.sum((fl.u[0] - y) ** 2)),
    }


def measure_drift_curve(activation: str, width: int, data_seed: int, n: int, d: int,
                        T: float, seed: int) -> list[dict[str, float]]:
    """Sweep task: ``‖H(t) − H(0)‖₂ / ‖H(0)‖₂`` at 11 times in [0, T] (figure data)."""
    X = unit_sphere(data_seed, n, d)
    y = labels_for("true", X, seed=data_seed)
    ts = np.linspace(0.0, T, 11)
    fl = two_layer_flow(X, y, width, activation, seed, ts, _step_for(activation))
    H0 = fl.net.kernel(fl.ws[0], X)
    n0 = spectral(H0)
    return [{"t": float(t), "rel_drift": spectral(fl.net.kernel(w, X) - H0) / n0}
            for t, w in zip(fl.times, fl.ws)]


# ---------------------------------------------------------------------------------------
# eigen-dynamics
# ---------------------------------------------------------------------------------------


def labels_for(kind: str, X: np.ndarray, seed: int, activation: str = "softplus") -> np.ndarray:
    """Label vectors of norm √n: "true" (a smooth function of x), "random" (±1 from seed),
    "top"/"bottom" (√n times the top/bottom eigenvector of H*)."""
    n = X.shape[0]
    if kind == "true":
        y = np.sqrt(X.shape[1]) * X[:, 0] + np.sin(2.0 * X[:, 1])
    elif kind == "random":
        y = np.where(np.random.default_rng(10_000 + seed).random(n) < 0.5, -1.0, 1.0)
    elif kind in ("top", "bottom"):
        _, V = np.linalg.eigh(two_layer_limit(X, None, activation))
        y = V[:, -1] if kind == "top" else V[:, 0]
    else:  # pragma: no cover - internal
        raise InvalidArgumentError(f"unknown label kind {kind!r}")
    return y * math.sqrt(n) / np.linalg.norm(y)


def measure_eigen(activation: str, width: int, data_seed: int, n: int, d: int, T: float,
                  seed: int) -> dict[str, float]:
    """Sweep task: ``max_{t,i} |v_iᵀ(u(t) − y) − e^{−λ_i t} v_iᵀ(u(0) − y)| / ‖u(0) − y‖``."""
    X = unit_sphere(data_seed, n, d)
    y = labels_for("true", X, seed=data_seed)
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
    y = labels_for("true", X, seed=data_seed)
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
    y = labels_for(labels, X, seed=seed, activation=activation)
    fy = two_layer_flow(X, y, width, activation, seed, (T,), 0.05)
    f0 = two_layer_flow(X, np.zeros(n), width, activation, seed, (T,), 0.05)
    left = y - (fy.u[-1] - f0.u[-1])
    lam, V = np.linalg.eigh(_limit(activation, data_seed, n, d))
    pred = float(np.sum(np.exp(-2 * lam * T) * (V.T @ y) ** 2) / (y @ y))
    return {"remaining": float(left @ left / (y @ y)), "predicted": pred}


# ---------------------------------------------------------------------------------------
# kernel regression and the generalisation bound
# ---------------------------------------------------------------------------------------


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
    y = labels_for("true", X, seed=data_seed)
    Hs = _limit(activation, data_seed, n, d)
    lam = np.linalg.eigvalsh(Hs)
    # RK4 is stable to step·λ_max ≈ 2.8; at 0.5 every mode decays monotonically, and the end
    # point (where dW/dt = 0) depends on the step only through the path's O(m^-1/2) curvature
    step = 0.5 / lam[-1]
    chunk = int(math.ceil(12.0 / lam[0] / step))
    net = TwoLayerNet.build(d, width, activation, seed)
    w0 = net.init(seed)
    u0 = net.outputs(w0, X)
    w, chunks, resid = w0, 0, 1.0
    while resid > 1e-6 and chunks < 8:
        w = rk4_steps(net, w, X, y, step, chunk)
        chunks += 1
        resid = float(np.linalg.norm(net.outputs(w, X) - y) / np.linalg.norm(u0 - y))
    f0 = net.outputs(w0, Xt)
    fT = net.outputs(w, Xt)
    limit = kernel_regression(X, y, Xt, activation, u0, f0)
    return {"gap": float(np.linalg.norm(fT - limit) / np.linalg.norm(limit - f0)),
            "train_residual": resid, "T": chunks * chunk * step}


def measure_bound(n: int, d: int, labels: str, seed: int) -> dict[str, float]:
    """Sweep task: eq. 15's bound for relu H* on n points with "true" or "random" labels."""
    X = unit_sphere(50_000 + seed, n, d)
    y = (np.sqrt(d) * X[:, 0] if labels == "true"
         else np.where(np.random.default_rng(60_000 + seed).random(n) < 0.5, -1.0, 1.0))
    return {"bound": generalization_bound(two_layer_limit(X, None, "relu"), y)}


# ---------------------------------------------------------------------------------------
# deep NTK
# ---------------------------------------------------------------------------------------


def measure_deep(activation: str, depth: int, width: int, data_seed: int, n: int, d: int,
                 seed: int) -> dict[str, float]:
    """Sweep task: relative Frobenius error of an MLP's empirical NTK against eqs. 16–23."""
    from ..kernels import tangent_kernel

    X = unit_sphere(data_seed, n, d)
    model = mlp([d] + [width] * depth + [1], activation, bias=False)
    K = tangent_kernel(model, model.init(seed), X)
    Th = mlp_limit(X, None, depth, activation)
    return {"rel_err": float(np.linalg.norm(K - Th) / np.linalg.norm(Th))}


def measure_eq22(seed: int) -> float:
    """Eq. 22 per layer, from the engine's layer inputs and sensitivities, against the blocks
    of the autograd Jacobian (independent code) at small width, and their sum against
    ``pk.tangent_kernel``: the largest relative Frobenius error (relu and erf)."""
    from ..kernels import jacobian, tangent_kernel

    X = unit_sphere(seed, N_POINTS, DIM)
    worst = 0.0
    for act in ("relu", "erf"):
        layer_sizes = [DIM, 12, 10, 1]
        model = mlp(layer_sizes, act, bias=False)
        w = model.init(seed)
        terms = layer_kernels(model, w, X)
        J = jacobian(model, w, X)[:, 0, :]
        off = 0
        for h, term in enumerate(terms):
            n_weights = layer_sizes[h] * layer_sizes[h + 1]
            block = J[:, off: off + n_weights] @ J[:, off: off + n_weights].T
            off += n_weights
            worst = max(worst, float(np.linalg.norm(term - block) / np.linalg.norm(block)))
        K = tangent_kernel(model, w, X)
        worst = max(worst, float(np.linalg.norm(sum(terms) - K) / np.linalg.norm(K)))
    return worst


def measure_norms(depth: int, width: int, scale: float, seed: int) -> list[dict[str, float]]:
    """Sweep task: ``‖g^{(h)}(x)‖² / ‖x‖²`` for each hidden layer of a relu MLP (eq. 18)."""
    x = scale * unit_sphere(70_000, 1, DIM)
    model = mlp([DIM] + [width] * depth + [1], "relu", bias=False)
    norms = hidden_norms(model, model.init(seed), x)
    return [{"layer": h, "ratio": float(g2[0] / np.sum(x * x))}
            for h, g2 in enumerate(norms, start=1)]


# ---------------------------------------------------------------------------------------
# named sweeps for `pkverify sweep`
# ---------------------------------------------------------------------------------------


def _lemma2_sweep(cfg: CheckConfig):
    size = sizes(cfg)
    return (measure_lemma2, grid_for(cfg, activation=list(ACTIVATIONS_LEMMA2),
                                  width=size.lemma2_widths), seeds_for(cfg, size.lemma2_seeds),
            ("activation", "width", "err"))


def _lemma3_sweep(cfg: CheckConfig):
    size = sizes(cfg)
    return (measure_lemma3, grid_for(cfg, activation=["relu", "softplus"],
                                  width=size.lemma3_widths, t=[1.0]),
            seeds_for(cfg, size.lemma3_seeds), ("activation", "width", "drift"))


def _eigen_sweep(cfg: CheckConfig):
    size = sizes(cfg)
    return (measure_eigen,
            grid_for(cfg, activation=["softplus"], width=size.dyn_widths, T=[4.0]),
            seeds_for(cfg, size.dyn_seeds), ("activation", "width", "gap"))


def _kr_sweep(cfg: CheckConfig):
    size = sizes(cfg)
    return (measure_kernel_regression, grid_for(cfg, activation=["relu"],
                                             width=size.kr_widths),
            seeds_for(cfg, size.kr_seeds), ("activation", "width", "gap"))


def _deep_sweep(cfg: CheckConfig):
    size = sizes(cfg)
    return (measure_deep, grid_for(cfg, activation=["relu", "erf"], depth=[2, 3],
                                width=size.deep_widths), seeds_for(cfg, size.deep_seeds),
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
