"""The options every verb shares, written once: ``--quick/--full``, ``--seed``, ``-q/--quiet``,
output paths, ``--jobs/--scheduler``.

Argument types raise :class:`argparse.ArgumentTypeError`, which argparse turns into exit
status 2 with the message, before any work. Only argparse and the standard library are
imported here at module level (``pkverify --help`` must stay fast).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "seed", "nonempty_path", "add_size", "add_seed", "add_quiet", "add_executor", "add_scheduler",
    "executor_from_args", "output_file", "MARK",
]

MARK = {"pass": "PASS", "fail": "FAIL", "report": "INFO", "error": "ERROR"}
"""How each claim status is printed in the tables of ``verify`` and ``report``."""


def seed(text: str) -> int:
    """An integer ≥ 0 (NumPy's generators refuse negative seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative integer such as 0 or 12345, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative integer (numpy's generators refuse negative seeds), "
            f"got {value}"
        )
    return value


def nonempty_path(text: str) -> str:
    """A path that is not empty or blank (an empty ``--out ""`` would mean the current folder
    or nothing at all; neither is what anyone types it for)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "expected a path, got an empty string; give a name, or leave the option out"
        )
    return text


def add_size(p: argparse.ArgumentParser) -> None:
    """``--quick`` / ``--full`` (full is the default for every verb); sets ``args.quick``."""
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller models, fewer steps")
    size.add_argument("--full", action="store_true",
                      help="full sizes: every width and seed (the default)")


def add_seed(p: argparse.ArgumentParser, what: str = "seed for every generator") -> None:
    """``--seed N``, an integer ≥ 0 (default 0)."""
    p.add_argument("--seed", type=seed, default=0, metavar="N",
                   help=f"{what}, an integer ≥ 0 (default 0)")


def add_quiet(p: argparse.ArgumentParser) -> None:
    """``-q/--quiet``: no progress bars and no notices on stderr."""
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar or notices on stderr (a bar is drawn only on a "
                   "terminal)")


def add_executor(p: argparse.ArgumentParser) -> None:
    """``--jobs N`` and ``--scheduler ADDRESS`` for the sweeps a verb runs."""
    p.add_argument("--jobs", type=int, metavar="N",
                   help="run sweep points in N local processes (default: in-process)")
    add_scheduler(p, "run sweep points on a Dask cluster")


def add_scheduler(p: argparse.ArgumentParser, what: str) -> None:
    """``--scheduler ADDRESS``: a Dask scheduler to run the verb's work on."""
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help=f"{what}, e.g. tcp://host:8786 (needs pkverify[dask])")


@contextmanager
def executor_from_args(args: argparse.Namespace) -> Iterator[None]:
    """Connect once (failing within seconds if the scheduler does not answer) and make the
    executor the default for every sweep inside the block."""
    from .. import sweeps
    from ..errors import InvalidArgumentError

    jobs = getattr(args, "jobs", None)
    address = getattr(args, "scheduler", None)
    if jobs is not None and address is not None:
        raise InvalidArgumentError("give either --jobs N or --scheduler ADDRESS, not both.")
    if address is None:
        with sweeps.using(jobs=jobs):
            yield
        return
    client = sweeps.connect(address)
    try:
        with sweeps.using(scheduler=client):
            yield
    finally:
        client.close()


def output_file(path: Any, option: str) -> Path:
    """Check, before any work, that a file can be written at ``path`` given with ``option``
    (``--json``, ``--html``, ...): not a folder, its folder writable (probed by creating and
    removing a file there). Raises :class:`~pkverify.errors.OutputFileError` naming ``option``."""
    from ..io import check_writable

    return check_writable(path, f"{option} file")
