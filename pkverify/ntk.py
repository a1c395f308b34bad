"""Infinite-width kernels: the two-layer H* of ntk-notes eq. 9 and the deep NTK (eqs. 16–23).

All functions take data ``X1 (n1, d)``, ``X2 (n2, d)`` (``X2 = X1`` when None) and return
``(n1, n2)`` float64 matrices. Every expectation is over a centred Gaussian pair

    (u, v) ~ N(0, Λ),   Λ = [[a, c], [c, b]],

computed in closed form where one exists and by 2-D quadrature otherwise:

* relu (arc-cosine kernels; θ = arccos(c / √(ab))):
  ``E[σ(u)σ(v)] = √(ab) (sin θ + (π − θ) cos θ) / (2π)``, ``E[σ'(u)σ'(v)] = (π − θ) / (2π)``;
* erf (arcsine kernels): ``E[σ(u)σ(v)] = (2/π) arcsin(2c / √((1+2a)(1+2b)))``,
  ``E[σ'(u)σ'(v)] = (4/π) / √((1+2a)(1+2b) − 4c²)``;
* identity: ``E[uv] = c``, ``E[1·1] = 1``;
* tanh, softplus, sigmoid: a 2-D trapezoid rule on the whitened pair (Cholesky of Λ),
  exponentially accurate for these analytic functions.

Conventions match :mod:`pkverify.models`: relu'(0) = 1/2 (autograd's tie rule), so a zero
input gives ``E[σ'σ'] = 1/4``; it is multiplied by ``xᵀx' = 0`` in H* anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special

from .activations import c_sigma, check_activation
from .errors import InvalidArgumentError, NonFiniteError, ShapeError, unknown_name
from .validation import as_data

__all__ = [
    "two_layer_limit",
    "mlp_limit",
    "gaussian_expectation",
    "dual_kernels",
    "KINDS",
    "solve",
    "generalization_bound",
    "check_unit_norm",
    "unit_rows",
    "MAX_CONDITION",
]

KINDS = ("ntk", "nngp")


# ---------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------


def _pair(X1: Any, X2: Any | None) -> tuple[np.ndarray, np.ndarray]:
    A = as_data(X1, None, "X1")
    if X2 is None:
        return A, A
    B = as_data(X2, None, "X2")
    if A.shape[1] != B.shape[1]:
        raise ShapeError(
            f"X1 and X2 must have the same number of columns d; got {A.shape[1]} and "
            f"{B.shape[1]}. Both must be points of the same input space."
        )
    return A, B


def _depth(depth: Any) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)):
        raise InvalidArgumentError(
            f"depth must be an integer ≥ 1 (the number of hidden layers); got {depth!r}."
        )
    if depth < 1:
        raise InvalidArgumentError(
            f"depth must be ≥ 1 (the number of hidden layers L); got {depth}. "
            "depth=1 is the net [d, m, 1]."
        )
    return int(depth)


# ---------------------------------------------------------------------------------------
# Gaussian expectations
# ---------------------------------------------------------------------------------------


def gaussian_expectation(
    g1: Callable[[np.ndarray], np.ndarray],
    g2: Callable[[np.ndarray], np.ndarray],
    a: Any,
    b: Any,
    c: Any,
    step: float | None = None,
    cutoff: float = 8.5,
) -> np.ndarray:
    """``E[g1(u) g2(v)]`` for ``(u, v) ~ N(0, [[a, c], [c, b]])`` by a 2-D trapezoid rule.

    ``a, b, c`` broadcast together. With the Cholesky factor, ``u = √a z₁`` and
    ``v = (c/√a) z₁ + √(b − c²/a) z₂`` for independent standard normals; both are
    integrated on ``[−cutoff, cutoff]`` with step ``h``. For integrands analytic in a strip
    ``|Im z| < d`` the trapezoid rule on the line converges like ``exp(−2πd/h)``: tanh,
    sigmoid and softplus have their nearest singularity at ``d ≥ π/(2√s)`` for variance ``s``,
    so the default ``h = π/(12√max(1, a, b))`` gives about 1e-13 (measured against h = 0.01)
    (Gauss–Hermite with a fixed node count loses accuracy once ``σ(√s z)`` is step-like);
    the cut-off 8.5 drops Gaussian mass below 1e-16. Cost: ``(2·8.5/h)²`` evaluations
    per pair, i.e. it grows linearly with the largest variance.
    """
    a, b, c = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c)))
    big = float(max(1.0, np.max(a, initial=0.0), np.max(b, initial=0.0)))
    h = float(step) if step is not None else math.pi / (12.0 * math.sqrt(big))
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


def _relu_value(a, b, c):
    root, rho, theta, _ = _arccos_parts(a, b, c)
    return root * (np.sqrt(1.0 - rho**2) + (math.pi - theta) * rho) / (2.0 * math.pi)


def _relu_deriv(a, b, c):
    _, _, theta, pos = _arccos_parts(a, b, c)
    return np.where(pos, (math.pi - theta) / (2.0 * math.pi), 0.25)


def _erf_value(a, b, c):
    arg = 2.0 * c / np.sqrt((1.0 + 2.0 * a) * (1.0 + 2.0 * b))
    return (2.0 / math.pi) * np.arcsin(np.clip(arg, -1.0, 1.0))


def _erf_deriv(a, b, c):
    det = (1.0 + 2.0 * a) * (1.0 + 2.0 * b) - 4.0 * c**2
    return (4.0 / math.pi) / np.sqrt(det)


_CLOSED: dict[str, tuple[Callable, Callable]] = {
    "relu": (_relu_value, _relu_deriv),
    "erf": (_erf_value, _erf_deriv),
    "identity": (lambda a, b, c: np.asarray(c, dtype=float) + 0.0 * a,
                 lambda a, b, c: np.ones(np.broadcast(a, b, c).shape)),
}


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
    :func:`gaussian_expectation` otherwise.
    """
    name = check_activation(activation)
    if name in _CLOSED:
        return _CLOSED[name]
    s, ds = _numeric_pair(name)

    def V(a, b, c):
        return gaussian_expectation(s, s, a, b, c)

    def D(a, b, c):
        return gaussian_expectation(ds, ds, a, b, c)

    return V, D


# ---------------------------------------------------------------------------------------
# the kernels
# ---------------------------------------------------------------------------------------


def two_layer_limit(X1: Any, X2: Any | None = None, activation: str = "relu") -> np.ndarray:
    """ntk-notes eq. 9: ``H*_ij = x_iᵀx_j · E_{w~N(0,I)}[σ'(wᵀx_i) σ'(wᵀx_j)]``.

    The width→∞ tangent kernel of ``pkverify.models.two_layer`` (first layer trained, fixed
    ``a_r = ±1``, scale ``m^{-1/2}``), for inputs of any norm: ``(wᵀx, wᵀx')`` is Gaussian
    with ``Λ = [[‖x‖², xᵀx'], [xᵀx', ‖x'‖²]]``. ReLU: ``xᵀx' (π − arccos ρ) / (2π)`` with
    ``ρ = xᵀx' / (‖x‖‖x'‖)``; erf: ``xᵀx' (4/π) / √((1+2‖x‖²)(1+2‖x'‖²) − 4(xᵀx')²)``.
    """
    A, B = _pair(X1, X2)
    _, D = dual_kernels(activation)
    symmetric = X2 is None
    ia, jb = _pairs(A.shape[0], B.shape[0], symmetric)
    a = np.sum(A * A, axis=1)[ia]
    b = np.sum(B * B, axis=1)[jb]
    c = np.sum(A[ia] * B[jb], axis=1)
    return _unpack(c * D(a, b, c), ia, jb, A.shape[0], B.shape[0], symmetric)


def mlp_limit(
    X1: Any,
    X2: Any | None = None,
    depth: int = 1,
    activation: str = "relu",
    kind: str = "ntk",
) -> np.ndarray:
    """Width→∞ kernel of ``pkverify.models.mlp([d] + [m]*depth + [1], activation, bias=False)``.

    ntk-notes eqs. 16–23 (arora2019) with the first layer unscaled::

        Σ^(0)(x, x') = xᵀx',   Λ^(h) = [[Σ^(h-1)(x,x), Σ^(h-1)(x,x')], [·, Σ^(h-1)(x',x')]]
        Σ^(h)  = c_σ E_{(u,v)~N(0,Λ^(h))}[σ(u) σ(v)]            (NNGP, eq. 23)
        Σ̇^(h) = c_σ E_{(u,v)~N(0,Λ^(h))}[σ'(u) σ'(v)]
        Θ^(1) = Σ^(0),   Θ^(h+1) = Σ^(h) + Θ^(h) Σ̇^(h)          (from eqs. 19–22)

    ``kind="ntk"`` returns ``Θ^(L+1)`` (the tangent kernel over all weights), ``kind="nngp"``
    returns ``Σ^(L)`` (the covariance of the output at initialisation).
    """
    A, B = _pair(X1, X2)
    L = _depth(depth)
    if kind not in KINDS:
        raise unknown_name("kind", kind, KINDS)
    V, D = dual_kernels(activation)
    cs = c_sigma(check_activation(activation))
    symmetric = X2 is None
    ia, jb = _pairs(A.shape[0], B.shape[0], symmetric)
    da = np.sum(A * A, axis=1)  # Σ^(h)(x, x) for the rows of X1
    db = da if symmetric else np.sum(B * B, axis=1)
    sig = np.sum(A[ia] * B[jb], axis=1)  # Σ^(h)(x, x') for each pair
    theta = sig.copy()
    for _ in range(L):
        a, b = da[ia], db[jb]
        new_sig = cs * V(a, b, sig)
        theta = new_sig + theta * (cs * D(a, b, sig))
        da = cs * V(da, da, da)
        db = da if symmetric else cs * V(db, db, db)
        sig = new_sig
    out = theta if kind == "ntk" else sig
    return _unpack(out, ia, jb, A.shape[0], B.shape[0], symmetric)


def _pairs(n1: int, n2: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays of the pairs to compute: the upper triangle when X2 is X1."""
    if symmetric:
        return np.triu_indices(n1)
    ia, jb = np.meshgrid(np.arange(n1), np.arange(n2), indexing="ij")
    return ia.ravel(), jb.ravel()


def _unpack(vals: np.ndarray, ia, jb, n1: int, n2: int, symmetric: bool) -> np.ndarray:
    K = np.empty((n1, n2))
    K[ia, jb] = vals
    if symmetric:
        K[jb, ia] = vals
    return K


# ---------------------------------------------------------------------------------------
# solving with H*, and the assumptions of the ntk-notes' lemmas
# ---------------------------------------------------------------------------------------

MAX_CONDITION = 1e10
"""Largest condition number :func:`solve` accepts: a float64 solve loses about log10(cond)
of its ~16 digits, so 1e10 still leaves ~6 correct digits for the claims' comparisons."""

UNIT_NORM_TOL = 1e-8
"""How far ‖x‖ may be from 1 for a lemma that assumes unit-norm inputs (rounding after a
normalisation is ~1e-16; anything beyond 1e-8 is data that was not normalised)."""


def unit_rows(X: Any) -> np.ndarray:
    """``X`` with every row divided by its Euclidean norm (rows of norm 0 are refused)."""
    A = as_data(X, None, "X")
    norms = np.linalg.norm(A, axis=1)
    if np.any(norms == 0.0):
        raise InvalidArgumentError(
            f"X has {int(np.sum(norms == 0.0))} all-zero row(s), which cannot be scaled to "
            "unit norm; remove them."
        )
    return A / norms[:, None]


def check_unit_norm(X: Any, what: str = "the ntk-notes' lemmas") -> np.ndarray:
    """``X`` as data if every row has ``‖x‖ = 1`` (to :data:`UNIT_NORM_TOL`); refuse otherwise.

    pkverify refuses rather than normalising silently: rescaling the inputs changes the
    network's function and kernel, so the caller should do it knowingly (:func:`unit_rows`).
    """
    A = as_data(X, None, "X")
    norms = np.linalg.norm(A, axis=1)
    bad = np.flatnonzero(np.abs(norms - 1.0) > UNIT_NORM_TOL)
    if bad.size:
        shown = ", ".join(f"row {i}: {norms[i]:.4g}" for i in bad[:4])
        raise InvalidArgumentError(
            f"{what} assume unit-norm inputs ‖x_i‖ = 1; {bad.size} of {len(A)} rows are not "
            f"({shown}{', ...' if bad.size > 4 else ''}). Normalise them first: "
            "X = pkverify.ntk.unit_rows(X) (X / np.linalg.norm(X, axis=1, keepdims=True))."
        )
    return A


def solve(H: Any, B: Any, what: str = "H*") -> np.ndarray:
    """``H⁻¹ B`` for a symmetric positive-definite kernel matrix, by a Cholesky factorisation.

    Refuses (SingularKernelError, never a NaN) when ``H`` is not finite, not symmetric, not
    positive definite, or has condition number above :data:`MAX_CONDITION` — typically
    duplicate or nearly collinear training points.
    """
    from scipy import linalg

    from .errors import SingularKernelError

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
