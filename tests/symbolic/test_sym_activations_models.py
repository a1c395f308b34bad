"""Symbolic activations and models: same functions and parameter order as the numeric ones."""

import numpy as np
import pytest
import sympy as sp

from pkverify import models as nm
from pkverify.errors import InvalidArgumentError, PkVerifyError, SymbolicError, UnknownNameError
from pkverify.symbolic import models as sm
from pkverify.symbolic.activations import SYM_ACTIVATIONS, relu, sym_activation
from pkverify.symbolic.compile import compile_expr

z = sp.Symbol("z", real=True)
NUMERIC = ["relu", "tanh", "softplus", "erf", "sigmoid", "identity"]


def test_relu_derivative_is_heaviside_with_half_at_zero():
    assert sp.diff(relu(z), z) == sp.Heaviside(z)
    assert sp.Heaviside(0) == sp.Rational(1, 2)
    assert relu(sp.Integer(-3)) == 0 and relu(sp.Integer(2)) == 2
    assert "max" in sp.latex(relu(z))


@pytest.mark.parametrize("name", NUMERIC)
def test_symbolic_activation_matches_numeric(name):
    from pkverify.activations import activation

    act = sym_activation(name)
    f = compile_expr(act.sigma(z), (z,))
    df = compile_expr(act.dsigma(z), (z,))
    grid = np.linspace(-3, 3, 13) + 0.01  # avoid the relu kink exactly at 0
    np.testing.assert_allclose(f(grid), activation(name)(grid), rtol=1e-13, atol=1e-15)
    # σ' against a central difference of the numeric σ (h = 1e-6: error ~1e-10)
    h = 1e-6
    fd = (activation(name)(grid + h) - activation(name)(grid - h)) / (2 * h)
    np.testing.assert_allclose(df(grid), fd, rtol=1e-7, atol=1e-8)


def test_c_sigma_exact_values():
    assert sym_activation("relu").c_sigma == 2
    assert sym_activation("square").c_sigma == sp.Rational(1, 3)
    from pkverify.activations import c_sigma

    for name in NUMERIC:
        assert float(SYM_ACTIVATIONS[name].c_sigma) == pytest.approx(c_sigma(name), rel=1e-14)


def test_unknown_activation():
    with pytest.raises(UnknownNameError, match="activation"):
        sym_activation("gelu")
    with pytest.raises(UnknownNameError):
        sm.two_layer(2, 2, "swish")


def _same_function(smodel, nmodel, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(smodel.n_params)
    X = rng.standard_normal((6, smodel.dim))
    fn = compile_expr(smodel.expr, smodel.params + smodel.x)
    sym = np.broadcast_to(fn(*w, *[X[:, j] for j in range(smodel.dim)]), (6,))
    np.testing.assert_allclose(sym, nmodel.apply(w, X), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", NUMERIC)
def test_two_layer_same_order_and_signs(name):
    s = sm.two_layer(3, 4, name, seed=5)
    n = nm.two_layer(3, 4, name, seed=5)
    assert s.n_params == n.n_params
    assert s.info["signs"] == [int(v) for v in n.info["signs"]]
    _same_function(s, n)


def test_two_layer_train_output_and_explicit_signs():
    s = sm.two_layer(2, 3, "tanh", train_output=True, seed=1)
    n = nm.two_layer(2, 3, "tanh", train_output=True, seed=1)
    _same_function(s, n)
    s2 = sm.two_layer(2, 2, "tanh", signs=[1, -1])
    assert s2.info["signs"] == [1, -1]
    with pytest.raises(InvalidArgumentError, match="signs"):
        sm.two_layer(2, 2, "tanh", signs=[1, 0])


@pytest.mark.parametrize("sizes,act,bias", [([2, 3, 1], "tanh", True), ([2, 2, 3, 1], "relu",
                                             False), ([3, 2, 1], "erf", True)])
def test_mlp_same_order(sizes, act, bias):
    _same_function(sm.mlp(sizes, act, bias=bias), nm.mlp(sizes, act, bias=bias))


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_linear_polynomial_features(degree):
    s = sm.linear(2, bias=True, degree=degree)
    assert len(s.info["features"]) == {1: 2, 2: 5, 3: 9}[degree]
    _same_function(s, s.numeric())


def test_linear_custom_features():
    s = sm.linear(2, bias=True, features=lambda x: [sp.sin(x[0]), x[0] * x[1], sp.Integer(3)])
    assert s.n_params == 4
    _same_function(s, s.numeric())
    from pkverify.symbolic.tangent import tangent_kernel

    x, xp = s.x, s.xp
    expected = sp.sin(x[0]) * sp.sin(xp[0]) + x[0] * x[1] * xp[0] * xp[1] + 9 + 1
    assert sp.simplify(tangent_kernel(s).kernel - expected) == 0
    with pytest.raises(InvalidArgumentError, match="only the inputs"):
        sm.linear(1, features=lambda x: [x[0] * sp.Symbol("q")])
    with pytest.raises(InvalidArgumentError):
        sm.linear(1, features=lambda x: [])
    with pytest.raises(InvalidArgumentError):
        sm.linear(1, features="sin")


def test_polynomial_feature_order():
    x1, x2 = sp.symbols("x1 x2")
    assert sm.polynomial_features([x1, x2], 2) == [x1, x2, x1**2, x1 * x2, x2**2]


@pytest.mark.parametrize(
    "make",
    [
        lambda: sm.two_layer(2, 9, "relu"),
        lambda: sm.two_layer(5, 2, "relu"),
        lambda: sm.mlp([2, 4, 1], "tanh"),
        lambda: sm.mlp([2, 2, 2, 2, 1], "tanh"),
        lambda: sm.mlp([2, 2, 3], "tanh"),
        lambda: sm.linear(7),
        lambda: sm.linear(2, degree=4),
    ],
)
def test_too_large_raises_symbolic_error(make):
    with pytest.raises(SymbolicError, match="at most|symbolic MLP|too deep"):
        make()


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_sizes(bad):
    with pytest.raises(InvalidArgumentError):
        sm.two_layer(2, bad, "relu")


def test_bad_mlp_sizes_and_build():
    with pytest.raises(InvalidArgumentError):
        sm.mlp([2, 1], "tanh")
    with pytest.raises(InvalidArgumentError):
        sm.mlp(3, "tanh")
    with pytest.raises(UnknownNameError):
        sm.build("cnn")
    assert sm.build("mlp", dim=2, width=2, depth=2, activation="tanh").n_params == 2 * 2 + 4 + 2


def test_square_has_no_numeric_twin():
    with pytest.raises(SymbolicError, match="square"):
        sm.two_layer(2, 2, "square").numeric()


def test_at_checks_length():
    s = sm.two_layer(2, 2, "tanh")
    assert s.at([1, 2]).free_symbols == set(s.params)
    with pytest.raises(PkVerifyError):
        s.at([1, 2, 3])
