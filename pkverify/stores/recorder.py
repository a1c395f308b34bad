"""Where a training loop writes its weights: :class:`PathRecorder`.

The loop asks for the working row ``w_s`` (:meth:`row`), computes ``w_{s+1}`` into
:meth:`next_row` and calls :meth:`record`. In memory with float64 rows the rows *are* the
path's array (no copy, as pkverify always recorded). Otherwise the loop works in a two-row
float64 ring and each new row is appended to where it is kept: a float32 array in memory, or
a :class:`~pkverify.stores.DiskStore` (with the loop's checkpoint, so an interrupted run can
be continued by :meth:`resume`). The working rows stay float64 whatever the stored dtype, so
a run stored in float32 takes the same steps as one stored in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import PathStoreError
from .base import store_dtype
from .disk import DiskStore

__all__ = ["PathRecorder"]


class PathRecorder:
    """Rows ``w_0 … w_S`` of a run of ``rows = S + 1`` rows of P numbers, kept in ``dtype``
    (float64 by default), in memory or in ``disk`` (a DiskStore open for appending)."""

    def __init__(self, P: int, rows: int, dtype: Any = None, disk: DiskStore | None = None):
        self.P, self.rows = int(P), int(rows)
        self.dtype = store_dtype(dtype)
        self.disk = disk
        self._direct = disk is None and self.dtype == np.float64
        self._ws = np.empty((rows, P), self.dtype) if disk is None else None
        self._ring = None if self._direct else np.empty((2, P))

    def row(self, s: int) -> np.ndarray:
        """The working (float64) weights ``w_s``."""
        if self._direct:
            assert self._ws is not None
            return self._ws[s]
        assert self._ring is not None
        return self._ring[s % 2]

    def next_row(self, s: int) -> np.ndarray:
        """The buffer to compute ``w_{s+1}`` into."""
        return self.row(s + 1)

    def record(self, s: int, checkpoint: Callable[[], dict[str, Any]] | None = None) -> None:
        """Keep row ``s`` (written into :meth:`row` ``(s)``); ``checkpoint`` as for
        :meth:`DiskStore.append` (ignored in memory)."""
        if self._direct:
            return
        w = self.row(s)
        if self.disk is not None:
            self.disk.append(w, checkpoint)
        else:
            assert self._ws is not None
            self._ws[s] = w  # rounded to the stored dtype

    def resume(self) -> tuple[int, dict[str, Any]]:
        """Continue a disk store: ``(R, checkpoint)`` with R rows kept, the working row
        ``w_{R−1}`` restored (in float64: from the checkpoint when the store rounds), and the
        loop's checkpoint saved with them."""
        if self.disk is None:
            raise PathStoreError("only a disk store can be resumed")
        R = self.disk.rows
        ckpt = self.disk.read_checkpoint() if R else None
        if R == 0 or ckpt is None or self.disk.checkpoint_rows != R:
            raise PathStoreError(
                f"path store {str(self.disk.folder)!r} holds {R} rows but no training state "
                "saved with them, so training cannot continue from it bit for bit. Start "
                "the run again into a new store."
            )
        w = ckpt.pop("w", None)
        self.row(R - 1)[:] = self.disk.read(R - 1, R)[0] if w is None else w
        return R, ckpt

    def result(self) -> Any:
        """The recorded rows: the (rows, P) array, or the disk store (closed, complete)."""
        if self.disk is not None:
            self.disk.close()
            return DiskStore.open(self.disk.folder)
        return self._ws

    def abort(self, exc: BaseException) -> None:
        """Stop a disk store after ``exc``, keeping the committed prefix (marked partial)."""
        if self.disk is not None:
            self.disk.close(complete=False, reason=f"{type(exc).__name__}: {exc}")


def open_recorder(
    P: int, rows: int, store: Any = None, dtype: Any = None, resume: Any = None,
    digest: str | None = None, meta: dict[str, Any] | None = None,
) -> PathRecorder:
    """The recorder for a run of ``rows`` rows: in memory (``store=None``), a new disk store
    at ``store`` (refused before any step when it exists, cannot be written, or its disk
    lacks room for ``rows · P · itemsize`` bytes), or the partial store ``resume`` continued
    (refused when it was written for another model or run: ``digest``)."""
    from ..io import as_path

    dt = store_dtype(dtype)
    if resume is not None:
        where = as_path(resume, "resume")
        if store is not None and as_path(store, "store").resolve() != where.resolve():
            raise PathStoreError(
                f"store={str(store)!r} and resume={str(resume)!r} name two stores; resume "
                "continues the store it names (leave store out)."
            )
        disk = DiskStore.open_for_append(where, P=P, meta_digest=digest, planned_rows=rows)
        if disk.dtype != dt:
            disk.close(complete=False, reason="resumed with another store_dtype")
            raise PathStoreError(
                f"path store {str(where)!r} records {disk.dtype}; resume it with "
                f"store_dtype={disk.dtype.name!r}."
            )
        return PathRecorder(P, rows, dt, disk)
    if store is None:
        return PathRecorder(P, rows, dt)
    disk = DiskStore.create(store, P, dt, planned_rows=rows, meta_digest=digest, meta=meta)
    return PathRecorder(P, rows, dt, disk)
