"""Training paths: any optimizer of :mod:`pkverify.optim` over seeded mini-batches (gradient
flow, the ε → 0 limit, is :mod:`pkverify.flow`).

Each step takes the mini-batch gradient of ``L(w) = Σ_i ℓ(y*_i, f(w, x_i)) + R(w)``::

    g_s = Σ_i ρ_s I_i(s) ℓ'_i(w_s) ∇_w f(w_s, x_i) + ∇R(w_s)

with ``I_i(s) = 1`` for every i (full batch) or for a seeded mini-batch of ``batch_size``
points (Remark 5), ``ρ_s = 1`` (``reduction="sum"``, the paper's form) or ``1/|B_s|``
(``"mean"``, PyTorch's), and asks the optimizer for the step (plain GD:
``w_{s+1} = w_s − ε_s g_s``). Only the batch's rows are differentiated.
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
from .optim import Optimizer, OptimizerState, as_optimizer, gd, parse_reduction
from .progress import progress as progress_bar
from .stores import metadata_digest
from .stores.recorder import open_recorder
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
    positive_int,
)

__all__ = ["train", "DIVERGENCE_FACTOR", "DIVERGENCE_FLOOR"]

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
    dtype: Any = None,
    progress: bool | None = None,
    store: Any = None,
    store_dtype: Any = None,
    resume: Any = None,
) -> Trajectory:
    """Train with ``optimizer`` (plain gradient descent by default) and record the path.

    lr:          shorthand for ``optimizer=pk.optim.gd(lr)`` (default 0.01): a step size
                 ε > 0, or a sequence of ``steps`` step sizes (a schedule).
    optimizer:   pk.optim.gd(lr), sgd(lr, momentum, dampening, nesterov, weight_decay),
                 adam(lr, betas, eps, weight_decay) or adamw(...), with PyTorch's defaults;
                 its lr may be a schedule. Give either lr or optimizer. Parameter groups
                 (``pk.optim.grouped(opt, groups, lr=[...], weight_decay=[...])``) give each
                 group of weights its own step size (or schedule) and weight decay.
    reduction:   "sum" (the paper's L = Σ_i ℓ_i) or "mean" (each batch's loss divided by its
                 size, PyTorch's default).
    batch_size:  None for full batches; else batches drawn without replacement from
                 ``numpy.random.default_rng(seed)``; each step differentiates only its
                 batch's rows (the recorded full loss costs one forward pass over all rows).
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
    store:       None keeps the path in memory; a folder path writes it to disk while
                 training runs (:class:`pkverify.stores.DiskStore`: chunks of steps, each
                 committed with its checksum and the training state), for paths larger than
                 memory; the trajectory then reads its weights from there a chunk at a time
                 and ``pk.Trajectory.load(store)`` reopens it. Refused before the first step
                 when the folder exists, cannot be written or its disk lacks room.
    store_dtype: float64 (default) or float32: the dtype the weights are *stored* in. Training
                 itself runs as ``dtype`` says; with float32 storage the kernel machine is
                 rebuilt from the stored (rounded) weights, and its exactness is about them.
    resume:      the folder of a store an interrupted run left (Ctrl-C, SIGTERM, a full disk):
                 training continues after its last committed step, with the same arguments
                 (checked: a store of another model, data or settings is refused), and the
                 result is bit for bit the uninterrupted run's.

    Raises DivergenceError naming the step where the loss became non-finite or exceeded
    1e6 × its starting value (the start floored at 1e-2).
    """
    steps = positive_int(steps, "steps")
    on_disk = store is not None or resume is not None
    if isinstance(model, Model):  # the recorded path: (S+1)·P weights, (S+1) losses, S·n flags
        try:
            n_rows = len(X)
        except TypeError:  # not a sequence: as_data refuses it below
            n_rows = 1
        check_memory(
            (steps + 1) * ((0 if on_disk else model.n_params) + 1) * 8.0
            + steps * (n_rows + 8.0),
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
    if dtype is not None and check_float_dtype(dtype) == "float32" and not opt.plain:
        raise InvalidArgumentError(
            f"dtype=float32 trains with plain gradient descent only; {opt.describe()} steps "
            "in float64 (leave dtype out)."
        )
    eps = opt.step_sizes(steps)
    if isinstance(model, Model):
        opt.check_groups(model.n_params, steps)
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
    settings = {  # what a resumed run must share with the one it continues (with X, Y, w0)
        "model": model.spec or [model.name, P], "loss": loss.name,
        "regularizer": None if reg is None else (reg.spec or "custom"),
        "optimizer": opt.spec, "reduction": reduction, "steps": steps,
        "batch_size": batch_size, "seed": seed, "dtype": str(np.dtype(dt)),
    }
    rec = open_recorder(P, steps + 1, store, store_dtype, resume,
                        metadata_digest({"X": X, "Y": Y, "w0": w}, settings), settings)
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

    def checkpoint(s: int, st: OptimizerState, w_next: np.ndarray) -> Any:
        """What a resumed run needs after step s: the losses so far, the optimizer's state
        and (when the store rounds the rows) the float64 weights."""
        def make() -> dict[str, Any]:
            out = {"losses": losses[: s + 1].copy()}
            out.update({k: v for k, v in (("z", st.z), ("v", st.v)) if v is not None})
            if rec.dtype != np.float64:
                out["w"] = w_next.copy()
            return out
        return make

    start = 0
    rec.row(0)[:] = w.astype(np.float32) if single else w
    if resume is None:
        rec.record(0, lambda: {"losses": losses[:0].copy()})
    else:  # continue after the committed rows: their state, their batches drawn again
        start, ckpt = rec.resume()
        start -= 1
        losses[:start] = ckpt["losses"]
        state = OptimizerState(z=ckpt.get("z"), v=ckpt.get("v"))
        for s in range(start if batch_size is not None and batch_size < n else 0):
            batches[s] = False
            batches[s, np.sort(rng.choice(n, size=batch_size, replace=False))] = True
    try:  # a store left by an exception (Ctrl-C, divergence, a full disk) keeps its prefix
        for s in progress_bar(range(start, steps + 1), total=steps + 1 - start, desc="training",
                              enabled=progress, unit="step"):
            w = rec.row(s)  # the recorded row itself (in memory): no copy per step
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
            w_next = rec.next_row(s)
            if single:  # plain GD: w_{s+1} = fl32(w_s − fl32(ε_s g)), recorded exactly in float64
                w32 = w.astype(np.float32)
                w_next[:] = w32 - np.float32(eps[s]) * g.astype(np.float32)
                rec.record(s + 1, checkpoint(s, state, w_next))
                continue
            g = opt.gradient(g, w)  # + coupled weight decay
            parts, decay, _, state = opt.advance(state, g[None, :], w, opt.rate(s, float(eps[s])),
                                                 s, total=g)
            np.add(w, parts[0], out=w_next)  # w_{s+1} = w_s + Δ_s, as the optimizer says
            if opt.decoupled:
                w_next += decay
            rec.record(s + 1, checkpoint(s, state, w_next))
    except BaseException as exc:
        rec.abort(exc)
        raise
    ws = rec.result()

    kind = "gd" if batch_size is None or batch_size == n else "sgd"
    times = np.concatenate([[0.0], np.cumsum(eps)])
    traj = Trajectory(model, X, Y, loss, ws, eps, batches, losses, times, reg, kind,
                      optimizer=opt, reduction=reduction)
    if rec.disk is not None:  # the store folder holds the whole run: Trajectory.load(folder)
        traj.save(rec.disk.folder / "trajectory.npz")
    return traj
