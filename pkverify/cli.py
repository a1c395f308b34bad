"""Command line: ``pkverify verify`` runs the claims; ``pkverify derive`` shows closed forms.

Exit status: 0 when every claim passes (or only reports), 1 when any fails or errors,
2 for bad arguments, 130 when interrupted.

Adding a sub-command: write ``add_<name>(subparsers)`` that builds its parser with argparse
only (no heavy imports: ``pkverify --help`` must stay fast) and sets ``handler=`` to a
``"module:function"`` string; the function receives the parsed arguments and returns the exit
code. Then list ``add_<name>`` in :data:`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

from .errors import PkVerifyError

__all__ = ["main", "build_parser", "environment", "SUBCOMMANDS"]

_MARK = {"pass": "PASS", "fail": "FAIL", "report": "INFO", "error": "ERROR"}


# ----- argument types (argparse turns their errors into exit code 2 with the message) ------


def _seed_arg(text: str) -> int:
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


def _path_arg(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "expected a file path, got an empty string; leave the option out to write nothing"
        )
    return text


# ----- sub-commands ---------------------------------------------------------------------------


def add_verify(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "verify",
        help="run the claims and print a table of measured figures",
        description="Train small models, rebuild them as kernel machines, and check each claim. "
        "Each claim's line is printed as soon as it finishes.",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller models, fewer steps")
    size.add_argument(
        "--full", action="store_true", help="full sizes: every width and seed (the default)"
    )
    p.add_argument(
        "--claims",
        nargs="+",
        metavar="ID",
        help="claim ids or family names, e.g. theorem1 remark symbolic (default: all; "
        "--list shows them)",
    )
    p.add_argument(
        "--seed", type=_seed_arg, default=0, help="seed for every generator, an integer ≥ 0"
    )
    p.add_argument("--json", metavar="PATH", type=_path_arg, help="also write the results as JSON")
    p.add_argument(
        "--markdown", metavar="PATH", type=_path_arg, help="also write a Markdown report"
    )
    p.add_argument("--list", action="store_true", help="list the claims and their families")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar (it is drawn on stderr, "
        "only on a terminal)"
    )
    from .sweeps_cli import add_executor_flags

    add_executor_flags(p)  # --jobs N / --scheduler ADDRESS for the claims' sweeps
    p.set_defaults(handler="pkverify.cli:run_verify")
    return p


def add_derive(sub: Any) -> argparse.ArgumentParser:
    """``derive``: the parser lives here (argparse only); the SymPy work loads when it runs."""
    p = sub.add_parser(
        "derive",
        help="print closed-form gradients, tangent kernels, NTKs or verified proofs",
        description="Derive with SymPy: ∇f and K^g of a small model, an infinite-width "
        "kernel, or the verified steps of a proof. Options that do not apply to the chosen "
        "target are refused, not ignored.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="linear, two_layer or mlp")
    what.add_argument("--ntk", help="relu or erf: the infinite-width kernels")
    what.add_argument("--proof", help="theorem1 or lemma1: the verified steps")
    p.add_argument("--width", type=int, help="hidden width m of --model (default 2)")
    p.add_argument("--depth", type=int, help="hidden layers of --model mlp or --ntk (default 1)")
    p.add_argument("--dim", type=int, help="input dimension d of --model (default 2)")
    p.add_argument(
        "--activation",
        help="σ of --model two_layer/mlp (default relu) or of --proof (default tanh); an "
        "unknown name lists the choices",
    )
    p.add_argument("--format", help="text (default), latex or mathml")
    p.add_argument(
        "--full",
        action="store_true",
        help="text format: print each closed form in full instead of naming common "
        "subexpressions",
    )
    p.set_defaults(handler="pkverify.symbolic.cli:run_derive")
    return p


def add_report(sub: Any) -> argparse.ArgumentParser:
    from .report.cli import add_report_parser

    return add_report_parser(sub)


def add_explain(sub: Any) -> argparse.ArgumentParser:
    from .report.cli import add_explain_parser

    return add_explain_parser(sub)


def add_sweep(sub: Any) -> argparse.ArgumentParser:
    from .sweeps_cli import add_sweep_parser

    return add_sweep_parser(sub)


SUBCOMMANDS: list[Callable[[Any], argparse.ArgumentParser]] = [
    add_verify,
    add_report,
    add_explain,
    add_sweep,
    add_derive,
]
"""Each entry adds one sub-command to the parser (in this order in ``--help``)."""


def _version() -> str:
    from . import __version__

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


def environment(seed: int, quick: bool) -> dict[str, Any]:
    """Versions and settings recorded beside the results."""
    versions: dict[str, str | None] = {}
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


# ----- verify ---------------------------------------------------------------------------------


def _line(r: Any, width: int) -> str:
    return f"{r.id:<{width}}  {_MARK[r.status]:<6}  {r.seconds:5.1f}s  {r.message}"


def _summary(results: list[Any], out: Any) -> None:
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


def run_verify(args: argparse.Namespace) -> int:
    """``verify``: the claims, with their sweeps on the executor ``--jobs``/``--scheduler``
    name (connected once, before any claim runs)."""
    from .sweeps_cli import executor_from_args

    with executor_from_args(args):
        return _run_verify(args)


def _run_verify(args: argparse.Namespace) -> int:
    from . import progress
    from .claims.catalog import families, iter_run, select
    from .io import atomic_write_text, check_writable
    from .sources import cite

    claims = select(args.claims)  # validates ids and families before any work
    if args.list:
        width = max(len(c.id) for c in claims)
        for c in claims:
            print(f"{c.id:<{width}}  {c.title}  [{c.source}]")
        print(f"\nfamilies (for --claims): {', '.join(families())}")
        return 0
    # output paths are checked now, not after the run
    json_path = check_writable(args.json, "--json file") if args.json else None
    md_path = check_writable(args.markdown, "--markdown file") if args.markdown else None
    if args.quiet:
        progress.set_enabled(False)

    out = sys.stdout
    width = max(len(c.id) for c in claims)
    print(f"{'claim':<{width}}  {'status':<6}  {'time':>6}  figures", file=out)
    print("-" * (width + 2 + 6 + 2 + 6 + 2 + 40), file=out, flush=True)
    results = []
    stream = iter_run([c.id for c in claims], seed=args.seed, quick=args.quick)
    for r in progress.progress(stream, total=len(claims), desc="claims", unit="claim"):
        results.append(r)
        progress.write(_line(r, width), file=out)
    _summary(results, out)

    env = environment(args.seed, args.quick)
    if json_path is not None:
        import json

        claims_json = []
        for r in results:
            entry = r.to_dict()
            entry["citation"] = cite(r.source)
            claims_json.append(entry)
        payload = {"claims": claims_json, "environment": env}
        atomic_write_text(json_path, json.dumps(payload, indent=2, ensure_ascii=False), "--json")
        print(f"\nwrote {json_path}", file=out)
    if md_path is not None:
        from .report import render_markdown

        atomic_write_text(md_path, render_markdown(results, env), "--markdown file")
        print(f"wrote {md_path}", file=out)
    return 0 if all(r.ok for r in results) else 1


# ----- entry point ----------------------------------------------------------------------------


def _handler(spec: str) -> Callable[[argparse.Namespace], int]:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for bad arguments, 0 for --help / --version
        return int(exc.code or 0)
    try:
        handler = getattr(args, "handler", None)
        if handler is None:  # pragma: no cover - every sub-command sets one
            parser.error(f"unknown command {args.command!r}")
        return int(_handler(handler)(args))
    except PkVerifyError as exc:
        print(f"pkverify: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("\npkverify: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
