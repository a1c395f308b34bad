"""Training paths: any optimizer of :mod:`pkverify.optim` over seeded mini-batches, and
gradient flow (the ε → 0 limit).

Each step takes the mini-batch gradient of ``L(w) = Σ_i ℓ(y*_i, f(w, x_i)) + R(w)``::

    g_s = Σ_i ρ_s I_i(s) ℓ'_i(w_s) ∇_w f(w_s, x_i) + ∇R(w_s)

with ``I_i(s) = 1`` for every i (full batch) or for a seeded mini-batch of ``batch_size``
points (Remark 5), ``ρ_s = 1`` (``reduction="sum"``, the paper's form) or ``1/|B_s|``
(``"mean"``, PyTorch's), and asks the optimizer for the step (plain GD:
``w_{s+1} = w_s − ε_s g_s``). Only the batch's rows are differentiated. Gradient flow solves
``dw/dt = −∇L(w)`` with ``scipy.integrate.solve_ivp``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .backend import to_numpy
from .errors import DivergenceError, InvalidArgumentError, NonFiniteError
from .kernels.engines import Engine, Implementation
from .kernels.tangent import prepare
from .losses import Loss, Regularizer, as_regularizer, check_initial, get_loss
from .models import Model
from .optim import Optimizer, OptimizerState, as_optimizer, gd, parse_reduction
from .progress import Counter
from .progress import progress as progress_bar
from .trajectory import Trajectory
from .validation import (
    as_data,
    as_flag,
    as_seed,
    as_step_sizes,
    as_targets,
    as_weights,
    check_memory,
    positive_float,
    positive_int,
)

__all__ = ["train", "gradient_flow", "DIVERGENCE_FACTOR", "DIVERGENCE_FLOOR"]

_FLOW_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")

DIVERGENCE_FACTOR = 1e6
"""A run whose loss exceeds this factor times its starting loss is declared diverged."""

DIVERGENCE_FLOOR = 1e-2
"""The starting loss is floored here before the factor applies, so a run that starts at a
near-perfect fit is not called diverged when its loss drifts up to a small value."""


def _prepare(
    model: Any, X: Any, Y: Any, loss: str | Loss, regularizer: Any, w0: Any, seed: Any
) -> tuple[np.ndarray, np.ndarray, Loss, Regularizer | None, np.ndarray]:
    if not isinstance(model, Model):
        raise InvalidArgumentError(
            f"model must be a pkverify Model (pk.models.mlp(...), pk.models.custom(f, w0), ...); "
            f"got {type(model).__name__}."
        )
    X = as_data(X, model.input_dim)
    Y = as_targets(Y, X.shape[0])
    loss = get_loss(loss)
    reg = as_regularizer(regularizer)
    seed = as_seed(seed)
    w = model.init(seed) if w0 is None else as_weights(w0, model.n_params, "w0")
    # the model, its gradient, the regulariser and the starting loss, checked before step 0
    y0, Y = check_initial(model, loss, reg, w, X, Y)
    return X, Y, loss, reg, np.array(w, dtype=np.float64)


def _total_loss(loss: Loss, reg: Regularizer | None, y: np.ndarray, Y: np.ndarray, w) -> float:
    value = float(loss.total(y, Y))
    if reg is not None:
        value += float(reg.value(w))
    return value


def _diverged(value: float, start: float) -> bool:
    return (not np.isfinite(value)) or value > DIVERGENCE_FACTOR * max(abs(start), DIVERGENCE_FLOOR)


def _divergence(step: int, value: float, start: float, lr_hint: str) -> DivergenceError:
    return DivergenceError(
        f"training diverged at step {step}: loss {value:.4g} (started at {start:.4g}); {lr_hint}",
        step=step,
    )


def _loss_gradient(
    engine: Engine,
    loss: Loss,
    reg: Regularizer | None,
    w: Any,
    X: Any,
    Y: np.ndarray,
    rho: float | None,
    check: Any = None,
) -> tuple[np.ndarray, float, np.ndarray]:
    """One forward and one backward pass on the rows given: ``(y, L(w), ∇L_B(w))`` on the
    host, L over these rows.

    ``∇L_B = ρ Σ_i ℓ'_i ∇f(w, x_i) (+ ∇R)`` — the vector–Jacobian product of the engine
    with cotangent ``ρ ℓ'``. ``check(y)`` runs on the outputs before ℓ' is taken (it may
    raise), so that the recorded loss costs no extra pass.
    """
    xp = engine.xp
    scalar = Y.ndim == 1
    seen: dict[str, Any] = {}

    def cotangent(y2):
        y = to_numpy(y2).astype(np.float64, copy=False)
        y = y[:, 0] if scalar else y
        if check is not None:
            check(y)
        seen["y"] = y
        d = np.asarray(loss.deriv(y, Y))
        if rho is not None:
            d = rho * d
        return xp.asarray(d[:, None] if scalar else d, dtype=y2.dtype)

    _, _, g = engine.value_and_vjp(w, X, cotangent)
    g_host = to_numpy(g).astype(np.float64, copy=False)
    w_host = to_numpy(w)
    value = _total_loss(loss, reg, seen["y"], Y, w_host)
    if reg is not None:
        g_host = g_host + reg.grad(w_host)
    return seen["y"], value, g_host


def train(
    model: Model,
    X: Any,
    Y: Any,
    loss: str | Loss = "mse",
    lr: float | Sequence[float] | np.ndarray | None = None,
    steps: int = 100,
    batch_size: int | None = None,
    regularizer: Regularizer | Any | None = None,
    seed: int = 0,
    w0: Any | None = None,
    *,
    optimizer: Optimizer | str | None = None,
    reduction: str = "sum",
    implementation: str | Implementation = "auto",
    backend: Any = None,
    progress: bool | None = None,
) -> Trajectory:
    """Train with ``optimizer`` (plain gradient descent by default) and record the path.

    lr:          shorthand for ``optimizer=pk.optim.gd(lr)`` (default 0.01): a step size
                 ε > 0, or a sequence of ``steps`` step sizes (a schedule).
    optimizer:   pk.optim.gd(lr), sgd(lr, momentum, dampening, nesterov, weight_decay),
                 adam(lr, betas, eps, weight_decay) or adamw(...), with PyTorch's defaults;
                 its lr may be a schedule. Give either lr or optimizer.
    reduction:   "sum" (the paper's L = Σ_i ℓ_i) or "mean" (each batch's loss divided by its
                 size, PyTorch's default).
    batch_size:  None for full batches; else batches drawn without replacement from
                 ``numpy.random.default_rng(seed)``; each step differentiates only its
                 batch's rows (the recorded full loss costs one forward pass over all rows).
    seed:        seeds ``model.init`` (unless ``w0`` is given) and the batch draws.
    implementation, backend: the engine that takes each step's gradient (one forward and one
                 backward pass per step; layer-wise for built-in models; ``backend="cupy"``
                 keeps X and w on the GPU, recording w on the host).

    Raises DivergenceError naming the step where the loss became non-finite or exceeded
    1e6 × its starting value (the start floored at 1e-2).
    """
    steps = positive_int(steps, "steps")
    if isinstance(model, Model):  # the recorded path: (S+1)·P weights, (S+1) losses, S·n flags
        try:
            n_rows = len(X)
        except TypeError:  # not a sequence: as_data refuses it below
            n_rows = 1
        check_memory(
            (steps + 1) * (model.n_params + 1) * 8.0 + steps * (n_rows + 8.0),
            f"recording {steps} steps of a model with P = {model.n_params} parameters",
            "Use fewer steps (a larger lr covers the same flow time), or a smaller model.",
        )
    if optimizer is not None and lr is not None:
        raise InvalidArgumentError(
            f"give the step size once: lr={lr!r} is the shorthand for optimizer=pk.optim.gd(lr)"
            f", and optimizer={optimizer!r:.60} carries its own lr."
        )
    if optimizer is None:
        opt = gd(0.01 if lr is None else lr if np.ndim(lr) == 0 else as_step_sizes(lr, steps))
    else:
        opt = as_optimizer(optimizer)
    reduction = parse_reduction(reduction)
    eps = opt.step_sizes(steps)
    if progress is not None:
        progress = as_flag(progress, "progress")
    X, Y, loss, reg, w = _prepare(model, X, Y, loss, regularizer, w0, seed)
    n = X.shape[0]
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size")
        if batch_size > n:
            raise InvalidArgumentError(
                f"batch_size must be ≤ n = {n} (the number of data points); got {batch_size}."
            )
    engine, dt = prepare(model, implementation, backend, w, X, dtype=np.float64)
    xp = engine.xp
    Xd = xp.asarray(X, dtype=dt)
    rng = np.random.default_rng(seed)
    P = model.n_params
    ws = np.empty((steps + 1, P))
    losses = np.empty(steps + 1)
    batches = np.ones((steps, n), dtype=bool)
    hint = f"try a smaller step size than lr = {eps.max():.3g}."
    state = OptimizerState()
    rows = np.arange(n)

    def check(s: int):
        def run(y: np.ndarray) -> None:
            if not np.all(np.isfinite(y)):
                raise _divergence(s, float("nan"), losses[0] if s else float("nan"), hint)
            loss.check_outputs(y)
        return run

    ws[0] = w
    for s in progress_bar(range(steps + 1), total=steps + 1, desc="training", enabled=progress):
        w = ws[s]  # the recorded row itself: no copy per step
        wd = xp.asarray(w, dtype=dt)
        full = batch_size is None or batch_size == n
        if not full and s < steps:
            batches[s] = False
            rows = np.sort(rng.choice(n, size=batch_size, replace=False))
            batches[s, rows] = True
        rho = 1.0 / rows.size if reduction == "mean" else None
        if s == steps or not full:  # the recorded full loss: a forward pass over all rows
            y = to_numpy(engine.forward(wd, Xd)).astype(np.float64)
            y = y[:, 0] if Y.ndim == 1 else y
            check(s)(y)
            losses[s] = _total_loss(loss, reg, y, Y, w)
        if s < steps:  # the step's gradient from its batch's rows only
            Xb = Xd if full else Xd[rows if xp is np else xp.asarray(rows)]
            _, value, g = _loss_gradient(engine, loss, reg, wd, Xb, Y if full else Y[rows], rho,
                                         check(s))
            if full:
                losses[s] = value
        if _diverged(losses[s], losses[0]):
            raise _divergence(s, losses[s], losses[0], hint)
        if s == steps:
            break
        g = opt.gradient(g, w)  # + coupled weight decay
        parts, decay, _, state = opt.advance(state, g[None, :], w, float(eps[s]), s, total=g)
        np.add(w, parts[0], out=ws[s + 1])  # w_{s+1} = w_s + Δ_s, as the optimizer says
        if opt.decoupled_decay:
            ws[s + 1] += decay

    kind = "gd" if batch_size is None or batch_size == n else "sgd"
    times = np.concatenate([[0.0], np.cumsum(eps)])
    return Trajectory(model, X, Y, loss, ws, eps, batches, losses, times, reg, kind,
                      optimizer=opt, reduction=reduction)


def gradient_flow(
    model: Model,
    X: Any,
    Y: Any,
    loss: str | Loss = "mse",
    T: float = 1.0,
    samples: int = 201,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    regularizer: Regularizer | Any | None = None,
    seed: int = 0,
    w0: Any | None = None,
    method: str = "DOP853",
    *,
    implementation: str | Implementation = "auto",
    progress: bool | None = None,
) -> Trajectory:
    """Solve the gradient flow ``dw/dt = −∇L(w)`` on ``[0, T]`` and sample it.

    The path is recorded at ``samples`` equally spaced times (``samples − 1`` intervals, so
    ``step_sizes`` are ``T/(samples−1)``); kernels on a flow path use node rules in time
    (riemann, trapezoid, simpson), whose error shrinks as ``samples`` grows. ``rtol``/``atol``
    go to ``scipy.integrate.solve_ivp`` (default: DOP853, 8th order). The right-hand side
    costs one forward and one backward pass of the engine; progress shows the flow time.
    """
    from scipy.integrate import solve_ivp

    if progress is not None:
        progress = as_flag(progress, "progress")
    T = positive_float(T, "T")
    samples = positive_int(samples, "samples")
    if samples < 2:
        raise InvalidArgumentError(f"samples must be ≥ 2 (start and end); got {samples}.")
    rtol = positive_float(rtol, "rtol")
    atol = positive_float(atol, "atol")
    if method not in _FLOW_METHODS:
        raise InvalidArgumentError(
            f"method must name a scipy.integrate.solve_ivp solver, one of "
            f"{', '.join(_FLOW_METHODS)}; got {method!r}. DOP853 (the default) suits smooth flows."
        )
    if isinstance(model, Model):
        check_memory(
            samples * (model.n_params + 1) * 8.0,
            f"recording {samples} samples of a model with P = {model.n_params} parameters",
            "Use fewer samples.",
        )
    X, Y, loss, reg, w = _prepare(model, X, Y, loss, regularizer, w0, seed)
    engine, _ = prepare(model, implementation, "numpy", w, X, dtype=np.float64)
    f = model.f
    start = _total_loss(loss, reg, np.asarray(f(w, X)), Y, w)

    def finite(y: np.ndarray) -> None:
        if not np.all(np.isfinite(y)):
            raise NonFiniteError("model output became non-finite during the flow")
        loss.check_outputs(y)

    bar = Counter(T, desc="gradient flow (t)", enabled=progress, unit="t")

    def rhs(t, v):
        bar.set(min(float(t), T))
        return -_loss_gradient(engine, loss, reg, v, X, Y, None, finite)[2]

    times = np.linspace(0.0, T, samples)
    try:
        with bar:
            sol = solve_ivp(rhs, (0.0, T), w, method=method, t_eval=times, rtol=rtol,
                            atol=atol)
    except NonFiniteError as exc:
        raise DivergenceError(
            f"gradient flow diverged before T = {T}: {exc}; try a smaller T.", step=None
        ) from exc
    if sol.status != 0 or sol.y.shape[1] != samples:
        raise DivergenceError(
            f"gradient flow could not be integrated to T = {T}: {sol.message} "
            "Try a smaller T or looser rtol.",
            step=None,
        )
    ws = np.ascontiguousarray(sol.y.T)
    losses = np.array([_total_loss(loss, reg, np.asarray(f(v, X)), Y, v) for v in ws])
    for s, value in enumerate(losses):
        if _diverged(value, start):
            raise _divergence(s, value, start, "try a smaller T.")
    eps = np.diff(times)
    batches = np.ones((samples - 1, X.shape[0]), dtype=bool)
    return Trajectory(model, X, Y, loss, ws, eps, batches, losses, times, reg, "flow")
