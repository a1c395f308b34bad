"""Infinite-width kernels: the two-layer H* of ntk-notes eq. 9 and the deep NTK (eqs. 16–23).

Both functions take data ``X1 (n1, d)``, ``X2 (n2, d)`` (``X2 = X1`` when None) and return
``(n1, n2)`` float64 matrices; the expectations are the dual kernels of :mod:`.dual`. They
are computed in blocks of rows of X1 (upper-triangle blocks, mirrored, for a Gram), so that
temporaries stay below :data:`BLOCK_ELEMENTS` floats whatever n; a bar shows the blocks.

Before any work both refuse (ResourceError) an output that does not fit in memory, and an
input whose quadrature would take more than :data:`MAX_QUADRATURE_WORK` evaluations: the
trapezoid step of tanh, softplus and sigmoid shrinks like ``1/‖x‖`` to stay accurate, so
its cost grows like ``n₁n₂·‖x‖²`` — raw 0–255 pixel rows (‖x‖² ≈ 10⁷) would take days.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..activations import c_sigma, check_activation
from ..errors import InvalidArgumentError, ResourceError, ShapeError, unknown_name
from ..progress import progress
from ..validation import as_data, as_flag, check_memory
from .dual import CLOSED_FORM, dual_kernels, quadrature_nodes, quadrature_step

__all__ = ["two_layer_limit", "mlp_limit", "KINDS", "BLOCK_ELEMENTS", "MAX_QUADRATURE_WORK"]

KINDS = ("ntk", "nngp")

BLOCK_ELEMENTS = 2**22
"""Floats one quadrature temporary of a block may hold (32 MiB; a block keeps about 6)."""

CLOSED_TEMPS = 4
"""A closed form's block holds about 4× the temporaries of one quadrature node column."""

BLOCK_WORK = 1e8
"""Integrand evaluations one block may take (about a second): the progress bar's step."""

MAX_QUADRATURE_WORK = 5e10
"""Largest number of integrand evaluations (pairs × nodes² × expectations) a quadrature
kernel may take: about 10 minutes at ~10 ns per evaluation. Unit-norm inputs cost about 4·65²
≈ 1.7e4 per pair and layer, so this allows ~3e6 pairs (2,500 points) at depth 1."""


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


def _check_size(n1: int, n2: int, what: str) -> None:
    """Refuse an ``(n1, n2)`` float64 output (plus one block) that does not fit in memory."""
    check_memory(
        8.0 * (n1 * n2 + 6 * BLOCK_ELEMENTS),
        f"{what} on {n1} × {n2} points (an {n1} × {n2} float64 matrix)",
        "Use fewer points, or compute the kernel in blocks of rows (X1 = X[i:j]).",
    )


def _check_work(name: str, pairs: float, variances: list[float], expectations: int,
                what: str) -> None:
    """Refuse a quadrature whose integrand evaluations exceed :data:`MAX_QUADRATURE_WORK`."""
    if name in CLOSED_FORM:
        return
    work = sum(expectations * pairs * quadrature_nodes(s) ** 2 for s in variances)
    if work > MAX_QUADRATURE_WORK:
        big = max(variances)
        raise ResourceError(
            f"{what} with activation {name!r} is a 2-D quadrature whose step shrinks like "
            f"1/‖x‖: at the largest variance here ({big:.3g}, i.e. ‖x‖ ≈ {big**0.5:.3g}) it "
            f"needs {quadrature_nodes(big)}² nodes per pair, {work:.2g} evaluations in all "
            f"(the limit is {MAX_QUADRATURE_WORK:.0e}, about 10 minutes). Scale the inputs "
            "first — X = pkverify.ntk.unit_rows(X) for the ntk-notes' unit-norm setting, or "
            "X / X.max() for pixels — or use relu / erf (closed forms, any norm), or fewer "
            "points."
        )


# ---------------------------------------------------------------------------------------
# blocks of rows
# ---------------------------------------------------------------------------------------

Block = Callable[[slice, slice], np.ndarray]


def _blockwise(n1: int, n2: int, symmetric: bool, block: Block, width: int, work: float,
               desc: str, show: bool | None) -> np.ndarray:
    """``out[rows, cols] = block(rows, cols)`` over blocks of rows; a Gram (``symmetric``)
    computes rows ``lo:hi`` against columns ``lo:`` only and mirrors them (exactly
    symmetric). A block holds at most :data:`BLOCK_ELEMENTS` floats per temporary (``width``
    per pair) and :data:`BLOCK_WORK` integrand evaluations (``work`` per pair), so that the
    bar moves about every second."""
    out = np.empty((n1, n2))
    rows = max(1, min(BLOCK_ELEMENTS // max(1, n2 * width), int(BLOCK_WORK // max(1.0, n2 * work))))
    starts = range(0, n1, rows)
    for lo in progress(starts, total=len(starts), desc=desc, enabled=show, unit="block"):
        hi = min(n1, lo + rows)
        if not symmetric:
            out[lo:hi] = block(slice(lo, hi), slice(0, n2))
            continue
        part = block(slice(lo, hi), slice(lo, n2))
        out[lo:hi, lo:] = part
        out[hi:, lo:hi] = part[:, hi - lo:].T
        square = out[lo:hi, lo:hi]
        lower = np.tril_indices(hi - lo, -1)
        square[lower] = square.T[lower]  # the diagonal block from its upper triangle
    return out


def _inner(A: np.ndarray, B: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    """``x_iᵀx'_j`` of a block, summed as the variances ``‖x‖² = np.sum(x*x)`` are, so that a
    repeated point gets ``ρ = 1`` exactly (a matmul may differ by an ulp, and relu's
    ``arccos(1 − 1e-16)`` is 1.5e-8, not 0)."""
    return np.sum(A[rows, None, :] * B[None, cols, :], axis=2)


def _show(flag: Any) -> bool | None:
    return None if flag is None else as_flag(flag, "progress")


# ---------------------------------------------------------------------------------------
# the kernels
# ---------------------------------------------------------------------------------------


def two_layer_limit(X1: Any, X2: Any | None = None, activation: str = "relu", *,
                    progress: bool | None = None) -> np.ndarray:
    """ntk-notes eq. 9: ``H*_ij = x_iᵀx_j · E_{w~N(0,I)}[σ'(wᵀx_i) σ'(wᵀx_j)]``.

    The width→∞ tangent kernel of ``pkverify.models.two_layer`` (first layer trained, fixed
    ``a_r = ±1``, scale ``m^{-1/2}``), for inputs of any norm: ``(wᵀx, wᵀx')`` is Gaussian
    with ``Λ = [[‖x‖², xᵀx'], [xᵀx', ‖x'‖²]]``. ReLU: ``xᵀx' (π − arccos ρ) / (2π)`` with
    ``ρ = xᵀx' / (‖x‖‖x'‖)``; erf: ``xᵀx' (4/π) / √((1+2‖x‖²)(1+2‖x'‖²) − 4(xᵀx')²)``.
    tanh, softplus, sigmoid: quadrature, whose cost grows like ‖x‖² (refused above
    :data:`MAX_QUADRATURE_WORK`, see the module). ``progress``: a bar over blocks of rows
    (None: on a terminal).
    """
    A, B = _pair(X1, X2)
    name = check_activation(activation)
    _, D = dual_kernels(name)
    show = _show(progress)
    symmetric = X2 is None
    na, nb = np.sum(A * A, axis=1), np.sum(B * B, axis=1)
    top = float(max(np.max(na), np.max(nb)))
    n1, n2 = A.shape[0], B.shape[0]
    _check_size(n1, n2, "two_layer_limit")
    _check_work(name, n1 * n2 / (2 if symmetric else 1), [top], 1, "two_layer_limit")
    step = quadrature_step(top)

    def block(rows: slice, cols: slice) -> np.ndarray:
        c = _inner(A, B, rows, cols)
        return c * D(na[rows, None], nb[None, cols], c, step=step)

    nodes = CLOSED_TEMPS if name in CLOSED_FORM else quadrature_nodes(top)
    work = 0.0 if name in CLOSED_FORM else float(quadrature_nodes(top)) ** 2
    return _blockwise(n1, n2, symmetric, block, max(nodes, A.shape[1]), work,
                      "two_layer_limit", show)


def mlp_limit(
    X1: Any,
    X2: Any | None = None,
    depth: int = 1,
    activation: str = "relu",
    kind: str = "ntk",
    *,
    progress: bool | None = None,
) -> np.ndarray:
    """Width→∞ kernel of ``pkverify.models.mlp([d] + [m]*depth + [1], activation, bias=False)``.

    ntk-notes eqs. 16–23 (arora2019) with the first layer unscaled::

        Σ^(0)(x, x') = xᵀx',   Λ^(h) = [[Σ^(h-1)(x,x), Σ^(h-1)(x,x')], [·, Σ^(h-1)(x',x')]]
        Σ^(h)  = c_σ E_{(u,v)~N(0,Λ^(h))}[σ(u) σ(v)]            (NNGP, eq. 23)
        Σ̇^(h) = c_σ E_{(u,v)~N(0,Λ^(h))}[σ'(u) σ'(v)]
        Θ^(1) = Σ^(0),   Θ^(h+1) = Σ^(h) + Θ^(h) Σ̇^(h)          (from eqs. 19–22)

    ``kind="ntk"`` returns ``Θ^(L+1)`` (the tangent kernel over all weights), ``kind="nngp"``
    returns ``Σ^(L)`` (the covariance of the output at initialisation).

    Inputs of any norm: the recursion is defined for all x (the lemmas' unit-norm assumption
    is not needed here), and relu, erf and identity cost the same at every norm. tanh,
    softplus and sigmoid are integrated by quadrature whose step shrinks like ``1/√Σ^(h)(x,x)``
    (the first layer's variance is ‖x‖²), so their cost grows like ‖x‖²: a run that would
    exceed :data:`MAX_QUADRATURE_WORK` evaluations is refused with a ResourceError naming
    the fix (``pkverify.ntk.unit_rows``), as is an output that does not fit in memory.
    ``progress``: a bar over blocks of rows (None: on a terminal).
    """
    A, B = _pair(X1, X2)
    L = _depth(depth)
    if kind not in KINDS:
        raise unknown_name("kind", kind, KINDS)
    name = check_activation(activation)
    V, D = dual_kernels(name)
    cs = c_sigma(name)
    show = _show(progress)
    symmetric = X2 is None
    n1, n2 = A.shape[0], B.shape[0]
    _check_size(n1, n2, "mlp_limit")
    # Σ^(h)(x, x) of every row, level by level: n evaluations per level, cheap
    if name not in CLOSED_FORM:  # the diagonals' own quadrature must be affordable too
        top = float(max(np.max(np.sum(A * A, axis=1)), np.max(np.sum(B * B, axis=1))))
        _check_work(name, n1 + n2, [top], 1, "mlp_limit")
    diag_a = _diagonals(np.sum(A * A, axis=1), V, cs, L)
    diag_b = diag_a if symmetric else _diagonals(np.sum(B * B, axis=1), V, cs, L)
    # the quadrature step of each level's pair expectations, from the largest variance
    tops = [float(max(np.max(da), np.max(db))) for da, db in zip(diag_a, diag_b)]
    _check_work(name, n1 * n2 / (2 if symmetric else 1), tops[:L], 2, "mlp_limit")
    steps = [quadrature_step(t) for t in tops]

    def block(rows: slice, cols: slice) -> np.ndarray:
        sig = _inner(A, B, rows, cols)  # Σ^(0)(x, x')
        theta = sig.copy()
        for h in range(L):
            a, b = diag_a[h][rows, None], diag_b[h][None, cols]
            new_sig = cs * V(a, b, sig, step=steps[h])
            theta = new_sig + theta * (cs * D(a, b, sig, step=steps[h]))
            sig = new_sig
        return theta if kind == "ntk" else sig

    closed = name in CLOSED_FORM
    nodes = CLOSED_TEMPS if closed else max(quadrature_nodes(t) for t in tops[:L])
    work = 0.0 if closed else 2.0 * sum(float(quadrature_nodes(t)) ** 2 for t in tops[:L])
    return _blockwise(n1, n2, symmetric, block, max(nodes, A.shape[1]), work, "mlp_limit", show)


def _diagonals(first: np.ndarray, V: Callable, cs: float, L: int) -> list[np.ndarray]:
    """``[Σ^(0)(x,x), ..., Σ^(L)(x,x)]`` for each row (eq. 23 on the diagonal)."""
    out = [first]
    for _ in range(L):
        d = out[-1]
        out.append(cs * V(d, d, d, step=quadrature_step(float(np.max(d)))))
    return out
