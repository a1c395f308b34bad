"""Models: each apply() against a forward pass written by hand in numpy, plus bad input."""

from __future__ import annotations

import math
import time

import autograd.numpy as anp
import numpy as np
import pytest

import pkverify as pk
import pkverify.validation
from pkverify.activations import c_sigma
from pkverify.errors import (
    InvalidArgumentError,
    NonFiniteError,
    ResourceError,
    ShapeError,
    UnknownNameError,
)
from pkverify.kernels.exact import row_breakpoints
from pkverify.models import from_spec

# rounding of a handful of float64 dot products on O(1) values
FWD_RTOL = 1e-13


def _relu(z):
    return np.maximum(z, 0.0)


def mlp_by_hand(w, X, sizes, act, bias):
    """ntk-notes eqs. 16–17: f^h = W^h g^{h-1} (+ b^h), g^h = sqrt(c_σ/d_h) σ(f^h)."""
    sig = {"relu": _relu, "tanh": np.tanh, "identity": lambda z: z}[act]
    g, off = X, 0
    L = len(sizes) - 1
    for h in range(1, L + 1):
        rows, cols = sizes[h], sizes[h - 1]
        W = w[off : off + rows * cols].reshape(rows, cols)
        off += rows * cols
        pre = g @ W.T
        if bias:
            pre = pre + w[off : off + rows]
            off += rows
        g = math.sqrt(c_sigma(act) / rows) * sig(pre) if h < L else pre
    assert off == w.size
    return g[:, 0] if sizes[-1] == 1 else g


class TestLinear:
    def test_apply_with_bias(self, data2d):
        X, _ = data2d
        m = pk.models.linear(2)
        w = np.array([0.3, -1.2, 0.7])
        assert m.n_params == 3 and m.input_dim == 2 and m.output_dim is None
        np.testing.assert_allclose(m.apply(w, X), X @ w[:2] + w[2], rtol=FWD_RTOL)

    def test_apply_without_bias(self, data2d):
        X, _ = data2d
        m = pk.models.linear(2, bias=False)
        w = np.array([0.3, -1.2])
        assert m.n_params == 2
        np.testing.assert_allclose(m.apply(w, X), X @ w, rtol=FWD_RTOL)

    def test_features(self, data2d):
        X, _ = data2d

        def phi(X):
            return anp.stack([X[:, 0], X[:, 1] ** 2, anp.sin(X[:, 0])], axis=1)

        m = pk.models.linear(2, features=phi)
        w = np.array([0.5, -0.25, 2.0, 0.1])
        assert m.n_params == 4
        Phi = np.stack([X[:, 0], X[:, 1] ** 2, np.sin(X[:, 0])], axis=1)
        np.testing.assert_allclose(m.apply(w, X), Phi @ w[:3] + w[3], rtol=FWD_RTOL)
        assert m.spec is None  # a callable φ cannot be stored by spec

    def test_features_with_wrong_shape(self):
        with pytest.raises(ShapeError, match=r"\(n, p\) array"):
            pk.models.linear(2, features=lambda X: X[:, 0])

    def test_init_is_seeded_standard_normal(self):
        m = pk.models.linear(3)
        np.testing.assert_array_equal(m.init(5), np.random.default_rng(5).standard_normal(4))
        assert not np.array_equal(m.init(5), m.init(6))


class TestTwoLayer:
    @pytest.mark.parametrize("act", ["relu", "tanh"])
    def test_apply_matches_seed003_eq9(self, data2d, act):
        X, _ = data2d
        m, d = 5, 2
        model = pk.models.two_layer(d, m, activation=act, seed=3)
        w = model.init(1)
        assert w.shape == (m * d,)
        signs = model.signs
        assert set(np.unique(signs)) <= {-1.0, 1.0}
        sig = _relu if act == "relu" else np.tanh
        expected = sig(X @ w.reshape(m, d).T) @ signs / math.sqrt(m)
        np.testing.assert_allclose(model.apply(w, X), expected, rtol=FWD_RTOL)

    def test_train_output_appends_the_signs_as_parameters(self, data2d):
        X, _ = data2d
        model = pk.models.two_layer(2, 4, train_output=True, seed=2)
        w = model.init(0)
        assert model.n_params == 4 * 2 + 4
        np.testing.assert_array_equal(w[8:], model.signs)
        w = w.copy()
        w[8:] = [0.5, -2.0, 1.5, 0.25]
        expected = _relu(X @ w[:8].reshape(4, 2).T) @ w[8:] / 2.0
        np.testing.assert_allclose(model.apply(w, X), expected, rtol=FWD_RTOL)

    def test_signs_depend_on_seed_only(self):
        a = pk.models.two_layer(2, 64, seed=0).signs
        b = pk.models.two_layer(2, 64, seed=0).signs
        c = pk.models.two_layer(2, 64, seed=1).signs
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)

    def test_relu_kinks_are_where_preactivations_cross_zero(self):
        model = pk.models.two_layer(1, 2)
        X = np.array([[1.0]])
        w = np.array([-1.0, 2.0])
        delta = np.array([4.0, -8.0])  # unit 0 crosses at τ = 0.25, unit 1 at τ = 0.25 too
        np.testing.assert_allclose(row_breakpoints(model.network, w, delta, X, np)[0], [0.25])
        delta = np.array([2.0, -1.0])  # unit 0 crosses at τ = 0.5, unit 1 never in (0, 1)
        np.testing.assert_allclose(row_breakpoints(model.network, w, delta, X, np)[0], [0.5])
        assert not model.smooth and model.network.kinked
        tanh = pk.models.two_layer(1, 2, activation="tanh")
        assert tanh.smooth and not tanh.network.kinked

    @pytest.mark.parametrize("width", [0, -1])
    def test_width_below_one(self, width):
        with pytest.raises(InvalidArgumentError, match="width must be ≥ 1"):
            pk.models.two_layer(2, width)

    def test_non_integer_width(self):
        with pytest.raises(InvalidArgumentError, match="width must be a positive integer"):
            pk.models.two_layer(2, 2.5)

    def test_unknown_activation(self):
        with pytest.raises(UnknownNameError, match="unknown activation 'swish'"):
            pk.models.two_layer(2, 3, activation="swish")


class TestMLP:
    @pytest.mark.parametrize("bias", [True, False])
    @pytest.mark.parametrize("act", ["tanh", "relu", "identity"])
    @pytest.mark.parametrize("sizes", [[2, 3, 1], [2, 4, 3, 2]])
    def test_apply_matches_hand_forward_pass(self, data2d, sizes, act, bias):
        X, _ = data2d
        model = pk.models.mlp(sizes, activation=act, bias=bias)
        w = model.init(4)
        if bias:  # biases start at zero; perturb them so that they are exercised
            w = w + 0.3 * np.random.default_rng(9).standard_normal(w.size) * (w == 0)
        out = model.apply(w, X)
        k = sizes[-1]
        assert out.shape == ((6,) if k == 1 else (6, k))
        assert model.output_dim == (None if k == 1 else k)
        np.testing.assert_allclose(out, mlp_by_hand(w, X, sizes, act, bias), rtol=FWD_RTOL)

    def test_parameter_count(self):
        assert pk.models.mlp([3, 5, 2]).n_params == 3 * 5 + 5 + 5 * 2 + 2
        assert pk.models.mlp([3, 5, 2], bias=False).n_params == 3 * 5 + 5 * 2

    def test_init_weights_standard_normal_biases_zero(self):
        model = pk.models.mlp([2, 3, 1])
        w = model.init(7)
        rng = np.random.default_rng(7)
        np.testing.assert_array_equal(w[:6], rng.standard_normal(6))
        np.testing.assert_array_equal(w[6:9], 0.0)
        np.testing.assert_array_equal(w[9:12], rng.standard_normal(3))
        assert w[12] == 0.0

    def test_ntk_normalisation_keeps_hidden_norm(self):
        # c_σ makes E‖g¹(x)‖² = ‖x‖² at init (ntk-notes eq. 16): check on one wide layer
        x = np.array([[0.6, -0.8]])
        width = 20_000
        model = pk.models.mlp([2, width, 1], activation="tanh", bias=False)
        w = model.init(0)
        W1 = w[: 2 * width].reshape(width, 2)
        g1 = math.sqrt(c_sigma("tanh") / width) * np.tanh(x @ W1.T)
        # 3e-2: Monte-Carlo over 20000 units; sd of tanh(z)²·c_σ is ≈ 1, so se ≈ 0.007
        assert float(np.sum(g1**2)) == pytest.approx(1.0, rel=3e-2)

    def test_relu_nets_are_kinked_at_any_depth(self):
        for sizes in ([2, 3, 1], [2, 3, 3, 1], [2, 3, 3, 3, 2]):
            relu = pk.models.mlp(sizes, activation="relu")
            assert not relu.smooth and relu.network.kinked and relu.network.hidden == len(sizes) - 2
        assert pk.models.mlp([2, 3, 1], activation="tanh").smooth

    def test_one_hidden_relu_kinks_include_bias(self):
        model = pk.models.mlp([1, 1, 1], activation="relu")  # w = [W1, b1, W2, b2]
        w = np.array([1.0, -2.0, 1.0, 0.0])
        delta = np.array([0.0, 4.0, 0.0, 0.0])  # pre-activation 1·x − 2 + 4τ; x = 1 → τ = 1/4
        bps = row_breakpoints(model.network, w, delta, np.array([[1.0]]), np)
        np.testing.assert_allclose(bps[0], [0.25])

    def test_second_layer_kink_is_a_root_of_a_quadratic(self):
        # w = [W1, b1, W2, b2, W3, b3]; x = 1. Layer 1: f¹ = 1 + τ > 0 (no kink). Layer 2
        # (input scale √(c_σ/1) = √2): f² = √2 (1 − τ)(1 + τ) − ½, zero at
        # τ = √(1 − 1/(2√2)); rows with x = −1 have f¹ = −(1 + τ) < 0 and no kink at all.
        model = pk.models.mlp([1, 1, 1, 1], activation="relu")
        w = np.array([1.0, 0.0, 1.0, -0.5, 1.0, 0.0])
        delta = np.array([1.0, 0.0, -1.0, 0.0, 0.0, 0.0])
        bps = row_breakpoints(model.network, w, delta, np.array([[1.0], [-1.0]]), np)
        np.testing.assert_allclose(bps[0], [math.sqrt(1.0 - 1.0 / (2.0 * math.sqrt(2.0)))],
                                   rtol=1e-14)  # a root polished by Newton: rounding only
        assert bps[1].size == 0

    @pytest.mark.parametrize("sizes", [[2], [], [2, 0, 1], [0, 3, 1], [2, 3, -1]])
    def test_bad_sizes(self, sizes):
        with pytest.raises(InvalidArgumentError, match=r"sizes|≥ 1"):
            pk.models.mlp(sizes)

    def test_sizes_not_a_list(self):
        with pytest.raises(InvalidArgumentError, match=r"sizes must be a list like \[d, width"):
            pk.models.mlp(3)

    def test_unknown_activation(self):
        with pytest.raises(UnknownNameError, match="unknown activation 'gelu'; expected one of"):
            pk.models.mlp([2, 3, 1], activation="gelu")


class TestCustom:
    def test_wraps_a_function(self, data2d):
        X, _ = data2d
        model = pk.models.custom(lambda w, X: anp.tanh(X @ w[:2]) * w[2], [1.0, 2.0, 0.5])
        assert model.n_params == 3 and model.spec is None
        np.testing.assert_array_equal(model.init(0), model.init(99))  # init ignores the seed
        w = np.array([0.2, -0.1, 3.0])
        np.testing.assert_allclose(model.apply(w, X), np.tanh(X @ w[:2]) * 3.0, rtol=FWD_RTOL)

    def test_init_returns_a_fresh_copy(self):
        model = pk.models.custom(lambda w, X: X @ w, [1.0, 2.0])
        w = model.init()
        w[0] = 100.0
        assert model.init()[0] == 1.0

    def test_scalar_output_is_rejected(self, data2d):
        X, _ = data2d
        model = pk.models.custom(lambda w, X: anp.sum(X @ w), [1.0, 2.0])
        with pytest.raises(ShapeError, match=r"must return shape \(n,\) or \(n, k\) with n = 6"):
            model.apply(np.ones(2), X)

    def test_wrong_number_of_rows_is_rejected(self, data2d):
        X, _ = data2d
        model = pk.models.custom(lambda w, X: anp.concatenate([X @ w, X @ w]), [1.0, 2.0])
        with pytest.raises(ShapeError, match=r"returned shape \(12,\)"):
            model.apply(np.ones(2), X)

    def test_three_dimensional_output_is_rejected(self, data2d):
        X, _ = data2d
        model = pk.models.custom(lambda w, X: anp.reshape(X * w, (6, 1, 2)), [1.0, 2.0])
        with pytest.raises(ShapeError, match=r"\(n,\) or \(n, k\)"):
            model.apply(np.ones(2), X)

    def test_non_finite_output_is_rejected(self, data2d):
        X, _ = data2d
        model = pk.models.custom(lambda w, X: anp.log(X @ w - 100.0), [1.0, 2.0])
        with np.errstate(invalid="ignore"):
            with pytest.raises(NonFiniteError, match="returned NaN or inf"):
                model.apply(np.ones(2), X)

    def test_not_callable(self):
        with pytest.raises(InvalidArgumentError, match="needs a callable f"):
            pk.models.custom("f", [1.0])

    def test_empty_w0(self):
        with pytest.raises(InvalidArgumentError, match="at least one parameter"):
            pk.models.custom(lambda w, X: X @ w, [])

    def test_non_finite_w0(self):
        with pytest.raises(NonFiniteError, match="w0 contains NaN or inf"):
            pk.models.custom(lambda w, X: X @ w, [1.0, np.inf])


class TestApplyValidation:
    def test_wrong_weight_length(self, data2d):
        X, _ = data2d
        with pytest.raises(ShapeError, match=r"shape \(3,\)"):
            pk.models.linear(2).apply(np.ones(4), X)

    def test_nan_weights(self, data2d):
        X, _ = data2d
        with pytest.raises(NonFiniteError, match="NaN or inf"):
            pk.models.linear(2).apply(np.array([1.0, np.nan, 0.0]), X)

    def test_wrong_number_of_columns(self):
        with pytest.raises(ShapeError, match="d = 2 columns"):
            pk.models.mlp([2, 3, 1]).apply(np.zeros(13), np.ones((4, 3)))

    def test_one_dimensional_x(self):
        with pytest.raises(ShapeError, match=r"reshape\(-1, 1\)"):
            pk.models.linear(1).apply(np.ones(2), np.ones(4))

    def test_call_is_apply(self, data2d):
        X, _ = data2d
        model = pk.models.linear(2)
        w = model.init(0)
        np.testing.assert_array_equal(model(w, X), model.apply(w, X))


@pytest.mark.parametrize(
    "model",
    [
        pk.models.linear(3, bias=False),
        pk.models.two_layer(3, 4, activation="tanh", train_output=True, seed=5),
        pk.models.mlp([3, 4, 2], activation="softplus", bias=False, seed=1),
    ],
    ids=["linear", "two_layer", "mlp"],
)
def test_from_spec_rebuilds_the_same_function(model):
    X = np.random.default_rng(2).standard_normal((5, 3))
    rebuilt = from_spec(model.spec)
    w = model.init(3)
    assert rebuilt.n_params == model.n_params
    np.testing.assert_array_equal(rebuilt.apply(w, X), model.apply(w, X))


def test_from_spec_rejects_unknown_kinds():
    with pytest.raises(InvalidArgumentError, match="cannot rebuild a model of kind 'resnet'"):
        from_spec({"kind": "resnet"})


def test_init_without_a_seed_uses_the_constructor_seed():
    model = pk.models.mlp([2, 3, 1], seed=4)
    np.testing.assert_array_equal(model.init(), model.init(4))
    assert not np.array_equal(model.init(), model.init(5))
    np.testing.assert_array_equal(pk.models.linear(2).init(), pk.models.linear(2).init(0))


def test_init_of_a_model_too_big_for_memory_is_refused_before_drawing(monkeypatch):
    """Issue 17: mlp([784, 60000, 60000, 1]) has 3.6e9 weights (26.8 GiB per float64 copy);
    on a 24 GiB machine init refuses from arithmetic alone instead of a MemoryError later."""
    monkeypatch.setattr(pkverify.validation, "available_memory", lambda: 24 * 1024**3)
    model = pk.models.mlp([784, 60000, 60000, 1])
    assert model.n_params == 784 * 60000 + 60000 + 60000 * 60000 + 60000 + 60000 + 1
    start = time.perf_counter()
    # two float64 copies at the peak (the layers' draws and their concatenation): 54.3 GiB
    with pytest.raises(ResourceError, match=r"P = 3,647,220,001 weights needs 54\.3 GiB.*"
                       r"smaller model"):
        model.init(0)
    assert time.perf_counter() - start < 1.0
    assert pk.models.mlp([2, 3, 1]).init(0).shape == (13,)  # a model that fits draws as before


def test_what_a_model_is_are_typed_fields():
    mlp = pk.models.mlp([3, 5, 2], "relu", bias=False)
    assert (mlp.activation, mlp.bias, mlp.sizes) == ("relu", False, (3, 5, 2))
    assert mlp.c_sigma == pytest.approx(2.0)  # relu: 1 / E[relu(z)²] = 2 for z ~ N(0, 1)
    net = pk.models.two_layer(2, 6, "tanh", seed=3)
    assert net.activation == "tanh" and net.signs is not None and net.signs.shape == (6,)
    assert set(np.unique(net.signs)) <= {-1.0, 1.0}
    lin = pk.models.linear(2, bias=True, features=lambda X: np.hstack([X, X**2, X[:, :1]]))
    X = np.array([[1.0, 2.0]])
    assert lin.phi is not None and lin.n_features == 5
    np.testing.assert_array_equal(lin.phi(X), [[1.0, 2.0, 1.0, 4.0, 1.0]])
    assert lin.bias is True and lin.signs is None and lin.activation is None
    # the earlier dict is derived from the fields, for code that still reads it
    assert net.info["signs"] is net.signs and lin.info["features"] == lin.n_features
    assert mlp.info == {"activation": "relu", "bias": False, "sizes": [3, 5, 2],
                        "c_sigma": mlp.c_sigma}
