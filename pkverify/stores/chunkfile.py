"""One chunk of a disk store: a plain ``.npy`` file of (rows, P) weights, written durably and
read back with its size, header and SHA-256 checked.

A chunk file is written to a temporary name, fsynced and renamed into place (the folder is
fsynced once per commit, before the manifest names the file), so a chunk file that exists
under its final name is whole; its name carries its first row and its row count
(``rows-000000064+32.npy``), so rewriting a chunk that grew (a resumed store's last chunk)
never replaces the file the manifest still names. Any chunk can be opened with ``np.load``.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PathStoreError

__all__ = ["chunk_name", "write_chunk", "read_chunk", "data_sha256", "CHUNK_PREFIX",
           "CHECKPOINT_PREFIX", "write_checkpoint", "read_checkpoint"]

CHUNK_PREFIX = "rows-"
CHECKPOINT_PREFIX = "checkpoint-"


def chunk_name(start: int, rows: int) -> str:
    """File name of the chunk whose first row is ``start`` and that holds ``rows`` rows."""
    return f"{CHUNK_PREFIX}{start:09d}+{rows}.npy"


def data_sha256(arr: np.ndarray) -> str:
    """SHA-256 of a C-contiguous array's bytes (hashlib drops the GIL on large buffers)."""
    return hashlib.sha256(np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data).hexdigest()


def _write_npy(path: Path, arr: np.ndarray) -> None:
    """Write ``arr`` as ``.npy`` to ``path`` and fsync it. (Tests replace this function to
    simulate a disk that fills up.)"""
    with open(path, "wb") as fh:
        np.lib.format.write_array(fh, arr, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())


def write_chunk(folder: Path, start: int, arr: np.ndarray) -> dict[str, Any]:
    """Write rows ``arr`` (first row ``start``) as a chunk file; returns its manifest entry
    ``{"file", "start", "rows", "bytes", "sha256"}``. On any error the temporary file is
    removed and the error propagates (the manifest has not been touched)."""
    name = chunk_name(start, arr.shape[0])
    tmp = folder / f".{name}.tmp"
    try:
        _write_npy(tmp, arr)
        size = tmp.stat().st_size
        os.replace(tmp, folder / name)  # made durable by the commit's one folder fsync
    finally:
        if tmp.exists():
            tmp.unlink()
    return {
        "file": name,
        "start": int(start),
        "rows": int(arr.shape[0]),
        "bytes": int(size),
        "sha256": data_sha256(arr),
    }


def check_chunk_file(folder: Path, entry: dict[str, Any]) -> None:
    """Refuse a chunk file that is missing or not the size the manifest recorded."""
    path = folder / entry["file"]
    where = f"path store {str(folder)!r}: chunk {entry['file']} (rows {entry['start']}–" \
            f"{entry['start'] + entry['rows'] - 1})"
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise PathStoreError(f"{where} is missing; the store is incomplete or damaged.") from None
    if size != entry["bytes"]:
        cut = "cut short" if size < entry["bytes"] else "longer than recorded"
        raise PathStoreError(
            f"{where} is {cut}: {size} bytes on disk, {entry['bytes']} recorded. The file was "
            "truncated or replaced; the store cannot be read past row "
            f"{entry['start'] - 1}."
        )


def read_chunk(
    folder: Path, entry: dict[str, Any], P: int, dtype: np.dtype, verify: bool = True
) -> np.ndarray:
    """The (rows, P) array of one chunk, its header and (when ``verify``) SHA-256 checked."""
    path = folder / entry["file"]
    where = f"path store {str(folder)!r}: chunk {entry['file']}"
    check_chunk_file(folder, entry)
    try:
        with open(path, "rb") as fh:
            major, _minor = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0 if major == 1
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dt = read_header(fh)
            if shape != (entry["rows"], P) or fortran or np.dtype(dt) != dtype:
                raise PathStoreError(
                    f"{where} holds a {np.dtype(dt)} array of shape {shape}; the manifest "
                    f"expects {dtype} of shape {(entry['rows'], P)}. The file was replaced."
                )
            arr = np.empty(shape, dtype=dtype)
            got = fh.readinto(arr.reshape(-1).view(np.uint8).data)
    except (OSError, ValueError) as exc:
        if isinstance(exc, PathStoreError):
            raise
        raise PathStoreError(f"{where} cannot be read: {exc}") from exc
    if got != arr.nbytes:
        raise PathStoreError(f"{where} is cut short: {got} of {arr.nbytes} data bytes read.")
    if verify and data_sha256(arr) != entry["sha256"]:
        raise PathStoreError(
            f"{where} does not match its checksum: its bytes changed after it was written. "
            "The store is damaged; re-run the training that wrote it."
        )
    return arr


def write_checkpoint(folder: Path, rows: int, arrays: dict[str, Any]) -> dict[str, Any]:
    """Write the writer's state that goes with the first ``rows`` rows (an optimizer's
    buffers, the losses so far, ...) as ``checkpoint-<rows>.npz``, durably; returns its
    manifest entry ``{"file", "rows", "bytes", "sha256"}`` (SHA-256 of the file's bytes)."""
    buffer = io.BytesIO()
    named: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
    np.savez(buffer, **named)
    data = buffer.getvalue()
    name = f"{CHECKPOINT_PREFIX}{rows:09d}.npz"
    tmp = folder / f".{name}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / name)  # made durable by the commit's one folder fsync
    finally:
        if tmp.exists():
            tmp.unlink()
    return {"file": name, "rows": int(rows), "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


def read_checkpoint(folder: Path, entry: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of a checkpoint, its size and SHA-256 checked."""
    path = folder / entry["file"]
    where = f"path store {str(folder)!r}: checkpoint {entry['file']}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PathStoreError(f"{where} cannot be read: {exc}") from exc
    if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise PathStoreError(f"{where} does not match its recorded size and checksum.")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}
