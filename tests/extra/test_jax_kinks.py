"""Piecewise-linear JAX networks rebuilt exactly: switch values read from the JVP's jaxpr
(pkverify.extra.jax_switches) against hand-written ones, the kinks they locate, the exact
machine on relu / clip MLPs and a relu CNN to rounding, the same nets in torch and JAX agreeing,
max-pooling, max over axes and argmax located by all pairs of each window (by hand, on a
dense grid, in a max-pool CNN trained by Adam, in torch and JAX twins, in Flax), and the
operations left unlocated (sort) warned about."""

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


@pytest.mark.parametrize("kind", ["relu", "maximum", "leaky", "clip", "band"])
def test_switch_values_are_the_hand_written_ones(kind):
    act, expect = {
        "relu": (jax.nn.relu, lambda h: [h]),
        "maximum": (lambda h: jnp.maximum(h, 0.0), lambda h: [h]),
        "leaky": (jax.nn.leaky_relu, lambda h: [h]),
        # clip = min(max(h, lo), hi): max's operands h − lo, then min's hi − max(h, lo)
        "clip": (lambda h: jnp.clip(h, -0.5, 0.5),
                 lambda h: [h + 0.5, 0.5 - np.maximum(h, -0.5)]),
        # the `and` of two located comparisons switches only where they do: no value of its own
        "band": (lambda h: jnp.where((h > 0.0) & (h < 1.0), h, 0.0), lambda h: [h, h - 1.0]),
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


def test_sort_is_unlocated_and_warned_with_its_residual():
    rng = np.random.default_rng(5)
    p = {"w1": rng.standard_normal((2, 12)), "w2": rng.standard_normal((12, 1)) / 3}

    def apply(q, x):  # the sorted units: the permutation jumps, not located
        return jnp.sort(jnp.tanh(x @ q["w1"]), axis=1) @ q["w2"]

    M = pk.jax.model(apply, p)
    assert not M.smooth and "sort" in M.foreign.unlocated[0]
    assert not engine_for(M).locates_kinks()
    X, Y = _regression(12, 2, 1, seed=5)
    traj = pk.train(M, X, Y[:, 0], loss="mse", lr=0.05, steps=5)
    km = pk.kernel_machine(traj, rule="exact")
    with pytest.warns(PathWarning, match="residual") as record:
        km.predict(X)
    assert "(jax)" in str(record[0].message)
    assert km.diagnostics(X).max_residual > 1e-8  # the order changes, unlocated


# ----- max-pooling, max over axes, argmax ------------------------------------------------


def _pool_pairs_by_hand(h, window, strides, pads, base=None, dil=None):
    """All pairs' differences in every window of h, by loops: h dilated by ``base`` and padded
    with −inf, each window's elements listed, a pair with a −inf element held at 1."""
    base = base or (1,) * h.ndim
    dil = dil or (1,) * h.ndim
    shape = [(n - 1) * b + 1 + lo + hi for n, b, (lo, hi) in zip(h.shape, base, pads)]
    full = np.full(shape, -np.inf)
    full[tuple(slice(lo, lo + (n - 1) * b + 1, b)
               for n, b, (lo, _) in zip(h.shape, base, pads))] = h
    outs = [(L - ((w - 1) * d + 1)) // s + 1 for L, w, s, d in zip(shape, window, strides, dil)]
    vals = []
    for o in np.ndindex(*outs):
        elems = [full[tuple(oi * s + ki * d for oi, s, ki, d in zip(o, strides, k, dil))]
                 for k in np.ndindex(*window)]
        for i in range(len(elems)):
            for j in range(i + 1, len(elems)):
                a, b = elems[i], elems[j]
                vals.append(1.0 if np.isinf(a) or np.isinf(b) else a - b)
    return np.asarray(vals)


POOLS = {  # name: (op on h (1, 4, 6, 2) NHWC, the same pairs by hand)
    "valid_2x2": (lambda h: lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1),
                                              (1, 2, 2, 1), "VALID"),
                  lambda h: _pool_pairs_by_hand(h, (1, 2, 2, 1), (1, 2, 2, 1), [(0, 0)] * 4)),
    "same_3x3": (lambda h: lax.reduce_window(h, -jnp.inf, lax.max, (1, 3, 3, 1),
                                             (1, 1, 1, 1), "SAME"),
                 lambda h: _pool_pairs_by_hand(h, (1, 3, 3, 1), (1, 1, 1, 1),
                                               [(0, 0), (1, 1), (1, 1), (0, 0)])),
    "dilated_min": (lambda h: lax.reduce_window(h, jnp.inf, lax.min, (1, 2, 2, 1),
                                                (1, 1, 2, 1), ((0, 0), (1, 0), (0, 1), (0, 0)),
                                                window_dilation=(1, 2, 1, 1)),
                    lambda h: _pool_pairs_by_hand(h, (1, 2, 2, 1), (1, 1, 2, 1),
                                                  [(0, 0), (1, 0), (0, 1), (0, 0)],
                                                  dil=(1, 2, 1, 1))),
    "base_dilated": (lambda h: lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1),
                                                 (1, 1, 1, 1), "VALID",
                                                 base_dilation=(1, 2, 1, 1)),
                     lambda h: _pool_pairs_by_hand(h, (1, 2, 2, 1), (1, 1, 1, 1),
                                                   [(0, 0)] * 4, base=(1, 2, 1, 1))),
    "max_axis": (lambda h: jnp.max(h, axis=2),
                 lambda h: _pool_pairs_by_hand(h, (1, 1, 6, 1), (1, 1, 1, 1), [(0, 0)] * 4)),
    "min_axes": (lambda h: jnp.min(h, axis=(1, 3), keepdims=True),
                 lambda h: _pool_pairs_by_hand(h, (1, 4, 1, 2), (1, 1, 1, 1), [(0, 0)] * 4)),
    "argmax": (lambda h: jnp.take_along_axis(h, jnp.argmax(h, axis=1)[:, None], axis=1),
               lambda h: _pool_pairs_by_hand(h, (1, 4, 1, 1), (1, 1, 1, 1), [(0, 0)] * 4)),
}


def _pool_net(op, seed=0):
    rng = np.random.default_rng(seed)
    p = {"w1": rng.standard_normal((3, 48)) / 2}

    def apply(q, x):  # h = x W reshaped to (n, 4, 6, 2), pooled, summed per output
        h = (x @ q["w1"]).reshape(-1, 4, 6, 2)
        return jnp.tanh(op(h)).reshape(x.shape[0], -1).sum(axis=1, keepdims=True)

    return pk.jax.model(apply, p, input_shape=(3,))


@pytest.mark.parametrize("kind", list(POOLS))
def test_pooling_switch_values_are_all_pairs_of_each_window(kind):
    op, by_hand = POOLS[kind]
    M = _pool_net(op)
    assert not M.smooth and M.foreign.unlocated == ()
    eng = engine_for(M)
    assert eng.locates_kinks()
    rng = np.random.default_rng(1)
    w, delta = M.init(), 0.5 * rng.standard_normal(M.n_params)
    X, taus = rng.standard_normal((3, 3)), np.array([0.0, 0.4, 1.0])
    (got,) = eng.switch_values(w, X, (delta, taus))
    for r, t in enumerate(taus):
        h = (X[r] @ (w + t * delta).reshape(3, 48)).reshape(1, 4, 6, 2)
        want = by_hand(h)
        assert got[r].shape == want.shape
        # the same differences of the same products, in another order: rounding of O(1)
        np.testing.assert_allclose(np.sort(got[r]), np.sort(want), rtol=0, atol=1e-14)


@pytest.mark.parametrize("kind", ["same_3x3", "max_axis", "argmax"])
def test_pooling_kinks_match_a_dense_grid(kind):
    op, by_hand = POOLS[kind]
    M = _pool_net(op, seed=2)
    eng = engine_for(M)
    rng = np.random.default_rng(3)
    w, delta = M.init(), 2.0 * rng.standard_normal(M.n_params)
    X = rng.standard_normal((3, 3))
    found = locate_switches(lambda r, t: eng.switch_values(w, X[r], (delta, t)), 3, EPS)
    assert found.unresolved == 0  # pair differences are linear in τ here: exact

    def pairs(r, t):
        return by_hand((X[r] @ (w + t * delta).reshape(3, 48)).reshape(1, 4, 6, 2))

    grid = np.linspace(0.0, 1.0, 2001)
    total = 0
    for r in range(3):
        vals = np.stack([pairs(r, t) for t in grid])
        cells = np.flatnonzero((np.sign(vals[:-1]) * np.sign(vals[1:]) < 0).any(axis=1))
        total += cells.size
        k = found.kinks[r]
        for c in cells:  # every cell where a pair changes sign holds a located kink
            assert np.any((grid[c] - 1e-12 <= k) & (k <= grid[c + 1] + 1e-12))
        for t in k:  # and every located kink is a zero of a hand-written pair difference
            # (slope O(1) in τ, located to rounding of τ: 1e-12 leaves ~5000 ulps)
            assert np.min(np.abs(pairs(r, t))) <= 1e-12
    assert total >= 3  # the check has kinks to compare


def _adam_run(M, seed=1, steps=6):
    X, Y = _regression(10, M.input_dim, 2, seed=seed)
    return pk.train(M, X, Y, loss="mse", optimizer=pk.optim.adam(0.02), steps=steps,
                    batch_size=5, seed=0), X


@pytest.mark.parametrize("pool", ["max", "max_axes"])
def test_exact_machine_rebuilds_a_max_pool_cnn_trained_by_adam(pool):
    twin = cnn(act="relu", pool=pool, seed=1)
    M = pk.jax.model(*twin.jax(), input_shape=twin.input_shape)
    assert not M.smooth and M.foreign.unlocated == ()
    traj, X = _adam_run(M)
    Xq = np.random.default_rng(7).standard_normal((4, M.input_dim))
    km = pk.kernel_machine(traj, rule="exact")  # a PathWarning would fail (pyproject)
    for Z in (Xq, X):
        assert rel(km.predict(Z), traj.predict(Z)) <= RTOL64
    diag = km.diagnostics(Xq)
    assert diag.max_residual <= adaptive_rtol(np.float64)
    print(pool, "evaluations per row and step", float(np.mean(diag.evaluations)))
    C = km.contributions(Xq)
    assert rel(km.b(Xq) + C.sum(axis=1), traj.predict(Xq)) <= RTOL64


def test_max_pool_twins_in_torch_and_jax_locate_the_same_kinks_and_machines():
    pytest.importorskip("torch", reason="PyTorch is not installed: the torch twin needs it")
    twin = cnn(act="relu", pool="max", seed=3)
    Mt = pk.torch.model(twin.torch(), input_shape=twin.input_shape)
    Mj = pk.jax.model(*twin.jax(), input_shape=twin.input_shape)
    runs = [_adam_run(M, seed=3)[0] for M in (Mt, Mj)]
    Xq = np.random.default_rng(8).standard_normal((4, twin.d))
    assert rel(runs[1].predict(Xq), runs[0].predict(Xq)) <= RTOL64
    kinks = []
    for run in runs:  # each its own flat layout of the same weights (torch's, the pytree's)
        eng, w = engine_for(run.model), run.ws[1]
        delta = run.ws[2] - w
        kinks.append(locate_switches(
            lambda r, t, eng=eng, w=w, d=delta: eng.switch_values(w, Xq[r], (d, t)), 4,
            EPS).kinks)
    for a, b in zip(*kinks):  # the same switch values, so the same kinks to rounding of τ
        assert a.size == b.size
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert sum(k.size for k in kinks[0]) > 0
    kms = [pk.kernel_machine(t, rule="exact") for t in runs]
    assert rel(kms[1].predict(Xq), kms[0].predict(Xq)) <= RTOL64
    assert rel(kms[1].predict(Xq), runs[1].predict(Xq)) <= RTOL64


def test_flax_max_pool_cnn_is_rebuilt_exactly():
    nn = pytest.importorskip("flax.linen", reason="Flax is not installed: the nn.max_pool "
                             "test needs it (pip install flax)")

    class PoolCNN(nn.Module):
        @nn.compact
        def __call__(self, x):  # x (n, 6, 6, 1) NHWC
            h = nn.relu(nn.Conv(3, (3, 3), padding=1, param_dtype=jnp.float64,
                                precision=lax.Precision.HIGHEST)(x))
            h = nn.max_pool(h, (2, 2), strides=(2, 2))
            return nn.Dense(2, param_dtype=jnp.float64)(h.reshape(x.shape[0], -1))

    net = PoolCNN()
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 6, 6, 1)))
    M = pk.jax.model(net.apply, params, input_shape=(6, 6, 1))
    assert not M.smooth and M.foreign.unlocated == ()
    traj, X = _adam_run(M)
    km = pk.kernel_machine(traj, rule="exact")  # a PathWarning would fail (pyproject)
    Xq = np.random.default_rng(7).standard_normal((4, M.input_dim))
    for Z in (Xq, X):
        assert rel(km.predict(Z), traj.predict(Z)) <= RTOL64
