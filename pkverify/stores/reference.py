"""A saved trajectory's pointer to the disk store holding its weights.

A trajectory whose weights live in a :class:`~pkverify.stores.DiskStore` is saved without
them: its file records where the store is and the store's manifest checksum (which covers
every chunk's SHA-256 and the store's metadata). Loading reopens the store and refuses one
whose manifest is not the one recorded — another run's store, or this store rewritten.

The path is kept relative to the saved file's folder when the store sits beside it or below
it (a store folder holding its own ``trajectory.npz`` moves as one piece), else absolute.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import PathStoreError
from .disk import DiskStore

__all__ = ["store_reference", "open_reference"]


def store_reference(store: DiskStore, saved_in: Path) -> dict[str, Any]:
    """``{"path", "manifest_checksum", "rows", "P", "dtype"}`` for a file saved in folder
    ``saved_in``. The store must be complete (a partial store is no path yet)."""
    if not store.complete:
        raise PathStoreError(
            f"path store {str(store.folder)!r} is partial; a trajectory is saved only over a "
            "complete store. Finish it first (pk.train(..., resume=PATH))."
        )
    folder = store.folder.resolve()
    base = saved_in.resolve()
    try:
        where = os.path.relpath(folder, base)
    except ValueError:  # another drive (Windows)
        where = str(folder)
    if where.startswith(".."):
        where = str(folder)
    return {
        "path": where,
        "manifest_checksum": store.manifest_checksum,
        "rows": store.rows,
        "P": store.P,
        "dtype": store.dtype.str,
    }


def open_reference(ref: Any, saved_in: Path, P: int, verify: bool = True) -> DiskStore:
    """The store a saved trajectory points to, checked to be the very store it was saved
    with (manifest checksum, rows, P, dtype)."""
    if not isinstance(ref, dict) or not {"path", "manifest_checksum", "rows", "P"} <= set(ref):
        raise PathStoreError(
            f"the trajectory file's store reference is malformed ({ref!r:.80}); the file is "
            "damaged."
        )
    folder = Path(ref["path"])
    if not folder.is_absolute():
        folder = saved_in / folder
    store = DiskStore.open(folder, P=P, verify=verify)
    if store.manifest_checksum != ref["manifest_checksum"] or store.rows != ref["rows"]:
        raise PathStoreError(
            f"path store {str(folder)!r} is not the store this trajectory was saved with: its "
            f"manifest changed ({store.rows} rows now, {ref['rows']} then). It was rewritten "
            "or replaced; load the trajectory saved with it."
        )
    return store
