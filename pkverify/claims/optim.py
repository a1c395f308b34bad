"""Theorem 1 for every optimizer: momentum, Nesterov, Adam, AdamW, weight decay, schedules
(:mod:`pkverify.kernels.optimizer_path`)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from .. import optim
from ..kernels.engines import engine_for
from ..kernels.exact import PathWarning
from ..kernels.optimizer_path import optimizer_kernel_sums, optimizer_products
from ..kernels.optimizer_reference import buffer_reference
from ..losses import l2
from ..machine import kernel_machine
from ..models import mlp
from ..train import train
from . import figures as fig
from .problems import class_data, regression_data, rel_change_error
from .registry import CheckConfig, Outcome, claim
from .theorem1 import EXACT_TOL, check_reconstruction


def _recipe(base: optim.Optimizer, k: int) -> optim.Optimizer:
    """Parameter groups on mlp([3, 8, k]) (each layer W then b): the hidden weights decayed,
    the biases without decay, the last layer's weights at 10× lr."""
    index = np.array([0] * 24 + [1] * 8 + [2] * (8 * k) + [1] * k)
    lr = float(base.lr) if not isinstance(base.lr, tuple) else 0.05
    return optim.grouped(base, index, lr=[lr, lr, 10 * lr],
                         weight_decay=[base.weight_decay, 0.0, base.weight_decay])


def _cases(steps: int) -> list[tuple[str, object, int | None, str, object]]:
    """(label, optimizer (or a function of the output count k giving one), batch_size,
    reduction, regulariser): every rule and option."""
    sched = tuple(0.05 * (1.0 + 0.5 * np.cos(np.arange(steps))))
    return [
        ("GD", optim.gd(0.1), None, "sum", None),
        ("SGD batches", optim.sgd(0.1), 4, "sum", None),
        ("momentum", optim.sgd(0.05, momentum=0.9), None, "sum", None),
        ("momentum, dampening, batches, mean", optim.sgd(0.1, momentum=0.8, dampening=0.3), 4,
         "mean", None),
        ("Nesterov, weight decay, batches", optim.sgd(0.05, momentum=0.9, nesterov=True,
                                                       weight_decay=0.1), 5, "sum", None),
        ("Adam", optim.adam(0.02), None, "sum", None),
        ("Adam, schedule, weight decay, batches, mean", optim.adam(sched, weight_decay=0.05),
         4, "mean", None),
        ("AdamW, l2 regulariser, batches", optim.adamw(0.02, weight_decay=0.1), 5, "sum",
         l2(0.01)),
        ("AdamW, parameter groups (no decay on biases, 10× lr last layer), batches, mean",
         lambda k: _recipe(optim.adamw(0.01, weight_decay=0.1), k), 4, "mean", None),
    ]


def _train(case, activation: str, cfg: CheckConfig, steps: int, vector: bool = False):
    label, opt, bs, red, reg = case
    if vector:
        X, Y = class_data(cfg.seed, n=10, k=3)
        model = mlp([3, 8, 3], activation, seed=cfg.seed)
        loss = "softmax_ce"
    else:
        X, Y = regression_data(cfg.seed, n=10)
        model = mlp([3, 8, 1], activation, seed=cfg.seed)
        loss = "mse"
    if callable(opt):  # parameter groups: laid out on this model's weights
        opt = opt(3 if vector else 1)
    return train(model, X, Y, loss=loss, optimizer=opt, steps=steps, batch_size=bs,
                 reduction=red, regularizer=reg, seed=cfg.seed, progress=False)


@claim(
    "optim.exact",
    title="Every optimizer's kernel machine reproduces its trained model to rounding",
    statement=(
        r"f(w_S,x) = b(x) + \sum_i\sum_r I_i(r)\,\rho_r\,\ell'_{i,r}\,"
        r"\bigl(-u_r(x)\cdot\nabla f(w_r,x_i)\bigr),\quad "
        r"u_r(x) = \sum_{s\ge r}\eta_s c_{s,r} P_s \phi_s(x)"
    ),
    source="domingos2020 Thm. 1; bell2023; explaind2025 Thm. 3.1; pytorch-optim",
    tolerance="1e-10 relative to max|f(w_S) − f(w_0)| (theorem1.exact's measure) — float64 "
    "rounding over the steps",
)
def check_optim_exact(cfg: CheckConfig) -> Outcome:
    steps = 8 if cfg.quick else 25
    Xq, _ = regression_data(cfg.seed + 1, n=5)
    errors: dict[str, float] = {}
    failed: list[str] = []
    for case in _cases(steps):
        for activation in ("tanh", "relu"):
            traj = _train(case, activation, cfg, steps)
            label = f"{case[0]} ({activation})"
            out = check_reconstruction(traj, Xq, rtol=EXACT_TOL)  # theorem1.exact's measure
            errors[label] = float(out.metrics["rel_err"])
            if not out.passed:
                failed.append(label)
    worst = max(errors.values())
    figures = [fig.bars("|machine − trained model| / max|f(w_S) − f(w_0)| per optimizer",
                        list(errors), list(errors.values()), ylabel="relative error")]
    return Outcome(
        key="max_rel_err",
        passed=not failed,
        metrics={"max_rel_err": worst, "runs": len(errors), "failed": ", ".join(failed)},
        data={"figures": figures, "errors": errors},
        message=f"{len(errors)} runs (every optimizer, tanh and relu): worst {worst:.1e}",
    )


@claim(
    "optim.contributions",
    title="Per-training-point contributions sum, with b(x), to the prediction",
    statement=r"b(x) + \sum_i \mathrm{contribution}_i(x) = f(w_S, x)",
    source="domingos2020 Thm. 1; explaind2025",
    tolerance="1e-10 relative to max|f(w_S) − f(w_0)| — float64 rounding over the steps",
)
def check_optim_contributions(cfg: CheckConfig) -> Outcome:
    steps = 8 if cfg.quick else 20
    Xq, _ = regression_data(cfg.seed + 3, n=4)
    errors: dict[str, float] = {}
    for case in _cases(steps):
        traj = _train(case, "tanh", cfg, steps, vector=True)
        km = kernel_machine(traj, progress=False)
        total = km.b(Xq) + km.contributions(Xq).sum(axis=1)
        errors[case[0]] = rel_change_error(total, traj.predict(Xq), traj.predict_initial(Xq))
    worst = max(errors.values())
    return Outcome(
        key="max_rel_err",
        passed=worst <= EXACT_TOL,
        metrics={"max_rel_err": worst},
        data={"errors": errors},
        message=f"k = 3 outputs, softmax cross-entropy, every optimizer: worst {worst:.1e}",
    )


@claim(
    "optim.gd_reduction",
    title="With μ = 0 and P = I the optimizer's machine is the gradient-descent machine",
    statement=r"u_r(x) = \eta_r\phi_r(x) \Rightarrow K^{opt} = K^{p}_{exact},\ "
    r"\textstyle\sum_r\rho_r I_i K^{opt}_r\ell'_{i,r} = K^{lp}",
    source="domingos2020 Thm. 1; bell2023",
    tolerance="1e-12 relative to the kernel's size — two float64 routes to the same sums",
)
def check_optim_gd_reduction(cfg: CheckConfig) -> Outcome:
    X, Y = regression_data(cfg.seed, n=10)
    Xq, _ = regression_data(cfg.seed + 1, n=4)
    traj = train(mlp([3, 8, 1], "tanh", seed=cfg.seed), X, Y, lr=0.1,
                 steps=8 if cfg.quick else 20, batch_size=6, seed=cfg.seed, progress=False)
    km = kernel_machine(traj, progress=False)
    engine = engine_for(traj.model)
    products = optimizer_products(engine, traj, optim.gd(0.1), "sum", Xq)
    sums = optimizer_kernel_sums(engine, traj, optim.gd(0.1), "sum", Xq, products.plans,
                                 None)
    K, W = km.kernel(Xq), km.loss_weighted_kernel(Xq)
    err_k = float(np.max(np.abs(sums.kernel[:, :, 0, 0] - K)) / np.max(np.abs(K)))
    err_w = float(np.max(np.abs(sums.weighted[:, :, 0] - W)) / np.max(np.abs(W)))
    return Outcome(
        key="kernel_rel_err",
        passed=max(err_k, err_w) <= 1e-12,
        metrics={"kernel_rel_err": err_k, "loss_weighted_rel_err": err_w},
        message=f"SGD path: recursion vs exact-rule kernel {err_k:.1e}, loss-weighted {err_w:.1e}",
    )


@claim(
    "optim.momentum_batches",
    title="Momentum SGD with mini-batches: exact with Remark 5's indicators, not without",
    statement=r"K^{opt}(x,x_i) = \sum_r I_i(r)\,u_r(x)\cdot\nabla f(w_r,x_i)",
    source="domingos2020 Remark 5; pytorch-optim",
    tolerance=(
        "with the indicators ≤ 1e-10 relative (rounding); points outside every batch "
        "contribute exactly 0; control: the path read as full-batch misses by > 1e-3"
    ),
)
def check_optim_momentum_batches(cfg: CheckConfig) -> Outcome:
    X, Y = regression_data(cfg.seed, n=12)
    Xq, _ = regression_data(cfg.seed + 1, n=4)
    steps = 6 if cfg.quick else 15
    traj = train(mlp([3, 8, 1], "tanh", seed=cfg.seed), X, Y,
                 optimizer=optim.sgd(0.05, momentum=0.9), steps=steps, batch_size=3,
                 seed=cfg.seed, progress=False)
    y, y0 = traj.predict(Xq), traj.predict_initial(Xq)
    km = kernel_machine(traj, progress=False)
    err = rel_change_error(km.predict(Xq), y, y0)
    C = km.contributions(Xq)
    never = ~traj.batches.any(axis=0)
    outside = float(np.max(np.abs(C[:, never]))) if never.any() else 0.0
    full = dataclasses.replace(traj, batches=np.ones_like(traj.batches), kind="gd")
    with warnings.catch_warnings():  # the control's path does not follow its rule: expected
        warnings.simplefilter("ignore", PathWarning)
        km_full = kernel_machine(full, progress=False)  # its unexplained remainder is in b(x)
        control = rel_change_error(km_full.predict(Xq) - km_full.unexplained(Xq), y, y0)
    return Outcome(
        key="rel_err",
        passed=err <= EXACT_TOL and outside == 0.0 and control > 1e-3,
        metrics={"rel_err": err, "never_batched_points": int(never.sum()),
                 "max_contribution_outside_batches": outside, "control_rel_err": control},
        message=f"with indicators {err:.1e}; {int(never.sum())} points never batched "
        f"contribute {outside:.0e}; read as full-batch {control:.2e}",
    )


@claim(
    "optim.buffers",
    title="The reverse recursion equals per-example buffers carried forward",
    statement=r"\sum_r I_i(r)\rho_r\ell'_{i,r}\,u_r(x)\cdot\nabla f(w_r,x_i) = "
    r"-\sum_s\phi_s(x)\cdot\Delta^{(i)}_s",
    source="explaind2025 Thm. 3.1; bell2023",
    tolerance="1e-12 relative — two float64 orders of the same sums (and autograd vs "
    "layer-wise gradients)",
)
def check_optim_buffers(cfg: CheckConfig) -> Outcome:
    steps = 5 if cfg.quick else 10
    Xq, _ = regression_data(cfg.seed + 1, n=3)
    errors: dict[str, float] = {}
    for case in _cases(steps):
        traj = _train(case, "tanh", cfg, steps)
        engine = engine_for(traj.model)
        opt, red = traj.optimizer, traj.reduction
        assert opt is not None
        products = optimizer_products(engine, traj, opt, red, Xq)
        sums = optimizer_kernel_sums(engine, traj, opt, red, Xq, products.plans,
                                     products.preconditioners)
        ref = buffer_reference(traj, opt, red, Xq, products.plans)
        scale = float(np.max(np.abs(ref.contributions))) or 1.0
        errors[case[0]] = max(
            float(np.max(np.abs(-sums.weighted - ref.contributions))) / scale,
            float(np.max(np.abs(sums.kernel - ref.kernel)) / np.max(np.abs(ref.kernel))),
        )
    worst = max(errors.values())
    return Outcome(
        key="max_rel_err",
        passed=worst <= 1e-12,
        metrics={"max_rel_err": worst},
        data={"errors": errors},
        message=f"every optimizer, contributions and K^opt: worst {worst:.1e}",
    )
