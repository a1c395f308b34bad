"""Turn closed forms into array functions: ``lambdify`` to NumPy or CuPy, cached.

``compile_expr(expr, args, backend)`` returns a function of ``len(args)`` arrays. ReLU's
``max(0, z)`` and ``Heaviside(z)`` (with ``Heaviside(0) = 1/2``, autograd's tie rule) are
mapped to ``xp.maximum`` / ``xp.where`` so that the same code runs on either backend; ``erf``
comes from ``scipy.special`` (NumPy) or ``cupyx.scipy.special`` (CuPy). CuPy is imported
only when asked for; a missing CuPy raises :class:`~pkverify.errors.BackendMissingError`.

Compiled functions are cached on ``(expr, args, backend)`` — SymPy expressions are
hashable — so re-compiling the same closed form costs one dictionary look-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import sympy as sp

from ..backend import get_namespace
from .activations import relu

__all__ = ["compile_expr", "step_half", "cache_info", "clear_cache"]


class step_half(sp.Function):  # noqa: N801 - a printed name in generated code
    """``Heaviside(z)`` with value 1/2 at 0, printed as a plain function for lambdify."""

    nargs = 1


def _namespace(backend: str) -> dict[str, Any]:
    xp = get_namespace(backend)  # raises BackendMissingError for a missing CuPy
    if backend == "cupy":
        from cupyx.scipy.special import erf
    else:
        from scipy.special import erf

    def _relu(z):
        return xp.maximum(z, 0.0)

    def _step(z):
        return xp.where(z > 0, 1.0, xp.where(z < 0, 0.0, 0.5))

    return {"relu": _relu, "step_half": _step, "erf": erf}


def _prepare(expr: sp.Expr) -> sp.Expr:
    return expr.replace(sp.Heaviside, lambda *a: step_half(a[0]))


@lru_cache(maxsize=512)
def _compiled(expr: sp.Expr, args: tuple[sp.Symbol, ...], backend: str) -> Callable:
    ns = _namespace(backend)
    return sp.lambdify(args, _prepare(expr), modules=[ns, backend], cse=True)


def compile_expr(
    expr: sp.Expr, args: Sequence[sp.Symbol], backend: str = "numpy"
) -> Callable[..., Any]:
    """``lambdify(args, expr)`` for ``backend`` ("numpy" or "cupy"), cached.

    The returned function takes one array (or scalar) per symbol in ``args`` and
    broadcasts them like ``xp`` does. ``relu`` is kept as a function, so a closed form
    with ``max(0, z)`` compiles without ``Piecewise``.
    """
    _ = relu  # the relu class must be importable for the printer to see the name
    return _compiled(sp.sympify(expr), tuple(args), backend)


def cache_info():
    """The ``functools`` cache statistics of compiled functions."""
    return _compiled.cache_info()


def clear_cache() -> None:
    """Forget every compiled function (for benchmarks)."""
    _compiled.cache_clear()
