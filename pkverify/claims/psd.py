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
    source="Domingos 2020 Defs. 1–2; seed 003 Lemma 1 (H(t) PSD)",
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
    heatmaps: list[dict] = []
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
        passed=worst_asym <= SYM_TOL and worst_eig >= -EIG_TOL,
        metrics={"worst_asym": worst_asym, "worst_min_eig_rel": worst_eig, **figures},
        data={"figures": heatmaps},
        message=f"asymmetry ≤ {worst_asym:.1e}, smallest λ/‖K‖ = {worst_eig:.1e}",
    )
