"""``pkverify verify``: run the claims and print a table of measured figures, one line per
claim as soon as it finishes; optionally ``--json`` and ``--markdown`` files.

Output paths are checked before any claim runs. Without a terminal on stderr (a log, CI)
there is no progress bar, so a claim still running after :data:`LONG_CLAIM_SECONDS` gets a
line on stderr saying so.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Iterator
from typing import Any

from . import options

__all__ = ["add", "run", "LONG_CLAIM_SECONDS"]

LONG_CLAIM_SECONDS = 5.0
"""Without a progress bar, a claim still running after this many seconds is announced."""


def add(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "verify",
        help="run the claims and print a table of measured figures",
        description="Train small models, rebuild them as kernel machines, and check each claim. "
        "Each claim's line is printed as soon as it finishes.",
    )
    options.add_size(p)
    p.add_argument(
        "--claims", nargs="+", metavar="ID",
        help="claim ids or family names, e.g. theorem1 remark symbolic (default: all; "
        "--list shows them)",
    )
    options.add_seed(p)
    p.add_argument("--json", metavar="PATH", type=options.nonempty_path,
                   help="also write the results as JSON")
    p.add_argument("--markdown", metavar="PATH", type=options.nonempty_path,
                   help="also write a Markdown report")
    p.add_argument("--list", action="store_true", help="list the claims and their families")
    options.add_quiet(p)
    options.add_executor(p)  # --jobs N / --scheduler ADDRESS for the claims' sweeps
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    """``verify``: the claims, with their sweeps on the executor ``--jobs``/``--scheduler``
    name (connected once, before any claim runs)."""
    from ..claims.catalog import families, select

    claims = select(args.claims)  # validates ids and families before any work
    if args.list:
        width = max(len(c.id) for c in claims)
        for c in claims:
            print(f"{c.id:<{width}}  {c.title}  [{c.source}]")
        print(f"\nfamilies (for --claims): {', '.join(families())}")
        return 0
    # output paths are checked now, not after the run
    json_path = options.output_file(args.json, "--json") if args.json else None
    md_path = options.output_file(args.markdown, "--markdown") if args.markdown else None
    with options.executor_from_args(args):
        results = _run_claims(args, claims)
    return _write(args, results, json_path, md_path)


def _line(r: Any, width: int) -> str:
    return f"{r.id:<{width}}  {options.MARK[r.status]:<6}  {r.seconds:5.1f}s  {r.message}"


def _run_claims(args: argparse.Namespace, claims: list[Any]) -> list[Any]:
    from .. import progress
    from ..claims.catalog import iter_run

    if args.quiet:
        progress.set_enabled(False)
    try:
        width = max(len(c.id) for c in claims)
        print(f"{'claim':<{width}}  {'status':<6}  {'time':>6}  figures")
        print("-" * (width + 2 + 6 + 2 + 6 + 2 + 40), flush=True)
        results = []
        stream = iter_run([c.id for c in claims], seed=args.seed, quick=args.quick)
        notices = not args.quiet and not progress.is_enabled()
        announced = _announce_long(claims, stream) if notices else stream
        for r in progress.progress(announced, total=len(claims), desc="claims", unit="claim"):
            results.append(r)
            progress.write(_line(r, width), file=sys.stdout)
    finally:
        if args.quiet:
            progress.set_enabled(None)
    _summary(results)
    return results


def _announce_long(claims: list[Any], stream: Iterator[Any]) -> Iterator[Any]:
    """Yield ``stream``'s results; a claim still running after :data:`LONG_CLAIM_SECONDS`
    gets one line on stderr (a log is otherwise silent until it finishes)."""
    for c in claims:
        timer = threading.Timer(LONG_CLAIM_SECONDS, _notice, args=(c.id,))
        timer.daemon = True
        timer.start()
        try:
            result = next(stream)
        finally:
            timer.cancel()
        yield result


def _notice(claim_id: str) -> None:
    print(f"{claim_id}: still running after {LONG_CLAIM_SECONDS:g} s (its line follows when "
          "it finishes)", file=sys.stderr, flush=True)


def _summary(results: list[Any]) -> None:
    counts = {s: sum(r.status == s for r in results) for s in options.MARK}
    print(f"\n{counts['pass']} passed, {counts['fail'] + counts['error']} failed"
          + (f", {counts['report']} reported" if counts["report"] else ""))
    for r in results:
        if r.status in ("fail", "error"):
            print(f"\n{r.id}: {r.status}. Tolerance: {r.tolerance}")
            print(f"  {r.message}")
            for key, value in r.metrics.items():
                print(f"  {key} = {value}")


def _write(args: argparse.Namespace, results: list[Any], json_path: Any, md_path: Any) -> int:
    from ..io import atomic_write_text
    from ..report.environment import environment

    env = environment(args.seed, args.quick, _canonical(args))
    if json_path is not None:
        from ..report.json import dumps
        from ..sources import cite

        claims_json = []
        for r in results:
            entry = r.to_dict()
            entry["citation"] = cite(r.source)
            claims_json.append(entry)
        payload = {"claims": claims_json, "environment": env}
        # NaN and ±∞ as the report's strings: strict JSON, readable by any parser
        atomic_write_text(json_path, dumps(payload), "--json file")
        print(f"\nwrote {json_path}")
    if md_path is not None:
        from ..report import render_markdown

        atomic_write_text(md_path, render_markdown(results, env), "--markdown file")
        print(f"wrote {md_path}")
    return 0 if all(r.ok for r in results) else 1


def _canonical(args: argparse.Namespace) -> list[str]:
    """The command line rebuilt from the parsed options (recorded the same way however it was
    invoked: console script, ``python -m`` or ``main([...])``)."""
    argv = ["verify", "--quick" if args.quick else "--full", "--seed", str(args.seed)]
    if args.claims:
        argv += ["--claims", *args.claims]
    return argv
