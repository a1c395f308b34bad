"""pk.torch.Recorder with several parameter groups: the common recipe (biases without weight
decay, the last layer at 10× lr) under a LambdaLR with one lambda per group.

Independent checks: the kernel machine of the recorded path against the torch module's own
output (computed by torch alone), the recorded per-group lrs against the scheduler's, and the
recorded weights against ``pk.train`` stepping the same groups on the same batches."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed (pip install 'pkverify[torch]'); the recorder "
    "needs it"
)

import pkverify as pk  # noqa: E402
from tests.extra.test_torch_recorder import D, K, N, data, mlp, pk_batches, rel  # noqa: E402

# float64: the machine sums S steps of products in another order than torch's forward pass
# (rounding ~1e-16 per term over ≤ 10 steps of ≤ 60 parameters); three orders below 1e-12
RTOL64 = 1e-12
STEPS, BATCH = 10, 4
LAMBDAS = [lambda s: 1.0 / (1.0 + 0.1 * s), lambda s: 1.0, lambda s: 0.9 ** s]


def recipe(net, make, lr, wd):
    """Group 0: the hidden layer's weight (decayed); group 1: the biases (no decay);
    group 2: the last layer's weight at 10× lr (decayed)."""
    hidden, last = net[0], net[2]
    return make([{"params": [hidden.weight], "weight_decay": wd},
                 {"params": [hidden.bias, last.bias], "weight_decay": 0.0},
                 {"params": [last.weight], "lr": 10 * lr, "weight_decay": wd}], lr=lr)


OPTIMIZERS = {
    "sgd_nesterov": lambda groups, lr: torch.optim.SGD(groups, lr=lr, momentum=0.9,
                                                       nesterov=True),
    "adam": lambda groups, lr: torch.optim.Adam(groups, lr=lr),
    "adamw": lambda groups, lr: torch.optim.AdamW(groups, lr=lr),
}
LR = {"sgd_nesterov": 0.02, "adam": 0.005, "adamw": 0.005}


def run_loop(name, clip_last_at=None):
    X, Ys = data()
    Y = Ys["reg"]
    net = mlp()
    opt = recipe(net, OPTIMIZERS[name], LR[name], 0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, LAMBDAS)
    loss_fn = torch.nn.MSELoss()
    rec = pk.torch.Recorder(net, opt, X, Y, loss_fn)
    used = []
    for s, rows in enumerate(pk_batches(0, STEPS, BATCH)):
        idx = torch.from_numpy(rows)
        used.append([g["lr"] for g in opt.param_groups])
        opt.zero_grad()
        loss_fn(net(X[idx]), Y[idx]).backward()
        if s == clip_last_at:
            torch.nn.utils.clip_grad_norm_([net[2].weight], 1e-4)
        opt.step()
        rec.step(idx)
        sched.step()
    return net, rec, X, np.array(used)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_the_recipe_is_rebuilt_exactly_and_is_pk_trains_path(name, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no step warning, no path warning
        net, rec, X, used = run_loop(name)
        traj = rec.trajectory()
        km = pk.kernel_machine(traj, rule="exact", progress=False)
        Xq = np.concatenate([X.numpy()[:3], np.random.default_rng(5).standard_normal((3, D))])
        with torch.no_grad():
            out = net(torch.from_numpy(Xq)).numpy()
        assert rel(km.predict(Xq), out) <= RTOL64
        C = km.contributions(Xq)
        assert C.shape[:2] == (6, N)
        assert rel(km.b(Xq) + C.sum(axis=1), out) <= RTOL64
    assert max(rec.mismatch) <= 1e-12
    # the groups as torch held them: runs of the flat vector in parameters() order
    # (hidden W 3·8, hidden b 8, last W 8·2, last b 2)
    groups = traj.optimizer.groups
    assert groups.segments == ((0, 24, 0), (24, 32, 1), (32, 48, 2), (48, 50, 1))
    assert groups.weight_decay == (0.05, 0.0, 0.05)
    # every group's lr as the scheduler set it, step by step (these differ from step 1 on)
    np.testing.assert_array_equal([groups.rates_at(s) for s in range(STEPS)], used)
    np.testing.assert_array_equal(traj.step_sizes, used[:, 0])
    assert len({tuple(r / r[0]) for r in used}) > 1  # the groups' ratios change over time
    # pk.train with the same groups, batches and start is the recorded path
    again = pk.train(traj.model, traj.X, traj.Y, loss=traj.loss, optimizer=traj.optimizer,
                     steps=STEPS, batch_size=BATCH, seed=0, w0=traj.ws[0],
                     reduction=traj.reduction, progress=False)
    np.testing.assert_array_equal(again.batches, traj.batches)
    assert rel(again.ws, traj.ws) <= RTOL64
    # a saved grouped path comes back with its groups (the module passed back)
    back = pk.Trajectory.load(traj.save(tmp_path / "g.npz"), model=traj.model)
    assert back.optimizer == traj.optimizer


def test_a_group_whose_step_is_off_is_named_with_its_cause():
    """Clipping the last layer's gradient only: the step check per group names group 2 and
    reads the clipping in that group's components."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_loop("adamw", clip_last_at=3)
    said = [str(w.message) for w in caught if w.category is pk.torch.RecorderWarning]
    assert said and all("parameter group(s) [2]" in m for m in said)
    assert said[0].startswith("recorded step 3 ") and "clipping by norm" in said[0]
    # later steps differ too (AdamW's moments carry the clipped gradient): said so
    assert len(said) > 1 and all("buffers carry on the gap of step 3" in m for m in said[1:])


def test_groups_that_differ_in_momentum_or_betas_are_refused():
    net = mlp()
    with pytest.raises(pk.errors.InvalidArgumentError, match="differ in betas"):
        pk.torch.Recorder(net, torch.optim.Adam(
            [{"params": [net[0].weight, net[0].bias]},
             {"params": [net[2].weight, net[2].bias], "betas": (0.5, 0.9)}]), *data()[:1],
            data()[1]["reg"], torch.nn.MSELoss())
    assert K == 2  # the recipe's last layer has K outputs (segments above)
