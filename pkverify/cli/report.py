"""``pkverify report``: run the claims (and the proof walkthrough) and write the report folder.

    pkverify report [--out DIR] [--quick|--full] [--seed N] [--claims ID|FAMILY ...] [--proof]
                    [-q]

The folder is written atomically by :func:`pkverify.report.build.build_report`. Before any
work this verb also makes sure it replaces nothing pkverify did not write: ``--out`` may be a
new folder, an empty one, or a folder holding a pkverify report (recognised by its
``results.json``); any other existing folder is refused (:func:`check_report_folder`).
Exit status 0 when every claim passes or reports and the proof verifies, 1 otherwise.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from . import options

__all__ = ["add", "run", "check_report_folder"]


def add(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "report",
        help="run the claims and write an HTML + Markdown + JSON correctness report",
        description="Run the claims and write index.html (self-contained: MathML, inline SVG), "
        "report.md with figures/*.svg, and results.json into --out, atomically. An existing "
        "--out folder must be empty or hold an earlier pkverify report.",
    )
    p.add_argument("--out", default="pkverify-report", metavar="DIR",
                   type=options.nonempty_path,
                   help="output folder (default ./pkverify-report; created if missing)")
    options.add_size(p)
    options.add_seed(p)
    what = p.add_mutually_exclusive_group()
    what.add_argument("--claims", nargs="+", metavar="ID",
                      help="claim ids or families (default: all)")
    what.add_argument("--proof", action="store_true",
                      help="only the proof walkthrough (Theorem 1 and Lemma 1, step by step)")
    options.add_quiet(p)  # also drops the per-claim lines
    p.set_defaults(handler=run)
    return p


def _is_report(folder: Path) -> bool:
    """Whether ``folder`` holds a report pkverify wrote (its ``results.json`` says so)."""
    import json

    from ..report.json import FORMAT

    try:
        payload = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(payload, dict) and payload.get("format") == FORMAT


def check_report_folder(out: str) -> None:
    """Refuse an existing ``--out`` folder that holds files but no pkverify report: writing
    there could replace a user's own ``index.html`` or ``report.md``."""
    from ..report.output import OutputPathError

    folder = Path(out).expanduser()
    if not folder.is_dir():
        return  # new (created), or a file (refused by the staging check with its message)
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".pkverify-"))
    if names and not _is_report(folder):
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise OutputPathError(
            f"--out {str(folder)!r} already holds files pkverify did not write ({shown}); a "
            "report there could replace them. Give a new or empty folder with --out (it is "
            "created if missing)."
        )


def run(args: argparse.Namespace) -> int:
    """``pkverify report``."""
    from contextlib import nullcontext

    from ..progress import disabled, write
    from ..report.build import build_report

    check_report_folder(args.out)
    start = time.perf_counter()

    def line(r: Any) -> None:
        if not args.quiet:
            write(f"{r.id:<28} {options.MARK[r.status]:<5} {r.seconds:5.1f}s  {r.message}")

    with disabled() if args.quiet else nullcontext():  # --quiet: no bars, restored after
        payload = build_report(
            args.out, seed=args.seed, quick=args.quick, claims=args.claims,
            only_proof=args.proof, argv=_canonical(args), on_result=line,
        )
    seconds = f" ({time.perf_counter() - start:.1f} s)"
    s, proof = payload["summary"], payload["proof"]
    verdict = "" if proof is None else f"proof {'verified' if proof['ok'] else 'NOT verified'}"
    if args.proof:
        print(f"\n{verdict}: the proof walkthrough alone, no claims run{seconds}")
    else:
        print(f"\n{s['passed']} passed, {s['failed'] + s['errors']} failed, {s['reported']} "
              f"reported of {s['total']} claims" + (f"; {verdict}" if verdict else "") + seconds)
    print(f"wrote {args.out}/: index.html, report.md, figures/, results.json, results.schema.json")
    return 0 if s["ok"] else 1


def _canonical(args: argparse.Namespace) -> list[str]:
    """The report's command line rebuilt from the parsed options (so it is recorded the same
    way however the command was invoked: console script, ``python -m`` or ``main([...])``)."""
    argv = ["report", "--out", str(args.out), "--quick" if args.quick else "--full",
            "--seed", str(args.seed)]
    if args.claims:
        argv += ["--claims", *args.claims]
    if args.proof:
        argv.append("--proof")
    return argv
