"""The on-disk store: a folder of ``.npy`` chunk files and a manifest, written while training.

Layout of a store folder (the name is the caller's: ``run.store``, ``run.zarr``, ...)::

    manifest.json               what is committed: rows, chunk files, sizes, SHA-256s
    .lock                       flock'ed by the one writer
    rows-000000000+64.npy       rows [0, 64) as a (64, P) array
    rows-000000064+64.npy       rows [64, 128)
    ...

Rows are buffered in memory a chunk at a time; each full chunk is written (temporary file,
fsync, rename) and only then is the manifest replaced to commit it. So whatever stops a
writer — an exception, Ctrl-C, SIGTERM, SIGKILL, a full disk — the store on disk is the
committed prefix, which :meth:`DiskStore.open` refuses to load as if complete (``complete``
is set only by a writer that reached its planned rows) and :meth:`DiskStore.open_for_append`
continues. Chunk boundaries depend on row numbers only, so a store written in two sessions
holds the same bytes, chunk for chunk, as one written in one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, OutputFileError, PathStoreError
from ..io import as_path, check_writable
from .base import StoreBase, chunk_starts, default_chunk_rows, store_dtype
from .chunkfile import (
    CHECKPOINT_PREFIX,
    CHUNK_PREFIX,
    read_checkpoint,
    read_chunk,
    write_checkpoint,
    write_chunk,
)
from .manifest import (
    FORMAT,
    MANIFEST,
    VERSION,
    StoreLock,
    fsync_dir,
    manifest_checksum,
    read_manifest,
    write_manifest,
)
from .readahead import ReadAhead
from .store_checks import check_space as _check_space
from .store_checks import checked as _checked
from .store_checks import where_stopped as _where_stopped

__all__ = ["DiskStore"]

class DiskStore(StoreBase):
    """A path store on disk. Create with :meth:`create`, read with :meth:`open`, continue an
    interrupted write with :meth:`open_for_append`. Use as a context manager: leaving the
    block closes the store (committing the buffered rows; an exception marks it stopped)."""

    def __init__(self, folder: Path, manifest: dict[str, Any], lock: StoreLock | None,
                 verify: bool = True):
        self.folder = folder
        self._m = manifest
        self._lock = lock
        self._verify = verify
        self._verified: set[str] = set()  # chunk files whose SHA-256 this object checked
        self._P = int(manifest["P"])
        self._dtype = np.dtype(manifest["dtype"])
        self._chunk_rows = int(manifest["chunk_rows"])
        self._pending: np.ndarray | None = None
        self._pending_n = 0
        self._checkpoint: tuple[int, Callable[[], dict[str, Any]]] | None = None
        if lock is not None:
            self._pending = np.empty((self._chunk_rows, self._P), dtype=self._dtype)

    # ----- opening ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls, path: Any, P: int, dtype: Any = None, *, chunk_rows: int | None = None,
        planned_rows: int | None = None, meta_digest: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> DiskStore:
        """A new, empty store for P-vectors in ``dtype`` (float64 unless float32 is asked),
        open for appending. Refused before anything is written when ``path`` exists (and is
        not an empty folder), cannot be written, or its disk lacks room for ``planned_rows``."""
        folder = as_path(path, "store path")
        if not isinstance(P, (int, np.integer)) or isinstance(P, bool) or P < 1:
            raise InvalidArgumentError(f"P (parameters per row) must be an integer ≥ 1; got {P!r}.")
        dt = store_dtype(dtype)
        rows_per_chunk = default_chunk_rows(int(P), dt) if chunk_rows is None else chunk_rows
        if not isinstance(rows_per_chunk, (int, np.integer)) or rows_per_chunk < 1:
            raise InvalidArgumentError(f"chunk_rows must be an integer ≥ 1; got {chunk_rows!r}.")
        if planned_rows is not None and (not isinstance(planned_rows, (int, np.integer))
                                         or planned_rows < 1):
            raise InvalidArgumentError(
                f"planned_rows must be an integer ≥ 1 (S + 1 for S steps); got {planned_rows!r}."
            )
        if folder.exists() and not (folder.is_dir() and not any(folder.iterdir())):
            hint = ("open_for_append (pk.train(..., resume=PATH)) to continue it"
                    if (folder / MANIFEST).is_file() else "pkverify never writes over it")
            raise OutputFileError(
                f"store path {str(folder)!r} already exists; {hint}, or choose a new path."
            )
        check_writable(folder / MANIFEST, "store")
        if planned_rows is not None:
            need = int(planned_rows) * int(P) * dt.itemsize
            _check_space(folder, need, f"{planned_rows} rows of {P} {dt} numbers")
        folder.mkdir(parents=True, exist_ok=True)
        lock = StoreLock(folder)
        manifest = {
            "format": FORMAT, "version": VERSION, "P": int(P), "dtype": dt.str,
            "chunk_rows": int(rows_per_chunk), "planned_rows": planned_rows,
            "meta_digest": meta_digest, "meta": meta, "rows": 0, "chunks": [],
            "complete": False, "stopped": None,
        }
        try:
            write_manifest(folder, manifest)
        except OSError as exc:
            lock.release()
            raise OutputFileError(f"store {str(folder)!r} cannot be written: {exc}") from exc
        return cls(folder, manifest, lock)

    @classmethod
    def open(
        cls, path: Any, *, P: int | None = None, meta_digest: str | None = None,
        allow_partial: bool = False, verify: bool = True,
    ) -> DiskStore:
        """A store for reading. Refused (PathStoreError) when it is not a store, its manifest
        or a chunk file is damaged or cut short, it was written for another ``P`` or
        ``meta_digest`` (when given), or it is partial and ``allow_partial`` is False.
        ``verify`` checks each chunk's SHA-256 the first time this object reads it (SHA-256
        runs at ~0.5 GB/s a core, in the read-ahead thread, so behind the caller's work)."""
        folder = as_path(path, "store path")
        manifest = _checked(folder, read_manifest(folder), P, meta_digest)
        if not manifest["complete"] and not allow_partial:
            raise PathStoreError(
                f"path store {str(folder)!r} is partial: {_where_stopped(manifest)}. Continue "
                "it with open_for_append (pk.train(..., resume=PATH)), or open it with "
                "allow_partial=True to read the rows it holds."
            )
        return cls(folder, manifest, None, verify)

    @classmethod
    def open_for_append(
        cls, path: Any, *, P: int | None = None, meta_digest: str | None = None,
        planned_rows: int | None = None,
    ) -> DiskStore:
        """Continue a partial store where its committed rows end (taking its lock first)."""
        folder = as_path(path, "store path")
        read_manifest(folder)  # a clear error for a non-store before the lock file is made
        lock = StoreLock(folder)
        try:
            manifest = _checked(folder, read_manifest(folder), P, meta_digest)
            if manifest["complete"]:
                raise PathStoreError(
                    f"path store {str(folder)!r} is complete ({manifest['rows']} rows); there "
                    "is nothing to resume. Open it for reading instead."
                )
            if planned_rows is not None:
                manifest["planned_rows"] = int(planned_rows)
            manifest["stopped"] = None
            store = cls(folder, manifest, lock)
            store._clean_orphans()
            chunks = manifest["chunks"]
            if chunks and chunks[-1]["rows"] < store._chunk_rows:  # reopen the last chunk
                tail = read_chunk(folder, chunks[-1], store._P, store._dtype)
                assert store._pending is not None
                store._pending[: tail.shape[0]] = tail
                store._pending_n = tail.shape[0]
            write_manifest(folder, manifest)
            return store
        except BaseException:
            lock.release()
            raise

    # ----- writing ---------------------------------------------------------------------------

    @property
    def rows(self) -> int:
        return int(self._m["rows"]) + self._uncommitted()

    @property
    def complete(self) -> bool:
        """True when a writer finished the store (all planned rows written and closed)."""
        return bool(self._m["complete"])

    @property
    def writable(self) -> bool:
        return self._lock is not None and self._lock.held

    @property
    def meta(self) -> Any:
        """The caller's metadata recorded at creation (JSON)."""
        return self._m["meta"]

    @property
    def manifest_checksum(self) -> str:
        """The committed manifest's SHA-256 (covers every chunk's digest and the metadata)."""
        return manifest_checksum(self._m)

    @property
    def stopped(self) -> dict[str, Any] | None:
        """Why and where an interrupted writer stopped (None for a clean or running write)."""
        return self._m["stopped"]

    def _uncommitted(self) -> int:
        """Rows in the write buffer that the manifest does not hold yet."""
        if self._pending is None:
            return 0
        return self._pending_start() + self._pending_n - int(self._m["rows"])

    def _pending_start(self) -> int:
        """First row of the chunk being filled: the end of the last full committed chunk."""
        committed = int(self._m["rows"])
        return committed - committed % self._chunk_rows

    def append(self, w: Any, checkpoint: Callable[[], dict[str, Any]] | None = None) -> None:
        """Add ``w`` as the next row. ``checkpoint`` (optional) returns the writer's state
        after this row (arrays by name: an optimizer's buffers, the losses so far); it is
        called only if this row is the last of a commit, and saved with it, so a resumed
        writer finds the state that goes with the rows kept (:meth:`read_checkpoint`)."""
        if not self.writable:
            raise PathStoreError(
                f"path store {str(self.folder)!r} is not open for writing (opened for reading, "
                "closed, or stopped after an error)."
            )
        row = self._row(w)
        assert self._pending is not None
        self._pending[self._pending_n] = row
        self._pending_n += 1
        if checkpoint is not None:
            self._checkpoint = (self._pending_start() + self._pending_n, checkpoint)
        if self._pending_n == self._chunk_rows:
            self.flush()
            self._pending_n = 0

    def flush(self) -> None:
        """Commit the buffered rows: write their chunk file, then the manifest."""
        if not self.writable or self._uncommitted() == 0:
            return
        assert self._pending is not None
        start = self._pending_start()
        block = self._pending[: self._pending_n]
        end = start + self._pending_n
        old_ckpt = self._m.get("checkpoint")
        try:
            _check_space(self.folder, block.nbytes, f"chunk of rows from {start}")
            entry = write_chunk(self.folder, start, block)
            new = dict(self._m, rows=end, chunks=[c for c in self._m["chunks"]
                                                    if c["start"] != start] + [entry])
            if self._checkpoint is not None and self._checkpoint[0] == end:
                new["checkpoint"] = write_checkpoint(self.folder, end, self._checkpoint[1]())
            fsync_dir(self.folder)  # the new files' names are durable before the manifest's
            write_manifest(self.folder, new)
        except (OSError, PathStoreError) as exc:
            self._stop(f"{type(exc).__name__}: {exc}")
            raise PathStoreError(
                f"writing path store {str(self.folder)!r} stopped at row {start}: {exc}. "
                f"{_where_stopped(self._m)}; free space, then continue with "
                "open_for_append (pk.train(..., resume=PATH))."
            ) from exc
        replaced = {c["file"] for c in self._m["chunks"]} - {c["file"] for c in new["chunks"]}
        if old_ckpt and new.get("checkpoint") != old_ckpt:
            replaced.add(old_ckpt["file"])
        self._m = new
        for name in replaced:  # files the committed manifest no longer names
            (self.folder / name).unlink(missing_ok=True)

    @property
    def checkpoint_rows(self) -> int | None:
        """The rows the saved checkpoint goes with (None: no checkpoint was saved)."""
        entry = self._m.get("checkpoint")
        return None if entry is None else int(entry["rows"])

    def read_checkpoint(self) -> dict[str, np.ndarray] | None:
        """The arrays saved with the last commit that had a checkpoint (None if none)."""
        entry = self._m.get("checkpoint")
        return None if entry is None else read_checkpoint(self.folder, entry)

    def close(self, complete: bool | None = None, reason: str | None = None) -> None:
        """Commit buffered rows and release the lock. The store is marked complete when
        ``complete`` is True, or (None) when it holds its planned rows (any number if none
        were planned); otherwise it is marked stopped with ``reason``."""
        if not self.writable:
            return
        try:
            self.flush()
            if not self.writable:  # flush stopped the store
                return
            planned = self._m["planned_rows"]
            if complete is None:
                complete = planned is None or self._m["rows"] == planned
            if complete:
                self._m["complete"], self._m["stopped"] = True, None
                write_manifest(self.folder, self._m)
            else:
                self._stop(reason or f"closed after {self._m['rows']} of {planned} rows")
        finally:
            self._release()

    def __exit__(self, *exc_info: Any) -> None:
        exc_type, exc = exc_info[0], exc_info[1]
        if exc_type is None:
            self.close()
        else:
            self.close(complete=False, reason=f"{exc_type.__name__}: {exc}")

    def _stop(self, reason: str) -> None:
        """Mark the store stopped (best effort: on a full disk the last manifest stands)."""
        self._m["stopped"] = {"reason": reason, "rows": int(self._m["rows"])}
        self._m["complete"] = False
        try:
            write_manifest(self.folder, self._m)
        except OSError:
            pass
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
        self._pending = None
        self._pending_n = 0

    def _clean_orphans(self) -> None:
        """Remove temporary files and chunk files the manifest does not name (left by a
        writer killed between writing a chunk and committing it)."""
        named = {c["file"] for c in self._m["chunks"]}
        if self._m.get("checkpoint"):
            named.add(self._m["checkpoint"]["file"])
        for p in self.folder.iterdir():
            ours = p.name.startswith((CHUNK_PREFIX, CHECKPOINT_PREFIX))
            if (ours and p.name not in named) or p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)

    # ----- reading ---------------------------------------------------------------------------

    def _load(self, span: tuple[int, int]) -> np.ndarray:
        a, b = span
        k = a // self._chunk_rows
        chunks = self._m["chunks"]
        if self._pending is not None and self._pending_n and a >= self._pending_start():
            base = self._pending_start()
            return self._pending[a - base: b - base].copy()
        entry = chunks[k]
        check = self._verify and entry["file"] not in self._verified
        arr = read_chunk(self.folder, entry, self._P, self._dtype, check)
        if check:
            self._verified.add(entry["file"])
        return arr[a - entry["start"]: b - entry["start"]]

    def read(self, lo: int, hi: int) -> np.ndarray:
        lo, hi = self._range(lo, hi)
        parts = [self._load(span) for span in chunk_starts(lo, hi, self._chunk_rows)]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.empty((0, self._P), self._dtype)

    def iter_chunks(
        self, lo: int = 0, hi: int | None = None, depth: int = 1, reverse: bool = False
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, rows)`` chunk by chunk over rows ``[lo, hi)``, a thread reading up to
        ``depth`` chunks ahead: at most ``depth + 1`` chunks are in memory at once.
        ``reverse`` walks the chunks from the last to the first (rows within a chunk stay in
        order)."""
        lo, hi = self._range(lo, hi)
        spans = chunk_starts(lo, hi, self._chunk_rows)
        if reverse:
            spans.reverse()
        with ReadAhead(spans, self._load, depth) as chunks:
            for (a, _b), arr in zip(spans, chunks):
                yield a, arr
                del arr

    def verify(self) -> None:
        """Read every committed chunk and check its size and SHA-256 (a full scan)."""
        for entry in self._m["chunks"]:
            read_chunk(self.folder, entry, self._P, self._dtype, verify=True)

    def __repr__(self) -> str:
        state = "complete" if self.complete else ("writing" if self.writable else "partial")
        return (f"DiskStore({str(self.folder)!r}, rows={self.rows}, P={self.P}, "
                f"dtype={self.dtype}, {state})")
