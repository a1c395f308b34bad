"""Blocks of an explanation as Dask tasks, each streaming the path from the shared store.

Loaded only when ``scheduler=`` is given; Dask (the optional ``[dask]`` extra) is imported
only then, and the connection (a timeout, :class:`~pkverify.errors.SchedulerUnreachableError`
within seconds) is the sweeps' own (:func:`pkverify.dask_client.client_for`).

What travels to a worker is not the path but where to find it: the store's folder (which
holds the run's ``trajectory.npz``, as ``pk.train(..., store=PATH)`` writes it), the model
when it cannot be rebuilt from its spec (a custom or torch model: it must pickle, or the call
is refused before any task is sent), a custom regulariser likewise, and a fingerprint of the
run (data, batches, step sizes, losses, store size). The worker re-opens the trajectory with
``Trajectory.load(folder, model=...)`` — checksums and recomputed losses included — checks
the fingerprint, and runs :func:`~pkverify.kernels.blocks.compute_block`, streaming the
weights a chunk of steps at a time (or, for b(x) and the prediction, the product pass over
the queries: one task, :func:`run_products`). A path in memory is refused: save it to a store first
(``pk.train(..., store=PATH)``), since shipping S × P weights per task is what the store
avoids. A worker that cannot read the folder raises a PathStoreError naming both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..errors import InvalidArgumentError, PathStoreError, PkVerifyError
from ..progress import Counter
from ..trajectory import Trajectory
from .blocks import BlockJob, assemble, compute_block, plan_blocks, run_in_process
from .engines import Engine
from .path import ProductSums, product_sums

__all__ = ["StoreReference", "reference_to", "run_blocks", "run_on_cluster", "run_products",
           "run_mean_deriv"]


def run_blocks(traj: Trajectory, job: BlockJob, engine: Engine, Xq: Any, X2: Any | None,
               block_size: Any, scheduler: Any, show: bool | None) -> np.ndarray:
    """Every block of ``Xq`` × (the training points, or ``X2``): in-process, or — with
    ``scheduler`` (a Dask address or ``distributed.Client``) — one Dask task per block; the
    pieces assembled in block order into one NumPy array."""
    q = int(Xq.shape[0])
    n2 = int(traj.X.shape[0] if X2 is None else X2.shape[0])
    blocks = plan_blocks(q, n2, block_size, scheduler)
    if scheduler is None:
        pieces = run_in_process(traj, job, engine, Xq, X2, blocks, show)
    else:
        pieces = run_on_cluster(traj, job, to_numpy(Xq),
                                None if X2 is None else to_numpy(X2), blocks, scheduler, show)
    return assemble(q, n2, blocks, pieces)


@dataclass(frozen=True)
class StoreReference:
    """Everything a worker needs to re-open the client's trajectory (no weights)."""

    folder: str
    model: Any | None
    regularizer: Any | None
    fingerprint: str


def _fingerprint(traj: Trajectory) -> str:
    """SHA-256 of the run's data, batches, step sizes, recorded losses and store shape: a
    worker whose folder holds another run (same path, another machine) is caught."""
    h = hashlib.sha256()
    for arr in (traj.X, traj.Y, traj.step_sizes, traj.batches, traj.losses):
        a = np.ascontiguousarray(arr)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    h.update(str((traj.steps, traj.model.n_params, traj.kind, traj.reduction)).encode())
    return h.hexdigest()


def _picklable(obj: Any, what: str, pickle: Any) -> Any:
    try:
        pickle.dumps(obj)
    except Exception as exc:
        raise InvalidArgumentError(
            f"scheduler=...: the trajectory's {what} cannot be sent to Dask workers (pickling "
            f"it failed: {type(exc).__name__}: {exc}). Define it at module level in an "
            "importable module (cloudpickle must be able to serialise it), or leave "
            "scheduler out to run in-process."
        ) from exc
    return obj


def reference_to(traj: Trajectory, pickle: Any) -> StoreReference:
    """The :class:`StoreReference` of a store-backed trajectory; InvalidArgumentError for a
    path in memory, a store without its trajectory file, or a model that does not pickle."""
    if not traj.on_disk:
        raise InvalidArgumentError(
            "scheduler=... sends each block to a Dask worker, which re-opens the path from its "
            "store on disk; this trajectory is in memory. Train it into a store "
            "(pk.train(..., store='run.store')) on a filesystem the workers share, or leave "
            "scheduler out to run in-process."
        )
    folder = traj.store.folder  # type: ignore[attr-defined]  # on_disk: a DiskStore
    if not (folder / "trajectory.npz").is_file():
        raise InvalidArgumentError(
            f"scheduler=...: the store {str(folder)!r} has no trajectory.npz, so a worker "
            "could not re-open the run from it; use a store that pk.train(..., store=PATH) "
            "wrote (it saves the run there), or leave scheduler out."
        )
    model = None if traj.model.spec is not None else _picklable(traj.model, "model", pickle)
    reg = traj.regularizer
    regularizer = None if reg is None or reg.spec is not None else _picklable(
        reg, "regulariser", pickle)
    return StoreReference(str(folder.resolve()), model, regularizer, _fingerprint(traj))


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except Exception:  # not inside a worker (a direct call)
        return "(no worker)"


def reopen(ref: StoreReference) -> Trajectory:
    """The trajectory behind ``ref``, opened where this runs (a Dask worker); PathStoreError
    naming the folder and the worker when it cannot be read or holds another run."""
    try:
        traj = Trajectory.load(ref.folder, model=ref.model, regularizer=ref.regularizer)
    except (PkVerifyError, OSError) as exc:
        raise PathStoreError(
            f"Dask worker {_worker_name()} cannot read the path store {ref.folder!r} "
            f"({type(exc).__name__}: {exc}). Every worker must see the store at the same path: "
            "put it on a filesystem they all mount there, or leave scheduler out."
        ) from None
    if _fingerprint(traj) != ref.fingerprint:
        raise PathStoreError(
            f"Dask worker {_worker_name()} finds another run at {ref.folder!r} than the "
            "client's (its data, batches, step sizes or losses differ): the workers' filesystem "
            "holds a different store under that path."
        )
    return traj


def block_task(ref: StoreReference, job: BlockJob, Xq: np.ndarray,
               columns: tuple[int, int], X2: np.ndarray | None) -> np.ndarray:
    """One block on a worker: re-open the path, build the job's engine, compute the block."""
    traj = reopen(ref)
    engine = job.engine(traj, "a distributed block")
    xp = engine.xp
    return compute_block(engine, traj, job, xp.asarray(Xq, dtype=job.dtype), columns,
                         None if X2 is None else xp.asarray(X2, dtype=job.dtype))


def products_task(ref: StoreReference, job: BlockJob, Xq: np.ndarray) -> ProductSums:
    """The product pass of :func:`~pkverify.kernels.path.product_sums` (b, y_0, predict, the
    exact rule's plans) for ``Xq`` on a worker, as the kernel machine runs it."""
    traj = reopen(ref)
    engine = job.engine(traj, "a distributed product pass")
    return product_sums(engine, traj, engine.xp.asarray(Xq, dtype=job.dtype), job.rule,
                        job.nodes, show=False)


def run_products(traj: Trajectory, job: BlockJob, Xq: np.ndarray, scheduler: Any,
                 show: bool | None) -> ProductSums:
    """:func:`products_task` as one Dask task on ``scheduler``; its sums come back whole."""
    return _on_cluster(traj, scheduler, [(products_task, (job, Xq))], "product pass", show)[0]


def mean_deriv_task(ref: StoreReference, job: BlockJob) -> np.ndarray:
    """:func:`~pkverify.kernels.ratio.mean_loss_deriv` (a_i's 0/0 fallback) on a worker."""
    from .ratio import mean_loss_deriv

    traj = reopen(ref)
    return mean_loss_deriv(job.engine(traj, "a distributed pass"), traj, job.rule, job.dtype)


def run_mean_deriv(traj: Trajectory, job: BlockJob, scheduler: Any,
                   show: bool | None) -> np.ndarray:
    """:func:`mean_deriv_task` as one Dask task on ``scheduler``."""
    return _on_cluster(traj, scheduler, [(mean_deriv_task, (job,))], "a_i's fallback", show)[0]


def run_on_cluster(traj: Trajectory, job: BlockJob, Xq: np.ndarray, X2: np.ndarray | None,
                   blocks: list[tuple[tuple[int, int], tuple[int, int]]], scheduler: Any,
                   show: bool | None) -> list[np.ndarray]:
    """One task per block on ``scheduler``; the pieces in block order."""
    calls = [(block_task, (job, Xq[qlo:qhi], (clo, chi), None if X2 is None else X2[clo:chi]))
             for (qlo, qhi), (clo, chi) in blocks]
    return _on_cluster(traj, scheduler, calls, f"{job.what} blocks", show)


def _on_cluster(traj: Trajectory, scheduler: Any, calls: list[tuple[Any, tuple]], what: str,
                show: bool | None) -> list[Any]:
    """``fn(ref, *args)`` for each call, one Dask task each, with ``ref`` the trajectory's
    :class:`StoreReference` (refused before connecting when it has none); results in order."""
    from ..dask_client import client_for, distributed_module

    distributed_module()  # BackendMissingError naming the [dask] extra when Dask is missing
    from distributed.protocol import pickle

    ref = reference_to(traj, pickle)  # refused before connecting
    client, owned = client_for(scheduler)
    futures: list[Any] = []
    try:
        futures = [client.submit(fn, ref, *args, pure=False) for fn, args in calls]
        results = []
        with Counter(len(calls), f"{what} on Dask", show, unit="task") as bar:
            for f in futures:  # in order
                results.append(f.result())
                bar.update()
        return results
    finally:
        if futures:
            client.cancel(futures)
        if owned:
            client.close()
