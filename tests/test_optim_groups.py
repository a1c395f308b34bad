"""pk.optim's parameter groups against the grouped update written out by hand, against
torch.optim's param_groups, and through pk.train and trajectory files."""

from __future__ import annotations

import json

import numpy as np
import pytest

import pkverify as pk
from pkverify import optim
from pkverify.errors import InvalidArgumentError, TrajectoryFileError
from tests.test_optim import W0, S, grad

INDEX = np.array([0, 0, 1, 1, 1])  # weights 0–1 in group 0, 2–4 in group 1
SCHED = tuple(0.05 * (1.0 + 0.5 * np.cos(np.arange(S))))


def pk_path(opt: optim.Optimizer, steps: int = S) -> np.ndarray:
    """The rule stepped by ``advance`` with each step's per-weight rates."""
    eta = opt.step_sizes(steps)
    w, state, path = W0.copy(), optim.OptimizerState(), [W0.copy()]
    for s in range(steps):
        g = opt.gradient(grad(w), w)
        parts, dec, _, state = opt.advance(state, g[None, :], w, opt.rate(s, float(eta[s])), s,
                                           total=g)
        w = w + (parts[0] + dec)
        path.append(w)
    return np.array(path)


def lr_at(lr, s):
    return lr[s] if isinstance(lr, tuple) else lr


def test_grouped_sgd_and_adamw_by_hand():
    lrs, wds = (SCHED, 0.2), (0.0, 0.1)
    # SGD, coupled decay: w_j ← w_j − η_{s,γ(j)} (∇_j + λ_γ(j) w_j), weight by weight
    w, path = W0.copy(), [W0.copy()]
    for s in range(S):
        g = grad(w)
        w = np.array([w[j] - lr_at(lrs[INDEX[j]], s) * (g[j] + wds[INDEX[j]] * w[j])
                      for j in range(5)])
        path.append(w)
    opt = optim.grouped(optim.sgd(0.1), INDEX, lr=list(lrs), weight_decay=list(wds))
    np.testing.assert_allclose(pk_path(opt), np.array(path), rtol=0, atol=1e-13)
    # AdamW (torch's _single_tensor_adam, decoupled): each weight with its group's η and λ
    b1, b2, eps = 0.9, 0.999, 1e-8
    w, m, v, path = W0.copy(), np.zeros(5), np.zeros(5), [W0.copy()]
    for s in range(S):
        g = grad(w)
        eta = np.array([lr_at(lrs[i], s) for i in INDEX])
        lam = np.array([wds[i] for i in INDEX])
        w = w * (1 - eta * lam)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mh, vh = m / (1 - b1 ** (s + 1)), v / (1 - b2 ** (s + 1))
        w = w - eta * mh / (np.sqrt(vh) + eps)
        path.append(w)
    opt = optim.grouped(optim.adamw(0.1), INDEX, lr=list(lrs), weight_decay=list(wds))
    # rounding: w(1 − ηλ) against w − ηλw, a few ulps per step over 7 steps
    np.testing.assert_allclose(pk_path(opt), np.array(path), rtol=0, atol=1e-13)


TORCH_CASES = {
    "sgd-nesterov": (optim.sgd(0.1, momentum=0.9, nesterov=True), "SGD",
                     dict(momentum=0.9, nesterov=True)),
    "adam": (optim.adam(0.05), "Adam", {}),
    "adamw": (optim.adamw(0.05), "AdamW", {}),
}


@pytest.mark.parametrize("name", list(TORCH_CASES))
def test_groups_match_torch_param_groups(name):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install "
                                "'pkverify[torch]' runs this comparison)")
    base, cls, kwargs = TORCH_CASES[name]
    p1 = torch.nn.Parameter(torch.tensor(W0[:2], dtype=torch.float64))
    p2 = torch.nn.Parameter(torch.tensor(W0[2:], dtype=torch.float64))
    topt = getattr(torch.optim, cls)(
        [{"params": [p1], "lr": 0.05, "weight_decay": 0.0},
         {"params": [p2], "lr": 0.3, "weight_decay": 0.1}], foreach=False, **kwargs)
    path = [W0.copy()]
    for _ in range(S):
        topt.zero_grad()
        g = torch.tensor(grad(np.concatenate([p1.detach().numpy(), p2.detach().numpy()])))
        p1.grad, p2.grad = g[:2].clone(), g[2:].clone()
        topt.step()
        path.append(np.concatenate([p1.detach().numpy(), p2.detach().numpy()]))
    opt = optim.grouped(base, INDEX, lr=[0.05, 0.3], weight_decay=[0.0, 0.1])
    assert opt.groups is not None and opt.groups.segments == ((0, 2, 0), (2, 5, 1))
    # rounding: the same float64 operations in a slightly different order
    np.testing.assert_allclose(pk_path(opt), np.array(path), rtol=0, atol=1e-12)


def test_groups_that_agree_are_one_rule():
    base = optim.sgd(0.1, momentum=0.9, weight_decay=0.01)
    same = optim.grouped(base, INDEX, lr=[0.1, 0.1], weight_decay=[0.01, 0.01])
    assert same == base and same.groups is None and same.plain is False
    gd = optim.grouped(optim.gd(0.1), INDEX)
    assert gd == optim.gd(0.1) and gd.plain
    # different rates make a plain rule grouped, no longer Theorem 1's plain form
    assert not optim.grouped(optim.gd(0.1), INDEX, lr=[0.1, 0.2]).plain


def test_spec_round_trip_and_description():
    opt = optim.grouped(optim.adamw(0.05), [(0, 2, 0), (2, 4, 1), (4, 5, 0)],
                        lr=[SCHED, 0.5], weight_decay=[0.1, 0.0])
    spec = json.loads(json.dumps(opt.spec))  # JSON-ready
    assert optim.from_spec(spec) == opt
    assert opt.lr == SCHED and opt.weight_decay == 0.1  # group 0's
    assert "groups=2" in opt.describe()
    np.testing.assert_array_equal(opt.groups.index, [0, 0, 1, 1, 0])
    np.testing.assert_array_equal(opt.rate(3, SCHED[3]), [SCHED[3]] * 2 + [0.5] * 2 + [SCHED[3]])
    np.testing.assert_array_equal(opt.decoupled_decay, [0.1, 0.1, 0.0, 0.0, 0.1])
    # the ungrouped spec is unchanged (no "groups" key): files of one group keep their format
    assert "groups" not in optim.adamw(0.05).spec


@pytest.mark.parametrize("make, words", [
    (lambda: optim.grouped(optim.sgd(0.1), INDEX, lr=[0.1]), "one value per group"),
    (lambda: optim.grouped(optim.sgd(0.1), INDEX, weight_decay=[0.1, -1.0]), "weight_decay"),
    (lambda: optim.grouped(optim.sgd(0.1), INDEX, lr=[0.1, 0.0]), "> 0"),
    (lambda: optim.grouped(optim.gd(0.1), INDEX, weight_decay=[0.0, 0.1]), "no weight decay"),
    (lambda: optim.grouped(optim.sgd(0.1), [(0, 2, 0), (3, 5, 1)]), "tile the weights"),
    (lambda: optim.grouped(optim.sgd(0.1), np.array([0, 0, 2, 2])), "0..G−1"),
    (lambda: optim.grouped(optim.sgd(0.1), np.array([[0, 1]])), "1-d array"),
    (lambda: optim.grouped(optim.grouped(optim.sgd(0.1), INDEX, lr=[0.1, 0.2]), INDEX),
     "already has parameter groups"),
    (lambda: optim.from_spec({"name": "sgd", "lr": 0.1, "groups": {"lr": [0.1]}}),
     "segments, lr and weight_decay"),
    (lambda: optim.grouped("sgd", INDEX), "needs a pk.optim optimizer"),
])
def test_bad_groups_are_a_clear_error(make, words):
    with pytest.raises(InvalidArgumentError, match=words):
        make()


def _data():
    r = np.random.default_rng(0)
    X = r.standard_normal((10, 2))
    return X, np.sin(X[:, 0]) + 0.5 * X[:, 1]


def _mlp_groups(model):
    """The common recipe on pk.models.mlp([2, 5, 1]) (each layer W then b): biases in
    group 1 (no decay), the last layer's weights in group 2 (10× lr)."""
    idx = np.zeros(model.n_params, dtype=int)
    idx[10:15] = 1  # b1
    idx[15:20] = 2  # W2
    idx[20] = 1  # b2
    return idx


def test_train_with_groups_and_the_file_round_trip(tmp_path):
    X, Y = _data()
    model = pk.models.mlp([2, 5, 1])
    idx = _mlp_groups(model)
    opt = optim.grouped(optim.sgd(0.02, momentum=0.9), idx, lr=[0.02, 0.02, 0.2],
                        weight_decay=[0.1, 0.0, 0.1])
    traj = pk.train(model, X, Y, optimizer=opt, steps=5, batch_size=4)
    flat = pk.train(model, X, Y, optimizer=optim.sgd(0.02, momentum=0.9, weight_decay=0.1),
                    steps=5, batch_size=4)
    assert not np.allclose(traj.ws, flat.ws)  # the groups change the path
    np.testing.assert_array_equal(traj.step_sizes, [0.02] * 5)  # group 0's
    path = traj.save(tmp_path / "g.npz")
    with np.load(path) as z:
        assert json.loads(str(z["meta"]))["version"] == 6
    back = pk.Trajectory.load(path)
    assert back.optimizer == opt
    np.testing.assert_array_equal(back.ws, traj.ws)
    # a path of one group keeps format 4
    with np.load(flat.save(tmp_path / "f.npz")) as z:
        assert json.loads(str(z["meta"]))["version"] == 4
    # a pkverify that reads up to version 5 says it is too old for the grouped file
    from pkverify import trajectory_file

    old = trajectory_file._VERSION
    trajectory_file._VERSION = 5
    try:
        with pytest.raises(TrajectoryFileError, match="newer than this pkverify reads"):
            pk.Trajectory.load(path)
    finally:
        trajectory_file._VERSION = old


def test_merged_groups_train_bit_for_bit_as_one_group():
    X, Y = _data()
    model = pk.models.mlp([2, 5, 1])
    base = optim.adam(0.05, weight_decay=0.01)
    same = optim.grouped(base, _mlp_groups(model), lr=[0.05] * 3, weight_decay=[0.01] * 3)
    a = pk.train(model, X, Y, optimizer=base, steps=4)
    b = pk.train(model, X, Y, optimizer=same, steps=4)
    np.testing.assert_array_equal(a.ws, b.ws)


def test_groups_that_do_not_fit_the_model_are_refused_before_training():
    X, Y = _data()
    model = pk.models.mlp([2, 5, 1])
    opt = optim.grouped(optim.sgd(0.1), INDEX, lr=[0.1, 0.2])
    with pytest.raises(InvalidArgumentError, match="cover 5 weights but the model has P = 21"):
        pk.train(model, X, Y, optimizer=opt, steps=3)
    sched = optim.grouped(optim.sgd(0.1), _mlp_groups(model), lr=[0.1, SCHED, 0.2])
    with pytest.raises(InvalidArgumentError, match="7 entries for 3 steps"):
        pk.train(model, X, Y, optimizer=sched, steps=3)


def test_a_grouped_path_on_disk_loads_with_its_groups(tmp_path):
    X, Y = _data()
    model = pk.models.mlp([2, 5, 1])
    opt = optim.grouped(optim.adam(0.02), _mlp_groups(model), lr=[0.02, 0.01, 0.2],
                        weight_decay=[0.01, 0.0, 0.01])
    traj = pk.train(model, X, Y, optimizer=opt, steps=4, store=tmp_path / "run",
                    progress=False)
    back = pk.Trajectory.load(tmp_path / "run")
    assert back.on_disk and back.optimizer == opt
    np.testing.assert_array_equal(back.ws[-1], traj.ws[-1])
