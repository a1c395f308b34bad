"""The kernel machine of Theorem 1, built from a recorded path.

Theorem 1 (with the sign of design.md §1)::

    y(x) = b(x) + Σ_i a_i(x) K^p(x, x_i),
    K^p(x, x_i) = ∫ I_i(t) K^g_{w(t)}(x, x_i) dt                      (Def. 2, Remark 5)
    a_i(x) = −ℓ̄'_i(x) = −∫ I_i ℓ'_i K^g(x, x_i) dt / ∫ I_i K^g(x, x_i) dt
    b(x)   = y_0(x) − ∫ ∇_w f(x) · ∇_w R dt                           (Remark 4)

The numerator ``∫ I_i ℓ'_i K^g dt`` is Remark 2's loss-weighted path kernel ``K^{lp}``; with
it every ``a_i = −1``. For a k-output model ``K^p(x, x_i)`` is ``k × k``, ``ℓ'_i`` a k-vector,
and ``a_i(x) = −K^p(x, x_i)^{-1} ∫ I_i K^g(x, x_i) ℓ'_i dt`` (a pseudo-inverse where singular).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backend import get_namespace
from .errors import InvalidArgumentError
from .kernels.path import DEFAULT_NODES, PathSums, Rule, accumulate, node_weights, parse_rule
from .trajectory import Trajectory
from .validation import as_data, positive_int

__all__ = ["KernelMachine", "kernel_machine"]

_DEGENERATE = 1e-12
"""|K^p(x, x_i)| below this × Σ_s |c_s K^g_s(x, x_i)| (the size of the terms it sums) is
cancellation down to rounding noise (2.2e-16 per term, over up to thousands of steps), which
makes ℓ̄'_i(x) a 0/0; a_i(x) there falls back to the
time-averaged −ℓ'_i with the rule's weights, the value of the ratio when K^g(x, x_i) is
constant along the path (the term a_i K^p is ≈ 0 either way; predict never divides)."""


@dataclass(frozen=True, eq=False)
class KernelMachine:
    """``y(x) = b(x) + Σ_i a_i(x) K^p(x, x_i)`` for a trained path (Theorem 1).

    Build it with :func:`kernel_machine`. Every method streams over the path once per new
    query set; the last query set's sums are cached.
    """

    traj: Trajectory
    rule: Rule
    nodes: int | None = DEFAULT_NODES
    backend: str = "numpy"
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # ----- the one pass ------------------------------------------------------------------

    def _sums(self, Xq: Any) -> PathSums:
        Xq = as_data(Xq, self.traj.model.input_dim, "Xq")
        key = Xq.tobytes() + str(Xq.shape).encode()
        if self._cache.get("key") != key:
            sums = accumulate(
                self.traj,
                Xq,
                None,
                self.rule,
                self.nodes,
                indicators=True,
                weighted=True,
                with_reg=True,
                backend=self.backend,
            )
            self._cache.clear()
            self._cache.update(key=key, sums=sums)
        return self._cache["sums"]

    def _squeeze(self, arr: np.ndarray, sums: PathSums, axes: int) -> np.ndarray:
        if not sums.scalar:
            return arr
        return arr.reshape(arr.shape[: arr.ndim - axes])

    # ----- the parts of Theorem 1 ----------------------------------------------------------

    def kernel(self, Xq: Any) -> np.ndarray:
        """``K^p(x_q, x_i)``: ``(q, n)``, or ``(q, n, k, k)`` for k outputs."""
        s = self._sums(Xq)
        return self._squeeze(s.kernel, s, 2)

    def loss_weighted_kernel(self, Xq: Any) -> np.ndarray:
        """Remark 2: ``∫ I_i ℓ'_i K^g(x_q, x_i) dt``: ``(q, n)`` or ``(q, n, k)``."""
        s = self._sums(Xq)
        assert s.weighted is not None  # _sums always accumulates K^{lp} (for mypy)
        return self._squeeze(s.weighted, s, 1)

    def b(self, Xq: Any) -> np.ndarray:
        """``b(x) = y_0(x) − ∫ ∇f(x)·∇R dt``: ``(q,)`` or ``(q, k)``."""
        s = self._sums(Xq)
        b = s.y0 if s.reg is None else s.y0 - s.reg
        return self._squeeze(b, s, 1)

    def initial(self, Xq: Any) -> np.ndarray:
        """``y_0(x) = f(w_0, x)``."""
        s = self._sums(Xq)
        return self._squeeze(s.y0, s, 1)

    def a(self, Xq: Any) -> np.ndarray:
        """``a_i(x) = −ℓ̄'_i(x)``: ``(q, n)``, or ``(q, n, k)`` for k outputs."""
        s = self._sums(Xq)
        K, W, terms = s.kernel, s.weighted, s.kernel_abs
        assert W is not None and terms is not None  # _sums always accumulates both (for mypy)
        q, n, k, _ = K.shape
        fallback = -self._mean_loss_deriv()  # (n, k)
        out = np.empty((q, n, k))
        if k == 1:
            den = K[:, :, 0, 0]
            ok = (np.abs(den) > _DEGENERATE * terms[:, :, 0, 0]) & (den != 0.0)
            out[:, :, 0] = np.where(ok, -W[:, :, 0] / np.where(ok, den, 1.0), fallback[None, :, 0])
        else:
            for qi in range(q):
                for i in range(n):
                    M = K[qi, i]
                    size = np.max(terms[qi, i])
                    if size == 0.0 or np.max(np.abs(M)) <= _DEGENERATE * size:
                        out[qi, i] = fallback[i]
                    else:
                        out[qi, i] = -np.linalg.lstsq(M, W[qi, i], rcond=None)[0]
        return self._squeeze(out, s, 1)

    def predict(self, Xq: Any) -> np.ndarray:
        """``b(x) − Σ_i K^{lp}(x, x_i)`` = ``b(x) + Σ_i a_i(x) K^p(x, x_i)``: ``(q,)``/``(q, k)``.

        Computed from the loss-weighted kernel so that no 0/0 enters the prediction.
        """
        s = self._sums(Xq)
        b = s.y0 if s.reg is None else s.y0 - s.reg
        assert s.weighted is not None  # _sums always accumulates K^{lp} (for mypy)
        y = b - s.weighted.sum(axis=1)
        return self._squeeze(y, s, 1)

    def explain(self, Xq: Any, top: int = 5) -> list[list[tuple[int, float]]]:
        """For each query, the ``top`` training points with the largest |contribution|
        ``|a_i(x) K^p(x, x_i)|`` (summed over outputs), as ``(index, contribution)`` pairs."""
        top = positive_int(top, "top")
        s = self._sums(Xq)
        assert s.weighted is not None  # _sums always accumulates K^{lp} (for mypy)
        contrib = -s.weighted.sum(axis=2)  # (q, n): a_i K^p summed over outputs
        order = np.argsort(-np.abs(contrib), axis=1)[:, :top]
        return [[(int(i), float(contrib[qi, i])) for i in row] for qi, row in enumerate(order)]

    # ----- helpers -------------------------------------------------------------------------

    def _mean_loss_deriv(self) -> np.ndarray:
        """``Σ_s C[s,i] ℓ'_i(w_s) / Σ_s C[s,i]``, (n, k): ℓ̄'_i(x) in the limit where
        ``K^g(x, x_i)`` is constant along the path, with the rule's own time weights C (the
        exact rule weighs step s by ε_s I_i(s), as Riemann does)."""
        if "mean_ld" not in self._cache:
            tr = self.traj
            node_rule = Rule.RIEMANN if self.rule is Rule.EXACT else self.rule
            C = node_weights(tr, node_rule, indicators=True)  # (S+1, n)
            acc = 0.0
            for s in range(tr.steps + 1):
                if not C[s].any():
                    continue
                d = tr.loss.deriv(np.asarray(tr.model.f(tr.ws[s], tr.X)), tr.Y)
                acc = acc + C[s][:, None] * (d[:, None] if d.ndim == 1 else d)
            total = C.sum(axis=0)[:, None]
            self._cache["mean_ld"] = acc / np.maximum(total, np.finfo(float).tiny)
        return self._cache["mean_ld"]


def kernel_machine(
    traj: Trajectory,
    rule: str | Rule = "exact",
    nodes: int | None = DEFAULT_NODES,
    backend: str = "numpy",
) -> KernelMachine:
    """Rebuild a trained model as Theorem 1's kernel machine.

    rule:   "exact" (default; GD/SGD paths: reproduces the trained model to rounding),
            "riemann", "trapezoid", or "simpson" (full-batch/flow paths).
    nodes:  Gauss–Legendre nodes per step for the exact rule (None: chosen per step).
    backend: "numpy", or "cupy" to run the kernel contractions on a GPU.
    """
    if not isinstance(traj, Trajectory):
        raise InvalidArgumentError(
            f"kernel_machine needs a Trajectory from pk.train or pk.gradient_flow; got "
            f"{type(traj).__name__}."
        )
    rule = parse_rule(rule)
    if rule is Rule.EXACT and traj.kind == "flow":
        raise InvalidArgumentError(
            "rule 'exact' is the discrete-step form of gradient descent; for a gradient-flow "
            "path use rule='simpson' (or 'trapezoid')."
        )
    get_namespace(backend)  # fail now, not at the first query, if the backend is missing
    nodes = None if nodes is None else positive_int(nodes, "nodes")
    return KernelMachine(traj, rule, nodes, backend)
