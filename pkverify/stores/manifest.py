"""A disk store's bookkeeping: its manifest (what is committed, with checksums), its lock, and
the atomic, durable writes both rely on.

The manifest (``manifest.json``) is the only file that says what a store holds. It is
replaced atomically (temporary file, fsync, rename, fsync of the folder) after every chunk
file is durably in place, so at any instant — a crash, SIGTERM, a full disk — it describes a
prefix of rows whose every chunk file exists with the recorded size and SHA-256. Its own
``checksum`` (SHA-256 of the canonical JSON of every other key) covers the metadata and,
through the per-chunk digests, the data.

The lock (``.lock``) is held with ``fcntl.flock`` by the one process writing: the kernel
releases it when that process dies, however it dies, so a killed writer never leaves a
store locked for ever.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PathStoreError, StoreInUseError

__all__ = [
    "FORMAT",
    "VERSION",
    "MANIFEST",
    "manifest_checksum",
    "write_manifest",
    "read_manifest",
    "durable_replace",
    "fsync_dir",
    "StoreLock",
    "metadata_digest",
]

FORMAT = "pkverify-path-store"
VERSION = 1
MANIFEST = "manifest.json"
LOCK = ".lock"


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON (sorted keys), leaving out ``checksum``."""
    rest = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(
        json.dumps(rest, sort_keys=True, ensure_ascii=True).encode()
    ).hexdigest()


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def durable_replace(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` over ``target`` and make the rename durable."""
    os.replace(tmp, target)
    fsync_dir(target.parent)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` (with a fresh checksum) atomically and durably as ``folder/manifest``."""
    manifest = dict(manifest)
    manifest["checksum"] = manifest_checksum(manifest)
    data = json.dumps(manifest, sort_keys=True, indent=1).encode()
    tmp = folder / f".{MANIFEST}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        durable_replace(tmp, folder / MANIFEST)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the store in ``folder``, its format, version and checksum checked."""
    path = folder / MANIFEST
    if not folder.is_dir() or not path.is_file():
        what = "does not exist" if not folder.exists() else (
            "is not a folder" if not folder.is_dir() else f"has no {MANIFEST}"
        )
        raise PathStoreError(
            f"{str(folder)!r} is not a pkverify path store: it {what}. Give the folder a "
            "store was written to (pk.train(..., store=PATH))."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PathStoreError(
            f"path store {str(folder)!r}: {MANIFEST} cannot be read ({exc}); the store is "
            "damaged."
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PathStoreError(
            f"{str(folder / MANIFEST)!r} is not a pkverify path-store manifest."
        )
    if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise PathStoreError(
            f"path store {str(folder)!r} has format version {manifest.get('version')!r}; this "
            f"pkverify reads versions up to {VERSION}. Upgrade pkverify."
        )
    if manifest.get("checksum") != manifest_checksum(manifest):
        raise PathStoreError(
            f"path store {str(folder)!r}: the manifest's checksum does not match its content; "
            f"{MANIFEST} was edited or damaged, so nothing it says can be trusted."
        )
    return manifest


def metadata_digest(arrays: dict[str, Any] | None = None, meta: Any = None) -> str:
    """SHA-256 over named arrays (dtype, shape, bytes; sorted by name) and JSON metadata.

    What a caller passes as a store's ``meta_digest`` to tie it to one run: e.g. the training
    data X, Y and the model, loss and optimizer specs. A store opened with another digest is
    refused.
    """
    h = hashlib.sha256()
    for name in sorted(arrays or {}):
        arr = np.ascontiguousarray((arrays or {})[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    h.update(b"meta|" + json.dumps(meta, sort_keys=True, ensure_ascii=True).encode())
    return h.hexdigest()


class StoreLock:
    """An exclusive, non-blocking lock on a store folder for its one writer."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK
        self._fd: int | None = None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            _lock(fd)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise StoreInUseError(
                f"path store {str(folder)!r} is already open for writing{holder}; a store has "
                "one writer at a time. Wait for that run to finish, or write to another path."
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor drops the flock

    @property
    def held(self) -> bool:
        return self._fd is not None


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the lock is advisory only there
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" by process {pid}" if pid.isdigit() else ""
