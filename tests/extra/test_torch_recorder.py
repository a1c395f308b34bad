"""pk.torch.Recorder: the user's own torch loop, optimizer and scheduler recorded as a path.

Independent checks: the kernel machine of the recorded path against the torch module's own
output (what the user trained, computed by torch alone), and the recorded weights against
``pk.train`` stepping with the mapped pk.optim rule on the same data, batches and start.
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
from pkverify.errors import DomainError, InvalidArgumentError, ShapeError  # noqa: E402

# float64: the machine sums S steps of products in another order than torch's forward pass
# (rounding ~1e-16 per term over ≤ 30 steps of ≤ 100 parameters); three orders below 1e-12
RTOL64 = 1e-12
N, D, K = 12, 3, 2


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def mlp(seed=0, k=K, act=torch.nn.Tanh):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(D, 8), act(), torch.nn.Linear(8, k)).double()


def data(seed=0):
    rng = np.random.default_rng(seed)
    X = torch.from_numpy(rng.standard_normal((N, D)))
    return X, {"reg": torch.from_numpy(rng.standard_normal((N, K))),
               "cls": torch.from_numpy(rng.integers(0, K, N)),
               "bin": torch.from_numpy(rng.integers(0, 2, (N, 1)).astype(np.float64))}


def pk_batches(seed, steps, batch_size):
    """The batches pk.train draws (so that pk.train can replay the same path)."""
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(N, size=batch_size, replace=False)) for _ in range(steps)]


CASES = {
    # optimizer, loss, targets, with a cosine schedule
    "sgd_nesterov": (lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                               weight_decay=1e-3),
                     lambda: torch.nn.MSELoss(), "reg", False),
    "sgd_dampening": (lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3),
                      lambda: torch.nn.BCEWithLogitsLoss(reduction="sum"), "bin", False),
    "adam": (lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-3),
             lambda: torch.nn.CrossEntropyLoss(reduction="sum"), "cls", False),
    "adamw_cosine": (lambda p: torch.optim.AdamW(p, lr=0.02, weight_decay=0.05),
                     lambda: torch.nn.MSELoss(reduction="sum"), "reg", True),
}


def run_loop(case, steps=12, batch_size=4, seed=0):
    """The user's loop: zero_grad, loss, backward, step, rec.step, scheduler."""
    make_opt, make_loss, target, cosine = CASES[case]
    X, Ys = data()
    Y = Ys[target]
    net = mlp(k=1 if target == "bin" else K)
    opt = make_opt(net.parameters())
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) if cosine else None
    loss_fn = make_loss()
    rec = pk.torch.Recorder(net, opt, X, Y, loss_fn)
    lrs = []
    for rows in pk_batches(seed, steps, batch_size):
        idx = torch.from_numpy(rows)
        lrs.append(opt.param_groups[0]["lr"])
        opt.zero_grad()
        loss_fn(net(X[idx]), Y[idx]).backward()
        opt.step()
        rec.step(idx)
        if sched is not None:
            sched.step()
    return net, rec, X, lrs


@pytest.mark.parametrize("case", list(CASES))
def test_the_machine_of_a_recorded_loop_is_the_torch_model(case):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no step warning, no path warning
        net, rec, X, lrs = run_loop(case)
        traj = rec.trajectory()
        km = pk.kernel_machine(traj, rule="exact")
        Xq = np.concatenate([X.numpy()[:4], np.random.default_rng(5).standard_normal((3, D))])
        with torch.no_grad():
            out = net(torch.from_numpy(Xq)).numpy()
        out = out[:, 0] if out.shape[1] == 1 else out
        assert rel(km.predict(Xq), out) <= RTOL64
        C = km.contributions(Xq)
        assert C.shape[:2] == (7, N)
        assert rel(km.b(Xq) + C.sum(axis=1), out) <= RTOL64
    # every recorded step is the rule's step from the loss's gradient, to rounding
    assert max(rec.mismatch) <= 1e-12
    np.testing.assert_array_equal(traj.step_sizes, lrs)  # the scheduler's values as used
    assert traj.kind == "sgd" and traj.batches.sum(axis=1).tolist() == [4] * 12


@pytest.mark.parametrize("case", list(CASES))
def test_the_recorded_path_is_pk_trains_path_with_the_mapped_optimizer(case):
    net, rec, X, _ = run_loop(case)
    traj = rec.trajectory()
    again = pk.train(traj.model, traj.X, traj.Y, loss=traj.loss, optimizer=traj.optimizer,
                     steps=traj.steps, batch_size=4, seed=0, w0=traj.ws[0],
                     reduction=traj.reduction)
    np.testing.assert_array_equal(again.batches, traj.batches)
    assert rel(again.ws, traj.ws) <= RTOL64
    # the weights recorded last are the module's own
    w_net = torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy()
    np.testing.assert_array_equal(traj.ws[-1], w_net)


def test_the_mapping_names_the_rule_and_loss():
    _, rec, _, _ = run_loop("sgd_nesterov", steps=2)
    traj = rec.trajectory()
    assert traj.optimizer.name == "sgd" and traj.optimizer.nesterov
    assert traj.optimizer.weight_decay == 1e-3
    assert (traj.loss.name, traj.reduction) == ("squared_error_mean", "mean")
    _, rec, _, _ = run_loop("adamw_cosine", steps=2)
    assert rec.trajectory().optimizer.name == "adamw"
    net = mlp()
    opt = torch.optim.Adam(net.parameters(), lr=0.01, decoupled_weight_decay=True)
    X, Ys = data()
    rec = pk.torch.Recorder(net, opt, X, Ys["reg"], torch.nn.MSELoss())
    assert rec.rule.name == "adamw"
    opt = torch.optim.SGD(mlp().parameters(), lr=0.1)
    assert pk.torch.optimizer_rule(opt, list(opt.param_groups[0]["params"])).name == "gd"


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_factor_torch_values_and_gradients(reduction):
    """PyTorch's MSELoss has no ½ and its mean divides by n·k: the mapped loss gives torch's
    value and the steps follow; mapped onto pkverify's ½-mse instead, every step is off by a
    factor and the recorder says so (the check can fail)."""
    X, Ys = data()
    y = torch.from_numpy(np.random.default_rng(1).standard_normal((N, K)))
    name, red = pk.torch.loss_mapping(torch.nn.MSELoss(reduction=reduction))
    loss = pk.losses.get_loss(name)
    value = float(loss.total(y.numpy(), Ys["reg"].numpy())) / (N if red == "mean" else 1)
    expected = float(torch.nn.MSELoss(reduction=reduction)(y, Ys["reg"]))
    assert value == pytest.approx(expected, rel=1e-14)  # one sum in another order

    import pkverify.extra.torch_recorder as recorder_module

    def as_half_mse(loss_fn):
        return "mse", reduction

    # k = 3 outputs: torch's factor 2/k (mean) or 2 (sum) is not pkverify's ½-mse's 1
    net = mlp(k=3)
    Y3 = torch.from_numpy(np.random.default_rng(2).standard_normal((N, 3)))
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    loss_fn = torch.nn.MSELoss(reduction=reduction)
    orig = recorder_module.loss_mapping
    recorder_module.loss_mapping = as_half_mse
    try:
        rec = pk.torch.Recorder(net, opt, X, Y3, loss_fn)
    finally:
        recorder_module.loss_mapping = orig
    opt.zero_grad()
    loss_fn(net(X), Y3).backward()
    opt.step()
    with pytest.warns(pk.torch.RecorderWarning, match="step 0"):
        rec.step(np.arange(N))


def test_clipped_gradients_are_named_at_their_step():
    X, Ys = data()
    net = mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    loss_fn = torch.nn.MSELoss(reduction="sum")
    rec = pk.torch.Recorder(net, opt, X, Ys["reg"], loss_fn)
    for s in range(3):
        opt.zero_grad()
        loss_fn(net(X), Ys["reg"]).backward()
        if s == 2:
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1e-3)
        opt.step()
        if s < 2:
            rec.step(np.arange(N))
        else:
            with pytest.warns(pk.torch.RecorderWarning, match=r"step 2 .*gradient clipping"):
                rec.step(np.arange(N))
    # the kernel machine of the path warns in turn that it does not follow its rule
    with pytest.warns(pk.kernels.exact.PathWarning, match="step 2"):
        pk.kernel_machine(rec.trajectory(), rule="exact").predict(X.numpy()[:2])


# ----- bad input ---------------------------------------------------------------------------


def _rec(opt_fn=lambda p: torch.optim.SGD(p, lr=0.1), loss_fn=None, Y="reg", X=None, k=K,
         **kw):
    Xd, Ys = data()
    net = mlp(k=k)
    Yv = Ys[Y] if isinstance(Y, str) else Y
    return pk.torch.Recorder(net, opt_fn(net.parameters()), Xd if X is None else X, Yv,
                             loss_fn or torch.nn.MSELoss(), **kw)


@pytest.mark.parametrize("make, match", [
    (lambda p: torch.optim.RMSprop(p, lr=0.1), "does not know the optimizer RMSprop.*SGD"),
    (lambda p: torch.optim.LBFGS(p), "does not know the optimizer LBFGS"),
    (lambda p: torch.optim.Adam(p, amsgrad=True), "amsgrad=True"),
    (lambda p: torch.optim.SGD(p, lr=0.1, maximize=True), "maximize=True"),
    (lambda p: torch.optim.Adam(p, differentiable=True), "differentiable=True"),
])
def test_optimizers_and_options_it_cannot_rebuild_are_refused(make, match):
    with pytest.raises(InvalidArgumentError, match=match):
        _rec(make)


def test_parameter_groups():
    def two(lr2, wd2=0.0):
        def make(params):
            ps = list(params)
            return torch.optim.SGD([{"params": ps[:2]}, {"params": ps[2:], "lr": lr2,
                                                          "weight_decay": wd2}], lr=0.1)
        return make

    # groups may differ in lr and weight decay (tests/extra/test_torch_recorder_groups.py)
    assert _rec(two(0.1, 1e-3)).rule.groups.weight_decay == (0.0, 1e-3)
    assert _rec(two(0.2)).rule.groups.lr == (0.1, 0.2)
    assert _rec(two(0.1)).rule == pk.optim.gd(0.1)  # groups with one rule are one rule

    def momenta(params):
        ps = list(params)
        return torch.optim.SGD([{"params": ps[:2]}, {"params": ps[2:], "momentum": 0.5}],
                               lr=0.1, momentum=0.9)

    with pytest.raises(InvalidArgumentError, match="differ in momentum.*lr and weight_decay"):
        _rec(momenta)

    def partial(params):
        return torch.optim.SGD(list(params)[:2], lr=0.1)

    with pytest.raises(InvalidArgumentError, match="exactly the module's trainable"):
        _rec(partial)


def test_an_optimizer_that_already_stepped_is_refused():
    net = mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    X, Ys = data()
    torch.nn.MSELoss()(net(X), Ys["reg"]).backward()
    opt.step()
    with pytest.raises(InvalidArgumentError, match="already taken steps"):
        pk.torch.Recorder(net, opt, X, Ys["reg"], torch.nn.MSELoss())


@pytest.mark.parametrize("loss_fn, match", [
    (torch.nn.CrossEntropyLoss(label_smoothing=0.1), "label_smoothing"),
    (torch.nn.CrossEntropyLoss(weight=torch.ones(K, dtype=torch.float64)), "class weights"),
    (torch.nn.BCEWithLogitsLoss(pos_weight=torch.ones(1)), "class weights"),
    (torch.nn.MSELoss(reduction="none"), "reduction='none'"),
    (torch.nn.L1Loss(), "does not know the loss L1Loss"),
])
def test_losses_it_cannot_map_are_refused(loss_fn, match):
    with pytest.raises(InvalidArgumentError, match=match):
        _rec(loss_fn=loss_fn, Y="cls")


def test_labels_that_do_not_fit_the_loss():
    with pytest.raises(DomainError, match="class ids in 0..1"):
        _rec(loss_fn=torch.nn.CrossEntropyLoss(), Y=torch.full((N,), 5))
    with pytest.raises(DomainError, match=r"labels in \{0, 1\}"):
        _rec(loss_fn=torch.nn.BCEWithLogitsLoss(), k=1,
             Y=torch.full((N, 1), 0.5, dtype=torch.float64))
    with pytest.raises(ShapeError, match="scalar-output model"):  # BCE on 2 logits
        _rec(loss_fn=torch.nn.BCEWithLogitsLoss(), Y=torch.zeros((N, K), dtype=torch.float64))
    with pytest.raises(ShapeError, match="one target per row"):
        _rec(Y=torch.zeros((N - 1, K), dtype=torch.float64))


def test_X_on_another_device_is_refused():
    X, _ = data()
    with pytest.raises(InvalidArgumentError, match="X is on meta"):
        _rec(X=torch.empty((N, D), device="meta", dtype=torch.float64))
    with pytest.raises(ShapeError, match="input_shape"):
        _rec(X=X[:, :2])


def _one_step(net, opt, X, Y):
    opt.zero_grad()
    torch.nn.MSELoss()(net(X), Y).backward()
    opt.step()


def test_rec_step_twice_or_not_at_all():
    X, Ys = data()
    net = mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    rec = pk.torch.Recorder(net, opt, X, Ys["reg"], torch.nn.MSELoss())
    with pytest.raises(pk.torch.RecorderError, match="no step was recorded"):
        rec.trajectory()
    with pytest.raises(pk.torch.RecorderError, match="without an optimizer.step"):
        rec.step(np.arange(N))
    _one_step(net, opt, X, Ys["reg"])
    with pytest.raises(pk.torch.RecorderError, match="taken but not recorded"):
        rec.trajectory()
    with pytest.raises(pk.torch.RecorderError, match="called again before rec.step"):
        _one_step(net, opt, X, Ys["reg"])


def test_rec_step_twice_after_one_optimizer_step():
    X, Ys = data()
    net = mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    rec = pk.torch.Recorder(net, opt, X, Ys["reg"], torch.nn.MSELoss())
    _one_step(net, opt, X, Ys["reg"])
    rec.step(np.arange(N))
    with pytest.raises(pk.torch.RecorderError, match="called twice"):
        rec.step(np.arange(N))
    with torch.no_grad():
        next(net.parameters()).add_(1e-3)  # an edit outside the optimizer
    with pytest.raises(pk.torch.RecorderError, match="weights changed between"):
        _one_step(net, opt, X, Ys["reg"])


@pytest.mark.parametrize("batch, match", [([0, 0, 1], "holds a row twice"),
                                          ([N], "integers in 0..11"), ([], "integers")])
def test_bad_batches(batch, match):
    X, Ys = data()
    net = mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    rec = pk.torch.Recorder(net, opt, X, Ys["reg"], torch.nn.MSELoss())
    _one_step(net, opt, X, Ys["reg"])
    with pytest.raises(InvalidArgumentError, match=match):
        rec.step(np.asarray(batch, dtype=int))


def test_indexed_loader_yields_indices_with_their_rows():
    X, Ys = data()
    g = torch.Generator().manual_seed(0)
    seen = []
    for idx, xb, yb in pk.torch.indexed_loader(X, Ys["reg"], 5, generator=g):
        assert torch.equal(xb, X[idx]) and torch.equal(yb, Ys["reg"][idx])
        seen.extend(idx.tolist())
    assert sorted(seen) == list(range(N))
    with pytest.raises(ShapeError, match="same number of rows"):
        pk.torch.indexed_loader(X, Ys["reg"][:3], 5)


def test_a_recorded_path_saves_and_loads_with_its_module():
    _, rec, _, _ = run_loop("adam", steps=3)
    traj = rec.trajectory()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        traj.save(Path(d) / "t.npz")
        back = pk.Trajectory.load(Path(d) / "t.npz", model=rec.model)
    np.testing.assert_array_equal(back.ws, traj.ws)
    assert back.optimizer == traj.optimizer and back.loss.name == "softmax_ce"


@pytest.mark.parametrize("make", [lambda p: torch.optim.Adam(p, lr=1e-2),
                                  lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)])
def test_a_float32_loop_is_checked_at_float32_rounding(make):
    """torch steps in float32; the rebuilt step (float64 rule on the float32 gradient) and the
    machine agree to float32 rounding: measured ~2e-6 over 10 steps, under STEP_RTOL's 1e-3
    and pk.testing's float32 default (both ~1e4 ulps of 6e-8)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(D, 8), torch.nn.Tanh(), torch.nn.Linear(8, K))
    X, Ys = data()
    X32, Y = X.float(), Ys["cls"]
    opt, loss_fn = make(net.parameters()), torch.nn.CrossEntropyLoss()
    rec = pk.torch.Recorder(net, opt, X32, Y, loss_fn)
    for _ in range(10):
        opt.zero_grad()
        loss_fn(net(X32), Y).backward()
        opt.step()
        rec.step(np.arange(N))
    assert 0 < max(rec.mismatch) <= 1e-4  # float32 rounding, not float64's
    check = pk.testing.assert_kernel_machine(rec.trajectory())
    assert check.rtol == 1e-3 and check.rel_error <= 1e-4
