"""Dual kernels ``E[σ(u)σ(v)]`` and ``E[σ'(u)σ'(v)]`` over a centred Gaussian pair.

    (u, v) ~ N(0, Λ),   Λ = [[a, c], [c, b]]

computed in closed form where one exists and by 2-D quadrature otherwise:

* relu (arc-cosine kernels; θ = arccos(c / √(ab))):
  ``E[σ(u)σ(v)] = √(ab) (sin θ + (π − θ) cos θ) / (2π)``, ``E[σ'(u)σ'(v)] = (π − θ) / (2π)``;
* erf (arcsine kernels): ``E[σ(u)σ(v)] = (2/π) arcsin(2c / √((1+2a)(1+2b)))``,
  ``E[σ'(u)σ'(v)] = (4/π) / √((1+2a)(1+2b) − 4c²)``;
* identity: ``E[uv] = c``, ``E[1·1] = 1``;
* tanh, softplus, sigmoid: a 2-D trapezoid rule on the whitened pair (Cholesky of Λ),
  exponentially accurate for these analytic functions; its cost grows linearly with the
  largest variance (:func:`quadrature_nodes`).

Conventions match :mod:`pkverify.models`: relu'(0) = 1/2 (autograd's tie rule), so a zero
input gives ``E[σ'σ'] = 1/4``; it is multiplied by ``xᵀx' = 0`` in H* anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special

from ..activations import check_activation
from ..errors import unknown_name

__all__ = ["gaussian_expectation", "dual_kernels", "quadrature_step", "quadrature_nodes",
           "CLOSED_FORM", "CUTOFF"]

CUTOFF = 8.5
"""Half-width of the quadrature box in standard deviations: drops Gaussian mass below 1e-16."""


def quadrature_step(variance: float) -> float:
    """The trapezoid step ``h = π/(12√max(1, s))`` for a largest variance ``s``.

    For integrands analytic in a strip ``|Im z| < d`` the trapezoid rule on the line converges
    like ``exp(−2πd/h)``: tanh, sigmoid and softplus have their nearest singularity at
    ``d ≥ π/(2√s)``, so this h gives about 1e-13 (measured against h = 0.01).
    """
    return math.pi / (12.0 * math.sqrt(max(1.0, float(variance))))


def quadrature_nodes(variance: float) -> int:
    """Nodes per axis of :func:`gaussian_expectation` at a largest variance ``s``:
    ``2⌈8.5/h⌉ + 1`` — 65 at ``s ≤ 1``, about 65·√s beyond; a pair costs their square."""
    return 2 * int(math.ceil(CUTOFF / quadrature_step(variance))) + 1


def gaussian_expectation(
    g1: Callable[[np.ndarray], np.ndarray],
    g2: Callable[[np.ndarray], np.ndarray],
    a: Any,
    b: Any,
    c: Any,
    step: float | None = None,
    cutoff: float = CUTOFF,
) -> np.ndarray:
    """``E[g1(u) g2(v)]`` for ``(u, v) ~ N(0, [[a, c], [c, b]])`` by a 2-D trapezoid rule.

    ``a, b, c`` broadcast together. With the Cholesky factor, ``u = √a z₁`` and
    ``v = (c/√a) z₁ + √(b − c²/a) z₂`` for independent standard normals; both are
    integrated on ``[−cutoff, cutoff]`` with step ``h`` (default :func:`quadrature_step` of
    the largest of a, b). Gauss–Hermite with a fixed node count would lose accuracy once
    ``σ(√s z)`` is step-like, so the step shrinks like ``1/√s`` instead; the cost,
    ``(2·8.5/h)²`` evaluations per pair, grows linearly with the largest variance.
    """
    a, b, c = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c)))
    if step is None:
        step = quadrature_step(max(np.max(a, initial=0.0), np.max(b, initial=0.0)))
    h = float(step)
    n = int(math.ceil(cutoff / h))
    z = np.arange(-n, n + 1) * h
    wts = h * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    sa = np.sqrt(np.maximum(a, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(sa > 0, c / np.where(sa > 0, sa, 1.0), 0.0)
    gamma = np.sqrt(np.maximum(b - beta**2, 0.0))
    out = np.zeros(a.shape)
    for z1, w1 in zip(z, wts):
        v = beta[..., None] * z1 + gamma[..., None] * z
        out += w1 * g1(sa * z1) * (g2(v) @ wts)
    return out


def _arccos_parts(a: np.ndarray, b: np.ndarray, c: np.ndarray):
    ab = a * b
    pos = ab > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(pos, c / np.sqrt(np.where(pos, ab, 1.0)), 0.0)
    rho = np.clip(rho, -1.0, 1.0)
    return np.sqrt(np.maximum(ab, 0.0)), rho, np.arccos(rho), pos


def _relu_value(a, b, c, step=None):
    root, rho, theta, _ = _arccos_parts(a, b, c)
    return root * (np.sqrt(1.0 - rho**2) + (math.pi - theta) * rho) / (2.0 * math.pi)


def _relu_deriv(a, b, c, step=None):
    _, _, theta, pos = _arccos_parts(a, b, c)
    return np.where(pos, (math.pi - theta) / (2.0 * math.pi), 0.25)


def _erf_value(a, b, c, step=None):
    arg = 2.0 * c / np.sqrt((1.0 + 2.0 * a) * (1.0 + 2.0 * b))
    return (2.0 / math.pi) * np.arcsin(np.clip(arg, -1.0, 1.0))


def _erf_deriv(a, b, c, step=None):
    det = (1.0 + 2.0 * a) * (1.0 + 2.0 * b) - 4.0 * c**2
    return (4.0 / math.pi) / np.sqrt(det)


def _identity_value(a, b, c, step=None):
    return np.asarray(c, dtype=float) + 0.0 * a


def _identity_deriv(a, b, c, step=None):
    return np.ones(np.broadcast(a, b, c).shape)


CLOSED_FORM: dict[str, tuple[Callable, Callable]] = {
    "relu": (_relu_value, _relu_deriv),
    "erf": (_erf_value, _erf_deriv),
    "identity": (_identity_value, _identity_deriv),
}
"""Activations whose dual kernels are closed forms: their cost does not depend on the inputs'
norm."""


def _numeric_pair(name: str) -> tuple[Callable, Callable]:
    if name == "tanh":
        return np.tanh, lambda z: 1.0 / np.cosh(z) ** 2
    if name == "softplus":
        return (lambda z: np.logaddexp(0.0, z)), special.expit
    if name == "sigmoid":
        return special.expit, (lambda z: special.expit(z) * special.expit(-z))
    raise unknown_name("activation", name, ("relu", "erf", "identity", "tanh", "softplus",
                                            "sigmoid"))


def dual_kernels(activation: str) -> tuple[Callable, Callable]:
    """``(V, D)`` with ``V(a,b,c) = E[σ(u)σ(v)]`` and ``D(a,b,c) = E[σ'(u)σ'(v)]``.

    Closed forms for relu, erf, identity; the 2-D trapezoid rule of
    :func:`gaussian_expectation` otherwise. Both accept ``step=`` (the quadrature step;
    ignored by the closed forms).
    """
    name = check_activation(activation)
    if name in CLOSED_FORM:
        return CLOSED_FORM[name]
    s, ds = _numeric_pair(name)

    def V(a, b, c, step=None):
        return gaussian_expectation(s, s, a, b, c, step)

    def D(a, b, c, step=None):
        return gaussian_expectation(ds, ds, a, b, c, step)

    return V, D
