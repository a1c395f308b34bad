"""Per-example losses ``ℓ(y*, y)`` with their derivatives ``ℓ' = ∂ℓ/∂y``, and regularisers.

The training loss is ``L(w) = Σ_i ℓ(y*_i, f(w, x_i)) + R(w)`` — a sum, as in the paper, not a
mean. Losses:

=============  ======================================  ==========================  ==========
name           ℓ(y*, y)                                ℓ'                          targets
=============  ======================================  ==========================  ==========
``mse``        ½ ‖y − y*‖²                             y − y*  (Remark 3)          real
``squared_error``  ‖y − y*‖² = Σ_j (y_j − y*_j)²        2 (y − y*)                  real
``squared_error_mean``  (1/k) ‖y − y*‖² (k outputs)      (2/k) (y − y*)              real
``logistic``   log(1 + e^y) − y* y   (y a logit)        sigmoid(y) − y*             {0, 1}
``neg_log``    −ln p_i, p_i = y if y* = 1 else 1 − y   −1/y if y* = 1, 1/(1 − y)   {0, 1}
                (y = P(class 1 | x) ∈ (0, 1))           if y* = 0  (Remark 3)
``softmax_ce`` −log softmax(y)_c                        softmax(y) − onehot(c)      class ids
=============  ======================================  ==========================  ==========

``squared_error`` and ``squared_error_mean`` are PyTorch's ``MSELoss`` per example: with
``reduction="sum"`` and ``"mean"`` (the batch's mean) they are ``MSELoss(reduction="sum")``
and ``MSELoss(reduction="mean")`` (which averages over the batch *and* the k outputs)
exactly, without the ½ of ``mse`` ([pytorch-optim]; ``pk.torch.Recorder`` maps onto them).

Regularisers: :func:`l2` (``R = λ/2 ‖w‖²``, ``∇R = λ w``) and any user ``R(w)`` written with
autograd.numpy (its gradient is taken by autograd).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd import grad

from .errors import DomainError, InvalidArgumentError, NonFiniteError, ShapeError, unknown_name
from .validation import nonnegative_float

__all__ = [
    "Loss",
    "get_loss",
    "LOSSES",
    "Regularizer",
    "l2",
    "as_regularizer",
    "check_regularizer",
]


@dataclass(frozen=True)
class Loss:
    """A per-example loss.

    value(y, Y)        -> (n,) per-example losses (autograd-differentiable in y).
    deriv(y, Y)        -> ℓ' with the shape of y: (n,) or (n, k).
    prepare(Y, y0)     -> canonical targets given the initial outputs y0 (checks the domain).
    check_outputs(y)   -> raises DomainError if model outputs leave the loss's domain.
    """

    name: str
    value: Callable[[Any, np.ndarray], Any]
    deriv: Callable[[np.ndarray, np.ndarray], np.ndarray]
    prepare: Callable[[np.ndarray, np.ndarray], np.ndarray]
    check_outputs: Callable[[np.ndarray], None] = field(default=lambda y: None)

    def total(self, y: Any, Y: np.ndarray) -> Any:
        """``Σ_i ℓ(y*_i, y_i)``."""
        return anp.sum(self.value(y, Y))


# ----- mse --------------------------------------------------------------------------------


def _mse_value(y, Y):
    r = y - Y
    return 0.5 * (r * r if anp.ndim(r) == 1 else anp.sum(r * r, axis=1))


def _mse_deriv(y, Y):
    return y - Y


def _mse_prepare(Y, y0):
    if Y.shape != y0.shape:
        raise ShapeError(
            f"mse targets Y must have the model's output shape {y0.shape}; got {Y.shape}."
        )
    return Y


def _squared_error_value(y, Y):
    return 2.0 * _mse_value(y, Y)


def _squared_error_deriv(y, Y):
    return 2.0 * (y - Y)


def _outputs(y) -> int:
    return 1 if anp.ndim(y) == 1 else int(anp.shape(y)[1])


def _squared_error_mean_value(y, Y):
    return _squared_error_value(y, Y) / _outputs(y)


def _squared_error_mean_deriv(y, Y):
    return (2.0 / _outputs(y)) * (y - Y)


# ----- logistic -----------------------------------------------------------------------------


def _binary_labels(Y, y0, name):
    if y0.ndim != 1:
        raise ShapeError(
            f"loss {name!r} needs a scalar-output model (outputs (n,)); the model returns "
            f"{y0.shape}. Use 'softmax_ce' for vector outputs."
        )
    if Y.shape != y0.shape:
        raise ShapeError(f"loss {name!r} needs labels Y of shape {y0.shape}; got {Y.shape}.")
    if not np.all((Y == 0.0) | (Y == 1.0)):
        bad = np.unique(Y[(Y != 0.0) & (Y != 1.0)])[:5]
        raise DomainError(
            f"loss {name!r} needs labels in {{0, 1}}; got values such as {bad.tolist()}. "
            "Map your classes to 0 and 1 (e.g. Y = (labels > 0).astype(float))."
        )
    return Y


def _logistic_value(y, Y):
    return anp.logaddexp(0.0, y) - Y * y


def _logistic_deriv(y, Y):
    return 0.5 * (np.tanh(0.5 * y) + 1.0) - Y


# ----- neg_log (Remark 3) -------------------------------------------------------------------


def _neg_log_check(y):
    if np.any((y <= 0.0) | (y >= 1.0)):
        bad = y[(y <= 0.0) | (y >= 1.0)][:3]
        raise DomainError(
            "loss 'neg_log' needs model outputs that are probabilities in (0, 1); got "
            f"{bad.tolist()}. End the model with a sigmoid; if it already does, it has "
            "saturated to 0 or 1 in float64: use a smaller step size, or train the logit "
            "with loss='logistic'."
        )


def _neg_log_value(y, Y):
    p_i = Y * y + (1.0 - Y) * (1.0 - y)
    return -anp.log(p_i)


def _neg_log_deriv(y, Y):
    return np.where(Y == 1.0, -1.0 / y, 1.0 / (1.0 - y))


def _neg_log_prepare(Y, y0):
    Y = _binary_labels(Y, y0, "neg_log")
    _neg_log_check(y0)
    return Y


# ----- softmax cross-entropy ----------------------------------------------------------------


def _softmax(y):
    z = y - np.max(y, axis=1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=1, keepdims=True)


def _softmax_ce_value(y, Y):
    z = y - anp.max(y, axis=1, keepdims=True)
    logp = z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))
    return -anp.sum(Y * logp, axis=1)


def _softmax_ce_deriv(y, Y):
    return _softmax(y) - Y


def _softmax_ce_prepare(Y, y0):
    if y0.ndim != 2:
        raise ShapeError(
            "loss 'softmax_ce' needs a vector-output model (outputs (n, k)); the model "
            f"returns {y0.shape}. Use 'logistic' for a single logit."
        )
    n, k = y0.shape
    if Y.ndim == 1:
        if not np.all((Y == np.round(Y)) & (Y >= 0) & (Y < k)):
            raise DomainError(
                f"loss 'softmax_ce' needs integer class ids in 0..{k - 1} (or one-hot rows); "
                f"got values {np.unique(Y)[:5].tolist()}."
            )
        onehot = np.zeros((n, k))
        onehot[np.arange(n), Y.astype(int)] = 1.0
        return onehot
    if Y.shape != (n, k):
        raise ShapeError(
            f"softmax_ce targets must be ({n},) ids or ({n}, {k}) rows; got {Y.shape}."
        )
    if np.any(Y < 0) or not np.allclose(Y.sum(axis=1), 1.0, rtol=0, atol=1e-12):
        # atol: one-hot or probability rows sum to 1 up to float64 rounding
        raise DomainError(
            "loss 'softmax_ce' target rows must be non-negative and sum to 1 (one-hot or "
            "probabilities)."
        )
    return Y


LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", _mse_value, _mse_deriv, _mse_prepare),
    "squared_error": Loss("squared_error", _squared_error_value, _squared_error_deriv,
                          _mse_prepare),
    "squared_error_mean": Loss("squared_error_mean", _squared_error_mean_value,
                               _squared_error_mean_deriv, _mse_prepare),
    "logistic": Loss(
        "logistic",
        _logistic_value,
        _logistic_deriv,
        lambda Y, y0: _binary_labels(Y, y0, "logistic"),
    ),
    "neg_log": Loss("neg_log", _neg_log_value, _neg_log_deriv, _neg_log_prepare, _neg_log_check),
    "softmax_ce": Loss("softmax_ce", _softmax_ce_value, _softmax_ce_deriv, _softmax_ce_prepare),
}


def get_loss(loss: str | Loss) -> Loss:
    """The Loss called ``loss`` (or ``loss`` itself if it already is one)."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str) or loss not in LOSSES:
        raise unknown_name("loss", loss, tuple(LOSSES))
    return LOSSES[loss]


# ----- regularisers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Regularizer:
    """``R(w)`` added to the training loss; ``grad(w) = ∇R(w)`` (Remark 4)."""

    name: str
    value: Callable[[Any], Any]
    grad: Callable[[np.ndarray], np.ndarray]
    spec: dict[str, Any] | None = None


def l2(lam: float) -> Regularizer:
    """``R(w) = λ/2 ‖w‖²`` with ``∇R(w) = λ w``."""
    lam = nonnegative_float(lam, "l2(lam)'s λ")
    return Regularizer(
        "l2",
        lambda w: 0.5 * lam * anp.sum(w * w),
        lambda w: lam * np.asarray(w),
        spec={"kind": "l2", "lam": lam},
    )


def as_regularizer(reg: Regularizer | Callable[[Any], Any] | None) -> Regularizer | None:
    """Accept None, a Regularizer, or any ``R(w)`` written with autograd.numpy."""
    if reg is None or isinstance(reg, Regularizer):
        return reg
    if callable(reg):
        g = grad(reg)
        return Regularizer(getattr(reg, "__name__", "custom"), reg, lambda w: np.asarray(g(w)))
    raise InvalidArgumentError(
        f"regularizer must be None, pk.losses.l2(lam), or a callable R(w); got {reg!r}."
    )


def check_regularizer(reg: Regularizer, w: np.ndarray) -> None:
    """Evaluate ``R(w)`` and ``∇R(w)`` once: a finite real scalar and a finite ``(P,)`` vector."""
    fix = (
        " R(w) must return one real number, e.g. lambda w: 0.5 * lam * anp.sum(w ** 2) "
        "(written with autograd.numpy); a per-parameter vector must be summed."
    )
    try:
        value = reg.value(w)
    except Exception as exc:
        raise InvalidArgumentError(
            f"regularizer R(w) raised {type(exc).__name__}: {exc}.{fix}"
        ) from exc
    arr = np.asarray(value)
    if arr.shape != () or arr.dtype.kind not in "fiub":
        raise InvalidArgumentError(
            f"regularizer R(w) returned {type(value).__name__} of shape {arr.shape} and dtype "
            f"{arr.dtype}; expected one real number.{fix}"
        )
    if not np.isfinite(float(arr)):
        raise NonFiniteError(f"regularizer R(w) is {float(arr)} at the starting weights.{fix}")
    try:
        g = np.asarray(reg.grad(w))
    except Exception as exc:
        raise InvalidArgumentError(
            f"autograd could not differentiate the regularizer R(w) "
            f"({type(exc).__name__}: {exc}); write R with autograd.numpy.{fix}"
        ) from exc
    if g.shape != np.shape(w) or g.dtype.kind not in "fiu" or not np.all(np.isfinite(g)):
        raise InvalidArgumentError(
            f"the regulariser's gradient ∇R(w) must be a finite vector of shape {np.shape(w)}; "
            f"got shape {g.shape}, dtype {g.dtype}.{fix}"
        )
