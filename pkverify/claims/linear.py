"""Linear models: the path kernel reduces to a scaled dot product of features."""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np

from ..kernels import path_kernel, tangent_kernel
from ..machine import kernel_machine
from ..models import linear
from ..train import train
from .problems import gd_least_squares_path, regression_data
from .registry import CheckConfig, Outcome, claim

TOL = 1e-12
PATH_TOL = 1e-10  # closed-form powers vs the step loop: rounding over the steps


def features(X):
    """φ(x) = (x, x², sin x): a fixed nonlinear feature map, linear in the weights."""
    return anp.concatenate([X, X**2, anp.sin(X)], axis=1)


@claim(
    "linear.reduction",
    title="For a linear model the path kernel is T times the feature dot product",
    statement=(
        r"f = w\cdot\phi(x) + b:\quad K^g = \phi(x)\cdot\phi(x') + 1,\quad "
        r"K^p = T\,(\phi(x)\cdot\phi(x') + 1),\quad a_i \text{ independent of } x"
    ),
    source="domingos2020 §3 (linear models, Remark 1)",
    tolerance=(
        "1e-12 relative — float64 rounding of dot products and of a sum over steps; the GD "
        "path against its closed form to 1e-10 relative to its total change (an "
        "eigendecomposition and powers (1 − ελ)^s round differently from the step loop)"
    ),
)
def check_linear_reduction(cfg: CheckConfig) -> Outcome:
    X, Y = regression_data(cfg.seed, n=10, d=3)
    Xq, _ = regression_data(cfg.seed + 1, n=6, d=3)
    model = linear(3, bias=True, features=features)
    steps = 20 if cfg.quick else 60
    traj = train(model, X, Y, lr=0.02, steps=steps, seed=cfg.seed)
    Phi_q, Phi = np.asarray(features(Xq)), np.asarray(features(X))
    dot = Phi_q @ Phi.T + 1.0  # written out by hand: the +1 is the bias's gradient
    scale = np.max(np.abs(dot))
    w_mid = traj.ws[steps // 2]
    kg_err = np.max(np.abs(tangent_kernel(model, w_mid, Xq, X) - dot)) / scale
    kp_errs = {
        rule: np.max(np.abs(path_kernel(traj, Xq, X, rule=rule) - traj.T * dot)) / (traj.T * scale)
        for rule in ("riemann", "trapezoid", "exact")
    }
    km = kernel_machine(traj, rule="exact")
    a = km.a(Xq)  # (q, n)
    a_spread = float(np.max(np.ptp(a, axis=0)) / max(np.max(np.abs(a)), 1e-300))
    # anchor: the GD path itself against its closed form (ΦᵀΦ's eigenbasis), not against train
    Phi1 = np.hstack([Phi, np.ones((Phi.shape[0], 1))])
    ref = gd_least_squares_path(Phi1, Y, traj.ws[0], 0.02, steps)
    path_err = float(np.max(np.abs(traj.ws - ref)) / np.max(np.abs(ref - ref[0])))
    worst = max(kg_err, *kp_errs.values(), a_spread)
    return Outcome(
        key="worst_rel_err",
        passed=worst <= TOL and path_err <= PATH_TOL,
        metrics={
            "worst_rel_err": worst,
            "tangent_rel_err": kg_err,
            **{f"path_{r}_rel_err": e for r, e in kp_errs.items()},
            "a_spread_over_queries": a_spread,
            "gd_path_vs_closed_form": path_err,
            "T": traj.T,
        },
        message=(
            f"worst deviation {worst:.1e} (tangent, three path rules, spread of a_i); GD path "
            f"matches its closed form to {path_err:.1e}"
        ),
    )
