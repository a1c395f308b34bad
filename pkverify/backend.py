"""Array namespace: NumPy by default, CuPy when installed and asked for.

autograd differentiates NumPy code only, so Jacobians are always taken with NumPy; CuPy is
used where kernels are contracted from Jacobians or evaluated from closed forms. CuPy is
imported lazily, only when ``get_namespace("cupy")`` is called.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from .errors import BackendMissingError, unknown_name

__all__ = ["get_namespace", "cupy_available", "to_numpy"]

_BACKENDS = ("numpy", "cupy")


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy  # noqa: F401

        return cupy.cuda.runtime.getDeviceCount() > 0
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


def to_numpy(a: Any) -> np.ndarray:
    """Bring an array from any backend to a NumPy array (no copy for NumPy input)."""
    if hasattr(a, "get") and not isinstance(a, np.ndarray):
        return a.get()
    return np.asarray(a)
