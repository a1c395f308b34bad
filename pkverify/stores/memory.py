"""The in-memory store: a path's weights as one (rows, P) array, as pkverify always held them.

Reads are views of that array (zero-copy); :meth:`MemoryStore.iter_chunks` yields views too,
so no read-ahead thread is needed. Appending grows the array geometrically (amortised O(1)
per row) unless a ``capacity`` was given.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from .base import StoreBase, chunk_starts, default_chunk_rows, store_dtype

__all__ = ["MemoryStore"]


class MemoryStore(StoreBase):
    """Weights in memory.

    ``MemoryStore(ws)`` wraps an existing (rows, P) float64/float32 array without copying it;
    ``MemoryStore.empty(P, dtype=None, capacity=0)`` starts an empty one to :meth:`append` to.
    """

    def __init__(self, ws: Any, chunk_rows: int | None = None):
        arr = np.asarray(ws)
        if arr.ndim != 2:
            raise ShapeError(
                f"MemoryStore needs a (rows, P) array of weight vectors; got shape {arr.shape}."
            )
        self._dtype = store_dtype(arr.dtype)
        self._buf = arr
        self._rows = arr.shape[0]
        self._P = arr.shape[1]
        self._chunk_rows = _chunk_rows(chunk_rows, self._P, self._dtype)

    @classmethod
    def empty(
        cls, P: int, dtype: Any = None, capacity: int = 0, chunk_rows: int | None = None
    ) -> MemoryStore:
        """An empty store of P-vectors in ``dtype`` (float64 by default), room for
        ``capacity`` rows before it first grows."""
        if not isinstance(P, (int, np.integer)) or isinstance(P, bool) or P < 1:
            raise InvalidArgumentError(f"P (parameters per row) must be an integer ≥ 1; got {P!r}.")
        dt = store_dtype(dtype)
        store = cls(np.empty((max(0, int(capacity)), int(P)), dtype=dt), chunk_rows)
        store._rows = 0
        return store

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def array(self) -> np.ndarray:
        """The (rows, P) array of every row held (a view, not a copy)."""
        return self._buf[: self._rows]

    def append(self, w: Any) -> None:
        row = self._row(w)
        if self._rows == self._buf.shape[0]:
            grown = np.empty((max(8, 2 * self._rows), self._P), dtype=self._dtype)
            grown[: self._rows] = self._buf[: self._rows]
            self._buf = grown
        self._buf[self._rows] = row
        self._rows += 1

    def read(self, lo: int, hi: int) -> np.ndarray:
        lo, hi = self._range(lo, hi)
        return self._buf[lo:hi]

    def iter_chunks(
        self, lo: int = 0, hi: int | None = None, depth: int = 1, reverse: bool = False
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Views of consecutive chunks of rows ``[lo, hi)`` (``depth`` is accepted for the
        protocol's sake: views cost nothing to read ahead); ``reverse``: last chunk first."""
        lo, hi = self._range(lo, hi)
        spans = chunk_starts(lo, hi, self._chunk_rows)
        for a, b in reversed(spans) if reverse else spans:
            yield a, self._buf[a:b]

    def __repr__(self) -> str:
        return f"MemoryStore(rows={self.rows}, P={self.P}, dtype={self.dtype})"


def _chunk_rows(chunk_rows: int | None, P: int, dtype: np.dtype) -> int:
    if chunk_rows is None:
        return default_chunk_rows(P, dtype)
    if not isinstance(chunk_rows, (int, np.integer)) or isinstance(chunk_rows, bool) or (
        chunk_rows < 1
    ):
        raise InvalidArgumentError(f"chunk_rows must be an integer ≥ 1; got {chunk_rows!r}.")
    return int(chunk_rows)
