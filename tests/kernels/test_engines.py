"""The engine's implementations against the autograd reference, on every built-in model,
activation, bias setting and output count: kernels (Gram and cross, and at two different
weights), vector–Jacobian and forward-mode products, per-row weights along a step, chunking,
float32, and any Array-API namespace."""

from __future__ import annotations

import itertools

import autograd.numpy as anp
import numpy as np
import pytest

import pkverify as pk
from pkverify.activations import NAMES
from pkverify.errors import (
    BackendMissingError,
    InvalidArgumentError,
    ShapeError,
    UnknownNameError,
)
from pkverify.kernels.engines import Implementation, engine_for, reference

from ..reference import jac, rel_err

# the same float64 products summed in another order: rounding only, with P ≤ ~100 terms of
# O(1) size per entry the bound 1e-12 leaves three orders of margin
RTOL64 = 1e-12
# float32: unit roundoff 6e-8, a kernel entry sums ≤ ~100 products and a forward pass of
# depth ≤ 3 compounds it; 2e-5 relative to the largest entry is ~300 ulps
RTOL32 = 2e-5


def _models():
    out = {
        "linear": lambda: pk.models.linear(3),
        "linear_nobias": lambda: pk.models.linear(3, bias=False),
    }
    for act in NAMES:
        for to in (False, True):
            out[f"two_layer_{act}_{'out' if to else 'fixed'}"] = (
                lambda a=act, t=to: pk.models.two_layer(3, 5, a, train_output=t, seed=1)
            )
        for bias, k, depth in itertools.product((True, False), (1, 3), (1, 2)):
            sizes = [3] + [4] * depth + [k]
            out[f"mlp_{act}_{'b' if bias else 'nb'}_k{k}_d{depth}"] = (
                lambda a=act, b=bias, s=tuple(sizes): pk.models.mlp(list(s), a, bias=b, seed=1)
            )
    return out


MODELS = _models()


def _weights(model, seed=2):
    # perturb (zero) biases so their gradients are exercised at a generic point
    return model.init(seed) + 0.1 * np.random.default_rng(seed + 1).standard_normal(
        model.n_params
    )


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(0)
    return rng.standard_normal((5, 3)), rng.standard_normal((4, 3))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_layerwise_equals_reference_gram_and_cross(name, points):
    X, Q = points
    model = MODELS[name]()
    w = _weights(model)
    for A, B in ((X, None), (Q, X)):
        fast = pk.tangent_kernel(model, w, A, B, implementation="layerwise")
        ref = pk.tangent_kernel(model, w, A, B, implementation="reference")
        assert fast.shape == ref.shape
        assert rel_err(fast, ref) <= RTOL64


@pytest.mark.parametrize("name", sorted(MODELS))
def test_cross_kernel_at_two_weights_and_products(name, points):
    X, Q = points
    model = MODELS[name]()
    wa, wb = _weights(model, 2), _weights(model, 5)
    Ja, Jb = (jac(model, w, Z).reshape(Z.shape[0], -1, model.n_params)
              for w, Z in ((wa, Q), (wb, X)))
    expected = np.einsum("iap,jbp->ijab", Ja, Jb)  # autograd.jacobian, contracted by hand
    for impl in ("layerwise", "reference"):
        eng = engine_for(model, impl)
        K = eng.kernel(wa, Q, wb, X)
        assert rel_err(K, expected) <= RTOL64
        # vjp: Σ_i v_i ∇f(x_i) = Jᵀv
        v = np.random.default_rng(7).standard_normal((X.shape[0], Jb.shape[1]))
        _, _, g = eng.value_and_vjp(wb, X, lambda y, v=v: v)
        assert rel_err(g, np.einsum("iap,ia->p", Jb, v)) <= RTOL64
        # jvp: ∇f(x)·u for two tangents at once
        U = np.random.default_rng(8).standard_normal((2, model.n_params))
        y, dY = eng.jvp(wa, Q, U)
        assert dY.shape == (2, Q.shape[0], Ja.shape[1])
        assert rel_err(dY, np.einsum("iap,tp->tia", Ja, U)) <= RTOL64
        np.testing.assert_allclose(np.asarray(y).reshape(Q.shape[0], -1),
                                   np.asarray(model.f(wa, Q)).reshape(Q.shape[0], -1),
                                   rtol=1e-14, atol=1e-15)  # the same forward pass


@pytest.mark.parametrize("name", ["mlp_relu_b_k3_d2", "mlp_tanh_nb_k1_d2", "two_layer_relu_out",
                                  "linear"])
def test_per_row_weights_along_a_step(name, points):
    X, _ = points
    model = MODELS[name]()
    w, w1 = _weights(model, 2), _weights(model, 9)
    delta = w1 - w
    tau = np.linspace(0.1, 0.9, X.shape[0])
    eng = engine_for(model, "layerwise")
    U = np.random.default_rng(3).standard_normal((2, model.n_params))
    _, dY = eng.jvp(w, X, U, along=(delta, tau))
    side = eng.side(w, X, along=(delta, tau))
    Kb = eng.side(w1, X)
    K = eng.cross(side, Kb)
    for r in range(X.shape[0]):  # row r at its own weights, computed plainly
        wr = w + tau[r] * delta
        Jr = jac(model, wr, X[r : r + 1]).reshape(1, -1, model.n_params)
        assert rel_err(dY[:, r], np.einsum("iap,tp->tia", Jr, U)[:, 0]) <= RTOL64
        J1 = jac(model, w1, X).reshape(X.shape[0], -1, model.n_params)
        assert rel_err(K[r], np.einsum("ap,jbp->jab", Jr[0], J1)) <= RTOL64


@pytest.mark.parametrize("chunk_rows", [1, 2, 3])
def test_chunked_rows_give_the_same_kernel(chunk_rows, points):
    X, Q = points
    model = pk.models.mlp([3, 6, 5, 2], "softplus")
    w = _weights(model)
    # the same sums; BLAS may block a smaller product differently: a few ulps at most
    whole = pk.tangent_kernel(model, w, X)
    assert rel_err(pk.tangent_kernel(model, w, X, chunk_rows=chunk_rows), whole) <= 1e-15
    cross = pk.tangent_kernel(model, w, Q, X)
    chunked = pk.tangent_kernel(model, w, Q, X, chunk_rows=chunk_rows)
    assert rel_err(chunked, cross) <= 1e-15


def test_auto_picks_layerwise_for_built_ins_and_reference_for_custom():
    assert engine_for(pk.models.mlp([2, 3, 1])).implementation is Implementation.LAYERWISE
    custom = pk.models.custom(lambda w, X: X @ w, [1.0, 2.0])
    assert engine_for(custom).implementation is Implementation.REFERENCE


def test_layerwise_never_builds_a_jacobian(monkeypatch, points):
    X, Q = points

    def forbidden(*args, **kwargs):
        raise AssertionError("a per-example Jacobian was built")

    monkeypatch.setattr(reference, "jacobian", forbidden)
    model = pk.models.mlp([3, 5, 4, 1], "tanh")
    traj = pk.train(model, X, np.sin(X[:, 0]), lr=0.1, steps=4)
    km = pk.kernel_machine(traj)
    km.predict(Q), km.kernel(Q), km.a(Q)
    pk.tangent_kernel(model, traj.w0, X)
    pk.path_kernel(traj, Q, X, rule="trapezoid")


def test_custom_predict_needs_no_jacobian(monkeypatch, points):
    X, Q = points

    def f(w, X):
        return anp.tanh(X @ w[:3]) * w[3]

    model = pk.models.custom(f, [0.3, -0.2, 0.5, 1.1], input_dim=3)
    traj = pk.train(model, X, np.sin(X[:, 0]), lr=0.1, steps=5)
    monkeypatch.setattr(reference, "jacobian", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("a per-example Jacobian was built")))
    km = pk.kernel_machine(traj)
    y, y0 = traj.predict(Q), traj.predict_initial(Q)
    # exact rule on a smooth model: rounding over 5 steps
    assert rel_err(km.predict(Q) - y0, y - y0) <= 1e-12


def test_training_through_either_implementation_is_the_same_path(points):
    X, _ = points
    model = pk.models.mlp([3, 6, 6, 2], "erf")
    Y = np.stack([np.sin(X[:, 0]), X[:, 1]], axis=1)
    a = pk.train(model, X, Y, lr=0.05, steps=10, implementation="layerwise")
    b = pk.train(model, X, Y, lr=0.05, steps=10, implementation="reference")
    # identical maths, sums in another order: rounding, compounded over 10 steps
    assert rel_err(a.ws, b.ws) <= 1e-13
    assert rel_err(a.losses, b.losses) <= 1e-13


@pytest.mark.parametrize("name", ["mlp_tanh_b_k3_d2", "two_layer_relu_out", "linear",
                                  "mlp_sigmoid_nb_k1_d1"])
def test_float32_follows_the_inputs(name, points):
    X, Q = points
    model = MODELS[name]()
    w = _weights(model)
    K32 = pk.tangent_kernel(model, w.astype(np.float32), Q.astype(np.float32),
                            X.astype(np.float32))
    K64 = pk.tangent_kernel(model, w, Q, X)
    assert K32.dtype == np.float32
    assert rel_err(K32, K64) <= RTOL32
    K = pk.tangent_kernel(model, w, Q, X, dtype="float32")
    assert K.dtype == np.float32 and rel_err(K, K64) <= RTOL32


def test_float32_kernel_machine(points):
    X, Q = points
    traj = pk.train(pk.models.mlp([3, 8, 1], "tanh"), X, np.sin(X[:, 0]), lr=0.1, steps=8)
    y, y0 = traj.predict(Q), traj.predict_initial(Q)
    for rule in ("riemann", "exact"):
        p64 = pk.kernel_machine(traj, rule).predict(Q)
        p32 = pk.kernel_machine(traj, rule, dtype="float32").predict(Q)
        assert p32.dtype == np.float32
        # float32 rounding of each step's products (6e-8 each) over 8 steps and a 3-layer
        # pass: 1e-5 of the training's change is ~100 ulps
        assert rel_err(p32 - y0, p64 - y0) <= 1e-5
    assert rel_err(pk.kernel_machine(traj).predict(Q) - y0, y - y0) <= 1e-12


# ----- any Array-API namespace ---------------------------------------------------------------


@pytest.mark.parametrize("act", ["tanh", "relu", "softplus", "sigmoid", "identity"])
def test_engine_runs_under_array_api_strict(act, points):
    xps = pytest.importorskip("array_api_strict", reason="array-api-strict is in the [test] extra")
    X, Q = points
    model = pk.models.mlp([3, 4, 4, 2], act)
    w = _weights(model)
    K = pk.tangent_kernel(model, xps.asarray(w), xps.asarray(Q), xps.asarray(X))
    assert type(K).__module__.startswith("array_api_strict")
    ref = pk.tangent_kernel(model, w, Q, X)
    assert rel_err(np.asarray(K), ref) <= RTOL64
    eng = engine_for(model, "layerwise", xps)
    U = xps.asarray(np.random.default_rng(1).standard_normal((2, model.n_params)))
    _, dY = eng.jvp(xps.asarray(w), xps.asarray(Q), U)
    _, dYn = engine_for(model, "layerwise").jvp(w, Q, np.asarray(U))
    assert rel_err(np.asarray(dY), dYn) <= RTOL64
    v = xps.asarray(np.ones((X.shape[0], 2)))
    _, _, g = eng.value_and_vjp(xps.asarray(w), xps.asarray(X), lambda y: v)
    _, _, gn = engine_for(model, "layerwise").value_and_vjp(w, X, lambda y: np.ones((5, 2)))
    assert rel_err(np.asarray(g), gn) <= RTOL64


def test_array_api_namespace_without_erf_is_a_clear_error(points):
    xps = pytest.importorskip("array_api_strict", reason="array-api-strict is in the [test] extra")
    X, _ = points
    model = pk.models.mlp([3, 4, 1], "erf")
    with pytest.raises(BackendMissingError, match="erf"):
        pk.tangent_kernel(model, xps.asarray(model.init(0)), xps.asarray(X))


# ----- bad input --------------------------------------------------------------------------------


def test_bad_engine_arguments(points):
    X, _ = points
    model = pk.models.mlp([3, 4, 1])
    w = model.init(0)
    custom = pk.models.custom(lambda w, X: X @ w, np.ones(3))
    with pytest.raises(InvalidArgumentError, match="chunk_rows must be ≥ 1"):
        pk.tangent_kernel(model, w, X, chunk_rows=0)
    with pytest.raises(UnknownNameError, match="'auto', 'layerwise', 'reference'"):
        pk.tangent_kernel(model, w, X, implementation="jacobian")
    with pytest.raises(InvalidArgumentError, match="float16"):
        pk.tangent_kernel(model, w.astype(np.float16), X.astype(np.float16))
    with pytest.raises(InvalidArgumentError, match="custom model.*'auto' or 'reference'"):
        pk.tangent_kernel(custom, np.ones(3), X, implementation="layerwise")
    with pytest.raises(ShapeError, match=rf"shape \({model.n_params},\)"):
        pk.tangent_kernel(model, np.ones(5), X)
    xps = pytest.importorskip("array_api_strict", reason="array-api-strict is in the [test] extra")
    with pytest.raises(InvalidArgumentError, match="two backends"):
        pk.tangent_kernel(model, w, xps.asarray(X))
    with pytest.raises(BackendMissingError, match="NumPy only"):
        pk.tangent_kernel(model, xps.asarray(w), xps.asarray(X), implementation="reference")
    traj = pk.train(model, X, np.sin(X[:, 0]), lr=0.1, steps=2)
    for call in (
        lambda: pk.kernel_machine(traj, chunk_rows=-1),
        lambda: pk.path_kernel(traj, X, chunk_rows=1.5),
        lambda: pk.kernel_machine(traj, implementation="fast"),
        lambda: pk.train(custom, X, X[:, 0], implementation="layerwise"),
    ):
        with pytest.raises(InvalidArgumentError):
            call()


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_side_products_and_jacobian_sums_match_autograd(activation):
    """The optimizer pass's products: ∇f(x_i)·u_t from a side, and Σ_e c_e ∇f(w + τ_e Δ, x_e)
    per query, against autograd Jacobians (float64 rounding of sums over P ≤ 100 terms)."""
    from pkverify.kernels.engines import engine_for
    from pkverify.kernels.engines.reference import jacobian

    model = pk.models.mlp([3, 5, 4, 2], activation)
    r = np.random.default_rng(0)
    w, delta = model.init(0), 0.1 * r.standard_normal(model.n_params)
    X = r.standard_normal((4, 3))
    U = r.standard_normal((6, model.n_params))
    eng = engine_for(model, "layerwise")
    J = jacobian(model.f, w, X)
    np.testing.assert_allclose(eng.side_products(eng.side(w, X), U),
                               np.einsum("nkp,tp->tnk", J, U), rtol=0, atol=1e-12)
    rows = np.array([0, 0, 2, 1, 2, 2])  # uneven node counts per query; query 3 has none
    taus = np.array([0.1, 0.7, 0.2, 0.5, 0.4, 0.9])
    wts = np.array([0.3, 0.7, 0.2, 1.0, 0.5, 0.3])
    got = eng.jacobian_sum(w, X[rows], (delta, taus), rows, wts, 4)
    want = np.zeros_like(got)
    for r_, t_, c_ in zip(rows, taus, wts):
        want[r_] += c_ * jacobian(model.f, w + t_ * delta, X[r_ : r_ + 1])[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
