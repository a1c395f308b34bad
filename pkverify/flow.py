"""Gradient flow (the ε → 0 limit of gradient descent): ``dw/dt = −∇L(w)`` solved with
``scipy.integrate.solve_ivp`` and sampled at equally spaced times."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DivergenceError, InvalidArgumentError, NonFiniteError
from .kernels.engines import Implementation
from .kernels.options import KernelOptions
from .losses import Loss, Regularizer
from .models import Model
from .progress import Counter
from .train import _diverged, _divergence, _loss_gradient, _prepare, _total_loss
from .trajectory import Trajectory
from .validation import as_flag, check_memory, positive_float, positive_int

__all__ = ["gradient_flow"]

_FLOW_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")


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
