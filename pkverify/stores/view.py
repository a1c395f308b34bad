"""``StoredRows``: a stored path seen as a read-only (rows, P) array, read a chunk at a time.

A :class:`~pkverify.Trajectory` whose weights live on disk exposes them as ``traj.ws`` through
this view, so code written for an in-memory path (``traj.ws[s]``, ``traj.ws[-1]``,
``traj.ws.shape``, ``traj.ws[a:b]``) keeps working, with bounded memory and read-ahead: the
view keeps the two chunks it used last (so ``ws[s]``, ``ws[s + 1]`` across a chunk boundary
read nothing twice) and, once two reads show a direction (forward, or backward for a reverse
recursion), reads the next chunk that way in a background thread while the caller computes.
At most three chunks are held (two kept, one read ahead). The passes written for a stored
path stream it with :mod:`.steps` instead. Turning the whole view into an array
(``np.asarray(traj.ws)``) is refused when it would not fit in memory.
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
        self._kept: list[tuple[int, np.ndarray]] = []  # the two chunks used last, newest last
        self._ahead: tuple[int, threading.Thread, list[Any]] | None = None

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

    def _read(self, start: int) -> np.ndarray:
        block = self.store.read(start, min(start + self.store.chunk_rows, self.store.rows))
        block = block.view()  # no copy: a read-only view, as a kept chunk is shared
        block.flags.writeable = False
        return block

    def _take_ahead(self, start: int) -> np.ndarray | None:
        """The chunk read ahead if it is the one at ``start`` (None if it is not, or if
        reading it failed: the caller then reads it again and gets the error itself)."""
        if self._ahead is None or self._ahead[0] != start:
            return None
        _, thread, box = self._ahead
        self._ahead = None
        thread.join()
        return box[0] if box and isinstance(box[0], np.ndarray) else None

    def _chunk_of(self, s: int) -> tuple[int, np.ndarray]:
        """The kept chunk holding row s, read (or taken from the read-ahead) when needed."""
        with self._lock:
            for kept in reversed(self._kept):
                if kept[0] <= s < kept[0] + kept[1].shape[0]:
                    return kept
            c = self.store.chunk_rows
            start = s - s % c
            block = self._take_ahead(start)
            if block is None:
                block = self._read(start)
            direction = 0
            if self._kept:
                direction = 1 if start > self._kept[-1][0] else -1
            self._kept = [*self._kept[-1:], (start, block)]
            nxt = start + direction * c
            if direction and 0 <= nxt < self.store.rows and self._ahead is None:
                self._start_ahead(nxt)
            return self._kept[-1]

    def _start_ahead(self, start: int) -> None:
        box: list[Any] = []

        def work() -> None:
            try:
                box.append(self._read(start))
            except BaseException as exc:  # read again, and raised, by the caller
                box.append(exc)

        thread = threading.Thread(target=work, name="pkverify-view-ahead", daemon=True)
        thread.start()
        self._ahead = (start, thread, box)

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

    def release(self) -> None:
        """Drop the kept chunks and wait for a read ahead to end (frees their memory)."""
        with self._lock:
            if self._ahead is not None:
                self._ahead[1].join()
                self._ahead = None
            self._kept = []

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
