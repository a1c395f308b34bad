"""The claims' independent anchors catch faults that training and the kernel machine would
share (issue 7, item 10): each test seeds one fault and requires its claim to fail."""

from __future__ import annotations

import numpy as np
import pytest

import pkverify as pk
from pkverify.claims import CheckConfig, get
from pkverify.kernels import path as path_module
from pkverify.kernels.exact import PathWarning

QUICK = CheckConfig(seed=0, quick=True)


def test_the_anchored_claims_pass_unfaulted():
    for cid in ("kernel.rules", "kernel.c_sigma", "linear.reduction", "remark4.regularizer"):
        result = get(cid).run(QUICK)
        assert result.status == "pass", (cid, result.message)


def test_a_halved_l2_gradient_fails_remark4(monkeypatch):
    import pkverify.claims.remarks as remarks
    from pkverify.losses import Regularizer

    def faulty_l2(lam):
        good = pk.l2(lam)
        return Regularizer("l2", good.value, lambda w: 0.5 * lam * np.asarray(w), good.spec)

    monkeypatch.setattr(remarks, "l2", faulty_l2)
    result = get("remark4.regularizer").run(QUICK)
    assert result.status == "fail"
    assert result.metrics["l2_grad_vs_central_differences"] > 0.1  # half the gradient is off


def test_a_right_endpoint_riemann_sum_fails_kernel_rules(monkeypatch):
    real = path_module.node_weights

    def right_endpoint(traj, rule, indicators):
        C = real(traj, rule, indicators)
        if rule is path_module.Rule.RIEMANN:
            return np.roll(C, 1, axis=0)  # weight ε_s on w_{s+1} instead of w_s
        return C

    monkeypatch.setattr(path_module, "node_weights", right_endpoint)
    result = get("kernel.rules").run(QUICK)
    assert result.status == "fail" and result.metrics["riemann_rel_err"] > 1e-6


def test_uniform_simpson_weights_on_a_schedule_fail_kernel_rules(monkeypatch):
    real = path_module.node_weights

    def uniform_simpson(traj, rule, indicators):
        C = real(traj, rule, indicators)
        if rule is path_module.Rule.SIMPSON:
            S = traj.steps
            h = traj.T / S
            w = np.full(S + 1, 2.0)
            w[1::2] = 4.0
            w[0] = w[-1] = 1.0
            C[:] = (h / 3.0 * w)[:, None]
        return C

    monkeypatch.setattr(path_module, "node_weights", uniform_simpson)
    result = get("kernel.rules").run(QUICK)
    assert result.status == "fail" and result.metrics["simpson_rel_err"] > 1e-6


def test_a_wrong_c_sigma_fails(monkeypatch):
    import pkverify.activations as activations

    real = activations.c_sigma
    monkeypatch.setattr(activations, "c_sigma",
                        lambda name: real(name) * (1.01 if name == "tanh" else 1.0))
    result = get("kernel.c_sigma").run(QUICK)
    assert result.status == "fail" and result.metrics["tanh_rel_err"] > 1e-3


def test_a_faulty_gd_step_fails_the_closed_form_path(monkeypatch):
    import pkverify.claims.linear as linear_claim

    real_train = linear_claim.train

    def half_step_train(model, X, Y, lr, steps, seed):
        # a GD loop that takes half the step it records: the machine, built from the same
        # recorded path, cannot notice; the closed-form path does
        traj = real_train(model, X, Y, lr=lr / 2, steps=steps, seed=seed)
        import dataclasses

        # (optimizer=None: the recorded rule follows the doubled step sizes)
        return dataclasses.replace(traj, step_sizes=traj.step_sizes * 2, times=traj.times * 2,
                                   optimizer=None)

    monkeypatch.setattr(linear_claim, "train", half_step_train)
    with pytest.warns(PathWarning, match="not the gradient-descent path"):  # the fault, seen
        result = get("linear.reduction").run(QUICK)
    assert result.status == "fail" and result.metrics["gd_path_vs_closed_form"] > 1e-3
