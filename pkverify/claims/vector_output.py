"""Vector outputs: the k×k path kernel per pair of points rebuilds a k-output model (su2021)."""

from __future__ import annotations

import numpy as np

from ..machine import kernel_machine
from ..models import mlp
from ..train import train
from .problems import class_data, regression_data, rel_change_error
from .registry import CheckConfig, Outcome, claim

EXACT_TOL = 1e-10  # float64 rounding accumulated over the steps of the exact rule


@claim(
    "vector_output",
    title="Vector outputs: a k×k path kernel per pair rebuilds a k-output model",
    statement=(
        r"y_a(x) = b_a(x) - \sum_i\sum_b \int K^g_{ab}(x,x_i)\,\ell'_{i,b}\,dt,\quad "
        r"K^g_{ab} = \nabla f_a(x)\cdot\nabla f_b(x_i)"
    ),
    source="su2021 (vector-output kernel); domingos2020 Thm. 1",
    tolerance="1e-10 relative to max|y − y0| — float64 rounding over the steps",
)
def check_vector_output(cfg: CheckConfig) -> Outcome:
    X, C = class_data(cfg.seed, n=9, k=3)
    Xr, Yr = regression_data(cfg.seed, n=9)
    steps = 10 if cfg.quick else 30
    figures: dict[str, float] = {}
    for name, loss, targets in (
        ("softmax_ce", "softmax_ce", C),
        ("mse", "mse", np.stack([Yr, -Yr, Yr**2], axis=1)),
    ):
        model = mlp([3, 12, 3], "tanh", seed=cfg.seed)
        traj = train(
            model,
            X if name == "softmax_ce" else Xr,
            targets,
            loss=loss,
            lr=0.1,
            steps=steps,
            seed=cfg.seed,
        )
        Xt = traj.X
        km = kernel_machine(traj)
        y, y0 = traj.predict(Xt), traj.predict_initial(Xt)
        figures[f"{name}_rel_err"] = rel_change_error(km.predict(Xt), y, y0)
        K = km.kernel(Xt)
        recon = km.b(Xt) + np.einsum("qiab,qib->qa", K, km.a(Xt))
        figures[f"{name}_a_times_Kp_rel_err"] = rel_change_error(recon, y, y0)
        figures[f"{name}_kernel_shape_ok"] = float(K.shape == (Xt.shape[0],) * 2 + (3, 3))
    worst = max(v for k, v in figures.items() if k.endswith("rel_err"))
    shapes_ok = all(v == 1.0 for k, v in figures.items() if k.endswith("shape_ok"))
    return Outcome(
        key="worst_rel_err",
        passed=worst <= EXACT_TOL and shapes_ok,
        metrics={"worst_rel_err": worst, **figures},
        message=f"k = 3 outputs rebuilt to {worst:.1e}",
    )
