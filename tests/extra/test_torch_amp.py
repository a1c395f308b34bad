"""pk.torch.Recorder under AMP (torch.autocast on the CPU with bfloat16, torch.amp.GradScaler)
and gradient clipping by value: what the step check does with each.

* GradScaler's loss scale is a power of two and ``scaler.step`` unscales before the step, so
  on a float64 module (which autocast leaves in float64) every step is the rule's step to
  rounding and the path is rebuilt exactly; a step the scaler skips (inf/NaN gradients) is
  left out with a warning naming the GradScaler.
* A float32 module under bfloat16 autocast computes its gradient in reduced precision: the
  step check names AMP autocast. A loss scale never undone (``optimizer.step()`` called
  directly after ``scaler.scale(loss).backward()``) is named with its power of two.
* Gradient clipping by norm is named by tests/extra/test_torch_recorder.py; by value here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed (pip install 'pkverify[torch]'); the recorder "
    "needs it"
)

import pkverify as pk  # noqa: E402
from tests.extra.test_torch_recorder import D, N, data, mlp, rel  # noqa: E402

# float64: the machine sums the steps' products in another order than torch's forward pass
# (rounding ~1e-16 per term over ≤ 8 steps of 50 parameters); three orders below 1e-12
RTOL64 = 1e-12
STEPS = 8


def amp_loop(dtype, skip_at=None, init_scale=2.0 ** 16, autocast=True, reduction="mean"):
    """The AMP recipe: autocast forward, scaled backward, scaler.step, scaler.update."""
    X, Ys = data()
    X, Y = X.to(dtype), Ys["reg"].to(dtype)
    net = mlp().to(dtype)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale, backoff_factor=2.0 ** -100)
    loss_fn = torch.nn.MSELoss(reduction=reduction)
    rec = pk.torch.Recorder(net, opt, X, Y, loss_fn)
    taken = []
    for s in range(STEPS):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = net(X)
        scaler.scale(loss_fn(out.to(dtype), Y)).backward()
        if s == skip_at:  # an overflowed scaled gradient (float64 does not overflow at
            net[0].weight.grad[0, 0] = float("inf")  # the scaler's float32 scales)
        before = net[0].weight.detach().clone()
        scaler.step(opt)
        scaler.update()
        taken.append(not torch.equal(before, net[0].weight.detach()))
        rec.step(np.arange(N))
    return net, rec, X, taken


def test_grad_scaler_on_a_float64_module_is_exact_and_its_skipped_step_is_left_out():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net, rec, X, taken = amp_loop(torch.float64, skip_at=3)
    said = [str(w.message) for w in caught if issubclass(w.category, pk.torch.RecorderWarning)]
    assert taken == [s != 3 for s in range(STEPS)]  # the scaler skipped step 3
    assert len(said) == 1 and "step 3" in said[0] and "GradScaler skips" in said[0]
    assert max(rec.mismatch) <= 1e-12  # every step taken is Adam's step, to rounding
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        traj = rec.trajectory()
        assert traj.steps == STEPS - 1
        Xq = np.concatenate([X.numpy()[:3], np.random.default_rng(5).standard_normal((3, D))])
        km = pk.kernel_machine(traj, rule="exact", progress=False)
        with torch.no_grad():
            out = net(torch.from_numpy(Xq)).numpy()
        assert rel(km.predict(Xq), out) <= RTOL64
        assert rel(km.b(Xq) + km.contributions(Xq).sum(axis=1), out) <= RTOL64


def test_a_real_overflow_skipped_by_the_scaler_on_a_float32_module():
    """A scale of 2^127 overflows float32 (max ≈ 2^128) once the summed loss exceeds 2: the
    scaler skips the first step and backs off; the later steps, unscaled by powers of two,
    pass the check."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, rec, _, taken = amp_loop(torch.float32, init_scale=2.0 ** 127, autocast=False,
                                    reduction="sum")
    said = [str(w.message) for w in caught if issubclass(w.category, pk.torch.RecorderWarning)]
    assert taken[0] is False and all(taken[1:])
    assert len(said) == 1 and "step 0" in said[0] and "GradScaler" in said[0]
    assert len(rec.lrs) == STEPS - 1


def test_bfloat16_autocast_on_a_float32_module_is_named():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        amp_loop(torch.float32)
    said = [str(w.message) for w in caught if issubclass(w.category, pk.torch.RecorderWarning)]
    # Adam's first step is η·sign(g) to within eps, blind to the gradient's precision; from
    # step 1 on the bfloat16 gradient shows (≈ 4e-3 relative, bfloat16's 2^-8 roundoff)
    assert said and "step 1 " in said[0] and "AMP autocast (bfloat16" in said[0]


def test_a_loss_scale_never_undone_is_named_with_its_power_of_two():
    X, Ys = data()
    net = mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16)
    loss_fn = torch.nn.MSELoss()
    rec = pk.torch.Recorder(net, opt, X, Ys["reg"], loss_fn)
    scaler.scale(loss_fn(net(X), Ys["reg"])).backward()
    opt.step()  # not scaler.step(opt): the gradient is still 2^16 times the loss's
    with pytest.warns(pk.torch.RecorderWarning, match=r"2\^16 times .*GradScaler"):
        rec.step(np.arange(N))


def test_clipping_by_value_is_named():
    X, Ys = data()
    net = mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.MSELoss(reduction="sum")
    rec = pk.torch.Recorder(net, opt, X, Ys["reg"], loss_fn)
    loss_fn(net(X), Ys["reg"]).backward()
    torch.nn.utils.clip_grad_value_(net.parameters(), 0.05)
    opt.step()
    with pytest.warns(pk.torch.RecorderWarning, match=r"step 0 .*clipping by value"):
        rec.step(np.arange(N))
