"""The checks a disk store makes before it is trusted or written: its manifest against the
caller's model (P) and run (metadata digest), its chunk files' presence and sizes, where an
interrupted writer stopped, and free space against the bytes about to be written."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..errors import OutputFileError, PathStoreError
from .chunkfile import check_chunk_file

__all__ = ["checked", "where_stopped", "check_space"]

_SPACE_MARGIN = 1 << 20
"""Free space kept beyond the planned bytes (manifest rewrites, file-system slack)."""


def checked(folder: Path, m: dict[str, Any], P: int | None, digest: str | None) -> dict[str, Any]:
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


def where_stopped(m: dict[str, Any]) -> str:
    planned = m["planned_rows"]
    of = f" of {planned} planned" if planned is not None else ""
    why = f" ({m['stopped']['reason']})" if m.get("stopped") else " (the writer did not finish)"
    return f"it holds rows [0, {m['rows']}){of}{why}"


def check_space(folder: Path, need: int, what: str) -> None:
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
