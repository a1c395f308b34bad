"""Walking a stored path: one row or one step at a time, a chunk of rows read at a time.

:func:`iter_rows` yields ``(s, w_s)``; :func:`iter_steps` yields ``(s, w_s, w_{s+1})`` for the
sums over steps (``Δ_s = w_{s+1} − w_s``), carrying one row across each chunk boundary (a
copy, so the previous chunk is freed). Both read through the store's
:meth:`~pkverify.stores.base.PathStore.iter_chunks` with read-ahead, so memory stays at
``depth + 1`` chunks whatever the path's length.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .base import PathStore

__all__ = ["iter_rows", "iter_steps"]


def iter_rows(
    store: PathStore, lo: int = 0, hi: int | None = None, depth: int = 1,
    reverse: bool = False,
) -> Iterator[tuple[int, np.ndarray]]:
    """``(s, w_s)`` for rows ``s`` in ``[lo, hi)`` (default: every row; last first when
    ``reverse``)."""
    for start, rows in store.iter_chunks(lo, hi, depth, reverse):
        order = range(rows.shape[0] - 1, -1, -1) if reverse else range(rows.shape[0])
        for j in order:
            yield start + j, rows[j]


def iter_steps(
    store: PathStore, lo: int = 0, hi: int | None = None, depth: int = 1,
    reverse: bool = False,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(s, w_s, w_{s+1})`` for steps ``s`` in ``[lo, hi)`` (default: every step, S of
    them; the last first when ``reverse``, for reverse recursions); reads rows
    ``[lo, hi + 1)``."""
    hi = store.steps if hi is None else hi
    if hi <= lo:
        return
    carry: np.ndarray | None = None
    for start, rows in store.iter_chunks(lo, hi + 1, depth, reverse):
        n = rows.shape[0]
        if not reverse:
            if carry is not None:
                yield start - 1, carry, rows[0]
            for j in range(n - 1):
                yield start + j, rows[j], rows[j + 1]
            carry = rows[-1].copy()
        else:
            if carry is not None:  # the step from this chunk's last row into the next chunk
                yield start + n - 1, rows[-1], carry
            for j in range(n - 2, -1, -1):
                yield start + j, rows[j], rows[j + 1]
            carry = rows[0].copy()
