"""pk.testing.assert_kernel_machine: passes on a trained path, fails with its report on a
tampered one (the check can fail), and chooses its tolerance by dtype with the reason."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import pkverify as pk
from pkverify.errors import InvalidArgumentError


def _path(**kw):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((8, 2)), rng.standard_normal(8)
    model = pk.models.mlp([2, 5, 1], activation="tanh")
    return pk.train(model, X, Y, loss="mse", steps=6, batch_size=4, seed=1, **kw)


def test_it_passes_on_a_trained_path_and_says_what_it_measured():
    traj = _path(optimizer=pk.optim.adam(0.02), reduction="mean")
    check = pk.testing.assert_kernel_machine(traj)
    assert check.passed and check.rel_error <= 1e-12
    assert check.rtol == 1e-11 and "float64 rounding" in check.reason
    assert 0 <= check.worst_query < 8 and 0 <= check.worst_step < 6


def test_it_fails_on_a_tampered_path_with_a_readable_report():
    traj = _path(lr=0.1)
    ws = traj.ws.copy()
    ws[-1] += 1e-3  # the last weights edited: no longer the path training took
    bad = dataclasses.replace(traj, ws=ws)
    with pytest.raises(AssertionError) as info:
        pk.testing.assert_kernel_machine(bad, contributions=False)
    report = str(info.value)
    assert "the kernel machine is not the trained model" in report
    assert "worst query: row" in report and "machine y(x) =" in report
    assert "worst step:" in report and "of 6" in report
    assert "PathWarning" in report and "step 5" in report  # the machine's own warning, kept
    assert "rtol 1.0e-11" in report and "unexplained by the training points" in report


def test_the_tolerance_follows_the_dtype_and_can_be_given():
    traj32 = _path(lr=0.1, dtype=np.float32)
    rtol, reason = pk.testing.default_rtol(traj32)
    assert rtol == 1e-3 and "float32" in reason
    assert pk.testing.assert_kernel_machine(traj32, contributions=False).passed
    traj = _path(lr=0.1)
    with pytest.raises(AssertionError, match=r"rtol 1.0e-30 \(given\)"):
        pk.testing.assert_kernel_machine(traj, rtol=1e-30, contributions=False)
    with pytest.raises(InvalidArgumentError, match="needs a Trajectory"):
        pk.testing.assert_kernel_machine("path.npz")
