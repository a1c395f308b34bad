"""Array namespaces: NumPy by default, CuPy when installed and asked for, any Array-API module.

The namespace (``xp``) is resolved once, at a public entry point, from the ``backend``
argument and the arrays passed in, and handed down; engine code only calls ``xp.*``. autograd
differentiates NumPy code only, so the autograd reference engine always runs on NumPy; the
layer-wise engine runs in any namespace. CuPy is imported only when asked for.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from .errors import BackendMissingError, InvalidArgumentError, unknown_name

__all__ = [
    "get_namespace",
    "cupy_available",
    "to_numpy",
    "check_float_dtype",
    "namespace_of",
    "resolve_namespace",
    "float_dtype",
    "is_numpy",
]

_BACKENDS = ("numpy", "cupy")


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy

        return bool(cupy.cuda.runtime.getDeviceCount() > 0)
    except Exception:  # ImportError, CUDARuntimeError, driver missing, ...
        return False


def get_namespace(name: str = "numpy") -> ModuleType:
    """Return the array module called ``name`` ("numpy" or "cupy").

    Raises BackendMissingError for "cupy" when CuPy is not installed or has no device.
    """
    if name not in _BACKENDS:
        raise unknown_name("backend", name, _BACKENDS)
    if name == "numpy":
        return np
    try:
        import cupy
    except ImportError as exc:
        raise BackendMissingError(
            "backend 'cupy' was asked for but CuPy is not installed; "
            "install it with `pip install 'pkverify[cupy]'` (needs a CUDA GPU), "
            "or use backend='numpy'."
        ) from exc
    if not cupy_available():
        raise BackendMissingError(
            "backend 'cupy' was asked for but CuPy finds no CUDA device; "
            "run on a machine with a GPU or use backend='numpy'."
        )
    return cupy


def is_numpy(xp: Any) -> bool:
    return xp is np or getattr(xp, "__name__", "") == "numpy"


def _array_namespace(a: Any) -> Any | None:
    """The namespace of one array, or None for plain Python data (lists, scalars)."""
    if isinstance(a, (np.ndarray, np.generic)):
        return np
    get = getattr(a, "__array_namespace__", None)
    if get is None:
        return None
    try:
        return get()
    except Exception:  # pragma: no cover - a broken array type
        return None


def namespace_of(*arrays: Any) -> Any | None:
    """The one namespace the given arrays belong to (None when none is an array).

    Raises InvalidArgumentError when the arrays come from two backends.
    """
    found: dict[str, Any] = {}
    for a in arrays:
        if a is None:
            continue
        xp = _array_namespace(a)
        if xp is not None:
            found.setdefault(getattr(xp, "__name__", repr(xp)), xp)
    if len(found) > 1:
        raise InvalidArgumentError(
            f"arrays from two backends were mixed ({', '.join(sorted(found))}); pass all "
            "arrays from one library (e.g. cupy.asarray(...) for each, or all NumPy)."
        )
    return next(iter(found.values()), None)


def resolve_namespace(backend: str | ModuleType | None, *arrays: Any) -> Any:
    """Resolve ``xp`` once: ``backend`` ("numpy", "cupy", a module, or None = from the arrays).

    NumPy input with ``backend="cupy"`` is moved to the GPU by the caller; CuPy input with
    ``backend="numpy"`` is refused (ask for it explicitly with ``to_numpy``).
    """
    inferred = namespace_of(*arrays)
    if backend is None:
        return np if inferred is None else inferred
    xp = get_namespace(backend) if isinstance(backend, str) else backend
    if inferred is not None and not is_numpy(inferred) and inferred is not xp:
        raise InvalidArgumentError(
            f"backend={getattr(xp, '__name__', xp)!r} was asked for but the arrays are "
            f"{getattr(inferred, '__name__', inferred)} arrays; convert them first or leave "
            "backend=None to follow the arrays."
        )
    return xp


def _dtype_name(dtype: Any) -> str:
    """The name of a dtype given as a NumPy/CuPy type, a dtype object, an Array-API dtype
    or a string (an unknown one is refused by :func:`check_float_dtype` by its name)."""
    name = getattr(dtype, "name", None)
    if isinstance(name, str):
        return name
    try:
        return np.dtype(dtype).name
    except TypeError:  # an Array-API module's dtype object, e.g. array_api_strict.float64
        return str(dtype).rsplit(".", 1)[-1]


def check_float_dtype(dtype: Any) -> str:
    """``dtype``'s name, "float32" or "float64"; any other dtype is refused with its reason."""
    name = _dtype_name(dtype)
    _refuse_name(name)
    if name not in ("float32", "float64"):
        raise InvalidArgumentError(
            f"dtype must be a float dtype, float32 or float64; got {name}. Kernels are real "
            "sums of products of gradients: integer (or boolean) arithmetic would cast the "
            "inputs and return a wrong kernel. Pass dtype=np.float32 or np.float64 (or None)."
        )
    return name


def _refuse_name(n: str) -> None:
    if "float16" in n or "bfloat" in n:
        raise InvalidArgumentError(
            f"{n} is too coarse for kernels (a Gram matrix loses every digit); use "
            "float32 or float64 arrays."
        )
    if "complex" in n:
        raise InvalidArgumentError(
            f"{n} arrays are not supported: kernels here are real; pass real float32 or "
            "float64 arrays."
        )


def float_dtype(xp: Any, *arrays: Any, dtype: Any = None) -> Any:
    """The float type the engine computes in: ``dtype`` if given (float32 or float64 only),
    float32 when every float array is float32, else float64. float16 and complex arrays are
    refused."""
    if dtype is not None:
        return getattr(xp, check_float_dtype(dtype))
    names = []
    for a in arrays:
        dt = getattr(a, "dtype", None)
        if dt is not None:
            names.append(str(getattr(dt, "name", dt)))
    for n in names:
        _refuse_name(n)
    floats = [n for n in names if "float" in n]
    if floats and all(n.endswith("float32") for n in floats):
        return xp.float32
    return xp.float64


def to_numpy(a: Any) -> np.ndarray:
    """Bring an array from any backend to a NumPy array (no copy for NumPy input)."""
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "get"):
        return a.get()
    try:
        return np.asarray(a)
    except Exception:
        return np.from_dlpack(a)
