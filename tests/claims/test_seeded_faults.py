"""The checks `verify` gained for issue 17 fail on a fault seeded into the path each one
covers: the exact relu kernel pass, the SGD kernel pass, bisected steps, custom kink
locators, chunked Grams, vector-output cross kernels, a flow path's step sizes, the symbolic
erf value kernel and the symbolic deep recursion."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pkverify.claims import CheckConfig, get
from pkverify.kernels import engines, exact
from pkverify.kernels import path as path_module

QUICK = CheckConfig(seed=0, quick=True)
NEW = ("theorem1.schedule", "kernel.relu_exact", "kernel.cross", "symbolic.deep_recursion",
       "remark5.sgd")


@pytest.mark.parametrize("cid", NEW)
def test_the_new_checks_pass_unfaulted(cid):
    result = get(cid).run(QUICK)
    assert result.status == "pass", result.message


def _fails(cid: str) -> None:
    result = get(cid).run(QUICK)
    assert result.status == "fail", (cid, result.status, result.message)


def test_a_mis_weighted_relu_kernel_pass_fails_kernel_relu_exact(monkeypatch):
    real = path_module.scatter_rows

    def faulty(xp, vals, rows, weights, q, axis=0):  # one piece's weight lost per row
        return real(xp, vals, rows, np.where(np.arange(rows.size) % 7 == 3, 0.0, weights),
                    q, axis)

    monkeypatch.setattr(path_module, "scatter_rows", faulty)
    _fails("kernel.relu_exact")


def test_a_kernel_pass_without_indicators_fails_remark5(monkeypatch):
    real = path_module.node_weights
    monkeypatch.setattr(path_module, "node_weights",
                        lambda traj, rule, indicators=True: real(traj, rule, False))
    _fails("remark5.sgd")


def test_no_bisection_fails_theorem1_exact(monkeypatch):
    monkeypatch.setattr(exact, "MAX_BISECTIONS", 0)
    with pytest.warns(exact.PathWarning):  # the unresolved step is reported, too
        _fails("theorem1.exact")


def test_an_ignored_kink_locator_fails_theorem1_exact(monkeypatch):
    real = exact.integrate_step

    def faulty(engine, w, delta, Xq, U, step_integral, nodes, cuts=None):
        if cuts is not None and engine.model.name == "relu_pair_located":
            cuts = np.asarray(cuts)[:0]  # the locator's answer dropped
        return real(engine, w, delta, Xq, U, step_integral, nodes, cuts)

    import pkverify.kernels.optimizer_path as optimizer_path  # the exact rule's forward pass

    monkeypatch.setattr(optimizer_path, "integrate_step", faulty)
    with pytest.warns(exact.PathWarning):
        _fails("theorem1.exact")


def test_an_unmirrored_chunked_gram_fails_kernel_cross(monkeypatch):
    monkeypatch.setattr(engines, "permute", lambda xp, x, axes: xp.swapaxes(x, 0, 1))
    _fails("kernel.cross")


def test_swapped_output_axes_fail_kernel_cross(monkeypatch):
    real = engines.LayerwiseEngine.cross
    monkeypatch.setattr(engines.LayerwiseEngine, "cross",
                        lambda self, A, B: np.swapaxes(real(self, A, B), 2, 3))
    _fails("kernel.cross")


def test_wrong_flow_step_sizes_fail_kernel_cross(monkeypatch):
    import sys

    train_module = sys.modules["pkverify.flow"]  # gradient flow's own module
    real = train_module.gradient_flow

    def faulty(*args, **kwargs):
        fl = real(*args, **kwargs)
        h = fl.step_sizes * np.linspace(0.9, 1.1, fl.steps)  # unequal, same times
        return dataclasses.replace(fl, step_sizes=h)

    monkeypatch.setattr(train_module, "gradient_flow", faulty)
    _fails("kernel.cross")


def test_a_wrong_erf_value_kernel_fails_symbolic_deep_recursion(monkeypatch):
    import sympy as sp

    from pkverify.symbolic import infinite

    real = infinite.dual_kernel

    def faulty(activation, derivative=False):
        if activation == "erf" and not derivative:  # a missing factor 2 inside the arcsine
            return 2 / sp.pi * sp.asin(infinite.c / sp.sqrt((1 + 2 * infinite.a)
                                                            * (1 + 2 * infinite.b)))
        return real(activation, derivative)

    monkeypatch.setattr(infinite, "dual_kernel", faulty)
    _fails("symbolic.deep_recursion")


def test_a_wrong_deep_recursion_fails_symbolic_deep_recursion(monkeypatch):
    from pkverify.symbolic import infinite

    real = infinite.dual_kernel

    def faulty(activation, derivative=False):  # Σ̇ off by 1 %: the recursion's second term
        k = real(activation, derivative)
        return k * 1.01 if derivative and activation == "relu" else k

    monkeypatch.setattr(infinite, "dual_kernel", faulty)
    _fails("symbolic.deep_recursion")


def test_a_reversed_schedule_fails_theorem1_schedule(monkeypatch):
    import pkverify.claims.theorem1 as t1

    real = t1.train

    def faulty(model, X, Y, lr, steps, seed):  # trains on the schedule reversed
        lr = np.asarray(lr)[::-1] if np.ndim(lr) else lr
        traj = real(model, X, Y, lr=lr, steps=steps, seed=seed)
        return dataclasses.replace(traj, step_sizes=np.asarray(traj.step_sizes)[::-1].copy(),
                                   times=np.concatenate([[0.0], np.cumsum(
                                       np.asarray(traj.step_sizes)[::-1])]),
                                   optimizer=None)  # plain GD with the recorded sizes

    monkeypatch.setattr(t1, "train", faulty)
    with pytest.warns(exact.PathWarning):
        _fails("theorem1.schedule")
