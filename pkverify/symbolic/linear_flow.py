"""The linear model's gradient flow under MSE, solved in closed form (domingos2020 §3).

``f(w, x) = w·φ̃(x)`` with ``φ̃ = (φ, 1)`` when there is a bias. With the loss
``½ Σ_i (f(w, x_i) − y*_i)²`` the flow is the linear ODE

    dw/dt = −A w + Φ̃ᵀ y*,   A = Φ̃ᵀ Φ̃,   w(0) = w_0,

solved exactly as ``w(t) = e^{−At} w_0 + (∫_0^t e^{−As} ds) Φ̃ᵀ y*`` (SymPy's matrix
exponential). Along it the tangent kernel never changes, ``K^g = φ̃(x)·φ̃(x')``, so the path
kernel is ``K^p = T φ̃(x)·φ̃(x')`` and Theorem 1 holds exactly with ``a_i`` independent of x
(Remark 1): ``f(w(T), x) = f(w_0, x) − Σ_i ℓ̄'_i K^p(x, x_i)``, ``ℓ̄'_i = (1/T)∫_0^T ℓ'_i dt``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp

from ..errors import InvalidArgumentError, SymbolicError
from . import models as sm
from .steps import Method, Step, StepResults, verify_steps

__all__ = ["LinearFlow", "solve_linear_flow", "linear_flow_steps", "verify_linear_flow"]

DEFAULT_X = ((-1,), (1,), (2,))  # with the bias, A = [[6, 2], [2, 3]]: eigenvalues 7 and 2
DEFAULT_Y = (1, -1, 2)


@dataclass(frozen=True, eq=False)
class LinearFlow:
    """The solved flow.

    model:   the symbolic linear model (params ``w``, inputs ``x``).
    X, y:    the rational training data (n rows).
    t, T:    time symbols; ``w0`` the initial-weight symbols.
    w_t:     ``w(t)`` as a column Matrix over ``t`` and ``w0``.
    A, rhs:  ``Φ̃ᵀΦ̃`` and ``Φ̃ᵀy*``.
    """

    model: sm.SymbolicModel
    X: tuple[tuple[sp.Rational, ...], ...]
    y: tuple[sp.Rational, ...]
    t: sp.Symbol
    T: sp.Symbol
    w0: tuple[sp.Symbol, ...]
    w_t: sp.Matrix
    A: sp.Matrix
    rhs: sp.Matrix

    def features(self, point: Sequence[Any]) -> sp.Matrix:
        """``φ̃(point)`` = ∇_w f (the same at every w)."""
        return sp.Matrix([sp.diff(self.model.at(point), p) for p in self.model.params])

    def output(self, point: Sequence[Any], time: sp.Expr) -> sp.Expr:
        """``f(w(time), point)``."""
        return (self.features(point).T * self.w_t.subs(self.t, time))[0, 0]

    def weights_function(self):
        """Lambdified ``(t, w0) -> w(t)`` (NumPy), for comparison with a numeric ODE solver."""
        fn = sp.lambdify((self.t, *self.w0), list(self.w_t), "numpy")
        return lambda t, w0: np.array(fn(float(t), *map(float, w0)), dtype=float)


def _rationals(values: Any, name: str) -> list:
    try:
        arr = [sp.Rational(str(v)) if not isinstance(v, sp.Rational) else v for v in values]
    except (TypeError, ValueError, sp.SympifyError) as exc:
        raise InvalidArgumentError(
            f"{name} must be plain numbers (ints, floats or fractions); got {values!r}."
        ) from exc
    return arr


@lru_cache(maxsize=8)
def solve_linear_flow(
    X: tuple[tuple[Any, ...], ...] = DEFAULT_X, y: tuple[Any, ...] = DEFAULT_Y,
    bias: bool = True,
) -> LinearFlow:
    """Solve the MSE gradient flow of the linear model on data ``(X, y)`` exactly.

    ``X`` is a tuple of rows (at most 3 rows of at most 2 numbers, so the matrix exponential
    stays small); entries become exact rationals. Symbols are not accepted as data, and
    ``Φ̃ᵀΦ̃`` must have rational eigenvalues (surds make SymPy's simplification take minutes).
    """
    rows = [tuple(_rationals(r, "X rows")) for r in X]
    if not rows or len(rows) > 3 or len({len(r) for r in rows}) != 1 or len(rows[0]) > 2:
        raise SymbolicError(
            "the symbolic linear flow takes 1–3 data rows of equal length 1 or 2; "
            f"got {X!r}. Larger problems: use pkverify.train numerically."
        )
    yv = _rationals(y, "y")
    if len(yv) != len(rows):
        raise InvalidArgumentError(f"y needs one target per row of X: {len(rows)}; got {len(yv)}.")
    model = sm.linear(len(rows[0]), bias=bias)
    P = model.n_params
    Phi = sp.Matrix([[sp.diff(model.at(r), p) for p in model.params] for r in rows])
    A = Phi.T * Phi
    rhs = Phi.T * sp.Matrix(yv)
    if not all(ev.is_Rational for ev in A.eigenvals()):
        raise SymbolicError(
            f"the data give Φ̃ᵀΦ̃ = {A.tolist()} with irrational eigenvalues "
            f"{list(A.eigenvals())}; SymPy then needs minutes to simplify the solution. "
            "Choose data whose Gram matrix has rational eigenvalues (the default "
            "X = ((-1,), (1,), (2,)) gives 7 and 2), or solve the flow numerically."
        )
    t = sp.Symbol("t", nonnegative=True)
    T = sp.Symbol("T", positive=True)
    s = sp.Symbol("s", nonnegative=True)
    w0 = tuple(sp.Symbol(f"{p}_0", real=True) for p in model.params)
    E = (-A * t).exp()
    Es = (-A * s).exp()
    integral = Es.applyfunc(lambda e: sp.integrate(e, (s, 0, t)))
    w_t = sp.simplify(E * sp.Matrix(w0) + integral * rhs)
    if w_t.shape != (P, 1):  # pragma: no cover - a SymPy shape surprise
        raise SymbolicError("the flow solution has the wrong shape")
    return LinearFlow(model, tuple(rows), tuple(yv), t, T, w0, w_t, A, rhs)


def linear_flow_steps(flow: LinearFlow | None = None, flip: bool = False) -> list[Step]:
    """The four checked facts: ODE solved, constant kernel, ``K^p = Tφ̃·φ̃'``, exact Theorem 1.

    ``flip=True`` builds Theorem 1 with ``a_i = +ℓ̄'_i`` (must fail).
    """
    fl = flow or solve_linear_flow()
    m, t, T = fl.model, fl.t, fl.T
    x = m.x
    ode = sp.diff(fl.w_t, t) - (-fl.A * fl.w_t + fl.rhs)
    init = fl.w_t.subs(t, 0) - sp.Matrix(fl.w0)
    grad_path = sp.Matrix([sp.diff(m.expr, p) for p in m.params]).xreplace(
        dict(zip(m.params, fl.w_t)))
    phi_x = fl.features(x)
    phi_xp = fl.features(m.xp)
    Kg = (grad_path.T * grad_path.xreplace(dict(zip(x, m.xp))))[0, 0]
    Kp = sp.integrate(Kg, (t, 0, T))
    dot = (phi_x.T * phi_xp)[0, 0]
    y_T = fl.output(x, T)
    y_0 = fl.output(x, 0)
    sign = 1 if flip else -1
    method: Method = "auto"  # rational eigenvalues (checked when solving): simplify is quick
    machine = y_0
    for xi, yi in zip(fl.X, fl.y):
        resid_i = fl.output(xi, t) - yi  # ℓ'_i = f(x_i) − y*_i for ½(f − y*)²
        lbar = sp.integrate(resid_i, (t, 0, T)) / T
        Kp_i = T * (phi_x.T * fl.features(xi))[0, 0]
        machine = machine + sign * lbar * Kp_i
    return [
        Step("ode", "w(t) solves the gradient-flow ODE dw/dt = −Φ̃ᵀ(Φ̃w − y*) with w(0) = w₀.",
             r"\frac{dw}{dt} = -\tilde\Phi^\top(\tilde\Phi w - y^*),\quad w(0)=w_0",
             (ode, init), "substitute w(t) into the ODE and at t = 0", method=method),
        Step("constant_kernel",
             "The gradient ∇_w f = φ̃(x) does not depend on w, so K^g is the same all along "
             "the path.",
             r"K^g_{w(t)}(x, x') = \tilde\phi(x)\cdot\tilde\phi(x')",
             (Kg - dot, sp.diff(grad_path, t)), "K^g at w(t) minus φ̃·φ̃'; d/dt of ∇f",
             method=method),
        Step("path_kernel", "Integrating a constant over [0, T] multiplies it by T.",
             r"K^p(x, x') = \int_0^T K^g dt = T\,\tilde\phi(x)\cdot\tilde\phi(x')",
             (Kp - T * dot,), "SymPy integrates K^g over [0, T]", method=method),
        Step("theorem1_exact",
             "Theorem 1 holds exactly: the trained linear model is y₀ − Σ_i ℓ̄'_i K^p(x, x_i) "
             "with ℓ̄'_i the time-average of f(x_i) − y*_i, independent of x.",
             r"f(w(T), x) = f(w_0, x) - \sum_i \bar\ell'_i\, T\,\tilde\phi(x)\cdot\tilde\phi(x_i)",
             (y_T - machine,), "the solved flow at T minus the kernel machine", method=method),
    ]


@lru_cache(maxsize=4)
def verify_linear_flow(flip: bool = False) -> StepResults:
    """Verify :func:`linear_flow_steps` on the default data (cached)."""
    return verify_steps(linear_flow_steps(None, flip))
