"""Feature maps of the symbolic linear model: polynomial monomials of the inputs (symbolic
and numeric, in the same order) and a user's map of the input symbols, lambdified."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from ..errors import InvalidArgumentError

__all__ = ["polynomial_features"]


def _monomials(dim: int, degree: int) -> list[tuple[int, ...]]:
    """Index tuples of all monomials of total degree 1..degree, degree-major, lexicographic."""
    out: list[tuple[int, ...]] = []
    for k in range(1, degree + 1):
        out.extend(itertools.combinations_with_replacement(range(dim), k))
    return out


def polynomial_features(x: Sequence[sp.Expr], degree: int) -> list[sp.Expr]:
    """All monomials of the inputs of total degree 1..degree (no constant; the bias is it).

    Order: degree-major, then lexicographic in the indices — e.g. d = 2, degree 2 gives
    ``[x_1, x_2, x_1², x_1 x_2, x_2²]``.
    """
    return [sp.Mul(*(x[i] for i in idx)) for idx in _monomials(len(x), degree)]


def _poly_numeric(dim: int, degree: int) -> Callable[[np.ndarray], np.ndarray]:
    combos = _monomials(dim, degree)

    def phi(X):
        import autograd.numpy as anp

        cols = []
        for idx in combos:
            col = X[:, idx[0]]
            for i in idx[1:]:
                col = col * X[:, i]
            cols.append(col)
        return anp.stack(cols, axis=1)

    return phi


def _user_features(features: Callable, x: tuple[sp.Symbol, ...]) -> list[sp.Expr]:
    if not callable(features):
        raise InvalidArgumentError(
            f"features must be a callable mapping the input symbols to a list of expressions; "
            f"got {type(features).__name__}."
        )
    try:
        feats = [sp.sympify(f) for f in features(x)]
    except (TypeError, sp.SympifyError) as exc:
        raise InvalidArgumentError(
            f"features(x) must return a list of SymPy expressions in x; it failed: {exc}"
        ) from exc
    if not feats:
        raise InvalidArgumentError("features(x) returned no features; return at least one.")
    stray = set().union(*(f.free_symbols for f in feats)) - set(x)
    if stray:
        raise InvalidArgumentError(
            f"features may use only the inputs {list(x)}; found {sorted(map(str, stray))}. "
            "Replace other symbols by numbers."
        )
    return feats


def _lambdified_features(feats: list[sp.Expr], x: tuple[sp.Symbol, ...]):
    fns = [sp.lambdify(x, f, modules=["scipy", "numpy"]) for f in feats]

    def phi(X):
        X = np.asarray(X, dtype=float)
        cols = [X[:, j] for j in range(X.shape[1])]
        return np.stack([np.broadcast_to(np.asarray(f(*cols), dtype=float), (X.shape[0],))
                         for f in fns], axis=1)

    return phi
