"""Explanations split into blocks of queries × training points (design §3e).

``km.contributions(Xq, block_size=m)`` (likewise ``km.kernel``, ``km.a``,
``km.loss_weighted_kernel``) and ``pk.path_kernel(..., block_size=m)`` cut the
queries and the training points (or X2) into consecutive blocks of at most ``m`` rows and
compute each (query block, column block) pair by itself: the forward pass over the block's
queries, then the kernel pass (:func:`~pkverify.kernels.path.kernel_sums`) or the optimizer's
reverse recursion (:func:`~pkverify.kernels.optimizer_path.optimizer_kernel_sums`) restricted
to the block's training points. Every entry is still one sum over the path's steps in step
order; a block only decides which entries are computed together. The pieces are placed, in
block order, into the result — nothing is summed across blocks.

In-process the blocks run one after the other; with ``scheduler=`` each block is a Dask task
(:mod:`pkverify.kernels.distributed`, whose ``run_blocks`` dispatches) running
:func:`compute_block` on the same inputs, so the
two results are equal bit for bit. Each block repeats the query side of the work (the forward
pass, and the reverse recursion's φ and u for its queries), so blocks pay off when the
training points are many and there are workers to run them on; ``block_size=None`` without a
scheduler is the unsplit pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..errors import InvalidArgumentError
from ..progress import Counter
from ..trajectory import Trajectory
from ..validation import positive_int
from .engines import Engine, Implementation
from .optimizer_path import optimizer_kernel_sums
from .options import KernelOptions
from .path import KernelSums, kernel_sums, product_sums
from .rules import Rule

__all__ = ["BlockJob", "uses_recursion", "split", "plan_blocks", "compute_block",
           "pack_sums", "unpack_sums", "run_in_process", "assemble"]

DEFAULT_BLOCKS = 4
"""With a scheduler and no ``block_size``: the training points (or X2) are cut into this many
blocks. The same ``block_size`` in-process gives the same blocks (and the same bits)."""


def uses_recursion(traj: Trajectory, rule: Rule) -> bool:
    """True when the kernel pass is the optimizer's reverse recursion: the exact rule on any
    path but plain gradient descent with the loss summed."""
    opt = traj.optimizer
    return rule is Rule.EXACT and opt is not None and (
        not opt.plain or traj.reduction != "sum")


@dataclass(frozen=True)
class BlockJob:
    """What every block computes, and with which engine settings (sent to Dask workers).

    what: "contributions" (``Σ_r ρ_r I_i(r) K_r ℓ'_{i,r}``, the negated contributions,
          (q, n, k)), "weighted" (Remark 2's ``K^{lp}``, (q, n, k)), "kernel" (``K^p``
          against X2 without indicators, (q, n2, k, k)) or "machine" (the kernel machine's
          ``K^p``, the size of its terms and ``K^{lp}`` against the training points, with
          indicators, packed by :func:`pack_sums`: what ``km.kernel`` and ``km.a`` read).
    """

    what: str
    rule: Rule
    nodes: int | None
    implementation: Implementation
    backend: Any
    dtype: Any
    chunk_rows: int | None

    @classmethod
    def of(cls, what: str, rule: Rule, nodes: int | None, engine: Engine, dtype: Any,
           chunk_rows: int | None) -> BlockJob:
        xp = engine.xp
        backend = "numpy" if xp is np else xp
        return cls(what, rule, nodes, engine.implementation, backend, dtype, chunk_rows)

    def engine(self, traj: Trajectory, where: str) -> Engine:
        """The engine these settings give on ``traj`` (a worker's re-opened copy)."""
        opts = KernelOptions(self.implementation, self.backend, self.dtype, self.chunk_rows)
        return opts.engine(traj.model, where, traj.ws)[0]


def split(n: int, size: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges of at most ``size`` rows covering ``range(n)``, in order."""
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]


def compute_block(engine: Engine, traj: Trajectory, job: BlockJob, Xq: Any,
                  columns: tuple[int, int], X2: Any | None) -> np.ndarray:
    """One block: the queries ``Xq`` (engine's xp and dtype) against the training points
    ``columns = (lo, hi)`` (``X2 = None``) or against ``X2`` (the block's rows of X2, for
    ``what="kernel"``), as a NumPy array (``what="machine"``: :func:`pack_sums`'s)."""
    rule, show = job.rule, False
    if job.what == "kernel":
        plans = product_sums(engine, traj, Xq, rule, job.nodes, with_reg=False,
                             show=show).plans if rule is Rule.EXACT else None
        sums = kernel_sums(engine, traj, Xq, X2, rule, plans, indicators=False,
                           chunk_rows=job.chunk_rows, show=show)
        return to_numpy(sums.kernel)
    cols = np.arange(*columns)
    machine = job.what == "machine"
    if job.what != "weighted" and uses_recursion(traj, rule):
        products = product_sums(engine, traj, Xq, rule, job.nodes, show=show)
        assert products.plans is not None and traj.optimizer is not None
        out = optimizer_kernel_sums(
            engine, traj, traj.optimizer, traj.reduction, Xq, products.plans,
            products.preconditioners, chunk_rows=job.chunk_rows, show=show, kernel=machine,
            columns=cols)
        sums = KernelSums(out.kernel, out.kernel_abs, out.weighted)
    else:
        with_reg = job.what != "weighted"  # as the machine's product pass; path_kernel's not
        plans = product_sums(engine, traj, Xq, rule, job.nodes, with_reg=with_reg,
                             show=show).plans if rule is Rule.EXACT else None
        sums = kernel_sums(engine, traj, Xq, None, rule, plans, indicators=True,
                           weighted=True, chunk_rows=job.chunk_rows, show=show, columns=cols)
    assert sums.weighted is not None
    return pack_sums(sums) if machine else to_numpy(sums.weighted)


def pack_sums(sums: KernelSums) -> np.ndarray:
    """The machine's three sums of one block as one ``(q, n, 2k² + k)`` array (K^p, its
    terms' size, K^{lp}), so that blocks are placed like any other piece; values copied."""
    K, terms, W = (to_numpy(v) for v in (sums.kernel, sums.kernel_abs, sums.weighted))
    q, n, k, _ = K.shape
    return np.concatenate([K.reshape(q, n, k * k), terms.reshape(q, n, k * k), W], axis=2)


def unpack_sums(packed: np.ndarray, xp: Any, dtype: Any) -> KernelSums:
    """:func:`pack_sums` undone on the assembled ``(q, n, 2k² + k)`` array."""
    q, n, m = packed.shape
    k = int(round((-1 + (1 + 8 * m) ** 0.5) / 4))  # m = 2k² + k
    parts = (packed[:, :, : k * k].reshape(q, n, k, k),
             packed[:, :, k * k: 2 * k * k].reshape(q, n, k, k), packed[:, :, 2 * k * k:])
    return KernelSums(*(xp.asarray(np.ascontiguousarray(v), dtype=dtype) for v in parts))


def plan_blocks(q: int, n2: int, block_size: Any, scheduler: Any
                ) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The (query rows, columns) ranges of every block, in block order: ``block_size`` rows
    each way (an int m), or ``(mq, mn)`` query rows × training points (or X2 rows), or
    (``None``) one block in-process and :data:`DEFAULT_BLOCKS` column blocks on a scheduler.
    A pair suits few queries against a mini-batch path, whose work is on the queries' side:
    ``(⌈q/W⌉, n)`` gives each of W workers a share of the queries and every point."""
    if block_size is None:
        qsize = csize = max(1, -(-n2 // DEFAULT_BLOCKS)) if scheduler is not None \
            else max(q, n2)
    else:
        hint = (" It is the number of queries / training points per block: an int m, or a "
                "pair (queries, training points).")
        pair = isinstance(block_size, (tuple, list))
        if pair and len(block_size) != 2:
            raise InvalidArgumentError(
                f"block_size must be an int or a pair (queries, training points); got "
                f"{block_size!r}.")
        qsize, csize = (positive_int(v, "block_size", hint) for v in (
            block_size if pair else (block_size, block_size)))
    return [(qb, cb) for qb in split(q, qsize) for cb in split(n2, csize)]


def run_in_process(traj: Trajectory, job: BlockJob, engine: Engine, Xq: Any, X2: Any | None,
                   blocks: list[tuple[tuple[int, int], tuple[int, int]]],
                   show: bool | None) -> list[np.ndarray]:
    """Every block here, one after the other; the pieces in block order."""
    pieces = []
    with Counter(len(blocks), f"{job.what} blocks", show, unit="block") as bar:
        for (qlo, qhi), (clo, chi) in blocks:
            pieces.append(compute_block(engine, traj, job, Xq[qlo:qhi], (clo, chi),
                                        None if X2 is None else X2[clo:chi]))
            bar.update()
    return pieces


def assemble(q: int, n2: int, blocks: list[tuple[tuple[int, int], tuple[int, int]]],
             pieces: list[np.ndarray]) -> np.ndarray:
    """The pieces placed, in block order, into one ``(q, n2, ...)`` array."""
    first = pieces[0]
    out = np.empty((q, n2) + first.shape[2:], dtype=first.dtype)
    for ((qlo, qhi), (clo, chi)), piece in zip(blocks, pieces):
        out[qlo:qhi, clo:chi] = piece
    return out
