"""Piecewise-linear JAX networks rebuilt exactly: switch values read from the JVP's jaxpr
(pkverify.extra.jax_switches) against hand-written ones, the kinks they locate, the exact
machine on relu / clip MLPs and a relu CNN to rounding, the same nets in torch and JAX agreeing,
and the operations left unlocated (max-pooling) warned about."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip(
    "jax", reason="JAX is not installed (pip install 'pkverify[jax]'); the JAX adapter needs it")
jax.config.update("jax_enable_x64", True)  # float64, as pkverify computes by default

import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

import pkverify as pk  # noqa: E402
from pkverify.kernels.engines import engine_for  # noqa: E402
from pkverify.kernels.exact import PathWarning, adaptive_rtol  # noqa: E402
from pkverify.kernels.switches import locate_switches  # noqa: E402

from .twins import cnn, mlp  # noqa: E402

EPS = float(np.finfo(np.float64).eps)
# float64: the step identity is met to rounding on every piece between kinks; the machine
# sums ≤ a few hundred such terms: far below 1e-12 relative
RTOL64 = 1e-12


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _regression(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, k))


def _act_net(act, seed=0):
    rng = np.random.default_rng(seed)
    p = {"w1": rng.standard_normal((3, 8)), "b1": 0.3 * rng.standard_normal(8),
         "w2": rng.standard_normal((8, 2)) / 3}
    return pk.jax.model(lambda q, x: act(x @ q["w1"] + q["b1"]) @ q["w2"], p), p


@pytest.mark.parametrize("kind", ["relu", "maximum", "leaky", "clip"])
def test_switch_values_are_the_hand_written_ones(kind):
    act, expect = {
        "relu": (jax.nn.relu, lambda h: [h]),
        "maximum": (lambda h: jnp.maximum(h, 0.0), lambda h: [h]),
        "leaky": (jax.nn.leaky_relu, lambda h: [h]),
        # clip = min(max(h, lo), hi): max's operands h − lo, then min's hi − max(h, lo)
        "clip": (lambda h: jnp.clip(h, -0.5, 0.5),
                 lambda h: [h + 0.5, 0.5 - np.maximum(h, -0.5)]),
    }[kind]
    M, _ = _act_net(act)
    assert not M.smooth and M.foreign.unlocated == ()
    eng = engine_for(M)
    assert eng.locates_kinks()
    rng = np.random.default_rng(1)
    w, delta = M.init(), 0.5 * rng.standard_normal(M.n_params)
    X, taus = rng.standard_normal((5, 3)), rng.uniform(size=5)
    got = eng.switch_values(w, X, (delta, taus))
    hand = []
    for r, t in enumerate(taus):  # each row at its own weights, unraveled by hand
        q = M.foreign.unravel(w + t * delta)
        hand.append(expect(X[r] @ np.asarray(q["w1"]) + np.asarray(q["b1"])))
    assert len(got) == len(hand[0])
    for h, values in enumerate(got):
        assert values.shape == (5, 8)  # one value per unit: a difference a − b, or b − a
        # the same sums of a few products in another order: rounding
        assert rel(np.abs(values), np.abs(np.stack([row[h] for row in hand]))) <= 1e-14


def test_located_kinks_match_a_dense_grid():
    M, _ = _act_net(jax.nn.relu, seed=2)
    eng = engine_for(M)
    rng = np.random.default_rng(3)
    w, delta = M.init(), 1.5 * rng.standard_normal(M.n_params)
    X = rng.standard_normal((4, 3))
    found = locate_switches(lambda r, t: eng.switch_values(w, X[r], (delta, t)), 4, EPS)
    grid = np.linspace(0.0, 1.0, 4001)
    for r in range(4):  # sign changes of the pre-activations on a fine grid, by hand
        pre = np.stack([X[r] @ np.asarray(M.foreign.unravel(w + t * delta)["w1"])
                        + np.asarray(M.foreign.unravel(w + t * delta)["b1"]) for t in grid])
        sign_changes = np.diff(np.sign(pre), axis=0) != 0  # (grid cells, units)
        crossings = np.flatnonzero(sign_changes.any(axis=1))
        assert len(found.kinks[r]) == int(sign_changes.sum())  # one unit per cell here
        for c, k in zip(crossings, np.sort(found.kinks[r])):
            assert grid[c] <= k <= grid[c + 1]
    assert sum(len(k) for k in found.kinks) > 0  # the step crosses kinks


@pytest.mark.parametrize("kind", ["relu_mlp", "clip_mlp", "relu_cnn"])
def test_exact_machine_rebuilds_piecewise_linear_jax_nets_to_rounding(kind):
    if kind == "relu_cnn":  # lax.conv_general_dilated, relu, average pooling
        twin = cnn(act="relu", seed=1)
        M = pk.jax.model(*twin.jax(), input_shape=twin.input_shape)
    elif kind == "relu_mlp":
        twin = mlp((3, 8, 8, 2), act="relu", seed=1)
        M = pk.jax.model(*twin.jax())
    else:
        M, _ = _act_net(lambda h: jnp.clip(h, -0.5, 0.5), seed=1)
    assert not M.smooth and M.foreign.unlocated == ()
    X, Y = _regression(10, M.input_dim, 2, seed=1)
    traj = pk.train(M, X, Y, loss="mse", lr=0.03, steps=6, batch_size=5, seed=0)
    Xq = np.random.default_rng(7).standard_normal((4, M.input_dim))
    km = pk.kernel_machine(traj, rule="exact")  # a PathWarning would fail (pyproject)
    for Z in (Xq, X):
        assert rel(km.predict(Z), traj.predict(Z)) <= RTOL64
    assert km.diagnostics(Xq).max_residual <= adaptive_rtol(np.float64)
    # the steps do cross kinks: told the net is smooth, the rule misses them and warns
    blind = pk.jax.model(M.foreign.module, M.foreign.unravel(M.init()),
                         input_shape=M.foreign.input_shape, smooth=True)
    t_blind = pk.train(blind, X, Y, loss="mse", lr=0.03, steps=6, batch_size=5, seed=0)
    with pytest.warns(PathWarning, match="residual"):
        pk.kernel_machine(t_blind, rule="exact").predict(Xq)


def test_relu_twins_in_torch_and_jax_agree_to_rounding():
    pytest.importorskip("torch", reason="PyTorch is not installed: the torch twin needs it")
    twin = mlp((3, 8, 8, 2), act="relu", seed=4)
    Mt = pk.torch.model(twin.torch())
    Mj = pk.jax.model(*twin.jax())
    X, Y = _regression(10, 3, 2, seed=4)
    Xq = np.random.default_rng(8).standard_normal((4, 3))
    runs = [pk.train(M, X, Y, loss="mse", optimizer=pk.optim.adam(0.02), steps=6,
                     batch_size=5, seed=2) for M in (Mt, Mj)]
    assert rel(runs[1].predict(Xq), runs[0].predict(Xq)) <= RTOL64
    kms = [pk.kernel_machine(t, rule="exact") for t in runs]
    assert rel(kms[1].predict(Xq), kms[0].predict(Xq)) <= RTOL64
    assert rel(kms[1].predict(Xq), runs[1].predict(Xq)) <= RTOL64


def test_max_pooling_is_unlocated_and_warned_with_its_residual():
    rng = np.random.default_rng(5)
    p = {"w1": rng.standard_normal((2, 12)), "w2": rng.standard_normal((12, 1)) / 3}

    def apply(q, x):
        h = jnp.tanh(x @ q["w1"])
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 2), (1, 1), "SAME") @ q["w2"]

    M = pk.jax.model(apply, p)
    assert not M.smooth and "select_and_gather_add" in M.foreign.unlocated[0]
    assert not engine_for(M).locates_kinks()
    X, Y = _regression(12, 2, 1, seed=5)
    traj = pk.train(M, X, Y[:, 0], loss="mse", lr=0.05, steps=5)
    km = pk.kernel_machine(traj, rule="exact")
    with pytest.warns(PathWarning, match="residual") as record:
        km.predict(X)
    assert "(jax)" in str(record[0].message)
    assert km.diagnostics(X).max_residual > 1e-8  # windows' winners change, unlocated
