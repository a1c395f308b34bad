"""Sweeps: configurations × seeds → one tidy table of records.

    from pkverify import sweeps
    table = sweeps.run(measure, sweeps.grid(activation=["relu", "erf"], width=[64, 256]),
                       seeds=4)
    table.to_frame()          # a pandas DataFrame: activation, width, seed, <measured columns>

``fn(**config, seed=s)`` returns a mapping of scalars (one row) or a list of mappings (several
rows, e.g. one per time sample); each row becomes ``{**config, "seed": s, **row}``. Rows come
back in input order (configuration-major, then seed) whichever executor ran them, and every
random number a measurement draws comes from its ``seed``, so the table is the same in-process,
in local processes and on a Dask cluster.

Executors, chosen per call or for a whole run with :func:`configure` (the CLI's ``--jobs`` /
``--scheduler``):

=====================  ===================================================================
``jobs=None or 1``     in this process, one task after another (the default)
``jobs=N``             N local worker processes (``concurrent.futures``, spawn start method:
                       ``fn`` must be a module-level function so that it can be pickled, and
                       a script must call the sweep under ``if __name__ == "__main__":``,
                       since every worker imports the script again)
``scheduler=ADDRESS``  a running Dask scheduler (``"tcp://host:8786"``) or an existing
                       ``dask.distributed.Client``; needs the optional ``[dask]`` extra,
                       imported only here. An address that does not answer within
                       ``connect_timeout`` seconds raises SchedulerUnreachableError.
=====================  ===================================================================

Progress is shown per finished task (:mod:`pkverify.progress`; a bar only on a terminal).

The package: :mod:`.table` (the table and :func:`write`), :mod:`.configs` (grids, seeds and
their checks), :mod:`.executors` (in-process and local processes, the executor defaults) and
:mod:`.dask_executor` (Dask, loaded only when a sweep or :func:`connect` asks for it).
"""

from __future__ import annotations

from typing import Any

from .configs import grid
from .executors import configure, current, run, using
from .table import SweepTable, check_target, write

_DASK = ("connect", "CONNECT_TIMEOUT")

__all__ = [
    "SweepTable",
    "run",
    "grid",
    "configure",
    "using",
    "current",
    "write",
    "check_target",
    "connect",
    "CONNECT_TIMEOUT",
]


def __getattr__(name: str) -> Any:
    if name in _DASK:
        from . import dask_executor

        return getattr(dask_executor, name)
    raise AttributeError(f"module 'pkverify.sweeps' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_DASK))
