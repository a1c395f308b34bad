"""Training paths: gradient descent, seeded SGD, and gradient flow (the ε → 0 limit).

Gradient descent on ``L(w) = Σ_i ℓ(y*_i, f(w, x_i)) + R(w)``::

    w_{s+1} = w_s − ε_s ( Σ_i I_i(s) ℓ'_i(w_s) ∇_w f(w_s, x_i) + ∇R(w_s) )

with ``I_i(s) = 1`` for every i (full batch) or for a seeded mini-batch of ``batch_size``
points (SGD, Remark 5; the batch sum is not rescaled, so the indicators enter the theorem
exactly). Gradient flow solves ``dw/dt = −∇L(w)`` with ``scipy.integrate.solve_ivp``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .backend import check_float_dtype, to_numpy
from .errors import DivergenceError, InvalidArgumentError, NonFiniteError
from .kernels.engines import Engine, Implementation
from .kernels.options import KernelOptions
from .losses import Loss, Regularizer, as_regularizer, check_regularizer, get_loss
from .models import Model, check_output
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
    check_differentiable,
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


def check_initial(
    model: Any, loss: Loss, reg: Regularizer | None, w: np.ndarray, X: np.ndarray, Y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Everything that can be wrong before the first step, checked before it is taken.

    Runs ``f(w0, X)`` (a custom f that fails names w0's length), checks its shape and that it
    is finite, differentiates it once with autograd (a plain-numpy f is named), checks the
    regulariser, prepares the targets, and checks that the starting loss is finite. Returns
    ``(y0, canonical targets)``.
    """
    name = getattr(model, "name", "model")
    try:
        out = model.f(w, X)
    except Exception as exc:
        raise InvalidArgumentError(
            f"{name} f(w, X) raised {type(exc).__name__} ({exc}) at the starting weights "
            f"(P = {np.size(w)}) and X of shape {X.shape}. Check that w0 has the length f "
            "expects and that f accepts an (n, d) array X."
        ) from exc
    arr = np.asarray(out)
    if arr.dtype.kind == "c":
        raise InvalidArgumentError(
            f"{name} f(w, X) returned complex values; pkverify trains real-valued models. "
            "Return a real output (e.g. the real part, or real and imaginary parts as two "
            "outputs)."
        )
    if arr.dtype.kind in "fiub" and arr.ndim in (1, 2) and not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.all(np.isfinite(arr.reshape(arr.shape[0], -1)), axis=1))
        raise NonFiniteError(
            f"the initial output f(w0, X) of {name} is already NaN or inf at rows "
            f"{bad[:5].tolist()} (of {arr.shape[0]}), before any training step; this is not a "
            "step-size problem. Check w0 and the scale of X (e.g. standardise the inputs), "
            "or the model's formula."
        )
    y0 = check_output(out, X.shape[0], name)
    # built-in layers are differentiable by design; a foreign model by its own framework
    if getattr(model, "network", None) is None and getattr(model, "foreign", None) is None:
        check_differentiable(model.f, w[: w.size], X[:1], name)
    if reg is not None:
        check_regularizer(reg, w)
    Y = loss.prepare(Y, y0)
    start = float(loss.total(y0, Y)) + (0.0 if reg is None else float(reg.value(w)))
    if not np.isfinite(start):
        raise NonFiniteError(
            f"the training loss at the starting weights is already {start} before any step "
            f"(outputs up to {np.max(np.abs(y0)):.3g}, targets up to {np.max(np.abs(Y)):.3g}); "
            "this is not a step-size problem. Rescale the targets or the inputs so that the "
            "loss is finite at w0."
        )
    return y0, Y


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
    mask: np.ndarray | None,
    check: Any = None,
) -> tuple[np.ndarray, float, np.ndarray]:
    """One forward and one backward pass: ``(y, L(w), ∇L_B(w))`` on the host.

    ``∇L_B = Σ_i I_i ℓ'_i ∇f(w, x_i) (+ ∇R)`` — the vector–Jacobian product of the engine
    with cotangent ``I ⊙ ℓ'``. ``check(y)`` runs on the outputs before ℓ' is taken (it may
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
        if mask is not None:
            d = d * (mask if d.ndim == 1 else mask[:, None])
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
    lr: float | Sequence[float] | np.ndarray = 0.01,
    steps: int = 100,
    batch_size: int | None = None,
    regularizer: Regularizer | Any | None = None,
    seed: int = 0,
    w0: Any | None = None,
    *,
    implementation: str | Implementation = "auto",
    backend: Any = None,
    dtype: Any = None,
    progress: bool | None = None,
) -> Trajectory:
    """Run gradient descent (or SGD with ``batch_size``) and record the path.

    lr:          step size ε > 0, or a sequence of ``steps`` step sizes (a schedule).
    batch_size:  None for full-batch GD; else SGD over batches drawn without replacement
                 from ``numpy.random.default_rng(seed)``.
    seed:        seeds ``model.init`` (unless ``w0`` is given) and the batch draws.
    implementation, backend: the engine that takes each step's gradient (one forward and one
                 backward pass per step; layer-wise for built-in models; ``backend="cupy"``
                 keeps X and w on the GPU, recording w on the host).
    dtype:       None or np.float64 (the default: float64, whatever the inputs' dtype), or
                 np.float32: every forward and backward pass runs in float32 and each step
                 is taken in float32, ``w_{s+1} = fl32(w_s − fl32(ε_s g_s))`` with g_s the
                 float32 gradient (∇R, when given, rounded to float32 and added). w0 is
                 rounded to float32 first. The recorded ``ws`` are float64 arrays holding
                 these float32 values exactly, so the file format is unchanged;
                 ``pk.kernel_machine(traj, dtype=np.float32)`` rebuilds the float32 model
                 (a float64 machine sees float32 rounding in every step, warns that the
                 steps are not float64 gradient steps, and integrates along the recorded
                 steps themselves).

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
    eps = as_step_sizes(lr, steps)
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
    opts = KernelOptions(implementation, backend, np.float64 if dtype is None else dtype)
    engine, dt = opts.engine(model, "pk.train", w, X)
    xp = engine.xp
    single = check_float_dtype(dt) == "float32"  # float32 steps, rounded as documented
    Xd = xp.asarray(X, dtype=dt)
    rng = np.random.default_rng(seed)
    P = model.n_params
    ws = np.empty((steps + 1, P))
    losses = np.empty(steps + 1)
    batches = np.ones((steps, n), dtype=bool)
    hint = f"try a smaller step size than lr = {eps.max():.3g}."

    def check(s: int):
        def run(y: np.ndarray) -> None:
            if not np.all(np.isfinite(y)):
                raise _divergence(s, float("nan"), losses[0] if s else float("nan"), hint)
            loss.check_outputs(y)
        return run

    ws[0] = w.astype(np.float32) if single else w
    for s in progress_bar(range(steps + 1), total=steps + 1, desc="training", enabled=progress):
        w = ws[s]  # the recorded row itself: no copy per step
        mask = None
        if batch_size is not None and s < steps:
            mask = np.zeros(n, dtype=bool)
            mask[rng.choice(n, size=batch_size, replace=False)] = True
            batches[s] = mask
        if s == steps:  # the last recorded loss needs the forward pass only
            y = to_numpy(engine.forward(xp.asarray(w, dtype=dt), Xd)).astype(np.float64)
            y = y[:, 0] if Y.ndim == 1 else y
            check(s)(y)
            losses[s] = _total_loss(loss, reg, y, Y, w)
        else:
            _, losses[s], g = _loss_gradient(
                engine, loss, reg, xp.asarray(w, dtype=dt), Xd, Y,
                None if mask is None else mask.astype(np.float64), check(s),
            )
        if _diverged(losses[s], losses[0]):
            raise _divergence(s, losses[s], losses[0], hint)
        if s == steps:
            break
        if single:  # w_{s+1} = fl32(w_s − fl32(ε_s g)), recorded exactly in float64
            w32 = w.astype(np.float32)
            ws[s + 1] = w32 - np.float32(eps[s]) * g.astype(np.float32)
        else:
            np.multiply(g, -eps[s], out=ws[s + 1])  # w_{s+1} = w_s − ε_s ∇L, in place
            ws[s + 1] += w

    kind = "gd" if batch_size is None or batch_size == n else "sgd"
    times = np.concatenate([[0.0], np.cumsum(eps)])
    return Trajectory(model, X, Y, loss, ws, eps, batches, losses, times, reg, kind)


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
    engine, _ = KernelOptions(implementation, "numpy", np.float64).engine(
        model, "pk.gradient_flow", w, X)
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
