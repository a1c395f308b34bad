"""``pkverify sweep NAME``: run one named sweep and print its tidy table and fitted slopes.

    pkverify sweep --list
    pkverify sweep ntk.lemma2 --jobs 2 --out lemma2.csv      (full sizes unless --quick)
    pkverify sweep ntk.deep --quick --scheduler tcp://10.0.0.5:8786

``--out`` is checked before the sweep runs (a folder, or a place where no file can be created,
is refused) and written by :func:`pkverify.sweeps.write`: atomically, with the umask's
permissions, CSV for ``.csv`` and JSON otherwise, never over a file pkverify did not write.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from . import options

__all__ = ["add", "run", "summary"]


def add(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "sweep",
        help="run a named width/seed sweep and print its table and slopes",
        description="Run one of the claims' sweeps (configurations × seeds) and print a tidy "
        "table plus the fitted log-log slope per group.",
    )
    p.add_argument("name", nargs="?", help="sweep name (see --list)")
    p.add_argument("--list", action="store_true", help="list the named sweeps and exit")
    options.add_size(p)
    options.add_seed(p, "base seed")
    p.add_argument("--out", metavar="PATH", type=options.nonempty_path,
                   help="also write the table (.csv, else JSON)")
    p.add_argument("--max-rows", type=int, default=40, metavar="K",
                   help="rows of the table to print (default 40)")
    options.add_quiet(p)
    options.add_executor(p)
    p.set_defaults(handler=run)
    return p


_ROLE = re.compile(r":[a-z]+:`~?([^`]*)`")


def summary(doc: str | None) -> str:
    """A docstring's first paragraph as one plain line: reStructuredText markup (````x````,
    ``:func:`x```) removed, the "Sweep task:" prefix dropped."""
    first = " ".join((doc or "").strip().split("\n\n")[0].split())
    first = _ROLE.sub(r"\1", first).replace("``", "")
    return first.removeprefix("Sweep task:").strip()


def _named() -> dict[str, Any]:
    from ..claims.ntk_measures import SWEEPS

    return SWEEPS


def run(args: argparse.Namespace) -> int:
    """Run ``pkverify sweep``; returns the exit status."""
    from contextlib import nullcontext

    from .. import sweeps
    from ..claims.ntk_measures import rate
    from ..claims.registry import CheckConfig
    from ..errors import unknown_name
    from ..progress import disabled

    named = _named()
    if args.list or not args.name:
        for name, build in named.items():
            fn = build(CheckConfig(quick=True))[0]
            print(f"{name:<22} {summary(fn.__doc__)}")
        return 0
    if args.name not in named:
        raise unknown_name("sweep", args.name, tuple(named))
    out = None
    if args.out:  # before any work: writable, not a folder, not a file pkverify did not write
        options.output_file(args.out, "--out")
        out = sweeps.check_target(args.out)
    fn, configs, seeds, (group, x, y) = named[args.name](
        CheckConfig(seed=args.seed, quick=args.quick))
    with options.executor_from_args(args), disabled() if args.quiet else nullcontext():
        table = sweeps.run(fn, configs, seeds, desc=args.name)
    print(table.format(max_rows=args.max_rows))
    print(f"\nlog-log slope of {y} against {x} (pooled; per-seed mean ± spread):")
    for value in dict.fromkeys(table.column(group).tolist()):
        for extra in _subgroups(table.where(**{group: value})):
            sub = table.where(**{group: value}, **extra)
            label = ", ".join([f"{group}={value}"] + [f"{k}={v}" for k, v in extra.items()])
            print(f"  {label:<28} {rate(sub, x, y).text()}")
    if out is not None:
        print(f"\nwrote {sweeps.write(table, out)}")
    return 0


def _subgroups(table: Any) -> list[dict[str, Any]]:
    """Split further by ``depth`` where a sweep has it (the deep NTK)."""
    if "depth" in table.columns:
        return [{"depth": d} for d in dict.fromkeys(table.column("depth").tolist())]
    return [{}]
