"""The optimizer's machine (reverse recursion) against per-example buffers carried forward,
and against the trained model, for every optimizer."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

import pkverify as pk
from pkverify.kernels.engines import engine_for
from pkverify.kernels.exact import PathWarning
from pkverify.kernels.optimizer_path import optimizer_kernel_sums, optimizer_products
from pkverify.kernels.optimizer_reference import buffer_reference
from tests.optim_paths import grouped_cases, hand_path, optimizer_cases

CASES = optimizer_cases()
IDS = [c[0] for c in CASES]

# float64 rounding: six steps, each a quadrature of a handful of nodes and sums over ≤ P = 40
# parameters; the identities hold to ~1e-15 relative to max|f| (measured ≤ 6e-15)
ROUNDING = 1e-12


def _setup(activation: str, k: int):
    r = np.random.default_rng(0)
    X = r.standard_normal((8, 2))
    Xq = r.standard_normal((3, 2))
    Y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    sizes = [2, 6, 1]
    if k > 1:
        Y = np.stack([Y, np.cos(X[:, 1])], axis=1)
        sizes = [2, 5, 4, k]
    return pk.models.mlp(sizes, activation=activation), X, Y, Xq


def _run(model, traj, opt, red, Xq, implementation="layerwise"):
    eng = engine_for(model, implementation)
    prod = optimizer_products(eng, traj, opt, red, Xq)
    return prod, optimizer_kernel_sums(eng, traj, opt, red, Xq, prod.plans, prod.preconditioners)


@pytest.mark.parametrize("activation, k", [("tanh", 1), ("relu", 2)])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_recursion_equals_buffers_and_the_trained_model(case, activation, k):
    _, opt, bs, red, reg = case
    model, X, Y, Xq = _setup(activation, k)
    traj = hand_path(model, X, Y, opt, 6, bs, red, reg)
    prod, ks = _run(model, traj, opt, red, Xq)
    ref = buffer_reference(traj, opt, red, Xq, prod.plans)
    yS = traj.predict(Xq).reshape(Xq.shape[0], -1)
    scale = np.abs(yS).max()
    b = prod.y0 - (0.0 if prod.reg is None else prod.reg)
    contrib = -ks.weighted
    # predict reproduces the trained model; b + Σ contributions is predict
    assert np.abs(b - prod.loss_term - yS).max() <= ROUNDING * scale
    assert np.abs(b + contrib.sum(axis=1) - yS).max() <= ROUNDING * scale
    # the recursion's b (u_r · g_reg) is the forward pass's (φ_s · the regulariser's step)
    assert np.abs((prod.y0 - ks.reg) - b).max() <= ROUNDING * scale
    # against per-example buffers carried forward (autograd gradients)
    assert np.abs(contrib - ref.contributions).max() <= ROUNDING * scale
    assert np.abs(ks.kernel - ref.kernel).max() <= ROUNDING * np.abs(ref.kernel).max()
    assert np.abs(b - ref.b).max() <= ROUNDING * scale
    assert prod.mismatch.max() <= 1e-13  # the rule rebuilds every recorded step (rounding)
    # mini-batches: a point outside every batch contributes nothing
    never = ~traj.batches.any(axis=0)
    assert np.all(ks.kernel[:, never] == 0.0)


@pytest.mark.parametrize("activation, k", [("tanh", 1), ("relu", 2)])
@pytest.mark.parametrize("index", range(4), ids=[c[0] for c in grouped_cases([2, 6, 1])])
def test_parameter_groups_recursion_equals_buffers_and_the_trained_model(index, activation, k):
    """Per-group step sizes and weight decay (E_s a diagonal): the reverse recursion against
    the buffers carried forward and against the trained model, as for one group."""
    model, X, Y, Xq = _setup(activation, k)
    sizes = [2, 6, 1] if k == 1 else [2, 5, 4, k]
    _, opt, bs, red, reg = grouped_cases(sizes)[index]
    assert opt.groups is not None and opt.groups.n_params == model.n_params
    traj = hand_path(model, X, Y, opt, 6, bs, red, reg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every step follows the grouped rule
        prod, ks = _run(model, traj, opt, red, Xq)
    ref = buffer_reference(traj, opt, red, Xq, prod.plans)
    yS = traj.predict(Xq).reshape(Xq.shape[0], -1)
    scale = np.abs(yS).max()
    b = prod.y0 - (0.0 if prod.reg is None else prod.reg)
    contrib = -ks.weighted
    assert np.abs(b - prod.loss_term - yS).max() <= ROUNDING * scale
    assert np.abs(b + contrib.sum(axis=1) - yS).max() <= ROUNDING * scale
    assert np.abs((prod.y0 - ks.reg) - b).max() <= ROUNDING * scale
    assert np.abs(contrib - ref.contributions).max() <= ROUNDING * scale
    assert np.abs(ks.kernel - ref.kernel).max() <= ROUNDING * np.abs(ref.kernel).max()
    assert np.abs(b - ref.b).max() <= ROUNDING * scale
    assert prod.mismatch.max() <= 1e-13
    # the same path read with one step size for all weights does not follow its rule
    flat = replace(opt, groups=None)
    with pytest.warns(PathWarning, match="at step 0 "):
        optimizer_products(engine_for(model, "layerwise"), traj, flat, red, Xq)
    # pk.kernel_machine on the path (the public route) rebuilds the trained model
    km = pk.kernel_machine(traj, progress=False)
    assert np.abs(km.predict(Xq).reshape(yS.shape) - yS).max() <= ROUNDING * scale


def test_reference_engine_agrees():
    """A custom-model route (autograd engine) gives the same machine."""
    _, opt, bs, red, reg = CASES[6]  # adam, schedule, batches, mean
    model, X, Y, Xq = _setup("tanh", 1)
    traj = hand_path(model, X, Y, opt, 6, bs, red, reg)
    _, a = _run(model, traj, opt, red, Xq, "layerwise")
    _, b = _run(model, traj, opt, red, Xq, "reference")
    np.testing.assert_allclose(a.weighted, b.weighted, rtol=0,
                               atol=ROUNDING * np.abs(a.weighted).max())
    np.testing.assert_allclose(a.kernel, b.kernel, rtol=0, atol=ROUNDING * np.abs(a.kernel).max())


def test_gd_is_the_exact_rule_machine():
    """μ = 0, P = I: the recursion's kernel and loss-weighted kernel are the GD machine's."""
    model, X, Y, Xq = _setup("tanh", 1)
    traj = pk.train(model, X, Y, lr=0.1, steps=6, batch_size=5)
    _, ks = _run(model, traj, pk.optim.gd(0.1), "sum", Xq)
    km = pk.kernel_machine(traj)
    K = km.kernel(Xq)
    np.testing.assert_allclose(ks.kernel[:, :, 0, 0], K, rtol=0,
                               atol=ROUNDING * np.abs(K).max())
    W = km.loss_weighted_kernel(Xq)
    np.testing.assert_allclose(ks.weighted[:, :, 0], W, rtol=0,
                               atol=ROUNDING * np.abs(W).max())


def test_wrong_rule_is_named_with_its_step():
    """A momentum path read as plain GD does not follow the rule: a PathWarning names the
    first step that differs (step 1: step 0 of momentum SGD is a plain gradient step)."""
    model, X, Y, Xq = _setup("tanh", 1)
    traj = hand_path(model, X, Y, pk.optim.sgd(0.05, momentum=0.9), 6)
    eng = engine_for(model, "layerwise")
    with pytest.warns(PathWarning, match="at step 1 "):
        optimizer_products(eng, traj, pk.optim.gd(0.05), "sum", Xq)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizer_products(eng, traj, pk.optim.sgd(0.05, momentum=0.9), "sum", Xq)


def test_wrong_reduction_is_named():
    model, X, Y, Xq = _setup("tanh", 1)
    traj = hand_path(model, X, Y, pk.optim.sgd(0.05, momentum=0.5), 4, 4, "mean")
    eng = engine_for(model, "layerwise")
    with pytest.warns(PathWarning, match=r"reduction 'sum'.*at step 0 "):
        optimizer_products(eng, traj, pk.optim.sgd(0.05, momentum=0.5), "sum", Xq)


@pytest.mark.parametrize("activation, k", [("tanh", 1), ("relu", 2)])
def test_query_chunks_and_checkpoint_segments_change_nothing(activation, k):
    """One query at a time (per-row relu plans renumbered) and P_s replayed from checkpoints
    every 1, 2 or √S steps: the same sums (the same float64 operations per query)."""
    _, opt, bs, red, reg = CASES[6]  # adam, schedule, batches, mean
    model, X, Y, Xq = _setup(activation, k)
    traj = hand_path(model, X, Y, opt, 6, bs, red, reg)
    eng = engine_for(model, "layerwise")
    prod = optimizer_products(eng, traj, opt, red, Xq)
    whole = optimizer_kernel_sums(eng, traj, opt, red, Xq, prod.plans, prod.preconditioners)
    for every in (1, 2):
        again = optimizer_products(eng, traj, opt, red, Xq, checkpoint_every=every)
        assert len(again.preconditioners.checkpoints) == -(-6 // every)
        one = optimizer_kernel_sums(eng, traj, opt, red, Xq, again.plans,
                                    again.preconditioners, chunk_rows=1)
        np.testing.assert_allclose(one.weighted, whole.weighted, rtol=0,
                                   atol=ROUNDING * np.abs(whole.weighted).max())
        np.testing.assert_allclose(one.kernel, whole.kernel, rtol=0,
                                   atol=ROUNDING * np.abs(whole.kernel).max())


@pytest.mark.parametrize("activation, k, implementation", [
    ("tanh", 1, "layerwise"), ("relu", 2, "layerwise"), ("tanh", 1, "reference"),
    ("tanh", 2, "reference"),  # (autograd cannot place relu's kinks along a step)
])
def test_contributions_only_pass_equals_the_kernel_pass(activation, k, implementation):
    """kernel=False (one loss sensitivity per row) gives the kernel pass's weighted sums."""
    _, opt, bs, red, reg = CASES[-1]  # adamw, l2, batches
    model, X, Y, Xq = _setup(activation, k)
    traj = hand_path(model, X, Y, opt, 6, bs, red, reg)
    eng = engine_for(model, implementation)
    prod = optimizer_products(eng, traj, opt, red, Xq)
    full = optimizer_kernel_sums(eng, traj, opt, red, Xq, prod.plans, prod.preconditioners)
    only = optimizer_kernel_sums(eng, traj, opt, red, Xq, prod.plans, prod.preconditioners,
                                 kernel=False)
    assert only.kernel is None
    np.testing.assert_allclose(only.weighted, full.weighted, rtol=0,
                               atol=ROUNDING * np.abs(full.weighted).max())
    np.testing.assert_allclose(only.reg, full.reg, rtol=0, atol=ROUNDING * np.abs(full.reg).max())


def test_a_torch_module_trained_with_adam_is_rebuilt():
    """pk.torch models (torch engine): Adam and Nesterov paths rebuilt to rounding, and the
    contributions sum to the prediction."""
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install "
                                "'pkverify[torch]')")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(),
                              torch.nn.Linear(6, 2)).double().eval()
    model = pk.torch.model(net)
    r = np.random.default_rng(0)
    X, Y, Xq = r.standard_normal((10, 3)), r.standard_normal((10, 2)), r.standard_normal((3, 3))
    for opt in (pk.optim.adam(0.05), pk.optim.sgd(0.05, momentum=0.9, nesterov=True,
                                                   weight_decay=0.01)):
        traj = pk.train(model, X, Y, optimizer=opt, steps=5, batch_size=4, reduction="mean",
                        progress=False)
        km = pk.kernel_machine(traj, progress=False)
        y = traj.predict(Xq)
        change = np.abs(y - traj.predict_initial(Xq)).max()
        assert np.abs(km.predict(Xq) - y).max() <= ROUNDING * change
        assert np.abs(km.b(Xq) + km.contributions(Xq).sum(axis=1) - y).max() <= ROUNDING * change


@pytest.mark.parametrize("optimizer", [None, "momentum", "adam"])
def test_a_path_off_its_rule_is_rebuilt_as_given_with_the_remainder_in_b(optimizer):
    # an edited last step: the machine must equal the model of the path it was given (the
    # warning says so), with the part of the step the optimizer does not explain in b(x)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    model = pk.models.mlp([3, 8, 2], "tanh")
    opt = {None: None, "momentum": pk.optim.sgd(0.1, momentum=0.9),
           "adam": pk.optim.adam(0.05)}[optimizer]
    kwargs = {"lr": 0.1} if opt is None else {"optimizer": opt}
    traj = pk.train(model, X, Y, steps=3, **kwargs)
    ws = np.array(traj.ws)
    ws[3] = ws[2] + 1e-3 * (ws[3] - ws[2])
    edited = replace(traj, ws=ws)
    km = pk.kernel_machine(edited, rule="exact")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predicted = km.predict(X)
    assert any(issubclass(w.category, PathWarning) and "step 2" in str(w.message)
               for w in caught)
    given = model.apply(ws[3], X)
    scale = np.max(np.abs(given - model.apply(ws[0], X)))
    # float64 rounding accumulated over 3 steps of the exact rule
    assert np.max(np.abs(predicted - given)) <= 1e-12 * scale
    total = km.b(X) + km.contributions(X).sum(axis=1)
    assert np.max(np.abs(total - predicted)) <= 1e-12 * scale
    # the remainder in b(x) is reported, and is exactly zero on the path as trained
    assert np.max(np.abs(km.unexplained(X))) > 1e-3 * scale
    assert not np.any(pk.kernel_machine(traj, rule="exact").unexplained(X))
