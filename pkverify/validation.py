"""Input checks shared by every public function. Each failure says expected / got / fix."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import (
    EmptyDataError,
    InvalidArgumentError,
    NonFiniteError,
    ResourceError,
    ShapeError,
)

__all__ = [
    "as_data",
    "as_weights",
    "as_flat_weights",
    "as_targets",
    "as_seed",
    "as_flag",
    "as_step_sizes",
    "positive_float",
    "nonnegative_float",
    "real_number",
    "positive_int",
    "check_memory",
    "available_memory",
    "check_differentiable",
    "trial_differentiation",
]


def _real_array(value: Any, name: str, expected: str, dtype: Any = np.float64) -> np.ndarray:
    """``value`` as a real array of ``dtype`` (float64 unless a caller computes in float32: one
    conversion, straight to the dtype the work uses); complex values are refused, never cast
    silently. A value too large for ``dtype`` becomes inf here and is refused by the caller's
    finiteness check."""
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = _from_torch(value, name)
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"{name} must be {expected}; could not convert {type(value).__name__} ({exc})."
        ) from exc
    if raw.dtype.kind == "c":
        raise InvalidArgumentError(
            f"{name} must be real numbers; got a complex array (dtype {raw.dtype}). pkverify "
            f"does not drop imaginary parts silently: pass {name}.real (or split real and "
            "imaginary parts into separate columns) if that is what you mean."
        )
    if raw.dtype.kind in "USV":
        raise InvalidArgumentError(
            f"{name} must be {expected}; got an array of strings or bytes (dtype {raw.dtype})."
        )
    if raw.dtype == dtype:  # already what the work computes in: no copy, no warnings filter
        return raw
    try:
        with warnings.catch_warnings(), np.errstate(over="ignore"):
            warnings.simplefilter("error")  # a ComplexWarning from object arrays is an error
            return np.asarray(raw, dtype=dtype)
    except (TypeError, ValueError, Warning) as exc:
        raise InvalidArgumentError(
            f"{name} must be {expected} of real numbers; could not convert "
            f"{type(value).__name__} ({exc})."
        ) from exc


def _from_torch(t: Any, name: str) -> np.ndarray:
    """A torch tensor on the host as NumPy: detached (no gradient is taken through it) and
    copied from its device (pkverify keeps data on the host; the torch engine moves it to the
    module's device itself). A tensor without readable data (device 'meta') is refused."""
    t = t.detach()
    if t.device.type == "meta":
        raise InvalidArgumentError(
            f"{name} is a torch tensor on the 'meta' device, which holds no values; pass a "
            "tensor with data (on the CPU or a GPU) or a NumPy array."
        )
    t = t.cpu().resolve_conj().resolve_neg()
    try:
        return np.asarray(t.numpy())
    except TypeError:  # bfloat16 and other dtypes NumPy lacks
        return np.asarray(t.double().numpy())


def _all_finite(arr: np.ndarray) -> bool:
    """True when every entry of a float array is finite. A finite sum of squares proves it in
    one BLAS pass, without an array-sized boolean temporary (a NaN or inf entry makes the sum
    NaN or inf); only when the sum is not finite — a NaN or inf, or finite entries whose
    squares overflow — is each entry looked at."""
    if arr.ndim == 1 or arr.flags.c_contiguous:
        flat = arr.reshape(-1)
        with np.errstate(all="ignore"):
            if np.isfinite(flat @ flat):
                return True
    return bool(np.all(np.isfinite(arr)))


def _overflow_hint(arr: np.ndarray) -> str:
    """For a float32 array: the note that a finite float64 value beyond its range became inf."""
    if arr.dtype == np.float64:
        return ""
    return f" (in {arr.dtype.name}, values beyond ±{np.finfo(arr.dtype).max:.1e} are inf)"


def as_data(
    X: Any, dim: int | None = None, name: str = "X", dtype: Any = np.float64
) -> np.ndarray:
    """``X`` as a finite array of shape ``(n, d)`` with ``n ≥ 1`` (and ``d == dim``), float64
    unless ``dtype`` says otherwise."""
    arr = _real_array(X, name, "a numeric array of shape (n, d)", dtype)
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
    if not _all_finite(arr):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise NonFiniteError(
            f"{name} contains {bad} NaN or inf value(s){_overflow_hint(arr)}; remove or "
            "impute them before training."
        )
    return arr


def as_weights(w: Any, n_params: int, what: str = "weights w", dtype: Any = np.float64) -> Any:
    """``w`` as a finite vector of length P, float64 unless ``dtype`` says otherwise (float32
    weights for a float32 kernel are checked as they are, not widened). autograd boxes pass
    with a shape check."""
    if _is_box(w):  # an autograd ArrayBox during differentiation: check the shape only
        shape = getattr(w, "shape", None)
        if shape is not None and tuple(shape) != (n_params,):
            raise ShapeError(f"{what} must have shape ({n_params},); got {tuple(shape)}.")
        return w
    arr = _real_array(
        w, what, f"numbers, a flat float vector of shape ({n_params},) (use model.init(seed))",
        dtype,
    )
    if arr.shape != (n_params,):
        raise ShapeError(
            f"{what} must be a flat vector of shape ({n_params},) (the model's P); "
            f"got shape {arr.shape}. Use model.init(seed) for a valid vector."
        )
    if not _all_finite(arr):
        raise NonFiniteError(
            f"{what} contain NaN or inf{_overflow_hint(arr)}; pass finite weights."
        )
    return arr


def as_targets(Y: Any, n: int, name: str = "Y") -> np.ndarray:
    """``Y`` as a finite float64 array with ``n`` rows, shape ``(n,)`` or ``(n, k)``."""
    arr = _real_array(Y, name, "numeric targets of shape (n,) or (n, k)")
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


def real_number(value: Any, name: str, hint: str = "", *, positive: bool = True) -> float:
    """A finite float > 0 (``positive=True``) or ≥ 0 (``positive=False``). Booleans are
    refused: ``lr=True`` is a mistake, not 1.0."""
    want = "a positive number" if positive else "a number ≥ 0"
    if isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{name} must be {want}; got {value!r}.{hint}")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{name} must be {want}; got {value!r}.{hint}") from exc
    if not np.isfinite(v) or (v <= 0.0 if positive else v < 0.0):
        bound = "> 0" if positive else "≥ 0"
        raise InvalidArgumentError(f"{name} must be a finite number {bound}; got {value!r}.{hint}")
    return v


def positive_float(value: Any, name: str, hint: str = "") -> float:
    """A finite float > 0 (booleans are refused)."""
    return real_number(value, name, hint)


def nonnegative_float(value: Any, name: str, hint: str = "") -> float:
    """A finite float ≥ 0 (booleans are refused)."""
    return real_number(value, name, hint, positive=False)


def positive_int(value: Any, name: str, hint: str = "") -> int:
    """An integer ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgumentError(f"{name} must be a positive integer; got {value!r}.{hint}")
    if value < 1:
        raise InvalidArgumentError(f"{name} must be ≥ 1; got {value}.{hint}")
    return int(value)


def _is_box(value: Any) -> bool:
    """True for an autograd tracer box (autograd is already loaded whenever one exists)."""
    import sys

    tracer = sys.modules.get("autograd.tracer")
    return tracer is not None and isinstance(value, tracer.Box)


def as_flat_weights(w0: Any, what: str = "w0") -> np.ndarray:
    """``w0`` (any shape) as a finite, non-empty, flat float64 vector."""
    arr = _real_array(w0, what, "a vector of numbers (the model's initial weights)").ravel()
    if arr.size == 0:
        raise InvalidArgumentError(f"{what} is empty; a model needs at least one parameter.")
    if not np.all(np.isfinite(arr)):
        raise NonFiniteError(f"{what} contains NaN or inf; pass finite weights.")
    return arr


def as_seed(seed: Any, name: str = "seed") -> int:
    """A seed for ``numpy.random.default_rng``: an integer ≥ 0 (booleans and floats refused)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise InvalidArgumentError(
            f"{name} must be a non-negative integer such as 0 or 12345; got {seed!r} "
            f"({type(seed).__name__}). Pass int(...) of the value you meant."
        )
    if seed < 0:
        raise InvalidArgumentError(
            f"{name} must be a non-negative integer (numpy's generators refuse negative "
            f"seeds); got {seed}. Use abs({seed}) or any integer ≥ 0."
        )
    return int(seed)


def as_flag(value: Any, name: str) -> bool:
    """A real bool (``quick="yes"`` is a mistake, not True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def as_step_sizes(lr: Any, steps: int) -> np.ndarray:
    """``lr`` as ``steps`` finite step sizes > 0: one number for all steps, or a schedule."""
    if np.ndim(lr) == 0 and not isinstance(lr, (str, bytes)):
        return np.full(steps, positive_float(lr, "lr", " Use a small step size such as 0.01."))
    if isinstance(lr, (bool, np.bool_)) or (
        isinstance(lr, Sequence) and any(isinstance(v, (bool, np.bool_)) for v in lr)
    ):
        raise InvalidArgumentError(f"lr must hold numbers, not booleans; got {lr!r}.")
    eps = _real_array(lr, "lr", f"a step size > 0 or a schedule of {steps} step sizes")
    if eps.shape != (steps,):
        raise InvalidArgumentError(
            f"a step-size schedule must have one entry per step, shape ({steps},); "
            f"got {eps.shape}."
        )
    if not np.all(np.isfinite(eps)) or np.any(eps <= 0):
        raise InvalidArgumentError("every step size in lr must be finite and > 0.")
    return eps


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _size(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} PiB"  # pragma: no cover


def check_memory(nbytes: float, what: str, fix: str, available: int | None = None) -> None:
    """Refuse (ResourceError) before allocating ``nbytes`` when the machine has less free.

    ``available`` defaults to :func:`available_memory`; when that is unknown nothing is
    refused.
    """
    avail = available_memory() if available is None else available
    if avail is not None and nbytes > avail:
        raise ResourceError(
            f"{what} needs {_size(nbytes)} of memory, but only {_size(avail)} is available. "
            f"{fix}"
        )


def check_differentiable(f: Callable[[Any, np.ndarray], Any], w: np.ndarray, X: np.ndarray,
                         name: str = "model") -> None:
    """Differentiate ``f(w, X)`` once with autograd; refuse an ``f`` autograd cannot trace.

    The usual cause is a custom ``f`` written with plain ``numpy`` (``np.exp`` on autograd's
    tracer box fails, or silently cuts the output off from ``w``).
    """
    from autograd import make_vjp

    fix = (
        " Write f with autograd.numpy: `import autograd.numpy as anp` and use anp.exp, "
        "anp.dot, anp.tanh, ... instead of numpy's functions (autograd needs to trace f)."
    )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vjp, y = make_vjp(lambda v: f(v, X))(w)
            g = np.asarray(vjp(np.ones(np.shape(y))))
    except Exception as exc:  # any failure while tracing, after a plain call succeeded
        raise InvalidArgumentError(
            f"{name} f(w, X) could not be differentiated by autograd "
            f"({type(exc).__name__}: {exc})." + fix
        ) from exc
    if any("independent of input" in str(c.message) for c in caught):  # autograd's warning
        raise InvalidArgumentError(
            f"{name} f(w, X) does not depend on w as autograd sees it (its output is not "
            "traced back to w); this happens when f converts w to a plain numpy array "
            "(np.asarray, np.array, float()) or uses numpy functions autograd cannot trace." + fix
        )
    if g.dtype.kind not in "fiu" or g.shape != np.shape(w):
        raise InvalidArgumentError(
            f"{name} f(w, X): autograd returned a gradient of dtype {g.dtype} and shape "
            f"{g.shape}, expected float64 of shape {np.shape(w)}." + fix
        )


def trial_differentiation(f: Callable[[Any, np.ndarray], Any], w0: np.ndarray, dim: int,
                          name: str = "custom") -> None:
    """At ``custom(f, w0, input_dim)``: differentiate ``f`` once at ``w0`` on two seeded
    random inputs. An ``f`` that autograd cannot trace (plain numpy) is refused now; an ``f``
    that fails even without differentiation is left for its first use, with real data."""
    X = np.random.default_rng(0).standard_normal((2, dim))
    try:
        with np.errstate(all="ignore"):
            f(w0, X)
    except Exception:
        return
    check_differentiable(f, w0, X, name)


def as_array_in(
    X: Any, xp: Any, dtype: Any, dim: int | None = None, name: str = "X", ndim: int = 2
) -> Any:
    """``X`` validated (:func:`as_data` for ``ndim=2``; :func:`as_weights` with P = ``dim``
    for ``ndim=1``) and converted to namespace ``xp`` with ``dtype``. Arrays already in
    ``xp`` are checked there (shape, emptiness, finiteness) without a round trip to the
    host. Host data is converted once, straight to ``dtype`` where NumPy has it (float32 data
    for a float32 kernel is neither widened nor copied), and checked in that dtype."""
    if isinstance(X, (np.ndarray, np.generic, list, tuple, int, float)) or not hasattr(
        X, "__array_namespace__"
    ):
        host = _host_dtype(dtype)
        arr = as_data(X, dim, name, host) if ndim == 2 else as_weights(X, dim or 0, name, host)
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


def _host_dtype(dtype: Any) -> Any:
    """The NumPy float dtype matching ``dtype`` (NumPy's and CuPy's float32/float64), else
    float64 (an Array-API namespace's own dtype objects)."""
    try:
        host = np.dtype(dtype)
    except (TypeError, ValueError):
        return np.float64
    return host if host in (np.float32, np.float64) else np.float64
