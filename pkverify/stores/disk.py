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

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, OutputFileError, PathStoreError
from ..io import as_path, check_writable
from .base import StoreBase, chunk_starts, default_chunk_rows, store_dtype
from .chunkfile import CHUNK_PREFIX, check_chunk_file, read_chunk, write_chunk
from .manifest import FORMAT, MANIFEST, VERSION, StoreLock, read_manifest, write_manifest
from .readahead import ReadAhead

__all__ = ["DiskStore"]

_SPACE_MARGIN = 1 << 20
"""Free space kept beyond the planned bytes (manifest rewrites, file-system slack)."""


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
        self._verified: set[int] = set()
        self._P = int(manifest["P"])
        self._dtype = np.dtype(manifest["dtype"])
        self._chunk_rows = int(manifest["chunk_rows"])
        self._pending: np.ndarray | None = None
        self._pending_n = 0
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

    def append(self, w: Any) -> None:
        if not self.writable:
            raise PathStoreError(
                f"path store {str(self.folder)!r} is not open for writing (opened for reading, "
                "closed, or stopped after an error)."
            )
        row = self._row(w)
        assert self._pending is not None
        self._pending[self._pending_n] = row
        self._pending_n += 1
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
        try:
            _check_space(self.folder, block.nbytes, f"chunk of rows from {start}")
            entry = write_chunk(self.folder, start, block)
        except (OSError, PathStoreError) as exc:
            self._stop(f"{type(exc).__name__}: {exc}")
            raise PathStoreError(
                f"writing path store {str(self.folder)!r} stopped at row {start}: {exc}. "
                f"{_where_stopped(self._m)}; free space, then continue with "
                "open_for_append (pk.train(..., resume=PATH))."
            ) from exc
        chunks = self._m["chunks"]
        old = chunks.pop() if chunks and chunks[-1]["start"] == start else None
        chunks.append(entry)
        self._m["rows"] = start + entry["rows"]
        write_manifest(self.folder, self._m)
        if old is not None and old["file"] != entry["file"]:
            (self.folder / old["file"]).unlink(missing_ok=True)

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
        for p in self.folder.iterdir():
            if (p.name.startswith(CHUNK_PREFIX) or p.name.endswith(".tmp")) and \
                    p.name not in named:
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


def _checked(folder: Path, m: dict[str, Any], P: int | None, digest: str | None) -> dict[str, Any]:
    """The manifest after checking it fits ``P`` and ``digest`` and its chunk files exist
    whole (sizes; the SHA-256s are checked as chunks are read)."""
    if P is not None and int(m["P"]) != int(P):
        raise PathStoreError(
            f"path store {str(folder)!r} holds weight vectors of {m['P']} parameters; this model "
            f"has {P}. It was written for another model: give the store of this run."
        )
    if digest is not None and m["meta_digest"] != digest:
        raise PathStoreError(
            f"path store {str(folder)!r} was written for other data or settings (its metadata "
            "digest differs from this run's: X, Y, model, loss or optimizer changed). Give "
            "the store of this run, or write a new one."
        )
    start = 0
    for entry in m["chunks"]:
        if entry["start"] != start:
            raise PathStoreError(f"path store {str(folder)!r}: manifest chunks are not contiguous.")
        check_chunk_file(folder, entry)
        start += entry["rows"]
    if start != m["rows"]:
        raise PathStoreError(f"path store {str(folder)!r}: manifest rows disagree with its chunks.")
    return m


def _where_stopped(m: dict[str, Any]) -> str:
    planned = m["planned_rows"]
    of = f" of {planned} planned" if planned is not None else ""
    why = f" ({m['stopped']['reason']})" if m.get("stopped") else " (the writer did not finish)"
    return f"it holds rows [0, {m['rows']}){of}{why}"


def _check_space(folder: Path, need: int, what: str) -> None:
    """Refuse to start writing ``need`` bytes where the disk has less free space."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need + _SPACE_MARGIN:
        raise OutputFileError(
            f"not enough free space for the store at {str(folder)!r}: {what} need "
            f"{need / 2**30:.2f} GiB, the disk has {free / 2**30:.2f} GiB free. Free space, "
            "choose another disk, or store float32 (store_dtype='float32') to halve it."
        )
