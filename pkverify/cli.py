"""Command line: ``pkverify verify`` runs the claims; ``pkverify derive`` shows closed forms.

Exit status: 0 when every claim passes (or only reports), 1 when any fails or errors,
2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .claims.registry import Result, run, select
from .errors import PkVerifyError

__all__ = ["main", "build_parser", "environment"]

_MARK = {"pass": "PASS", "fail": "FAIL", "report": "INFO", "error": "ERROR"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pkverify",
        description="Check the path-kernel theorem (Domingos 2020) and the NTK facts it rests on.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verify = sub.add_parser(
        "verify",
        help="run the claims and print a table of measured figures",
        description="Train small models, rebuild them as kernel machines, and check each claim.",
    )
    verify.add_argument("--quick", action="store_true", help="smaller models, fewer steps")
    verify.add_argument(
        "--claims", nargs="+", metavar="ID", help="claim ids or families (default: all)"
    )
    verify.add_argument("--seed", type=int, default=0, help="seed for every generator (default 0)")
    verify.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    verify.add_argument(
        "--markdown", metavar="PATH", help="also write a Markdown correctness report to PATH"
    )
    verify.add_argument("--list", action="store_true", help="list the claims and exit")
    from .sweeps_cli import add_executor_flags, add_sweep_parser

    add_executor_flags(verify)  # --jobs N / --scheduler ADDRESS for the claims' sweeps
    add_sweep_parser(sub)
    try:
        from .symbolic.cli import add_derive_parser
    except ImportError:  # the symbolic engine is optional at import time
        pass
    else:
        add_derive_parser(sub)
    from .report.cli import add_explain_parser, add_report_parser

    add_report_parser(sub)
    add_explain_parser(sub)
    return parser


def environment(seed: int, quick: bool) -> dict[str, Any]:
    """Versions and settings recorded beside the results."""
    versions = {}
    for pkg in ("pkverify", "numpy", "scipy", "sympy", "autograd", "hypothesis"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "seed": seed,
        "quick": quick,
        "dtype": "float64",
    }


def _print_table(results: list[Result], out) -> None:
    width = max(len(r.id) for r in results)
    print(f"{'claim':<{width}}  {'status':<6}  {'time':>6}  figures", file=out)
    print("-" * (width + 2 + 6 + 2 + 6 + 2 + 40), file=out)
    for r in results:
        print(f"{r.id:<{width}}  {_MARK[r.status]:<6}  {r.seconds:5.1f}s  {r.message}", file=out)
    counts = {s: sum(r.status == s for r in results) for s in _MARK}
    print(
        f"\n{counts['pass']} passed, {counts['fail'] + counts['error']} failed"
        + (f", {counts['report']} reported" if counts["report"] else ""),
        file=out,
    )
    for r in results:
        if r.status in ("fail", "error"):
            print(f"\n{r.id}: {r.status}. Tolerance: {r.tolerance}", file=out)
            print(f"  {r.message}", file=out)
            for key, value in r.metrics.items():
                print(f"  {key} = {value}", file=out)


def _write_text(path: str, text: str) -> None:
    """Write atomically: a failure leaves no half-written file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _verify(args: argparse.Namespace) -> int:
    claims = select(args.claims)  # validates ids before any work
    if args.list:
        for c in claims:
            print(f"{c.id:<28} {c.title}  [{c.source}]")
        return 0
    results = run([c.id for c in claims], seed=args.seed, quick=args.quick)
    _print_table(results, sys.stdout)
    env = environment(args.seed, args.quick)
    if args.json:
        payload = {"claims": [r.to_dict() for r in results], "environment": env}
        _write_text(args.json, json.dumps(payload, indent=2, ensure_ascii=False))
        print(f"\nwrote {args.json}")
    if args.markdown:
        from .report import render_markdown

        _write_text(args.markdown, render_markdown(results, env))
        print(f"wrote {args.markdown}")
    return 0 if all(r.ok for r in results) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for bad arguments, 0 for --help
        return int(exc.code or 0)
    try:
        if args.command == "verify":
            from .sweeps_cli import executor_from_args

            with executor_from_args(args):
                return _verify(args)
        if args.command == "sweep":
            from .sweeps_cli import run_sweep

            return run_sweep(args)
        if args.command == "derive":
            from .symbolic.cli import run_derive

            return run_derive(args)
        if args.command in ("report", "explain"):
            return args.func(args)
    except PkVerifyError as exc:
        print(f"pkverify: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stderr.close()
        return 0
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
