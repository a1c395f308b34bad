"""Activation functions σ, written with autograd.numpy, and their NTK constants.

``c_σ = 1 / E_{z~N(0,1)}[σ(z)²]`` (ntk-notes, eq. 16) normalises each hidden layer so that
``E‖g^h(x)‖² = ‖x‖²`` at initialisation. It is computed by adaptive quadrature against the
Gaussian density (exact closed forms where they exist: relu 2, identity 1,
erf ``π / (2 arcsin(2/3))``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import Any

import autograd.numpy as anp
import numpy as np

from .errors import BackendMissingError, unknown_name

__all__ = [
    "ACTIVATIONS",
    "DERIVATIVES",
    "NAMES",
    "activation",
    "c_sigma",
    "check_activation",
    "elementwise",
    "derivative_from_output",
    "SMOOTH",
    "KINKED",
]

NAMES = ("relu", "tanh", "softplus", "erf", "sigmoid", "identity")
"""The activations the numeric models accept."""

KINKED = frozenset({"relu"})
"""Activations whose derivative jumps (at z = 0): exact quadrature must split there."""

SMOOTH = frozenset(NAMES) - KINKED


def _erf_autograd(z):
    # autograd.scipy costs ~1 s to import; load it on the first erf call only
    from autograd.scipy.special import erf

    return erf(z)


def _autograd_table() -> dict[str, Callable]:
    return {
        "relu": lambda z: anp.maximum(z, 0.0),
        "tanh": anp.tanh,
        "softplus": lambda z: anp.logaddexp(0.0, z),
        "erf": _erf_autograd,
        "sigmoid": lambda z: 0.5 * (anp.tanh(0.5 * z) + 1.0),
        "identity": lambda z: z,
    }


ACTIVATIONS: dict[str, Callable] = _autograd_table()
"""σ by name, written with autograd.numpy (differentiable by autograd; plain on arrays)."""


def _erf_of(xp: Any) -> Callable:
    name = getattr(xp, "__name__", "")
    if name == "numpy":
        from scipy.special import erf

        return erf
    if name.startswith("cupy"):
        try:
            from cupyx.scipy.special import erf as cupy_erf
        except ImportError as exc:  # pragma: no cover - needs CuPy
            raise BackendMissingError(
                "activation 'erf' on CuPy needs cupyx.scipy.special; install CuPy fully."
            ) from exc
        return cupy_erf
    erf = getattr(xp, "erf", None)
    if erf is None:
        raise BackendMissingError(
            f"activation 'erf' needs an erf function, which the array namespace {name!r} "
            "lacks; use NumPy or CuPy arrays, or another activation."
        )
    return erf


def _table(xp: Any) -> dict[str, tuple[Callable, Callable]]:
    """(σ, σ') for every activation in the array namespace ``xp`` (Array API functions only,
    so NumPy, CuPy and any Array-API-conforming namespace work)."""

    # autograd's convention for relu'(0), the tie of max(z, 0), is ½; keep it so both agree
    if xp is np:
        # NumPy: no fresh zeros/ones arrays (calloc'd pages fault on their first read: the
        # generic forms below took 1.7 ms each on an (8, 8192) array, these 0.03 and 0.2 ms)
        def relu(z):
            return np.maximum(z, 0.0)

        def d_relu(z):
            d = (z > 0).astype(z.dtype)
            d[z == 0] = 0.5
            return d

    else:

        def relu(z):
            return xp.where(z > 0, z, xp.zeros_like(z))

        def d_relu(z):
            one, zero = xp.ones_like(z), xp.zeros_like(z)
            return xp.where(z > 0, one, xp.where(z < 0, zero, 0.5 * one))

    def sigmoid(z):
        return 0.5 * (xp.tanh(0.5 * z) + 1.0)

    def d_sigmoid(z):
        s = sigmoid(z)
        return s * (1.0 - s)

    def softplus(z):
        return xp.logaddexp(xp.zeros_like(z), z)

    def d_tanh(z):
        t = xp.tanh(z)
        return 1.0 - t * t

    def erf(z):
        return _erf_of(xp)(z)

    def d_erf(z):
        return (2.0 / math.sqrt(math.pi)) * xp.exp(-z * z)

    return {
        "relu": (relu, d_relu),
        "tanh": (xp.tanh, d_tanh),
        "softplus": (softplus, sigmoid),
        "erf": (erf, d_erf),
        "sigmoid": (sigmoid, d_sigmoid),
        "identity": (lambda z: z, xp.ones_like),
    }


def _from_output_table(xp: Any) -> dict[str, Callable[[Any, Any], Any]]:
    """σ'(z) given z and g = σ(z), using g where that saves a transcendental function."""
    d = _table(xp)
    return {
        "relu": lambda z, g: d["relu"][1](z),
        "tanh": lambda z, g: 1.0 - g * g,
        "softplus": lambda z, g: -xp.expm1(-g),  # σ'(z) = 1 − e^{−softplus(z)}
        "erf": lambda z, g: d["erf"][1](z),
        "sigmoid": lambda z, g: g * (1.0 - g),
        "identity": lambda z, g: xp.ones_like(z),
    }


_FROM_OUTPUT: dict[int, dict[str, Callable[[Any, Any], Any]]] = {}


def derivative_from_output(name: str, xp: Any = np) -> Callable[[Any, Any], Any]:
    """``σ'(z, g)`` for activation ``name`` in namespace ``xp``, where ``g = σ(z)`` is known
    (the forward pass's output): tanh ``1 − g²``, sigmoid ``g(1 − g)``, softplus
    ``1 − e^{−g}``; relu, erf and identity use z."""
    check_activation(name)
    key = id(xp)
    if key not in _FROM_OUTPUT:
        _FROM_OUTPUT[key] = _from_output_table(xp)
    return _FROM_OUTPUT[key][name]


_TABLES: dict[int, dict[str, tuple[Callable, Callable]]] = {}


def elementwise(name: str, xp: Any = np) -> tuple[Callable, Callable]:
    """``(σ, σ')`` for activation ``name`` in array namespace ``xp``.

    ``xp = autograd.numpy`` gives σ differentiable by autograd (σ' is then not needed).
    """
    check_activation(name)
    if xp is anp:
        return ACTIVATIONS[name], _table(np)[name][1]
    key = id(xp)
    if key not in _TABLES:
        _TABLES[key] = _table(xp)
    return _TABLES[key][name]


DERIVATIVES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    n: pair[1] for n, pair in _table(np).items()
}
"""σ' in closed form (plain NumPy)."""


def check_activation(name: str) -> str:
    """Return ``name`` if it is a known activation; UnknownNameError otherwise."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise unknown_name("activation", name, tuple(ACTIVATIONS))
    return name


def activation(name: str) -> Callable:
    """The autograd-differentiable function σ called ``name``."""
    return ACTIVATIONS[check_activation(name)]


_EXACT_C = {
    "relu": 2.0,
    "identity": 1.0,
    "erf": math.pi / (2.0 * math.asin(2.0 / 3.0)),
}


@cache
def c_sigma(name: str) -> float:
    """``c_σ = 1 / E_{z~N(0,1)}[σ(z)²]`` (ntk-notes eq. 16)."""
    check_activation(name)
    if name in _EXACT_C:
        return _EXACT_C[name]
    from scipy import integrate

    sigma = elementwise(name, np)[0]

    def integrand(z: float) -> float:
        value = float(sigma(np.asarray(z, dtype=np.float64)))
        return value**2 * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    second_moment, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13)
    return 1.0 / second_moment
