"""Tangent and path kernels are symmetric positive semi-definite."""

from __future__ import annotations

import numpy as np

from ..kernels import path_kernel, tangent_kernel
from ..models import mlp, two_layer
from ..train import train
from . import figures as fig
from .problems import regression_data
from .registry import CheckConfig, Outcome, claim

SYM_TOL = 1e-12
EIG_TOL = 1e-10


def psd_figures(K: np.ndarray) -> tuple[float, float]:
    """(relative asymmetry ‖K − Kᵀ‖_max / ‖K‖_max, min eigenvalue / ‖K‖₂) of a Gram matrix."""
    scale = max(float(np.max(np.abs(K))), np.finfo(float).tiny)
    asym = float(np.max(np.abs(K - K.T))) / scale
    eig = np.linalg.eigvalsh(0.5 * (K + K.T))
    return asym, float(eig[0]) / max(float(eig[-1]), np.finfo(float).tiny)


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
            asym, min_eig = psd_figures(K)
            figures[f"{name}_{kind}_asym"] = asym
            figures[f"{name}_{kind}_min_eig_rel"] = min_eig
    worst_asym = max(v for k, v in figures.items() if k.endswith("asym"))
    worst_eig = min(v for k, v in figures.items() if k.endswith("min_eig_rel"))
    return Outcome(
        key="worst_min_eig_rel",
        passed=worst_asym <= SYM_TOL and worst_eig >= -EIG_TOL,
        metrics={"worst_asym": worst_asym, "worst_min_eig_rel": worst_eig, **figures},
        data={"figures": heatmaps},
        message=f"asymmetry ≤ {worst_asym:.1e}, smallest λ/‖K‖ = {worst_eig:.1e}",
    )


RULE_TOL = 1e-12
"""Relative agreement of a path kernel with its sum written out by hand: the same ≤ 10 terms
summed in another order differ by a few ulps of float64."""


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
    Ks = np.array([tangent_kernel(model, w, X, implementation="reference") for w in traj.ws])
    eps, t = traj.step_sizes, traj.times
    by_hand = {
        "riemann": np.einsum("s,sij->ij", eps, Ks[:-1]),
        "trapezoid": np.einsum("s,sij->ij", eps, 0.5 * (Ks[:-1] + Ks[1:])),
        "simpson": _simpson_nonuniform(Ks, t),
    }
    errors = {}
    for rule, ref in by_hand.items():
        K = path_kernel(traj, X, rule=rule)
        errors[f"{rule}_rel_err"] = float(np.max(np.abs(K - ref)) / np.max(np.abs(ref)))
    # the uniform-step Simpson weights would be wrong here: the schedule must matter
    h = traj.T / traj.steps
    uniform = h / 3.0 * (Ks[0] + 4 * Ks[1:-1:2].sum(0) + 2 * Ks[2:-1:2].sum(0) + Ks[-1])
    uniform_gap = float(np.max(np.abs(uniform - by_hand["simpson"])) / np.max(np.abs(uniform)))
    worst = max(errors.values())
    return Outcome(
        key="worst_rel_err",
        passed=worst <= RULE_TOL and uniform_gap > 1e3 * RULE_TOL,
        metrics={**errors, "worst_rel_err": worst, "uniform_simpson_gap": uniform_gap,
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
