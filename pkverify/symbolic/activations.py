"""Symbolic activations σ and their derivatives σ' (SymPy).

Each activation is a :class:`SymActivation`: ``sigma(z)`` and ``dsigma(z)`` are SymPy
expressions, and ``c_sigma`` is the NTK constant ``c_σ = 1 / E_{z~N(0,1)}[σ(z)²]`` of ntk-notes
eq. 16 — exact where a closed form exists (relu 2, identity 1, square 1/3,
erf ``π / (2 arcsin(2/3))``), otherwise the float64 value of :func:`pkverify.activations.c_sigma`.

ReLU is the function class :class:`relu` (printed ``max(0, z)``) whose derivative is
``Heaviside(z)`` with ``Heaviside(0) = 1/2``, which matches autograd's tie rule for
``maximum(z, 0)``. ``relu_piecewise`` gives the same function as a ``Piecewise`` for display.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from ..errors import unknown_name

__all__ = ["SymActivation", "SYM_ACTIVATIONS", "sym_activation", "relu", "relu_piecewise"]


class relu(sp.Function):  # noqa: N801 - lower case reads like the other σ names
    """``relu(z) = max(0, z)``; ``relu'(z) = Heaviside(z)`` (``Heaviside(0) = 1/2``)."""

    nargs = 1

    @classmethod
    def eval(cls, z):  # noqa: D102 - SymPy hook
        if z.is_Number:
            return z if z > 0 else sp.S.Zero
        if z.is_nonnegative:
            return z
        if z.is_nonpositive:
            return sp.S.Zero
        return None

    def fdiff(self, argindex: int = 1):  # noqa: D102 - SymPy hook
        return sp.Heaviside(self.args[0])

    def _latex(self, printer) -> str:
        return r"\max\left(0, %s\right)" % printer._print(self.args[0])

    def _pretty(self, printer):
        return printer._print(sp.Max(0, self.args[0], evaluate=False))

    def _sympystr(self, printer) -> str:
        return "max(0, %s)" % printer._print(self.args[0])

    def _eval_rewrite_as_Piecewise(self, z, **kwargs):
        return sp.Piecewise((z, z > 0), (0, True))

    def _eval_evalf(self, prec):
        z = self.args[0].evalf(prec)
        if z.is_Number:
            return z if z > 0 else sp.Float(0, prec)
        return None


def relu_piecewise(z: sp.Expr) -> sp.Piecewise:
    """ReLU written as ``Piecewise((z, z > 0), (0, True))``, for display."""
    return sp.Piecewise((z, z > 0), (0, True))


@dataclass(frozen=True)
class SymActivation:
    """A symbolic activation: ``sigma(z)``, ``dsigma(z)`` and the exact-or-float ``c_sigma``."""

    name: str
    sigma: Callable[[sp.Expr], sp.Expr]
    c_sigma: sp.Expr
    numeric: bool  # True when pkverify.activations knows it (numeric models can use it)

    def dsigma(self, z: sp.Expr) -> sp.Expr:
        """``σ'(z)``, by SymPy differentiation of ``σ``."""
        t = sp.Dummy("t")
        return sp.diff(self.sigma(t), t).subs(t, z)


def _numeric_c(name: str) -> sp.Expr:
    from ..activations import c_sigma

    return sp.Float(c_sigma(name), 17)


def _build() -> dict[str, SymActivation]:
    def softplus(z):
        return sp.log(1 + sp.exp(z))

    def sigmoid(z):
        return 1 / (1 + sp.exp(-z))

    return {
        "relu": SymActivation("relu", relu, sp.Integer(2), True),
        "tanh": SymActivation("tanh", sp.tanh, _numeric_c("tanh"), True),
        "softplus": SymActivation("softplus", softplus, _numeric_c("softplus"), True),
        "erf": SymActivation("erf", sp.erf, sp.pi / (2 * sp.asin(sp.Rational(2, 3))), True),
        "sigmoid": SymActivation("sigmoid", sigmoid, _numeric_c("sigmoid"), True),
        "identity": SymActivation("identity", lambda z: z, sp.Integer(1), True),
        # E[z^4] = 3 for z ~ N(0, 1), so c_σ = 1/3.
        "square": SymActivation("square", lambda z: z**2, sp.Rational(1, 3), False),
    }


SYM_ACTIVATIONS: dict[str, SymActivation] = _build()
"""Every activation the symbolic engine knows, by name (``square`` is symbolic-only)."""


def sym_activation(name: str) -> SymActivation:
    """The symbolic activation called ``name``; UnknownNameError listing the known ones."""
    if not isinstance(name, str) or name not in SYM_ACTIVATIONS:
        raise unknown_name("activation", name, tuple(SYM_ACTIVATIONS))
    return SYM_ACTIVATIONS[name]
