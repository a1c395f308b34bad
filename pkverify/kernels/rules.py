"""Rules for the time integral along a path, and the quadratures in τ of the exact rule."""

from __future__ import annotations

import math
from enum import Enum
from functools import cache

import numpy as np

from ..errors import InvalidArgumentError, unknown_name
from ..trajectory import Trajectory

__all__ = [
    "Rule",
    "parse_rule",
    "node_weights",
    "gauss_legendre",
    "clenshaw_curtis",
    "fejer2",
    "CC_LEVELS",
]

CC_LEVELS = (4, 8, 16, 32, 64)
"""Interval counts N of the nested Clenshaw–Curtis rules the adaptive exact rule climbs:
each level's N + 1 nodes contain every node of the level before, so a step that needs more
nodes keeps the ones already evaluated."""


class Rule(str, Enum):
    """How the time integral along the path is discretised.

    RIEMANN    left sum ``Σ_s ε_s K^g_{w_s}``: the paper's discretisation of gradient descent.
               Symmetric and PSD. Against the GD-trained model its error is O(ε).
    TRAPEZOID  ``Σ_s ε_s (K^g_{w_s} + K^g_{w_{s+1}})/2``. Symmetric and PSD. Against the GD
               model still O(ε) (GD itself is a first-order scheme); against the flow
               integral on a sampled flow path, O(h²).
    SIMPSON    composite Simpson over the recorded times (uneven spacing allowed); full-batch
               paths only. O(h⁴) against the flow integral on a sampled flow path.
    EXACT      the discrete-step form ``ε_s ∫_0^1 ∇f(w_s + τΔ_s, x) dτ · ∇f(w_s, x_i)``
               [bell2023]: nested Clenshaw–Curtis in τ, adaptive until each step's identity
               ``f(w_{s+1}, x) − f(w_s, x) = ∫∇f·Δ_s`` holds to rounding; relu nets split
               each step at every kink, row by row, with Gauss–Legendre exact per piece.
               Reproduces the GD/SGD-trained model to rounding at any ε. Not symmetric in
               its two arguments; not defined for flow paths.
    """

    RIEMANN = "riemann"
    TRAPEZOID = "trapezoid"
    SIMPSON = "simpson"
    EXACT = "exact"


def parse_rule(rule: str | Rule) -> Rule:
    """The Rule called ``rule``; UnknownNameError listing the rules otherwise."""
    if isinstance(rule, Rule):
        return rule
    try:
        return Rule(rule)
    except ValueError:
        raise unknown_name("path-kernel rule", rule, [r.value for r in Rule]) from None


def node_weights(traj: Trajectory, rule: Rule, indicators: bool) -> np.ndarray:
    """Per-node, per-training-point weights ``C (S+1, n)`` of a node rule.

    ``Σ_s C[s, i] g(w_s)`` approximates ``∫ I_i(t) g(w(t)) dt``. Without ``indicators`` every
    ``I_i = 1``. For SGD the trapezoid uses step s's batch on both ends of step s.
    """
    from scipy.integrate import simpson

    S, n = traj.batches.shape
    eps = traj.step_sizes
    I = traj.batches.astype(np.float64) if indicators else np.ones((S, n))
    C = np.zeros((S + 1, n))
    if rule is Rule.RIEMANN:
        C[:S] = eps[:, None] * I
    elif rule is Rule.TRAPEZOID:
        half = 0.5 * eps[:, None] * I
        C[:S] += half
        C[1:] += half
    elif rule is Rule.SIMPSON:
        if indicators and not traj.batches.all():
            raise InvalidArgumentError(
                "rule 'simpson' needs a full-batch path; this path used mini-batches. "
                "Use rule='exact' (or 'riemann') for SGD paths."
            )
        if S < 2:
            raise InvalidArgumentError("rule 'simpson' needs at least 2 intervals on the path.")
        w = simpson(np.eye(S + 1), x=traj.times, axis=1)
        C[:] = w[:, None]
    else:  # pragma: no cover - EXACT is not a node rule
        raise InvalidArgumentError("the exact rule has no node weights")
    return C


def gauss_legendre(nodes: int, a: float = 0.0, b: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on ``[a, b]`` (exact to degree ``2·nodes − 1``)."""
    x, w = _leggauss(nodes)
    half = 0.5 * (b - a)
    return a + half * (x + 1.0), half * w


@cache
def _leggauss(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(nodes)


@cache
def clenshaw_curtis(N: int) -> tuple[np.ndarray, np.ndarray]:
    """Clenshaw–Curtis on ``[0, 1]`` with N intervals (N even): nodes ``(1 − cos(jπ/N))/2``,
    j = 0..N, and weights (Waldvogel 2006, explicit form). Exact to degree N; node j of
    level N is node 2j of level 2N (nested)."""
    if N < 2 or N % 2:
        raise InvalidArgumentError(f"Clenshaw–Curtis needs an even N ≥ 2; got {N}.")
    j = np.arange(N + 1)
    theta = j * math.pi / N
    w = np.ones(N + 1)
    for k in range(1, N // 2 + 1):
        b = 1.0 if k == N // 2 else 2.0
        w -= b * np.cos(2.0 * k * theta) / (4.0 * k * k - 1.0)
    c = np.full(N + 1, 2.0)
    c[0] = c[-1] = 1.0
    w = c * w / N  # weights on [-1, 1]
    return 0.5 * (1.0 - np.cos(theta)), 0.5 * w


@cache
def fejer2(N: int) -> tuple[np.ndarray, np.ndarray]:
    """Fejér's second rule on ``[0, 1]``: the N − 1 interior Clenshaw–Curtis nodes
    ``(1 − cos(jπ/N))/2``, j = 1..N−1, with weights
    ``(2/N) sin θ_j Σ_{k=1}^{N/2} sin((2k−1)θ_j)/(2k−1)`` (on [0, 1]). Nested like
    Clenshaw–Curtis, exact to degree N − 1, and never evaluates at a piece's ends — where a
    located kink sits and the gradient takes either side's value."""
    if N < 2 or N % 2:
        raise InvalidArgumentError(f"Fejér's rule needs an even N ≥ 2; got {N}.")
    j = np.arange(1, N)
    theta = j * math.pi / N
    s = np.zeros(N - 1)
    for k in range(1, N // 2 + 1):
        s += np.sin((2 * k - 1) * theta) / (2 * k - 1)
    return 0.5 * (1.0 - np.cos(theta)), (2.0 / N) * np.sin(theta) * s
