"""``pkverify sweep NAME``: run one named sweep and print its tidy table and fitted slopes;
``--jobs N`` / ``--scheduler ADDRESS`` for ``verify`` and ``sweep`` alike.

    pkverify sweep --list
    pkverify sweep ntk.lemma2 --full --jobs 2 --out lemma2.csv
    pkverify sweep ntk.deep --scheduler tcp://10.0.0.5:8786
    pkverify verify --claims ntk --scheduler tcp://10.0.0.5:8786   (full sizes unless --quick)
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import sweeps
from .errors import InvalidArgumentError, unknown_name

__all__ = ["add_executor_flags", "add_sweep_parser", "run_sweep", "executor_from_args"]


def _named() -> dict[str, Any]:
    from .claims.ntk_measures import SWEEPS

    return SWEEPS


def add_executor_flags(parser: argparse.ArgumentParser) -> None:
    """``--jobs N`` and ``--scheduler ADDRESS`` on a subcommand."""
    parser.add_argument("--jobs", type=int, metavar="N",
                        help="run sweep points in N local processes (default: in-process)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run sweep points on a Dask cluster, e.g. tcp://host:8786 "
                        "(needs pkverify[dask])")


def add_sweep_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``sweep`` subcommand."""
    p = sub.add_parser(
        "sweep",
        help="run a named width/seed sweep and print its table and slopes",
        description="Run one of the claims' sweeps (configurations × seeds) and print a tidy "
        "table plus the fitted log-log slope per group.",
    )
    p.add_argument("name", nargs="?", help="sweep name (see --list)")
    p.add_argument("--list", action="store_true", help="list the named sweeps and exit")
    p.add_argument("--full", action="store_true", help="full widths and seeds (default: quick)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--out", metavar="PATH", help="also write the table (.csv, else JSON)")
    p.add_argument("--max-rows", type=int, default=40, metavar="K",
                   help="rows of the table to print (default 40)")
    add_executor_flags(p)
    p.set_defaults(handler="pkverify.sweeps_cli:run_sweep")
    return p


@contextmanager
def executor_from_args(args: argparse.Namespace) -> Iterator[None]:
    """Connect once (failing within seconds if the scheduler does not answer) and make the
    executor the default for every sweep inside the block."""
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


def run_sweep(args: argparse.Namespace) -> int:
    """Run ``pkverify sweep``; returns the exit status."""
    from .claims.ntk_measures import rate
    from .claims.registry import CheckConfig

    named = _named()
    if args.list or not args.name:
        for name, build in named.items():
            fn = build(CheckConfig(quick=True))[0]
            print(f"{name:<22} {(fn.__doc__ or '').strip().splitlines()[0]}")
        return 0
    if args.name not in named:
        raise unknown_name("sweep", args.name, tuple(named))
    fn, configs, seeds, (group, x, y) = named[args.name](
        CheckConfig(seed=args.seed, quick=not args.full))
    with executor_from_args(args):
        table = sweeps.run(fn, configs, seeds, desc=args.name)
    print(table.format(max_rows=args.max_rows))
    print(f"\nlog-log slope of {y} against {x} (pooled; per-seed mean ± spread):")
    for value in dict.fromkeys(table.column(group).tolist()):
        for extra in _subgroups(table.where(**{group: value})):
            sub = table.where(**{group: value}, **extra)
            label = ", ".join([f"{group}={value}"] + [f"{k}={v}" for k, v in extra.items()])
            print(f"  {label:<28} {rate(sub, x, y).text()}")
    if args.out:
        sweeps.write(table, args.out)
        print(f"\nwrote {args.out}")
    return 0


def _subgroups(table: sweeps.SweepTable) -> list[dict[str, Any]]:
    """Split further by ``depth`` where a sweep has it (the deep NTK)."""
    if "depth" in table.columns:
        return [{"depth": d} for d in dict.fromkeys(table.column("depth").tolist())]
    return [{}]
