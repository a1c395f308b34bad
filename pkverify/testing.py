"""Theorem 1 as an assertion for your own test suite.

::

    import pkverify as pk

    def test_my_network_is_its_kernel_machine():
        traj = rec.trajectory()                      # pk.torch.Recorder, or pk.train(...)
        pk.testing.assert_kernel_machine(traj)       # AssertionError with a report if not

:func:`assert_kernel_machine` builds the exact kernel machine of the path and checks that
``y(x) = b(x) + Σ_i contributions_i(x)`` equals the trained model ``f(w_S, x)`` at the query
points, with nothing left that the training points do not explain (``km.unexplained``: a path
off its optimizer fails; Theorem 1 with the exact rule [domingos2020], [bell2023]); a failure
names the worst query (the model's and the machine's outputs), the worst step (its
step-identity residual and gradient evaluations, from
:meth:`~pkverify.machine.KernelMachine.diagnostics`), the warnings the machine raised, and the
tolerance with its reason.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .machine import kernel_machine
from .trajectory import require_trajectory

__all__ = ["assert_kernel_machine", "MachineCheck", "default_rtol", "path_dtype"]

RTOL = {
    "float64": (1e-11, "float64 rounding: each step's products sum P terms and S steps add up "
                "(measured ≤ 1e-14 on the recorded MLPs of ≤ 30 steps); three orders of margin"),
    "float32": (1e-3, "float32 rounding (unit roundoff 6e-8) accumulated over the steps' "
                "forward passes and sums (~1e4 ulps)"),
}
"""Default relative tolerance per dtype, with its reason."""


def path_dtype(traj: Any) -> str:
    """"float32" for a float32 torch module or a path pk.train(dtype=np.float32) recorded
    (its weights hold float32 values), else "float64"."""
    foreign = getattr(traj.model, "foreign", None)
    if foreign is not None:
        return "float32" if foreign.dtype == "float32" else "float64"
    return "float32" if np.array_equal(traj.ws, traj.ws.astype(np.float32)) else "float64"


def default_rtol(traj: Any) -> tuple[float, str]:
    """``(rtol, reason)`` for the dtype the path's model computes in."""
    return RTOL[path_dtype(traj)]


@dataclass(frozen=True)
class MachineCheck:
    """What :func:`assert_kernel_machine` measured.

    rel_error:    max over queries and outputs of ``|y(x) − f(w_S, x)|`` over ``max|f(w_S, ·)|``
                  (the worse of predict and b + Σ contributions).
    rtol, reason: the tolerance and why.
    worst_query:  the query row of rel_error.
    worst_step:   the step with the largest step-identity residual (-1 for node rules).
    residual:     that residual, in units of the step's rounding scale.
    """

    rel_error: float
    rtol: float
    reason: str
    worst_query: int
    worst_step: int
    residual: float

    @property
    def passed(self) -> bool:
        return bool(self.rel_error <= self.rtol)


def _rel_rows(y: np.ndarray, f: np.ndarray, scale: float) -> np.ndarray:
    diff = np.abs(np.asarray(y, float) - np.asarray(f, float)).reshape(len(f), -1)
    return diff.max(axis=1) / scale


def assert_kernel_machine(traj: Any, X_query: Any = None, rtol: float | None = None, *,
                          contributions: bool = True) -> MachineCheck:
    """Assert that the exact kernel machine of ``traj`` is its trained model at ``X_query``
    (default: the training inputs), to ``rtol`` relative (default: :data:`RTOL` by dtype).

    ``contributions=True`` checks ``b(x) + Σ_i contributions_i(x)`` too (one more pass over
    the path). Raises AssertionError with a readable report; returns the
    :class:`MachineCheck` when it holds (warnings the machine raised are re-issued).
    """
    traj = require_trajectory(traj, "assert_kernel_machine")
    tol, reason = default_rtol(traj) if rtol is None else (float(rtol), "given")
    Xq = traj.X if X_query is None else X_query
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dtype = np.float32 if path_dtype(traj) == "float32" else None
        km = kernel_machine(traj, rule="exact", dtype=dtype)
        f = np.asarray(traj.predict(Xq), dtype=np.float64)
        # the part of b(x) no training point explains (a path off its optimizer: an edited
        # file, changed batches) is not Theorem 1's: the theorem's form leaves it out
        unexplained = np.asarray(km.unexplained(Xq), dtype=np.float64)
        y = np.asarray(km.predict(Xq), dtype=np.float64) - unexplained
        scale = max(float(np.max(np.abs(f))), np.finfo(np.float64).tiny)
        rows = _rel_rows(y, f, scale)
        total = None
        if contributions:
            total = np.asarray(km.b(Xq), float) - unexplained + np.asarray(
                km.contributions(Xq), float).sum(axis=1)
            rows = np.maximum(rows, _rel_rows(total, f, scale))
        diag = km.diagnostics(Xq)
    q = int(np.argmax(rows))
    step = int(np.argmax(diag.residuals)) if diag.residuals.size else -1
    residual = float(diag.residuals[step]) if step >= 0 else float("nan")
    check = MachineCheck(float(rows[q]), tol, reason, q, step, residual)
    if check.passed:
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return check
    opt = traj.optimizer.describe() if traj.optimizer is not None else traj.kind
    lines = [
        f"the kernel machine is not the trained model: {check.rel_error:.3e} relative "
        f"> rtol {tol:.1e} ({reason})",
        f"  worst query: row {q} of {len(f)}; model f(w_S, x) = {_fmt(f[q])}, "
        f"machine y(x) = {_fmt(y[q])}"
        + ("" if total is None else f", b(x) + Σ contributions = {_fmt(total[q])}"),
    ]
    if step >= 0:
        lines.append(
            f"  worst step: {step} of {traj.steps}: step-identity residual {residual:.2e} "
            f"(relative), {diag.evaluations[step]:.0f} gradient evaluations per query")
    if np.any(unexplained):
        lines.append(f"  unexplained by the training points (steps off the optimizer's rule): "
                     f"max {float(np.max(np.abs(unexplained))):.3e}, km.unexplained(Xq)")
    lines.append(f"  path: {opt}, reduction {traj.reduction!r}, {traj.steps} steps, "
                 f"n = {traj.X.shape[0]}, model {traj.model.name} (P = {traj.model.n_params})")
    for w in caught:
        lines.append(f"  {w.category.__name__}: {w.message}")
    if not caught:
        lines.append("  no warning was raised: check that the path was recorded as trained "
                     "(weights, batches and step sizes of every step)")
    raise AssertionError("\n".join(lines))


def _fmt(v: Any) -> str:
    arr = np.atleast_1d(np.asarray(v, float))
    return np.array2string(arr, precision=6, max_line_width=80) if arr.size > 1 else \
        f"{float(arr[0]):.10g}"
