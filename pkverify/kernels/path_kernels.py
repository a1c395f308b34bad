"""``pk.path_kernel``: the path kernel of Def. 2 [domingos2020] between any points, or
Remark 2's loss-weighted kernel against the training points, over a recorded path — in one
pass (:func:`~pkverify.kernels.path.kernel_sums`) or in blocks, in-process or on a Dask
cluster (:mod:`pkverify.kernels.blocks`, :mod:`pkverify.kernels.distributed`)."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgumentError
from ..trajectory import Trajectory, require_trajectory
from ..validation import as_array_in, as_flag, positive_int
from .blocks import BlockJob
from .distributed import run_blocks
from .engines import Implementation
from .options import RENAMED, KernelOptions, refuse_batch_size
from .path import DEFAULT_NODES, check_sums_memory, kernel_sums, product_sums
from .rules import Rule, parse_rule

__all__ = ["path_kernel"]


def path_kernel(
    traj: Trajectory,
    X1: Any,
    X2: Any | None = None,
    rule: str | Rule = "riemann",
    weighted: bool = False,
    nodes: int | None = DEFAULT_NODES,
    *,
    implementation: str | Implementation = "auto",
    backend: Any = None,
    chunk_rows: int | None = None,
    dtype: Any = None,
    progress: bool | None = None,
    batch_size: Any = RENAMED,
    scheduler: Any = None,
    block_size: int | None = None,
) -> Any:
    """The path kernel ``K^p(X1, X2) ≈ ∫_0^T K^g_{w(t)}(X1, X2) dt`` along ``traj``.

    Returns ``(n1, n2)`` for scalar models, ``(n1, n2, k, k)`` for k outputs. ``X2 = None``
    gives the Gram matrix of X1. This kernel between arbitrary points carries no mini-batch
    indicators; on an SGD path the kernel machine's ``km.kernel(Xq)`` (and ``weighted=True``
    here) weight each training point's terms by ``I_i(t)`` (Remark 5). With ``weighted=True``
    it is Remark 2's loss-weighted kernel ``K^{lp}(x, x_i) = ∫ I_i(t) ℓ'_i(t) K^g(x, x_i) dt``
    against the training points (X2 must be None), shape ``(n1, n)`` or ``(n1, n, k)``.

    ``nodes`` (exact rule): None chooses them per step; an int fixes Gauss–Legendre nodes
    (relu networks always split at their kinks, with the exact count per piece).
    ``implementation``, ``backend``, ``chunk_rows``, ``dtype``, ``progress`` (and the renamed
    ``batch_size``) are as for :func:`pkverify.tangent_kernel`; the result stays in the
    backend's namespace. A result that would not fit in memory is refused before any work.

    ``block_size=m`` computes blocks of at most m rows of X1 × m rows of X2 (or training
    points) one by one; ``scheduler`` (a Dask address or ``distributed.Client``) runs each as
    a Dask task streaming the path from its store on disk, with the same bits as in-process
    for the same ``block_size`` (:mod:`pkverify.kernels.blocks`).
    """
    refuse_batch_size(batch_size, "path_kernel")
    require_trajectory(traj, "path_kernel(traj, X1)")
    weighted = as_flag(weighted, "weighted")
    opts = KernelOptions(implementation, backend, dtype, chunk_rows, progress)
    rule = parse_rule(rule)
    nodes = None if nodes is None else positive_int(nodes, "nodes")
    engine, dt = opts.engine(traj.model, "path_kernel(traj, X1)", traj.ws, X1, X2)
    xp = engine.xp
    X1 = as_array_in(X1, xp, dt, traj.model.input_dim, "X1")
    if weighted and X2 is not None:
        raise InvalidArgumentError(
            "weighted=True gives the loss-weighted kernel against the training points; "
            "leave X2=None."
        )
    X_other = None if weighted else (X1 if X2 is None else as_array_in(
        X2, xp, dt, traj.model.input_dim, "X2"))
    check_sums_memory(traj, int(X1.shape[0]), X_other, dt, weighted)
    scalar = traj.Y.ndim == 1
    if scheduler is not None or block_size is not None:
        job = BlockJob.of("weighted" if weighted else "kernel", rule, nodes, engine, dt,
                          opts.chunk_rows)
        out = xp.asarray(run_blocks(traj, job, engine, X1, X_other, block_size, scheduler,
                                    opts.progress), dtype=dt)
        return out[(...,) + (0,) * (1 if weighted else 2)] if scalar else out
    plans = None
    if rule is Rule.EXACT:
        plans = product_sums(engine, traj, X1, rule, nodes, with_reg=False,
                             show=opts.progress).plans
    sums = kernel_sums(engine, traj, X1, X_other, rule, plans, indicators=weighted,
                       weighted=weighted, chunk_rows=opts.chunk_rows, show=opts.progress)
    if weighted:
        W = sums.weighted
        assert W is not None  # kernel_sums(weighted=True) fills it
        return W[:, :, 0] if scalar else W
    return sums.kernel[:, :, 0, 0] if scalar else sums.kernel
