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

import autograd.numpy as anp
import numpy as np

from .errors import unknown_name

__all__ = [
    "ACTIVATIONS",
    "DERIVATIVES",
    "activation",
    "c_sigma",
    "check_activation",
    "SMOOTH",
    "KINKED",
]


def _relu(z):
    return anp.maximum(z, 0.0)


def _sigmoid(z):
    return 0.5 * (anp.tanh(0.5 * z) + 1.0)


def _softplus(z):
    return anp.logaddexp(0.0, z)


def _identity(z):
    return z


def _erf(z):
    # autograd.scipy (and with it scipy.stats, ~1 s) loads on the first erf, not at import
    from autograd.scipy.special import erf

    return erf(z)


def _square(z):
    return z * z


ACTIVATIONS: dict[str, Callable] = {
    "relu": _relu,
    "tanh": anp.tanh,
    "softplus": _softplus,
    "erf": _erf,
    "sigmoid": _sigmoid,
    "identity": _identity,
}
"""The activations the numeric models accept, by name."""


def _d_relu(z):
    # autograd's convention for max(z, 0) at the tie z = 0 is ½; keep it so both agree
    return np.where(z > 0, 1.0, np.where(z < 0, 0.0, 0.5))


def _d_sigmoid(z):
    s = 0.5 * (np.tanh(0.5 * z) + 1.0)
    return s * (1.0 - s)


DERIVATIVES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": _d_relu,
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
    "softplus": lambda z: 0.5 * (np.tanh(0.5 * z) + 1.0),
    "erf": lambda z: (2.0 / math.sqrt(math.pi)) * np.exp(-z * z),
    "sigmoid": _d_sigmoid,
    "identity": lambda z: np.ones_like(z),
}
"""σ' in closed form (plain NumPy), for the layer-wise Jacobians of the built-in models."""

KINKED = frozenset({"relu"})
"""Activations whose derivative jumps (at z = 0): exact quadrature must split there."""

SMOOTH = frozenset(ACTIVATIONS) - KINKED


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
    sigma = ACTIVATIONS[name]

    def integrand(z: float) -> float:
        return float(sigma(np.float64(z))) ** 2 * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    from scipy import integrate

    second_moment, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13)
    return 1.0 / second_moment
