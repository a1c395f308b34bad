"""The kernels themselves: Grams symmetric PSD (``kernel.psd``), path-kernel rules equal to
their sums written out by hand (``kernel.rules``), the exact relu kernel and a_i
(``kernel.relu_exact``) and cross kernels with k outputs, row chunks and flow paths
(``kernel.cross``) against plain autograd Jacobians, the NTK normalisation c_σ
(``kernel.c_sigma``).

:func:`check_gram` and :func:`check_rules` take any kernel or path: the claims call them on
fixed problems, the property suites on Hypothesis-drawn ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidArgumentError
from ..kernels import path_kernel, tangent_kernel
from ..models import mlp, two_layer
from ..train import train
from . import figures as fig
from .problems import jacobian_kernel, one_layer_relu_kinks, regression_data
from .registry import CheckConfig, Outcome, claim

if TYPE_CHECKING:
    from ..trajectory import Trajectory

SYM_TOL = 1e-12  # each entry one dot product, summed in another order for (j, i)
EIG_TOL = 1e-10  # eigvalsh rounding of the zero eigenvalues of a rank-deficient Gram
SUBNORMAL = 1e-300  # entries ~1e-160 square to subnormals: a few ulps of 5e-324 absolute


def gram_matrix(K: np.ndarray) -> np.ndarray:
    """An ``(n, n)`` or ``(n, n, k, k)`` kernel as the ``(n k, n k)`` Gram of all outputs."""
    if K.ndim == 2:
        return K
    n, _, k, _ = K.shape
    return K.transpose(0, 2, 1, 3).reshape(n * k, n * k)


def psd_figures(K: np.ndarray) -> tuple[float, float]:
    """(relative asymmetry ‖K − Kᵀ‖_max / ‖K‖_max, min eigenvalue / ‖K‖₂) of a Gram matrix."""
    K = gram_matrix(np.asarray(K))
    scale = max(float(np.max(np.abs(K), initial=0.0)), np.finfo(float).tiny)
    asym = float(np.max(np.abs(K - K.T), initial=0.0)) / scale
    eig = np.linalg.eigvalsh(0.5 * (K + K.T))
    norm2 = float(np.max(np.abs(eig), initial=0.0))
    return asym, float(eig[0]) / max(norm2, np.finfo(float).tiny) if eig.size else 0.0


def check_gram(K: np.ndarray, name: str = "K") -> Outcome:
    """The claim ``kernel.psd`` on one Gram matrix: finite, symmetric to SYM_TOL relative and
    λ_min ≥ −EIG_TOL·‖K‖₂ (minus SUBNORMAL: a Gram of subnormal entries rounds absolutely).
    Metrics ``{name}_asym`` and ``{name}_min_eig_rel``."""
    K = gram_matrix(np.asarray(K))
    if not np.all(np.isfinite(K)):
        return Outcome(False, {f"{name}_asym": float("nan"), f"{name}_min_eig_rel": float("nan")},
                       message=f"{name} has non-finite entries")
    asym, min_eig = psd_figures(K)
    eig = np.linalg.eigvalsh(0.5 * (K + K.T))
    norm2 = float(np.max(np.abs(eig), initial=0.0))
    psd = not eig.size or float(eig[0]) >= -EIG_TOL * norm2 - SUBNORMAL
    return Outcome(
        passed=asym <= SYM_TOL and psd,
        metrics={f"{name}_asym": asym, f"{name}_min_eig_rel": min_eig},
        message=f"{name}: asymmetry {asym:.1e}, λ_min/‖K‖₂ = {min_eig:.1e}",
    )


@claim(
    "kernel.psd",
    title="Tangent and path-kernel Gram matrices are symmetric and PSD",
    statement=(
        r"K = (K(x_i,x_j))_{ij}:\ K = K^\top,\ \lambda_{\min}(K) \ge 0"
        r"\quad (K^g = JJ^\top;\ K^p = \sum_s c_s J_sJ_s^\top,\ c_s \ge 0)"
    ),
    source="domingos2020 Defs. 1–2; ntk-notes Lemma 1 (H(t) PSD)",
    tolerance=(
        "asymmetry ≤ 1e-12 relative and λ_min ≥ −1e-10·‖K‖₂ — rounding of a Gram matrix "
        "whose rank can be below n (duplicate points are included on purpose)"
    ),
)
def check_kernel_psd(cfg: CheckConfig) -> Outcome:
    X, Y = regression_data(cfg.seed, n=10, d=3)
    X = np.vstack([X, X[:2], 2.0 * X[2:3]])  # duplicates and a collinear point: rank-deficient
    Y = np.concatenate([Y, Y[:2], Y[2:3]])
    width = 8 if cfg.quick else 16
    figures: dict[str, float] = {}
    heatmaps: list[fig.Heatmap] = []
    passed = True
    for name, model in (
        ("mlp_tanh", mlp([3, width, width, 1], "tanh", seed=cfg.seed)),
        ("two_layer_relu", two_layer(3, 4 * width, "relu", seed=cfg.seed)),
    ):
        traj = train(model, X, Y, lr=0.05, steps=10 if cfg.quick else 30, seed=cfg.seed)
        grams = {
            "tangent": tangent_kernel(model, traj.ws[-1], X),
            "path_riemann": path_kernel(traj, X, rule="riemann"),
            "path_trapezoid": path_kernel(traj, X, rule="trapezoid"),
        }
        if name == "mlp_tanh":  # the figure: K^g at w0 beside the path kernel
            heatmaps.append(fig.heatmap(
                "Tangent kernel at w0 beside the path kernel (tanh MLP, 13 points)",
                {"K^g at w0": tangent_kernel(model, traj.ws[0], X),
                 "K^p (riemann)": grams["path_riemann"]},
            ))
        for kind, K in grams.items():
            out = check_gram(K, f"{name}_{kind}")
            figures.update(out.metrics)
            passed &= bool(out.passed)
    worst_asym = max(v for k, v in figures.items() if k.endswith("asym"))
    worst_eig = min(v for k, v in figures.items() if k.endswith("min_eig_rel"))
    return Outcome(
        key="worst_min_eig_rel",
        passed=passed,
        metrics={"worst_asym": worst_asym, "worst_min_eig_rel": worst_eig, **figures},
        data={"figures": heatmaps},
        message=f"asymmetry ≤ {worst_asym:.1e}, smallest λ/‖K‖ = {worst_eig:.1e}",
    )


RULE_TOL = 1e-12
"""Agreement of a path kernel with its sum written out by hand, relative to the sum of the
terms' sizes Σ_s |c_s| max|K^g_s|: the same ≤ 10 terms summed in another order differ by a few
ulps of float64 (relative to the terms, not to the sum, which may cancel)."""


def _simpson_nonuniform(values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Composite Simpson over pairs of unequal intervals (h0, h1), written out by hand:
    ``(h0+h1)/6 · [(2 − h1/h0) f0 + (h0+h1)²/(h0 h1) f1 + (2 − h0/h1) f2]``."""
    total = np.zeros(values.shape[1:])
    for s in range(0, len(t) - 2, 2):
        h0, h1 = t[s + 1] - t[s], t[s + 2] - t[s + 1]
        total = total + (h0 + h1) / 6.0 * (
            (2.0 - h1 / h0) * values[s]
            + (h0 + h1) ** 2 / (h0 * h1) * values[s + 1]
            + (2.0 - h0 / h1) * values[s + 2]
        )
    return total


def rule_weights(traj: Trajectory, rule: str) -> np.ndarray:
    """The weights c_s of ``K^p = Σ_s c_s K^g_{w_s}`` written out by hand (Def. 2):
    left Riemann ε_s, trapezoid (ε_{s−1} + ε_s)/2, composite Simpson on the times t_s."""
    eps = traj.step_sizes
    c = np.zeros(traj.steps + 1)
    if rule == "riemann":
        c[:-1] = eps
    elif rule == "trapezoid":
        c[:-1] += eps / 2
        c[1:] += eps / 2
    elif rule == "simpson":
        c = _simpson_nonuniform(np.eye(traj.steps + 1), traj.times)
    else:
        raise InvalidArgumentError(
            f"rule_weights knows 'riemann', 'trapezoid' and 'simpson'; got {rule!r}."
        )
    return c


def check_rules(
    traj: Trajectory,
    X1: np.ndarray,
    X2: np.ndarray | None = None,
    rules: tuple[str, ...] = ("riemann", "trapezoid", "simpson"),
) -> Outcome:
    """The claim ``kernel.rules`` on one path: each rule's ``path_kernel(traj, X1, X2)``
    against ``Σ_s c_s K^g_{w_s}`` with hand-written weights and tangent kernels from plain
    autograd Jacobians (the reference engine). Metrics ``{rule}_rel_err``."""
    X2 = X1 if X2 is None else X2
    Ks = np.array([tangent_kernel(traj.model, w, X1, X2, implementation="reference")
                   for w in traj.ws])
    sizes = np.array([float(np.max(np.abs(K), initial=0.0)) for K in Ks])
    errors = {}
    for rule in rules:
        c = rule_weights(traj, rule)
        ref = np.tensordot(c, Ks, axes=1)
        scale = max(float(np.abs(c) @ sizes), np.finfo(float).tiny)
        K = path_kernel(traj, X1, X2, rule=rule)
        errors[f"{rule}_rel_err"] = float(np.max(np.abs(K - ref), initial=0.0)) / scale
    worst = max(errors.values())
    return Outcome(
        passed=worst <= RULE_TOL,
        metrics=errors,
        message=f"{len(rules)} rules match their hand sums to {worst:.1e}",
    )


@claim(
    "kernel.rules",
    title="Path-kernel rules equal their sums written out by hand, on a step-size schedule",
    statement=(
        r"K^p_{\rm riemann} = \sum_{s<S}\varepsilon_s K^g_{w_s},\ "
        r"K^p_{\rm trap} = \sum_{s<S}\varepsilon_s\tfrac{K^g_{w_s}+K^g_{w_{s+1}}}{2},\ "
        r"K^p_{\rm simpson} = \text{composite Simpson on the non-uniform } t_s"
    ),
    source="domingos2020 Def. 2 (the path kernel as a time integral)",
    tolerance=(
        "1e-12 relative — float64 rounding of a sum of ≤ 10 Gram matrices; the tangent "
        "kernels of the hand sums come from plain autograd Jacobians (the reference engine)"
    ),
)
def check_kernel_rules(cfg: CheckConfig) -> Outcome:
    X, Y = regression_data(cfg.seed, n=6, d=3)
    model = mlp([3, 8, 1], "tanh", seed=cfg.seed)
    schedule = np.linspace(0.02, 0.12, 8)  # unequal steps: the flow times are not uniform
    traj = train(model, X, Y, lr=schedule, steps=len(schedule), seed=cfg.seed)
    out = check_rules(traj, X)
    # the uniform-step Simpson weights would be wrong here: the schedule must matter
    Ks = np.array([tangent_kernel(model, w, X, implementation="reference") for w in traj.ws])
    h = traj.T / traj.steps
    uniform = h / 3.0 * (Ks[0] + 4 * Ks[1:-1:2].sum(0) + 2 * Ks[2:-1:2].sum(0) + Ks[-1])
    by_hand = _simpson_nonuniform(Ks, traj.times)
    uniform_gap = float(np.max(np.abs(uniform - by_hand)) / np.max(np.abs(uniform)))
    worst = max(out.metrics.values())
    return Outcome(
        key="worst_rel_err",
        passed=bool(out.passed) and uniform_gap > 1e3 * RULE_TOL,
        metrics={**out.metrics, "worst_rel_err": worst, "uniform_simpson_gap": uniform_gap,
                 "steps": traj.steps},
        message=(
            f"three rules match their hand sums to {worst:.1e}; uniform-step Simpson weights "
            f"would be off by {uniform_gap:.1e}"
        ),
    )


C_SIGMA_TOL = 1e-10
"""Gauss–Hermite quadrature with 120 nodes integrates these analytic integrands against the
Gaussian to near float64 rounding; the library's value comes from adaptive quadrature
(epsrel 1e-13) or a closed form."""


@claim(
    "kernel.c_sigma",
    title="The NTK normalisation c_σ = 1/E[σ(z)²] against an independent quadrature",
    statement=r"c_\sigma = 1\big/\,\mathbb{E}_{z\sim N(0,1)}[\sigma(z)^2]",
    source="ntk-notes eq. 16; arora2019",
    tolerance=(
        "1e-10 relative against 120-node Gauss–Hermite quadrature (smooth σ); relu against "
        "E[relu(z)²] = E[z²]/2 = 1/2 by symmetry, to rounding"
    ),
)
def check_c_sigma(cfg: CheckConfig) -> Outcome:
    from ..activations import ACTIVATIONS, KINKED, c_sigma

    z, wq = np.polynomial.hermite_e.hermegauss(120)
    wq = wq / np.sqrt(2.0 * np.pi)  # probabilists' Hermite weights sum to sqrt(2π)
    errors = {}
    for name, sigma in ACTIVATIONS.items():
        if name in KINKED:
            reference = 1.0 / 0.5  # E[relu(z)²] = ½ E[z²] = ½ (symmetry of N(0, 1))
        else:
            reference = 1.0 / float(np.sum(wq * np.asarray(sigma(z)) ** 2))
        errors[f"{name}_rel_err"] = abs(c_sigma(name) - reference) / reference
    worst = max(errors.values())
    return Outcome(
        key="worst_rel_err",
        passed=worst <= C_SIGMA_TOL,
        metrics={**errors, "worst_rel_err": worst},
        message=f"c_σ of {len(errors)} activations within {worst:.1e} of the reference",
    )


RELU_KERNEL_TOL = 1e-12
"""The exact relu kernel against its sum by hand: the same ≤ 200 products of gradients
(exact Gauss nodes on each piece between kinks) summed in another order: a few ulps."""


@claim(
    "kernel.relu_exact",
    title="The exact path kernel and a_i(x) of a relu net equal their sums by hand",
    statement=(
        r"K^p(x,x_i) = \sum_s \varepsilon_s \sum_{\text{pieces }[\tau_j,\tau_{j+1}]}"
        r"(\tau_{j+1}-\tau_j)\,\nabla f(w_s+\bar\tau_j\Delta_s,x)\cdot\nabla f(w_s,x_i),\quad "
        r"a_i(x)K^p(x,x_i) = -\sum_s \varepsilon_s\,\ell'_i(w_s)\,K^p_s(x,x_i)"
    ),
    source="domingos2020 Thm. 1 at finite ε; bell2023 (exact discrete-step form)",
    tolerance=(
        "1e-12 relative to the largest entry — rounding of the same sums in another order; "
        "the reference splits each step at the kinks of the one hidden layer (roots of affine "
        "pre-activations, written out) and takes each piece's midpoint, exact for ∇f affine "
        "in τ, with plain autograd Jacobians; Riemann K^p of a depth-2 relu net likewise"
    ),
)
def check_kernel_relu_exact(cfg: CheckConfig) -> Outcome:
    from ..machine import kernel_machine

    X, Y = regression_data(cfg.seed, n=6, d=3)
    Xq, _ = regression_data(cfg.seed + 3, n=3, d=3)
    steps = 5 if cfg.quick else 10
    model = mlp([3, 6, 1], "relu", seed=cfg.seed)
    traj = train(model, X, Y, lr=0.2, steps=steps, seed=cfg.seed)
    K_ref = np.zeros((Xq.shape[0], X.shape[0]))
    W_ref = np.zeros_like(K_ref)  # Σ_s ε_s ℓ'_i(w_s) K_s(x, x_i)
    kinks = 0
    for s in range(traj.steps):
        w, delta, eps = traj.ws[s], traj.ws[s + 1] - traj.ws[s], float(traj.step_sizes[s])
        lprime = traj.loss.deriv(model.f(w, X), Y)
        for r in range(Xq.shape[0]):
            cuts = one_layer_relu_kinks(model, w, delta, Xq[r])
            kinks += cuts.size
            edges = np.concatenate([[0.0], cuts, [1.0]])
            K_s = sum((b - a) * jacobian_kernel(model, w + 0.5 * (a + b) * delta, Xq[r:r + 1],
                                                w, X)[0, :, 0, 0]
                      for a, b in zip(edges[:-1], edges[1:]))
            K_ref[r] += eps * K_s
            W_ref[r] += eps * lprime * K_s
    K = path_kernel(traj, Xq, X, rule="exact")
    a = kernel_machine(traj, rule="exact").a(Xq)
    kernel_err = float(np.max(np.abs(K - K_ref)) / np.max(np.abs(K_ref)))
    a_err = float(np.max(np.abs(a * K_ref + W_ref)) / np.max(np.abs(W_ref)))
    deep = mlp([3, 6, 6, 1], "relu", seed=cfg.seed)
    dtraj = train(deep, X, Y, lr=0.2, steps=steps, seed=cfg.seed)
    R_ref = sum(e * jacobian_kernel(deep, w, Xq, w, X)[:, :, 0, 0]
                for e, w in zip(dtraj.step_sizes, dtraj.ws[:-1]))
    R = path_kernel(dtraj, Xq, X, rule="riemann")
    riemann_err = float(np.max(np.abs(R - R_ref)) / np.max(np.abs(R_ref)))
    worst = max(kernel_err, a_err, riemann_err)
    return Outcome(
        key="exact_kernel_rel_err",
        passed=worst <= RELU_KERNEL_TOL and kinks > 0,
        metrics={"exact_kernel_rel_err": kernel_err, "a_times_K_rel_err": a_err,
                 "riemann_depth2_rel_err": riemann_err, "kinks_crossed": kinks,
                 "steps": steps},
        message=(
            f"exact K^p of a relu net ({kinks} kinks crossed) matches its sum by hand to "
            f"{kernel_err:.1e}, a_i·K^p to {a_err:.1e}; Riemann K^p at depth 2 to "
            f"{riemann_err:.1e}"
        ),
    )


CROSS_TOL = 1e-12
"""A path kernel against its sum by hand from autograd Jacobians: the same ≤ 12 Gram
matrices summed in another order (a few ulps); chunked against unchunked: the same products
per row block, so equal to a few ulps as well."""


@claim(
    "kernel.cross",
    title="Cross kernels: k outputs with n₁ ≠ n₂, row chunks, and a flow path's time steps",
    statement=(
        r"K^p_{ab}(x,x') = \sum_s h_s\,\nabla f_a(w_s,x)\cdot\nabla f_b(w_s,x'),\ "
        r"x\in X_1\ (n_1),\ x'\in X_2\ (n_2 \ne n_1);\quad h_s = \varepsilon_s\ "
        r"\text{(GD)},\ h_s = T/(m-1)\ \text{(flow sampled at } m \text{ times)}"
    ),
    source="domingos2020 Def. 2; su2021 (vector-output kernel)",
    tolerance=(
        "1e-12 relative to the largest entry — rounding of the same sums in another order "
        "(hand sums from plain autograd Jacobians; the flow's h from T and m, not from the "
        "trajectory); chunked (2 rows a chunk) against unchunked, Gram and cross, Riemann "
        "and exact rule, to the same 1e-12"
    ),
)
def check_kernel_cross(cfg: CheckConfig) -> Outcome:
    from ..flow import gradient_flow

    X, Y = regression_data(cfg.seed, n=7, d=3)
    X1, _ = regression_data(cfg.seed + 4, n=5, d=3)
    Yv = np.stack([Y, -Y, Y**2], axis=1)
    # two hidden layers: K_ab(x, x') ≠ K_ba(x, x') (one hidden layer would hide a swap)
    model = mlp([3, 6, 6, 3], "tanh", seed=cfg.seed)
    traj = train(model, X, Yv, lr=0.1, steps=4 if cfg.quick else 8, seed=cfg.seed)
    Ks = [jacobian_kernel(model, w, X1, w, X) for w in traj.ws]
    eps = traj.step_sizes
    errors: dict[str, float] = {}

    def rel(A, B) -> float:
        return float(np.max(np.abs(np.asarray(A) - B)) / np.max(np.abs(B)))

    riemann = sum(e * K for e, K in zip(eps, Ks[:-1]))
    errors["vector_riemann_rel_err"] = rel(path_kernel(traj, X1, X), riemann)
    errors["vector_trapezoid_rel_err"] = rel(
        path_kernel(traj, X1, X, rule="trapezoid"),
        sum(e * 0.5 * (A + B) for e, A, B in zip(eps, Ks[:-1], Ks[1:])))
    errors["chunked_cross_rel_err"] = rel(path_kernel(traj, X1, X, chunk_rows=2), riemann)
    gram = sum(e * jacobian_kernel(model, w, X1, w, X1) for e, w in zip(eps, traj.ws[:-1]))
    errors["chunked_gram_rel_err"] = rel(path_kernel(traj, X1, chunk_rows=2), gram)
    relu = train(mlp([3, 6, 1], "relu", seed=cfg.seed), X, Y, lr=0.2, steps=4, seed=cfg.seed)
    errors["chunked_exact_relu_rel_err"] = rel(
        path_kernel(relu, X1, X, rule="exact", chunk_rows=2),
        np.asarray(path_kernel(relu, X1, X, rule="exact")))
    T, m = 0.5, 6 if cfg.quick else 11
    flow = gradient_flow(model, X, Yv, T=T, samples=m, seed=cfg.seed)
    h = T / (m - 1)  # equally spaced samples, from the call's own T and m
    Kf = [jacobian_kernel(model, w, X1, w, X) for w in flow.ws]
    errors["flow_riemann_rel_err"] = rel(path_kernel(flow, X1, X), h * sum(Kf[:-1]))
    errors["flow_trapezoid_rel_err"] = rel(path_kernel(flow, X1, X, rule="trapezoid"),
                                           h * (sum(Kf) - 0.5 * (Kf[0] + Kf[-1])))
    shape_ok = path_kernel(traj, X1, X).shape == (5, 7, 3, 3)
    worst = max(errors.values())
    return Outcome(
        key="worst_rel_err",
        passed=worst <= CROSS_TOL and shape_ok,
        metrics={"worst_rel_err": worst, **errors, "shape_5x7x3x3": shape_ok},
        message=(
            f"k = 3 cross kernels (5 × 7 points), chunked rows and a flow path's steps match "
            f"their sums by hand to {worst:.1e}"
        ),
    )
