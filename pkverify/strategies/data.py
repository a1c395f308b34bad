"""Strategies that draw training data: bounded float64 rows with duplicate and collinear points."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from ..errors import InvalidArgumentError
from ..validation import positive_float
from ._arguments import Range, as_range


def _coordinates(scale: float) -> SearchStrategy[float]:
    return st.floats(-scale, scale, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def _rows(
    draw: st.DrawFn, n: int, d: int, scale: float, duplicates: bool, collinear: bool
) -> np.ndarray:
    """n rows in ``[-scale, scale]^d``; each later row may copy an earlier one (duplicate) or
    lie on the line through earlier ones (collinear: on the segment between two rows, or on
    the line through one row and the origin)."""
    X = np.empty((n, d))
    kinds = ["fresh"]
    if duplicates:
        kinds.append("duplicate")
    if collinear:
        kinds += ["segment", "through_origin"]
    for i in range(n):
        kind = draw(st.sampled_from(kinds)) if i > 0 else "fresh"
        if kind == "fresh" or (kind == "segment" and i < 2):
            X[i] = draw(st.lists(_coordinates(scale), min_size=d, max_size=d))
        elif kind == "duplicate":
            X[i] = X[draw(st.integers(0, i - 1))]
        elif kind == "segment":  # x_j + t (x_k − x_j), t ∈ [0, 1]: stays inside the box
            j, k = draw(st.lists(st.integers(0, i - 1), min_size=2, max_size=2, unique=True))
            t = draw(st.floats(0.0, 1.0))
            X[i] = X[j] + t * (X[k] - X[j])
        else:  # t x_j, t ∈ [−1, 1]: collinear with x_j and the origin
            X[i] = draw(st.floats(-1.0, 1.0)) * X[draw(st.integers(0, i - 1))]
    return X


@st.composite
def _datasets(
    draw: st.DrawFn,
    n: tuple[int, int],
    dim: tuple[int, int],
    duplicates: bool,
    collinear: bool,
    scale: float,
    targets: str,
) -> tuple[np.ndarray, np.ndarray]:
    rows = draw(st.integers(*n))
    d = draw(st.integers(*dim))
    X = draw(_rows(rows, d, scale, duplicates, collinear))
    if targets == "binary":
        values = st.sampled_from([0.0, 1.0])
    else:
        values = _coordinates(scale)
    Y = np.array(draw(st.lists(values, min_size=rows, max_size=rows)), dtype=np.float64)
    return X, Y


def datasets(
    n: Range = (1, 16),
    dim: Range = (1, 5),
    duplicates: bool = True,
    collinear: bool = True,
    scale: float = 2.0,
    targets: str = "real",
) -> SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """A training set ``(X (n, d), Y (n,))`` of finite float64 values in ``[-scale, scale]``.

    ``n`` and ``dim`` are ints or inclusive ``(min, max)`` pairs. With ``duplicates`` some
    rows repeat earlier rows exactly (possibly with different targets); with ``collinear``
    some rows lie on a segment between two earlier rows or on the line through an earlier
    row and the origin (so Gram matrices are singular). ``targets``: ``"real"`` (values in
    ``[-scale, scale]``, for mse) or ``"binary"`` (0/1, for the logistic loss). Magnitudes
    are bounded so that training at a moderate step stays stable.
    """
    n_range = as_range(n, "n")
    d_range = as_range(dim, "dim")
    scale = positive_float(scale, "scale")
    if targets not in ("real", "binary"):
        raise InvalidArgumentError(f"targets must be 'real' or 'binary'; got {targets!r}.")
    return _datasets(n_range, d_range, bool(duplicates), bool(collinear), scale, targets)
