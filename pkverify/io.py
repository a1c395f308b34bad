"""Files pkverify writes: one atomic writer, honouring the user's umask, and a pre-flight check.

Every file pkverify writes (JSON results, Markdown reports, saved trajectories) goes through
:func:`atomic_write_bytes` / :func:`atomic_write_text`: the data goes to a temporary file in
the target's directory, gets the permissions a plain ``open(path, "w")`` would have given
(``0o666`` minus the umask; ``tempfile.mkstemp`` alone would leave ``0o600``), and is then
renamed over the target, so a failure leaves no half-written file.

:func:`check_writable` answers "can this path be written?" *before* a long run starts, so a
typo in ``--json`` is reported in a second, not after the whole verification.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import InvalidArgumentError, OutputFileError

__all__ = ["as_path", "check_writable", "atomic_write_bytes", "atomic_write_text", "umask"]


def umask() -> int:
    """The process's current umask (read without changing it for longer than one call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def as_path(path: Any, what: str = "path") -> Path:
    """``path`` as a :class:`~pathlib.Path`; None, "" and non-paths are refused."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(
            f"{what} must be a file path (a str or pathlib.Path); got {type(path).__name__} "
            f"{path!r:.60}."
        )
    text = os.fspath(path)
    if not isinstance(text, str) or not text.strip():
        raise InvalidArgumentError(
            f"{what} is empty; pass a file name such as 'results.json' (or leave the option "
            "out to write nothing)."
        )
    return Path(text).expanduser()


def check_writable(path: Any, what: str = "output file") -> Path:
    """Check that ``path`` can be created or replaced, before any work (nothing is left behind).

    Refuses an existing directory, a path under an existing *file*, a directory that does not
    grant write permission or in which a file cannot be created (tried: one empty file is
    created and removed), and an existing read-only file. Missing parent directories are
    fine (they are created on write) as long as their nearest existing ancestor is a
    writable directory.
    """
    target = as_path(path, what)
    if target.is_dir():
        raise OutputFileError(
            f"{what} {str(target)!r} is a directory; give the name of a file (inside it or "
            "elsewhere)."
        )
    ancestor = target.parent
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise OutputFileError(
            f"{what} {str(target)!r} cannot be written: {str(ancestor)!r} is a file, not a "
            "directory. Choose a path whose parent directories are directories."
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputFileError(
            f"{what} {str(target)!r} cannot be written: no write permission in "
            f"{str(ancestor)!r}. Choose a directory you can write to."
        )
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputFileError(
            f"{what} {str(target)!r} exists and is read-only; remove it or choose another name."
        )
    _probe(ancestor, target, what)
    return target


def _probe(folder: Path, target: Path, what: str) -> None:
    """Create and remove a file in ``folder``: the permission bits do not tell everything
    (root passes ``os.access`` on ``/proc`` and on read-only mounts, where creating fails)."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".pkverify-probe-")
    except OSError as exc:
        raise OutputFileError(
            f"{what} {str(target)!r} cannot be written: creating a file in {str(folder)!r} "
            f"failed ({exc.strerror or exc}). Choose a directory you can write to."
        ) from exc
    os.close(fd)
    os.remove(probe)


def atomic_write_bytes(path: Any, data: bytes, what: str = "output file") -> Path:
    """Write ``data`` to ``path`` atomically with mode ``0o666 & ~umask``; returns the path."""
    target = check_writable(path, what)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputFileError(
            f"{what} {str(target)!r} cannot be written: {exc.strerror or exc}. Choose another "
            "path."
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputFileError(
            f"writing {what} {str(target)!r} failed: {exc.strerror or exc}; nothing was written."
        ) from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def atomic_write_text(path: Any, text: str, what: str = "output file") -> Path:
    """:func:`atomic_write_bytes` for text, encoded as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"), what)
