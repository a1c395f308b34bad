"""What every path store offers (:class:`PathStore`), and the checks they share.

A store holds the weight vectors of a path, one row per recorded step: row ``s`` is ``w_s``,
so a path of S steps has ``rows = S + 1`` rows of P numbers. Writers :meth:`append` one row
per step; readers ask for rows ``[lo, hi)`` or iterate the path a chunk of rows at a time
(:meth:`iter_chunks`), which disk stores serve with read-ahead (:mod:`.readahead`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InvalidArgumentError, NonFiniteError, ShapeError

__all__ = ["PathStore", "StoreBase", "store_dtype", "DTYPES", "CHUNK_BYTES"]

DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
"""The dtypes a store records in: float64 (the default) or float32 when asked."""

CHUNK_BYTES = 32 << 20
"""Default size of a chunk of rows (32 MiB): big enough that a read costs far more than its
bookkeeping, small enough that read-ahead depth 1 keeps two chunks (64 MiB) in memory."""


def store_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as one of :data:`DTYPES`; None means float64. Anything else is refused."""
    if dtype is None:
        return DTYPES[0]
    try:
        got = np.dtype(dtype)
    except TypeError as exc:
        raise InvalidArgumentError(
            f"store_dtype must be float64 or float32 (or None for float64); got {dtype!r}."
        ) from exc
    if got not in DTYPES:
        raise InvalidArgumentError(
            f"store_dtype must be float64 or float32 (or None for float64); got {got}. "
            "A store keeps the weights a path kernel is rebuilt from, so only these two."
        )
    return got


def default_chunk_rows(P: int, dtype: np.dtype) -> int:
    """Rows per chunk so that one chunk is about :data:`CHUNK_BYTES`."""
    return max(1, CHUNK_BYTES // max(1, P * dtype.itemsize))


@runtime_checkable
class PathStore(Protocol):
    """The weight vectors ``w_0 … w_S`` of a path, in memory or on disk.

    rows:        S + 1, the number of weight vectors held.
    steps:       S = rows − 1.
    P:           parameters per weight vector.
    dtype:       float64 or float32.
    chunk_rows:  rows per chunk (the unit of :meth:`iter_chunks` and of disk files).
    """

    @property
    def rows(self) -> int: ...
    @property
    def steps(self) -> int: ...
    @property
    def P(self) -> int: ...
    @property
    def dtype(self) -> np.dtype: ...
    @property
    def chunk_rows(self) -> int: ...

    def append(self, w: Any) -> None:
        """Add one weight vector (P numbers) as the next row."""

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Rows ``[lo, hi)`` as a (hi − lo, P) array."""

    def iter_chunks(
        self, lo: int = 0, hi: int | None = None, depth: int = 1, reverse: bool = False
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, rows)`` for consecutive chunks covering rows ``[lo, hi)`` (last chunk
        first when ``reverse``; rows within a chunk always in order)."""

    def close(self) -> None:
        """Finish writing (disk stores flush and release their lock)."""


class StoreBase:
    """Shared behaviour: ``steps``, ``len``, range and row checks, context manager."""

    _P: int
    _dtype: np.dtype
    _chunk_rows: int

    @property
    def P(self) -> int:
        return self._P

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def chunk_rows(self) -> int:
        return self._chunk_rows

    @property
    def rows(self) -> int:
        raise NotImplementedError

    @property
    def steps(self) -> int:
        """S, the number of steps: one fewer than the rows held (never below 0)."""
        return max(0, self.rows - 1)

    @property
    def nbytes(self) -> int:
        """Bytes of weights held: rows · P · itemsize."""
        return self.rows * self.P * self.dtype.itemsize

    def __len__(self) -> int:
        return self.rows

    def close(self) -> None:
        pass

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _row(self, w: Any) -> np.ndarray:
        """``w`` checked (P finite real numbers) and cast to the store's dtype."""
        arr = np.asarray(w)
        if arr.dtype.kind not in "fiu":
            raise InvalidArgumentError(
                f"a store row must hold real numbers; got an array of dtype {arr.dtype}."
            )
        if arr.shape != (self.P,):
            raise ShapeError(
                f"a store row must be a weight vector of shape ({self.P},); got shape "
                f"{arr.shape}. Append one weight vector per step."
            )
        row = np.ascontiguousarray(arr, dtype=self.dtype)
        if not np.all(np.isfinite(row)):
            raise NonFiniteError(
                f"weight vector for row {self.rows} contains NaN or inf (in {self.dtype}); "
                "a store never records a non-finite path."
            )
        return row

    def _range(self, lo: int, hi: int | None) -> tuple[int, int]:
        """``(lo, hi)`` checked against the rows held; ``hi = None`` means all of them."""
        rows = self.rows
        hi = rows if hi is None else hi
        for name, v in (("lo", lo), ("hi", hi)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise InvalidArgumentError(f"row bound {name} must be an integer; got {v!r}.")
        if not 0 <= lo <= hi <= rows:
            raise InvalidArgumentError(
                f"rows [{lo}, {hi}) are not within the {rows} rows this store holds; "
                f"ask for 0 ≤ lo ≤ hi ≤ {rows}."
            )
        return int(lo), int(hi)


def chunk_starts(lo: int, hi: int, chunk_rows: int) -> list[tuple[int, int]]:
    """``[(a, b), ...]`` covering ``[lo, hi)``, cut at multiples of ``chunk_rows``."""
    out = []
    a = lo
    while a < hi:
        b = min(hi, (a // chunk_rows + 1) * chunk_rows)
        out.append((a, b))
        a = b
    return out
