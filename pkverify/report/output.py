"""Atomic output: check where a report or file goes before any work, write it all at once.

A report is written into a *staging* folder next to its destination (same file system) and
moved into place only when everything is written, so a failed or interrupted run leaves the
destination as it was. :class:`Staging` checks the destination when it is created — before
the caller starts any work:

* an existing path that is not a folder → :class:`OutputPathError`;
* a folder (or, when the destination does not exist yet, its nearest existing ancestor) in
  which nothing can be created → :class:`OutputPathError`.

When the destination folder does not exist, the staging folder itself is renamed to it (one
atomic step). When it exists, only the report's own entries (``index.html``, ``report.md``,
``results.json``, ``figures/``) are replaced, each by one rename; other files in the folder
are left alone. Written files get the user's umask, like any file the user creates.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from ..errors import InvalidArgumentError

__all__ = ["OutputPathError", "Staging", "check_file_target", "write_file_atomic"]


class OutputPathError(InvalidArgumentError):
    """The output folder or file cannot be written (it is a file, or not writable)."""


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _probe(folder: Path, what: str) -> Path:
    """Create the staging folder in ``folder``: proof that it is writable."""
    if not folder.is_dir():
        raise OutputPathError(
            f"{what}: {str(folder)!r} is a file, not a folder; pass a folder path with --out "
            "(it is created if missing)."
        )
    try:
        return Path(tempfile.mkdtemp(prefix=".pkverify-staging-", dir=folder))
    except OSError as exc:
        raise OutputPathError(
            f"{what}: cannot write in {str(folder)!r} ({exc.strerror or exc}); choose a folder "
            "you can write to with --out, or fix its permissions."
        ) from exc


class Staging:
    """A staging folder for ``destination``; ``commit(entries)`` moves them into place.

    Use as a context manager: leaving the block without :meth:`commit` (an error, Ctrl-C)
    removes the staging folder and leaves ``destination`` untouched.
    """

    def __init__(self, destination: str | os.PathLike[str]):
        self.destination = Path(destination).expanduser().absolute()
        dest = self.destination
        if dest.exists() and not dest.is_dir():
            raise OutputPathError(
                f"output folder {str(dest)!r} is an existing file; pass a folder path with "
                "--out (it is created if missing)."
            )
        self._fresh = not dest.exists()
        anchor = _nearest_existing(dest.parent) if self._fresh else dest
        self.path = _probe(anchor, "output folder")
        self._done = False

    def commit(self, entries: list[str]) -> Path:
        """Move the staged ``entries`` (names relative to the staging folder) into place."""
        dest = self.destination
        if self._fresh:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self.path, 0o777 & ~_umask())  # mkdtemp makes it 0700
            os.rename(self.path, dest)
        else:
            old = self.path / ".previous"
            old.mkdir()
            for name in entries:
                target, staged = dest / name, self.path / name
                if target.is_dir() and not target.is_symlink():
                    os.rename(target, old / name)
                os.replace(staged, target)
            shutil.rmtree(self.path, ignore_errors=True)
        self._done = True
        return dest

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._done:
            shutil.rmtree(self.path, ignore_errors=True)


def check_file_target(path: str | os.PathLike[str], what: str) -> Path:
    """Check that a file can be written at ``path`` (before any work): not a folder, and its
    folder (or nearest existing ancestor) writable."""
    target = Path(path).expanduser().absolute()
    if target.is_dir():
        raise OutputPathError(f"{what}: {str(target)!r} is a folder; give a file name.")
    probe = _probe(_nearest_existing(target.parent), what)
    shutil.rmtree(probe, ignore_errors=True)
    return target


def write_file_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and one rename (umask permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pkverify-", suffix=".tmp")
    os.close(fd)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
