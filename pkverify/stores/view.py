"""``StoredRows``: a stored path seen as a read-only (rows, P) array, read a chunk at a time.

A :class:`~pkverify.Trajectory` whose weights live on disk exposes them as ``traj.ws`` through
this view, so code written for an in-memory path (``traj.ws[s]``, ``traj.ws[-1]``,
``traj.ws.shape``, ``traj.ws[a:b]``) keeps working. The view caches the last chunk it read,
so a loop over ``ws[s]`` in order reads each chunk once and holds one chunk; the passes over a
path that matter for speed stream it with read-ahead instead (:mod:`.steps`). Turning the
whole view into an array (``np.asarray(traj.ws)``) is refused when it would not fit in
memory.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from .base import PathStore

__all__ = ["StoredRows"]


class StoredRows:
    """Read-only, ndarray-like rows of a :class:`PathStore` (``shape``, ``ndim``, ``dtype``,
    ``len``, indexing by int, slice or integer array, ``np.asarray``)."""

    __array_priority__ = 0.0

    def __init__(self, store: PathStore):
        self.store = store
        self._lock = threading.Lock()
        self._cached: tuple[int, np.ndarray] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return (self.store.rows, self.store.P)

    @property
    def ndim(self) -> int:
        return 2

    @property
    def dtype(self) -> np.dtype:
        return self.store.dtype

    @property
    def size(self) -> int:
        return self.store.rows * self.store.P

    @property
    def nbytes(self) -> int:
        return self.size * self.store.dtype.itemsize

    def __len__(self) -> int:
        return self.store.rows

    def _chunk_of(self, s: int) -> tuple[int, np.ndarray]:
        """The cached chunk holding row s (read and cached when it is not the cached one)."""
        with self._lock:
            cached = self._cached
            if cached is None or not cached[0] <= s < cached[0] + cached[1].shape[0]:
                c = self.store.chunk_rows
                start = s - s % c
                block = self.store.read(start, min(start + c, self.store.rows))
                block = np.array(block, copy=True) if block.flags.writeable else block
                block.flags.writeable = False  # a cached chunk is shared: nobody edits it
                cached = (start, block)
                self._cached = cached
            return cached

    def _index(self, s: Any) -> int:
        rows = self.store.rows
        s = int(s)
        if not -rows <= s < rows:
            raise IndexError(f"row {s} is out of range for a path of {rows} rows")
        return s + rows if s < 0 else s

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            rows = self[key[0]]  # a row (int) or rows (slice, array) first, then the rest
            whole = isinstance(key[0], (int, np.integer)) and not isinstance(key[0], bool)
            return rows[key[1:]] if whole else rows[(slice(None),) * (rows.ndim - 1) + key[1:]]
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            s = self._index(key)
            start, block = self._chunk_of(s)
            return block[s - start]
        if isinstance(key, slice):
            lo, hi, step = key.indices(self.store.rows)
            if step == 1:
                if hi <= lo:
                    return np.empty((0, self.store.P), self.store.dtype)
                start, block = self._chunk_of(lo)
                if hi <= start + block.shape[0]:
                    return block[lo - start: hi - start]
                return self.store.read(lo, hi)
            return np.stack([self[s] for s in range(lo, hi, step)]) if len(
                range(lo, hi, step)) else np.empty((0, self.store.P), self.store.dtype)
        idx = np.asarray(key)
        if idx.dtype.kind in "iu":
            return np.stack([self[int(s)] for s in idx.ravel()]).reshape(
                idx.shape + (self.store.P,))
        raise InvalidArgumentError(
            f"a stored path is indexed by row numbers or slices; got {type(key).__name__}."
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        from ..validation import check_memory

        check_memory(
            float(self.nbytes), f"loading a stored path of {self.shape[0]} × {self.shape[1]} "
            "weights into memory",
            "Stream it instead (traj.store.iter_chunks(), or the kernel machine, which reads "
            "a chunk of steps at a time).",
        )
        arr = self.store.read(0, self.store.rows)
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __iter__(self) -> Any:
        from .steps import iter_rows

        for _, w in iter_rows(self.store):
            yield w

    def __repr__(self) -> str:
        return f"StoredRows({self.store!r})"
