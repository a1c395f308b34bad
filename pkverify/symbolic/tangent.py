"""Closed-form gradients ``∇_w f`` and tangent kernels ``K^g`` (Domingos 2020, Def. 1).

``K^g_w(x, x') = ∇_w f(w, x) · ∇_w f(w, x') = Σ_blocks Σ_{p ∈ block} ∂_p f(x) ∂_p f(x')``.

Each block (a neuron's ``w_r``, a layer's ``W^h`` or ``b^h``) is summed and then factored on
its own, which is what turns ntk-notes' two-layer kernel into the readable
``(1/m) Σ_r σ'(w_rᵀx) σ'(w_rᵀx') xᵀx'`` (ntk-notes, the sum before eq. 9) in a fraction of a
second per neuron. Derivations are cached per model recipe; :meth:`TangentKernel.__call__`
evaluates the lambdified closed form on arrays (NumPy or CuPy).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ..errors import InvalidArgumentError
from ..validation import as_data, as_weights
from .compile import compile_expr
from .models import SymbolicModel

__all__ = ["TangentKernel", "tangent_kernel", "gradient", "derive", "clear_cache"]


@dataclass(frozen=True, eq=False)
class TangentKernel:
    """The derived closed forms of one model.

    model:     the :class:`SymbolicModel`.
    gradient:  ``∇_w f(w, x)``, one expression per parameter (length P).
    kernel:    ``K^g(x, x')`` over ``params``, ``x`` and ``xp``, simplified block-wise.
    blocks:    ``(label, block kernel)`` — the contribution of each parameter group.
    seconds:   wall-clock time of the derivation.
    """

    model: SymbolicModel
    gradient: tuple[sp.Expr, ...]
    kernel: sp.Expr
    blocks: tuple[tuple[str, sp.Expr], ...]
    seconds: float

    @property
    def args(self) -> tuple[sp.Symbol, ...]:
        """The lambdified argument order: ``params, x, x'``."""
        m = self.model
        return m.params + m.x + m.xp

    def __call__(
        self, w: Any, X1: Any, X2: Any | None = None, backend: str = "numpy"
    ) -> Any:
        """``K^g_w(X1, X2)`` of shape ``(n1, n2)`` from the closed form.

        ``w`` has length P (the numeric model's flat order), ``X1 (n1, d)``, ``X2 (n2, d)``
        (``X1`` when None). With ``backend="cupy"`` the arrays are moved to the GPU and a
        CuPy array is returned.
        """
        m = self.model
        w = as_weights(_numbers(w, "w"), m.n_params)
        X1 = as_data(_numbers(X1, "X1"), m.dim, "X1")
        X2 = None if X2 is None else _numbers(X2, "X2")
        X2 = X1 if X2 is None else as_data(X2, m.dim, "X2")
        fn = compile_expr(self.kernel, self.args, backend)
        if backend == "cupy":
            import cupy as xp  # compile_expr has already checked it is importable
        else:
            xp = np
        A, B = xp.asarray(X1), xp.asarray(X2)
        cols1 = [A[:, None, j] for j in range(m.dim)]
        cols2 = [B[None, :, j] for j in range(m.dim)]
        out = fn(*[float(v) for v in w], *cols1, *cols2)
        return xp.broadcast_to(xp.asarray(out, dtype=xp.float64), (A.shape[0], B.shape[0])).copy()

    def gradient_function(self, backend: str = "numpy"):
        """``(w, X) -> J (n, P)``, the lambdified gradient rows."""
        m = self.model
        fns = [compile_expr(g, m.params + m.x, backend) for g in self.gradient]

        def jac(w: Any, X: Any) -> np.ndarray:
            w = as_weights(_numbers(w, "w"), m.n_params)
            X = as_data(_numbers(X, "X"), m.dim)
            cols = [X[:, j] for j in range(m.dim)]
            ws = [float(v) for v in w]
            return np.stack(
                [np.broadcast_to(np.asarray(f(*ws, *cols), dtype=float), (X.shape[0],))
                 for f in fns], axis=1)

        return jac


def _numbers(values: Any, name: str) -> np.ndarray:
    """``values`` as a float64 array; symbols or strings give a clear InvalidArgumentError."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"{name} must hold numbers to evaluate the closed form; got {values!r:.80}. "
            "Substitute values for symbols first (expr.subs) or pass a float array."
        ) from exc


def gradient(model: SymbolicModel) -> tuple[sp.Expr, ...]:
    """``∇_w f(w, x)``: ``∂f/∂w_p`` for every parameter, in order."""
    return tuple(sp.diff(model.expr, p) for p in model.params)


def _tidy(expr: sp.Expr) -> sp.Expr:
    """Cheap simplification of one block: factor when that is fast, else pull out factors."""
    expr = sp.factor_terms(expr)
    # factor() expands exponentials (erf', sigmoid') and can take a minute on an MLP
    # block; for those factor_terms already pulls σ'(z)σ'(z') out of the sum.
    if sp.count_ops(expr) <= 400 and not expr.has(sp.exp, sp.tanh):
        try:
            return sp.factor(expr, deep=False)
        except sp.PolynomialError:
            return expr
    return expr


_CACHE: dict[tuple, TangentKernel] = {}
_CACHE_SIZE = 64


def _derive(model: SymbolicModel) -> TangentKernel:
    start = time.perf_counter()
    grad = gradient(model)
    sub = dict(zip(model.x, model.xp))
    blocks = []
    for label, a, b in model.blocks:
        part = sum((grad[p] * grad[p].xreplace(sub) for p in range(a, b)), sp.S.Zero)
        blocks.append((label, _tidy(part)))
    kernel = sp.Add(*(k for _, k in blocks))
    return TangentKernel(model, grad, kernel, tuple(blocks), time.perf_counter() - start)


def clear_cache() -> None:
    """Forget every derived tangent kernel (benchmarks time cold derivations with it)."""
    _CACHE.clear()


def tangent_kernel(model: SymbolicModel) -> TangentKernel:
    """Derive ``∇_w f`` and ``K^g(x, x')`` for ``model`` (cached on its recipe).

    ``K^g(x, x') = Σ_p ∂f(w,x)/∂w_p · ∂f(w,x')/∂w_p`` (Domingos 2020, Def. 1); for the
    two-layer net of ntk-notes this is ``(1/m) Σ_r a_r² σ'(w_rᵀx) σ'(w_rᵀx') xᵀx'``.
    """
    if not isinstance(model, SymbolicModel):
        raise InvalidArgumentError(
            f"tangent_kernel needs a SymbolicModel (from pkverify.symbolic.two_layer, mlp "
            f"or linear); got {type(model).__name__}."
        )
    key = (model.name, model.activation, model.expr, model.params)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))  # drop the oldest derivation
        _CACHE[key] = _derive(model)
    return _CACHE[key]


def derive(kind: str, **kwargs: Any) -> TangentKernel:
    """Build the model ``kind`` (see :func:`pkverify.symbolic.models.build`) and derive it."""
    from .models import build

    return tangent_kernel(build(kind, **kwargs))
