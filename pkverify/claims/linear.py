"""Linear models: the path kernel reduces to a scaled dot product of features (``linear.*``).

:func:`check_linear_tangent` and :func:`check_linear_path` take any linear model and path:
the claim calls them on its fixed problem, the linear property suite on drawn ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

import autograd.numpy as anp
import numpy as np

from ..kernels import path_kernel, tangent_kernel
from ..machine import kernel_machine
from ..models import linear
from ..train import train
from .problems import gd_least_squares_path, regression_data
from .registry import CheckConfig, Outcome, claim

if TYPE_CHECKING:
    from ..models import Model
    from ..trajectory import Trajectory

TOL = 1e-12  # rounding of a dot product, relative to the sum of its |terms|; ≤ S steps summed
PATH_TOL = 1e-10  # closed-form powers vs the step loop: rounding over the steps
DEGENERATE_COND = 1e8  # beyond this cancellation a pair's kernel is 0 to rounding: a_i is 0/0
UNDERFLOW = 1e-290  # below float64's normal range (2.2e-308, with margin) rounding is absolute


def features(X):
    """φ(x) = (x, x², sin x): a fixed nonlinear feature map, linear in the weights."""
    return anp.concatenate([X, X**2, anp.sin(X)], axis=1)


def feature_gram(model: Model, X1: np.ndarray, X2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(φ(X1) φ(X2)ᵀ (+ 1), |φ(X1)| |φ(X2)|ᵀ (+ 1))`` of a linear model: the expected
    kernel written out by hand (the +1 is the bias's gradient) and the sum of the |terms| of
    each dot product, to which its rounding is relative (a ‖φ‖‖φ'‖ bound would underflow for
    entries like 1e-200 whose products are still representable)."""
    phi = model.phi
    assert phi is not None, "a linear model carries its feature map"
    P1 = np.asarray(phi(np.asarray(X1)), dtype=np.float64)
    P2 = np.asarray(phi(np.asarray(X2)), dtype=np.float64)
    b = 1.0 if model.bias else 0.0
    return P1 @ P2.T + b, np.abs(P1) @ np.abs(P2).T + b


def expected_a(traj: Trajectory, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """``a_i = −Σ_s C[s, i] ℓ'_i(w_s) / Σ_s C[s, i]`` from the rule's node weights (with the
    mini-batch indicators), written out independently of the machine, and
    ``max_s |ℓ'_i(w_s)|``; NaN where i never entered a batch. For a linear model K^g does not
    depend on w, so these are the a_i of every query."""
    S, n = traj.batches.shape
    In = traj.batches.astype(np.float64)
    eps = traj.step_sizes[:, None]
    C = np.zeros((S + 1, n))
    if rule == "trapezoid":
        C[:S] += 0.5 * eps * In
        C[1:] += 0.5 * eps * In
    else:  # riemann, and exact (the exact kernel of a linear model is ε_s K at w_s)
        C[:S] = eps * In
    dl = np.array([traj.loss.deriv(traj.model.f(w, traj.X), traj.Y) for w in traj.ws])
    total = C.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(total > 0, -(C * dl).sum(axis=0) / total, np.nan)
    return a, np.max(np.abs(dl), axis=0)


def check_linear_tangent(model: Model, w: np.ndarray, X1: np.ndarray, X2: np.ndarray) -> Outcome:
    """``K^g_w(X1, X2) = φ(X1)·φ(X2) (+ 1)`` at any ``w``, to TOL of Σ|terms| (metric
    ``tangent_rel_err``)."""
    want, scale = feature_gram(model, X1, X2)
    err = np.abs(np.asarray(tangent_kernel(model, w, X1, X2)) - want)
    rel = float(np.max(err / np.maximum(scale, UNDERFLOW), initial=0.0))
    return Outcome(
        passed=bool(np.all(err <= TOL * scale + UNDERFLOW)),
        metrics={"tangent_rel_err": rel},
        message=f"max |K^g − (φφ' + b)| / Σ|terms| = {rel:.2g}",
    )


def check_linear_path(
    traj: Trajectory, Xq: np.ndarray, rules: tuple[str, ...] = ("riemann", "trapezoid", "exact")
) -> Outcome:
    """The claim ``linear.reduction`` on one path of a linear model: K^g at the path's middle
    equals the feature dot product, every rule's ``K^p = T (φ(x)·φ(x') (+ 1))``, and
    ``a_i(x)`` equals the query-independent :func:`expected_a` (Remark 1, also for SGD).

    Tolerances: kernels TOL of Σ|terms| (times T). For ``a_i(x)`` the error of a ratio grows
    with the cancellation ``cond = Σ|terms| / |φ(x)·φ(x_i) + 1|``: TOL·cond·max|ℓ'_i|; pairs
    with ``cond > DEGENERATE_COND``, or whose kernel (or kernel times |ℓ'|) underflows, are 0/0
    (a_i K^p ≈ 0 whatever a_i is) and are not compared. The trapezoid's a_i is not compared on
    an SGD path, whose nodes mix two batches."""
    X = traj.X
    out = check_linear_tangent(traj.model, traj.ws[traj.steps // 2], Xq, X)
    passed, metrics = bool(out.passed), dict(out.metrics)
    gram, scale = feature_gram(traj.model, Xq, X)
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = np.nan_to_num(scale / np.abs(gram), nan=np.inf)
    sgd = not bool(np.all(traj.batches))
    for rule in rules:
        err = np.abs(path_kernel(traj, Xq, X, rule=rule) - traj.T * gram)
        metrics[f"path_{rule}_rel_err"] = float(
            np.max(err / np.maximum(traj.T * scale, UNDERFLOW), initial=0.0))
        passed &= bool(np.all(err <= TOL * traj.T * scale + UNDERFLOW))
        if rule == "trapezoid" and sgd:
            continue
        want, dl_max = expected_a(traj, rule)
        compare = (
            (cond <= DEGENERATE_COND)
            & (scale > UNDERFLOW)
            & (scale * dl_max[None, :] > UNDERFLOW)
            & np.isfinite(want)[None, :]
        )
        a_err = np.abs(kernel_machine(traj, rule=rule).a(Xq) - want[None, :])
        with np.errstate(divide="ignore", invalid="ignore"):  # inf·0 on the 0/0 pairs
            tol = TOL * cond * dl_max[None, :]
            ratio = np.where(compare, a_err / np.maximum(tol, UNDERFLOW), 0.0)
        metrics[f"a_{rule}_err_over_tol"] = float(np.max(ratio, initial=0.0))
        passed &= bool(np.all(a_err[compare] <= tol[compare]))
    worst = max(v for k, v in metrics.items() if k.endswith("rel_err"))
    return Outcome(
        passed=passed,
        metrics=metrics,
        message=(
            f"kernels within {worst:.1e} of T(φφ' + b) (of Σ|terms|); a_i(x) the same at every "
            "query"
        ),
    )


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
    out = check_linear_path(traj, Xq)
    # anchor: the GD path itself against its closed form (ΦᵀΦ's eigenbasis), not against train
    Phi = np.asarray(features(X))
    Phi1 = np.hstack([Phi, np.ones((Phi.shape[0], 1))])
    ref = gd_least_squares_path(Phi1, Y, traj.ws[0], 0.02, steps)
    path_err = float(np.max(np.abs(traj.ws - ref)) / np.max(np.abs(ref - ref[0])))
    worst = max(v for k, v in out.metrics.items() if k.endswith("rel_err"))
    return Outcome(
        key="worst_rel_err",
        passed=bool(out.passed) and path_err <= PATH_TOL,
        metrics={"worst_rel_err": worst, **out.metrics, "gd_path_vs_closed_form": path_err,
                 "T": traj.T},
        message=f"{out.message}; GD path matches its closed form to {path_err:.1e}",
    )
