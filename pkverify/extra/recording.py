"""What every recorder of a user's own training loop shares, whatever the framework: the
batch's rows, the targets against the loss, the step check, its warning, and the recorded
path assembled as a :class:`~pkverify.trajectory.Trajectory` (``pk.torch.Recorder`` and
``pk.jax.Recorder`` both use it).

The step check. At step s the recorder holds w_s, the weights after the user's update
w_{s+1}, the batch B_s and the step size η_s. It recomputes the batch loss's gradient
``g_s = ρ_s Σ_{i∈B_s} ℓ'_{i,s} ∇f(w_s, x_i)`` with pkverify's loss (the framework's own
vjp), rebuilds the step ``Δ_s`` from it with pk.optim's one update rule
(:meth:`pkverify.optim.Optimizer.advance`) and compares:
``gap_s = ‖(w_{s+1} − w_s) − Δ_s‖ / ‖w_{s+1} − w_s‖``. Above :data:`STEP_RTOL` the step is
named in a :class:`RecorderWarning` with its likely cause; the path is still recorded as
given (the kernel machine rebuilds it and says it does not follow its optimizer).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..kernels.exactness import PathWarning
from ..losses import Loss
from ..models.base import Model
from ..optim import Optimizer, OptimizerState
from ..trajectory import Trajectory

__all__ = ["STEP_RTOL", "RecorderWarning", "RecorderError", "one_input_shape", "flat_inputs",
           "batch_rows", "step_gaps",
           "prepare_targets", "loss_cotangent", "StepCheck", "warn_step", "schedule_as_used",
           "recorded_trajectory"]

STEP_RTOL = {"float64": 1e-9, "float32": 1e-3}
"""Relative agreement ‖Δ_recorded − Δ_rebuilt‖/‖Δ_recorded‖ required of each step. The two
gradients are the same sum taken in another order (rounding ~1e-16 of the terms in float64);
Adam divides by √v̂ + eps, which lifts a gradient component that cancels to ~1e-16 into a step
component of η·1e-16/eps ≈ 1e-8·η: 1e-9 of ‖Δ‖ leaves two orders of margin in float64 for the
networks tested, and float32's 6e-8 roundoff scaled the same way gives 1e-3."""


_TINY = float(np.finfo(np.float64).tiny)


class RecorderWarning(PathWarning):
    """A recorded step that the optimizer's rule does not rebuild (names the step and cause)."""


class RecorderError(InvalidArgumentError):
    """The loop and the recorder are out of step (a step recorded twice, or not at all)."""


def one_input_shape(X: Any, input_shape: Any) -> Any:
    """``input_shape`` as given, else the shape of one of X's rows when they are not flat
    (X ``(n, d1, d2, ...)``), else None (the model's adapter decides)."""
    shape = np.shape(X)
    return tuple(shape[1:]) if input_shape is None and len(shape) > 2 else input_shape


def flat_inputs(arr: np.ndarray, input_dim: int | None, kinds: str, model: str
                ) -> np.ndarray:
    """The training inputs ``arr`` ``(n, ...)`` as float64 rows of ``input_dim`` numbers;
    ``kinds`` names what X may be ("array"), ``model`` what takes the inputs ("apply_fn")."""
    if arr.ndim < 2 or arr.shape[0] == 0 or arr.dtype.kind not in "fiu":
        raise ShapeError(
            f"X must hold n ≥ 1 real inputs as an (n, ...) {kinds}; got shape {arr.shape}, "
            f"dtype {arr.dtype}."
        )
    flat = arr.reshape(arr.shape[0], -1).astype(np.float64)
    if flat.shape[1] != input_dim:
        raise ShapeError(
            f"X's inputs hold {flat.shape[1]} numbers each but {model} takes {input_dim}; "
            "pass input_shape=... (the shape of one input)."
        )
    return flat


def batch_rows(idx: np.ndarray, n: int, how: str) -> np.ndarray:
    """The batch's row indices into X, checked (integers in 0..n−1, each once) and sorted;
    ``how`` names where the indices come from in the error."""
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu" \
            or idx.min() < 0 or idx.max() >= n:
        raise InvalidArgumentError(
            f"rec.step needs the batch's row indices into X (integers in 0..{n - 1}), {how}; "
            f"got {np.array2string(idx, threshold=8)} (dtype {idx.dtype})."
        )
    if np.unique(idx).size != idx.size:
        raise InvalidArgumentError(
            "the batch holds a row twice; pkverify's batches are sets (Remark 5's "
            "indicators I_i(s)). Sample without replacement."
        )
    return np.sort(idx)


def prepare_targets(loss: Loss, Y: np.ndarray, y0: np.ndarray, where: str) -> np.ndarray:
    """The targets Y as ``loss`` takes them, given the model's outputs y0 at w_0: one per
    row, a one-column Y squeezed for a scalar-output model, the loss's domain checked (its
    error says that the targets came from ``where``)."""
    if Y.shape[:1] != y0.shape[:1]:
        raise ShapeError(f"Y must have one target per row of X ({y0.shape[0]}); got shape "
                         f"{Y.shape}.")
    arr = Y.astype(np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1 and y0.ndim == 1:
        arr = arr[:, 0]
    try:
        return loss.prepare(arr, y0)
    except InvalidArgumentError as exc:
        raise type(exc)(f"the targets Y do not fit the loss {loss.name!r} {where}: {exc}") \
            from exc


def loss_cotangent(loss: Loss, y: np.ndarray, Yb: np.ndarray, reduction: str) -> np.ndarray:
    """``ρ ℓ'_i`` for the batch's outputs y (shaped like y: a one-column output of a scalar
    model is kept one column), ρ = 1/|B| for "mean", 1 for "sum"."""
    d = np.asarray(loss.deriv(y[:, 0] if Yb.ndim == 1 and y.ndim == 2 else y, Yb))
    if reduction == "mean":
        d = d / y.shape[0]
    return d.reshape(y.shape)


def step_gaps(step: np.ndarray, rebuilt: np.ndarray,
              index: np.ndarray | None) -> tuple[float, np.ndarray | None]:
    """``(‖Δ − Δ̃‖/‖Δ‖, per-group gaps or None)``; ``index`` is each weight's group."""
    gap = float(np.linalg.norm(step - rebuilt)) / max(float(np.linalg.norm(step)), _TINY)
    if index is None:
        return gap, None
    G = int(index.max()) + 1
    off = np.sqrt(np.bincount(index, (step - rebuilt) ** 2, minlength=G))
    size = np.sqrt(np.bincount(index, step ** 2, minlength=G))
    return gap, off / np.maximum(size, _TINY)


@dataclass
class StepCheck:
    """The rule's state along the recorded path and the gap of each step (module docstring).

    ``check(g, w, after, lr, s)`` takes the loss's gradient g at w_s (without weight decay),
    the weights before and after the step and η_s (with parameter groups whose rates differ,
    the ``(P,)`` vector of each weight's group's: :meth:`pkverify.optim.ParamGroups.per_weight`),
    advances the rule and returns the gap; the per-group gaps are
    ``step_gaps(after − w, rebuilt, index)``'s. ``warn`` warns of a step that is off and
    keeps ``first_off``, the first such step.
    """

    rule: Optimizer
    state: OptimizerState = OptimizerState()
    first_off: int | None = None

    def check(self, g: np.ndarray, w: np.ndarray, after: np.ndarray,
              lr: float | np.ndarray, s: int) -> tuple[float, np.ndarray]:
        """``(gap_s, Δ_s rebuilt)``."""
        total = self.rule.gradient(g, w)
        parts, decay, _, self.state = self.rule.advance(self.state, total[None, :], w, lr, s,
                                                        total=total)
        rebuilt = parts[0] + decay
        return step_gaps(after - w, rebuilt, None)[0], rebuilt

    def warn(self, s: int, gap: float, cause: str, where: str = "") -> None:
        """:func:`warn_step` for step s (attributed to the caller of the recorder's step)."""
        if self.first_off is None:
            self.first_off = s
        warn_step(s, gap, cause, self.first_off, where, stacklevel=4)


def warn_step(s: int, gap: float, cause: str, first_off: int | None = None,
              where: str = "", stacklevel: int = 3) -> None:
    """The :class:`RecorderWarning` of a step the rule does not rebuild (attributed to the
    caller of the recorder's ``step``); ``first_off``, an earlier step that differed, whose
    gap the optimizer's momenta and moments carry on into this one; ``where``, the parameter
    groups that differ (" (in parameter group(s) [1])") or ""."""
    if first_off is not None and first_off < s:
        cause += f"; or the optimizer's buffers carry on the gap of step {first_off}"
    warnings.warn(
        f"recorded step {s} differs from the step pk.optim rebuilds by {gap:.2e} (relative)"
        f"{where}: "
        f"{cause}. The kernel machine will rebuild the path as recorded and warn that it "
        "does not follow its optimizer.", RecorderWarning, stacklevel=stacklevel)


def _require_steps(lrs: Any) -> None:
    if not len(lrs):
        raise RecorderError("no step was recorded: call rec.step(...) after each update of "
                            "your loop (after each optimizer.step() in torch).")


def schedule_as_used(lrs: Any) -> float | tuple[float, ...]:
    """The step sizes used, as a rule's ``lr``: one number when every step used it, else the
    schedule, one per step (RecorderError when no step was recorded)."""
    _require_steps(lrs)
    eta = np.asarray(lrs, dtype=np.float64)
    return float(eta[0]) if np.all(eta == eta[0]) else tuple(float(e) for e in eta)


def recorded_trajectory(model: Model, X: np.ndarray, Y: np.ndarray, loss: Loss,
                        rule: Optimizer, ws: list[np.ndarray], lrs: list[float],
                        batches: list[np.ndarray], reduction: str) -> Trajectory:
    """The recorded path as a Trajectory: the weights, the step sizes used ``lrs`` (group 0's
    with parameter groups), the batches (``kind`` "gd" when every step took every row), the
    full loss at each weight, and ``rule``, the optimizer as used (its lr
    :func:`schedule_as_used`; each group's so with groups)."""
    _require_steps(lrs)
    eta = np.asarray(lrs, dtype=np.float64)
    W = np.stack(ws)
    losses = np.array([float(loss.total(model.apply(w, X), Y)) for w in W])
    mask = np.stack(batches)
    kind = "gd" if mask.all() else "sgd"
    times = np.concatenate([[0.0], np.cumsum(eta)])
    return Trajectory(model, X, Y, loss, W, eta, mask, losses, times, None, kind,
                      optimizer=rule, reduction=reduction)
