"""The ntk-notes' lemmas' assumptions on their inputs, checked before any work.

Inputs of unit norm (``‖x_i‖ = 1``, refused otherwise: rescaling changes the network's
function, so the caller does it knowingly with :func:`unit_rows`), and no more training points
than the two-layer net has first-layer weights (:func:`check_width`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..validation import as_data

__all__ = ["UNIT_NORM_TOL", "unit_rows", "check_unit_norm", "check_width"]

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


def check_width(n: int, width: int, dim: int) -> None:
    """Refuse ``n > m·d``: H(t) is the Gram of n gradients in ``R^{m·d}``, rank ≤ m·d < n."""
    if n > width * dim:
        need = -(-n // dim)
        raise InvalidArgumentError(
            f"{n} training points need more than the width supports: m = {width} units on "
            f"d = {dim} inputs give m·d = {width * dim} trainable weights, so H(t) has rank "
            f"≤ {width * dim} < n and the net cannot fit the labels. Use width ≥ {need} "
            "(the lemmas want m ≫ n), or fewer points."
        )
