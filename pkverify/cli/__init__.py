"""Command line: ``pkverify verify | report | explain | sweep | derive``.

One module per verb (:mod:`.verify`, :mod:`.report`, :mod:`.explain`, :mod:`.sweep`,
:mod:`.derive`), the options they share written once in :mod:`.options`.

Exit status: 0 when every claim passes (or only reports), 1 when any fails or errors,
2 for bad arguments, 130 when interrupted (Ctrl-C), 143 when terminated (SIGTERM).

Adding a verb: write a module with ``add(subparsers)``, which builds its parser with argparse
only (no heavy imports at module level: ``pkverify --help`` must stay fast) and sets
``handler=`` to its ``run(args) -> exit code``; then list its ``add`` in :data:`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import platform
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import PkVerifyError
from . import derive, explain, report, sweep, verify

__all__ = ["main", "build_parser", "SUBCOMMANDS", "Terminated"]

SUBCOMMANDS: list[Callable[[Any], argparse.ArgumentParser]] = [
    verify.add,
    report.add,
    explain.add,
    sweep.add,
    derive.add,
]
"""Each entry adds one sub-command to the parser (in this order in ``--help``)."""


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so that every ``with``/``finally`` block (a
    report's staging folder, a sweep's process pool) cleans up as it does on Ctrl-C."""


def _version() -> str:
    from .. import __version__

    return f"pkverify {__version__} (Python {platform.python_version()})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pkverify",
        description="Check the path-kernel theorem (Domingos 2020) and the NTK facts it rests on.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for bad arguments, 0 for --help / --version
        return int(exc.code or 0)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    try:
        return int(args.handler(args))
    except PkVerifyError as exc:
        print(f"pkverify: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("\npkverify: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("\npkverify: terminated", file=sys.stderr)
        return 143
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
