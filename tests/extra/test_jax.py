"""pk.jax: a pure JAX function over a parameter pytree as a pkverify Model, and the JAX
engine's products and kernels.

Independent checks: (a) the same tanh MLP written in autograd.numpy as a
``pk.models.custom`` model over the same flat vector (the reference engine: n·k reverse
passes of autograd) for every product and kernel, per-row weights along a step included;
(b) the same CNN and attention block in PyTorch through the torch engine
(``test_jax_vs_torch.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip(
    "jax", reason="JAX is not installed (pip install 'pkverify[jax]'); the JAX adapter and "
    "engine need it"
)
jax.config.update("jax_enable_x64", True)  # float64, as pkverify computes by default

import autograd.numpy as anp  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

import pkverify as pk  # noqa: E402
from pkverify.errors import BackendMissingError, InvalidArgumentError, ShapeError  # noqa: E402
from pkverify.kernels.engines import Implementation, engine_for  # noqa: E402

from .twins import mlp  # noqa: E402

# float64 sums of the same products in another order (P ≤ a few hundred terms of O(1)):
# rounding only, three orders of margin below the 1e-12
RTOL64 = 1e-12
# float32: unit roundoff 6e-8; a kernel entry sums ≤ a few hundred products after a forward
# pass of depth ≤ 3: 1e-4 relative to the largest entry is ~1700 ulps
RTOL32 = 1e-4


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def data(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


def tanh_mlp(sizes=(3, 5, 2), seed=0):
    """(pk.jax model, the same network as an autograd custom model over the same w)."""
    twin = mlp(sizes, seed=seed)
    apply, params = twin.jax()
    M = pk.jax.model(apply, params)
    # ravel_pytree order: the dict's keys sorted (b0, b1, ..., w0, w1, ...), each row-major
    keys = sorted(twin.weights)
    shapes = [twin.weights[k].shape for k in keys]
    n = len(sizes) - 1

    def f(w, X):
        p, o = {}, 0
        for k, s in zip(keys, shapes):
            size = int(np.prod(s))
            p[k] = w[o:o + size].reshape(s)
            o += size
        h = X
        for i in range(n):
            h = h @ p[f"w{i}"].T + p[f"b{i}"]
            if i < n - 1:
                h = anp.tanh(h)
        return h[:, 0] if sizes[-1] == 1 else h  # a scalar model, as the JAX one

    return M, pk.models.custom(f, M.init(), name="autograd_twin")


# ----- the Model --------------------------------------------------------------------------


def test_pytree_is_raveled_and_the_input_shape_found():
    M, ref = tanh_mlp((3, 5, 4, 2))
    assert M.n_params == 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2 and M.input_dim == 3
    assert M.output_dim == 2 and M.smooth and M.spec is None and M.network is None
    fm = M.foreign
    assert fm.framework == "jax" and fm.dtype == "float64" and fm.input_shape == (3,)
    assert fm.names == ("['b0']", "['b1']", "['b2']", "['w0']", "['w1']", "['w2']")
    params = fm.unravel(M.init())
    np.testing.assert_array_equal(np.asarray(params["w1"]), mlp((3, 5, 4, 2)).weights["w1"])
    np.testing.assert_array_equal(pk.jax.flatten(fm, params), M.init())
    X = data(6, 3)
    assert rel(M.apply(M.init(), X), ref.apply(M.init(), X)) <= RTOL64
    # JAX arrays are accepted as data
    assert rel(M.apply(M.init(), jnp.asarray(X)), M.apply(M.init(), X)) <= RTOL64
    # a scalar output, (n,) or (n, 1), is a scalar model
    s = pk.jax.model(lambda p, x: jnp.tanh(x @ p["w"]).sum(axis=1), {"w": data(3, 4)})
    assert s.output_dim is None and s.apply(s.init(), X).shape == (6,)


def _net(act):
    rng = np.random.default_rng(0)
    p = {"w1": rng.normal(size=(3, 6)), "b1": np.zeros(6), "w2": rng.normal(size=(6, 2))}
    return lambda q, x: act(x @ q["w1"] + q["b1"]) @ q["w2"], p


SMOOTH = {
    "tanh": jnp.tanh, "gelu": jax.nn.gelu, "gelu_erf": lambda h: jax.nn.gelu(h, False),
    "silu": jax.nn.silu, "softplus": jax.nn.softplus, "sigmoid": jax.nn.sigmoid,
    "softmax": jax.nn.softmax,
    "logsumexp": lambda h: h + jax.nn.logsumexp(h, axis=1, keepdims=True),
    "input_mask": lambda h: jnp.where(jnp.arange(6) > 2, h, 0.0),  # no weight in the test
}
KINKED = {
    "relu": jax.nn.relu, "maximum": lambda h: jnp.maximum(h, 0.0), "abs": jnp.abs,
    "leaky_relu": jax.nn.leaky_relu, "where": lambda h: jnp.where(h > 0, h, 0.1 * h),
    "clip": lambda h: jnp.clip(h, -1.0, 1.0), "round": lambda h: h + jnp.round(h),
    "max_pool": lambda h: lax.reduce_window(h, -jnp.inf, lax.max, (1, 2), (1, 1), "SAME"),
    "argmax": lambda h: h * jnp.argmax(h, axis=1, keepdims=True),
    "relu6": jax.nn.relu6, "hard_tanh": jax.nn.hard_tanh,
}


@pytest.mark.parametrize("act", list(SMOOTH) + list(KINKED))
def test_smoothness_is_read_from_the_jvp_jaxpr(act):
    M = pk.jax.model(*_net({**SMOOTH, **KINKED}[act]))
    assert M.smooth is (act in SMOOTH), M.foreign.kinked
    assert bool(M.foreign.kinked) is (act in KINKED)
    if act == "relu":  # named with the user's source line
        assert "test_jax.py" in M.foreign.kinked[0]
    assert pk.jax.model(*_net(SMOOTH["tanh"]), smooth=False).smooth is False  # the override
    assert pk.jax.model(*_net(KINKED["relu"]), smooth=True).smooth is True


def test_a_flax_module_apply_is_a_model():
    nn = pytest.importorskip("flax.linen", reason="Flax is not installed (pip install flax)")

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(2)(nn.tanh(nn.Dense(5)(x)))

    net = Net()
    params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64),  # Flax draws float32
                                    net.init(jax.random.PRNGKey(0), jnp.zeros((1, 3))))
    M = pk.jax.model(net.apply, params)
    assert M.input_dim == 3 and M.output_dim == 2 and M.smooth
    # the same network by hand on the unraveled params (Dense_0 is the outer Dense(2): Flax
    # names submodules in the order they are built)
    p = params["params"]

    def by_hand(q, x):
        h = jnp.tanh(x @ q["Dense_1"]["kernel"] + q["Dense_1"]["bias"])
        return h @ q["Dense_0"]["kernel"] + q["Dense_0"]["bias"]

    H = pk.jax.model(by_hand, p)
    X, X2 = data(5, 3), data(4, 3, 1)
    assert rel(pk.tangent_kernel(M, M.init(), X, X2),
               pk.tangent_kernel(H, H.init(), X, X2)) <= RTOL64


# ----- (a) the JAX engine against autograd's reference on the same network ---------------


@pytest.mark.parametrize("sizes", [(3, 5, 1), (3, 5, 4, 2)], ids=["k1", "k2_deep"])
def test_products_and_kernels_match_the_autograd_reference(sizes):
    M, ref = tanh_mlp(sizes, seed=1)
    je, re = engine_for(M), engine_for(ref)
    assert je.implementation is Implementation.JAX and je.supports_along
    assert re.implementation is Implementation.REFERENCE
    rng = np.random.default_rng(3)
    w = M.init()
    w_b = w + 0.05 * rng.standard_normal(M.n_params)
    X, X2 = data(7, 3, 4), data(5, 3, 5)
    k = sizes[-1]
    assert rel(je.forward(w, X), re.forward(w, X)) <= RTOL64
    V = rng.standard_normal((7, k))
    y_j, v_j, g_j = je.value_and_vjp(w, X, lambda y: V * y)
    y_r, v_r, g_r = re.value_and_vjp(w, X, lambda y: V * y)
    assert rel(y_j, y_r) <= RTOL64 and rel(v_j, v_r) <= RTOL64 and rel(g_j, g_r) <= RTOL64
    U = rng.standard_normal((3, M.n_params))
    f_j, dY_j = je.jvp(w, X, U)
    _, dY_r = re.jvp(w, X, U)
    assert dY_j.shape == (3, 7, k) and rel(dY_j, dY_r) <= RTOL64 and rel(f_j, y_r) <= RTOL64
    assert je.jvp(w, X, U[:0])[1].shape == (0, 7, k)
    cross = re.kernel(w_b, X, w, X2)
    assert rel(je.kernel(w_b, X, w, X2), cross) <= RTOL64
    for rows in (1, 2, 3):  # both sides in blocks of `rows` rows
        assert rel(je.kernel(w_b, X, w, X2, batch_size=rows), cross) <= RTOL64
        assert rel(je.kernel(w, X, w, X, same=True, batch_size=rows),
                   re.kernel(w, X, w, X, same=True)) <= RTOL64
    B = je.side(w, X2)
    assert rel(je.side_output(B), re.forward(w, X2)) <= RTOL64
    assert rel(je.cross(je.side_rows(je.side(w_b, X), 2, 5), B), cross[2:5]) <= RTOL64
    assert rel(pk.kernels.jacobian(M, w, X), pk.kernels.jacobian(ref, w, X)) <= RTOL64
    assert rel(pk.tangent_kernel(M, w, X, X2), pk.tangent_kernel(ref, w, X, X2)) <= RTOL64
    assert rel(je.side_products(B, U), re.side_products(re.side(w, X2), U)) <= RTOL64
    f_w, W_j = je.weighted_products(w, X, lambda y: V * y, U)
    _, W_r = re.weighted_products(w, X, lambda y: V * y, U)
    assert W_j.shape == (3, 7) and rel(W_j, W_r) <= RTOL64 and rel(f_w, y_r) <= RTOL64


def test_per_row_weights_along_a_step_match_the_reference_row_by_row():
    M, ref = tanh_mlp((3, 5, 2), seed=2)
    je, re = engine_for(M), engine_for(ref)
    rng = np.random.default_rng(4)
    w, delta = M.init(), 0.3 * rng.standard_normal(M.n_params)
    X, taus = data(6, 3, 1), rng.uniform(size=6)
    # the slow way: each row on its own at w + τ_r Δ, by autograd
    J = np.stack([re.jacobian(w + t * delta, X[r:r + 1])[0] for r, t in enumerate(taus)])
    Y = np.stack([re.forward(w + t * delta, X[r:r + 1])[0] for r, t in enumerate(taus)])
    assert rel(je.jacobian(w, X, along=(delta, taus)), J) <= RTOL64
    U = rng.standard_normal((4, M.n_params))
    y, dY = je.jvp(w, X, U, along=(delta, taus))
    assert rel(y, Y) <= RTOL64 and rel(dY, np.einsum("nkp,tp->tnk", J, U)) <= RTOL64
    X2 = data(3, 3, 2)
    K = je.kernel(w, X, w, X2, along=(delta, taus), batch_size=2)
    assert rel(K, np.einsum("icp,jdp->ijcd", J, re.jacobian(w, X2))) <= RTOL64
    rows, weights = np.array([0, 2, 1, 0, 2, 1]), rng.uniform(size=6)
    expect = np.zeros((3,) + J.shape[1:])
    np.add.at(expect, rows, weights[:, None, None] * J)
    assert rel(je.jacobian_sum(w, X, (delta, taus), rows, weights, 3), expect) <= RTOL64


def test_a_side_too_large_for_one_chunk_is_computed_block_by_block(monkeypatch):
    import pkverify.kernels.engines.jacobian_blocks as blocks

    M, ref = tanh_mlp((3, 5, 2))
    je = engine_for(M)
    per_row = je.row_bytes(0, 8)
    monkeypatch.setattr(blocks, "DEFAULT_MEMORY", 2 * 3 * per_row)  # 3 rows per side
    n = 3 * je.build_copies + 1  # over half the budget at one Jacobian copy per row
    X = data(n, 3)
    w = M.init()
    B = je.side(w, X)
    assert B.jac is None  # n rows do not fit: nothing held
    calls = []
    inner = je._jacobian
    monkeypatch.setattr(je, "_jacobian",
                        lambda w_, X_, a=None: calls.append(X_.shape[0]) or inner(w_, X_, a))
    K = je.cross(je.side(w, X), B)
    assert max(calls) <= 3
    assert rel(K, engine_for(ref).kernel(w, X, w, X)) <= RTOL64


def test_a_side_within_half_the_budget_is_kept_as_blocks_computed_once(monkeypatch):
    import pkverify.kernels.engines.jacobian_blocks as blocks

    M, ref = tanh_mlp((3, 5, 2))
    je = engine_for(M)
    monkeypatch.setattr(blocks, "DEFAULT_MEMORY", 2 * 3 * je.row_bytes(0, 8))  # 3 rows/block
    n = 3 * je.build_copies  # exactly half the budget at one Jacobian copy per row
    X, Xq = data(n, 3), data(5, 3, seed=1)
    w = M.init()
    calls = []
    inner = je._jacobian
    monkeypatch.setattr(je, "_jacobian",
                        lambda w_, X_, a=None: calls.append(X_.shape[0]) or inner(w_, X_, a))
    B = je.side(w, X)
    assert [hi - lo for lo, hi, _ in B.jac] == [3] * je.build_copies  # kept, never joined
    assert rel(je.side_output(B), je.forward(w, X)) <= RTOL64
    K = je.kernel(w, Xq, w, X, B=B)
    assert sorted(calls) == sorted([3] * je.build_copies + [3, 2])  # each block once
    assert rel(K, engine_for(ref).kernel(w, Xq, w, X)) <= RTOL64
    assert rel(je.kernel(w, X, w, X, same=True, B=B), engine_for(ref).kernel(w, X, w, X)) \
        <= RTOL64


def test_a_gram_too_large_for_one_chunk_computes_each_block_pair_once(monkeypatch):
    import pkverify.kernels.engines.jacobian_blocks as blocks

    M, ref = tanh_mlp((3, 5, 2))
    je = engine_for(M)
    monkeypatch.setattr(blocks, "DEFAULT_MEMORY", 2 * 3 * je.row_bytes(0, 8))  # 3 rows/block
    # one copy of the side's Jacobian must exceed half the budget (so it is not kept):
    # n/build_copies row_bytes > 3 row_bytes; n = 3·build_copies + 2 gives blocks 3, …, 3, 2
    n = 3 * je.build_copies + 2
    X = data(n, 3)
    sizes = [3] * je.build_copies + [2]
    w = M.init()
    calls = []
    inner = je._jacobian
    monkeypatch.setattr(je, "_jacobian",
                        lambda w_, X_, a=None: calls.append(X_.shape[0]) or inner(w_, X_, a))
    K = je.kernel(w, X, w, X, same=True)
    m = len(sizes)  # block i, then every block j ≥ i once: m(m+1)/2 block Jacobians
    assert sorted(calls) == sorted(sizes[j] for i in range(m) for j in range(i, m))
    assert rel(K, engine_for(ref).kernel(w, X, w, X)) <= RTOL64
    assert np.array_equal(K[3:, :3], K[:3, 3:].transpose(1, 0, 3, 2))  # mirrored: exact


# ----- training, the kernel machine, save and load ----------------------------------------


def _regression(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, k))


def test_training_and_the_path_kernel_match_the_autograd_twin():
    M, ref = tanh_mlp((3, 6, 1), seed=3)
    X, Y = _regression(8, 3, 1, seed=3)
    t_j = pk.train(M, X, Y[:, 0], loss="mse", lr=0.1, steps=6)
    t_r = pk.train(ref, X, Y[:, 0], loss="mse", lr=0.1, steps=6)
    assert rel(t_j.ws, t_r.ws) <= RTOL64  # the same path, gradients from two engines
    Xq = data(4, 3, 6)
    for rule in ("riemann", "trapezoid"):
        assert rel(pk.path_kernel(t_j, Xq, X, rule=rule),
                   pk.path_kernel(t_r, Xq, X, rule=rule)) <= RTOL64
    km_j, km_r = pk.kernel_machine(t_j), pk.kernel_machine(t_r)
    assert rel(km_j.predict(Xq), km_r.predict(Xq)) <= RTOL64
    assert rel(km_j.predict(Xq), t_j.predict(Xq)) <= RTOL64  # exact to rounding


def test_exact_machine_rebuilds_an_adam_trained_mlp_with_contributions():
    M, _ = tanh_mlp((3, 8, 2), seed=4)
    X, Y = _regression(10, 3, 2, seed=4)
    traj = pk.train(M, X, Y, loss="mse", optimizer=pk.optim.adam(0.01), steps=8,
                    batch_size=5, seed=1)
    Xq = data(4, 3, 7)
    km = pk.kernel_machine(traj, rule="exact")
    assert rel(km.predict(Xq), traj.predict(Xq)) <= RTOL64
    C = km.contributions(Xq)  # (q, n, k): b(x) + Σ_i C_i(x) is the model's output
    assert C.shape == (4, 10, 2)
    assert rel(km.b(Xq) + C.sum(axis=1), traj.predict(Xq)) <= RTOL64


def test_trajectory_saves_without_the_function_and_loads_with_it(tmp_path):
    M, _ = tanh_mlp((2, 4, 1), seed=5)
    X, Y = _regression(6, 2, 1)
    traj = pk.train(M, X, Y[:, 0], loss="mse", lr=0.1, steps=3)
    path = traj.save(tmp_path / "run.npz")
    with pytest.raises(InvalidArgumentError, match="custom model"):
        pk.Trajectory.load(path)
    back = pk.Trajectory.load(path, model=tanh_mlp((2, 4, 1), seed=5)[0])
    np.testing.assert_array_equal(back.ws, traj.ws)
    assert rel(pk.kernel_machine(back).predict(X), traj.predict(X)) <= RTOL64


def test_float32_model_computes_in_float32():
    twin = mlp((3, 6, 2), seed=1)
    apply, params = twin.jax()
    M64 = pk.jax.model(apply, params)
    M = pk.jax.model(apply, params, dtype="float32")
    assert M.foreign.dtype == "float32"
    X = data(5, 3)
    K = pk.tangent_kernel(M, M.init(), X)
    assert K.dtype == np.float32
    K64 = pk.tangent_kernel(M64, M64.init(), X)
    assert rel(K, K64) <= RTOL32
    assert rel(K, K64) > 1e-12  # float32 arithmetic, not float64 rounded at the end
    Xt, Y = _regression(6, 3, 2)
    traj = pk.train(M, Xt, Y, loss="mse", lr=0.05, steps=3)
    km = pk.kernel_machine(traj)
    assert km.dtype == np.float32
    # the step identity in float32: each step rounds at ~6e-8 relative, 3 steps and a
    # forward pass of depth 2 stay far below 1e-4
    assert rel(km.predict(Xt), traj.predict(Xt)) <= RTOL32


# ----- bad input ----------------------------------------------------------------------------


@pytest.fixture
def x64_off():
    jax.config.update("jax_enable_x64", False)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", True)


def test_float64_while_x64_is_off_is_refused_with_the_fix(x64_off):
    def apply(p, x):
        return x @ p["w"]

    with pytest.raises(InvalidArgumentError, match=r'jax\.config\.update\("jax_enable_x64"'):
        pk.jax.model(apply, {"w": np.ones((3, 1))})  # NumPy float64 leaves
    with pytest.raises(InvalidArgumentError, match="dtype='float64' was asked"):
        pk.jax.model(apply, {"w": np.ones((3, 1), dtype=np.float32)}, dtype="float64")
    M = pk.jax.model(apply, {"w": np.ones((3, 1), dtype=np.float32)})  # float32 is fine
    assert M.foreign.dtype == "float32"


def test_an_engine_for_a_float64_model_refuses_when_x64_was_switched_off():
    M, _ = tanh_mlp((3, 4, 1))
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(InvalidArgumentError, match="jax_enable_x64"):
            pk.tangent_kernel(M, M.init(), data(3, 3))
    finally:
        jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("params, what", [
    ({"w": np.ones((3, 1)), "n": np.arange(3)}, "int64"),
    ({"w": np.ones((3, 1)), "flag": np.array(True)}, "bool"),
    ({"w": np.ones((3, 1), dtype=np.complex128)}, "complex128"),
    ({"w": np.ones((3, 1)), "name": "dense"}, "str"),
    ({"w": np.ones((3, 1), dtype=np.float16)}, "float16"),
], ids=["int", "bool", "complex", "str", "float16"])
def test_leaves_that_are_not_float_arrays_are_refused(params, what):
    with pytest.raises(InvalidArgumentError, match=rf"params\[.*\] is {what}.*float32 or float64"):
        pk.jax.model(lambda p, x: x @ p["w"], params)


def test_bad_trees_functions_and_shapes_are_refused():
    def apply(p, x):
        return x @ p["w"]

    with pytest.raises(InvalidArgumentError, match="no array leaves"):
        pk.jax.model(apply, {"w": None})
    with pytest.raises(InvalidArgumentError, match="mix dtypes"):
        pk.jax.model(lambda p, x: x @ p["w"] + p["b"],
                     {"w": np.ones((3, 1)), "b": np.ones(1, dtype=np.float32)})
    with pytest.raises(InvalidArgumentError, match="needs a function"):
        pk.jax.model("apply", {"w": np.ones((3, 1))})
    with pytest.raises(InvalidArgumentError, match="smooth"):
        pk.jax.model(apply, {"w": np.ones((3, 1))}, smooth="no")
    with pytest.raises(InvalidArgumentError, match="dtype"):
        pk.jax.model(apply, {"w": np.ones((3, 1))}, dtype="float16")
    with pytest.raises(InvalidArgumentError, match="input_shape"):
        pk.jax.model(apply, {"w": np.ones((3, 1))}, input_shape=(0,))
    # the wrong params structure for apply_fn: it fails on them, and says so
    with pytest.raises(InvalidArgumentError, match="structure apply_fn expects"):
        pk.jax.model(apply, {"v": np.ones((3, 1))}, input_shape=(3,))
    with pytest.raises(InvalidArgumentError, match="input_shape"):  # no dimension fits
        pk.jax.model(lambda p, x: x.reshape(-1, 4) @ p["w"], {"w": np.ones((3, 2))})
    with pytest.raises(ShapeError, match=r"\(n,\) or \(n, k\)"):
        pk.jax.model(lambda p, x: (x @ p["w"])[:, :, None], {"w": np.ones((3, 2))})
    with pytest.raises(ShapeError, match="holds no values"):
        pk.jax.model(lambda p, x: x @ p["w"], {"w": np.ones((3, 0))}, input_shape=(3,))
    with pytest.raises(InvalidArgumentError, match="returns int32 outputs"):
        pk.jax.model(lambda p, x: jnp.round(x @ p["w"]).astype(jnp.int32),
                     {"w": np.ones((3, 2))})


def test_params_of_the_wrong_structure_are_refused_by_flatten():
    M, _ = tanh_mlp((3, 4, 1))
    params = M.foreign.unravel(M.init())
    with pytest.raises(InvalidArgumentError, match="structure"):
        pk.jax.flatten(M.foreign, {k: v for k, v in params.items() if k != "b0"})
    with pytest.raises(InvalidArgumentError, match=r"\['w0'\] has shape \(4, 4\)"):
        pk.jax.flatten(M.foreign, {**params, "w0": jnp.zeros((4, 4))})


def test_engines_that_do_not_apply_are_refused():
    M, _ = tanh_mlp((3, 2))
    X = data(3, 3)
    for impl in ("reference", "layerwise", "torch"):
        with pytest.raises(InvalidArgumentError, match="auto"):
            pk.tangent_kernel(M, M.init(), X, implementation=impl)
    built_in = pk.models.mlp([3, 2])
    with pytest.raises(InvalidArgumentError, match="jax"):
        pk.tangent_kernel(built_in, built_in.init(), X, implementation="jax")
    with pytest.raises(InvalidArgumentError, match="differentiated by jax"):
        from autograd import grad

        grad(lambda w: M.f(w, X).sum())(M.init())


def test_pk_jax_without_jax_says_how_to_install_it(monkeypatch):
    import importlib
    import sys

    monkeypatch.delitem(sys.modules, "pkverify.extra.jax", raising=False)
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` raises ImportError
    with pytest.raises(BackendMissingError, match=r"pkverify\[jax\]"):
        importlib.import_module("pkverify.extra.jax")


def test_explain_cli_takes_a_jax_model_back_from_a_function(tmp_path, capsys):
    """Trajectory.save without apply_fn; `pkverify explain --trajectory --model FILE:build`
    with a build() that returns the pk.jax model; the NHWC (H, W, 1) input shape draws images."""
    from pkverify.cli import main

    def apply(p, x):  # x (n, 3, 3, 1): one dense layer on the flattened image, tanh, dense
        return jnp.tanh(x.reshape(x.shape[0], -1) @ p["w"]) @ p["v"]

    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((9, 4)) / 3, "v": rng.standard_normal((4, 2))}
    np.save(tmp_path / "params.npy", np.concatenate([params["v"].ravel(), params["w"].ravel()]))
    M = pk.jax.model(apply, params, input_shape=(3, 3, 1))
    X, Y = _regression(6, 9, 2, seed=2)
    path = pk.train(M, X, Y, loss="mse", lr=0.1, steps=3).save(tmp_path / "run.npz")
    (tmp_path / "jax_model.py").write_text(
        "import jax\njax.config.update('jax_enable_x64', True)\n"
        "import jax.numpy as jnp\nimport numpy as np\nimport pkverify as pk\n\n"
        "def apply(p, x):\n"
        "    return jnp.tanh(x.reshape(x.shape[0], -1) @ p['w']) @ p['v']\n\n"
        "def build():\n"
        f"    flat = np.load({str(tmp_path / 'params.npy')!r})\n"
        "    params = {'v': flat[:8].reshape(4, 2), 'w': flat[8:].reshape(9, 4)}\n"
        "    return pk.jax.model(apply, params, input_shape=(3, 3, 1))\n",
        encoding="utf-8")
    np.save(tmp_path / "q.npy", X[:2])
    html = tmp_path / "page.html"
    assert main(["explain", "--trajectory", str(path), "--model",
                 f"{tmp_path / 'jax_model.py'}:build", "--query", str(tmp_path / "q.npy"),
                 "--top", "3", "--html", str(html), "--quiet"]) == 0
    assert capsys.readouterr().out.count("  OK") == 2
    page = html.read_text(encoding="utf-8")
    assert page.count("<strong>query</strong>") == 2 and 'viewBox="0 0 3 3"' in page
