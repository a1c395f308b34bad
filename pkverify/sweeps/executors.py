"""Running a sweep: in this process or in local worker processes, and the executor defaults
(:func:`configure`, :func:`using`) that the CLI's ``--jobs`` / ``--scheduler`` set. Dask runs
live in :mod:`.dask_executor`, imported only when a sweep is given a scheduler."""

from __future__ import annotations

import ast
import os
import pickle
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, ShapeError, WorkerStartError
from ..progress import Counter
from .configs import as_configs, as_seeds
from .table import Measure, Row, SweepTable

__all__ = ["run", "configure", "current", "using"]

_DEFAULT: dict[str, Any] = {"jobs": None, "scheduler": None}
_POOL: dict[str, Any] = {"jobs": None, "pool": None}  # one process pool kept by `using`


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

    ``jobs`` / ``scheduler`` pick the executor (package docstring); when both are None the
    defaults set by :func:`configure` apply. Every argument is checked before any task runs:
    the configurations must share their keys and fit ``fn``'s arguments.
    """
    if not callable(fn):
        raise InvalidArgumentError(f"fn must be a callable measure(**config, seed); got {fn!r}.")
    config_list = as_configs(configs, fn)
    seed_list = as_seeds(seeds)
    if jobs is None and scheduler is None:
        jobs, scheduler = _DEFAULT["jobs"], _DEFAULT["scheduler"]
    jobs = _check_jobs(jobs)
    if jobs is not None and jobs > 1 and scheduler is not None:
        raise InvalidArgumentError(
            "give either jobs=N (local processes) or scheduler=... (Dask), not both."
        )
    tasks = [(c, s) for c in config_list for s in seed_list]
    if scheduler is not None:
        from .dask_executor import run_dask

        outputs = run_dask(_call, fn, tasks, scheduler, desc, progress, connect_timeout)
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


_GUARD_FIX = (
    "Put the sweep under `if __name__ == \"__main__\":` (each worker process imports the "
    "script again, and without the guard it would start the sweep again), or run in-process "
    "(jobs=None)."
)


def _run_processes(fn, tasks, jobs, desc, progress) -> list[list[Row]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    _picklable(fn, f"jobs={jobs}")
    _check_main_guard(jobs)
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
    except BrokenProcessPool as exc:
        if kept:
            _POOL["pool"] = None  # a broken pool cannot run the next sweep of the block
        raise WorkerStartError(
            f"a local worker process of jobs={jobs} died before its task finished (its own "
            "error is printed above this message). The usual cause is a script that starts the "
            f"sweep at top level: {_GUARD_FIX} A worker killed for memory gives the same "
            "symptom: then use fewer jobs."
        ) from exc
    finally:
        if not kept:
            pool.shutdown()


def _check_main_guard(jobs: int) -> None:
    """Refuse, before any process starts, a sweep with local workers that the running script
    calls from its top level outside ``if __name__ == "__main__":``: spawned workers import
    the script again, so each would start the sweep again (a BrokenProcessPool otherwise)."""
    script = _reimported_script()
    if script is None:
        return  # the workers will not run the main module again
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") in (
            "__main__", "__mp_main__"
        ):
            break
        frame = frame.f_back
    if frame is None:
        return  # not started from the script's top level (a test runner, a thread)
    try:
        with open(os.fspath(script), encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return  # cannot read the script; a broken pool is still reported with the fix
    line = frame.f_lineno
    if any(isinstance(node, ast.If) and _is_main_guard(node)
           and node.lineno <= line <= (node.end_lineno or node.lineno)
           for node in ast.walk(tree)):
        return
    raise WorkerStartError(
        f"jobs={jobs} starts worker processes, but {script} line {line} runs the sweep at the "
        f"script's top level without a main guard. {_GUARD_FIX}"
    )


def _reimported_script() -> str | None:
    """The file a spawned worker runs again as ``__mp_main__``, or None: mirrors
    ``multiprocessing.spawn`` (a module run with ``-m`` is imported by name unless it is a
    package's ``__main__``; a script by path unless it is IPython; nothing for ``-c`` or an
    interactive session)."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if not script:
        return None
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name is not None:
        return None if name == "__main__" or name.endswith(".__main__") else script
    return None if os.path.splitext(os.path.basename(script))[0] == "ipython" else script


def _is_main_guard(node: ast.If) -> bool:
    """``if __name__ == "__main__":`` (either side of ``==``)."""
    if not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    consts = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and consts == ["__main__"]
