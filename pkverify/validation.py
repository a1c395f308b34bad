"""Input checks shared by every public function. Each failure says expected / got / fix."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import EmptyDataError, InvalidArgumentError, NonFiniteError, ShapeError

__all__ = ["as_data", "as_weights", "as_targets", "positive_float", "positive_int"]


def as_data(X: Any, dim: int | None = None, name: str = "X") -> np.ndarray:
    """``X`` as a finite float64 array of shape ``(n, d)`` with ``n ≥ 1`` (and ``d == dim``)."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"{name} must be a numeric array of shape (n, d); could not convert {type(X).__name__}."
        ) from exc
    if arr.ndim != 2:
        hint = " For one feature per point use X.reshape(-1, 1)." if arr.ndim == 1 else ""
        raise ShapeError(f"{name} must be 2-D with shape (n, d); got shape {arr.shape}.{hint}")
    if arr.shape[0] == 0:
        raise EmptyDataError(f"{name} is empty (shape {arr.shape}); pass at least one data point.")
    if dim is not None and arr.shape[1] != dim:
        raise ShapeError(
            f"{name} must have d = {dim} columns to match the model's input dimension; "
            f"got shape {arr.shape}. Build the model with dim={arr.shape[1]} or fix the data."
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise NonFiniteError(
            f"{name} contains {bad} NaN or inf value(s); remove or impute them before training."
        )
    return arr


def as_weights(w: Any, n_params: int, what: str = "weights w") -> Any:
    """``w`` as a finite float64 vector of length P. autograd boxes pass with a shape check."""
    if not isinstance(w, (np.ndarray, list, tuple, float, int, np.generic)):
        shape = getattr(w, "shape", None)  # an autograd ArrayBox during differentiation
        if shape is not None and tuple(shape) != (n_params,):
            raise ShapeError(f"{what} must have shape ({n_params},); got {tuple(shape)}.")
        return w
    try:
        arr = np.asarray(w, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"{what} must be numbers, a flat float vector of shape ({n_params},); could not "
            f"convert {type(w).__name__} ({exc}). Use model.init(seed) for a valid vector."
        ) from exc
    if arr.shape != (n_params,):
        raise ShapeError(
            f"{what} must be a flat vector of shape ({n_params},) (the model's P); "
            f"got shape {arr.shape}. Use model.init(seed) for a valid vector."
        )
    if not np.all(np.isfinite(arr)):
        raise NonFiniteError(f"{what} contain NaN or inf; pass finite weights.")
    return arr


def as_targets(Y: Any, n: int, name: str = "Y") -> np.ndarray:
    """``Y`` as a finite float64 array with ``n`` rows, shape ``(n,)`` or ``(n, k)``."""
    try:
        arr = np.asarray(Y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"{name} must be numeric targets of shape (n,) or (n, k); "
            f"could not convert {type(Y).__name__}."
        ) from exc
    if arr.ndim not in (1, 2):
        raise ShapeError(f"{name} must have shape (n,) or (n, k); got shape {arr.shape}.")
    if arr.shape[0] != n:
        raise ShapeError(
            f"X and {name} must have the same number of rows; X has {n}, {name} has "
            f"{arr.shape[0]}. Pass one target per data point."
        )
    if not np.all(np.isfinite(arr)):
        raise NonFiniteError(f"{name} contains NaN or inf; pass finite targets.")
    return arr


def positive_float(value: Any, name: str, hint: str = "") -> float:
    """A finite float > 0 (booleans are refused: ``lr=True`` is a mistake, not 1.0)."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{name} must be a positive number; got {value!r}.{hint}")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{name} must be a positive number; got {value!r}.") from exc
    if not np.isfinite(v) or v <= 0.0:
        raise InvalidArgumentError(f"{name} must be a finite number > 0; got {value!r}.{hint}")
    return v


def positive_int(value: Any, name: str, hint: str = "") -> int:
    """An integer ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgumentError(f"{name} must be a positive integer; got {value!r}.{hint}")
    if value < 1:
        raise InvalidArgumentError(f"{name} must be ≥ 1; got {value}.{hint}")
    return int(value)


def as_array_in(
    X: Any, xp: Any, dtype: Any, dim: int | None = None, name: str = "X", ndim: int = 2
) -> Any:
    """``X`` validated (:func:`as_data` for ``ndim=2``; :func:`as_weights` with P = ``dim``
    for ``ndim=1``) and converted to namespace ``xp`` with ``dtype``. Arrays already in
    ``xp`` are checked there (shape, emptiness, finiteness) without a round trip to the
    host."""
    if isinstance(X, (np.ndarray, np.generic, list, tuple, int, float)) or not hasattr(
        X, "__array_namespace__"
    ):
        arr = as_data(X, dim, name) if ndim == 2 else as_weights(X, dim or 0, name)
        return xp.asarray(arr, dtype=dtype)
    if len(X.shape) != ndim:
        raise ShapeError(f"{name} must be {ndim}-D; got shape {tuple(X.shape)}.")
    if X.shape[0] == 0:
        raise EmptyDataError(f"{name} is empty (shape {tuple(X.shape)}); pass at least one row.")
    if ndim == 1 and dim is not None and tuple(X.shape) != (dim,):
        raise ShapeError(
            f"{name} must be a flat vector of shape ({dim},) (the model's P); got shape "
            f"{tuple(X.shape)}. Use model.init(seed) for a valid vector."
        )
    if ndim == 2 and dim is not None and X.shape[1] != dim:
        raise ShapeError(
            f"{name} must have d = {dim} columns to match the model's input dimension; "
            f"got shape {tuple(X.shape)}."
        )
    if not bool(xp.all(xp.isfinite(X))):
        raise NonFiniteError(f"{name} contains NaN or inf; pass finite values.")
    if X.dtype == dtype:
        return X
    return xp.astype(X, dtype) if hasattr(xp, "astype") else X.astype(dtype)


def batch_rows(value: Any) -> int | None:
    """A row-chunk size for kernels: None (chosen from a memory budget) or an integer ≥ 1."""
    if value is None:
        return None
    return positive_int(value, "batch_size", " It is the number of kernel rows per chunk.")
