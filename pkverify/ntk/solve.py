"""Solving with H*: Cholesky with a clear refusal, eq. 15's bound, and kernel regression."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, NonFiniteError, ShapeError, SingularKernelError
from ..validation import as_targets
from .assumptions import check_unit_norm
from .limits import two_layer_limit

__all__ = ["MAX_CONDITION", "solve", "generalization_bound", "kernel_regression"]

MAX_CONDITION = 1e10
"""Largest condition number :func:`solve` accepts: a float64 solve loses about log10(cond)
of its ~16 digits, so 1e10 still leaves ~6 correct digits for the claims' comparisons."""


def solve(H: Any, B: Any, what: str = "H*") -> np.ndarray:
    """``H⁻¹ B`` for a symmetric positive-definite kernel matrix, by a Cholesky factorisation.

    Refuses (SingularKernelError, never a NaN) when ``H`` is not finite, not symmetric, not
    positive definite, or has condition number above :data:`MAX_CONDITION` — typically
    duplicate or nearly collinear training points.
    """
    from scipy import linalg

    A = np.asarray(H, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ShapeError(f"{what} must be a square (n, n) matrix; got shape {A.shape}.")
    rhs = np.asarray(B, dtype=np.float64)
    if rhs.shape[0] != A.shape[0]:
        raise ShapeError(
            f"{what} is {A.shape[0]}×{A.shape[0]} but the right-hand side has {rhs.shape[0]} "
            "rows; pass one value per training point."
        )
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(rhs))):
        raise NonFiniteError(f"{what} or the right-hand side contains NaN or inf.")
    scale = max(float(np.max(np.abs(A))), np.finfo(float).tiny)
    if np.max(np.abs(A - A.T)) > 1e-12 * scale:
        raise InvalidArgumentError(f"{what} must be symmetric; it is not (max |H − Hᵀ| too big).")
    eig = np.linalg.eigvalsh(A)
    cond = eig[-1] / eig[0] if eig[0] > 0 else np.inf
    if not cond <= MAX_CONDITION:
        raise SingularKernelError(
            f"{what} is singular or too ill-conditioned to solve (smallest eigenvalue "
            f"{eig[0]:.3g}, largest {eig[-1]:.3g}, condition {cond:.3g} > {MAX_CONDITION:.0e}). "
            "Usually two training points coincide or nearly do: remove duplicates, or use "
            "fewer / better-separated points."
        )
    factor = linalg.cho_factor(A, lower=True, check_finite=False)
    return linalg.cho_solve(factor, rhs, check_finite=False)


def generalization_bound(H: Any, y: Any) -> float:
    """Seed 003 eq. 15: ``sqrt(2 yᵀ H*⁻¹ y · tr H*) / n`` (H* solved by :func:`solve`)."""
    A = np.asarray(H, dtype=np.float64)
    v = np.asarray(y, dtype=np.float64).ravel()
    quad = float(v @ solve(A, v, "H*"))
    return math.sqrt(2.0 * quad * float(np.trace(A))) / A.shape[0]


def kernel_regression(X: Any, y: Any, X_test: Any, activation: str = "softplus",
                      u0: Any = None, u0_test: Any = None) -> np.ndarray:
    """Seed 003 eq. 8 with the initial outputs: ``u0(x) + k(x, X) H*⁻¹ (y − u0)``.

    ``k(x, X) = H*(x, X)`` (:func:`~pkverify.ntk.two_layer_limit`), solved by Cholesky
    (:func:`solve`: a clear error when H* is singular or ill-conditioned). With
    ``u0 = u0_test = None`` this is ``f*(x) = k(x, X) H*⁻¹ y``. Unit-norm inputs only.
    """
    X = check_unit_norm(X, "the kernel-regression limit")
    X_test = check_unit_norm(X_test, "the kernel-regression limit")
    y = as_targets(y, X.shape[0], "y")
    r = y - (0.0 if u0 is None else as_targets(u0, X.shape[0], "u0"))
    base = 0.0 if u0_test is None else as_targets(u0_test, X_test.shape[0], "u0_test")
    coef = solve(two_layer_limit(X, None, activation), r, "H*")
    return base + two_layer_limit(X_test, X, activation) @ coef
