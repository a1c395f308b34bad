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
                       ``fn`` must be a module-level function so that it can be pickled)
``scheduler=ADDRESS``  a running Dask scheduler (``"tcp://host:8786"``) or an existing
                       ``dask.distributed.Client``; needs the optional ``[dask]`` extra,
                       imported only here. An address that does not answer within
                       ``connect_timeout`` seconds raises SchedulerUnreachableError.
=====================  ===================================================================

Progress is shown per finished task (:mod:`pkverify.progress`; a bar only on a terminal).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import pickle
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import (
    BackendMissingError,
    InvalidArgumentError,
    SchedulerUnreachableError,
    ShapeError,
)
from .progress import Counter

__all__ = [
    "SweepTable",
    "run",
    "grid",
    "configure",
    "using",
    "current",
    "write",
    "connect",
    "CONNECT_TIMEOUT",
]

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a Dask scheduler address to answer before giving up."""

Row = dict[str, Any]
Measure = Callable[..., "Mapping[str, Any] | Sequence[Mapping[str, Any]]"]

_DEFAULT: dict[str, Any] = {"jobs": None, "scheduler": None}
_POOL: dict[str, Any] = {"jobs": None, "pool": None}  # one process pool kept by `using`


# ---------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepTable:
    """A tidy table: one dict per measured row, all with the same keys (``columns``).

    records: the rows in input order (configuration-major, then seed, then the rows one
             call returned); values are Python scalars (int, float, str, bool).
    """

    records: tuple[Row, ...]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.records)

    @property
    def columns(self) -> list[str]:
        return list(self.records[0]) if self.records else []

    def column(self, name: str) -> np.ndarray:
        """The values of one column, in row order."""
        if self.records and name not in self.records[0]:
            raise InvalidArgumentError(
                f"no column {name!r} in this sweep; its columns are {self.columns}."
            )
        return np.array([r[name] for r in self.records])

    def where(self, **match: Any) -> SweepTable:
        """The rows whose columns equal every ``key=value`` given."""
        return SweepTable(tuple(r for r in self.records
                                if all(r.get(k) == v for k, v in match.items())))

    def to_frame(self) -> Any:
        """A pandas DataFrame (pandas comes with the ``[dask]`` extra)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is in the test environment
            raise BackendMissingError(
                "SweepTable.to_frame() needs pandas; install it with "
                "`pip install pkverify[dask]` (or `pip install pandas`), or use .records."
            ) from exc
        return pd.DataFrame.from_records(list(self.records), columns=self.columns)

    def to_csv(self) -> str:
        """The table as CSV text (header row first)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for r in self.records:
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in r.items()})
        return buf.getvalue()

    def to_json(self) -> str:
        """The rows as a JSON list (NaN/inf written as strings)."""
        return json.dumps([{k: _json_value(v) for k, v in r.items()} for r in self.records],
                          indent=1)

    def format(self, max_rows: int | None = None) -> str:
        """A plain-text table (floats to 6 significant digits)."""
        cols = self.columns
        rows = self.records if max_rows is None else self.records[:max_rows]
        cells = [[_cell(r[c]) for c in cols] for r in rows]
        widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths)),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
        if max_rows is not None and len(self.records) > max_rows:
            lines.append(f"... {len(self.records) - max_rows} more rows")
        return "\n".join(lines)


def _cell(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


# ---------------------------------------------------------------------------------------
# configurations
# ---------------------------------------------------------------------------------------


def grid(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    """Every combination of the axes, the first axis varying slowest.

    ``grid(act=["relu", "erf"], width=[64, 128])`` →
    ``[{act: relu, width: 64}, {act: relu, width: 128}, {act: erf, width: 64}, ...]``.
    """
    names = list(axes)
    values = [list(v) for v in axes.values()]
    for name, vals in zip(names, values):
        if not vals:
            raise InvalidArgumentError(f"grid axis {name!r} is empty; give it at least one value.")
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def _seeds(seeds: int | Iterable[int]) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise InvalidArgumentError(
                f"seeds must be ≥ 1 (a count) or a list of ints; got {seeds}."
            )
        return list(range(int(seeds)))
    try:
        out = list(seeds)  # type: ignore[arg-type]
    except TypeError as exc:
        raise InvalidArgumentError(
            f"seeds must be a count or an iterable of ints; got {seeds!r}."
        ) from exc
    if not out or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                          for s in out):
        raise InvalidArgumentError(f"seeds must be a non-empty list of ints; got {out!r}.")
    return [int(s) for s in out]


# ---------------------------------------------------------------------------------------
# executor defaults (the CLI's --jobs / --scheduler)
# ---------------------------------------------------------------------------------------


def configure(jobs: int | None = None, scheduler: Any = None) -> None:
    """Set the executor every later :func:`run` uses when it is given none."""
    _DEFAULT["jobs"] = _check_jobs(jobs)
    _DEFAULT["scheduler"] = scheduler


def current() -> dict[str, Any]:
    """The executor defaults now in force: ``{"jobs": ..., "scheduler": ...}``."""
    return dict(_DEFAULT)


@contextmanager
def using(jobs: int | None = None, scheduler: Any = None) -> Iterator[None]:
    """Within the block, sweeps run with these executor defaults (restored afterwards).

    With ``jobs=N > 1`` the block keeps one pool of N worker processes for all its sweeps
    (a ``verify`` run has a dozen), started on first use and shut down at the end.
    """
    old, old_pool = dict(_DEFAULT), dict(_POOL)
    configure(jobs, scheduler)
    _POOL.update(jobs=_DEFAULT["jobs"], pool=None)
    try:
        yield
    finally:
        if _POOL["pool"] is not None:
            _POOL["pool"].shutdown()
        _DEFAULT.update(old)
        _POOL.update(old_pool)


def _check_jobs(jobs: Any) -> int | None:
    if jobs is None:
        return None
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise InvalidArgumentError(
            f"jobs must be a positive integer (the number of local worker processes; 1 runs "
            f"in this process); got {jobs!r}."
        )
    return int(jobs)


# ---------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------


def run(
    fn: Measure,
    configs: Sequence[Mapping[str, Any]],
    seeds: int | Iterable[int] = 1,
    *,
    jobs: int | None = None,
    scheduler: Any = None,
    desc: str = "sweep",
    progress: bool | None = None,
    connect_timeout: float | None = None,
) -> SweepTable:
    """Evaluate ``fn(**config, seed=s)`` for every configuration and seed; a :class:`SweepTable`.

    ``jobs`` / ``scheduler`` pick the executor (module docstring); when both are None the
    defaults set by :func:`configure` apply. Every argument is checked before any task runs.
    """
    if not callable(fn):
        raise InvalidArgumentError(f"fn must be a callable measure(**config, seed); got {fn!r}.")
    config_list = [dict(c) for c in configs]
    if not config_list:
        raise InvalidArgumentError("configs is empty; give at least one configuration ({}).")
    for c in config_list:
        if "seed" in c:
            raise InvalidArgumentError(
                "a configuration may not set 'seed'; seeds are given separately (seeds=...)."
            )
    seed_list = _seeds(seeds)
    if jobs is None and scheduler is None:
        jobs, scheduler = _DEFAULT["jobs"], _DEFAULT["scheduler"]
    jobs = _check_jobs(jobs)
    if jobs is not None and jobs > 1 and scheduler is not None:
        raise InvalidArgumentError(
            "give either jobs=N (local processes) or scheduler=... (Dask), not both."
        )
    tasks = [(c, s) for c in config_list for s in seed_list]
    if scheduler is not None:
        outputs = _run_dask(fn, tasks, scheduler, desc, progress, connect_timeout)
    elif jobs is not None and jobs > 1:
        outputs = _run_processes(fn, tasks, jobs, desc, progress)
    else:
        outputs = []
        with Counter(len(tasks), desc, progress, unit="task") as bar:
            for c, s in tasks:
                outputs.append(_call(fn, c, s))
                bar.update()
    return SweepTable(tuple(row for rows in outputs for row in rows))


def _call(fn: Measure, config: dict[str, Any], seed: int) -> list[Row]:
    """Run one task and normalise its output to rows ``{**config, seed, **measured}``."""
    out = fn(**config, seed=seed)
    items = [out] if isinstance(out, Mapping) else list(out)
    rows = []
    for item in items:
        if not isinstance(item, Mapping):
            raise ShapeError(
                f"a sweep measure must return a mapping of scalars or a list of them; "
                f"{getattr(fn, '__name__', fn)} returned an item of type {type(item).__name__}."
            )
        row: Row = {**config, "seed": seed}
        for k, v in item.items():
            if k in row:
                raise InvalidArgumentError(
                    f"measured column {k!r} clashes with a configuration key or 'seed'; "
                    "rename it in the measure."
                )
            row[str(k)] = _scalar(k, v)
        rows.append(row)
    return rows


def _scalar(key: Any, v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if not isinstance(v, (int, float, str, bool)) and v is not None:
        raise ShapeError(
            f"sweep column {key!r} must hold a scalar (int, float, str, bool); got "
            f"{type(v).__name__}. Return one row per value (a list of mappings) instead."
        )
    return v


def _picklable(fn: Measure, where: str) -> None:
    try:
        pickle.dumps(fn)
    except Exception as exc:
        raise InvalidArgumentError(
            f"{where} needs a measure that can be pickled: a function defined at module "
            f"level, not a lambda or a local closure ({exc}). Move it to a module, or run "
            "in-process (jobs=None)."
        ) from exc


def _run_processes(fn, tasks, jobs, desc, progress) -> list[list[Row]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    _picklable(fn, f"jobs={jobs}")
    ctx = multiprocessing.get_context("spawn")  # no fork of a threaded parent (BLAS, Dask)
    kept = _POOL["jobs"] == jobs
    if kept and _POOL["pool"] is None:
        _POOL["pool"] = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
    pool = _POOL["pool"] if kept else ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
    try:
        futures = [pool.submit(_call, fn, c, s) for c, s in tasks]
        with Counter(len(tasks), desc, progress, unit="task") as bar:
            for _ in as_completed(futures):
                bar.update()
        return [f.result() for f in futures]
    finally:
        if not kept:
            pool.shutdown()


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise BackendMissingError(
            "scheduler=... runs the sweep on Dask, which is not installed; install it with "
            "`pip install pkverify[dask]`, or drop --scheduler to run locally."
        ) from exc
    return distributed


def _run_dask(fn, tasks, scheduler, desc, progress, connect_timeout) -> list[list[Row]]:
    distributed = _distributed()
    Client = distributed.Client
    owned = False
    if isinstance(scheduler, Client):
        client = scheduler
    elif isinstance(scheduler, str):
        client = connect(scheduler, connect_timeout)
        owned = True
    else:
        raise InvalidArgumentError(
            "scheduler must be a Dask scheduler address such as 'tcp://127.0.0.1:8786' or a "
            f"dask.distributed.Client; got {type(scheduler).__name__}."
        )
    try:
        futures = [client.submit(_call, fn, c, s, pure=False) for c, s in tasks]
        results = []
        with Counter(len(tasks), desc, progress, unit="task") as bar:
            for f in futures:  # in order (distributed.as_completed wants a default client)
                results.append(f.result())
                bar.update()
        return results
    finally:
        if owned:
            client.close()


def connect(address: str, timeout: float | None = None) -> Any:
    """A ``dask.distributed.Client`` for a scheduler ``address``; SchedulerUnreachableError
    (after ``timeout`` seconds, default :data:`CONNECT_TIMEOUT`, never a hang) when nothing
    answers there."""
    Client = _distributed().Client
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    if not isinstance(address, str) or not address.strip():
        raise InvalidArgumentError("scheduler address is empty; give e.g. tcp://host:8786.")
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerUnreachableError(
            f"the Dask scheduler at {address!r} did not answer within {timeout:g} s ({exc}). "
            "Check that `dask scheduler` is running there and the address/port are right, "
            "or drop --scheduler to run locally."
        ) from exc


def write(table: SweepTable, path: str | Path) -> None:
    """Write the table to ``path`` as CSV (``.csv``) or JSON (anything else), atomically."""
    import os
    import tempfile

    target = Path(path)
    text = table.to_csv() if target.suffix.lower() == ".csv" else table.to_json()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
