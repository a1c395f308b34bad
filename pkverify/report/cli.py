"""The ``report`` and ``explain`` sub-commands (registered by :mod:`pkverify.cli`).

    pkverify report [--out DIR] [--quick|--full] [--seed N] [--claims ID|FAMILY ...] [--proof]
    pkverify explain [--trajectory FILE] [--query "x1,x2,..."|FILE.npy] [--top K]
                     [--seed N] [--html FILE]

Bad arguments raise :class:`~pkverify.errors.PkVerifyError` before any work (the main CLI
turns that into exit status 2). ``report`` exits 0 when every claim passes or reports and
the proof verifies, 1 otherwise; ``explain`` exits 0 when b(x) + Σ contributions equals
the prediction within tolerance, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..errors import InvalidArgumentError

__all__ = ["add_report_parser", "add_explain_parser", "run_report", "run_explain"]

_MARK = {"pass": "PASS", "fail": "FAIL", "report": "INFO", "error": "ERROR"}


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``report`` to an argparse subparsers object."""
    p = subparsers.add_parser(
        "report",
        help="run the claims and write an HTML + Markdown + JSON correctness report",
        description="Run the claims and write index.html (self-contained: MathML, inline SVG), "
        "report.md with figures/*.svg, and results.json into --out, atomically.",
    )
    p.add_argument("--out", default="pkverify-report", metavar="DIR",
                   help="output folder (default ./pkverify-report; created if missing)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smaller models, fewer steps")
    mode.add_argument("--full", action="store_true", help="the full-size run (the default)")
    p.add_argument("--seed", type=int, default=0, help="seed for every generator (default 0)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--claims", nargs="+", metavar="ID",
                      help="claim ids or families (default: all)")
    what.add_argument("--proof", action="store_true",
                      help="only the proof walkthrough (Theorem 1 and Lemma 1, step by step)")
    p.add_argument("--quiet", action="store_true", help="no progress and no per-claim lines")
    p.set_defaults(func=run_report)
    return p


def add_explain_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``explain`` to an argparse subparsers object."""
    p = subparsers.add_parser(
        "explain",
        help="show one prediction as b(x) + Σ_i a_i(x) K^p(x, x_i), top training points first",
        description="Explain a prediction of a trained model term by term (Theorem 1): the "
        "training points with the largest |a_i(x) K^p(x, x_i)|, and the check that b(x) plus "
        "all contributions equals the prediction.",
    )
    p.add_argument("--trajectory", metavar="FILE",
                   help="a path saved with Trajectory.save (default: the demo model, a tanh "
                   "MLP [3, 16, 1] trained by GD)")
    p.add_argument("--query", metavar="X",
                   help='"x1,x2,..." or a .npy file of shape (d,) or (q, d) (default: a fresh '
                   "point for the demo model, the first training input for a trajectory)")
    p.add_argument("--top", type=int, default=5, metavar="K",
                   help="how many training points to list (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the demo model (default 0)")
    p.add_argument("--html", metavar="FILE", help="also write the contribution chart as HTML")
    p.set_defaults(func=run_explain)
    return p


def run_report(args: argparse.Namespace) -> int:
    """``pkverify report``."""
    from contextlib import nullcontext

    from ..progress import disabled, is_enabled
    from .build import build_report

    start = time.perf_counter()

    def line(r) -> None:
        if args.quiet:
            return
        text = f"{r.id:<28} {_MARK[r.status]:<5} {r.seconds:5.1f}s  {r.message}"
        if is_enabled():  # a bar is drawn on stderr: print above it, not through it
            from tqdm.auto import tqdm

            tqdm.write(text, file=sys.stdout)
        else:
            print(text, flush=True)

    with disabled() if args.quiet else nullcontext():  # --quiet: no bars, restored after
        payload = build_report(
            args.out, seed=args.seed, quick=args.quick, claims=args.claims,
            only_proof=args.proof, argv=_canonical(args), on_result=line,
        )
    s = payload["summary"]
    proof = payload["proof"]
    print(f"\n{s['passed']} passed, {s['failed'] + s['errors']} failed, {s['reported']} reported"
          + ("" if proof is None else f"; proof {'verified' if proof['ok'] else 'NOT verified'}")
          + f" ({time.perf_counter() - start:.1f} s)")
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


def run_explain(args: argparse.Namespace) -> int:
    """``pkverify explain``."""
    from .explain import (
        DEMO_INPUT_DIM,
        explain,
        load_trajectory,
        parse_query,
        render_html_page,
        render_text,
    )
    from .output import check_file_target, write_file_atomic

    if args.top < 1:
        raise InvalidArgumentError(f"--top must be at least 1; got {args.top}.")
    html_target = check_file_target(args.html, "--html") if args.html else None
    if args.trajectory:
        traj = load_trajectory(args.trajectory)
        queries = (parse_query(args.query, traj.model.input_dim) if args.query
                   else traj.X[:1])
        title = f"pkverify explain — {args.trajectory}"
    else:
        from ..claims.problems import demo_query, demo_trajectory

        queries = parse_query(args.query, DEMO_INPUT_DIM) if args.query else demo_query(args.seed)
        traj = demo_trajectory(args.seed)
        title = "pkverify explain — demo model (tanh MLP [3, 16, 1], GD on MSE)"
    top = min(args.top, traj.X.shape[0])
    expls = explain(traj, queries, top)
    print(f"{title}: {traj.X.shape[0]} training points, {traj.steps} steps, T = {traj.T:g}")
    for e in expls:
        print()
        print(render_text(e, traj.X))
    if html_target is not None:
        write_file_atomic(html_target, render_html_page(expls, traj.X, title))
        print(f"\nwrote {html_target}")
    return 0 if all(e.ok for e in expls) else 1
