"""The kernel machine of Theorem 1, built from a recorded path [domingos2020].

Theorem 1 (with the minus sign made explicit)::

    y(x) = b(x) + Σ_i a_i(x) K^p(x, x_i),
    K^p(x, x_i) = ∫ I_i(t) K^g_{w(t)}(x, x_i) dt                      (Def. 2, Remark 5)
    a_i(x) = −ℓ̄'_i(x) = −∫ I_i ℓ'_i K^g(x, x_i) dt / ∫ I_i K^g(x, x_i) dt
    b(x)   = y_0(x) − ∫ ∇_w f(x) · ∇_w R dt                           (Remark 4)

The numerator ``∫ I_i ℓ'_i K^g dt`` is Remark 2's loss-weighted path kernel ``K^{lp}``; with
it every ``a_i = −1``. For a k-output model ``K^p(x, x_i)`` is ``k × k``, ``ℓ'_i`` a k-vector,
and ``a_i(x) = −K^p(x, x_i)^{-1} ∫ I_i K^g(x, x_i) ℓ'_i dt`` (a pseudo-inverse where singular).

Every optimizer of :mod:`pkverify.optim` (momentum, Nesterov, Adam, AdamW, weight decay,
schedules, mean reduction) has the same form with the optimizer's path kernel
``K^opt(x, x_i) = Σ_r I_i(r) u_r(x)·∇f(w_r, x_i)`` (:mod:`pkverify.kernels.optimizer_path`):
``contributions`` gives each training point's term, and ``b(x) + Σ_i contribution_i(x)`` is the
trained model to rounding. Plain gradient descent is the case u_r = η_r φ_r.

``predict``, ``b`` and ``initial`` need no kernel matrix: ``Σ_i ℓ'_i K^g(x, x_i) =
∇f(x)·(Σ_i ℓ'_i ∇f(x_i))`` — one vector–Jacobian and one forward-mode product per step
(:func:`~pkverify.kernels.path.product_sums`). ``kernel``, ``a``, ``loss_weighted_kernel`` and
``explain`` stream one cross kernel per step (:func:`~pkverify.kernels.path.kernel_sums`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backend import to_numpy
from .errors import InvalidArgumentError
from .kernels.blocks import BlockJob, plan_blocks, unpack_sums, uses_recursion
from .kernels.distributed import run_blocks, run_mean_deriv, run_products
from .kernels.engines import Engine, Implementation
from .kernels.optimizer_path import optimizer_kernel_sums
from .kernels.options import RENAMED, KernelOptions, refuse_batch_size
from .kernels.path import (
    DEFAULT_NODES,
    KernelSums,
    ProductSums,
    check_sums_memory,
    kernel_sums,
    node_weights,
    product_sums,
)
from .kernels.ratio import coefficients, mean_loss_deriv
from .kernels.rules import Rule, parse_rule
from .trajectory import Trajectory, require_trajectory
from .validation import as_array_in, positive_int

__all__ = ["KernelMachine", "kernel_machine", "StepDiagnostics", "Ranking"]

class Ranking(list):
    """One query's ``(index, contribution)`` pairs, largest |contribution| first; ``class_``
    is the output they explain (None for a scalar model)."""

    def __init__(self, pairs: list[tuple[int, float]], class_: int | None = None):
        super().__init__(pairs)
        self.class_ = class_


@dataclass(frozen=True)
class StepDiagnostics:
    """The exact rule's work on one query set: per step, the gradient evaluations per query
    row and the step identity's residual ``|f(w_{s+1}) − f(w_s) − ∫∇f·Δ_s|`` relative to its
    rounding scale (:class:`pkverify.kernels.exact.RoundingScale`)."""

    evaluations: np.ndarray
    residuals: np.ndarray

    @property
    def max_residual(self) -> float:
        return float(self.residuals.max()) if self.residuals.size else 0.0

    @property
    def mean_evaluations(self) -> float:
        return float(self.evaluations.mean()) if self.evaluations.size else 0.0


@dataclass(frozen=True, eq=False)
class KernelMachine:
    """``y(x) = b(x) + Σ_i a_i(x) K^p(x, x_i)`` for a trained path (Theorem 1).

    Build it with :func:`kernel_machine`. Each method streams over the path once per new query
    set (products for predict/b, kernels for K^p/a); the last query set's sums are cached.
    Results are arrays of the engine's namespace (NumPy unless a GPU backend was chosen).
    """

    traj: Trajectory
    rule: Rule
    engine: Engine
    dtype: Any
    nodes: int | None = DEFAULT_NODES
    chunk_rows: int | None = None
    progress: bool | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def backend(self) -> str:
        return getattr(self.engine.xp, "__name__", str(self.engine.xp))

    # ----- the two passes ----------------------------------------------------------------

    def _queries(self, Xq: Any) -> tuple[Any, bytes]:
        Xq = as_array_in(Xq, self.engine.xp, self.dtype, self.traj.model.input_dim, "Xq")
        key = to_numpy(Xq).tobytes() + str(tuple(Xq.shape)).encode()
        return Xq, key

    def _products(self, Xq: Any, scheduler: Any = None) -> ProductSums:
        Xq, key = self._queries(Xq)
        if self._cache.get("pkey") != key:
            if scheduler is None:
                sums = product_sums(
                    self.engine, self.traj, Xq, self.rule, self.nodes, show=self.progress
                )
            else:  # one Dask task reading the store; the same pass, the same bits
                sums = run_products(self.traj, self._job("products"), to_numpy(Xq),
                                    scheduler, self.progress)
            self._cache.update(pkey=key, products=sums)
        return self._cache["products"]

    @property
    def _optimizer_pass(self) -> bool:
        """True when the kernel pass is the optimizer's reverse recursion (any rule but plain
        gradient descent with the loss summed; exact rule only)."""
        return uses_recursion(self.traj, self.rule)

    def _job(self, what: str) -> BlockJob:
        return BlockJob.of(what, self.rule, self.nodes, self.engine, self.dtype, self.chunk_rows)

    def _blocked_kernels(self, Xq: Any, scheduler: Any, block_size: Any) -> KernelSums:
        """The kernel pass's sums in blocks (:mod:`pkverify.kernels.blocks`), in-process or as
        Dask tasks; cached per query set and block plan (the same plan gives the same bits)."""
        Xq_arr, key = self._queries(Xq)
        plan = plan_blocks(int(Xq_arr.shape[0]), int(self.traj.X.shape[0]), block_size,
                           scheduler)
        key += repr(plan).encode()
        if self._cache.get("bkey") != key:
            packed = run_blocks(self.traj, self._job("machine"), self.engine, Xq_arr, None,
                                block_size, scheduler, self.progress)
            self._cache.update(bkey=key, blocked=unpack_sums(packed, self.engine.xp,
                                                             self.dtype))
        return self._cache["blocked"]

    def _kernels(self, Xq: Any, scheduler: Any = None, block_size: Any = None) -> KernelSums:
        if scheduler is not None or block_size is not None:
            return self._blocked_kernels(Xq, scheduler, block_size)
        Xq_arr, key = self._queries(Xq)
        if self._cache.get("kkey") == key:
            return self._cache["kernels"]
        if self._optimizer_pass:
            products = self._products(Xq)
            assert products.plans is not None and self.traj.optimizer is not None
            opt_sums = optimizer_kernel_sums(
                self.engine, self.traj, self.traj.optimizer, self.traj.reduction, Xq_arr,
                products.plans, products.preconditioners, chunk_rows=self.chunk_rows,
                show=self.progress)
            sums = KernelSums(opt_sums.kernel, opt_sums.kernel_abs, opt_sums.weighted)
            self._cache.update(kkey=key, kernels=sums)
        if self._cache.get("kkey") != key:
            check_sums_memory(self.traj, int(Xq_arr.shape[0]), None, self.dtype, weighted=True)
            plans = self._products(Xq).plans if self.rule is Rule.EXACT else None
            sums = kernel_sums(
                self.engine,
                self.traj,
                Xq_arr,
                None,
                self.rule,
                plans,
                indicators=True,
                weighted=True,
                chunk_rows=self.chunk_rows,
                show=self.progress,
            )
            self._cache.update(kkey=key, kernels=sums)
        return self._cache["kernels"]

    @property
    def _scalar(self) -> bool:
        return self.traj.Y.ndim == 1

    def _squeeze_scalar(self, arr: Any, axes: int) -> Any:
        """``arr`` without its trailing ``axes`` axes of length k = 1 for a scalar model
        (unchanged for a k-output model)."""
        if not self._scalar:
            return arr
        return arr[(...,) + (0,) * axes]

    # ----- the parts of Theorem 1 ----------------------------------------------------------

    def kernel(self, Xq: Any, scheduler: Any = None, block_size: Any = None) -> Any:
        """``K^p(x_q, x_i)`` (the optimizer's ``K^opt`` on a path trained with momentum, Adam,
        ...): ``(q, n)``, or ``(q, n, k, k)`` for k outputs. ``scheduler`` and
        ``block_size``: as for :meth:`contributions` (one blocked pass gives ``kernel``,
        ``a`` and ``loss_weighted_kernel`` on the same queries)."""
        return self._squeeze_scalar(self._kernels(Xq, scheduler, block_size).kernel, 2)

    def loss_weighted_kernel(self, Xq: Any, scheduler: Any = None,
                             block_size: Any = None) -> Any:
        """Remark 2: ``∫ I_i ℓ'_i K^g(x_q, x_i) dt``: ``(q, n)`` or ``(q, n, k)``."""
        return self._squeeze_scalar(self._kernels(Xq, scheduler, block_size).weighted, 1)

    def contributions(self, Xq: Any, scheduler: Any = None, block_size: Any = None
                      ) -> Any:
        """Each training point's term ``a_i(x) K(x, x_i) = −Σ_r I_i(r) ρ_r ℓ'_{i,r}
        u_r(x)·∇f(w_r, x_i)``: ``(q, n)``, or ``(q, n, k)`` (point i's share of output c).
        ``b(x) + contributions(x).sum(axis=1)`` is ``predict(x)`` (to rounding).

        ``block_size=m`` computes blocks of at most m queries × m training points (a pair
        ``(mq, mn)``: mq × mn) one by one (:mod:`pkverify.kernels.blocks`); ``scheduler``
        (a Dask address such as ``"tcp://host:8786"`` or a ``distributed.Client``) runs
        each block as a Dask task that re-opens the path from its store on disk
        (:mod:`pkverify.kernels.distributed`; a path in memory is refused), by default in 4
        blocks of training points. The same
        ``block_size`` gives the same result, bit for bit, in-process and on the cluster."""
        if scheduler is None and block_size is None:
            return -self._squeeze_scalar(self._weighted(Xq), 1)
        Xq_arr, _ = self._queries(Xq)
        W = run_blocks(self.traj, self._job("contributions"), self.engine, Xq_arr, None,
                       block_size, scheduler, self.progress)
        return -self._squeeze_scalar(self.engine.xp.asarray(W, dtype=self.dtype), 1)

    def _weighted(self, Xq: Any) -> Any:
        """``Σ_r ρ_r I_i(r) K_r ℓ'_{i,r}`` (q, n, k): from the kernel pass when it already ran
        on Xq; otherwise, on an optimizer path, from a pass that skips the k × k kernel (one
        loss sensitivity per batch row instead of one per output)."""
        Xq_arr, key = self._queries(Xq)
        if not self._optimizer_pass or self._cache.get("kkey") == key:
            return self._kernels(Xq).weighted
        if self._cache.get("ckey") != key:
            products = self._products(Xq)
            assert products.plans is not None and self.traj.optimizer is not None
            sums = optimizer_kernel_sums(
                self.engine, self.traj, self.traj.optimizer, self.traj.reduction, Xq_arr,
                products.plans, products.preconditioners, chunk_rows=self.chunk_rows,
                show=self.progress, kernel=False)
            self._cache.update(ckey=key, weighted=sums.weighted)
        return self._cache["weighted"]

    def unexplained(self, Xq: Any) -> Any:
        """The part of b(x) that no training point explains because the recorded path does not
        follow its optimizer (an edited file, batches or data changed after training):
        ``Σ_s φ_s(x)·(Δ_s − Δ̃_s)`` over such steps, ``(q,)`` or ``(q, k)``; zeros on a path
        that follows its rule (a PathWarning names the first step that does not). Then
        ``b(x) − unexplained(x) + Σ_i contributions`` is Theorem 1's form of the rule's path."""
        s = self._products(Xq)
        value = s.unexplained if s.unexplained is not None else 0.0 * s.y0
        return self._squeeze_scalar(value, 1)

    def b(self, Xq: Any, scheduler: Any = None) -> Any:
        """``b(x) = y_0(x) − ∫ ∇f(x)·∇R dt`` (Remark 4); for the optimizers, also minus the
        weight decay's share ``Σ_s η_s λ_dec φ_s(x)·w_s + Σ_r u_r(x)·λ_L2 w_r``, and on a path
        off its rule :meth:`unexplained`: ``(q,)`` or ``(q, k)``. With ``scheduler`` the
        product pass (b, y_0, predict) runs as one Dask task reading the store."""
        s = self._products(Xq, scheduler)
        return self._squeeze_scalar(s.y0 if s.reg is None else s.y0 - s.reg, 1)

    def initial(self, Xq: Any) -> Any:
        """``y_0(x) = f(w_0, x)``."""
        return self._squeeze_scalar(self._products(Xq).y0, 1)

    def predict(self, Xq: Any, scheduler: Any = None) -> Any:
        """``b(x) − Σ_i K^{lp}(x, x_i)`` = ``b(x) + Σ_i a_i(x) K^p(x, x_i)``: ``(q,)``/``(q, k)``.

        Computed from products (no kernel matrix, no 0/0); ``scheduler``: as for :meth:`b`."""
        s = self._products(Xq, scheduler)
        b = s.y0 if s.reg is None else s.y0 - s.reg
        return self._squeeze_scalar(b - s.loss_term, 1)

    def diagnostics(self, Xq: Any) -> StepDiagnostics:
        """The exact rule's gradient evaluations and step residuals on ``Xq`` (empty arrays for
        node rules)."""
        s = self._products(Xq)
        return StepDiagnostics(s.evaluations, s.residuals)

    def a(self, Xq: Any, scheduler: Any = None, block_size: Any = None) -> Any:
        """``a_i(x) = −ℓ̄'_i(x)``: ``(q, n)``, or ``(q, n, k)`` for k outputs
        (:func:`pkverify.kernels.ratio.coefficients`). ``scheduler``, ``block_size``: as for
        :meth:`kernel` (the 0/0 fallback, when some entry needs it, one more task)."""
        s = self._kernels(Xq, scheduler, block_size)
        K, W, terms = (to_numpy(v) for v in (s.kernel, s.weighted, s.kernel_abs))
        out = coefficients(K, W, terms, lambda: self._mean_loss_deriv(scheduler))
        return self._squeeze_scalar(self.engine.xp.asarray(out, dtype=self.dtype), 1)

    def classes(self, Xq: Any, class_: int | None = None, scheduler: Any = None
                ) -> list[int | None]:
        """The output each query's explanation is about: None for a scalar model (which takes
        no ``class_``), ``class_`` when given (checked), else the predicted class
        ``argmax_c y_c(x)`` (``scheduler``: as for :meth:`predict`)."""
        q = int(self._queries(Xq)[0].shape[0])
        k = None if self._scalar else int(self.traj.Y.shape[1])
        if k is None and class_ is not None:
            raise InvalidArgumentError(
                f"class_={class_!r} applies to models with several outputs; this model has one "
                "output. Leave class_ out."
            )
        if k is None:
            return [None] * q
        if class_ is None:
            return [int(c) for c in np.argmax(to_numpy(self.predict(Xq, scheduler)), axis=1)]
        if isinstance(class_, bool) or not isinstance(class_, (int, np.integer)) or not (
            0 <= class_ < k
        ):
            raise InvalidArgumentError(
                f"class_ must be an output index 0 ... {k - 1} (the model has {k} "
                f"outputs); got {class_!r}."
            )
        return [int(class_)] * q

    def explain(
        self, Xq: Any, top: int = 5, class_: int | None = None
    ) -> list[Ranking]:
        """For each query, the ``top`` training points with the largest |contribution|
        ``|a_i(x) K^p(x, x_i)|``, as :class:`Ranking` lists of ``(index, contribution)`` pairs.

        For k > 1 outputs the contribution of point i is the ``class_`` component of the
        k-vector ``K^p(x, x_i) a_i(x)`` (= −∫ I_i K^g(x, x_i) ℓ'_i dt, Remark 2); ``class_=None``
        takes each query's predicted class, ``argmax_c y_c(x)``. Each Ranking's ``class_`` says
        which output was explained (None for a scalar model, which takes no ``class_``).
        """
        top = positive_int(top, "top")
        classes = self.classes(Xq, class_)
        W = to_numpy(self._weighted(Xq))  # (q, n, k): −(a_i K^p) per output
        chosen = [0 if c is None else c for c in classes]
        contrib = -W[np.arange(W.shape[0]), :, chosen]  # (q, n)
        order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top]
        return [
            Ranking([(int(i), float(contrib[qi, i])) for i in row], class_=classes[qi])
            for qi, row in enumerate(order)
        ]

    # ----- helpers -------------------------------------------------------------------------

    def _mean_loss_deriv(self, scheduler: Any = None) -> np.ndarray:
        """:func:`pkverify.kernels.ratio.mean_loss_deriv`, (n, k), cached; with ``scheduler``
        computed by one Dask task (the same pass)."""
        if "mean_ld" not in self._cache:
            self._cache["mean_ld"] = mean_loss_deriv(
                self.engine, self.traj, self.rule, self.dtype) if scheduler is None else \
                run_mean_deriv(self.traj, self._job("fallback"), scheduler, self.progress)
        return self._cache["mean_ld"]


def kernel_machine(
    traj: Trajectory,
    rule: str | Rule = "exact",
    nodes: int | None = DEFAULT_NODES,
    *,
    implementation: str | Implementation = "auto",
    backend: Any = None,
    chunk_rows: int | None = None,
    dtype: Any = None,
    progress: bool | None = None,
    batch_size: Any = RENAMED,
) -> KernelMachine:
    """Rebuild a trained model as Theorem 1's kernel machine.

    rule:    "exact" (default; GD/SGD paths: reproduces the trained model to rounding),
             "riemann", "trapezoid", or "simpson" (full-batch/flow paths).
    nodes:   exact rule: None chooses nodes per step (see :mod:`pkverify.kernels.exact`);
             an int fixes the Gauss–Legendre count.
    implementation, backend, chunk_rows, dtype (and the renamed batch_size): as for
             :func:`pkverify.tangent_kernel`. A path trained in float32
             (``pk.train(..., dtype=np.float32)``) is rebuilt with ``dtype=np.float32``.
    progress: None (a bar on a terminal), True or False.
    """
    refuse_batch_size(batch_size, "kernel_machine")
    require_trajectory(traj, "kernel_machine(traj)")
    opts = KernelOptions(implementation, backend, dtype, chunk_rows, progress)
    rule = parse_rule(rule)
    opt = traj.optimizer
    if rule is not Rule.EXACT and opt is not None and (not opt.plain
                                                       or traj.reduction != "sum"):
        raise InvalidArgumentError(
            f"rule {rule.value!r} is the paper's discretisation of plain gradient descent with "
            f"the loss summed; this path was trained with {opt.describe()} (reduction "
            f"{traj.reduction!r}). Use rule='exact' (the default), which rebuilds every "
            "optimizer's model to rounding."
        )
    if rule is Rule.EXACT and traj.kind == "flow":
        raise InvalidArgumentError(
            "rule 'exact' is the discrete-step form of gradient descent; for a gradient-flow "
            "path use rule='simpson' (or 'trapezoid')."
        )
    if rule is Rule.SIMPSON:
        node_weights(traj, rule, indicators=True)  # refuse SGD / too-short paths now
    nodes = None if nodes is None else positive_int(nodes, "nodes")
    engine, dt = opts.engine(traj.model, "kernel_machine(traj)", traj.ws)
    return KernelMachine(traj, rule, engine, dt, nodes, opts.chunk_rows, opts.progress)
