"""Summing evaluation rows back onto their query rows (the per-row exact rule evaluates
every (row, node) pair as its own row)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["scatter_rows"]


def scatter_rows(xp: Any, vals: Any, rows: np.ndarray, weights: np.ndarray, q: int,
                 axis: int = 0) -> Any:
    """``out[..., r, ...] = Σ_{e: rows[e] = r} weights[e] · vals[..., e, ...]`` along ``axis``
    (a dense (q, R) matrix product, so it works in any namespace)."""
    M = np.zeros((q, rows.size))
    M[rows, np.arange(rows.size)] = weights
    Mx = xp.asarray(M, dtype=vals.dtype)
    moved = xp.moveaxis(vals, axis, 0) if hasattr(xp, "moveaxis") else vals
    shape = tuple(moved.shape)
    out = Mx @ xp.reshape(moved, (shape[0], -1))
    out = xp.reshape(out, (q,) + shape[1:])
    return xp.moveaxis(out, 0, axis) if hasattr(xp, "moveaxis") else out
